"""Real backends for the proof suites and benchmarks: a throwaway PostgreSQL cluster and
``facepay sandbox serve`` as a child process that can be SIGKILLed and restarted.

Nothing here is a fake: the cluster is PostgreSQL 15's own initdb/pg_ctl, the server is
the command an operator runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx

from facepay.errors import FacePayError
from facepay.testing.postgres import TemporaryPostgres

__all__ = [
    "ServerProcess",
    "child_pids",
    "create_postgres_database",
    "free_port",
    "process_tree_cpu_seconds",
    "throwaway_postgres",
]


def _process_table() -> dict[int, tuple[int, int]]:
    """Every live process (Linux /proc): pid -> (parent pid, user + system CPU ticks)."""
    stats: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the ")" of the name: state, ppid, ...; utime and stime are stat(5)'s
        # fields 14 and 15.
        stats[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    return stats


def child_pids(pid: int) -> list[int]:
    """The live direct children of ``pid`` (Linux /proc)."""
    return [child for child, (ppid, _) in _process_table().items() if ppid == pid]


def process_tree_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds used so far by a process and its live descendants, all
    their threads (Linux /proc): a server with worker processes, or PostgreSQL with its
    backends. None if ``pid`` is gone."""
    stats = _process_table()
    if pid not in stats:
        return None
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, (ppid, _) in stats.items():
            if ppid == parent and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(stats[p][1] for p in tree) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def throwaway_postgres(*, max_connections: int = 300) -> Iterator[str]:
    """A PostgreSQL cluster on a free 127.0.0.1 port for the duration of the block;
    yields the DSN of its maintenance database. ``FACEPAY_TEST_POSTGRES_DSN``, when set,
    is used instead (CI may provide a server)."""
    given = os.environ.get("FACEPAY_TEST_POSTGRES_DSN")
    if given:
        yield given
        return
    # fsync stays on (durable): the crash suite kills the backend, not the database, but a
    # payment benchmark should pay the real commit cost.
    with TemporaryPostgres(durable=True, max_connections=max_connections) as pg:
        yield pg.dsn


def create_postgres_database(server_dsn: str, prefix: str = "facepay_proof") -> str:
    """A fresh empty database on ``server_dsn``'s server; returns its DSN."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = server_dsn.rpartition("/")
    return f"{base}/{name}"


class _ExitedError(FacePayError):
    """The server process exited before it answered its health check."""


class ServerProcess:
    """``facepay sandbox serve`` in a child process: start, SIGKILL, restart.

    The admin (device enrollment) token and any ``ServerConfig`` overrides travel as
    ``FACEPAY_SERVER_*`` environment variables, exactly as an operator would set them.
    """

    def __init__(
        self,
        db: str,
        key_dir: str | Path,
        *,
        port: int | None = None,
        admin_token: str | None = None,
        server_env: Mapping[str, str] | None = None,
        log_path: str | Path | None = None,
    ) -> None:
        self.db = db
        self.key_dir = Path(key_dir)
        self.port = port or free_port()
        self.admin_token = admin_token or uuid.uuid4().hex
        self.server_env = dict(server_env or {})
        self.log_path = Path(log_path) if log_path else None
        self._proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def start(self, timeout_s: float = 60.0) -> ServerProcess:
        """Start (or restart) the server and wait until ``/v1/health`` answers.

        A process that exits at once is tried again (three times): on a busy machine the
        port picked by :func:`free_port` can be taken by someone else before the server
        binds it, so a first start moves to another port; a restart keeps its port (the
        tills know it) and just waits a moment.
        """
        last: FacePayError | None = None
        for _ in range(3):
            try:
                self._start_once(timeout_s)
            except _ExitedError as exc:
                last = exc
                if self.starts == 0:
                    self.port = free_port()
                time.sleep(0.5)
                continue
            self.starts += 1
            return self
        assert last is not None
        raise last

    def _start_once(self, timeout_s: float) -> None:
        env = {
            **os.environ,
            # The harness's tills are synthetic (no camera, a fixed liveness verdict):
            # a sandbox tenant's, which the backend accepts without a seeded 3D plan.
            "FACEPAY_SERVER_SANDBOX_TENANTS": "*",
            **self.server_env,
            "FACEPAY_SERVER_ADMIN_TOKEN": self.admin_token,
        }
        cmd = [
            sys.executable,
            "-m",
            "facepay",
            "sandbox",
            "serve",
            "--db",
            self.db,
            "--port",
            str(self.port),
            "--keys",
            str(self.key_dir),
        ]
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self._proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=out)  # noqa: S603
        finally:
            if self.log_path:
                out.close()  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                tail = ""
                if self.log_path and self.log_path.exists():
                    tail = self.log_path.read_text(errors="replace")[-3000:]
                code = self._proc.returncode
                self._proc = None
                raise _ExitedError(f"facepay sandbox serve exited with {code}: {tail}")
            try:
                if httpx.get(f"{self.base_url}/v1/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.kill()
        raise FacePayError("facepay sandbox serve did not become healthy")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, in-flight requests die mid-transaction."""
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGKILL)
            self._proc.wait(timeout=30)
            self.kills += 1
        self._proc = None

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=15)
        self._proc = None

    def rss_bytes(self) -> int | None:
        """Resident memory of the server process (Linux /proc), or None."""
        if self._proc is None:
            return None
        try:
            text = Path(f"/proc/{self._proc.pid}/status").read_text()
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return None

    def cpu_seconds(self) -> float | None:
        """User + system CPU time the server process (and any children) has used so far."""
        return None if self._proc is None else process_tree_cpu_seconds(self._proc.pid)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

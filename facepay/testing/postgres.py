"""A throwaway PostgreSQL cluster for tests and benchmarks: never for production.

initdb in a temporary directory, pg_ctl start on a free 127.0.0.1 port, trust auth for
the ``postgres`` role, ``fsync=off`` (a benchmark of the backend, not of the disk, unless
``durable=True``), and everything removed on :meth:`TemporaryPostgres.stop`. initdb and
pg_ctl refuse to run as root, so as root they run as the ``postgres`` user (runuser).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from facepay.errors import FacePayError
from facepay.testing.ports import free_port

__all__ = ["TemporaryPostgres"]

_PG_BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin")


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for directory in _PG_BIN_DIRS:
        candidate = Path(directory) / name
        if candidate.exists():
            return str(candidate)
    raise FacePayError(f"PostgreSQL's {name} not found: install postgresql-15 (scripts/setup.sh)")


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    runuser = shutil.which("runuser")
    if runuser is None:
        raise FacePayError("running PostgreSQL as root needs runuser to switch to 'postgres'")
    return [runuser, "-u", "postgres", "--", *cmd]


class TemporaryPostgres:
    """``with TemporaryPostgres() as pg: pg.dsn`` -> a DSN of its ``postgres`` database."""

    def __init__(self, *, durable: bool = False, max_connections: int = 200) -> None:
        self._durable = durable
        self._max_connections = max_connections
        self._root: Path | None = None
        self.port = 0

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def __enter__(self) -> TemporaryPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        initdb, pg_ctl = _tool("initdb"), _tool("pg_ctl")
        self._root = Path(tempfile.mkdtemp(prefix="facepay-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self._root, user="postgres", group="postgres")
        data = self._root / "data"
        self.port = free_port()
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        subprocess.run(  # noqa: S603 (fixed tool paths)
            _as_postgres(
                [
                    initdb,
                    "-D",
                    str(data),
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
            env=env,
        )
        options = (
            f"-p {self.port} -k {self._root} -c listen_addresses=127.0.0.1 "
            f"-c max_connections={self._max_connections}"
        )
        if not self._durable:
            options += " -c fsync=off -c synchronous_commit=off"
        subprocess.run(  # noqa: S603
            _as_postgres(
                [
                    pg_ctl,
                    "-D",
                    str(data),
                    "-l",
                    str(self._root / "log"),
                    "-o",
                    options,
                    "-w",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
            env=env,
        )

    @property
    def postmaster_pid(self) -> int | None:
        """The server's main process (its backends are its children), or None."""
        if self._root is None:
            return None
        try:
            return int((self._root / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        if self._root is None:
            return
        subprocess.run(  # noqa: S603
            _as_postgres(
                [_tool("pg_ctl"), "-D", str(self._root / "data"), "-m", "immediate", "stop"]
            ),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(self._root, ignore_errors=True)
        self._root = None

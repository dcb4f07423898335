"""The proof runs behind ``facepay bench faults|crash|load|fuzz`` and the CI proof suites.

Each run builds a real backend (in this process for faults and fuzzing; as a
``facepay sandbox serve`` child process for crash and load), on SQLite or on a throwaway
PostgreSQL cluster, drives it, and returns a JSON-ready dict whose ``ok`` says whether the
guarantee held. The CI tests call the same functions at small sizes.

The backends here raise the per-device request rate and the failed-face lockout out of
the way (``_PROOF_SERVER``): a handful of tills run hundreds of checkouts per minute, a
tenth of them impostors, which a real lane never does. The lockout and rate limit have
their own suite (tests/proof/test_lockout.py).
"""

from __future__ import annotations

import contextlib
import logging
import random
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from facepay.config import ServerConfig
from facepay.eval._backends import ServerProcess, create_postgres_database, throwaway_postgres
from facepay.eval._faults import FaultLog, FaultPlan, FaultyTcpProxy, FaultyTransport
from facepay.eval._reliability import (
    _client_config,
    audit_ledger,
    enroll_population,
    plan_checkouts,
    register_till,
    run_checkouts,
)

__all__ = [
    "crash_run",
    "fault_run",
    "fuzz_run",
    "load_run",
    "proof_database",
]


class _ErrorCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


_PROOF_SERVER: dict[str, Any] = {
    "device_rate_per_s": 100_000.0,
    "device_rate_burst": 100_000,
    "lockout_failures": 1_000_000_000,
}


def _server_env() -> dict[str, str]:
    return {f"FACEPAY_SERVER_{k.upper()}": str(v) for k, v in _PROOF_SERVER.items()}


@contextlib.contextmanager
def proof_database(kind: str, workdir: Path, postgres_server: str | None = None) -> Iterator[str]:
    """``sqlite`` -> a file in ``workdir``; ``postgres`` -> a fresh database on
    ``postgres_server`` or on a throwaway cluster; a ``postgresql://`` DSN is used as is."""
    if kind == "sqlite":
        yield str(workdir / "proof.db")
    elif kind == "postgres":
        if postgres_server is not None:
            yield create_postgres_database(postgres_server)
        else:
            with throwaway_postgres() as server:
                yield create_postgres_database(server)
    elif kind.startswith(("postgresql://", "postgres://")):
        yield kind
    else:
        raise ValueError("--db is sqlite, postgres or a postgresql:// DSN")


def _ledger(db: str) -> list[dict[str, Any]]:
    from facepay.server import ledger, open_database

    database = open_database(db)
    try:
        return ledger(database)
    finally:
        database.close()


def fault_run(
    *,
    db: str = "sqlite",
    checkouts: int = 100,
    fault_rate: float = 0.3,
    seed: int = 0,
    tills: int = 4,
    shoppers: int = 40,
    client_attempts: int = 2,
    tcp_cut_rate: float = 0.0,
    postgres_server: str | None = None,
    progress: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """``checkouts`` through a wire that faults ``fault_rate`` of requests (httpx layer)
    and, with ``tcp_cut_rate``, also cuts that share of relayed TCP chunks mid-stream
    (a loopback proxy), then the audit."""
    from facepay.server import Sandbox

    with tempfile.TemporaryDirectory(prefix="facepay-faults-") as tmp:
        work = Path(tmp)
        with proof_database(db, work, postgres_server) as url:
            config = ServerConfig(**_PROOF_SERVER)
            with Sandbox(url, key_dir=work / "keys", config=config) as sandbox:
                registered = [
                    register_till(sandbox.base_url, sandbox.admin_token, lane=i)
                    for i in range(tills)
                ]
                population = enroll_population(sandbox.base_url, registered[0], shoppers, seed=seed)
                specs = plan_checkouts(population, checkouts, seed=seed)
                log = FaultLog()
                counter = [0]

                def transport() -> FaultyTransport:
                    counter[0] += 1
                    plan = FaultPlan(rate=fault_rate, seed=seed * 1000 + counter[0])
                    return FaultyTransport(plan, log=log)

                errors = _ErrorCounter()
                watched = [logging.getLogger(n) for n in ("facepay.server", "uvicorn.error")]
                for logger in watched:
                    logger.addHandler(errors)
                proxy = None
                target = sandbox.base_url
                if tcp_cut_rate > 0:
                    proxy = FaultyTcpProxy(
                        sandbox.host, int(target.rsplit(":", 1)[1]), rate=tcp_cut_rate, seed=seed
                    ).start()
                    target = proxy.base_url
                started = time.monotonic()
                try:
                    outcomes = run_checkouts(
                        target,
                        registered,
                        population,
                        specs,
                        transport_factory=transport,
                        on_done=(lambda _o: progress()) if progress else None,
                        client_config=_client_config(max_attempts=client_attempts),
                    )
                finally:
                    if proxy is not None:
                        proxy.stop()
                    for logger in watched:
                        logger.removeHandler(errors)
                elapsed = time.monotonic() - started
                audit = audit_ledger(outcomes, sandbox.ledger())
        result = {
            "run": "faults",
            "db": "postgres" if db != "sqlite" else "sqlite",
            "fault_rate": fault_rate,
            "seed": seed,
            "tills": tills,
            "client_attempts": client_attempts,
            "seconds": round(elapsed, 1),
            "wire": log.summary(),
            # Unhandled errors the backend logged (a 5xx nobody may have seen).
            "backend_errors_logged": errors.count,
            "tcp": {
                "cut_rate": tcp_cut_rate,
                "connections": proxy.connections if proxy else 0,
                "cuts": dict(proxy.cuts) if proxy else {},
            },
            **audit.as_dict(),
        }
    result["ok"] = result["ok"] and errors.count == 0
    return result


def _kill_marks(checkouts: int, kills: int, rng: random.Random) -> list[int]:
    """After how many finished checkouts each SIGKILL lands: spread over the run (the
    i-th near i/(kills+1) of it, jittered by the seed), each before the last checkout so
    that a checkout always runs against the restarted server."""
    if kills <= 0 or checkouts < 2:
        return []
    span = checkouts / (kills + 1)
    marks: set[int] = set()
    for i in range(1, kills + 1):
        jitter = rng.uniform(-span / 4, span / 4)
        marks.add(min(max(int(span * i + jitter), 1), checkouts - 1))
    return sorted(marks)


class _ProgressKiller:
    """SIGKILLs the server when the run reaches a number of finished checkouts.

    The kill is decided by progress, never by time: the till worker that finishes the
    mark-th checkout kills the server itself (the other tills are mid-request), and a
    restarter thread brings it back. While the server is down no checkout can finish, so
    every mark is reached whatever the machine's speed (a timed killer lost the race on
    an idle machine: all checkouts finished before its second kill).
    """

    def __init__(self, server: ServerProcess, marks: list[int], rng: random.Random) -> None:
        self._server = server
        self._marks = list(marks)
        self._rng = rng
        self._finished = 0
        self._lock = threading.Lock()
        self._restarter: threading.Thread | None = None
        self.downtime: list[float] = []

    def checkout_finished(self) -> None:
        with self._lock:
            self._finished += 1
            if not self._marks or self._finished < self._marks[0]:
                return
            self._marks.pop(0)
            self._join_restarter()
            self._server.kill()
            down = time.monotonic()
            # How long the lane stays dark; it never decides whether a kill happens.
            pause = self._rng.uniform(0.1, 0.5)

            def restart() -> None:
                time.sleep(pause)
                self._server.start()
                self.downtime.append(time.monotonic() - down)

            self._restarter = threading.Thread(target=restart, name="facepay-restarter")
            self._restarter.start()

    def _join_restarter(self) -> None:
        if self._restarter is not None:
            self._restarter.join()
            self._restarter = None

    def wait_restarted(self) -> None:
        with self._lock:
            self._join_restarter()


def crash_run(
    *,
    db: str = "sqlite",
    checkouts: int = 200,
    kills: int = 3,
    seed: int = 0,
    tills: int = 4,
    shoppers: int = 30,
    postgres_server: str | None = None,
    progress: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Checkouts against ``facepay sandbox serve`` while it is SIGKILLed ``kills`` times
    (each restart on the same database and keys), then the audit from the database."""
    rng = random.Random(seed)  # noqa: S311 - seeded on purpose: repeatable
    with tempfile.TemporaryDirectory(prefix="facepay-crash-") as tmp:
        work = Path(tmp)
        with proof_database(db, work, postgres_server) as url:
            server = ServerProcess(
                url, work / "keys", server_env=_server_env(), log_path=work / "server.log"
            )
            server.start()
            try:
                registered = [
                    register_till(server.base_url, server.admin_token, lane=i) for i in range(tills)
                ]
                population = enroll_population(server.base_url, registered[0], shoppers, seed=seed)
                specs = plan_checkouts(population, checkouts, seed=seed)
                killer = _ProgressKiller(server, _kill_marks(checkouts, kills, rng), rng)

                def counted(_outcome: object) -> None:
                    killer.checkout_finished()
                    if progress is not None:
                        progress()

                started = time.monotonic()
                try:
                    outcomes = run_checkouts(
                        server.base_url,
                        registered,
                        population,
                        specs,
                        on_done=counted,
                        client_config=_client_config(max_attempts=3, connect_timeout_s=1.0),
                        deadline_s=90.0,
                    )
                finally:
                    killer.wait_restarted()
                downtime = killer.downtime
                elapsed = time.monotonic() - started
            finally:
                server.stop()
            audit = audit_ledger(outcomes, _ledger(url))
            result = {
                "run": "crash",
                "db": "postgres" if db != "sqlite" else "sqlite",
                "seed": seed,
                "tills": tills,
                "sigkills": server.kills,
                "restarts": server.starts - 1,
                "mean_downtime_s": round(sum(downtime) / len(downtime), 2) if downtime else 0.0,
                "seconds": round(elapsed, 1),
                **audit.as_dict(),
            }
    return result


def load_run(
    *,
    db: str = "sqlite",
    clients: int = 32,
    duration_s: float = 20.0,
    shoppers: int = 200,
    seed: int = 0,
    postgres_server: str | None = None,
) -> dict[str, Any]:
    """``clients`` concurrent tills for ``duration_s`` against a backend process."""
    from facepay.eval._load import run_load

    with tempfile.TemporaryDirectory(prefix="facepay-load-") as tmp:
        work = Path(tmp)
        with proof_database(db, work, postgres_server) as url:
            server = ServerProcess(
                url, work / "keys", server_env=_server_env(), log_path=work / "server.log"
            )
            server.start()
            try:
                registered = [
                    register_till(server.base_url, server.admin_token, lane=i)
                    for i in range(clients)
                ]
                population = enroll_population(
                    server.base_url, registered[0], shoppers, seed=seed, declined_every=0
                )
                rss_before = server.rss_bytes()
                cpu_before, own_before = server.cpu_seconds(), time.process_time()
                report = run_load(server.base_url, registered, population, duration_s=duration_s)
                cpu_after, own_after = server.cpu_seconds(), time.process_time()
                rss_after = server.rss_bytes()
            finally:
                server.stop()
            ledger_rows = len(_ledger(url))
    # CPU time per authorization (server process; the tills' process) stays comparable on
    # a shared machine, where wall-clock rates and latencies measure the neighbours too.
    # Both span the warm-up too, so its checkouts are counted in the divisor.
    served = max(report.authorizations + report.errors + report.warmup_authorizations, 1)
    server_cpu = (cpu_after - cpu_before) if cpu_after is not None and cpu_before else None
    result = {
        "run": "load",
        "server_cpu_ms_per_checkout": round(server_cpu * 1e3 / served, 2)
        if server_cpu is not None
        else None,
        "tills_cpu_ms_per_checkout": round((own_after - own_before) * 1e3 / served, 2),
        "db": "postgres" if db != "sqlite" else "sqlite",
        "enrolled": shoppers,
        "backend_rss_mb_before": round(rss_before / 2**20, 1) if rss_before else None,
        "backend_rss_mb_after": round(rss_after / 2**20, 1) if rss_after else None,
        "ledger_rows": ledger_rows,
        **report.as_dict(),
    }
    result["ok"] = result["errors"] == 0
    return result


def fuzz_run(
    *,
    cases: int = 500,
    seed: int = 0,
    db: str = "sqlite",
    postgres_server: str | None = None,
    progress: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """``cases`` schema-generated requests against an in-process backend."""
    from facepay.eval._fuzz import fuzz_backend
    from facepay.server import Sandbox

    with tempfile.TemporaryDirectory(prefix="facepay-fuzz-") as tmp:
        work = Path(tmp)
        with proof_database(db, work, postgres_server) as url:
            config = ServerConfig(**_PROOF_SERVER)
            with Sandbox(url, key_dir=work / "keys", config=config) as sandbox:
                till = register_till(sandbox.base_url, sandbox.admin_token)
                errors = _ErrorCounter()
                watched = [logging.getLogger(n) for n in ("facepay.server", "uvicorn.error")]
                for logger in watched:
                    logger.addHandler(errors)
                started = time.monotonic()
                try:
                    report = fuzz_backend(
                        sandbox.base_url, till, cases=cases, seed=seed, on_case=progress
                    )
                finally:
                    for logger in watched:
                        logger.removeHandler(errors)
                elapsed = time.monotonic() - started
    result = {
        "run": "fuzz",
        "db": "postgres" if db != "sqlite" else "sqlite",
        "seed": seed,
        "seconds": round(elapsed, 1),
        # Unhandled errors the backend logged: a crash inside a request handler.
        "backend_errors_logged": errors.count,
        **report.as_dict(),
    }
    result["ok"] = result["ok"] and errors.count == 0
    return result


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def memory_run(
    *, templates: int = 1_000_000, seed: int = 0, chunk: int = 100_000
) -> dict[str, Any]:
    """Resident memory of the backend's in-memory 1:N gallery at ``templates`` enrolled
    shoppers, filled the way a backend start fills it (``load_galleries``: one
    ``Gallery.add`` per stored template, shopper ids in the backend's own format)."""
    import gc
    import secrets

    import numpy as np

    from facepay.server import Gallery

    gc.collect()
    before = _rss_bytes()
    gallery = Gallery(128)
    rng = np.random.default_rng(seed)
    started = time.monotonic()
    peak = before
    for start in range(0, templates, chunk):
        block = rng.standard_normal((min(chunk, templates - start), 128)).astype(np.float32)
        for row in block:
            gallery.add(f"shp_{secrets.token_hex(12)}", row)
        peak = max(peak, _rss_bytes())
    elapsed = time.monotonic() - started
    gc.collect()
    after = _rss_bytes()
    probe = rng.standard_normal(128).astype(np.float32)
    probe /= np.linalg.norm(probe)
    t0 = time.perf_counter()
    defaults = ServerConfig()
    gallery.search(probe, threshold=defaults.match_threshold, margin=defaults.match_margin)
    search_ms = (time.perf_counter() - t0) * 1e3
    return {
        "run": "memory",
        "templates": len(gallery),
        "gallery_rss_mb": round((after - before) / 2**20, 1),
        "peak_rss_growth_mb": round((peak - before) / 2**20, 1),
        "bytes_per_template": round((after - before) / max(len(gallery), 1), 1),
        "fill_seconds": round(elapsed, 1),
        "one_search_ms": round(search_ms, 1),
        "ok": len(gallery) == templates,
    }

"""``facepay sandbox serve --workers N``: N server processes behind one port.

Each worker listens on its own socket bound to the same address with ``SO_REUSEPORT``,
and the kernel spreads incoming connections over them. uvicorn's own ``--workers`` shares
one listening socket instead: every worker wakes on each connection and whichever runs
first accepts it, so a burst of keep-alive connections (32 tills opening theirs at once)
can land mostly on one worker and stay there. Measured here with 4 workers and 42
connections: 23 / 15 / 3 / 1. A worker that answers on its event loop serves its
connections one request at a time, so that one busy worker set the latency of the whole
backend while the others idled (docs/performance.md, "Backend").

Where the platform has no ``SO_REUSEPORT`` the supervisor falls back to uvicorn's
shared socket. Only processes of the same user can join a port's ``SO_REUSEPORT`` group
(Linux), and the supervisor keeps the port bound while its workers restart.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import signal
import socket
import threading
import time
from typing import Any

__all__ = ["WORKER_ADMIN_SHA256_ENV", "reuse_port_supported", "serve_workers", "worker_app"]

logger = logging.getLogger(__name__)

# uvicorn's app factory for every worker (its database and keys come from the
# environment the supervisor sets: facepay.server._sandbox.WORKER_DB_ENV).
WORKER_APP = "facepay.server._workers:worker_app"
# The SHA-256 of the enrollment token, which is all a worker needs to check one: the
# token itself is never put into a worker's environment (readable in /proc by the user,
# inherited by anything the worker starts).
WORKER_ADMIN_SHA256_ENV = "FACEPAY_SANDBOX_WORKER_ADMIN_SHA256"


def worker_app() -> Any:
    """uvicorn's app factory in each worker process of `facepay sandbox serve --workers N`:
    its own database connections, galleries and event loop; the database is what the
    workers share (sessions, nonces, idempotency keys, lockouts, the ledger)."""
    import os

    from facepay.config import ServerConfig
    from facepay.server._app import create_app
    from facepay.server._sandbox import WORKER_DB_ENV, WORKER_KEYS_ENV, build_backend, settle_heap

    backend = build_backend(
        os.environ[WORKER_DB_ENV],
        key_dir=os.environ[WORKER_KEYS_ENV],
        config=ServerConfig.from_env(),
    )
    backend.admin_token_sha256 = os.environ[WORKER_ADMIN_SHA256_ENV]
    app = create_app(backend)
    settle_heap()
    return app


# A worker that dies this soon after it started is not restarted at once (a broken
# configuration would otherwise spin).
_RESTART_BACKOFF_S = 1.0


def reuse_port_supported() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def _bound_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _worker_main(host: str, port: int, uvicorn_kwargs: dict[str, Any]) -> None:
    """One worker process: its own listening socket, then uvicorn on it until SIGTERM."""
    import uvicorn

    sock = _bound_socket(host, port)
    config = uvicorn.Config(WORKER_APP, factory=True, host=host, port=port, **uvicorn_kwargs)
    uvicorn.Server(config).run(sockets=[sock])


def serve_workers(workers: int, *, host: str, port: int, uvicorn_kwargs: dict[str, Any]) -> None:
    """Run ``workers`` worker processes on ``host:port`` until SIGINT or SIGTERM; a worker
    that dies is started again. Returns once every worker has stopped."""
    import uvicorn

    if not reuse_port_supported():
        uvicorn.run(
            WORKER_APP, factory=True, host=host, port=port, workers=workers, **uvicorn_kwargs
        )
        return
    # Held (bound, never listening, so it is given no connections) for as long as the
    # supervisor runs: the port stays ours while a worker restarts.
    reservation = _bound_socket(host, port)
    port = int(reservation.getsockname()[1])
    context = multiprocessing.get_context("spawn")
    stopping = threading.Event()

    def start() -> multiprocessing.process.BaseProcess:
        process = context.Process(
            target=_worker_main,
            args=(host, port, uvicorn_kwargs),
            name="facepay-sandbox-worker",
        )
        process.start()
        return process

    def stop(signum: int, frame: Any) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    processes = [start() for _ in range(workers)]
    started = [time.monotonic()] * workers
    try:
        while not stopping.is_set():
            multiprocessing.connection.wait([p.sentinel for p in processes], timeout=0.5)
            for i, process in enumerate(processes):
                if process.is_alive() or stopping.is_set():
                    continue
                logger.warning(
                    "sandbox worker %s exited (%s); restarting", process.pid, process.exitcode
                )
                wait = started[i] + _RESTART_BACKOFF_S - time.monotonic()
                if wait > 0:
                    stopping.wait(wait)
                    if stopping.is_set():
                        break
                processes[i] = start()
                started[i] = time.monotonic()
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        deadline = time.monotonic() + 10.0
        for process in processes:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        reservation.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)

"""``facepay bench backend``: 1:N decision latency and authorize throughput.

Two measurements, both printed as one JSON document with ``--json``:

1. **1:N decision latency** of the matcher (``Gallery.search``: normalize, one
   matrix-vector product over the whole gallery, best and second best, the margin rule)
   over N synthetic unit templates (128-d float32, the default embedder's size), with
   genuine probes (a gallery row plus noise) and impostor probes (fresh random vectors).
2. **Authorize throughput**: a real backend (``facepay sandbox serve`` in a subprocess,
   so that server and load generator do not share a GIL) on SQLite (synchronous=FULL)
   and on PostgreSQL (a temporary cluster with fsync on, unless ``--postgres-dsn``),
   driven by C concurrent async clients over loopback, each its own registered device,
   each request signed and carrying a freshly sealed template in its own session, with
   claim-then-verify (the default flow). Setup (sessions, sealing) is not timed.

Both measure the **backend alone**: the load generator speaks the raw protocol (it is not
a :class:`facepay.Till`, whose face stage would be the bottleneck on the same 2 cores). The
till's own payment path is measured by ``facepay bench faults|crash``.

Every figure comes with the machine's load average before and after, because the 2 cores
are shared: numbers taken under load are labelled so by the caller.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from facepay._commands._numbers import at_least, not_negative, positive

__all__ = ["register"]


def register(subparsers: Any, group_parser: argparse.ArgumentParser | None) -> None:
    from facepay.cli import add_json_flag

    p = subparsers.add_parser(
        "backend",
        help="reference backend: 1:N decision latency and authorize throughput",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    p.add_argument(
        "--gallery",
        type=gallery_sizes,
        default="10k,100k,1M",
        help="gallery sizes for the 1:N latency, comma separated, k and M allowed "
        "(default 10k,100k,1M)",
    )
    p.add_argument(
        "--queries", type=at_least(1), default=200, help="1:N probes per size (default 200)"
    )
    p.add_argument(
        "--clients", type=at_least(1), default=32, help="concurrent clients (default 32)"
    )
    p.add_argument(
        "--duration", type=positive, default=10.0, help="seconds of authorize load per database"
    )
    p.add_argument(
        "--warmup",
        type=not_negative,
        default=2.0,
        help="seconds of the same load before the clock starts, not measured (default 2): "
        "a freshly started backend's first second pays one-time costs (each worker loading "
        "the shoppers it has not seen, preparing its statements)",
    )
    p.add_argument(
        "--db",
        choices=("sqlite", "postgres", "both", "none"),
        default="both",
        help="databases for the throughput run ('none' skips it)",
    )
    p.add_argument(
        "--rate",
        type=positive,
        default=None,
        help="offered authorizations per second, spread evenly over the clients (each "
        "sends on its own schedule; latency counts from the scheduled send, so a late "
        "send is charged to the backend). Default: none, every client back to back",
    )
    p.add_argument(
        "--workers",
        type=at_least(1),
        default=1,
        help="backend processes (facepay sandbox serve --workers; default 1)",
    )
    p.add_argument(
        "--postgres-dsn",
        default=os.environ.get("FACEPAY_BENCH_POSTGRES_DSN"),
        help="an empty PostgreSQL database (default: start a temporary cluster)",
    )
    add_json_flag(p)
    p.set_defaults(handler=_run)


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _percentiles(values_ms: list[float]) -> dict[str, float]:
    import numpy as np

    arr = np.asarray(values_ms, dtype=np.float64)
    return {
        "p50_ms": round(float(np.percentile(arr, 50)), 2),
        "p99_ms": round(float(np.percentile(arr, 99)), 2),
        "mean_ms": round(float(arr.mean()), 2),
        "max_ms": round(float(arr.max()), 2),
    }


def gallery_sizes(text: str) -> list[int]:
    """``"10k,100k,1M"`` -> ``[10000, 100000, 1000000]`` (argparse type: bad input is a
    usage error, not a traceback)."""
    scale = {"k": 1_000, "m": 1_000_000}
    sizes = []
    for part in text.split(","):
        item = part.strip().replace("_", "").lower()
        if not item:
            continue
        factor = scale.get(item[-1], 1)
        digits = item[:-1] if item[-1] in scale else item
        try:
            size = int(float(digits) * factor)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a gallery size: {part.strip()!r}") from None
        if size < 2:
            raise argparse.ArgumentTypeError(f"a gallery needs at least 2 templates: {part!r}")
        sizes.append(size)
    if not sizes:
        raise argparse.ArgumentTypeError("no gallery size given")
    return sizes


def bench_gallery(size: int, queries: int, dim: int = 128, seed: int = 7) -> dict[str, Any]:
    """1:N decision latency over ``size`` synthetic templates.

    Also reports how the bound-pruned search went (``Gallery.stats``): the share of
    gallery rows scored exactly and how many searches fell back to the full product.
    Synthetic unit vectors are isotropic, the easy case for the head bound; real
    embeddings prune less (docs/performance.md, "1:N decision").
    """
    import numpy as np

    from facepay.config import ServerConfig
    from facepay.server import Gallery

    config = ServerConfig()
    rng = np.random.default_rng(seed)
    gallery = Gallery(dim, capacity=size)
    chunk = 100_000
    t_build = time.perf_counter()
    for start in range(0, size, chunk):
        n = min(chunk, size - start)
        block = rng.standard_normal((n, dim), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        gallery.add_many([f"shp_{i}" for i in range(start, start + n)], block)
    build_s = time.perf_counter() - t_build
    before = gallery.stats()
    load_before = _load()
    times: list[float] = []
    correct = 0
    genuine = 0
    cpu_start = time.process_time()
    for q in range(queries):
        if q % 2 == 0:
            target = int(rng.integers(size))
            base = gallery.vector(f"shp_{target}")
            assert base is not None
            probe = base + 0.02 * rng.standard_normal(dim).astype(np.float32)
            expect: str | None = f"shp_{target}"
            genuine += 1
        else:
            probe = rng.standard_normal(dim).astype(np.float32)
            expect = None
        t0 = time.perf_counter()
        result = gallery.search(probe, threshold=config.match_threshold, margin=config.match_margin)
        times.append((time.perf_counter() - t0) * 1e3)
        correct += int(result.shopper_id == expect)
    cpu_ms = (time.process_time() - cpu_start) * 1e3 / max(queries, 1)
    stats = gallery.stats()
    searched = max(stats.rows_searched - before.rows_searched, 1)
    return {
        "gallery_size": size,
        "dimension": dim,
        "queries": queries,
        **_percentiles(times),
        # CPU time (all threads) per decision: unlike wall time it barely moves with the
        # machine's load, so it is the figure to compare between runs.
        "cpu_ms_per_query": round(cpu_ms, 2),
        "decisions_correct": correct,
        "genuine_probes": genuine,
        # head + tail rows and one tail norm per row (float32)
        "gallery_memory_mb": round(size * (dim + 1) * 4 / 2**20, 1),
        "head_dimension": gallery.head_dimension,
        "pruned_searches": stats.pruned_searches - before.pruned_searches,
        "full_scans": stats.full_scans - before.full_scans,
        "rescored_fraction": round((stats.rows_rescored - before.rows_rescored) / searched, 6),
        "build_seconds": round(build_s, 2),  # bulk load, PCA basis refits included
        "load_average_before": load_before,
        "load_average_after": _load(),
    }


def _run(args: argparse.Namespace) -> int:
    from facepay.cli import emit

    sizes: list[int] = args.gallery
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "load_average_start": _load()},
        "one_to_n": [],
        "authorize": [],
    }
    for size in sizes:
        report["one_to_n"].append(bench_gallery(size, args.queries))
    dbs = {"both": ["sqlite", "postgres"], "none": []}.get(args.db, [args.db])
    for db in dbs:
        report["authorize"].append(
            _throughput(
                db,
                clients=args.clients,
                duration=args.duration,
                dsn=args.postgres_dsn,
                workers=args.workers,
                rate=args.rate,
                warmup=args.warmup,
            )
        )
    report["machine"]["load_average_end"] = _load()

    def human(r: dict[str, Any]) -> str:
        lines = [f"load average at start {r['machine']['load_average_start']}"]
        for g in r["one_to_n"]:
            lines.append(
                f"1:N  N={g['gallery_size']:>9,}  p50 {g['p50_ms']:7.2f} ms  "
                f"p99 {g['p99_ms']:7.2f} ms  cpu {g['cpu_ms_per_query']:.2f} ms/query  "
                f"({g['decisions_correct']}/{g['queries']} right)"
            )
        for a in r["authorize"]:
            lines.append(
                f"authorize {a['database']:<8} {a['clients']} clients: "
                f"{a['throughput_per_s']:.0f}/s  p50 {a['p50_ms']:.1f} ms  "
                f"p99 {a['p99_ms']:.1f} ms  errors {a['errors']}  cpu/authorize: server "
                f"{a['server_cpu_ms_per_authorize']:.1f} ms, client "
                f"{a['client_cpu_ms_per_authorize']:.1f} ms"
            )
        return "\n".join(lines)

    emit(args, report, human)
    return 0


# ----------------------------------------------------------------------------- throughput


def _throughput(
    database: str,
    *,
    clients: int,
    duration: float,
    dsn: str | None,
    workers: int = 1,
    rate: float | None = None,
    warmup: float = 2.0,
) -> dict[str, Any]:
    import contextlib
    import tempfile
    from pathlib import Path

    from facepay.testing.postgres import TemporaryPostgres

    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="facepay-bench-")))
        database_pid = None  # PostgreSQL's postmaster, when the benchmark starts it
        if database == "sqlite":
            from facepay.config import ServerConfig

            target = str(tmp / "bench.db")
            sync = ServerConfig.from_env().sqlite_synchronous
            settings = f"SQLite WAL, synchronous={sync}"
        elif dsn:
            target = dsn
            settings = "PostgreSQL (given DSN)"
        else:
            pg = stack.enter_context(TemporaryPostgres(durable=True))
            target = pg.dsn
            settings = "PostgreSQL 15, temporary cluster, fsync on"
            database_pid = pg.postmaster_pid
        result = _drive(
            target,
            tmp / "keys",
            clients=clients,
            duration=duration,
            workers=workers,
            database_pid=database_pid,
            rate=rate,
            warmup=warmup,
        )
        result.update(database=database, settings=settings, workers=workers)
        return result


def _drive(
    target: str,
    key_dir: Any,
    *,
    clients: int,
    duration: float,
    workers: int = 1,
    database_pid: int | None = None,
    rate: float | None = None,
    warmup: float = 2.0,
) -> dict[str, Any]:
    import asyncio
    import secrets
    import socket
    import subprocess
    import sys
    from pathlib import Path

    import httpx

    from facepay.errors import FacePayError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    token = secrets.token_urlsafe(16)
    env = {
        **os.environ,
        # Synthetic tills with a fixed liveness verdict: sandbox tenants (no seeded plan).
        "FACEPAY_SERVER_SANDBOX_TENANTS": "*",
        "FACEPAY_SERVER_ADMIN_TOKEN": token,
        # The load generator is one process playing many tills: lift the per-device
        # flood guard and give sessions time to wait for their turn.
        "FACEPAY_SERVER_DEVICE_RATE_PER_S": "100000",
        "FACEPAY_SERVER_DEVICE_RATE_BURST": "100000",
        "FACEPAY_SERVER_SESSION_TTL_S": "900",
    }
    log = open(Path(key_dir).parent / "server.log", "wb")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "facepay",
            "sandbox",
            "serve",
            "--db",
            target,
            "--keys",
            str(key_dir),
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/v1/health", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                log.flush()
                why = Path(log.name).read_text(errors="replace").strip().splitlines()
                # The server's own one-line error (e.g. an unreachable PostgreSQL).
                raise FacePayError(
                    "benchmark backend did not start"
                    + (f": {why[-1].removeprefix('facepay: error: ')}" if why else "")
                )
            time.sleep(0.2)
        return asyncio.run(
            _load_test(
                base,
                token,
                clients=clients,
                duration=duration,
                server_pid=server.pid,
                database_pid=database_pid,
                rate=rate,
                warmup=warmup,
            )
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        tail = (Path(key_dir).parent / "server.log").read_text(errors="replace")[-2000:]
        if "Traceback" in tail:
            sys.stderr.write(f"benchmark backend log (tail):\n{tail}\n")


def _process_cpu_s(pid: int) -> float:
    from facepay.eval._backends import process_tree_cpu_seconds

    seconds = process_tree_cpu_seconds(pid)
    return float("nan") if seconds is None else seconds


async def _load_test(
    base: str,
    token: str,
    *,
    clients: int,
    duration: float,
    server_pid: int,
    database_pid: int | None = None,
    rate: float | None = None,
    warmup: float = 2.0,
) -> dict[str, Any]:
    import asyncio
    import gc
    import json
    import uuid

    import httpx
    import numpy as np

    from facepay.crypto import (
        BackendPublicKey,
        DeviceKey,
        SealingSuite,
        seal_template,
        sign_request,
    )
    from facepay.types import FaceTemplate
    from facepay.wire import KeySet, SealedTemplateWire, b64decode, b64encode

    limits = httpx.Limits(max_connections=clients * 2, max_keepalive_connections=clients * 2)
    async with httpx.AsyncClient(base_url=base, timeout=30.0, limits=limits) as http:
        keys = KeySet.model_validate_json((await http.get("/v1/keys")).content)
        current = keys.current()
        public = BackendPublicKey(
            key_id=current.key_id,
            suite=SealingSuite.parse(current.suite),
            raw=b64decode(current.public_key),
        )

        async def signed(
            device: tuple[str, DeviceKey], path: str, payload: Any, extra: dict[str, str]
        ) -> httpx.Response:
            body = json.dumps(payload, separators=(",", ":")).encode()
            headers = sign_request(
                device[1],
                device_id=device[0],
                method="POST",
                target=path,
                body=body,
                idempotency_key=extra.get("Idempotency-Key"),
            )
            headers.update(extra)
            headers["content-type"] = "application/json"
            return await http.post(path, content=body, headers=headers)

        rng = np.random.default_rng(3)
        devices: list[tuple[str, DeviceKey]] = []
        faces: list[np.ndarray[Any, Any]] = []
        tenant = await http.post(
            "/v1/tenants", json={"tenant_id": "bench"}, headers={"Authorization": f"Bearer {token}"}
        )
        tenant.raise_for_status()
        for i in range(clients):
            key = DeviceKey.generate()
            r = await http.post(
                "/v1/devices",
                json={
                    "tenant_id": "bench",
                    "store_id": "store-1",
                    "lane_id": f"lane-{i}",
                    "public_key": b64encode(key.public_key.raw),
                },
                headers={"Authorization": f"Bearer {token}"},
            )
            r.raise_for_status()
            devices.append((r.json()["device_id"], key))
            vec = rng.standard_normal(128).astype(np.float32)
            faces.append(vec / np.linalg.norm(vec))

        def sealed(vec: np.ndarray[Any, Any], session_id: str) -> dict[str, Any]:
            template = FaceTemplate(vector=vec, model_id="dlib-resnet-v1", frames_fused=5)
            s = seal_template(template, public, session_id=session_id)
            return SealedTemplateWire.from_sealed(s).model_dump()

        async def session(device: tuple[str, DeviceKey], purpose: str) -> str:
            for attempt in range(3):
                try:
                    r = await signed(device, "/v1/sessions", {"purpose": purpose}, {})
                    break
                except (httpx.ReadError, httpx.RemoteProtocolError):
                    # A keep-alive connection the server closed as it was reused (an idle
                    # prepare phase): a new session on a new connection is as good.
                    if attempt == 2:
                        raise
            r.raise_for_status()
            return str(r.json()["session_id"])

        # One shopper per client, enrolled by its till; phone claims for verification.
        for i, device in enumerate(devices):
            sid = await session(device, "enroll")
            r = await signed(
                device,
                "/v1/enrollments",
                {
                    "session_id": sid,
                    "sealed_template": sealed(faces[i], sid),
                    "consent": {"text_version": "bench", "accepted_at": "2026-01-01T00:00:00Z"},
                    "payment_method_token": "tok_visa_4242",
                    "claim": {"kind": "phone", "value": f"+491510000{i:04d}"},
                },
                {},
            )
            r.raise_for_status()

        # Prepare each client's authorizations (sessions + sealed templates): untimed.
        per_client = max(20, int((warmup + duration) * (rate or 900) * 1.1 / clients))

        async def prepare(i: int) -> list[dict[str, Any]]:
            out = []
            for _ in range(per_client):
                sid = await session(devices[i], "pay")
                probe = faces[i] + 0.02 * rng.standard_normal(128).astype(np.float32)
                out.append(
                    {
                        "session_id": sid,
                        "amount_minor": int(rng.integers(100, 10_000)),
                        "currency": "EUR",
                        "basket_reference": f"bench-{uuid.uuid4().hex[:12]}",
                        "sealed_template": sealed(probe, sid),
                        "liveness": {"decision": "live"},
                        "claim": {"kind": "phone", "value": f"+491510000{i:04d}"},
                    }
                )
            return out

        prepared = await asyncio.gather(*(prepare(i) for i in range(clients)))

        latencies: list[float] = []
        statuses: dict[str, int] = {}
        errors = 0
        stop_at = measure_from = 0.0
        exhausted = False  # a client sent every request prepared for it

        host, port = base.removeprefix("http://").split(":")

        def wire_request(i: int, body: dict[str, Any]) -> bytes:
            raw = json.dumps(body, separators=(",", ":")).encode()
            idempotency_key = f"idem_{uuid.uuid4().hex}"
            headers = sign_request(
                devices[i][1],
                device_id=devices[i][0],
                method="POST",
                target="/v1/authorizations",
                body=raw,
                idempotency_key=idempotency_key,
            )
            headers["Idempotency-Key"] = idempotency_key
            head = (
                f"POST /v1/authorizations HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n"
                + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
                + "\r\n"
            )
            return head.encode("ascii") + raw

        # Bodies signed before the clock starts too: 32 tills sign on their own CPUs, not
        # on the backend's. Signatures older than 200 s (of the 300 s the backend
        # accepts) are made again at send time.
        signed_at = time.time()
        wired = [[wire_request(i, body) for body in prepared[i]] for i in range(clients)]

        async def worker(i: int) -> None:
            # The timed loop speaks HTTP/1.1 keep-alive directly on a socket: httpx's
            # async client cost ~8 ms of CPU per request here, which on 2 shared cores
            # would measure the load generator instead of the backend.
            nonlocal errors, exhausted, stop_at
            reader, writer = await asyncio.open_connection(host, int(port))
            try:
                for n, body in enumerate(prepared[i]):
                    if time.perf_counter() >= stop_at:
                        return
                    t0 = time.perf_counter()
                    if rate:
                        # Paced: send n of client i is due at a fixed time; if the
                        # backend held us up past it, the wait counts as latency.
                        due = start + (n + i / clients) * clients / rate
                        if due >= stop_at:
                            return
                        if due > t0:
                            await asyncio.sleep(due - t0)
                        t0 = due
                    fresh = time.time() - signed_at < 200
                    writer.write(wired[i][n] if fresh else wire_request(i, body))
                    await writer.drain()
                    status = int((await reader.readline()).split()[1])
                    length = 0
                    while True:
                        line = await reader.readline()
                        if line in (b"\r\n", b""):
                            break
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value)
                    payload = await reader.readexactly(length)
                    if status != 200:
                        errors += 1  # warm-up included
                    if t0 < measure_from:
                        continue  # warm-up: the same load, not measured
                    latencies.append((time.perf_counter() - t0) * 1e3)
                    if status == 200:
                        state = str(json.loads(payload)["status"])
                        statuses[state] = statuses.get(state, 0) + 1
                # Back to back, clients on a less busy worker run ahead: the first to
                # run out ends the run for all, so the load stays full while measured.
                exhausted = True
                stop_at = min(stop_at, time.perf_counter())
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                errors += 1
            finally:
                writer.close()

        # The load generator holds every prepared request: a full garbage collection of
        # its own heap mid-run stalls all 32 clients at once and would be charged to the
        # backend. Collect now, then keep the collector off until the clock stops.
        gc.collect()
        gc.disable()
        load_before = _load()
        start = time.perf_counter()
        measure_from = start + warmup
        stop_at = measure_from + duration
        cpu: dict[str, float] = {}

        async def clock() -> None:
            # CPU is counted from the end of the warm-up, like latency.
            await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
            cpu["server"] = _process_cpu_s(server_pid)
            cpu["database"] = _process_cpu_s(database_pid) if database_pid else float("nan")
            cpu["client"] = time.process_time()

        try:
            await asyncio.gather(clock(), *(worker(i) for i in range(clients)))
        finally:
            gc.enable()
        elapsed = max(0.0, time.perf_counter() - measure_from)
        server_cpu, database_cpu, client_cpu = cpu["server"], cpu["database"], cpu["client"]
        server_cpu = _process_cpu_s(server_pid) - server_cpu
        if database_pid:
            database_cpu = _process_cpu_s(database_pid) - database_cpu
        client_cpu = time.process_time() - client_cpu
        done = len(latencies)
        per = max(done, 1)
        return {
            # CPU per authorization, server and load generator: comparable across runs
            # whatever the load; 2 idle cores could sustain at most 2000 / (sum) per second.
            "server_cpu_ms_per_authorize": round(server_cpu * 1e3 / per, 2),
            "client_cpu_ms_per_authorize": round(client_cpu * 1e3 / per, 2),
            # PostgreSQL's own processes (a temporary cluster only; null otherwise).
            "database_cpu_ms_per_authorize": round(database_cpu * 1e3 / per, 2)
            if database_pid
            else None,
            "clients": clients,
            "requests": done,
            "seconds": round(elapsed, 2),
            "throughput_per_s": round(done / elapsed, 1) if elapsed else 0.0,
            **_percentiles(latencies or [0.0]),
            "outcomes": statuses,
            "errors": errors,
            # True: the run ended early, when the first client ran out ("seconds").
            "prepared_exhausted": exhausted,
            # None: closed loop (each client sends its next request when the last answer
            # came back), so latency there is queueing: clients / throughput on average.
            "offered_rate_per_s": rate,
            "warmup_s": warmup,
            "load_average_before": load_before,
            "load_average_after": _load(),
        }

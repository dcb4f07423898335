"""Network faults on purpose: an httpx transport that drops, delays, resets, duplicates
and answers 5xx at random (seeded), and one that records every body it carries.

Both are ordinary httpx transports, the client's public seam (``FacePayClient(...,
transport=...)``), so the client, its retry rules, the backend and its database all run
for real; only the wire between them misbehaves. What each fault means for a payment:

============== ============================================= ==========================
fault          what the till sees                            did the backend see it?
============== ============================================= ==========================
refuse         ``ConnectError`` (nothing was sent)           no
drop_response  ``ReadTimeout`` after the backend answered    yes
reset          ``ReadError`` (connection reset), before or   maybe (50/50)
               after the request reached the backend
delay          the real answer, late (up to ``max_delay_s``) yes
duplicate      the first answer; a copy of the request (same yes, twice
               signature, same nonce) was delivered again
unavailable    ``503`` from "a proxy" (backend never asked)  no
bad_gateway    ``502`` from "a proxy" after the backend      yes
               answered
============== ============================================= ==========================

``drop_response``, ``reset`` and ``bad_gateway`` are the dangerous ones: the payment may
have been taken and the till does not know. The idempotency key is what makes them safe.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import random
import threading
import time
from collections import Counter
from typing import Any

import httpx

__all__ = [
    "AsyncFaultyTransport",
    "FaultKind",
    "FaultLog",
    "FaultPlan",
    "FaultyTcpProxy",
    "FaultyTransport",
    "RecordedExchange",
    "RecordingTransport",
]


class FaultKind(str, enum.Enum):
    REFUSE = "refuse"
    DROP_RESPONSE = "drop_response"
    RESET = "reset"
    DELAY = "delay"
    DUPLICATE = "duplicate"
    UNAVAILABLE = "unavailable"
    BAD_GATEWAY = "bad_gateway"


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class FaultPlan:
    """How often and how the wire misbehaves. ``rate`` is the share of requests faulted;
    the fault kind is drawn uniformly from ``kinds``; ``seed`` makes a run repeatable
    (given the same order of requests)."""

    rate: float = 0.3
    kinds: tuple[FaultKind, ...] = tuple(FaultKind)
    # Long enough to reorder concurrent requests, short of the client's read timeout.
    max_delay_s: float = 0.25
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("FaultPlan.rate must be in [0, 1]")
        if not self.kinds:
            raise ValueError("FaultPlan.kinds must not be empty")


class FaultLog:
    """Thread-safe counts: requests seen, faults injected by kind, and what the
    duplicated copies were answered (a duplicate must never be a 5xx or a second charge)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.faults: Counter[str] = Counter()
        # "POST 401": what the backend answered the duplicated copies, by method.
        self.duplicate_statuses: Counter[str] = Counter()
        self.backend_statuses: Counter[int] = Counter()

    def note_request(self) -> None:
        with self._lock:
            self.requests += 1

    def note_fault(self, kind: FaultKind) -> None:
        with self._lock:
            self.faults[kind.value] += 1

    def note_status(self, method: str, status: int, *, duplicate: bool = False) -> None:
        with self._lock:
            if duplicate:
                self.duplicate_statuses[f"{method} {status}"] += 1
            else:
                self.backend_statuses[status] += 1

    def summary(self) -> dict[str, Any]:
        with self._lock:
            faulted = sum(self.faults.values())
            return {
                "requests": self.requests,
                "faulted": faulted,
                "fault_share": round(faulted / self.requests, 4) if self.requests else 0.0,
                "faults": dict(sorted(self.faults.items())),
                "backend_statuses": {str(k): v for k, v in sorted(self.backend_statuses.items())},
                "duplicate_statuses": dict(sorted(self.duplicate_statuses.items())),
            }


class _Dice:
    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self._rng = random.Random(plan.seed)  # noqa: S311 - seeded on purpose: repeatable
        self._lock = threading.Lock()

    def roll(self) -> tuple[FaultKind | None, float, bool]:
        """(fault or None, delay seconds, coin) in one locked draw, so threads share one
        seeded sequence."""
        with self._lock:
            faulted = self._rng.random() < self.plan.rate
            kind = self._rng.choice(self.plan.kinds) if faulted else None
            return kind, self._rng.uniform(0.0, self.plan.max_delay_s), self._rng.random() < 0.5


def _proxy_error(request: httpx.Request, status: int) -> httpx.Response:
    # What a load balancer in front of the backend says: not the protocol's JSON body.
    text = b"<html><body>502 Bad Gateway</body></html>" if status == 502 else b"upstream down"
    return httpx.Response(status, content=text, request=request)


def _copy(request: httpx.Request) -> httpx.Request:
    return httpx.Request(
        request.method, request.url, headers=request.headers, content=request.content
    )


class FaultyTransport(httpx.BaseTransport):
    """Wraps a real transport (default ``httpx.HTTPTransport()``) and injects faults."""

    def __init__(
        self,
        plan: FaultPlan,
        inner: httpx.BaseTransport | None = None,
        *,
        log: FaultLog | None = None,
    ) -> None:
        self.plan = plan
        self.inner = inner if inner is not None else httpx.HTTPTransport()
        self.log = log if log is not None else FaultLog()
        self._dice = _Dice(plan)

    def _deliver(self, request: httpx.Request, *, duplicate: bool = False) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        self.log.note_status(request.method, response.status_code, duplicate=duplicate)
        return response

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.log.note_request()
        kind, delay, coin = self._dice.roll()
        if kind is None:
            return self._deliver(request)
        self.log.note_fault(kind)
        if kind is FaultKind.REFUSE:
            raise httpx.ConnectError("injected: connection refused", request=request)
        if kind is FaultKind.UNAVAILABLE:
            return _proxy_error(request, 503)
        if kind is FaultKind.RESET and coin:
            raise httpx.ReadError("injected: connection reset before delivery", request=request)
        if kind is FaultKind.DELAY:
            time.sleep(delay)
        response = self._deliver(request)
        if kind is FaultKind.DUPLICATE:
            self._deliver(_copy(request), duplicate=True)
        if kind is FaultKind.DROP_RESPONSE:
            response.close()
            raise httpx.ReadTimeout("injected: answer lost", request=request)
        if kind is FaultKind.RESET:
            response.close()
            raise httpx.ReadError("injected: connection reset after delivery", request=request)
        if kind is FaultKind.BAD_GATEWAY:
            response.close()
            return _proxy_error(request, 502)
        return response

    def close(self) -> None:
        self.inner.close()


class AsyncFaultyTransport(httpx.AsyncBaseTransport):
    """The same faults for ``AsyncFacePayClient`` (default ``httpx.AsyncHTTPTransport()``)."""

    def __init__(
        self,
        plan: FaultPlan,
        inner: httpx.AsyncBaseTransport | None = None,
        *,
        log: FaultLog | None = None,
    ) -> None:
        self.plan = plan
        self.inner = inner if inner is not None else httpx.AsyncHTTPTransport()
        self.log = log if log is not None else FaultLog()
        self._dice = _Dice(plan)

    async def _deliver(self, request: httpx.Request, *, duplicate: bool = False) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        await response.aread()
        self.log.note_status(request.method, response.status_code, duplicate=duplicate)
        return response

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.log.note_request()
        kind, delay, coin = self._dice.roll()
        if kind is None:
            return await self._deliver(request)
        self.log.note_fault(kind)
        if kind is FaultKind.REFUSE:
            raise httpx.ConnectError("injected: connection refused", request=request)
        if kind is FaultKind.UNAVAILABLE:
            return _proxy_error(request, 503)
        if kind is FaultKind.RESET and coin:
            raise httpx.ReadError("injected: connection reset before delivery", request=request)
        if kind is FaultKind.DELAY:
            await asyncio.sleep(delay)
        response = await self._deliver(request)
        if kind is FaultKind.DUPLICATE:
            await self._deliver(_copy(request), duplicate=True)
        if kind is FaultKind.DROP_RESPONSE:
            await response.aclose()
            raise httpx.ReadTimeout("injected: answer lost", request=request)
        if kind is FaultKind.RESET:
            await response.aclose()
            raise httpx.ReadError("injected: connection reset after delivery", request=request)
        if kind is FaultKind.BAD_GATEWAY:
            await response.aclose()
            return _proxy_error(request, 502)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclasses.dataclass(frozen=True, slots=True)
class RecordedExchange:
    method: str
    url: str
    request_headers: tuple[tuple[str, str], ...]
    request_body: bytes
    status: int
    response_headers: tuple[tuple[str, str], ...]
    response_body: bytes


class RecordingTransport(httpx.BaseTransport):
    """Passes every request to ``inner`` and keeps a copy of both bodies and headers,
    so a privacy test can search everything that crossed the wire."""

    def __init__(self, inner: httpx.BaseTransport | None = None) -> None:
        self.inner = inner if inner is not None else httpx.HTTPTransport()
        self.exchanges: list[RecordedExchange] = []
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        response = self.inner.handle_request(request)
        content = response.read()
        with self._lock:
            self.exchanges.append(
                RecordedExchange(
                    method=request.method,
                    url=str(request.url),
                    request_headers=tuple(request.headers.items()),
                    request_body=body,
                    status=response.status_code,
                    response_headers=tuple(response.headers.items()),
                    response_body=content,
                )
            )
        return response

    def close(self) -> None:
        self.inner.close()


class FaultyTcpProxy:
    """A loopback TCP proxy in front of the backend that cuts connections mid-stream.

    Where :class:`FaultyTransport` fails whole HTTP exchanges, this fails bytes: for a
    seeded share ``rate`` of the chunks it relays, it forwards only a random prefix of
    the chunk and then closes both sides, so the backend receives a request cut off in
    the middle of its headers or body, or the till receives half an answer. Chunks can
    also be held back (``max_delay_s``). Use it as a context manager; point the client at
    :attr:`base_url`.
    """

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        rate: float = 0.1,
        max_delay_s: float = 0.05,
        seed: int = 0,
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.rate = rate
        self.max_delay_s = max_delay_s
        self._rng = random.Random(seed)  # noqa: S311 - seeded on purpose: repeatable
        self._lock = threading.Lock()
        self.cuts: Counter[str] = Counter()
        self.connections = 0
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._ready = threading.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _draw(self) -> tuple[bool, float, float]:
        with self._lock:
            return (
                self._rng.random() < self.rate,
                self._rng.random(),
                self._rng.uniform(0.0, self.max_delay_s),
            )

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        other: asyncio.StreamWriter,
        direction: str,
    ) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                cut, share, delay = self._draw()
                if delay > self.max_delay_s * 0.8:
                    await asyncio.sleep(delay)
                if cut:
                    with self._lock:
                        self.cuts[direction] += 1
                    writer.write(data[: int(len(data) * share)])
                    await writer.drain()
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            for w in (writer, other):
                w.close()

    async def _handle(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        with self._lock:
            self.connections += 1
        try:
            u_reader, u_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            c_writer.close()
            return
        await asyncio.gather(
            self._pipe(c_reader, u_writer, c_writer, "request"),
            self._pipe(u_reader, c_writer, u_writer, "response"),
        )

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)

        async def start() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.port = int(self._server.sockets[0].getsockname()[1])
            self._ready.set()

        loop.run_until_complete(start())
        loop.run_forever()
        # Connections still open at stop: cancel their relays before closing the loop.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()

    def start(self) -> FaultyTcpProxy:
        self._thread = threading.Thread(target=self._run, name="facepay-tcp-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10.0):
            raise RuntimeError("the TCP fault proxy did not start")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return
        server = self._server

        def shutdown() -> None:
            if server is not None:
                server.close()
            loop.stop()

        loop.call_soon_threadsafe(shutdown)
        if self._thread is not None:
            self._thread.join(timeout=10.0)
        self._loop = None

    def __enter__(self) -> FaultyTcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

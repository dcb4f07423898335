"""The protocol middleware: what happens to every request before FastAPI sees it.

A request id on every response (500s included) and the protocol header; the backend's
signature on every answer, errors included, bound to the request's nonce
(docs/protocol.md, "Signed answers"); the body-size cap; and the authentication of every
signed route, in this one place, before anything else in the request is read: the
signature, then the nonce recorded (whatever the request's later fate), the clock and the
device's rate (facepay.server._devices). What it refuses is answered here with the same
error body as everything else (facepay.server._errors); the rest goes on to FastAPI with
the device in ``scope["state"]``.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from facepay.crypto import answer_nonce, canonical_target
from facepay.errors import CryptoError
from facepay.server._errors import (
    ApiError,
    body_too_large,
    error_body,
    error_headers,
    internal_error,
)
from facepay.server._service import AuthenticatedDevice, PaymentBackend
from facepay.wire import (
    HEADER_ANSWER_NONCE,
    HEADER_DEVICE,
    HEADER_IDEMPOTENCY_KEY,
    HEADER_NONCE,
    HEADER_PROTOCOL,
    HEADER_REQUEST_ID,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    PROTOCOL_VERSION,
    ErrorCode,
)

__all__ = ["BodyTooLargeError", "ProtocolMiddleware", "is_signed"]

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


class BodyTooLargeError(Exception):
    """The body grew past the cap while it was read (FastAPI wraps it into a 400)."""


class ProtocolMiddleware:
    """Request id on every response, protocol header, the body-size cap, and the
    authentication of every signed route.

    Pure ASGI (no BaseHTTPMiddleware): it adds nothing to the hot path but a header.
    """

    def __init__(
        self,
        app: FastAPI,
        max_body_bytes: int,
        worker_threads: int,
        *,
        backend: PaymentBackend,
        run: Callable[..., Awaitable[Any]],
    ) -> None:
        self.app = app
        self.backend = backend
        self.run = run
        # The FastAPI app inside (its OpenAPI document: ``.fastapi.openapi()``).
        self.fastapi = app
        self.max_body_bytes = max_body_bytes
        self.worker_threads = worker_threads
        self._limiter_loop: object = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        if self._limiter_loop is not loop:
            # The blocking work (crypto, database) holds the GIL: more threads than cores
            # only queue on it (ServerConfig.worker_threads). anyio's limiter is per loop.
            anyio.to_thread.current_default_thread_limiter().total_tokens = self.worker_threads
            self._limiter_loop = loop
        given = ""
        declared_length = None
        nonces: dict[bytes, str] = {}
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                given = value.decode("latin-1")
            elif name == b"content-length":
                declared_length = value
            elif name in _NONCE_HEADERS:
                nonces.setdefault(name, value.decode("latin-1"))
        request_id = given if _REQUEST_ID_RE.match(given) else f"req_{secrets.token_hex(12)}"
        scope.setdefault("state", {})["request_id"] = request_id
        extra = [
            (HEADER_REQUEST_ID.lower().encode(), request_id.encode()),
            (HEADER_PROTOCOL.lower().encode(), PROTOCOL_VERSION.encode()),
        ]

        bound_to = answer_nonce(*(nonces.get(name) for name in _NONCE_HEADERS))
        target = canonical_target(
            scope.get("raw_path", scope["path"].encode()).decode("latin-1"),
            scope.get("query_string", b""),
        )
        start: Message | None = None
        chunks: list[bytes] = []

        async def send_with_headers(message: Message) -> None:
            # Held until the whole body is here: the signature covers its SHA-256.
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(bytes(message.get("body", b"")))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            try:
                signature = self.backend.vault.sign_answer(
                    method=scope["method"],
                    target=target,
                    nonce=bound_to,
                    status=int(start["status"]),
                    body=body,
                )
            except CryptoError:
                # A request no till sends (``OPTIONS *``, a method of other letters): its
                # answer goes unsigned, and no till would believe it.
                signature = {}
            start["headers"] = [
                *start.get("headers", []),
                *extra,
                *((name.lower().encode(), value.encode()) for name, value in signature.items()),
            ]
            await send(start)
            await send({"type": "http.response.body", "body": body, "more_body": False})

        too_large = False
        if declared_length is not None:
            try:
                too_large = int(declared_length) > self.max_body_bytes
            except ValueError:
                too_large = True
        if too_large:
            await _send_error(send_with_headers, request_id, body_too_large())
            return
        received = 0

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLargeError()
            return message

        if is_signed(scope["method"], scope["path"]):
            # Authentication comes first, in one place for every signed route: a refusal
            # for any later reason (content type, body, rate, ...) finds the request's
            # nonce already recorded (facepay.server._devices).
            try:
                body = await _read_body(capped_receive)
                if body is None:
                    return  # the client went away: nothing to answer
                device = await self.run(self._authenticate, scope, body)
            except ApiError as error:
                await _send_error(send_with_headers, request_id, error)
                return
            except BodyTooLargeError:
                await _send_error(send_with_headers, request_id, body_too_large())
                return
            except Exception as exc:
                await _send_error(send_with_headers, request_id, internal_error(request_id, exc))
                return
            scope["state"]["device"] = device
            downstream: Receive = _replaying(body, receive)
        else:
            downstream = capped_receive
        await self.app(scope, downstream, send_with_headers)

    def _authenticate(self, scope: Scope, body: bytes) -> AuthenticatedDevice:
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            key = name.decode("latin-1").lower()
            if key in headers and key in _SINGLE_HEADERS:
                # Which of two would the signature and the operation each read? Neither.
                raise ApiError(ErrorCode.MISSING_SIGNATURE, f"{key} is sent more than once")
            headers[key] = value.decode("latin-1")
        return _authenticate(self.backend, scope, headers, body)


_NONCE_HEADERS = (HEADER_NONCE.lower().encode(), HEADER_ANSWER_NONCE.lower().encode())


# Routes a device signs: POST sessions, a session's liveness refusal, enrollments,
# authorizations and their step-ups; GET a session's authorization (reconcile by session).
_SIGNED_POST_RE = re.compile(
    r"^/v1/(sessions(/[^/]+/liveness-refusal)?|enrollments|authorizations(/[^/]+/step-up)?)$"
)
_SIGNED_GET_RE = re.compile(r"^/v1/(sessions/[^/]+/authorization|authorizations)$")


def is_signed(method: str, path: str) -> bool:
    """Whether a device signs this route (and the middleware authenticates it)."""
    if method == "POST":
        return _SIGNED_POST_RE.match(path) is not None
    return method == "GET" and _SIGNED_GET_RE.match(path) is not None


# Headers that must come once: the signature's and the idempotency key.
_SINGLE_HEADERS = frozenset(
    h.lower()
    for h in (
        HEADER_DEVICE,
        HEADER_TIMESTAMP,
        HEADER_NONCE,
        HEADER_SIGNATURE,
        HEADER_IDEMPOTENCY_KEY,
    )
)


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body; None if the client went away first."""
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        body += bytes(message.get("body", b""))
        if not message.get("more_body", False):
            return body


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the already read ``body`` over once, then waits on the
    connection (a disconnect)."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send_error(send: Send, request_id: str, error: ApiError) -> None:
    await _send_json(send, error.status, error_body(request_id, error), error_headers(error))


async def _send_json(
    send: Send, status: int, body: bytes, headers: Iterable[tuple[str, str]] = ()
) -> None:
    """A JSON answer straight onto ASGI, for what the middleware refuses before FastAPI."""
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(name.lower().encode(), value.encode()) for name, value in headers]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _authenticate(
    backend: PaymentBackend, scope: Scope, headers: dict[str, str], body: bytes
) -> AuthenticatedDevice:
    """The device that signed this request (its nonce recorded on the way)."""
    return backend.authenticate(
        method=scope["method"],
        target=canonical_target(
            scope.get("raw_path", scope["path"].encode()).decode("latin-1"),
            scope.get("query_string", b""),
        ),
        headers=headers,
        body=body,
    )

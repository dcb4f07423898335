"""What the sync and async clients share: building, signing, retry decisions, error mapping.

Like httpx's ``BaseClient``, everything here is free of I/O. A call is described once as
a :class:`Call` (method, path, JSON body, idempotency key, how to read the answer); the
sync client sends it with ``httpx.Client`` and sleeps with ``time.sleep``, the async
client with ``httpx.AsyncClient`` and ``asyncio.sleep``. Nothing else differs.

Retry rules (the whole point of a payment client is that a charge is taken exactly once):

* A request that never reached the backend (connection refused, DNS, TLS handshake,
  connect timeout) is retried whatever its method: nothing was sent, nothing can have
  happened.
* A request that may have reached the backend (read timeout, connection reset, 5xx) is
  retried only when it is safe: a ``GET``, or a request carrying an ``Idempotency-Key``
  (authorize), whose replay the backend answers with the first answer.
* 4xx answers are never retried: the same request would get the same refusal. A 429 is
  surfaced as :class:`~facepay.errors.RateLimitedError` with ``retry_after`` so the till
  can tell the shopper to wait, instead of the client hammering a lockout.

An answer is read up to ``ClientConfig.max_answer_bytes`` and no further (a rogue backend
or a proxy could otherwise exhaust the till's memory with one endless body): a larger one
is a :class:`~facepay.errors.ServerError` ``answer_too_large``, which leaves a payment
pending like a 5xx.

Every answer, errors included, must carry the backend's signature, bound to this
request's nonce (docs/protocol.md, "Signed answers"), by the key ``ClientConfig.
answer_key_pin`` names (without a pin: a loopback backend's first signed answer's key,
kept for the client's life). An answer that does not is a :class:`~facepay.errors.
ServerError` ``answer_mismatch``: like a 5xx it says nothing of what the backend did, so
a payment sent stays pending for reconcile.

Backoff is exponential with "full jitter" (sleep a uniform random time in
``[0, min(cap, base * 2**attempt)]``), the variant AWS's "Exponential Backoff And Jitter"
measured to spread a herd of retrying tills best. Each attempt is signed afresh: the
backend rejects a reused nonce, so a retry must never resend the same signature.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import math
import random
import re
import secrets
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import httpx
import pydantic

from facepay import wire
from facepay.config import ClientConfig
from facepay.crypto import answer_key_pin, answer_nonce, verify_answer, verify_next_answer_key
from facepay.errors import (
    AuthenticationError,
    BackendError,
    ConfigurationError,
    CryptoError,
    IdempotencyConflictError,
    InvalidSignatureError,
    RateLimitedError,
    RequestRejectedError,
    ServerError,
    SessionExpiredError,
    TransportError,
)

__all__ = ["Call", "RequestSigner"]

logger = logging.getLogger("facepay.client")

T = TypeVar("T")

IDEMPOTENCY_HEADER = wire.HEADER_IDEMPOTENCY_KEY
REQUEST_ID_HEADER = wire.HEADER_REQUEST_ID

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
# Error codes (the ``code`` of the backend's error body) that mean "this checkout session
# is over": the till must open a new one rather than retry.
_SESSION_CODES = frozenset(
    {"session_expired", "session_unknown", "session_used", "session_closed", "session_not_found"}
)


@runtime_checkable
class RequestSigner(Protocol):
    """Signs a request as the till's device key (``facepay.DeviceKey`` is one).

    ``sign_request`` gets the method, the path as sent (with its query), the exact body
    bytes and, for a call that carries one, the ``Idempotency-Key`` (it is signed: a
    proxy that rewrote it would get the request refused); it returns the headers that
    carry the signature, timestamp, nonce and key id. It is called once per attempt, so
    every retry has a fresh nonce. A call without a key is signed with three arguments.
    """

    def sign_request(
        self, method: str, path: str, body: bytes, idempotency_key: str | None = None
    ) -> Mapping[str, str]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Call(Generic[T]):
    """One logical backend call, described without doing any I/O."""

    method: str
    path: str
    parse: Callable[[Any], T] = field(repr=False)
    body: bytes | None = field(default=None, repr=False)
    params: Mapping[str, str] | None = None
    idempotency_key: str | None = None
    # Whether to sign: everything but the public discovery endpoints.
    signed: bool = True
    # Device registration is authorized by the operator's token instead of a signature.
    bearer_token: str | None = field(default=None, repr=False)
    # Idempotent by its path without a key: the same request again is answered as the
    # first was (a session's liveness refusal: one per session).
    idempotent: bool = False

    @property
    def retry_safe(self) -> bool:
        """May this call be sent again after it possibly reached the backend?"""
        return self.method in _SAFE_METHODS or self.idempotency_key is not None or self.idempotent


def encode_json(payload: Any) -> bytes:
    """The body bytes that are both signed and sent (compact, stable key order)."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def ms_since(started: float) -> float:
    """Milliseconds since ``started`` (a ``time.perf_counter()`` reading)."""
    return (time.perf_counter() - started) * 1e3


def is_loopback(host: str) -> bool:
    """Is ``host`` this machine (``localhost``, 127.0.0.0/8, ``::1``)?"""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_request_id() -> str:
    return uuid.uuid4().hex


def new_idempotency_key() -> str:
    """A fresh key for one checkout attempt; reuse it for every retry of that attempt."""
    return f"idem_{uuid.uuid4().hex}"


class BaseClient:
    """The I/O-free half of :class:`FacePayClient` and :class:`AsyncFacePayClient`."""

    def __init__(
        self,
        base_url: str,
        *,
        signer: RequestSigner | None = None,
        config: ClientConfig | None = None,
        rng: random.Random | None = None,
        own_transport: bool = False,
    ) -> None:
        if not base_url:
            raise ValueError("base_url is required, e.g. 'https://pay.example.com'")
        self.config = config if config is not None else ClientConfig()
        self.base_url = httpx.URL(base_url.rstrip("/") + "/")
        if self.base_url.scheme not in ("http", "https"):
            raise ValueError(f"base_url must be http(s), got {base_url!r}")
        insecure = self.base_url.scheme == "http" or not self.config.verify_tls
        if (
            insecure
            and not own_transport
            and not self.config.allow_insecure_transport
            and not is_loopback(self.base_url.host)
        ):
            raise ConfigurationError(
                f"{base_url!r}: plain http or an unverified certificate to a host other than "
                "this machine lets anyone on the network answer as the backend; use https "
                "(ClientConfig.ca_bundle for a private CA), or set "
                "ClientConfig.allow_insecure_transport for a demo"
            )
        # Whose answers to believe: the pinned key, or (no pin) the first signed answer's
        # key, learned only from a backend on this machine or through a test's transport.
        self._answer_pin = self.config.answer_key_pin
        self._may_learn_pin = own_transport or is_loopback(self.base_url.host)
        if self._answer_pin is None and not self._may_learn_pin:
            raise ConfigurationError(
                f"{base_url!r}: set ClientConfig.answer_key_pin (FACEPAY_CLIENT_ANSWER_KEY_PIN) "
                "to the backend's answer key fingerprint (`facepay sandbox keys` prints it): "
                "without it the till would believe whatever answers for a backend on "
                "another host (docs/integration.md, 'The answer key pin')"
            )
        # The next answer key, once a key set signed by the pinned key endorsed it: the
        # first answer it signs moves the pin to it (the backend rotated).
        self._next_pin: str | None = None
        self._pin_lock = threading.Lock()
        # Called with the new pin when the client learns or follows one (a till keeps
        # it with its device key: facepay.checkout's AnswerPinFile).
        self.on_new_answer_pin: Callable[[str], None] | None = None
        self.signer = signer
        self._rng = rng if rng is not None else random.SystemRandom()

    @property
    def answer_key_pin(self) -> str | None:
        """The answer key this client believes: the pin it was given, or the one it
        learned from its first signed answer (None until then). A POS may keep it with
        the device key and pass it as ``ClientConfig.answer_key_pin`` from then on."""
        return self._answer_pin

    # -- building ---------------------------------------------------------------------

    def _timeout(self) -> httpx.Timeout:
        c = self.config
        return httpx.Timeout(c.timeout_s, connect=c.connect_timeout_s)

    def _verify(self) -> bool | ssl.SSLContext:
        c = self.config
        if c.verify_tls and c.ca_bundle:
            return ssl.create_default_context(cafile=c.ca_bundle)
        return c.verify_tls

    def _client_kwargs(self) -> dict[str, Any]:
        return {
            "timeout": self._timeout(),
            "verify": self._verify(),
            "headers": {"User-Agent": self.config.user_agent, "Accept": "application/json"},
            "follow_redirects": False,
        }

    def build_request(self, call: Call[Any], request_id: str) -> httpx.Request:
        """Build and sign one attempt of ``call``."""
        url = self.base_url.join(call.path.lstrip("/"))
        if call.params:
            url = url.copy_merge_params(dict(call.params))
        headers = {
            REQUEST_ID_HEADER: request_id,
            "User-Agent": self.config.user_agent,
            "Accept": "application/json",
            wire.HEADER_PROTOCOL: wire.PROTOCOL_VERSION,
        }
        body = call.body if call.body is not None else b""
        if call.body is not None:
            headers["Content-Type"] = "application/json"
        if call.idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = call.idempotency_key
        if call.bearer_token is not None:
            headers["Authorization"] = f"Bearer {call.bearer_token}"
        if call.signed and self.signer is not None:
            signed_path = url.raw_path.decode("ascii")
            if call.idempotency_key is None:
                headers.update(self.signer.sign_request(call.method, signed_path, body))
            else:
                headers.update(
                    self.signer.sign_request(
                        call.method, signed_path, body, idempotency_key=call.idempotency_key
                    )
                )
        if wire.HEADER_NONCE not in headers:
            # An unsigned request's answer is bound to a nonce of its own.
            headers[wire.HEADER_ANSWER_NONCE] = secrets.token_urlsafe(16)
        return httpx.Request(call.method, url, headers=headers, content=body or None)

    # -- deciding ---------------------------------------------------------------------

    def backoff_delay(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 0)."""
        c = self.config
        ceiling = min(c.backoff_max_s, c.backoff_initial_s * (2**attempt))
        return self._rng.uniform(0.0, ceiling)

    def should_retry(self, call: Call[Any], attempt: int, error: BackendError) -> bool:
        if attempt + 1 >= self.config.max_attempts:
            return False
        if isinstance(error, TransportError):
            never_sent = error.code == "connect_failed"
            return never_sent or call.retry_safe
        if isinstance(error, ServerError):
            return call.retry_safe and error.status in _RETRYABLE_STATUS
        return False

    # -- reading ----------------------------------------------------------------------

    def transport_error(self, call: Call[Any], exc: Exception, request_id: str) -> TransportError:
        never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
        what = "could not connect to" if never_sent else "no answer from"
        return TransportError(
            f"{what} the payment backend ({call.method} {call.path}): {type(exc).__name__}",
            status=None,
            code="connect_failed" if never_sent else "no_answer",
            request_id=request_id,
        )

    def answer_too_large(self, call: Call[Any], status: int, request_id: str) -> ServerError:
        return ServerError(
            f"the answer to {call.method} {call.path} is larger than "
            f"ClientConfig.max_answer_bytes ({self.config.max_answer_bytes}): not read",
            status=status,
            code="answer_too_large",
            request_id=request_id,
        )

    def check_signed(self, call: Call[Any], response: httpx.Response, request_id: str) -> None:
        """Raise ``ServerError`` ``answer_mismatch`` unless the backend's answer key signed
        ``response`` as the answer to this very request (its method, target and nonce)."""
        request = response.request
        nonce = answer_nonce(
            request.headers.get(wire.HEADER_NONCE), request.headers.get(wire.HEADER_ANSWER_NONCE)
        )
        try:
            key = verify_answer(
                response.headers,
                method=request.method,
                target=request.url.raw_path.decode("ascii"),
                nonce=nonce,
                status=response.status_code,
                body=response.content,
            )
        except InvalidSignatureError:
            believed = False
        else:
            believed = self._believes(answer_key_pin(key))
        if not believed:
            logger.warning(
                "%s %s: the answer (%s) is not signed by the backend's answer key for this "
                "request: not believed",
                call.method,
                call.path,
                response.status_code,
            )
            raise ServerError(
                f"the answer to {call.method} {call.path} is not signed by the backend's "
                "answer key for this request: not believed",
                status=response.status_code,
                code="answer_mismatch",
                request_id=request_id,
            )

    def _believes(self, fingerprint: str) -> bool:
        with self._pin_lock:
            if self._answer_pin is None:
                if not self._may_learn_pin:
                    return False
                self._answer_pin = fingerprint
                logger.debug("answer key learned from the backend: %s", fingerprint)
                self._keep_pin(fingerprint)
                return True
            if hmac.compare_digest(fingerprint, self._answer_pin):
                return True
            if self._next_pin is not None and hmac.compare_digest(fingerprint, self._next_pin):
                # The backend switched to the key its previous one endorsed: follow it, and
                # believe the previous one no more.
                logger.warning(
                    "the backend's answer key rotated: pin %s from now on (set it in "
                    "ClientConfig.answer_key_pin)",
                    fingerprint,
                )
                self._answer_pin, self._next_pin = fingerprint, None
                self._keep_pin(fingerprint)
                return True
            return False

    def _keep_pin(self, fingerprint: str) -> None:
        if self.on_new_answer_pin is not None:
            self.on_new_answer_pin(fingerprint)

    def check_key_set(self, keys: wire.KeySet, request_id: str) -> wire.KeySet:
        """The key set, once its receipt key is the answer key the client believes (the
        key that signed it): a deletion receipt is checked against that key."""
        try:
            raw = wire.b64decode(keys.receipt_public_key)
            named = answer_key_pin(raw)
        except (ValueError, CryptoError):
            named = ""
        pin = self._answer_pin
        if pin is None or not hmac.compare_digest(named, pin):
            raise ServerError(
                "the key set names a receipt key other than the backend's answer key: not believed",
                status=200,
                code="answer_mismatch",
                request_id=request_id,
            )
        upcoming = keys.next_answer_key
        if upcoming is not None:
            try:
                next_raw = wire.b64decode(upcoming.public_key)
                verify_next_answer_key(raw, next_raw, upcoming.endorsement)
            except (ValueError, InvalidSignatureError):
                raise ServerError(
                    "the key set's next answer key is not endorsed by the current one: "
                    "not believed",
                    status=200,
                    code="answer_mismatch",
                    request_id=request_id,
                ) from None
            with self._pin_lock:
                self._next_pin = answer_key_pin(next_raw)
        return keys

    def read_response(self, call: Call[T], response: httpx.Response, request_id: str) -> T:
        """Check the answer's signature, then map it to the parsed result or to a typed
        error."""
        self.check_signed(call, response, request_id)
        echoed = response.headers.get(REQUEST_ID_HEADER)
        rid = echoed if echoed is not None and _REQUEST_ID.fullmatch(echoed) else request_id
        if response.is_success:
            try:
                payload = response.json() if response.content else None
                result = call.parse(payload)
            except Exception as exc:  # pydantic ValidationError, JSON errors
                # Not chained: pydantic's message quotes the answer's values, and an answer
                # holds a privacy code that a POS logging this traceback would keep.
                raise ServerError(
                    f"unreadable answer from the payment backend to {call.method} "
                    f"{call.path}: {unreadable_because(exc)}",
                    status=response.status_code,
                    code="bad_response",
                    request_id=rid,
                ) from None
            if isinstance(result, wire.KeySet):
                self.check_key_set(result, rid)
            return result
        raise map_error(response, rid)

    def declared_too_large(self, response: httpx.Response) -> bool:
        """Does the answer say (Content-Length) it is over ``max_answer_bytes``?"""
        raw = response.headers.get("Content-Length", "")
        return raw.isdigit() and int(raw) > self.config.max_answer_bytes

    def log(self, call: Call[Any], status: int | None, request_id: str, ms: float) -> None:
        # One line per attempt; never bodies (they hold sealed templates and tokens).
        logger.info(
            "%s %s -> %s request_id=%s %.0f ms",
            call.method,
            call.path,
            status if status is not None else "no answer",
            request_id,
            ms,
        )


def unreadable_because(exc: Exception) -> str:
    """Why an answer could not be read, naming fields and error kinds, never values."""
    if isinstance(exc, pydantic.ValidationError):
        return "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(answer)'}: {error['type']}"
            for error in exc.errors(include_url=False, include_input=False, include_context=False)
        )
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON ({exc.msg} at character {exc.pos})"
    return type(exc).__name__


def decoded_headers(response: httpx.Response) -> list[tuple[str, str]]:
    """``response``'s headers for a copy holding its decoded body (no encoding, length)."""
    dropped = {"content-encoding", "content-length", "transfer-encoding"}
    return [(k, v) for k, v in response.headers.multi_items() if k.lower() not in dropped]


def _error_fields(
    response: httpx.Response,
) -> tuple[str | None, str, str | None, float | None]:
    """(code, message, request_id, retry_after) from an error body.

    The protocol's shape is ``{"error": {"code", "message", "request_id", "retry_after"}}``
    (docs/protocol.md, "Errors"); a proxy's HTML page or FastAPI's ``{"detail": ...}`` is
    read as well as it can be, so that an error is never lost to a parsing failure.
    """
    code: str | None = None
    message = response.reason_phrase or f"HTTP {response.status_code}"
    rid: str | None = None
    retry_after: float | None = None
    try:
        body = response.json()
    except ValueError:
        return code, message, rid, retry_after
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            code = _str_or_none(inner.get("code"))
            message = _str_or_none(inner.get("message")) or message
            rid = _str_or_none(inner.get("request_id")) or _str_or_none(body.get("request_id"))
            raw_retry = inner.get("retry_after")
            if isinstance(raw_retry, int | float) and not isinstance(raw_retry, bool):
                retry_after = float(raw_retry)
            detail = inner.get("detail")
            if isinstance(detail, str):
                message = detail
            elif isinstance(detail, dict):
                code = code or _str_or_none(detail.get("code"))
                message = _str_or_none(detail.get("message")) or message
        elif isinstance(inner, str):
            code = inner
    # Whoever answered wrote these, and a POS logs them and shows the wait: a code is a
    # code, a message one short line (no forged log lines), a wait a finite bounded number.
    return (
        code if code is not None and _CODE.fullmatch(code) else None,
        _one_line(message),
        rid if rid is not None and _REQUEST_ID.fullmatch(rid) else None,
        _bounded_wait(retry_after),
    )


_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# The longest wait a till takes from an answer: the backend's lockouts are minutes
# (docs/security.md); a forged answer must not park a lane for days.
MAX_RETRY_AFTER_S = 3600.0
_MESSAGE_CHARS = 300


def _one_line(text: str) -> str:
    printable = "".join(ch if ch.isprintable() else " " for ch in text)
    line = " ".join(printable.split())
    return line if len(line) <= _MESSAGE_CHARS else line[: _MESSAGE_CHARS - 3] + "..."


def _bounded_wait(seconds: float | None) -> float | None:
    if seconds is None or not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return _bounded_wait(float(raw))
    except ValueError:
        return None  # an HTTP date: rare enough to leave to the caller's own pacing


def map_error(response: httpx.Response, request_id: str) -> BackendError:
    """The typed error for a non-2xx answer, carrying status, code and request id."""
    status = response.status_code
    code, message, body_rid, body_retry_after = _error_fields(response)
    rid = body_rid or request_id
    text = f"payment backend answered {status}" + (f" {code}" if code else "") + f": {message}"
    kw: dict[str, Any] = {"status": status, "code": code, "request_id": rid}
    if status in (401, 403):
        return AuthenticationError(text, **kw)
    if status == 429:
        retry_after = _retry_after(response)
        return RateLimitedError(
            text, retry_after=retry_after if retry_after is not None else body_retry_after, **kw
        )
    if status == 409 and code in (None, "idempotency_conflict"):
        return IdempotencyConflictError(text, **kw)
    if status == 410 or (code is not None and code in _SESSION_CODES):
        return SessionExpiredError(text, **kw)
    if 400 <= status < 500:
        return RequestRejectedError(text, **kw)
    if status >= 500:
        return ServerError(text, **kw)
    # 1xx/3xx: we never follow redirects (a payment must not silently go elsewhere). The
    # backend never answers one, so something in between did (a captive portal, a proxy),
    # maybe after the backend had the request: like a 5xx, it says nothing of the outcome
    # (a refusal would tell the till "not charged" while the shopper may have been).
    return ServerError(text, **kw)

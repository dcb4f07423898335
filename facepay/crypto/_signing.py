"""Device request signing: every kiosk request after registration is signed (Ed25519).

The canonical request, exactly (UTF-8, lines joined by ``\\n``, no trailing newline)::

    FACEPAY-ED25519-V1
    <METHOD, upper case>
    <target: the path plus "?" and the query string when there is one, exactly as sent>
    <device id>
    <timestamp: integer Unix seconds, decimal>
    <nonce>
    <lower-case hex SHA-256 of the body bytes (of b"" when there is no body)>
    <the Idempotency-Key header's value: this eighth line only when the request has one>

The ``Idempotency-Key`` is signed because it decides which payment a retry reconciles
with: a proxy that rewrote it would get a payment approved under a key the till never
asks about. A request without the header signs seven lines, so adding one to it breaks
the signature too.

Headers (:data:`SIGNATURE_HEADERS`)::

    X-FacePay-Device     the device id the backend assigned at registration
    X-FacePay-Timestamp  the timestamp line above
    X-FacePay-Nonce      16 random bytes, base64url without padding (22 characters)
    X-FacePay-Signature  Ed25519 signature of the canonical request, base64url, no padding

The target is the request target as it goes on the wire (percent-encoding untouched):
with httpx ``request.url.raw_path.decode("ascii")``; in an ASGI app ``scope["raw_path"]``
plus ``b"?" + scope["query_string"]`` when the query is not empty (see
:func:`canonical_target`). The backend then checks freshness: the timestamp within 300 s
of its clock and the nonce never seen in that window (:class:`RequestFreshnessGuard`).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from facepay.crypto import _hazmat
from facepay.crypto._common import (
    b64decode,
    b64url_nopad,
    b64url_nopad_decode,
    check_id,
    read_secret_file,
    write_secret_file,
)
from facepay.errors import CryptoError, InvalidSignatureError, StaleRequestError
from facepay.wire import HEADER_DEVICE as DEVICE_HEADER
from facepay.wire import HEADER_IDEMPOTENCY_KEY as IDEMPOTENCY_KEY_HEADER
from facepay.wire import HEADER_NONCE as NONCE_HEADER
from facepay.wire import HEADER_SIGNATURE as SIGNATURE_HEADER
from facepay.wire import HEADER_TIMESTAMP as TIMESTAMP_HEADER
from facepay.wire import MAX_CLOCK_SKEW_SECONDS, SIGNATURE_SCHEME

__all__ = [
    "DEFAULT_MAX_SKEW_SECONDS",
    "DEVICE_HEADER",
    "IDEMPOTENCY_KEY_HEADER",
    "NONCE_HEADER",
    "SIGNATURE_HEADER",
    "SIGNATURE_HEADERS",
    "SIGNATURE_SCHEME",
    "TIMESTAMP_HEADER",
    "DeviceKey",
    "DevicePublicKey",
    "RequestFreshnessGuard",
    "VerifiedRequest",
    "canonical_request",
    "canonical_target",
    "sign_request",
    "signed_device_id",
    "verify_request",
]

# The header names, the scheme and the skew are the protocol's (facepay.wire), defined
# there once. The idempotency key is signed when present (the canonical request's eighth
# line).
SIGNATURE_HEADERS = (DEVICE_HEADER, TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER)
DEFAULT_MAX_SKEW_SECONDS = float(MAX_CLOCK_SKEW_SECONDS)

_NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_TIMESTAMP_RE = re.compile(r"^(0|[1-9][0-9]{0,11})$")  # canonical: no leading zeros
_METHOD_RE = re.compile(r"^[A-Z]{1,16}$")
# An Ed25519 signature in unpadded base64url is exactly 86 characters.
_SIGNATURE_RE = re.compile(r"^[A-Za-z0-9_-]{86}$")


@dataclass(frozen=True, slots=True)
class DevicePublicKey:
    """A kiosk's Ed25519 public key, as sent at registration (base64 of the 32 raw bytes)."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != _hazmat.ED25519_KEY_LEN:
            raise CryptoError("an Ed25519 public key is 32 bytes")

    def __repr__(self) -> str:
        return f"DevicePublicKey(fingerprint={self.fingerprint!r})"

    @classmethod
    def for_registration(cls, raw: bytes) -> DevicePublicKey:
        """A key a backend may register: 32 bytes that canonically encode a point of the
        curve that is not of small order. An all-zero key, the identity, the other seven
        low-order points (and their non-canonical encodings) would let signatures verify
        for many messages under RFC 8032's cofactored equation; a byte string that is no
        point at all verifies nothing and is a till's bug. Both are refused."""
        key = cls(bytes(raw))
        if not _is_safe_ed25519_point(key.raw):
            raise CryptoError("not a usable Ed25519 public key (malformed or low order)")
        return key

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()[:32]

    def to_base64(self) -> str:
        """Unpadded base64url of the 32 raw bytes (the protocol's encoding)."""
        return b64url_nopad(self.raw)

    @classmethod
    def from_base64(cls, text: str) -> DevicePublicKey:
        try:
            return cls(b64decode(text))
        except ValueError:
            raise CryptoError("device public key is not valid base64") from None


class DeviceKey:
    """A kiosk's Ed25519 signing key. Secret: ``repr`` shows only the public fingerprint.

    Store it with :meth:`save` (PKCS#8 PEM, mode 0600) and :meth:`load`.
    """

    __slots__ = ("_private", "public_key")

    def __init__(self, private_bytes: bytes) -> None:
        if len(private_bytes) != _hazmat.ED25519_KEY_LEN:
            raise CryptoError("an Ed25519 private key is 32 bytes")
        self._private = bytes(private_bytes)
        self.public_key = DevicePublicKey(_hazmat.ed25519_public(self._private))

    @classmethod
    def generate(cls) -> DeviceKey:
        return cls(_hazmat.ed25519_generate())

    def __repr__(self) -> str:
        return f"DeviceKey(public_fingerprint={self.public_key.fingerprint!r})"

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("DeviceKey cannot be pickled; use save()")

    def sign(self, message: bytes) -> bytes:
        """Raw Ed25519 signature (RFC 8032). Prefer :func:`sign_request`."""
        return _hazmat.ed25519_sign(self._private, bytes(message))

    def to_pem(self) -> bytes:
        return _hazmat.ed25519_private_to_pem(self._private)

    @classmethod
    def from_pem(cls, pem: bytes) -> DeviceKey:
        try:
            return cls(_hazmat.ed25519_private_from_pem(pem))
        except _hazmat.PRIMITIVE_FAILURES:
            raise CryptoError("not an unencrypted Ed25519 PKCS#8 PEM private key") from None

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the key as PKCS#8 PEM with mode 0600 (atomic replace)."""
        write_secret_file(path, self.to_pem())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DeviceKey:
        """Load a key saved by :meth:`save`; refuses a file others can read."""
        return cls.from_pem(read_secret_file(path))

    @classmethod
    def load_or_create(cls, path: str | os.PathLike[str]) -> DeviceKey:
        if os.path.exists(path):
            return cls.load(path)
        key = cls.generate()
        key.save(path)
        return key


# Curve25519 in twisted Edwards form (RFC 8032, section 5.1): -x^2 + y^2 = 1 + d x^2 y^2.
_P = 2**255 - 19
_D = (-121665 * pow(121666, _P - 2, _P)) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _is_safe_ed25519_point(raw: bytes) -> bool:
    """Whether ``raw`` is a canonical encoding of a curve point whose order is not small
    (decoding as RFC 8032 section 5.1.3, then eight times the point must not be the
    identity). Pure arithmetic on Python integers: run once per registration only."""
    if len(raw) != 32:
        return False
    encoded = int.from_bytes(raw, "little")
    sign, y = encoded >> 255, encoded & ((1 << 255) - 1)
    if y >= _P:
        return False  # non-canonical
    u, v = (y * y - 1) % _P, (_D * y * y + 1) % _P
    x2 = u * pow(v, _P - 2, _P) % _P
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return False  # y is on no point of the curve
    if x == 0 and sign:
        return False
    if x & 1 != sign:
        x = _P - x
    px, py = x, y
    for _ in range(3):  # 8P by three doublings (the curve's cofactor is 8)
        t = _D * px * px * py * py % _P
        px, py = (
            2 * px * py * pow(1 + t, _P - 2, _P) % _P,
            (py * py + px * px) * pow(1 - t, _P - 2, _P) % _P,
        )
    return not (px == 0 and py == 1)


def canonical_target(path: str, query: str | bytes = "") -> str:
    """The request target line: ``path`` plus ``?query`` when the query is not empty."""
    q = query.decode("ascii") if isinstance(query, bytes) else query
    return f"{path}?{q}" if q else path


def canonical_request(
    *,
    method: str,
    target: str,
    device_id: str,
    timestamp: int,
    nonce: str,
    body: bytes,
    idempotency_key: str | None = None,
) -> bytes:
    """The exact bytes a device signs (see the module docstring); ``idempotency_key`` is
    the ``Idempotency-Key`` header's value when the request carries one."""
    method = method.upper()
    if not _METHOD_RE.match(method):
        raise CryptoError("bad HTTP method")
    if not target.startswith("/") or any(c in target for c in "\r\n ") or not target.isascii():
        raise CryptoError("target must be an ASCII origin-form path starting with '/'")
    check_id(device_id, "device_id")
    if not _NONCE_RE.match(nonce):
        raise CryptoError("nonce must be 16..64 base64url characters")
    if timestamp < 0:
        raise CryptoError("timestamp must be Unix seconds")
    lines = [
        SIGNATURE_SCHEME,
        method,
        target,
        device_id,
        str(int(timestamp)),
        nonce,
        hashlib.sha256(bytes(body)).hexdigest(),
    ]
    if idempotency_key is not None:
        if not idempotency_key.isascii() or any(c in idempotency_key for c in "\r\n"):
            raise CryptoError("an Idempotency-Key is one line of ASCII")
        lines.append(idempotency_key)
    return "\n".join(lines).encode("utf-8")


def sign_request(
    key: DeviceKey,
    *,
    device_id: str,
    method: str,
    target: str,
    body: bytes = b"",
    timestamp: int | None = None,
    nonce: str | None = None,
    idempotency_key: str | None = None,
) -> dict[str, str]:
    """Sign one request; returns the four ``X-FacePay-*`` headers to add to it.

    ``target`` is the path plus ``?query`` as sent (see :func:`canonical_target`);
    ``idempotency_key`` the ``Idempotency-Key`` header the request carries, if any (it is
    signed: sending another one, or none, fails the signature).
    ``timestamp`` defaults to now and ``nonce`` to 16 fresh random bytes; pass them only
    in tests. Sign again for every retry: a nonce is good for one request.
    """
    ts = int(time.time()) if timestamp is None else int(timestamp)
    nonce = nonce if nonce is not None else b64url_nopad(_hazmat.random_bytes(16))
    message = canonical_request(
        method=method,
        target=target,
        device_id=device_id,
        timestamp=ts,
        nonce=nonce,
        body=body,
        idempotency_key=idempotency_key,
    )
    return {
        DEVICE_HEADER: device_id,
        TIMESTAMP_HEADER: str(ts),
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: b64url_nopad(key.sign(message)),
    }


@dataclass(frozen=True, slots=True)
class VerifiedRequest:
    """What a valid signature vouches for. Check freshness next (RequestFreshnessGuard)."""

    device_id: str
    timestamp: int
    nonce: str


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:
        lower = name.lower()
        for k, v in headers.items():
            if k.lower() == lower:
                value = v
                break
    if value is None:
        raise ValueError(name)
    return value


def signed_device_id(headers: Mapping[str, str]) -> str | None:
    """The claimed device id (unverified!), to look up its public key; None unless all
    four signature headers are present and well formed (a backend answers that case
    ``missing_signature``, and a signature that does not verify ``bad_signature``)."""
    parsed = _parse(headers)
    return None if parsed is None else parsed[0]


def _parse(headers: Mapping[str, str]) -> tuple[str, int, str, bytes] | None:
    """(device id, timestamp, nonce, signature) from well-formed headers, else None."""
    try:
        device_id = check_id(_header(headers, DEVICE_HEADER), "device_id")
        ts_text = _header(headers, TIMESTAMP_HEADER)
        nonce = _header(headers, NONCE_HEADER)
        signature_text = _header(headers, SIGNATURE_HEADER)
        if not _SIGNATURE_RE.match(signature_text) or not _TIMESTAMP_RE.match(ts_text):
            return None
        if not _NONCE_RE.match(nonce):
            return None
        signature = b64url_nopad_decode(signature_text)
        if len(signature) != _hazmat.ED25519_SIG_LEN:
            return None
    except (ValueError, CryptoError, AttributeError, TypeError):
        return None
    return device_id, int(ts_text), nonce, signature


def verify_request(
    public_key: DevicePublicKey,
    *,
    headers: Mapping[str, str],
    method: str,
    target: str,
    body: bytes = b"",
) -> VerifiedRequest:
    """Check the ``X-FacePay-*`` signature headers of a request against ``public_key``.

    ``headers`` may be any case-insensitive or plain mapping. Missing or malformed
    headers, a wrong key and any tampering all raise the same
    :class:`InvalidSignatureError`. Does NOT check the clock or nonce reuse: do that
    with :class:`RequestFreshnessGuard` after this succeeds.
    """
    verified = _try_verify(public_key, headers, method, target, body)
    if verified is None:
        raise InvalidSignatureError()  # outside the except: no __context__ either
    return verified


def _try_verify(
    public_key: DevicePublicKey,
    headers: Mapping[str, str],
    method: str,
    target: str,
    body: bytes,
) -> VerifiedRequest | None:
    parsed = _parse(headers)
    if parsed is None:
        return None
    device_id, timestamp, nonce, signature = parsed
    try:
        try:
            idempotency_key: str | None = _header(headers, IDEMPOTENCY_KEY_HEADER)
        except ValueError:
            idempotency_key = None
        message = canonical_request(
            method=method,
            target=target,
            device_id=device_id,
            timestamp=timestamp,
            nonce=nonce,
            body=body,
            idempotency_key=idempotency_key,
        )
        if not _hazmat.ed25519_verify(public_key.raw, signature, message):
            raise ValueError("signature")
    except (ValueError, CryptoError, AttributeError, TypeError):
        return None
    return VerifiedRequest(device_id=device_id, timestamp=timestamp, nonce=nonce)


class RequestFreshnessGuard:
    """The backend's skew and replay check for signed requests, in memory.

    ``check(verified)`` raises :class:`StaleRequestError` with ``reason="clock_skew"``
    when the timestamp is more than ``max_skew_seconds`` from ``clock()``, or
    ``reason="nonce_reused"`` when the (device, nonce) pair was seen within the window.
    Nonces are remembered for ``2 * max_skew_seconds`` (anything older is rejected by the
    clock check anyway), at most ``max_entries`` of them. One process only: a backend
    with several replicas keeps nonces in its shared database instead, with the same rule.
    """

    def __init__(
        self,
        *,
        max_skew_seconds: float = DEFAULT_MAX_SKEW_SECONDS,
        clock: Callable[[], float] = time.time,
        max_entries: int = 1_000_000,
    ) -> None:
        self.max_skew_seconds = float(max_skew_seconds)
        self._clock = clock
        self._max_entries = max_entries
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RequestFreshnessGuard(max_skew_seconds={self.max_skew_seconds})"

    def check_timestamp(self, timestamp: float) -> None:
        if abs(self._clock() - float(timestamp)) > self.max_skew_seconds:
            raise StaleRequestError(
                f"request timestamp is more than {self.max_skew_seconds:.0f} s from the "
                "backend's clock; check the till's clock",
                reason="clock_skew",
            )

    def check(self, verified: VerifiedRequest) -> None:
        self.check_timestamp(verified.timestamp)
        now = self._clock()
        key = (verified.device_id, verified.nonce)
        with self._lock:
            horizon = now - 2 * self.max_skew_seconds
            while self._seen and next(iter(self._seen.values())) < horizon:
                self._seen.popitem(last=False)
            if key in self._seen:
                raise StaleRequestError("request nonce was already used", reason="nonce_reused")
            if len(self._seen) >= self._max_entries:
                self._seen.popitem(last=False)
            self._seen[key] = now

"""Signed answers: the backend's Ed25519 signature on every answer it gives a till.

The signed message, exactly (UTF-8, lines joined by ``\\n``, no trailing newline)::

    FACEPAY-ANSWER-ED25519-V1
    <the request's METHOD, upper case>
    <the request's target: path plus "?" and the query when there is one, as received>
    <the request's nonce: X-FacePay-Nonce of a signed request, else X-FacePay-Answer-Nonce>
    <the answer's status code, three decimal digits>
    <lower-case hex SHA-256 of the answer's body bytes, exactly as sent>

Headers on every answer::

    X-FacePay-Answer-Key        the signing public key, 32 bytes, base64url without padding
    X-FacePay-Answer-Signature  Ed25519 signature of the message above, base64url, no padding

The key is the backend's receipt key (:class:`ReceiptSigner`), used under this domain
label: a receipt's signed bytes are canonical JSON and begin with ``{``, an answer's
with ``FACEPAY-ANSWER``, so no signature of one is ever a signature of the other, and a
till pins one key (docs/crypto.md, "Signed answers"). The till knows the key before it
trusts anything: its pin is the lower-case hex SHA-256 of the 32 raw bytes
(:func:`answer_key_pin`), handed to the retailer out of band.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from facepay.crypto import _hazmat
from facepay.crypto._common import b64decode, b64url_nopad
from facepay.crypto._receipts import ReceiptSigner
from facepay.errors import CryptoError, InvalidSignatureError
from facepay.wire import (
    ANSWER_SCHEME,
    HEADER_ANSWER_KEY,
    HEADER_ANSWER_SIGNATURE,
)

__all__ = [
    "ANSWER_KEY_HEADER",
    "ANSWER_SCHEME",
    "ANSWER_SIGNATURE_HEADER",
    "answer_key_pin",
    "answer_nonce",
    "answer_signing_bytes",
    "endorse_next_answer_key",
    "is_answer_key_pin",
    "sign_answer",
    "verify_answer",
    "verify_next_answer_key",
]

ANSWER_KEY_HEADER = HEADER_ANSWER_KEY
ANSWER_SIGNATURE_HEADER = HEADER_ANSWER_SIGNATURE

# Rotation: the current answer key endorses the next one (docs/crypto.md, "Signed
# answers"): ``<label>\n<the next key, 32 bytes, unpadded base64url>``.
NEXT_KEY_LABEL = "FACEPAY-ANSWER-KEY-NEXT-V1"

_METHOD_RE = re.compile(r"^[A-Z]{1,16}$")
_NONCE_RE = re.compile(r"^([A-Za-z0-9_-]{16,64})?$")
_PIN_RE = re.compile(r"^[0-9a-f]{64}$")


def answer_key_pin(public_key: bytes) -> str:
    """The pin of an answer key: lower-case hex SHA-256 of its 32 raw bytes."""
    if len(public_key) != _hazmat.ED25519_KEY_LEN:
        raise CryptoError("an Ed25519 public key is 32 bytes")
    return hashlib.sha256(public_key).hexdigest()


def is_answer_key_pin(text: str) -> bool:
    """Has ``text`` the form of a pin (64 lower-case hex digits)?"""
    return _PIN_RE.fullmatch(text) is not None


def answer_nonce(request_nonce: str | None, answer_nonce: str | None) -> str:
    """The nonce an answer is bound to: a signed request's own (``X-FacePay-Nonce``),
    else the one an unsigned request sent for its answer (``X-FacePay-Answer-Nonce``);
    empty when neither has a nonce's form (the client then believes no answer)."""
    for value in (request_nonce, answer_nonce):
        if value and _NONCE_RE.fullmatch(value):
            return value
    return ""


def answer_signing_bytes(
    *, method: str, target: str, nonce: str, status: int, body: bytes
) -> bytes:
    """The exact bytes the backend signs for one answer."""
    if not _METHOD_RE.fullmatch(method):
        raise CryptoError("the method is upper-case letters")
    if not target.startswith("/") or any(ch in target for ch in "\r\n"):
        raise CryptoError("the target is a path, on one line")
    if not _NONCE_RE.fullmatch(nonce):
        raise CryptoError("the nonce is 16-64 base64url characters, or empty")
    if not 100 <= status <= 599:
        raise CryptoError("the status is an HTTP status code")
    lines = (ANSWER_SCHEME, method, target, nonce, str(status), hashlib.sha256(body).hexdigest())
    return "\n".join(lines).encode("utf-8")


def sign_answer(
    signer: ReceiptSigner, *, method: str, target: str, nonce: str, status: int, body: bytes
) -> dict[str, str]:
    """The two headers that sign this answer with the backend's receipt key."""
    message = answer_signing_bytes(
        method=method, target=target, nonce=nonce, status=status, body=body
    )
    return {
        ANSWER_KEY_HEADER: signer.public_key.to_base64(),
        ANSWER_SIGNATURE_HEADER: signer.sign_bytes(message),
    }


def verify_answer(
    headers: Mapping[str, str],
    *,
    method: str,
    target: str,
    nonce: str,
    status: int,
    body: bytes,
) -> bytes:
    """Check an answer's signature; return the raw public key that signed it.

    Whether that key is the backend's is the caller's question (compare
    :func:`answer_key_pin` of it with the pin). A missing, malformed or wrong
    signature, and a nonce that is not one, raise :class:`InvalidSignatureError`
    (opaque: which part failed is not said)."""
    try:
        key = b64decode(headers[ANSWER_KEY_HEADER])
        signature = b64decode(headers[ANSWER_SIGNATURE_HEADER])
        message = answer_signing_bytes(
            method=method, target=target, nonce=nonce, status=status, body=body
        )
    except (KeyError, ValueError, CryptoError):
        raise InvalidSignatureError() from None
    if (
        not nonce
        or len(key) != _hazmat.ED25519_KEY_LEN
        or len(signature) != _hazmat.ED25519_SIG_LEN
        or not _hazmat.ed25519_verify(key, signature, message)
    ):
        raise InvalidSignatureError()
    return key


def _next_key_bytes(next_public_key: bytes) -> bytes:
    if len(next_public_key) != _hazmat.ED25519_KEY_LEN:
        raise CryptoError("an Ed25519 public key is 32 bytes")
    return f"{NEXT_KEY_LABEL}\n{b64url_nopad(next_public_key)}".encode("ascii")


def endorse_next_answer_key(current: ReceiptSigner, next_public_key: bytes) -> str:
    """The current answer key's signature on the next one (published in ``GET /v1/keys``
    before a rotation): a till pinned to the current key then believes the next one."""
    return current.sign_bytes(_next_key_bytes(next_public_key))


def verify_next_answer_key(
    current_public_key: bytes, next_public_key: bytes, endorsement: str
) -> None:
    """Check that the current answer key endorsed ``next_public_key``; any failure is
    :class:`InvalidSignatureError`."""
    try:
        message = _next_key_bytes(next_public_key)
        signature = b64decode(endorsement)
    except (ValueError, CryptoError):
        raise InvalidSignatureError() from None
    if (
        len(current_public_key) != _hazmat.ED25519_KEY_LEN
        or len(signature) != _hazmat.ED25519_SIG_LEN
        or not _hazmat.ed25519_verify(current_public_key, signature, message)
    ):
        raise InvalidSignatureError()

"""Signed receipts: the backend's Ed25519 signature on what it did for a shopper.

A deletion receipt lets a shopper prove later that the backend confirmed erasing their
data; an authorization receipt can be signed the same way. The signed bytes are the
canonical JSON of the receipt without its ``signature`` field::

    json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)

exactly ``facepay.wire.DeletionReceipt.signed_payload()`` (docs/protocol.md), so a
shopper's app can verify with any Ed25519 library. Fields hold only strings, integers,
booleans, null, lists and objects (no floats: their text form is not portable). There
is no domain-separation prefix, because the protocol already published this form;
instead the receipt key signs receipts and nothing else, and every receipt kind carries
its own distinguishing fields (``receipt_id`` prefix, ``erased``...).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Mapping
from typing import Any

from facepay.crypto import _hazmat
from facepay.crypto._common import (
    b64decode,
    b64encode,
    b64url_nopad,
    check_id,
    read_secret_file,
    write_secret_file,
)
from facepay.errors import CryptoError, InvalidSignatureError

__all__ = [
    "RECEIPT_SIGNATURE_FIELD",
    "ReceiptPublicKey",
    "ReceiptSigner",
    "receipt_signing_bytes",
    "verify_receipt",
]

RECEIPT_SIGNATURE_FIELD = "signature"


def _check_json(value: Any, depth: int = 0) -> None:
    if depth > 8:
        raise CryptoError("receipt nests too deep")
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, (list, tuple)):
        for v in value:
            _check_json(v, depth + 1)
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise CryptoError("receipt keys must be strings")
            _check_json(v, depth + 1)
        return
    raise CryptoError(f"receipt values must be str/int/bool/null/list/object, not {type(value)}")


def receipt_signing_bytes(receipt: Mapping[str, Any]) -> bytes:
    """The exact bytes signed for ``receipt`` (its ``signature`` field is left out)."""
    fields = {k: v for k, v in receipt.items() if k != RECEIPT_SIGNATURE_FIELD}
    _check_json(fields)
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return text.encode("ascii")


class ReceiptPublicKey:
    """The backend's receipt-verifying Ed25519 public key (``GET /v1/keys``)."""

    __slots__ = ("key_id", "raw")

    def __init__(self, raw: bytes, *, key_id: str) -> None:
        if len(raw) != _hazmat.ED25519_KEY_LEN:
            raise CryptoError("an Ed25519 public key is 32 bytes")
        self.raw = bytes(raw)
        self.key_id = check_id(key_id, "receipt key id")

    def __repr__(self) -> str:
        return f"ReceiptPublicKey(key_id={self.key_id!r}, fingerprint={self.fingerprint!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ReceiptPublicKey)
            and other.raw == self.raw
            and other.key_id == self.key_id
        )

    def __hash__(self) -> int:
        return hash((self.raw, self.key_id))

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()[:32]

    def to_base64(self) -> str:
        """Unpadded base64url of the 32 raw bytes."""
        return b64url_nopad(self.raw)

    @classmethod
    def from_base64(cls, text: str, *, key_id: str) -> ReceiptPublicKey:
        try:
            return cls(b64decode(text), key_id=key_id)
        except ValueError:
            raise CryptoError("receipt public key is not valid base64") from None


class ReceiptSigner:
    """The backend's receipt-signing key. Secret: ``repr`` shows the key id only."""

    __slots__ = ("_private", "public_key")

    def __init__(self, private_bytes: bytes, *, key_id: str) -> None:
        if len(private_bytes) != _hazmat.ED25519_KEY_LEN:
            raise CryptoError("an Ed25519 private key is 32 bytes")
        self._private = bytes(private_bytes)
        self.public_key = ReceiptPublicKey(_hazmat.ed25519_public(self._private), key_id=key_id)

    @property
    def key_id(self) -> str:
        return self.public_key.key_id

    def __repr__(self) -> str:
        return f"ReceiptSigner(key_id={self.key_id!r}, fingerprint={self.public_key.fingerprint!r})"

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("ReceiptSigner cannot be pickled; use save()")

    @classmethod
    def generate(cls, *, key_id: str | None = None) -> ReceiptSigner:
        return cls(_hazmat.ed25519_generate(), key_id=key_id or f"rcpt-{secrets.token_hex(4)}")

    def sign(self, receipt: Mapping[str, Any]) -> str:
        """The base64url signature to put in ``receipt["signature"]``.

        Put every other field, including ``receipt_key_id`` (= :attr:`key_id`), in
        ``receipt`` before signing: they are all covered.
        """
        return b64url_nopad(_hazmat.ed25519_sign(self._private, receipt_signing_bytes(receipt)))

    def sign_bytes(self, message: bytes) -> str:
        """The base64url signature of ``message``: for a message under its own domain
        label only (a signed answer, facepay.crypto._answers), never canonical JSON:
        what begins with ``{`` is refused, so no signature made here is a receipt's."""
        if message.startswith(b"{"):
            raise CryptoError("sign_bytes signs a domain-labelled message, not a receipt")
        return b64url_nopad(_hazmat.ed25519_sign(self._private, message))

    def save(self, path: str | os.PathLike[str]) -> None:
        doc = {
            "format": "facepay-receipt-key/1",
            "key_id": self.key_id,
            "key": b64encode(self._private),
        }
        write_secret_file(path, json.dumps(doc).encode("utf-8"))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ReceiptSigner:
        try:
            doc = json.loads(read_secret_file(path))
            if doc.get("format") != "facepay-receipt-key/1":
                raise ValueError("format")
            return cls(b64decode(doc["key"]), key_id=str(doc["key_id"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise CryptoError(f"not a facepay receipt key file: {os.fspath(path)}") from None

    @classmethod
    def load_or_create(cls, path: str | os.PathLike[str]) -> ReceiptSigner:
        if os.path.exists(path):
            return cls.load(path)
        signer = cls.generate()
        signer.save(path)
        return signer


def _try_verify(receipt: Mapping[str, Any], public_key: ReceiptPublicKey) -> bool:
    try:
        signature = b64decode(str(receipt[RECEIPT_SIGNATURE_FIELD]))
        message = receipt_signing_bytes(receipt)
    except (KeyError, ValueError, TypeError, CryptoError):
        return False
    if len(signature) != _hazmat.ED25519_SIG_LEN:
        return False
    claimed = receipt.get("receipt_key_id")
    if claimed is not None and claimed != public_key.key_id:
        return False
    return _hazmat.ed25519_verify(public_key.raw, signature, message)


def verify_receipt(receipt: Mapping[str, Any], public_key: ReceiptPublicKey) -> None:
    """Check ``receipt["signature"]`` (e.g. a DeletionReceipt as JSON) against
    ``public_key``; a ``receipt_key_id`` field, when present, must name that key.

    Raises :class:`InvalidSignatureError` (opaque) if anything does not verify.
    """
    if not _try_verify(receipt, public_key):
        raise InvalidSignatureError()

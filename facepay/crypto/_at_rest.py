"""Templates at rest: envelope encryption under a master key, crypto-shredding.

Every stored record gets its own random 256-bit data key. The record is encrypted with
it (ChaCha20-Poly1305, aad = purpose, tenant and subject ids, so a ciphertext copied
to another shopper's row does not open), and the data key is *wrapped* by the backend's
master key (:class:`MasterKey`: a local file by default, a KMS/HSM in production) with
the same binding. The database keeps ``wrapped_key`` and ``ciphertext``; the master key
lives elsewhere.

- Crypto-shredding: delete (or NULL) a record's ``wrapped_key`` and the record is gone
  for good, in every backup that only holds the ciphertext (docs/crypto.md).
- Master key rotation: :meth:`TemplateVault.rewrap` re-wraps the data key under the new
  master key; the (large) ciphertext is untouched.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from facepay.crypto import _hazmat
from facepay.crypto._common import (
    b64decode,
    b64encode,
    check_id,
    encode_context,
    read_secret_file,
    write_secret_file,
)
from facepay.crypto._template_codec import decode_template, encode_template
from facepay.errors import CryptoError, SealedDataError
from facepay.types import FaceTemplate

__all__ = [
    "EncryptedRecord",
    "FileMasterKey",
    "KeyedHasher",
    "MasterKey",
    "TemplateVault",
    "wrapped_key_master_id",
]

logger = logging.getLogger(__name__)

_WRAP_MAGIC = b"FPW\x01"
_FAILURES: tuple[type[BaseException], ...] = (
    *_hazmat.PRIMITIVE_FAILURES,
    CryptoError,
    UnicodeError,
    IndexError,
    KeyError,
)


@runtime_checkable
class MasterKey(Protocol):
    """What the vault needs from a master key (a file, a cloud KMS, an HSM).

    ``wrap`` encrypts a 32-byte data key bound to ``context``; ``unwrap`` reverses it
    and must raise :class:`facepay.errors.SealedDataError` on any failure (wrong key,
    wrong context, tampering). A KMS adapter maps ``context`` to the KMS's encryption
    context / additional authenticated data. The wrapped blob must let
    :func:`wrapped_key_master_id` name the master key (prefix it as FileMasterKey does).
    """

    @property
    def key_id(self) -> str: ...

    def wrap(self, data_key: bytes, context: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes: ...


def _wrap_header(key_id: str) -> bytes:
    kid = key_id.encode("ascii")
    return _WRAP_MAGIC + struct.pack(">B", len(kid)) + kid


def wrapped_key_master_id(wrapped: bytes) -> str | None:
    """The master key id a wrapped data key names, or None if it is not one of ours."""
    if len(wrapped) < 5 or wrapped[:4] != _WRAP_MAGIC:
        return None
    n = wrapped[4]
    try:
        return wrapped[5 : 5 + n].decode("ascii") if len(wrapped) >= 5 + n else None
    except UnicodeDecodeError:
        return None


class FileMasterKey:
    """A 256-bit master key kept in a local file (mode 0600), for the sandbox and small
    deployments. Production should put the master key in a KMS or HSM behind
    :class:`MasterKey` so that a copy of the server's disk is not enough.

    The file is JSON ``{"format", "key_id", "key"}``; it is created 0600 and refused
    when others can read it. ``repr`` shows the key id only.
    """

    __slots__ = ("_key", "_key_id", "path")

    def __init__(self, key: bytes, *, key_id: str, path: str | None = None) -> None:
        if len(key) != _hazmat.AEAD_KEY_LEN:
            raise CryptoError("a master key is 32 bytes")
        self._key = bytes(key)
        self._key_id = check_id(key_id, "master key id")
        self.path = path

    @property
    def key_id(self) -> str:
        return self._key_id

    def __repr__(self) -> str:
        return f"FileMasterKey(key_id={self._key_id!r}, path={self.path!r})"

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("master keys cannot be pickled")

    @classmethod
    def generate(cls, *, key_id: str | None = None) -> FileMasterKey:
        """A fresh in-memory master key (tests, throw-away sandboxes)."""
        return cls(_hazmat.random_bytes(32), key_id=key_id or f"mk-{secrets.token_hex(4)}")

    @classmethod
    def create(cls, path: str | os.PathLike[str], *, key_id: str | None = None) -> FileMasterKey:
        """Generate a master key and write it to ``path`` (0600). Refuses to overwrite."""
        if os.path.exists(path):
            raise CryptoError(f"refusing to overwrite the master key file {os.fspath(path)}")
        key = cls.generate(key_id=key_id)
        doc = {"format": "facepay-master-key/1", "key_id": key.key_id, "key": b64encode(key._key)}
        write_secret_file(path, json.dumps(doc).encode("utf-8"))
        logger.info("created master key %s", key.key_id)
        return cls(key._key, key_id=key.key_id, path=os.fspath(path))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FileMasterKey:
        try:
            doc = json.loads(read_secret_file(path))
            if doc.get("format") != "facepay-master-key/1":
                raise ValueError("format")
            return cls(b64decode(doc["key"]), key_id=str(doc["key_id"]), path=os.fspath(path))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise CryptoError(f"not a facepay master key file: {os.fspath(path)}") from None

    @classmethod
    def load_or_create(cls, path: str | os.PathLike[str]) -> FileMasterKey:
        return cls.load(path) if os.path.exists(path) else cls.create(path)

    def _aad(self, context: bytes) -> bytes:
        return encode_context("facepay/master-wrap", [("key_id", self._key_id)]) + context

    def wrap(self, data_key: bytes, context: bytes) -> bytes:
        return _wrap_header(self._key_id) + _hazmat.aead_seal(
            self._key, bytes(data_key), self._aad(context)
        )

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        data_key = self._try_unwrap(bytes(wrapped), context)
        if data_key is None:
            raise SealedDataError()
        return data_key

    def _try_unwrap(self, wrapped: bytes, context: bytes) -> bytes | None:
        header = _wrap_header(self._key_id)
        if not wrapped.startswith(header):
            return None
        try:
            return _hazmat.aead_open(self._key, wrapped[len(header) :], self._aad(context))
        except _FAILURES:
            return None


@dataclass(frozen=True, slots=True)
class EncryptedRecord:
    """One encrypted record as the database stores it.

    Store ``wrapped_key`` where it can be deleted on its own (its own column, set to
    NULL on deletion, or its own table): deleting it is the crypto-shredding.
    ``master_key_id`` is informational (also inside ``wrapped_key``), for finding
    records still wrapped by an old master key.
    """

    wrapped_key: bytes = field(repr=False)
    ciphertext: bytes = field(repr=False)
    master_key_id: str

    def to_bytes(self) -> bytes:
        """One blob (for secrets kept in a single column; templates: keep two columns
        so the wrapped key can be shredded on its own)."""
        kid = self.master_key_id.encode("ascii")
        return (
            b"FPR\x01"
            + struct.pack(">BH", len(kid), len(self.wrapped_key))
            + kid
            + self.wrapped_key
            + self.ciphertext
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> EncryptedRecord:
        """Inverse of :meth:`to_bytes`; SealedDataError if malformed."""
        data = bytes(data)
        if len(data) < 7 or data[:4] != b"FPR\x01":
            raise SealedDataError()
        kid_len, key_len = struct.unpack_from(">BH", data, 4)
        end = 7 + kid_len + key_len
        if len(data) < end:
            raise SealedDataError()
        kid = data[7 : 7 + kid_len].decode("ascii", "replace")
        return cls(wrapped_key=data[7 + kid_len : end], ciphertext=data[end:], master_key_id=kid)


class TemplateVault:
    """Envelope encryption of templates (and other per-shopper secrets) at rest.

    ``master_key`` wraps new data keys; ``previous`` master keys still unwrap records
    not yet re-wrapped after a master key rotation.
    """

    def __init__(self, master_key: MasterKey, *, previous: Iterable[MasterKey] = ()) -> None:
        if not isinstance(master_key, MasterKey):
            raise CryptoError("master_key must implement facepay.crypto.MasterKey")
        self.master_key = master_key
        self._keys: dict[str, MasterKey] = {k.key_id: k for k in previous}
        self._keys[master_key.key_id] = master_key

    def __repr__(self) -> str:
        return (
            f"TemplateVault(master_key_id={self.master_key.key_id!r}, known={sorted(self._keys)!r})"
        )

    @staticmethod
    def _contexts(label: str, tenant_id: str, subject_id: str) -> tuple[bytes, bytes]:
        fields = [("tenant_id", tenant_id), ("subject_id", subject_id)]
        return (
            encode_context(f"facepay/at-rest/{label}/data-key", fields),
            encode_context(f"facepay/at-rest/{label}/record", fields),
        )

    # -- bytes ---------------------------------------------------------------------------

    def encrypt_bytes(
        self, plaintext: bytes, *, label: str, tenant_id: str, subject_id: str
    ) -> EncryptedRecord:
        """Encrypt ``plaintext`` under a fresh data key bound to (label, tenant, subject)."""
        if not label or not tenant_id or not subject_id:
            raise CryptoError("label, tenant_id and subject_id are required")
        key_ctx, rec_ctx = self._contexts(label, tenant_id, subject_id)
        data_key = _hazmat.random_bytes(_hazmat.AEAD_KEY_LEN)
        ciphertext = _hazmat.aead_seal(data_key, bytes(plaintext), rec_ctx)
        wrapped = self.master_key.wrap(data_key, key_ctx)
        return EncryptedRecord(
            wrapped_key=wrapped, ciphertext=ciphertext, master_key_id=self.master_key.key_id
        )

    def decrypt_bytes(
        self, record: EncryptedRecord, *, label: str, tenant_id: str, subject_id: str
    ) -> bytes:
        """Decrypt; any failure (shredded key, wrong ids, tampering) is SealedDataError."""
        plaintext = self._try_decrypt(record, label, tenant_id, subject_id)
        if plaintext is None:
            raise SealedDataError()
        return plaintext

    def _unwrap(self, record: EncryptedRecord, key_ctx: bytes) -> bytes | None:
        if not record.wrapped_key:
            return None  # shredded
        master_id = wrapped_key_master_id(record.wrapped_key)
        master = self._keys.get(master_id or record.master_key_id)
        if master is None:
            return None
        try:
            return master.unwrap(record.wrapped_key, key_ctx)
        except _FAILURES:  # includes SealedDataError (a CryptoError)
            return None

    def _try_decrypt(
        self, record: EncryptedRecord, label: str, tenant_id: str, subject_id: str
    ) -> bytes | None:
        key_ctx, rec_ctx = self._contexts(label, tenant_id, subject_id)
        data_key = self._unwrap(record, key_ctx)
        if data_key is None:
            return None
        try:
            return _hazmat.aead_open(data_key, bytes(record.ciphertext), rec_ctx)
        except _FAILURES:
            return None

    # -- templates -----------------------------------------------------------------------

    def encrypt_template(
        self, template: FaceTemplate, *, tenant_id: str, shopper_id: str
    ) -> EncryptedRecord:
        """Encrypt one shopper's template (apply the tenant transform first)."""
        return self.encrypt_bytes(
            encode_template(template), label="template", tenant_id=tenant_id, subject_id=shopper_id
        )

    def decrypt_template(
        self, record: EncryptedRecord, *, tenant_id: str, shopper_id: str
    ) -> FaceTemplate:
        plaintext = self._try_decrypt(record, "template", tenant_id, shopper_id)
        template = None
        if plaintext is not None:
            try:
                template = decode_template(plaintext)
            except CryptoError:
                template = None
        if template is None:
            raise SealedDataError()
        return template

    # -- master key rotation ---------------------------------------------------------------

    def needs_rewrap(self, record: EncryptedRecord) -> bool:
        """True if ``record``'s data key is wrapped by another than the current master key."""
        master_id = wrapped_key_master_id(record.wrapped_key) or record.master_key_id
        return bool(record.wrapped_key) and master_id != self.master_key.key_id

    def rewrap(
        self, record: EncryptedRecord, *, label: str, tenant_id: str, subject_id: str
    ) -> EncryptedRecord:
        """The same record with its data key re-wrapped by the current master key.

        The ciphertext is unchanged (the data key is the same). Raises SealedDataError
        when the old wrapping cannot be opened. Use ``label="template"`` and
        ``subject_id=shopper_id`` for template records.
        """
        key_ctx, _ = self._contexts(label, tenant_id, subject_id)
        data_key = self._unwrap(record, key_ctx)
        if data_key is None:
            raise SealedDataError()
        return EncryptedRecord(
            wrapped_key=self.master_key.wrap(data_key, key_ctx),
            ciphertext=record.ciphertext,
            master_key_id=self.master_key.key_id,
        )


class KeyedHasher:
    """HMAC-SHA256 lookup hashes ("blind indexes") for values the backend must find but
    should not store in the clear: a phone-number claim, a privacy code.

    An unkeyed hash of a phone number is reversed by hashing all phone numbers; the key
    (32 random bytes, stored wrapped by the master key like a tenant secret) stops that
    for anyone without it. ``purpose`` separates uses: the same phone number hashes
    differently as a claim and as anything else.
    """

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise CryptoError("a keyed-hash key is at least 16 random bytes")
        self._key = bytes(key)

    @staticmethod
    def generate_key() -> bytes:
        return _hazmat.random_bytes(32)

    def __repr__(self) -> str:
        return "KeyedHasher()"

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("KeyedHasher cannot be pickled")

    def hexdigest(self, purpose: str, value: str) -> str:
        """Lower-case hex HMAC-SHA256 of ``value`` under ``purpose``."""
        message = encode_context("facepay/keyed-hash", [("purpose", purpose), ("value", value)])
        return _hazmat.hmac_sha256(self._key, message).hex()

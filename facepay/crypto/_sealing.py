"""Sealing templates to the backend: HPKE (RFC 9180) base mode, bound to one session.

The SDK calls :func:`seal_template` with the backend's published
:class:`BackendPublicKey` and the checkout session's id; the backend calls
:func:`open_template` with its :class:`SealingKeyring`. Everything that identifies the
context (protocol version, purpose, session id, key id, suite, tenant, device) goes into
the HPKE ``info``, which feeds the key schedule: a sealed template opened with any other
context derives another key and fails authentication. So a captured upload replayed into
another session, for another tenant or device, or relabelled with another key id or
suite, fails to open, and every such failure is the same :class:`SealedDataError`.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import secrets
import struct
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from facepay.crypto import _hazmat
from facepay.crypto._common import (
    b64decode,
    b64encode,
    b64url_nopad,
    check_id,
    encode_context,
    read_secret_file,
    write_secret_file,
)
from facepay.crypto._template_codec import decode_template, encode_template
from facepay.errors import CryptoError, SealedDataError
from facepay.types import FaceTemplate, SealedTemplate

__all__ = [
    "DEFAULT_GRACE_SECONDS",
    "DEFAULT_SUITE",
    "SEALING_PROTOCOL_VERSION",
    "BackendKeyPair",
    "BackendPublicKey",
    "SealingKeyring",
    "SealingSuite",
    "open_bytes",
    "open_template",
    "seal_bytes",
    "seal_template",
    "sealed_template_from_dict",
    "sealed_template_to_dict",
]

logger = logging.getLogger(__name__)

SEALING_PROTOCOL_VERSION = "1"
# How long a rotated-out sealing key keeps opening templates. Templates are sealed a
# few seconds before upload, so this only has to outlast tills that cached the old
# public key: they refresh it at least daily (docs/crypto.md), so a week is generous.
DEFAULT_GRACE_SECONDS = 7 * 24 * 3600.0


class SealingSuite(str, enum.Enum):
    """An HPKE suite: KEM, KDF (always HKDF-SHA256) and AEAD.

    The ``MLKEM768X25519`` suites use the hybrid post-quantum KEM: a template stays
    secret unless both ML-KEM-768 and X25519 are broken (see docs/crypto.md).
    """

    X25519_CHACHA20POLY1305 = "x25519-hkdf-sha256-chacha20poly1305"
    X25519_AES256GCM = "x25519-hkdf-sha256-aes256gcm"
    MLKEM768X25519_CHACHA20POLY1305 = "mlkem768x25519-hkdf-sha256-chacha20poly1305"
    MLKEM768X25519_AES256GCM = "mlkem768x25519-hkdf-sha256-aes256gcm"

    @property
    def hybrid(self) -> bool:
        """True for the post-quantum hybrid KEM (ML-KEM-768 + X25519)."""
        return self.value.startswith("mlkem768x25519")

    @property
    def aes(self) -> bool:
        return self.value.endswith("aes256gcm")

    @classmethod
    def parse(cls, value: str | SealingSuite) -> SealingSuite:
        try:
            return cls(value)
        except ValueError:
            known = ", ".join(s.value for s in cls)
            raise CryptoError(f"unknown sealing suite {value!r} (known: {known})") from None


DEFAULT_SUITE = SealingSuite.X25519_CHACHA20POLY1305

_SUITE_CODES = {s: i + 1 for i, s in enumerate(SealingSuite)}
_CODE_SUITES = {i: s for s, i in _SUITE_CODES.items()}
_PUB_MAGIC = b"FPK\x01"
# Everything that can go wrong while opening; all of it becomes one SealedDataError.
_OPEN_FAILURES: tuple[type[BaseException], ...] = (
    *_hazmat.PRIMITIVE_FAILURES,
    CryptoError,
    UnicodeError,
    KeyError,
    IndexError,
)
_PRIV_MAGIC = b"FPS\x01"


def _new_key_id() -> str:
    day = datetime.now(timezone.utc).strftime("%Y%m%d")
    return f"seal-{day}-{secrets.token_hex(4)}"


def _pack_key(magic: bytes, suite: SealingSuite, key_id: str, material: bytes) -> bytes:
    kid = key_id.encode("ascii")
    return magic + struct.pack(">BB", _SUITE_CODES[suite], len(kid)) + kid + material


def _unpack_key(magic: bytes, data: bytes) -> tuple[SealingSuite, str, bytes]:
    data = bytes(data)
    if len(data) < 6 or data[:4] != magic:
        raise CryptoError("not a facepay sealing key")
    code, kid_len = data[4], data[5]
    if code not in _CODE_SUITES or len(data) < 6 + kid_len:
        raise CryptoError("not a facepay sealing key")
    key_id = check_id(data[6 : 6 + kid_len].decode("ascii", "replace"), "key_id")
    return _CODE_SUITES[code], key_id, data[6 + kid_len :]


@dataclass(frozen=True, slots=True)
class BackendPublicKey:
    """The backend's template-sealing public key, as published by key discovery.

    Carries its ``key_id`` and ``suite`` so the till can never pair a key with the
    wrong algorithm. Wire forms: :meth:`to_dict` (JSON), :meth:`to_bytes`/:meth:`to_base64`.
    """

    key_id: str
    suite: SealingSuite
    raw: bytes

    def __post_init__(self) -> None:
        check_id(self.key_id, "key_id")
        object.__setattr__(self, "suite", SealingSuite.parse(self.suite))
        try:
            _hazmat.hpke_public_from_bytes(self.raw, self.suite.hybrid)
        except _hazmat.PRIMITIVE_FAILURES:
            raise CryptoError(f"not a valid {self.suite.value} public key") from None

    def __repr__(self) -> str:
        return (
            f"BackendPublicKey(key_id={self.key_id!r}, suite={self.suite.value!r}, "
            f"fingerprint={self.fingerprint!r})"
        )

    @property
    def fingerprint(self) -> str:
        """First 16 bytes of SHA-256 over suite and key, hex: for pinning and logs."""
        digest = _hazmat.sha256(self.suite.value.encode() + b"\x00" + self.raw)
        return digest[:16].hex()

    def to_bytes(self) -> bytes:
        return _pack_key(_PUB_MAGIC, self.suite, self.key_id, self.raw)

    @classmethod
    def from_bytes(cls, data: bytes) -> BackendPublicKey:
        suite, key_id, raw = _unpack_key(_PUB_MAGIC, data)
        return cls(key_id=key_id, suite=suite, raw=raw)

    def to_base64(self) -> str:
        """The whole key (magic, suite, key id, raw key) as unpadded base64url."""
        return b64url_nopad(self.to_bytes())

    @classmethod
    def from_base64(cls, text: str) -> BackendPublicKey:
        try:
            return cls.from_bytes(b64decode(text))
        except ValueError:
            raise CryptoError("public key is not valid base64") from None

    def to_dict(self) -> dict[str, str]:
        """``{"key_id", "suite", "public_key"}``, the raw key in unpadded base64url."""
        return {
            "key_id": self.key_id,
            "suite": self.suite.value,
            "public_key": b64url_nopad(self.raw),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> BackendPublicKey:
        try:
            key_id, suite, public = data["key_id"], data["suite"], data["public_key"]
        except (KeyError, TypeError):
            raise CryptoError("public key JSON needs key_id, suite and public_key") from None
        if not (isinstance(key_id, str) and isinstance(suite, str) and isinstance(public, str)):
            raise CryptoError("public key JSON fields must be strings")
        try:
            raw = b64decode(public)
        except ValueError:
            raise CryptoError("public_key is not valid base64") from None
        return cls(key_id=key_id, suite=SealingSuite.parse(suite), raw=raw)


class BackendKeyPair:
    """The backend's template-sealing key pair (HPKE recipient key).

    Secret: ``repr`` shows only the key id, suite and public fingerprint. Persist it with
    :class:`SealingKeyring` (or :meth:`private_bytes` into your own secret store).
    """

    __slots__ = ("_private", "_private_bytes", "key_id", "public_key", "suite")

    def __init__(self, *, key_id: str, suite: SealingSuite, private_bytes: bytes) -> None:
        self.key_id = check_id(key_id, "key_id")
        self.suite = SealingSuite.parse(suite)
        try:
            private, raw, public = _hazmat.hpke_private_from_bytes(
                bytes(private_bytes), self.suite.hybrid
            )
        except _hazmat.PRIMITIVE_FAILURES:
            raise CryptoError(f"not a valid {self.suite.value} private key") from None
        self._private = private
        self._private_bytes = raw
        self.public_key = BackendPublicKey(key_id=self.key_id, suite=self.suite, raw=public)

    @classmethod
    def generate(
        cls, *, suite: SealingSuite | str = DEFAULT_SUITE, key_id: str | None = None
    ) -> BackendKeyPair:
        """A fresh key pair; ``key_id`` defaults to ``seal-YYYYMMDD-<random hex>``."""
        parsed = SealingSuite.parse(suite)
        _, raw, _ = _hazmat.hpke_generate(hybrid=parsed.hybrid)
        return cls(key_id=key_id or _new_key_id(), suite=parsed, private_bytes=raw)

    def private_bytes(self) -> bytes:
        """Serialized private key (magic, suite, key id, key material). Keep it secret."""
        return _pack_key(_PRIV_MAGIC, self.suite, self.key_id, self._private_bytes)

    @classmethod
    def from_private_bytes(cls, data: bytes) -> BackendKeyPair:
        suite, key_id, raw = _unpack_key(_PRIV_MAGIC, data)
        return cls(key_id=key_id, suite=suite, private_bytes=raw)

    def __repr__(self) -> str:
        return (
            f"BackendKeyPair(key_id={self.key_id!r}, suite={self.suite.value!r}, "
            f"fingerprint={self.public_key.fingerprint!r})"
        )

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("BackendKeyPair cannot be pickled; use private_bytes() explicitly")

    def _open(self, enc_and_ct: bytes, info: bytes) -> bytes:
        suite = _hazmat.hpke_suite(hybrid=self.suite.hybrid, aes=self.suite.aes)
        return _hazmat.hpke_open(suite, self._private, enc_and_ct, info)


class SealingKeyring:
    """The backend's sealing keys: one current key and retired keys still in grace.

    New templates are sealed to :attr:`current`. :meth:`rotate` retires the current key
    with an expiry ``grace_seconds`` from now; until then templates sealed to it still
    open, after that its key id is treated exactly like an unknown one. ``clock`` (epoch
    seconds) is injectable for tests. Thread-safe.
    """

    def __init__(
        self,
        current: BackendKeyPair,
        *,
        retired: Iterable[tuple[BackendKeyPair, float]] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._current = current
        self._retired: dict[str, tuple[BackendKeyPair, float]] = {}
        for keypair, until in retired:
            if keypair.key_id == current.key_id:
                raise CryptoError(f"key id {keypair.key_id!r} is both current and retired")
            self._retired[keypair.key_id] = (keypair, float(until))

    @classmethod
    def generate(
        cls,
        *,
        suite: SealingSuite | str = DEFAULT_SUITE,
        clock: Callable[[], float] = time.time,
    ) -> SealingKeyring:
        return cls(BackendKeyPair.generate(suite=suite), clock=clock)

    def __repr__(self) -> str:
        with self._lock:
            retired = sorted(self._retired)
        return f"SealingKeyring(current={self._current.key_id!r}, retired={retired!r})"

    @property
    def current(self) -> BackendKeyPair:
        with self._lock:
            return self._current

    @property
    def public_key(self) -> BackendPublicKey:
        """The key tills should seal to now (what key discovery publishes)."""
        return self.current.public_key

    def retired(self) -> dict[str, float]:
        """Retired key ids still in grace, with their expiry (epoch seconds)."""
        now = self._clock()
        with self._lock:
            return {k: until for k, (_, until) in self._retired.items() if now < until}

    def rotate(
        self,
        new: BackendKeyPair | None = None,
        *,
        grace_seconds: float = DEFAULT_GRACE_SECONDS,
        suite: SealingSuite | str | None = None,
    ) -> BackendKeyPair:
        """Make ``new`` (default: a fresh key of ``suite`` or the current suite) current.

        The old current key keeps opening templates for ``grace_seconds``.
        """
        with self._lock:
            old = self._current
            if new is None:
                new = BackendKeyPair.generate(suite=suite or old.suite)
            if new.key_id == old.key_id or new.key_id in self._retired:
                raise CryptoError(f"key id {new.key_id!r} was already used")
            self._retired[old.key_id] = (old, self._clock() + float(grace_seconds))
            self._current = new
        logger.info("sealing key rotated: %s -> %s", old.key_id, new.key_id)
        return new

    def prune(self) -> list[str]:
        """Forget retired keys past their grace period; returns their ids."""
        now = self._clock()
        with self._lock:
            gone = [k for k, (_, until) in self._retired.items() if now >= until]
            for k in gone:
                del self._retired[k]
        return gone

    def find(self, key_id: str) -> BackendKeyPair | None:
        """The key pair for ``key_id`` if it may open templates now, else None."""
        with self._lock:
            if key_id == self._current.key_id:
                return self._current
            entry = self._retired.get(key_id)
        if entry is None or self._clock() >= entry[1]:
            return None
        return entry[0]

    # -- persistence: one JSON file, 0600 ------------------------------------------------

    def to_bytes(self) -> bytes:
        with self._lock:
            doc = {
                "format": "facepay-sealing-keyring/1",
                "current": b64encode(self._current.private_bytes()),
                "retired": [
                    {"key": b64encode(kp.private_bytes()), "until": until}
                    for kp, until in self._retired.values()
                ],
            }
        return json.dumps(doc, indent=1).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes, *, clock: Callable[[], float] = time.time) -> SealingKeyring:
        try:
            doc = json.loads(data)
            if doc.get("format") != "facepay-sealing-keyring/1":
                raise ValueError("format")
            current = BackendKeyPair.from_private_bytes(b64decode(doc["current"]))
            retired = [
                (BackendKeyPair.from_private_bytes(b64decode(e["key"])), float(e["until"]))
                for e in doc.get("retired", [])
            ]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise CryptoError("not a facepay sealing keyring file") from None
        return cls(current, retired=retired, clock=clock)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the keyring (private keys!) to ``path`` with mode 0600, atomically."""
        write_secret_file(path, self.to_bytes())

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, clock: Callable[[], float] = time.time
    ) -> SealingKeyring:
        return cls.from_bytes(read_secret_file(path), clock=clock)

    @classmethod
    def load_or_create(
        cls,
        path: str | os.PathLike[str],
        *,
        suite: SealingSuite | str = DEFAULT_SUITE,
        clock: Callable[[], float] = time.time,
    ) -> SealingKeyring:
        """Load the keyring at ``path``, or create one with a fresh key and save it."""
        if os.path.exists(path):
            return cls.load(path, clock=clock)
        ring = cls.generate(suite=suite, clock=clock)
        ring.save(path)
        logger.info("created sealing keyring with key %s", ring.current.key_id)
        return ring


# ------------------------------------------------------------------ seal / open


def _template_info(
    *, session_id: str, key_id: str, suite: SealingSuite, tenant_id: str, device_id: str
) -> bytes:
    return encode_context(
        "facepay/sealed-template",
        [
            ("version", SEALING_PROTOCOL_VERSION),
            ("session_id", session_id),
            ("key_id", key_id),
            ("suite", suite.value),
            ("tenant_id", tenant_id),
            ("device_id", device_id),
        ],
    )


def seal_template(
    template: FaceTemplate,
    public_key: BackendPublicKey,
    *,
    session_id: str,
    tenant_id: str = "",
    device_id: str = "",
) -> SealedTemplate:
    """Seal ``template`` so that only the holder of ``public_key``'s private key can open
    it, and only for this ``session_id`` (and ``tenant_id``/``device_id`` when given).

    The key id and suite come from ``public_key``. Raises TemplateFormatError for a
    template that cannot be serialized (NaN, inf, empty) and CryptoError for misuse.
    """
    if not isinstance(public_key, BackendPublicKey):
        raise CryptoError("seal_template needs a BackendPublicKey")
    if not session_id:
        raise CryptoError("seal_template needs the checkout session id")
    plaintext = encode_template(template)
    info = _template_info(
        session_id=session_id,
        key_id=public_key.key_id,
        suite=public_key.suite,
        tenant_id=tenant_id,
        device_id=device_id,
    )
    suite = _hazmat.hpke_suite(hybrid=public_key.suite.hybrid, aes=public_key.suite.aes)
    recipient = _hazmat.hpke_public_from_bytes(public_key.raw, public_key.suite.hybrid)
    blob = _hazmat.hpke_seal(suite, recipient, plaintext, info)
    enc_len = _hazmat.hpke_enc_length(hybrid=public_key.suite.hybrid)
    return SealedTemplate(
        key_id=public_key.key_id,
        suite=public_key.suite.value,
        encapsulated_key=blob[:enc_len],
        ciphertext=blob[enc_len:],
        session_id=session_id,
    )


def _resolve_key(keys: SealingKeyring | BackendKeyPair, key_id: str) -> BackendKeyPair | None:
    if isinstance(keys, SealingKeyring):
        return keys.find(key_id)
    if isinstance(keys, BackendKeyPair):
        return keys if keys.key_id == key_id else None
    raise CryptoError("open_template needs a SealingKeyring or a BackendKeyPair")


def open_template(
    sealed: SealedTemplate,
    keys: SealingKeyring | BackendKeyPair,
    *,
    session_id: str,
    tenant_id: str = "",
    device_id: str = "",
) -> FaceTemplate:
    """Open a template sealed by :func:`seal_template`.

    ``session_id``, ``tenant_id`` and ``device_id`` are the backend's own view of the
    request (the session it issued, the authenticated device's tenant and id), never
    values copied from the upload. Any failure (unknown, retired or mismatched key id,
    wrong suite, other session/tenant/device, tampered or truncated bytes, a plaintext
    that is not a valid template) raises the same :class:`SealedDataError`.
    """
    if not isinstance(keys, (SealingKeyring, BackendKeyPair)):
        raise CryptoError("open_template needs a SealingKeyring or a BackendKeyPair")
    template = _try_open_template(sealed, keys, session_id, tenant_id, device_id)
    if template is None:
        # Raised outside the except block so that not even __context__ carries the cause.
        raise SealedDataError()
    return template


def _try_open_template(
    sealed: SealedTemplate,
    keys: SealingKeyring | BackendKeyPair,
    session_id: str,
    tenant_id: str,
    device_id: str,
) -> FaceTemplate | None:
    try:
        if not isinstance(sealed, SealedTemplate) or sealed.session_id != session_id:
            raise ValueError("session")
        keypair = _resolve_key(keys, sealed.key_id)
        if keypair is None or sealed.suite != keypair.suite.value:
            raise ValueError("key")
        enc = bytes(sealed.encapsulated_key)
        if len(enc) != _hazmat.hpke_enc_length(hybrid=keypair.suite.hybrid):
            raise ValueError("enc")
        info = _template_info(
            session_id=session_id,
            key_id=keypair.key_id,
            suite=keypair.suite,
            tenant_id=tenant_id,
            device_id=device_id,
        )
        plaintext = keypair._open(enc + bytes(sealed.ciphertext), info)
        return decode_template(plaintext)
    except _OPEN_FAILURES:
        # One error for every cause: no oracle.
        return None


# ------------------------------------------------------------------ wire form


def sealed_template_to_dict(sealed: SealedTemplate) -> dict[str, str]:
    """JSON form: key_id, suite, session_id, and unpadded base64url of enc and ciphertext.

    The same shape as ``facepay.wire.SealedTemplateWire``.
    """
    return {
        "key_id": sealed.key_id,
        "suite": sealed.suite,
        "session_id": sealed.session_id,
        "encapsulated_key": b64url_nopad(sealed.encapsulated_key),
        "ciphertext": b64url_nopad(sealed.ciphertext),
    }


def sealed_template_from_dict(data: Mapping[str, object]) -> SealedTemplate:
    """Parse :func:`sealed_template_to_dict`'s form; anything malformed is SealedDataError."""
    sealed = _try_sealed_from_dict(data)
    if sealed is None:
        raise SealedDataError()
    return sealed


def _try_sealed_from_dict(data: Mapping[str, object]) -> SealedTemplate | None:
    try:
        fields = {
            k: data[k] for k in ("key_id", "suite", "session_id", "encapsulated_key", "ciphertext")
        }
        if not all(isinstance(v, str) for v in fields.values()):
            raise ValueError("types")
        return SealedTemplate(
            key_id=str(fields["key_id"]),
            suite=str(fields["suite"]),
            session_id=str(fields["session_id"]),
            encapsulated_key=b64decode(str(fields["encapsulated_key"])),
            ciphertext=b64decode(str(fields["ciphertext"])),
        )
    except (KeyError, TypeError, ValueError):
        return None


# ------------------------------------------------------------------ arbitrary bytes

_BLOB_MAGIC = b"FPB\x01"


def _bytes_info(label: str, key_id: str, suite: SealingSuite, context: Mapping[str, str]) -> bytes:
    fields = [("version", SEALING_PROTOCOL_VERSION), ("key_id", key_id), ("suite", suite.value)]
    fields += sorted((f"ctx:{k}", v) for k, v in context.items())
    return encode_context(f"facepay/sealed-bytes/{label}", fields)


def seal_bytes(
    plaintext: bytes,
    public_key: BackendPublicKey,
    *,
    label: str,
    context: Mapping[str, str] | None = None,
) -> bytes:
    """Seal arbitrary bytes to the backend. ``label`` names the purpose (domain
    separation); ``context`` entries must be given again, equal, to :func:`open_bytes`.

    Returns one self-describing blob (magic, key id, suite, enc, ciphertext).
    """
    if not label:
        raise CryptoError("seal_bytes needs a label naming the purpose")
    ctx = dict(context or {})
    info = _bytes_info(label, public_key.key_id, public_key.suite, ctx)
    suite = _hazmat.hpke_suite(hybrid=public_key.suite.hybrid, aes=public_key.suite.aes)
    recipient = _hazmat.hpke_public_from_bytes(public_key.raw, public_key.suite.hybrid)
    blob = _hazmat.hpke_seal(suite, recipient, bytes(plaintext), info)
    kid = public_key.key_id.encode("ascii")
    header = _BLOB_MAGIC + struct.pack(">BB", _SUITE_CODES[public_key.suite], len(kid)) + kid
    return header + blob


def open_bytes(
    blob: bytes,
    keys: SealingKeyring | BackendKeyPair,
    *,
    label: str,
    context: Mapping[str, str] | None = None,
) -> bytes:
    """Open :func:`seal_bytes`' output; every failure is :class:`SealedDataError`."""
    plaintext = _try_open_bytes(blob, keys, label, context)
    if plaintext is None:
        raise SealedDataError()
    return plaintext


def _try_open_bytes(
    blob: bytes,
    keys: SealingKeyring | BackendKeyPair,
    label: str,
    context: Mapping[str, str] | None,
) -> bytes | None:
    try:
        blob = bytes(blob)
        if len(blob) < 6 or blob[:4] != _BLOB_MAGIC:
            raise ValueError("magic")
        suite = _CODE_SUITES[blob[4]]
        kid_len = blob[5]
        key_id = blob[6 : 6 + kid_len].decode("ascii")
        keypair = _resolve_key(keys, key_id)
        if keypair is None or keypair.suite is not suite:
            raise ValueError("key")
        info = _bytes_info(label, key_id, suite, dict(context or {}))
        return keypair._open(blob[6 + kid_len :], info)
    except _OPEN_FAILURES:
        return None

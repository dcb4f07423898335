"""The backend's key custody, as the service uses it: a thin adapter over
:class:`facepay.crypto.BackendKeyStore` (all cryptography lives in ``facepay.crypto``).

- Sealing keys (HPKE) with rotation and a grace period: ``keyring``.
- The master key (a file by default, a KMS adapter via ``master_key=``) wraps everything
  else: each shopper's template has its own data key, stored wrapped in its own column,
  so destroying that column value destroys the template (crypto-shredding).
- Each tenant has a secret orthogonal transform (cancelable biometrics): templates are
  stored and matched only after it; cosine similarity, and so accuracy, is unchanged.
- Deletion receipts are signed with the backend's Ed25519 receipt key, and so is every
  answer, under its own domain label (docs/protocol.md, "Signed answers").

**A shopper's templates at rest** are one record: a template set
(:class:`facepay.server._templates.TemplateSet`) encoded as below, encrypted under the
shopper's own data key exactly as one template was (label ``template``), so shredding
that one wrapped key destroys every view. All integers big-endian, values float32
little-endian::

    offset    size      field
    0         4         magic b"FPS\x01" ("FacePay template Set", format version 1)
    4         2         dimension D (1..4096)
    6         1         anchors A (1..5): the enrollment views
    7         1         adaptive views S (0..4)
    8         1         length L of model_id (1..255)
    9         L         model_id, ASCII printable
    9+L       2*S       payments folded into each adaptive view (1..65535)
    9+L+2S    4*D*(A+S) the views, anchors first, each D float32 (unit length)

Nothing else; decoding refuses every deviation. A record written before sets (one
``"FPT\x01"`` template, docs/crypto.md) opens as a set of one anchor.
"""

from __future__ import annotations

import dataclasses
import struct
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facepay.crypto import (
    DEFAULT_SUITE,
    BackendKeyStore,
    EncryptedRecord,
    MasterKey,
    SealingKeyring,
    SealingSuite,
    answer_key_pin,
    decode_template,
    endorse_next_answer_key,
    sign_answer,
    wrapped_key_master_id,
)
from facepay.errors import CryptoError, SealedDataError
from facepay.server._templates import MAX_ADAPTIVE_SLOTS, MAX_ANCHORS, TemplateSet

__all__ = ["StoredTemplates", "Vault", "decode_template_set", "encode_template_set"]

_SET_MAGIC = b"FPS\x01"
_SET_HEADER = struct.Struct(">4sHBBB")
_MAX_DIMENSION = 4096


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class StoredTemplates:
    """A shopper's template set as decrypted, with the model that made it."""

    templates: TemplateSet
    model_id: str


def encode_template_set(templates: TemplateSet, model_id: str) -> bytes:
    """The at-rest plaintext of a template set (layout in the module docstring)."""
    raw_model = model_id.encode("ascii")
    if not 1 <= len(raw_model) <= 255 or not all(0x21 <= b <= 0x7E for b in raw_model):
        raise ValueError("model_id must be 1..255 printable ASCII characters")
    a, s = templates.anchors.shape[0], templates.adaptive.shape[0]
    header = _SET_HEADER.pack(_SET_MAGIC, templates.dimension, a, s, len(raw_model))
    counts = struct.pack(f">{s}H", *templates.updates)
    return header + raw_model + counts + templates.views.astype("<f4").tobytes()


def decode_template_set(data: bytes) -> StoredTemplates:
    """Parse :func:`encode_template_set`'s bytes, or one legacy ``FPT\x01`` template;
    any deviation raises :class:`SealedDataError` (opaque, as every at-rest failure)."""
    data = bytes(data)
    if data[:4] != _SET_MAGIC:
        try:
            single = decode_template(data)
        except CryptoError:
            raise SealedDataError() from None
        return StoredTemplates(TemplateSet.of(single.vector), single.model_id)
    if len(data) < _SET_HEADER.size:
        raise SealedDataError()
    _, dim, a, s, model_len = _SET_HEADER.unpack_from(data)
    if not (
        1 <= dim <= _MAX_DIMENSION
        and 1 <= a <= MAX_ANCHORS
        and s <= MAX_ADAPTIVE_SLOTS
        and model_len >= 1
    ):
        raise SealedDataError()
    start = _SET_HEADER.size
    values = start + model_len + 2 * s
    if len(data) != values + 4 * dim * (a + s):
        raise SealedDataError()
    raw_model = data[start : start + model_len]
    if not all(0x21 <= b <= 0x7E for b in raw_model):
        raise SealedDataError()
    counts = struct.unpack_from(f">{s}H", data, start + model_len)
    views = np.frombuffer(data, dtype="<f4", offset=values).reshape(a + s, dim)
    try:
        templates = TemplateSet.of(views[:a], views[a:], counts)
    except ValueError:  # NaN, infinity, a zero view or a zero count
        raise SealedDataError() from None
    return StoredTemplates(templates, raw_model.decode("ascii"))


class Vault:
    """Every secret the backend holds, behind the few operations the service needs."""

    def __init__(self, store: BackendKeyStore) -> None:
        self.store = store

    def __repr__(self) -> str:
        return f"Vault({self.store!r})"

    @classmethod
    def open(
        cls,
        key_dir: str | Path,
        *,
        master_key: MasterKey | None = None,
        suite: SealingSuite | str = DEFAULT_SUITE,
        clock: Callable[[], float] = time.time,
    ) -> Vault:
        """Load the keys in ``key_dir`` (created on first use, 0700/0600); ``suite`` is the
        HPKE suite of a sealing keyring created now (an existing one keeps its own);
        ``clock`` (epoch seconds) ends retired keys' grace periods."""
        return cls(BackendKeyStore.open(key_dir, master_key=master_key, suite=suite, clock=clock))

    @property
    def keyring(self) -> SealingKeyring:
        return self.store.keyring

    def rotate_sealing_key(
        self, *, grace_seconds: float, suite: SealingSuite | str | None = None
    ) -> str:
        """Make a fresh sealing key current (of ``suite``, default the current key's); the
        old one keeps opening templates for ``grace_seconds``. Saved at once. Returns the
        new key id."""
        new = self.store.keyring.rotate(grace_seconds=grace_seconds, suite=suite)
        if self.store.key_dir is not None:
            self.store.save_keyring()
        return new.key_id

    # ---------------------------------------------------------------- small secrets

    def keyed_hash(self, purpose: str, value: str) -> str:
        return self.store.keyed_hash(purpose, value)

    def wrap_secret(self, data: bytes, *, purpose: str) -> bytes:
        return self.store.wrap_secret(data, purpose=purpose)

    def unwrap_secret(self, blob: bytes, *, purpose: str) -> bytes:
        return self.store.unwrap_secret(blob, purpose=purpose)

    @property
    def receipt_key_id(self) -> str:
        return self.store.receipt_key_id

    @property
    def receipt_public_key(self) -> bytes:
        return self.store.receipt_public_key

    def sign_receipt(self, receipt: Mapping[str, Any]) -> str:
        """Base64url Ed25519 signature over the receipt's fields but ``signature``."""
        return self.store.sign_receipt(receipt)

    @property
    def answer_key_pin(self) -> str:
        """What a till pins (``ClientConfig.answer_key_pin``): SHA-256 of the answer key."""
        return answer_key_pin(self.store.receipt_public_key)

    def next_answer_key(self) -> tuple[bytes, str] | None:
        """The prepared next answer key and the current key's endorsement of it."""
        upcoming = self.store.next_receipt_signer
        if upcoming is None:
            return None
        raw = upcoming.public_key.raw
        return raw, endorse_next_answer_key(self.store.receipt_signer, raw)

    def sign_answer(
        self, *, method: str, target: str, nonce: str, status: int, body: bytes
    ) -> dict[str, str]:
        """The headers that sign one answer (facepay.crypto.sign_answer)."""
        return sign_answer(
            self.store.receipt_signer,
            method=method,
            target=target,
            nonce=nonce,
            status=status,
            body=body,
        )

    # ---------------------------------------------------------------- tenant transform

    def new_tenant_key(self, tenant_id: str) -> bytes:
        return self.store.new_tenant_secret(tenant_id)

    def transform(
        self, tenant_id: str, wrapped: bytes, vector: npt.NDArray[np.floating[Any]]
    ) -> npt.NDArray[np.float32]:
        transform = self.store.tenant_transform(
            tenant_id, wrapped, dimension=int(np.asarray(vector).shape[0])
        )
        return transform.apply_vectors(vector)

    # ---------------------------------------------------------------- templates at rest

    def encrypt_templates(
        self, templates: TemplateSet, *, model_id: str, shopper_id: str, tenant_id: str
    ) -> tuple[bytes, bytes]:
        """Encrypt a shopper's template set with a fresh data key; returns (ciphertext,
        wrapped data key). Stored in place of the old pair, it shreds the old set."""
        record = self.store.vault.encrypt_bytes(
            encode_template_set(templates, model_id),
            label="template",
            tenant_id=tenant_id,
            subject_id=shopper_id,
        )
        return record.ciphertext, record.wrapped_key

    def decrypt_templates(
        self, ciphertext: bytes, wrapped: bytes, *, shopper_id: str, tenant_id: str
    ) -> StoredTemplates:
        """The shopper's template set; SealedDataError for any failure (shredded key,
        another shopper's row, tampering, a malformed set)."""
        record = EncryptedRecord(
            wrapped_key=bytes(wrapped),
            ciphertext=bytes(ciphertext),
            master_key_id=wrapped_key_master_id(bytes(wrapped)) or "",
        )
        plaintext = self.store.vault.decrypt_bytes(
            record, label="template", tenant_id=tenant_id, subject_id=shopper_id
        )
        return decode_template_set(plaintext)

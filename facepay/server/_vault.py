"""The backend's key custody, as the service uses it: a thin adapter over
:class:`facepay.crypto.BackendKeyStore` (all cryptography lives in ``facepay.crypto``).

- Sealing keys (HPKE) with rotation and a grace period: ``keyring``.
- The master key (a file by default, a KMS adapter via ``master_key=``) wraps everything
  else: each shopper's template has its own data key, stored wrapped in its own column,
  so destroying that column value destroys the template (crypto-shredding).
- Each tenant has a secret orthogonal transform (cancelable biometrics): templates are
  stored and matched only after it; cosine similarity, and so accuracy, is unchanged.
- Deletion receipts are signed with the backend's Ed25519 receipt key.
"""

from __future__ import annotations

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
    wrapped_key_master_id,
)
from facepay.types import FaceTemplate

__all__ = ["Vault"]


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

    def encrypt_template(
        self, template: FaceTemplate, *, shopper_id: str, tenant_id: str
    ) -> tuple[bytes, bytes]:
        """Encrypt with a fresh data key; returns (ciphertext, wrapped data key)."""
        record = self.store.encrypt_template(template, tenant_id=tenant_id, shopper_id=shopper_id)
        return record.ciphertext, record.wrapped_key

    def decrypt_template(
        self, ciphertext: bytes, wrapped: bytes, *, shopper_id: str, tenant_id: str
    ) -> FaceTemplate:
        record = EncryptedRecord(
            wrapped_key=bytes(wrapped),
            ciphertext=bytes(ciphertext),
            master_key_id=wrapped_key_master_id(bytes(wrapped)) or "",
        )
        return self.store.decrypt_template(record, tenant_id=tenant_id, shopper_id=shopper_id)

"""The backend's key custody in one place: every key it holds, behind the calls it needs.

A key directory (mode 0700) holds::

    sealing-keyring.json   HPKE sealing keys, current + retired in grace   (0600)
    master.key             the FileMasterKey, unless a KMS MasterKey is given (0600)
    receipt-key.json       Ed25519 receipt-signing key, also signs answers   (0600)
    next-receipt-key.json  the next one, while a rotation is prepared         (0600)
    lookup-key.bin         the keyed-hash key, wrapped by the master key     (0600)

Tenant transform secrets and other small secrets are wrapped by the master key and
stored by the caller (in its database) as opaque bytes.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from facepay.crypto._at_rest import (
    EncryptedRecord,
    FileMasterKey,
    KeyedHasher,
    MasterKey,
    TemplateVault,
)
from facepay.crypto._cancelable import TenantTransform
from facepay.crypto._common import encode_context, read_secret_file, write_secret_file
from facepay.crypto._receipts import ReceiptSigner
from facepay.crypto._sealing import DEFAULT_SUITE, SealingKeyring, SealingSuite
from facepay.errors import CryptoError, SealedDataError
from facepay.types import FaceTemplate

__all__ = ["BackendKeyStore"]


def _secret_context(purpose: str) -> bytes:
    return encode_context("facepay/keystore/secret", [("purpose", purpose)])


_NEXT_RECEIPT_KEY = "next-receipt-key.json"


class BackendKeyStore:
    """Sealing keyring, master key (file or KMS), template vault, receipt signer and
    keyed hasher of one backend. Build with :meth:`open`; thread-safe.
    """

    # Tenant transforms kept built: 256 of 128-d ones are ~32 MB. Beyond that the least
    # recently used is rebuilt on its next use (tens of ms for 128-d on 2 cores).
    max_cached_transforms = 256

    def __init__(
        self,
        *,
        keyring: SealingKeyring,
        master_key: MasterKey,
        receipt_signer: ReceiptSigner,
        hasher: KeyedHasher,
        previous_master_keys: tuple[MasterKey, ...] = (),
        key_dir: Path | None = None,
    ) -> None:
        self.keyring = keyring
        self.master_key = master_key
        self.vault = TemplateVault(master_key, previous=previous_master_keys)
        self.receipt_signer = receipt_signer
        # The next receipt (answer) key, published endorsed by the current one while a
        # rotation is prepared (docs/crypto.md, "Key rotation procedures").
        self.next_receipt_signer: ReceiptSigner | None = None
        self._hasher = hasher
        self.key_dir = key_dir
        # Least recently used last out; bounded: a d x d matrix per (tenant, size) must not
        # grow the process without limit (issue 12, item 4).
        self._transforms: collections.OrderedDict[tuple[str, int, bytes], TenantTransform] = (
            collections.OrderedDict()
        )
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"BackendKeyStore(key_dir={os.fspath(self.key_dir) if self.key_dir else None!r}, "
            f"sealing_key={self.keyring.current.key_id!r}, master_key={self.master_key.key_id!r}, "
            f"receipt_key={self.receipt_signer.key_id!r})"
        )

    @classmethod
    def open(
        cls,
        key_dir: str | os.PathLike[str],
        *,
        suite: SealingSuite | str = DEFAULT_SUITE,
        master_key: MasterKey | None = None,
        clock: Callable[[], float] = time.time,
    ) -> BackendKeyStore:
        """Load the keys in ``key_dir``, creating the missing ones (dir 0700, files 0600).

        ``master_key`` replaces ``master.key`` with a KMS adapter. ``suite`` is used only
        when a new sealing keyring is created; change suites with ``keyring.rotate``.
        """
        directory = Path(key_dir)
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        keyring = SealingKeyring.load_or_create(
            directory / "sealing-keyring.json", suite=suite, clock=clock
        )
        master = master_key or FileMasterKey.load_or_create(directory / "master.key")
        receipt = ReceiptSigner.load_or_create(directory / "receipt-key.json")
        lookup_path = directory / "lookup-key.bin"
        context = _secret_context("lookup-hash-key")
        if lookup_path.exists():
            lookup_key = master.unwrap(read_secret_file(lookup_path), context)
        else:
            lookup_key = KeyedHasher.generate_key()
            write_secret_file(lookup_path, master.wrap(lookup_key, context))
        store = cls(
            keyring=keyring,
            master_key=master,
            receipt_signer=receipt,
            hasher=KeyedHasher(lookup_key),
            key_dir=directory,
        )
        if (directory / _NEXT_RECEIPT_KEY).exists():
            store.next_receipt_signer = ReceiptSigner.load(directory / _NEXT_RECEIPT_KEY)
        return store

    def save_keyring(self) -> None:
        """Persist the sealing keyring after a rotation."""
        if self.key_dir is None:
            raise CryptoError("this key store has no key directory")
        self.keyring.save(self.key_dir / "sealing-keyring.json")

    # -- small secrets ------------------------------------------------------------------

    def keyed_hash(self, purpose: str, value: str) -> str:
        """HMAC-SHA256 lookup hash (hex), e.g. of a phone claim or a privacy code."""
        return self._hasher.hexdigest(purpose, value)

    def wrap_secret(self, data: bytes, *, purpose: str) -> bytes:
        """Encrypt a small secret under the master key, bound to ``purpose``."""
        return self.master_key.wrap(bytes(data), _secret_context(purpose))

    def unwrap_secret(self, blob: bytes, *, purpose: str) -> bytes:
        """Inverse of :meth:`wrap_secret`; SealedDataError on any failure."""
        data = self._try_unwrap(bytes(blob), purpose)
        if data is None:
            raise SealedDataError()
        return data

    def _try_unwrap(self, blob: bytes, purpose: str) -> bytes | None:
        try:
            return self.master_key.unwrap(blob, _secret_context(purpose))
        except Exception:  # a KMS adapter's own errors too: keep the opaque contract
            return None

    # -- receipts -----------------------------------------------------------------------

    @property
    def receipt_key_id(self) -> str:
        return self.receipt_signer.key_id

    @property
    def receipt_public_key(self) -> bytes:
        """Raw 32-byte Ed25519 public key, for ``GET /v1/keys``."""
        return self.receipt_signer.public_key.raw

    def sign_receipt(self, receipt: Mapping[str, Any]) -> str:
        """Base64url signature of ``receipt`` (all fields but ``signature``)."""
        return self.receipt_signer.sign(receipt)

    def prepare_next_receipt_key(self) -> ReceiptSigner:
        """Make (once) and save the next receipt key, which ``GET /v1/keys`` then publishes
        endorsed by the current one; :meth:`switch_receipt_key` makes it current."""
        if self.key_dir is None:
            raise CryptoError("this key store has no key directory")
        with self._lock:
            if self.next_receipt_signer is None:
                signer = ReceiptSigner.generate()
                signer.save(self.key_dir / _NEXT_RECEIPT_KEY)
                self.next_receipt_signer = signer
            return self.next_receipt_signer

    def switch_receipt_key(self) -> ReceiptSigner:
        """Make the prepared next receipt key the current one (saved); the old one is
        gone from this directory."""
        if self.key_dir is None:
            raise CryptoError("this key store has no key directory")
        with self._lock:
            if self.next_receipt_signer is None:
                raise CryptoError("no next receipt key is prepared")
            self.next_receipt_signer.save(self.key_dir / "receipt-key.json")
            os.unlink(self.key_dir / _NEXT_RECEIPT_KEY)
            self.receipt_signer, self.next_receipt_signer = self.next_receipt_signer, None
            return self.receipt_signer

    # -- tenant transforms ------------------------------------------------------------------

    def new_tenant_secret(self, tenant_id: str, *, version: int = 1) -> bytes:
        """A fresh tenant transform secret, wrapped: store these bytes with the tenant."""
        return self.wrap_secret(
            TenantTransform.generate_secret(), purpose=f"tenant-transform:{tenant_id}:{version}"
        )

    def tenant_transform(
        self, tenant_id: str, wrapped_secret: bytes, *, dimension: int, version: int = 1
    ) -> TenantTransform:
        """The tenant's transform for ``dimension``-d templates (cached)."""
        cache_key = (f"{tenant_id}\x00{version}", int(dimension), bytes(wrapped_secret))
        with self._lock:
            found = self._transforms.get(cache_key)
            if found is not None:
                self._transforms.move_to_end(cache_key)
        if found is not None:
            return found
        secret = self.unwrap_secret(
            wrapped_secret, purpose=f"tenant-transform:{tenant_id}:{version}"
        )
        transform = TenantTransform(
            secret, tenant_id=tenant_id, dimension=dimension, version=version
        )
        with self._lock:
            self._transforms[cache_key] = transform
            while len(self._transforms) > self.max_cached_transforms:
                self._transforms.popitem(last=False)
        return transform

    # -- templates at rest --------------------------------------------------------------

    def encrypt_template(
        self, template: FaceTemplate, *, tenant_id: str, shopper_id: str
    ) -> EncryptedRecord:
        return self.vault.encrypt_template(template, tenant_id=tenant_id, shopper_id=shopper_id)

    def decrypt_template(
        self, record: EncryptedRecord, *, tenant_id: str, shopper_id: str
    ) -> FaceTemplate:
        return self.vault.decrypt_template(record, tenant_id=tenant_id, shopper_id=shopper_id)

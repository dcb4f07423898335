"""BackendKeyStore: one key directory with every key the backend holds."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from facepay.crypto import (
    BackendKeyStore,
    EncryptedRecord,
    FileMasterKey,
    ReceiptPublicKey,
    open_template,
    seal_template,
    verify_receipt,
)
from facepay.errors import SealedDataError
from facepay.types import FaceTemplate


def _template() -> FaceTemplate:
    return FaceTemplate(vector=np.linspace(-1, 1, 128, dtype=np.float32), model_id="m")


def test_open_creates_then_reloads_the_same_keys(tmp_path: Path) -> None:
    key_dir = tmp_path / "keys"
    store = BackendKeyStore.open(key_dir)
    assert stat.S_IMODE(os.stat(key_dir).st_mode) == 0o700
    for name in ("sealing-keyring.json", "master.key", "receipt-key.json", "lookup-key.bin"):
        assert stat.S_IMODE(os.stat(key_dir / name).st_mode) == 0o600, name
    sealed = seal_template(_template(), store.keyring.public_key, session_id="s")
    record = store.encrypt_template(_template(), tenant_id="acme", shopper_id="shp_1")
    wrapped = store.new_tenant_secret("acme")
    h = store.keyed_hash("claim", "+4915112345678")
    receipt = {"receipt_id": "del_1", "receipt_key_id": store.receipt_key_id}
    receipt["signature"] = store.sign_receipt(receipt)

    again = BackendKeyStore.open(key_dir)
    assert again.keyring.current.key_id == store.keyring.current.key_id
    assert open_template(sealed, again.keyring, session_id="s").model_id == "m"
    np.testing.assert_array_equal(
        again.decrypt_template(record, tenant_id="acme", shopper_id="shp_1").vector,
        _template().vector,
    )
    assert again.keyed_hash("claim", "+4915112345678") == h
    t1 = store.tenant_transform("acme", wrapped, dimension=128)
    t2 = again.tenant_transform("acme", wrapped, dimension=128)
    np.testing.assert_array_equal(
        t1.apply_vectors(_template().vector), t2.apply_vectors(_template().vector)
    )
    assert again.tenant_transform("acme", wrapped, dimension=128) is t2  # cached
    verify_receipt(receipt, ReceiptPublicKey(again.receipt_public_key, key_id=again.receipt_key_id))
    assert "master" in repr(again)


def test_secrets_are_bound_to_their_purpose(tmp_path: Path) -> None:
    store = BackendKeyStore.open(tmp_path)
    blob = store.wrap_secret(b"K7QD-3MXA-9P2F", purpose="privacy-code")
    assert store.unwrap_secret(blob, purpose="privacy-code") == b"K7QD-3MXA-9P2F"
    with pytest.raises(SealedDataError):
        store.unwrap_secret(blob, purpose="other")
    wrapped = store.new_tenant_secret("acme")
    with pytest.raises(SealedDataError):
        store.tenant_transform("globex", wrapped, dimension=128)


def test_kms_master_key_and_record_blob(tmp_path: Path) -> None:
    kms = FileMasterKey.generate(key_id="kms-1")
    store = BackendKeyStore.open(tmp_path, master_key=kms)
    assert not (tmp_path / "master.key").exists()
    record = store.encrypt_template(_template(), tenant_id="a", shopper_id="s")
    blob = record.to_bytes()
    back = EncryptedRecord.from_bytes(blob)
    assert back == record
    store.decrypt_template(back, tenant_id="a", shopper_id="s")
    for bad in (b"", blob[:6], b"XPR\x01" + blob[4:], blob[:10]):
        with pytest.raises(SealedDataError):
            store.decrypt_template(EncryptedRecord.from_bytes(bad), tenant_id="a", shopper_id="s")
    # Another backend's master key cannot read this store's lookup key.
    with pytest.raises(SealedDataError):
        BackendKeyStore.open(tmp_path, master_key=FileMasterKey.generate(key_id="kms-1"))

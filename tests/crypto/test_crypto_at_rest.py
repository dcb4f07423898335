"""Envelope encryption at rest: per-record data keys, shredding, master key rotation."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from facepay.crypto import (
    EncryptedRecord,
    FileMasterKey,
    KeyedHasher,
    MasterKey,
    TemplateVault,
    wrapped_key_master_id,
)
from facepay.errors import CryptoError, SealedDataError
from facepay.types import FaceTemplate


def _template(seed: int = 3) -> FaceTemplate:
    v = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return FaceTemplate(vector=v, model_id="dlib-resnet-v1", frames_fused=4)


def test_template_round_trip_and_fresh_data_keys() -> None:
    vault = TemplateVault(FileMasterKey.generate())
    t = _template()
    a = vault.encrypt_template(t, tenant_id="acme", shopper_id="shp_1")
    b = vault.encrypt_template(t, tenant_id="acme", shopper_id="shp_1")
    assert a.wrapped_key != b.wrapped_key  # one random data key per record
    assert a.ciphertext != b.ciphertext
    assert t.vector.tobytes() not in a.ciphertext
    out = vault.decrypt_template(a, tenant_id="acme", shopper_id="shp_1")
    np.testing.assert_array_equal(out.vector, t.vector)
    assert out.model_id == "dlib-resnet-v1"
    assert out.frames_fused == 4


def test_record_is_bound_to_tenant_and_shopper() -> None:
    vault = TemplateVault(FileMasterKey.generate())
    rec = vault.encrypt_template(_template(), tenant_id="acme", shopper_id="shp_1")
    other = vault.encrypt_template(_template(4), tenant_id="acme", shopper_id="shp_2")
    bad = [
        (rec, "acme", "shp_2"),
        (rec, "other", "shp_1"),
        # Swap the ciphertext or the wrapped key between two shoppers' rows.
        (dataclasses.replace(rec, ciphertext=other.ciphertext), "acme", "shp_1"),
        (dataclasses.replace(rec, wrapped_key=other.wrapped_key), "acme", "shp_1"),
        (dataclasses.replace(rec, ciphertext=rec.ciphertext[:-1]), "acme", "shp_1"),
        (dataclasses.replace(rec, wrapped_key=rec.wrapped_key[:-1]), "acme", "shp_1"),
    ]
    for i in range(0, len(rec.ciphertext), 7):
        flipped = bytearray(rec.ciphertext)
        flipped[i] ^= 0x80
        bad.append((dataclasses.replace(rec, ciphertext=bytes(flipped)), "acme", "shp_1"))
    for i in range(len(rec.wrapped_key)):
        flipped = bytearray(rec.wrapped_key)
        flipped[i] ^= 0x04
        bad.append((dataclasses.replace(rec, wrapped_key=bytes(flipped)), "acme", "shp_1"))
    errors = set()
    for record, tenant, shopper in bad:
        with pytest.raises(SealedDataError) as exc:
            vault.decrypt_template(record, tenant_id=tenant, shopper_id=shopper)
        errors.add((str(exc.value), exc.value.__context__, exc.value.__cause__))
    assert errors == {("sealed data could not be opened", None, None)}


def test_crypto_shredding_deleting_the_wrapped_key_loses_the_template() -> None:
    master = FileMasterKey.generate()
    vault = TemplateVault(master)
    rec = vault.encrypt_template(_template(), tenant_id="acme", shopper_id="shp_1")
    shredded = dataclasses.replace(rec, wrapped_key=b"")
    with pytest.raises(SealedDataError):
        vault.decrypt_template(shredded, tenant_id="acme", shopper_id="shp_1")
    # Another record's (still valid) wrapped key does not help either: each data key is
    # random and bound to its own shopper.
    rec2 = vault.encrypt_template(_template(), tenant_id="acme", shopper_id="shp_1")
    with pytest.raises(SealedDataError):
        vault.decrypt_template(
            dataclasses.replace(rec, wrapped_key=rec2.wrapped_key),
            tenant_id="acme",
            shopper_id="shp_1",
        )


def test_master_key_rotation_by_rewrapping() -> None:
    old = FileMasterKey.generate(key_id="mk-old")
    new = FileMasterKey.generate(key_id="mk-new")
    rec = TemplateVault(old).encrypt_template(_template(), tenant_id="acme", shopper_id="shp_1")
    assert wrapped_key_master_id(rec.wrapped_key) == "mk-old"
    vault = TemplateVault(new, previous=[old])
    assert vault.needs_rewrap(rec)
    # Still readable during the migration.
    vault.decrypt_template(rec, tenant_id="acme", shopper_id="shp_1")
    moved = vault.rewrap(rec, label="template", tenant_id="acme", subject_id="shp_1")
    assert moved.ciphertext == rec.ciphertext
    assert moved.master_key_id == "mk-new"
    assert not vault.needs_rewrap(moved)
    # Once migrated, the old master key can be destroyed.
    only_new = TemplateVault(new)
    np.testing.assert_array_equal(
        only_new.decrypt_template(moved, tenant_id="acme", shopper_id="shp_1").vector,
        _template().vector,
    )
    with pytest.raises(SealedDataError):
        only_new.decrypt_template(rec, tenant_id="acme", shopper_id="shp_1")
    # A wrong binding cannot be laundered through a re-wrap.
    with pytest.raises(SealedDataError):
        vault.rewrap(rec, label="template", tenant_id="acme", subject_id="shp_2")


def test_bytes_records_are_domain_separated() -> None:
    vault = TemplateVault(FileMasterKey.generate())
    rec = vault.encrypt_bytes(
        b"secret", label="tenant-transform", tenant_id="acme", subject_id="v1"
    )
    assert (
        vault.decrypt_bytes(rec, label="tenant-transform", tenant_id="acme", subject_id="v1")
        == b"secret"
    )
    with pytest.raises(SealedDataError):
        vault.decrypt_bytes(rec, label="template", tenant_id="acme", subject_id="v1")
    with pytest.raises(CryptoError):
        vault.encrypt_bytes(b"x", label="", tenant_id="acme", subject_id="v1")


def test_master_key_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "secrets" / "master.key"
    key = FileMasterKey.load_or_create(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    raw = json.loads(path.read_text())["key"]
    assert raw not in caplog.text  # created, logged, but never the key itself
    assert raw not in repr(key)
    with pytest.raises(CryptoError, match="overwrite"):
        FileMasterKey.create(path)
    rec = TemplateVault(key).encrypt_template(_template(), tenant_id="a", shopper_id="s")
    again = FileMasterKey.load(path)
    assert again.key_id == key.key_id
    TemplateVault(again).decrypt_template(rec, tenant_id="a", shopper_id="s")
    os.chmod(path, 0o644)
    with pytest.raises(CryptoError):
        FileMasterKey.load(path)


def test_custom_master_key_satisfies_the_protocol() -> None:
    class XorKms:
        """A stand-in KMS: real wrapping is the KMS's job; the vault only needs the calls."""

        key_id = "kms-1"

        def __init__(self) -> None:
            self.inner = FileMasterKey.generate(key_id="kms-1")

        def wrap(self, data_key: bytes, context: bytes) -> bytes:
            return self.inner.wrap(data_key, context)

        def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
            return self.inner.unwrap(wrapped, context)

    kms = XorKms()
    assert isinstance(kms, MasterKey)
    vault = TemplateVault(kms)
    rec = vault.encrypt_template(_template(), tenant_id="a", shopper_id="s")
    assert isinstance(rec, EncryptedRecord)
    vault.decrypt_template(rec, tenant_id="a", shopper_id="s")
    with pytest.raises(CryptoError):
        TemplateVault(object())  # type: ignore[arg-type]


def test_record_repr_hides_bytes() -> None:
    vault = TemplateVault(FileMasterKey.generate(key_id="mk-1"))
    rec = vault.encrypt_template(_template(), tenant_id="a", shopper_id="s")
    assert repr(rec) == "EncryptedRecord(master_key_id='mk-1')"
    assert "mk-1" in repr(vault)


def test_keyed_hasher() -> None:
    key = KeyedHasher.generate_key()
    h = KeyedHasher(key)
    a = h.hexdigest("claim:phone", "+4915112345678")
    assert a == KeyedHasher(key).hexdigest("claim:phone", "+4915112345678")
    assert len(a) == 64
    assert a != h.hexdigest("privacy-code", "+4915112345678")
    assert a != KeyedHasher(KeyedHasher.generate_key()).hexdigest("claim:phone", "+4915112345678")
    assert key.hex() not in repr(h)
    with pytest.raises(CryptoError):
        KeyedHasher(b"short")

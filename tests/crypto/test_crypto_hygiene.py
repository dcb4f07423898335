"""Hygiene across facepay.crypto: no secret in any repr, primitives stay in _hazmat."""

from __future__ import annotations

import ast
import base64
import inspect
import logging
from pathlib import Path

import numpy as np
import pytest

import facepay.crypto as fc
from facepay.types import FaceTemplate

REPO = Path(__file__).resolve().parents[2]


def _encodings(secret: bytes) -> list[str]:
    return [
        secret.hex(),
        secret.hex().upper(),
        base64.b64encode(secret).decode().rstrip("="),
        base64.urlsafe_b64encode(secret).decode().rstrip("="),
        repr(secret)[2:-1][:40],
    ]


def _instances() -> list[tuple[object, list[bytes]]]:
    """One instance of every public class, with the secrets it holds."""
    kp = fc.BackendKeyPair.generate(suite=fc.SealingSuite.MLKEM768X25519_CHACHA20POLY1305)
    ring = fc.SealingKeyring(kp)
    device = fc.DeviceKey.generate()
    master = fc.FileMasterKey.generate()
    vault = fc.TemplateVault(master)
    transform = fc.TenantTransform.generate(tenant_id="acme", dimension=16)
    signer = fc.ReceiptSigner.generate()
    hasher = fc.KeyedHasher(fc.KeyedHasher.generate_key())
    store = fc.BackendKeyStore(
        keyring=ring, master_key=master, receipt_signer=signer, hasher=hasher
    )
    template = FaceTemplate(vector=np.arange(16, dtype=np.float32), model_id="m")
    record = vault.encrypt_template(template, tenant_id="acme", shopper_id="s")
    sealed = fc.seal_template(template, kp.public_key, session_id="s")
    headers = fc.sign_request(device, device_id="d", method="GET", target="/")
    verified = fc.verify_request(device.public_key, headers=headers, method="GET", target="/")
    return [
        (kp, [kp.private_bytes()[-96:]]),
        (kp.public_key, []),
        (ring, [kp.private_bytes()[-96:]]),
        (device, [device._private]),
        (device.public_key, []),
        (master, [master._key]),
        (vault, [master._key]),
        (transform, [transform.secret]),
        (signer, [signer._private]),
        (signer.public_key, []),
        (record, [record.wrapped_key[-32:], record.ciphertext[-32:]]),
        (sealed, [sealed.ciphertext[-32:], sealed.encapsulated_key[-32:]]),
        (verified, []),
        (fc.RequestFreshnessGuard(), []),
        (fc.SealingSuite.X25519_AES256GCM, []),
        (hasher, [hasher._key]),
        (store, [store._hasher._key, store.receipt_signer._private]),
    ]


def test_every_public_class_is_covered() -> None:
    classes = {
        name
        for name in fc.__all__
        if inspect.isclass(getattr(fc, name)) and name != "MasterKey"  # a Protocol
    }
    covered = {type(obj).__name__ for obj, _ in _instances()}
    assert classes <= covered, classes - covered


def test_no_secret_in_any_repr_or_str() -> None:
    for obj, secrets in _instances():
        text = repr(obj) + str(obj)
        for secret in secrets:
            for enc in _encodings(secret):
                assert enc not in text, (type(obj).__name__, enc)
        assert len(repr(obj)) < 300, type(obj).__name__


def test_nothing_secret_is_logged(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG, logger="facepay")
    ring = fc.SealingKeyring.load_or_create(tmp_path / "ring.json")
    ring.rotate()
    master = fc.FileMasterKey.load_or_create(tmp_path / "master.key")
    text = caplog.text
    assert "rotated" in text  # the log is there, and says only ids
    for secret in (ring.current.private_bytes()[-32:], master._key):
        for enc in _encodings(secret):
            assert enc not in text


def test_only_hazmat_imports_cryptography() -> None:
    offenders = []
    for path in (REPO / "facepay").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            mods: list[str] = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                mods = [node.module]
            if any(m == "cryptography" or m.startswith("cryptography.") for m in mods):
                rel = path.relative_to(REPO).as_posix()
                if rel != "facepay/crypto/_hazmat.py":
                    offenders.append(rel)
    assert not offenders, f"cryptography imported outside facepay/crypto/_hazmat.py: {offenders}"


def test_public_all_is_sorted_and_resolves() -> None:
    for name in fc.__all__:
        assert hasattr(fc, name), name
    assert len(set(fc.__all__)) == len(fc.__all__)


def test_bench_crypto_command_runs(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from facepay.cli import main

    assert main(["bench", "crypto", "--iterations", "2", "--dimension", "16", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["suites"]) == {s.value for s in fc.SealingSuite}
    hybrid = out["suites"]["mlkem768x25519-hkdf-sha256-chacha20poly1305"]
    assert hybrid["encapsulated_key_bytes"] == 1120
    assert all(v["open_ms"] > 0 for v in out["suites"].values())


def test_bench_crypto_times_signed_answers_and_payment_round_trips(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """What signing every answer costs: sign + verify per answer, and payments through the
    real client and sandbox, with and without the check (each one approved, or it fails)."""
    import json

    from facepay.cli import main

    argv = ["bench", "crypto", "--iterations", "2", "--dimension", "16", "--round-trips", "2"]
    assert main([*argv, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sign_answer_ms"] > 0
    assert out["verify_answer_ms"] > 0
    trips = out["payment_round_trip"]
    assert trips["count"] == 2
    for name in ("verified", "unverified"):
        assert 0 < trips[name]["median_ms"] <= trips[name]["p90_ms"]

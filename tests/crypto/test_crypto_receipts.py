"""Signed receipts: sign, verify, tamper, key files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from facepay.crypto import ReceiptPublicKey, ReceiptSigner, receipt_signing_bytes, verify_receipt
from facepay.errors import CryptoError, InvalidSignatureError


def _receipt(signer: ReceiptSigner) -> dict[str, object]:
    r: dict[str, object] = {
        "receipt_id": "del_123",
        "shopper_id": "shp_1",
        "deleted_at": "2026-11-26T23:00:00Z",
        "erased": ["template_data_key", "template", "claim", "payment_method"],
        "receipt_key_id": signer.key_id,
    }
    r["signature"] = signer.sign(r)
    return r


def test_sign_and_verify() -> None:
    signer = ReceiptSigner.generate(key_id="r-1")
    receipt = _receipt(signer)
    verify_receipt(receipt, signer.public_key)
    # A shopper's app only has the published key.
    pk = ReceiptPublicKey.from_base64(signer.public_key.to_base64(), key_id="r-1")
    verify_receipt(receipt, pk)
    assert receipt_signing_bytes(receipt) == (
        b'{"deleted_at":"2026-11-26T23:00:00Z","erased":["template_data_key","template",'
        b'"claim","payment_method"],"receipt_id":"del_123","receipt_key_id":"r-1",'
        b'"shopper_id":"shp_1"}'
    )
    assert b'"signature"' not in receipt_signing_bytes(receipt)


def test_every_tampering_fails_the_same_way() -> None:
    signer = ReceiptSigner.generate(key_id="r-1")
    receipt = _receipt(signer)
    other = ReceiptSigner.generate(key_id="r-1")
    cases = [
        ({**receipt, "shopper_id": "shp_2"}, signer.public_key),
        ({**receipt, "erased": ["template"]}, signer.public_key),
        ({**receipt, "extra": "field"}, signer.public_key),
        ({k: v for k, v in receipt.items() if k != "signature"}, signer.public_key),
        ({**receipt, "signature": "AAAA"}, signer.public_key),
        ({**receipt, "receipt_key_id": "r-2"}, signer.public_key),
        (receipt, other.public_key),
        (receipt, ReceiptPublicKey(signer.public_key.raw, key_id="r-2")),
    ]
    seen = set()
    for r, pk in cases:
        with pytest.raises(InvalidSignatureError) as exc:
            verify_receipt(r, pk)
        seen.add((str(exc.value), exc.value.__context__))
    assert seen == {("signature does not verify", None)}


def test_matches_the_wire_models_signed_payload() -> None:
    from facepay.wire import DeletionReceipt

    signer = ReceiptSigner.generate(key_id="r-1")
    fields = _receipt(signer)
    wire_receipt = DeletionReceipt.model_validate(fields)
    assert wire_receipt.signed_payload() == receipt_signing_bytes(fields)
    verify_receipt(wire_receipt.model_dump(mode="json"), signer.public_key)


def test_floats_are_refused_at_signing() -> None:
    signer = ReceiptSigner.generate()
    with pytest.raises(CryptoError):
        signer.sign({"amount": 1.5})


def test_key_file_and_repr(tmp_path: Path) -> None:
    path = tmp_path / "receipt.key"
    signer = ReceiptSigner.load_or_create(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = ReceiptSigner.load(path)
    assert again.public_key == signer.public_key
    verify_receipt(_receipt(signer), again.public_key)
    assert signer._private.hex() not in repr(signer) + repr(signer.public_key)
    assert signer.key_id in repr(signer)

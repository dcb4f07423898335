"""Deletion: after a shopper deletes themselves, nothing stored can be decrypted or
matched, and the signed deletion receipt verifies (and a forged one does not).

Runs on SQLite and PostgreSQL. Goes through the real client (``FacePayClient.
delete_shopper``) and then inspects the database directly, as an insider would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from proof_kit import PHONE, RawTill, face, rows, same_face

from facepay import wire
from facepay.client import FacePayClient
from facepay.config import ClientConfig, ServerConfig
from facepay.crypto import ReceiptPublicKey, verify_receipt
from facepay.errors import AuthenticationError, CryptoError, InvalidSignatureError
from facepay.server import Sandbox

ALICE = face(51)
CLAIM = wire.Claim(kind=wire.ClaimKind.PHONE, value=PHONE)


def _client(sandbox: Sandbox) -> FacePayClient:
    return FacePayClient(sandbox.base_url, config=ClientConfig(verify_tls=False))


@pytest.fixture
def deletion_sandbox(database_url: str, tmp_path: Path) -> Any:
    sb = Sandbox(database_url, key_dir=tmp_path / "keys", config=ServerConfig()).start()
    try:
        yield sb
    finally:
        sb.stop()


def test_deleted_shopper_cannot_be_decrypted_or_matched_and_receipt_verifies(
    deletion_sandbox: Sandbox,
) -> None:
    sandbox = deletion_sandbox
    assert sandbox.backend is not None
    till = RawTill(sandbox, sandbox.provision_device(tenant_id="acme"))
    enrolled = till.enroll(ALICE)
    assert enrolled.status_code == 201
    shopper_id, code = enrolled.json()["shopper_id"], enrolled.json()["privacy_code"]
    bob = till.enroll(face(52), phone="+4915155555555")
    assert bob.status_code == 201
    paid = till.authorize(till.pay_body(same_face(ALICE, 1)))
    assert paid.json()["status"] == "approved"
    (sealed_before, wrapped_before), *_ = rows(
        sandbox,
        f"SELECT template_sealed, data_key_wrapped FROM shoppers WHERE shopper_id = '{shopper_id}'",
    )
    assert sealed_before is not None
    assert wrapped_before is not None

    with _client(sandbox) as client:
        receipt = client.delete_shopper(code, CLAIM)
        keys = client.get_keys()
        # The receipt verifies with the published receipt key ...
        public = ReceiptPublicKey(
            wire.b64decode(keys.receipt_public_key), key_id=keys.receipt_key_id
        )
        as_json: dict[str, Any] = json.loads(receipt.model_dump_json())
        verify_receipt(as_json, public)
        assert receipt.shopper_id == shopper_id
        assert {"template", "template_data_key", "claim"} <= set(receipt.erased)
        # ... and a receipt altered in any field does not.
        for field, value in (("shopper_id", "shp_someone_else"), ("erased", ["claim"])):
            with pytest.raises(InvalidSignatureError):
                verify_receipt({**as_json, field: value}, public)
        # The privacy code no longer opens anything.
        with pytest.raises(AuthenticationError):
            client.export_shopper(code, CLAIM)

    # Nothing stored for the shopper can be decrypted: the template and its data key are
    # gone, so is every lookup value.
    (row,) = rows(
        sandbox,
        "SELECT template_sealed, data_key_wrapped, claim_hash, claim_last4, privacy_code_hash, "
        f"privacy_code_wrapped, payment_token FROM shoppers WHERE shopper_id = '{shopper_id}'",
    )
    assert row == (None, None, None, None, None, None, None)
    vault = sandbox.backend.vault
    # Every template still stored (Bob's) decrypts only as Bob's: nothing opens as Alice.
    for other_id, tenant, sealed, wrapped in rows(
        sandbox,
        "SELECT shopper_id, tenant_id, template_sealed, data_key_wrapped FROM shoppers "
        "WHERE template_sealed IS NOT NULL",
    ):
        assert other_id != shopper_id
        with pytest.raises(CryptoError):
            vault.decrypt_templates(
                bytes(sealed), bytes(wrapped), shopper_id=shopper_id, tenant_id=tenant
            )
    # Not in any gallery, now or after a restart's reload.
    assert all(shopper_id not in g for g in _galleries(sandbox))
    # Alice's own face with her phone number: no match (there is no such claim any more).
    r = till.authorize(till.pay_body(same_face(ALICE, 2)))
    assert r.json()["status"] == "declined"
    assert r.json()["decline_reason"] == "no_match"
    # Her face against Bob's claim: no match either.
    r = till.authorize(till.pay_body(same_face(ALICE, 3), phone="+4915155555555"))
    assert r.json()["decline_reason"] == "no_match"
    # The payment stays in the ledger (merchants must keep records) with the id only.
    ledger = [e for e in sandbox.ledger() if e["shopper_id"] == shopper_id]
    assert len(ledger) == 1
    assert ledger[0]["state"] == "approved"
    # The receipt is kept for the regulator.
    assert rows(
        sandbox, f"SELECT COUNT(*) FROM deletion_receipts WHERE shopper_id = '{shopper_id}'"
    ) == [(1,)]
    # The phone number is free to enroll again (a new shopper, a new consent).
    assert till.enroll(ALICE).status_code == 201
    till.close()


def _galleries(sandbox: Sandbox) -> list[Any]:
    assert sandbox.backend is not None
    registry = sandbox.backend.galleries
    out = []
    for attr in vars(registry).values():
        if isinstance(attr, dict):
            out.extend(v for v in attr.values() if hasattr(v, "search"))
    return out


def test_deleted_template_bytes_are_gone_from_the_sqlite_files(tmp_path: Path) -> None:
    """An insider who copies the live database files (db, WAL, SHM) after the deletion
    finds neither the encrypted template nor its wrapped data key in them."""
    db = tmp_path / "shred.db"
    sandbox = Sandbox(db, key_dir=tmp_path / "keys", config=ServerConfig()).start()
    try:
        till = RawTill(sandbox, sandbox.provision_device(tenant_id="acme"))
        enrolled = till.enroll(ALICE)
        shopper_id, code = enrolled.json()["shopper_id"], enrolled.json()["privacy_code"]
        ((sealed, wrapped),) = rows(
            sandbox,
            "SELECT template_sealed, data_key_wrapped FROM shoppers "
            f"WHERE shopper_id = '{shopper_id}'",
        )
        with _client(sandbox) as client:
            client.delete_shopper(code, CLAIM)
        till.close()
        live = b"".join(p.read_bytes() for p in sorted(tmp_path.glob("shred.db*")))
    finally:
        sandbox.stop()
    closed = b"".join(p.read_bytes() for p in sorted(tmp_path.glob("shred.db*")))
    # Once the backend closed (checkpointed) its files, nothing is left; that holds today.
    assert bytes(wrapped) not in closed
    assert bytes(sealed)[:64] not in closed
    # While it runs, the WAL must not keep them either.
    assert bytes(wrapped) not in live
    assert bytes(sealed)[:64] not in live

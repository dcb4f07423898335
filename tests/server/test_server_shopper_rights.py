"""Shopper rights (export, withdraw, delete with a signed receipt), retention, key rotation."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from server_helpers import PHONE, Till, face, make_till, rows, same_face

from facepay.config import ServerConfig
from facepay.crypto import ReceiptPublicKey, receipt_signing_bytes, verify_receipt
from facepay.errors import InvalidSignatureError
from facepay.server import Sandbox
from facepay.wire import DeletionReceipt, KeySet, b64decode


def access(code: str, phone: str = PHONE) -> dict[str, object]:
    return {"privacy_code": code, "claim": {"kind": "phone", "value": phone}}


@pytest.fixture
def shopper(till: Till) -> tuple[Till, str]:
    enrolled = till.enroll(face(1))
    assert enrolled.status_code == 201
    assert till.authorize(till.pay_body(same_face(face(1), 1))).json()["status"] == "approved"
    return till, str(enrolled.json()["privacy_code"])


def test_export_lists_what_is_stored_but_never_the_template(shopper: tuple[Till, str]) -> None:
    till, code = shopper
    r = till.http.post("/v1/shoppers/export", json=access(code))
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["claim_kind"] == "phone"
    assert data["claim_last4"] == "5678"
    assert data["template_stored"] is True
    assert data["consent"]["text_version"] == "2026-01-en"
    assert [a["status"] for a in data["authorizations"]] == ["approved"]
    assert PHONE not in r.text
    assert "vector" not in r.text


def test_wrong_code_or_claim_is_denied_the_same_way(shopper: tuple[Till, str]) -> None:
    till, code = shopper
    wrong_code = till.http.post("/v1/shoppers/export", json=access("AAAA-BBBB-CCCC"))
    wrong_claim = till.http.post("/v1/shoppers/export", json=access(code, "+4915100000000"))
    for r in (wrong_code, wrong_claim):
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "shopper_access_denied"
    assert wrong_code.json()["error"]["message"] == wrong_claim.json()["error"]["message"]


def test_guessing_privacy_codes_is_limited_per_source(shopper: tuple[Till, str]) -> None:
    """Shopper-rights calls are unauthenticated: each source gets
    ServerConfig.shopper_rights_per_source (20) per window, whatever codes and claims it
    sends (tests/security/test_attack_shoppers_rights.py: the victim is never locked)."""
    till, _ = shopper
    statuses = [
        till.http.post("/v1/shoppers/export", json=access(f"AAAA-BBBB-C{i:03d}")).status_code
        for i in range(22)
    ]
    assert statuses[:20] == [403] * 20
    assert statuses[20:] == [429, 429]


def test_withdrawn_consent_stops_face_payments(shopper: tuple[Till, str]) -> None:
    till, code = shopper
    r = till.http.post("/v1/shoppers/withdraw-consent", json=access(code))
    assert r.status_code == 200, r.text
    assert r.json()["template_destroyed"] is True
    assert rows(till.sandbox, "SELECT template_sealed, data_key_wrapped FROM shoppers") == [
        (None, None)
    ]
    body = till.authorize(till.pay_body(face(1))).json()
    assert (body["status"], body["decline_reason"]) == ("declined", "no_match")
    export = till.http.post("/v1/shoppers/export", json=access(code)).json()
    assert export["template_stored"] is False
    assert export["consent_withdrawn_at"] is not None


def test_delete_returns_a_receipt_that_verifies_and_erases(shopper: tuple[Till, str]) -> None:
    till, code = shopper
    r = till.http.post("/v1/shoppers/delete", json=access(code))
    assert r.status_code == 200, r.text
    receipt = DeletionReceipt.model_validate_json(r.content)
    keys = KeySet.model_validate_json(till.http.get("/v1/keys").content)
    assert receipt.receipt_key_id == keys.receipt_key_id
    public = ReceiptPublicKey(b64decode(keys.receipt_public_key), key_id=keys.receipt_key_id)
    verify_receipt(receipt.model_dump(mode="json"), public)  # raises if forged
    assert receipt.signed_payload() == receipt_signing_bytes(receipt.model_dump(mode="json"))
    forged = receipt.model_copy(update={"shopper_id": "shp_someone_else"})
    with pytest.raises(InvalidSignatureError):
        verify_receipt(forged.model_dump(mode="json"), public)
    leftovers = rows(
        till.sandbox,
        "SELECT claim_hash, privacy_code_hash, payment_token, template_sealed, "
        "data_key_wrapped FROM shoppers",
    )
    assert leftovers == [(None, None, None, None, None)]
    # The ledger keeps the payment record (merchants must), by shopper id only.
    assert [e["state"] for e in till.sandbox.ledger()] == ["approved"]
    # Gone from matching, and the same code no longer opens anything.
    body = till.authorize(till.pay_body(face(1))).json()
    assert body["decline_reason"] == "no_match"
    assert till.http.post("/v1/shoppers/export", json=access(code)).status_code == 403
    # The claim can enroll again afterwards.
    assert till.enroll(face(1)).status_code == 201


def test_retention_shreds_enrollments_unused_for_three_years(sandbox: Sandbox) -> None:
    till = make_till(sandbox)
    till.enroll(face(1))
    till.enroll(face(2), phone="+4915100000002")
    backend = sandbox.backend
    assert backend is not None
    # The second shopper paid recently; the first has not been seen for 1096 days.
    rows_before = rows(
        sandbox, "SELECT shopper_id, last_used_at FROM shoppers ORDER BY enrolled_at"
    )
    first = rows_before[0][0]
    with backend.db.transaction() as tx:
        tx.execute(
            "UPDATE shoppers SET last_used_at = ? WHERE shopper_id = ?",
            (time.time() - 1096 * 86400, first),
        )
    assert backend.sweep()["retention_expired"] == 1
    kept = rows(sandbox, "SELECT shopper_id FROM shoppers WHERE template_sealed IS NOT NULL")
    assert first not in [k[0] for k in kept]
    assert len(kept) == 1
    assert backend.galleries.size("acme") == 1
    events = rows(
        sandbox, "SELECT event, subject_id FROM audit_log WHERE event = 'retention_expired'"
    )
    assert events == [("retention_expired", first)]


def test_rotated_key_keeps_opening_during_its_grace_period(sandbox: Sandbox) -> None:
    till = make_till(sandbox)
    till.enroll(face(1))
    old_key_id = till.public_key.key_id
    stale_body = till.pay_body(face(1))  # sealed to the old key
    backend = sandbox.backend
    assert backend is not None
    new_id = backend.vault.rotate_sealing_key(grace_seconds=600)
    keys = KeySet.model_validate_json(till.http.get("/v1/keys").content)
    assert keys.current_key_id == new_id != old_key_id
    assert [(k.key_id, k.status) for k in keys.keys] == [
        (new_id, "current"),
        (old_key_id, "retiring"),
    ]
    assert till.authorize(stale_body).json()["status"] == "approved"
    # Past the grace period the old key id is unknown: the till must refetch and reseal.
    backend.vault.rotate_sealing_key(grace_seconds=600)
    backend.vault.keyring._retired[old_key_id] = (
        backend.vault.keyring._retired[old_key_id][0],
        time.time() - 1,
    )
    late = till.pay_body(face(1))
    r = till.authorize(late)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "unknown_key_id"


def test_operator_retention_caps_what_the_consent_allows(tmp_path: Path) -> None:
    config = ServerConfig(retention_days=30)
    with Sandbox(tmp_path / "r.db", key_dir=tmp_path / "k", config=config) as sandbox:
        till = make_till(sandbox)
        enrolled = till.enroll(face(1))  # the consent allows 1095 days
        assert enrolled.json()["retention_days"] == 30
        assert rows(sandbox, "SELECT retention_days FROM shoppers") == [(30,)]
        till.close()


def test_the_privacy_page_the_receipt_qr_points_to_reflects_nothing(sandbox: Sandbox) -> None:
    """The kiosk's privacy QR opens /privacy?code=...: a page whose script reads
    the code itself, so nothing from the address is echoed into the HTML, and which stays
    out of caches and referrers."""
    import httpx

    probe = "<script>alert(1)</script>"
    r = httpx.get(f"{sandbox.base_url}/privacy", params={"code": probe})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert probe not in r.text
    assert 'action="/privacy' in r.text  # the form posts back (test_privacy_page.py)
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "form-action 'self'" in r.headers["content-security-policy"]
    assert "/privacy" not in httpx.get(f"{sandbox.base_url}/openapi.json").json()["paths"]


def test_a_backend_configured_for_the_post_quantum_suite_seals_and_pays_with_it(
    tmp_path: Path,
) -> None:
    """ServerConfig.sealing_suite chooses the suite of a new keyring; tills follow the
    published key, so a hybrid ML-KEM-768+X25519 backend enrolls and pays end to end."""
    from facepay.config import SEALING_SUITES
    from facepay.crypto import SealingSuite

    assert set(SEALING_SUITES) == {s.value for s in SealingSuite}
    hybrid = "mlkem768x25519-hkdf-sha256-chacha20poly1305"
    with Sandbox(
        str(tmp_path / "pq.db"),
        key_dir=tmp_path / "keys",
        config=ServerConfig(sealing_suite=hybrid),
    ) as sb:
        till = make_till(sb)
        keys = KeySet.model_validate_json(till.http.get("/v1/keys").content)
        assert keys.current().suite == hybrid
        assert till.enroll(face(1)).status_code == 201
        paid = till.authorize(till.pay_body(same_face(face(1), 1)))
        assert paid.json()["status"] == "approved", paid.text
        till.close()
    with pytest.raises(ValueError, match="sealing_suite"):
        ServerConfig(sealing_suite="rot13")

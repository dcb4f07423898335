"""Brute force: repeated failed faces against one shopper, or from one device, lock out.

docs/protocol.md: 5 failed faces (no_match, liveness_failed, step_up_failed) within 10
minutes lock the device for 5 minutes and the claimed shopper for 15, with
``429 locked_out`` and a ``Retry-After``; the lockout lives in the database, so it holds
across a restart. Each test also shows that the lock does not spill over onto an
innocent till or shopper.
"""

from __future__ import annotations

from pathlib import Path

from proof_kit import PHONE, RawTill, error_code, face, same_face, stored_counts

from facepay.config import ServerConfig
from facepay.server import Sandbox
from facepay.wire import Claim, ClaimKind, ShopperAccessRequest

ALICE = face(31)
BOB_PHONE = "+4915122222222"


def _new_till(sandbox: Sandbox) -> RawTill:
    return RawTill(sandbox, sandbox.provision_device(tenant_id="acme"))


def test_failed_faces_against_one_shopper_lock_that_shopper(sandbox: Sandbox) -> None:
    enroller = _new_till(sandbox)
    assert enroller.enroll(ALICE).status_code == 201
    assert enroller.enroll(face(32), phone=BOB_PHONE).status_code == 201
    # Mallory tries strangers' faces against Alice's phone number from several tills, so
    # no single till reaches its own limit.
    tills = [_new_till(sandbox) for _ in range(3)]
    answers = []
    for i in range(5):
        till = tills[i % len(tills)]
        r = till.authorize(till.pay_body(face(1000 + i), phone=PHONE))
        answers.append((r.status_code, r.json().get("decline_reason")))
    assert answers == [(200, "no_match")] * 5
    # Now even Alice's own face is refused for her claim, without a decision being made.
    fresh = _new_till(sandbox)
    before = stored_counts(sandbox)
    r = fresh.authorize(fresh.pay_body(same_face(ALICE, 1), phone=PHONE))
    assert r.status_code == 429
    assert error_code(r) == "locked_out"
    assert 800 <= int(r.headers["Retry-After"]) <= 900
    assert r.json()["error"]["retry_after"] > 0
    assert stored_counts(sandbox)["authorizations"] == before["authorizations"]
    # Bob is not locked by Alice's lockout.
    bob = fresh.authorize(fresh.pay_body(same_face(face(32), 1), phone=BOB_PHONE))
    assert bob.json()["status"] == "approved"
    for t in [enroller, *tills, fresh]:
        t.close()


def test_failed_faces_from_one_device_lock_that_device(sandbox: Sandbox) -> None:
    enroller = _new_till(sandbox)
    phones = [f"+49151333{i:05d}" for i in range(6)]
    faces = [face(40 + i) for i in range(6)]
    for vector, phone in zip(faces, phones, strict=True):
        assert enroller.enroll(vector, phone=phone).status_code == 201
    rogue = _new_till(sandbox)
    # A rogue till walks through the claims, each with the wrong face, once.
    for i in range(5):
        r = rogue.authorize(rogue.pay_body(face(2000 + i), phone=phones[i]))
        assert r.json()["decline_reason"] == "no_match"
    before = stored_counts(sandbox)
    r = rogue.authorize(rogue.pay_body(same_face(faces[5], 1), phone=phones[5]))
    assert r.status_code == 429
    assert error_code(r) == "locked_out"
    assert 200 <= int(r.headers["Retry-After"]) <= 300
    assert stored_counts(sandbox)["authorizations"] == before["authorizations"]
    # The shopper it tried last is not locked (one failure each), and another till pays.
    honest = _new_till(sandbox)
    ok = honest.authorize(honest.pay_body(same_face(faces[5], 2), phone=phones[5]))
    assert ok.json()["status"] == "approved"
    for t in (enroller, rogue, honest):
        t.close()


def test_failed_liveness_counts_as_a_failed_face(sandbox: Sandbox) -> None:
    till = _new_till(sandbox)
    assert till.enroll(ALICE).status_code == 201
    for i in range(5):
        r = till.authorize(till.pay_body(same_face(ALICE, 10 + i), liveness="not_live"))
        assert r.json()["decline_reason"] == "liveness_failed"
    r = till.authorize(till.pay_body(same_face(ALICE, 20)))
    assert r.status_code == 429
    assert error_code(r) == "locked_out"
    till.close()


def test_lockout_survives_a_restart(tmp_path: Path) -> None:
    db, keys = tmp_path / "lock.db", tmp_path / "keys"
    sandbox = Sandbox(db, key_dir=keys, config=ServerConfig()).start()
    till = _new_till(sandbox)
    assert till.enroll(ALICE).status_code == 201
    for i in range(5):
        assert till.authorize(till.pay_body(face(3000 + i))).json()["status"] == "declined"
    device = till.device
    till.close()
    sandbox.stop()
    restarted = Sandbox(db, key_dir=keys, config=ServerConfig()).start()
    try:
        again = RawTill(restarted, device)
        r = again.authorize(again.pay_body(same_face(ALICE, 1)))
        assert r.status_code == 429
        assert error_code(r) == "locked_out"
        again.close()
    finally:
        restarted.stop()


def test_privacy_code_guessing_is_throttled_per_source(sandbox: Sandbox) -> None:
    """Guesses are limited per source address, in the database (docs/privacy.md): after
    ``shopper_rights_per_source`` calls in a window a source gets 429, whichever codes it
    tries; nothing counts against the shopper, whose own code still works elsewhere."""
    till = _new_till(sandbox)
    enrolled = till.enroll(ALICE)
    assert enrolled.status_code == 201
    code = enrolled.json()["privacy_code"]
    assert sandbox.backend is not None
    limit = sandbox.backend.config.shopper_rights_per_source
    statuses = []
    for i in range(limit + 3):
        r = till.http.post(
            "/v1/shoppers/export",
            json={"privacy_code": f"AAAA-BBBB-{i:04d}", "claim": {"kind": "phone", "value": PHONE}},
        )
        statuses.append(r.status_code)
    # A wrong code is denied (403, the same answer as an unknown claim), then the source
    # is throttled, though every guess was a different code.
    assert statuses[:limit] == [403] * limit
    assert statuses[limit:] == [429] * 3
    # The shopper, from another address, is not locked out by the guessing.
    own = sandbox.backend.for_source("198.51.100.23").export(
        ShopperAccessRequest(privacy_code=code, claim=Claim(kind=ClaimKind.PHONE, value=PHONE))
    )
    assert own.template_stored
    till.close()

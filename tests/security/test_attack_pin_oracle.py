"""Attacks tried: learning who has a PIN, or getting a PIN prompt without a near face
(docs/security.md, "Attacks tried: the second factor"). Only a face in the grey zone of
exactly one shopper who set a PIN is ever asked for one. SQLite, then PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pin_kit import PIN, answer_pin, at_similarity, enroll_with_pin, grey_payment, pin_rows
from shoppers_kit import Backends

from facepay.config import ServerConfig
from facepay.testing.protocol_till import ProtocolTill, face

WITH_PIN, WITHOUT_PIN = "+4915100000001", "+4915100000002"


@pytest.fixture
def till(database_url: str, tmp_path: Path) -> Iterator[ProtocolTill]:
    # A risk budget that lets claimless 1:N run on a small gallery, and a lockout these
    # many declines do not reach (lockout is test_attack_pin_bruteforce.py's subject).
    backends = Backends(database_url, tmp_path / "keys")
    config = ServerConfig(risk_budget=1.0, lockout_failures=100)
    try:
        yield backends.till(backends.start(config))
    finally:
        backends.close()


def _shape(answer: dict[str, Any]) -> dict[str, Any]:
    """An answer without what differs between any two answers (ids, times, the order)."""
    return {
        k: v
        for k, v in answer.items()
        if k not in ("authorization_id", "created_at", "basket_reference")
    }


def test_a_far_face_learns_nothing_of_who_set_a_pin(till: ProtocolTill) -> None:
    pinned, plain = face(501), face(502)
    assert enroll_with_pin(till, pinned, phone=WITH_PIN).status_code == 201
    assert enroll_with_pin(till, plain, phone=WITHOUT_PIN, pin=None).status_code == 201
    impostor = face(503)
    answers = [
        grey_payment(till, impostor, phone=phone, similarity=s).json()
        for phone in (WITH_PIN, WITHOUT_PIN)
        for s in (0.2, 0.9, 0.935)
    ]
    assert {a["status"] for a in answers} == {"declined"}
    assert {a["decline_reason"] for a in answers} == {"no_match"}
    assert len({str(_shape(a)) for a in answers}) == 1
    # "impostor" here is at the given similarity to the *impostor's* own face, never near
    # the shoppers': far from both, whatever the claim.
    for phone, person in ((WITH_PIN, pinned), (WITHOUT_PIN, plain)):
        far = grey_payment(till, person, phone=phone, similarity=0.93).json()
        assert far["decline_reason"] == "no_match"
        assert far["step_up"] is None


def test_no_pin_prompt_for_a_shopper_without_a_pin(till: ProtocolTill) -> None:
    plain = face(511)
    assert enroll_with_pin(till, plain, phone=WITHOUT_PIN, pin=None).status_code == 201
    for s in (0.946, 0.95, 0.959):
        answer = grey_payment(till, plain, phone=WITHOUT_PIN, similarity=s).json()
        assert answer["status"] == "declined", answer
        assert answer["decline_reason"] == "no_match"


def test_face_only_approval_stays_at_the_match_threshold(till: ProtocolTill) -> None:
    pinned = face(521)
    assert enroll_with_pin(till, pinned, phone=WITH_PIN).status_code == 201
    for s in (0.962, 0.99):
        answer = grey_payment(till, pinned, phone=WITH_PIN, similarity=s).json()
        assert answer["status"] == "approved", (s, answer)
    for s in (0.946, 0.958):
        answer = grey_payment(till, pinned, phone=WITH_PIN, similarity=s).json()
        assert answer["status"] == "step_up", (s, answer)
        assert answer["step_up"]["kind"] == "pin"


def test_claimless_grey_zone_asks_only_a_clear_single_candidate(till: ProtocolTill) -> None:
    pinned = face(531)
    assert enroll_with_pin(till, pinned, phone=WITH_PIN).status_code == 201
    asked = grey_payment(till, pinned, phone=None).json()
    assert asked["status"] == "step_up", asked
    assert asked["step_up"]["kind"] == "pin"
    assert answer_pin(till, asked["authorization_id"], PIN).json()["status"] == "approved"
    # A look-alike of the same shopper, also with a PIN: a probe between the two is no
    # single candidate, so no PIN can decide between them.
    twin = at_similarity(pinned, 0.97, seed=7)
    assert enroll_with_pin(till, twin, phone=WITHOUT_PIN).status_code == 201
    between = (pinned / 2 + twin / 2).astype(pinned.dtype)
    probe = at_similarity(between, 0.955, seed=8)
    answer = till.authorize(till.pay_body(probe, phone=None)).json()
    assert answer["status"] == "declined", answer
    assert answer["decline_reason"] == "no_match"


def test_a_withdrawn_shopper_is_never_asked_for_a_pin(till: ProtocolTill) -> None:
    pinned = face(541)
    enrolled = enroll_with_pin(till, pinned, phone=WITH_PIN)
    withdrawn = till.http.post(
        "/v1/shoppers/withdraw-consent",
        json={
            "privacy_code": enrolled.json()["privacy_code"],
            "claim": {"kind": "phone", "value": WITH_PIN},
        },
    )
    assert withdrawn.status_code == 200, withdrawn.text
    assert pin_rows(till.sandbox) == []  # shredded with the template
    answer = grey_payment(till, pinned, phone=WITH_PIN).json()
    assert answer["status"] == "declined"
    assert answer["decline_reason"] == "no_match"


def test_a_phone_step_up_takes_no_pin_and_stays_pending(till: ProtocolTill) -> None:
    from shoppers_kit import ambiguous_payment

    asked, last4 = ambiguous_payment(till, 551)
    assert asked["step_up"]["kind"] == "phone_last4"
    auth_id = asked["authorization_id"]
    r = answer_pin(till, auth_id, PIN)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_failed"
    answered = till.call(
        "POST",
        f"/v1/authorizations/{auth_id}/step-up",
        {"phone_last4": last4},
        headers={"Idempotency-Key": "idem_phone_after_pin_0001"},
    )
    assert answered.json()["status"] == "approved", answered.text

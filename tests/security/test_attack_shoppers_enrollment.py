"""Issue 12, item 5: enrollment told which phone numbers are enrolled (``409
claim_already_enrolled``) without spending the session, ~1,200 numbers per session.

Now every enrollment attempt spends its session first, and a claim someone already holds
gets the answer a new claim gets, storing nothing; only the holder's own face learns
``409`` (a shopper retrying after a lost answer).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from shoppers_kit import Backends, enroll_body, rows

from facepay.testing.protocol_till import PHONE, ProtocolTill, face, same_face

FREE = "+15550005555"


@pytest.fixture
def till(database_url: str, tmp_path: Path) -> Iterator[ProtocolTill]:
    backends = Backends(database_url, tmp_path / "keys")
    try:
        yield backends.till(backends.start())
    finally:
        backends.close()


def _shape(r: httpx.Response) -> tuple[int, list[str], str]:
    body = r.json()
    return r.status_code, sorted(body), str(body.get("masked_payment_method"))


def test_an_enrolled_number_and_a_free_one_get_the_same_answer(till: ProtocolTill) -> None:
    victim = till.enroll(face(51))
    assert victim.status_code == 201
    stored_before = rows(till.sandbox, "SELECT shopper_id, template_sealed FROM shoppers")
    rogue_face = face(52)
    taken = till.call("POST", "/v1/enrollments", enroll_body(till, rogue_face, phone=PHONE))
    free = till.call("POST", "/v1/enrollments", enroll_body(till, face(53), phone=FREE))
    assert _shape(taken) == _shape(free)
    assert taken.json()["shopper_id"] != victim.json()["shopper_id"]
    assert taken.json()["privacy_code"] != victim.json()["privacy_code"]
    # Nothing was stored for the taken number: the victim's enrollment is untouched and
    # the rogue face does not pay under the victim's number.
    after = rows(till.sandbox, "SELECT shopper_id, template_sealed FROM shoppers")
    assert set(stored_before) <= set(after)
    assert len(after) == len(stored_before) + 1
    paid = till.authorize(till.pay_body(same_face(rogue_face, 1), phone=PHONE))
    assert paid.json()["status"] == "declined"
    assert till.authorize(till.pay_body(same_face(face(51), 2))).json()["status"] == "approved"


def test_one_session_answers_one_attempt_whatever_its_outcome(till: ProtocolTill) -> None:
    assert till.enroll(face(54)).status_code == 201
    for phone, token, vector in (
        (PHONE, "tok_visa_4242", face(55)),  # taken number
        (FREE, "tok_visa_4242", face(56)),  # free number
        (PHONE, "tok_made_up", face(57)),  # refused token
        (PHONE, "tok_visa_4242", face(58, 64)),  # refused template
    ):
        body = enroll_body(till, vector, phone=phone)
        body["payment_method_token"] = token
        first = till.call("POST", "/v1/enrollments", body)
        assert first.status_code in (201, 422), first.text
        for probe in ("+15550000001", "+15550000002"):
            again = till.call(
                "POST", "/v1/enrollments", dict(body, claim={"kind": "phone", "value": probe})
            )
            assert again.status_code == 410, again.text
            assert again.json()["error"]["code"] == "session_used"


def test_the_holders_own_face_learns_it_is_enrolled(till: ProtocolTill) -> None:
    assert till.enroll(face(59)).status_code == 201
    again = till.enroll(same_face(face(59), 1))
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "claim_already_enrolled"
    assert rows(till.sandbox, "SELECT count(*) FROM shoppers") == [(1,)]

"""Issue 12, item 11: stored answers replayed to any till of the tenant, privacy code
included, and for a step-up this was an unlimited oracle for a shopper's last 4 phone
digits (409 for a wrong guess, the approval for the right one, no lockout either way).

The attacker: another registered till of the same tenant that read Idempotency-Keys
from a log. A stored answer now replays only to the device that made it, checked before
the requests are compared; any other device gets the same 409 whatever it sends.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from shoppers_kit import Backends, ambiguous_payment, rows

from facepay.config import ServerConfig
from facepay.testing.protocol_till import ProtocolTill, face, same_face


@pytest.fixture
def tills(database_url: str, tmp_path: Path) -> Iterator[tuple[ProtocolTill, ProtocolTill]]:
    backends = Backends(database_url, tmp_path / "keys")
    try:
        sb = backends.start(ServerConfig(risk_budget=1.0))
        yield backends.till(sb), backends.till(sb)
    finally:
        backends.close()


def test_another_till_cannot_replay_an_authorization_answer(
    tills: tuple[ProtocolTill, ProtocolTill],
) -> None:
    genuine, rogue = tills
    assert genuine.enroll(face(81)).status_code == 201
    body = genuine.pay_body(same_face(face(81), 1))
    key = f"idem_{uuid.uuid4().hex}"
    paid = genuine.authorize(body, key=key)
    assert paid.json()["status"] == "approved"
    code = paid.json()["privacy_code"]
    # The rogue till sends the logged request under the logged key, signed as itself.
    stolen = rogue.authorize(body, key=key)
    assert stolen.status_code == 409, stolen.text
    assert stolen.json()["error"]["code"] == "idempotency_conflict"
    assert code not in stolen.text
    # The genuine till's retry still learns its answer.
    assert genuine.authorize(body, key=key).json()["privacy_code"] == code


def test_another_till_gets_no_last4_oracle_from_a_step_up_answer(
    tills: tuple[ProtocolTill, ProtocolTill],
) -> None:
    genuine, rogue = tills
    step_up, last4 = ambiguous_payment(genuine, 82)
    path = f"/v1/authorizations/{step_up['authorization_id']}/step-up"
    key = f"idem_{uuid.uuid4().hex}"
    answered = genuine.call("POST", path, {"phone_last4": last4}, headers={"Idempotency-Key": key})
    assert answered.json()["status"] == "approved"
    answers = set()
    for guess in ("0000", "1234", last4, "9999"):
        r = rogue.call("POST", path, {"phone_last4": guess}, headers={"Idempotency-Key": key})
        assert r.status_code == 409, r.text
        answers.add((r.json()["error"]["code"], r.json()["error"]["message"]))
        assert "privacy_code" not in r.text
    assert len(answers) == 1  # the right guess reads exactly like the wrong ones
    # Under a fresh key the rogue till is refused as not the authorization's device.
    fresh = rogue.call(
        "POST",
        path,
        {"phone_last4": last4},
        headers={"Idempotency-Key": f"idem_{uuid.uuid4().hex}"},
    )
    assert fresh.status_code == 404, fresh.text
    assert rows(genuine.sandbox, "SELECT count(*) FROM step_up_answers") == [(1,)]

"""Reconcile by session: "404 not_found (that session took no payment of this device:
nothing was charged in it)" and "its state now, after a step-up too" (docs/protocol.md).

A till that lost its answer and its key treats 404 as "not charged", so a 404 for a session
that was charged would lose a charge, and a 200 for one that was not would invent one. Each
way a payment can end is tried, and the answer by session is compared with the ledger, on
SQLite and PostgreSQL: approved; declined; refused by validation (422) and by a lockout
(429), which charge nothing; a phone step-up answered after the reconcile's first look.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from requests_kit import ledger_size, start

from facepay.config import ServerConfig
from facepay.server import Sandbox
from facepay.testing.protocol_till import PHONE, ProtocolTill, face, same_face

CONFIG = ServerConfig(device_rate_burst=200, device_rate_per_s=100.0, risk_budget=1.0)


@pytest.fixture
def till(database_url: str, tmp_path: Path) -> Iterator[ProtocolTill]:
    sandbox = start(database_url, tmp_path, CONFIG)
    t = ProtocolTill(sandbox, sandbox.provision_device(tenant_id="acme"))
    try:
        yield t
    finally:
        t.close()
        sandbox.stop()


def _by_session(till: ProtocolTill, body: dict[str, Any]) -> httpx.Response:
    return till.call("GET", f"/v1/sessions/{body['session_id']}/authorization")


def test_the_answer_by_session_matches_the_ledger_whatever_the_outcome(
    till: ProtocolTill,
) -> None:
    sandbox: Sandbox = till.sandbox
    assert till.enroll(face(91)).status_code == 201
    approved = till.pay_body(same_face(face(91), 1))
    first = till.authorize(approved).json()
    assert first["status"] == "approved"
    found = _by_session(till, approved)
    assert found.status_code == 200
    assert found.json()["authorization_id"] == first["authorization_id"]
    assert found.json()["status"] == "approved"

    declined = till.pay_body(face(92))
    assert till.authorize(declined).json()["status"] == "declined"
    assert _by_session(till, declined).json()["status"] == "declined"

    invalid = {**till.pay_body(same_face(face(91), 2)), "amount_minor": 0}
    assert till.authorize(invalid).status_code == 422
    assert _by_session(till, invalid).status_code == 404
    charged = ledger_size(sandbox)
    for n in range(4):  # with the decline above: five failed faces lock the claim
        assert till.authorize(till.pay_body(face(930 + n))).json()["status"] == "declined"
    locked = till.pay_body(same_face(face(91), 3))
    assert till.authorize(locked).status_code == 429
    assert _by_session(till, locked).status_code == 404
    assert ledger_size(sandbox) == charged + 4  # the 429 recorded nothing


def test_the_answer_by_session_follows_a_step_up(till: ProtocolTill) -> None:
    base = face(95)
    assert till.enroll(base).status_code == 201
    assert till.enroll(same_face(base, 1, noise=0.01), phone="+15550006161").status_code == 201
    body = till.pay_body(same_face(base, 2, noise=0.005), phone=None)
    answer = till.authorize(body).json()
    assert answer["status"] == "step_up", answer
    assert answer["step_up"]["kind"] == "phone_last4"
    assert _by_session(till, body).json()["status"] == "step_up"
    path = f"/v1/authorizations/{answer['authorization_id']}/step-up"
    r = till.call(
        "POST", path, {"phone_last4": PHONE[-4:]}, headers={"Idempotency-Key": "idem_su_1"}
    )
    assert r.json()["status"] == "approved", r.text
    now = _by_session(till, body).json()
    assert (now["authorization_id"], now["status"]) == (answer["authorization_id"], "approved")

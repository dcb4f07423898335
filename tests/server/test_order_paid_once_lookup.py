"""The order lookup has a cap (docs/protocol.md, "Reconcile by order"):
``GET /v1/authorizations?basket_reference=`` answers at most
``ServerConfig.order_payments_listed`` authorizations, the order's approval always, then
the newest others, oldest first, and ``more: true`` when some were left out; on SQLite
and PostgreSQL, over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from server_helpers import Till, face, same_face

from facepay.config import ServerConfig
from facepay.errors import ConfigurationError
from facepay.server import Sandbox

CAP = 3
CONFIG = ServerConfig(device_rate_burst=200, device_rate_per_s=100.0, order_payments_listed=CAP)


@pytest.fixture
def till(database_url: str, tmp_path: Path) -> Iterator[Till]:
    with Sandbox(database_url, key_dir=tmp_path / "keys", config=CONFIG) as sandbox:
        till = Till(sandbox, sandbox.provision_device(tenant_id="acme"))
        assert till.enroll(face(51)).status_code == 201
        yield till
        till.close()


def pay(till: Till, order: str, vector: Any) -> dict[str, Any]:
    body = till.pay_body(vector)
    body["basket_reference"] = order
    r = till.authorize(body)
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def lookup(till: Till, order: str) -> dict[str, Any]:
    r = till.call("GET", f"/v1/authorizations?basket_reference={quote(order, safe='')}")
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def test_an_order_with_more_payments_than_the_cap_keeps_its_approval_and_says_more(
    till: Till,
) -> None:
    order = "ORDER-MANY"
    declined = [pay(till, order, face(950 + n))["authorization_id"] for n in range(4)]
    approved = pay(till, order, same_face(face(51), 1))
    assert approved["status"] == "approved"
    answer = lookup(till, order)
    assert answer["more"] is True
    listed = [a["authorization_id"] for a in answer["authorizations"]]
    # The approval, and the newest of the rest, oldest first: the two oldest declines left out.
    assert listed == [declined[2], declined[3], approved["authorization_id"]]


def test_the_approval_and_a_step_up_are_listed_even_when_newer_declines_fill_the_cap(
    till: Till,
) -> None:
    """Declines written after the approval (attempts that passed the paid check before
    it committed) never push it out of the answer."""
    order = "ORDER-APPROVED-FIRST"
    approved = pay(till, order, same_face(face(51), 2))
    assert till.sandbox.backend is not None
    older_step_up = {
        **approved,
        "authorization_id": "auth_step",
        "status": "step_up",
        "receipt_id": None,
        "masked_payment_method": None,
        "privacy_code": None,
        "step_up": {"kind": "phone_last4", "expires_at": approved["created_at"]},
    }
    with till.sandbox.backend.db.transaction() as tx:  # three racing declines, as written
        for n in range(CAP + 1):
            answer = (
                older_step_up
                if n == CAP
                else {
                    **approved,
                    "authorization_id": f"auth_late{n}",
                    "status": "declined",
                    "decline_reason": "no_match",
                    "receipt_id": None,
                    "masked_payment_method": None,
                    "privacy_code": None,
                }
            )
            tx.execute(
                "INSERT INTO authorizations (authorization_id, tenant_id, device_id,"
                " idempotency_key, request_hash, session_id, amount_minor, currency,"
                " basket_reference, status, decline_reason, response_json, created_at,"
                " updated_at) SELECT ?, tenant_id, device_id, ?, 'h', 's', amount_minor,"
                " currency, basket_reference, ?, ?,"
                " ?, created_at + ?, updated_at FROM authorizations"
                " WHERE authorization_id = ?",
                (
                    answer["authorization_id"],
                    f"late-{n}",
                    answer["status"],
                    answer.get("decline_reason"),
                    json.dumps(answer),
                    -1.0 if n == CAP else 1.0 + n,  # the step-up older than the approval
                    approved["authorization_id"],
                ),
            )
    answer = lookup(till, order)
    assert answer["more"] is True
    listed = [a["authorization_id"] for a in answer["authorizations"]]
    # The approval and the step-up (what blocks another payment), then the newest decline.
    assert listed == ["auth_step", approved["authorization_id"], "auth_late2"]


def test_an_order_within_the_cap_is_listed_whole(till: Till) -> None:
    order = "ORDER-FEW"
    ids = [pay(till, order, face(960 + n))["authorization_id"] for n in range(CAP)]
    answer = lookup(till, order)
    assert answer["more"] is False
    assert [a["authorization_id"] for a in answer["authorizations"]] == ids
    assert lookup(till, "ORDER-NONE") == {
        "basket_reference": "ORDER-NONE",
        "authorizations": [],
        "more": False,
    }


def test_the_cap_is_at_least_one() -> None:
    with pytest.raises(ConfigurationError):
        ServerConfig(order_payments_listed=0)
    assert ServerConfig().order_payments_listed == 50

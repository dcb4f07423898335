"""Issue 12, item 7: ``Idempotency-Key`` is not signed.

Attacked as the review did, with a header-rewriting proxy between the till and the
backend: it rewrites the key of a payment (before the fix: approved under the proxy's key,
while the till's reconcile under its own key got 410 and counted it as not charged),
strips it, adds one, or sends it twice. Then the till reconciles by session. On SQLite and
PostgreSQL.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from requests_kit import Recorded, enroll_shopper, json_bytes, ledger_size, replay, send

from facepay.checkout import DeviceSigner
from facepay.client import FacePayClient
from facepay.crypto import sign_request
from facepay.errors import RequestRejectedError
from facepay.server import Sandbox
from facepay.testing.protocol_till import ProtocolTill, face, same_face


@pytest.fixture
def till(till: ProtocolTill) -> ProtocolTill:
    """conftest's till, with one shopper enrolled."""
    enroll_shopper(till)
    return till


def _key() -> str:
    return f"idem_{uuid.uuid4().hex}"


def _code(r: httpx.Response) -> str:
    return str(r.json()["error"]["code"])


def test_a_proxy_that_rewrites_the_key_gets_the_payment_refused(
    backend: Sandbox, till: ProtocolTill
) -> None:
    body = till.pay_body(same_face(face(1), 1))
    mine = _key()
    # The proxy holds the till's request and forwards it under a key of its own.
    held = _sign_only(till, body, mine)
    rewritten = replay(backend.base_url, held, change={"Idempotency-Key": _key()})
    assert rewritten.status_code == 401, rewritten.text
    assert _code(rewritten) == "bad_signature"
    assert ledger_size(backend) == 0
    # The till's own retry under its own key is the one payment, and its reconcile
    # replays it.
    retried = till.authorize(body, key=mine)
    assert retried.status_code == 200
    assert retried.json()["status"] == "approved"
    again = till.authorize(body, key=mine)
    assert again.json()["authorization_id"] == retried.json()["authorization_id"]
    assert ledger_size(backend) == 1


def _sign_only(till: ProtocolTill, body: dict[str, Any], key: str) -> Recorded:
    """What the till would have sent, signed but not sent (the proxy holds it)."""
    raw = json_bytes(body)
    headers = sign_request(
        till.device.key,
        device_id=till.device.device_id,
        method="POST",
        target="/v1/authorizations",
        body=raw,
        idempotency_key=key,
    )
    headers.update({"content-type": "application/json", "Idempotency-Key": key})
    return Recorded("POST", "/v1/authorizations", raw, headers)


def test_a_proxy_that_strips_adds_or_doubles_the_key_gets_refused(
    backend: Sandbox, till: ProtocolTill
) -> None:
    body = till.pay_body(same_face(face(1), 4))
    held = _sign_only(till, body, _key())
    stripped = dict(held.headers)
    del stripped["Idempotency-Key"]
    with httpx.Client(base_url=backend.base_url) as http:
        r = http.post("/v1/authorizations", content=held.body, headers=stripped)
        assert r.status_code == 401, r.text
        assert _code(r) == "bad_signature"
        doubled = [*held.headers.items(), ("Idempotency-Key", _key())]
        r = http.post("/v1/authorizations", content=held.body, headers=doubled)
        assert r.status_code == 401, r.text
    # A session request carries no key; one added by a proxy breaks its signature.
    _, session = send(till, "/v1/sessions", {"purpose": "pay"})
    added = replay(backend.base_url, session, change={"Idempotency-Key": _key()})
    assert added.status_code == 401
    assert ledger_size(backend) == 0


def test_a_till_that_lost_its_key_reconciles_by_session(
    backend: Sandbox, till: ProtocolTill
) -> None:
    body = till.pay_body(same_face(face(1), 5))
    paid = till.authorize(body)
    assert paid.json()["status"] == "approved"
    signer = DeviceSigner(till.device.key, till.device.device_id)
    with FacePayClient(backend.base_url, signer=signer) as client:
        found = client.authorization_for_session(str(body["session_id"]))
        assert found.authorization_id == paid.json()["authorization_id"]
        assert found.status.value == "approved"
        unused = client.open_session("pay").session_id
        with pytest.raises(RequestRejectedError) as none:
            client.authorization_for_session(unused)
        assert none.value.status == 404
    # Another till of the same tenant learns nothing about it; nor does an unsigned caller.
    other = ProtocolTill(backend, backend.provision_device(tenant_id="acme"))
    try:
        path = f"/v1/sessions/{body['session_id']}/authorization"
        assert other.call("GET", path).status_code == 404
        assert other.call("GET", path, sign=False).status_code == 401
    finally:
        other.close()
    assert ledger_size(backend) == 1

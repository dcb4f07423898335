"""Promises of docs/protocol.md and privacy.md that no attack test tried before.

Each test is a till (or an unsigned caller) sending what a well-behaved client would not,
against a real backend over HTTP on 127.0.0.1, on SQLite and on PostgreSQL:

- "Idempotency-Key (required, 8-128 characters)": a key of 7 or 129 is refused and
  charges nothing; 8 and 128 pay.
- "Unknown fields are refused"; "amounts: integer minor units, > 0; strings, floats and
  booleans are refused"; "currency: ISO 4217 in circulation, upper case".
- "more_views (optional, at most 4)"; "the maximum a till can ask for is 1,095 days ...
  the shorter of the two wins".
- "Every enrollment attempt uses up its session, whatever its outcome" was more than the
  code does: a body refused by validation never reaches the session or the claim. What
  the sentence was for still holds, and is shown: such a refusal is the same for a taken
  and a free number, and stores nothing.
- "Every response carries X-Request-Id and X-FacePay-Protocol: 1"; "every error is JSON,
  never HTML": one request per documented status, from 400 to 429. A signed request to
  "/v1/sessions/" got a bodiless 307 (FastAPI's slash redirect, a second spelling of the
  route); it is now a 404 like any unknown path.
- "POST /v1/tenants ... 200 with the same answer if it exists" (it was not the same: the
  second answer carried a new ``created_at``).
- "ids: 1-64 characters A-Z a-z 0-9 . _ : -, starting with a letter or digit": a device id
  of 65 characters, or one starting with "-", is refused at registration and stores nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from requests_kit import ledger_size, start

from facepay.config import ServerConfig
from facepay.crypto import DeviceKey, sign_request
from facepay.server import Sandbox
from facepay.testing.protocol_till import PHONE, ProtocolTill, face, rows, same_face

FREE = "+15550007777"

# Generous device limits: these tests send many requests from one till and attack other
# rules; the shopper-rights limit is low so that its 429 is cheap to reach.
CONFIG = ServerConfig(device_rate_per_s=1000.0, device_rate_burst=1000, shopper_rights_per_source=2)


@pytest.fixture
def backend(database_url: str, tmp_path: Path) -> Iterator[Sandbox]:
    sandbox = start(database_url, tmp_path, CONFIG)
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def till(backend: Sandbox) -> Iterator[ProtocolTill]:
    t = ProtocolTill(backend, backend.provision_device(tenant_id="acme"))
    try:
        assert t.enroll(face(1)).status_code == 201
        yield t
    finally:
        t.close()


def _error(r: httpx.Response) -> tuple[int, str, list[str]]:
    error = r.json()["error"]
    return r.status_code, error["code"], error["fields"]


def test_an_idempotency_key_outside_8_to_128_characters_charges_nothing(
    till: ProtocolTill, backend: Sandbox
) -> None:
    for key in ("k" * 7, "k" * 129, "idem key", "idem/key1"):
        r = till.call(
            "POST",
            "/v1/authorizations",
            till.pay_body(same_face(face(1), 1)),
            headers={"Idempotency-Key": key},
        )
        assert _error(r)[:2] == (422, "idempotency_key_missing"), (key, r.text)
    assert ledger_size(backend) == 0
    for key in ("k" * 8, "k" * 128):
        r = till.authorize(till.pay_body(same_face(face(1), 2)), key=key)
        assert r.json()["status"] == "approved", r.text
    assert ledger_size(backend) == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"surprise": 1}, "*"),  # an unknown field: named by no protocol name
        ({"amount_minor": "1999"}, "amount_minor"),
        ({"amount_minor": 19.99}, "amount_minor"),
        ({"amount_minor": True}, "amount_minor"),
        ({"amount_minor": 0}, "amount_minor"),
        ({"amount_minor": -1999}, "amount_minor"),
        ({"currency": "eur"}, "currency"),
        ({"currency": "DEM"}, "currency"),  # replaced by the euro in 2002
        ({"currency": "XXX"}, "currency"),  # "no currency"
        ({"currency": "ZZZ"}, "currency"),
    ],
)
def test_a_payment_body_the_protocol_refuses_charges_nothing(
    till: ProtocolTill, backend: Sandbox, change: dict[str, Any], field: str
) -> None:
    body = {**till.pay_body(same_face(face(1), 3)), **change}
    r = till.authorize(body)
    assert _error(r) == (422, "validation_failed", [field]), r.text
    assert ledger_size(backend) == 0
    # The refused request was not an answer: the same session still pays once, correctly.
    fixed = {k: v for k, v in body.items() if k != "surprise"}
    fixed.update(amount_minor=1999, currency="EUR")
    assert till.authorize(fixed).json()["status"] == "approved"
    assert ledger_size(backend) == 1


def test_an_enrollment_over_the_documented_limits_stores_nothing(
    till: ProtocolTill, backend: Sandbox
) -> None:
    before = rows(backend, "SELECT shopper_id FROM shoppers")
    five = till.enroll_body(
        face(2), phone=FREE, more_views=[same_face(face(2), i) for i in range(5)]
    )
    assert _error(till.call("POST", "/v1/enrollments", five)) == (
        422,
        "validation_failed",
        ["more_views"],
    )
    longer = till.enroll_body(face(2), phone=FREE)
    longer["consent"] = {**longer["consent"], "retention_days": 1096}
    assert _error(till.call("POST", "/v1/enrollments", longer)) == (
        422,
        "validation_failed",
        ["consent.retention_days"],
    )
    assert rows(backend, "SELECT shopper_id FROM shoppers") == before
    # Four more views and a shorter retention are taken; the shorter of the till's and
    # the backend's retention is the one stored.
    four = till.enroll_body(
        face(2), phone=FREE, more_views=[same_face(face(2), i) for i in range(4)]
    )
    four["consent"] = {**four["consent"], "retention_days": 30}
    enrolled = till.call("POST", "/v1/enrollments", four)
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json()["retention_days"] == 30
    shopper = enrolled.json()["shopper_id"]
    assert rows(backend, f"SELECT retention_days FROM shoppers WHERE shopper_id = '{shopper}'") == [
        (30,)
    ]


def test_a_body_refused_by_validation_tells_a_taken_number_from_a_free_one_nothing(
    till: ProtocolTill, backend: Sandbox
) -> None:
    """The enrollment probe of issue 12 (item 5), tried with bodies the backend refuses
    before it reads the claim: the answer is the same for the enrolled number and a free
    one, and nothing is stored. Such a refusal is not an answer (protocol.md, "A 4xx error
    is not an answer"): it does not spend the session, which then enrolls once."""
    before = rows(backend, "SELECT shopper_id FROM shoppers")
    answers = []
    for phone in (PHONE, FREE):
        body = till.enroll_body(face(3), phone=phone)
        body["consent"] = {**body["consent"], "retention_days": 0}
        answers.append(_error(till.call("POST", "/v1/enrollments", body)))
        body["surprise"] = True
        answers.append(_error(till.call("POST", "/v1/enrollments", body)))
    assert answers[0] == answers[2] == (422, "validation_failed", ["consent.retention_days"])
    assert answers[1] == answers[3]
    assert rows(backend, "SELECT shopper_id FROM shoppers") == before
    body = till.enroll_body(face(3), phone=FREE)
    refused = dict(body, more_views=[body["sealed_template"]] * 5)
    assert _error(till.call("POST", "/v1/enrollments", refused))[0] == 422
    assert till.call("POST", "/v1/enrollments", body).status_code == 201
    again = dict(body, claim={"kind": "phone", "value": "+15550000009"})
    assert _error(till.call("POST", "/v1/enrollments", again))[:2] == (410, "session_used")


def _revoked_till(backend: Sandbox) -> ProtocolTill:
    device = backend.provision_device(tenant_id="acme")
    assert backend.backend is not None
    backend.backend.revoke_device(device.device_id)
    return ProtocolTill(backend, device)


def test_every_error_status_is_json_with_a_request_id_and_the_protocol_version(
    till: ProtocolTill, backend: Sandbox
) -> None:
    admin = {"Authorization": f"Bearer {backend.admin_token}"}
    json_type = {"content-type": "application/json"}
    http = till.http
    used = till.pay_body(same_face(face(1), 4))
    assert till.authorize(used).json()["status"] == "approved"
    revoked = _revoked_till(backend)
    rights = {"privacy_code": "AAAA-BBBB-CCCC", "claim": {"kind": "phone", "value": FREE}}
    answers = {
        (400, "malformed_request"): http.post("/v1/devices", content=b"{no", headers=json_type),
        (401, "missing_signature"): till.call(
            "POST", "/v1/sessions", {"purpose": "pay"}, sign=False
        ),
        (401, "admin_token_invalid"): http.post(
            "/v1/tenants", json={"tenant_id": "x1"}, headers={"Authorization": "Bearer nope"}
        ),
        (403, "device_revoked"): revoked.call("POST", "/v1/sessions", {"purpose": "pay"}),
        (403, "shopper_access_denied"): http.post("/v1/shoppers/export", json=rights),
        (404, "not_found"): http.get("/v1/nope"),
        (404, "not_found", "slash"): till.call("POST", "/v1/sessions/", {"purpose": "pay"}),
        (405, "method_not_allowed"): http.delete("/v1/keys"),
        (409, "device_already_registered"): http.post(
            "/v1/devices",
            json={
                "tenant_id": "acme",
                "store_id": "s1",
                "lane_id": "l1",
                "device_id": till.device.device_id,
                "public_key": DeviceKey.generate().public_key.to_base64(),
            },
            headers=admin,
        ),
        (410, "session_used"): till.authorize(used),
        (413, "body_too_large"): http.post(
            "/v1/devices", content=b" " * (CONFIG.max_body_bytes + 1), headers=json_type
        ),
        (415, "unsupported_media_type"): http.post(
            "/v1/tenants", content=b"tenant_id=x2", headers={**admin, "content-type": "text/plain"}
        ),
        (422, "validation_failed"): http.post("/v1/tenants", json={"tenant": "x3"}, headers=admin),
    }
    for _ in range(CONFIG.shopper_rights_per_source):
        http.post("/v1/shoppers/delete", json=rights)
    answers[(429, "rate_limited")] = http.post("/v1/shoppers/delete", json=rights)
    revoked.close()
    for (status, code, *_), r in answers.items():
        assert r.status_code == status, (code, r.text)
        assert r.headers["content-type"].startswith("application/json"), code
        assert r.json()["error"]["code"] == code, r.text
        assert r.headers["X-FacePay-Protocol"] == "1", code
        assert r.headers["X-Request-Id"] == r.json()["error"]["request_id"], code
    assert "Retry-After" in answers[(429, "rate_limited")].headers
    assert ledger_size(backend) == 1
    assert (
        rows(backend, "SELECT tenant_id FROM tenants WHERE tenant_id IN ('x1', 'x2', 'x3')") == []
    )


def test_creating_a_tenant_twice_answers_200_with_the_same_registration(
    backend: Sandbox,
) -> None:
    admin = {"Authorization": f"Bearer {backend.admin_token}"}
    with httpx.Client(base_url=backend.base_url, timeout=30.0) as http:
        first = http.post("/v1/tenants", json={"tenant_id": "shop-2"}, headers=admin)
        again = http.post("/v1/tenants", json={"tenant_id": "shop-2"}, headers=admin)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()


@pytest.mark.parametrize("device_id", ["d" * 65, "-kiosk", ".kiosk", "kiosk 3", "kiosk/3", ""])
def test_a_device_id_outside_the_id_rule_is_refused_at_registration(
    backend: Sandbox, device_id: str
) -> None:
    backend.provision_device(tenant_id="acme")  # the tenant exists
    before = rows(backend, "SELECT device_id FROM devices")
    r = httpx.post(
        f"{backend.base_url}/v1/devices",
        json={
            "tenant_id": "acme",
            "store_id": "s1",
            "lane_id": "l1",
            "device_id": device_id,
            "public_key": DeviceKey.generate().public_key.to_base64(),
        },
        headers={"Authorization": f"Bearer {backend.admin_token}"},
    )
    assert _error(r) == (422, "validation_failed", ["device_id"]), r.text
    assert rows(backend, "SELECT device_id FROM devices") == before
    ok = "d" * 64
    registered = backend.provision_device(tenant_id="acme", device_id=ok)
    assert registered.device_id == ok


@pytest.mark.parametrize(
    "rewritten",
    ["/v1/authorizations?amount_minor=1", "/v1/%61uthorizations", "/v1/authorizations?x"],
)
def test_a_proxy_that_rewrites_the_target_gets_the_payment_refused(
    till: ProtocolTill, backend: Sandbox, rewritten: str
) -> None:
    """protocol.md: the target is signed "exactly as sent on the wire, percent-encoding
    untouched": a proxy that adds a query or re-encodes the path (the same route to a
    router) breaks the signature, and nothing is charged."""
    body = json.dumps(till.pay_body(same_face(face(1), 5))).encode()
    key = "idem_rewritten_target"
    headers = sign_request(
        till.device.key,
        device_id=till.device.device_id,
        method="POST",
        target="/v1/authorizations",
        body=body,
        idempotency_key=key,
    )
    headers.update({"content-type": "application/json", "Idempotency-Key": key})
    r = till.http.post(rewritten, content=body, headers=headers)
    assert _error(r)[:2] == (401, "bad_signature"), r.text
    assert ledger_size(backend) == 0

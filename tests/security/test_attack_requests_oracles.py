"""Issue 12, item 12: what an unsigned caller learns, and card numbers where none belong.

Attacked as the review did: unsigned and forged requests probe whether a device id exists
or is revoked; a till (or a POS integration) puts a 16-digit card number into
``basket_reference``, the ``Idempotency-Key`` or the liveness evidence, or sends one as a
JSON key and reads the 422. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from requests_kit import enroll_shopper, ledger_size

from facepay.crypto import DeviceKey
from facepay.server import ProvisionedDevice, Sandbox
from facepay.testing.protocol_till import ProtocolTill, face, rows, same_face

PAN = "4111111111111111"  # the Visa test number: Luhn-valid, 16 digits


@pytest.fixture
def till(till: ProtocolTill) -> ProtocolTill:
    """conftest's till, with one shopper enrolled."""
    enroll_shopper(till)
    return till


def _without_request_id(r: httpx.Response) -> tuple[int, dict[str, Any]]:
    error = dict(r.json()["error"])
    error.pop("request_id")
    return r.status_code, error


def test_a_forger_cannot_tell_unknown_registered_and_revoked_devices_apart(
    backend: Sandbox,
) -> None:
    backend.provision_device(tenant_id="acme", device_id="kiosk-live")
    backend.provision_device(tenant_id="acme", device_id="kiosk-gone")
    assert backend.backend is not None
    backend.backend.revoke_device("kiosk-gone")
    answers = []
    for device_id in ("kiosk-live", "kiosk-gone", "kiosk-never"):
        forger = ProtocolTill(
            backend, ProvisionedDevice(device_id, "acme", "s", "l", DeviceKey.generate())
        )
        try:
            answers.append(
                _without_request_id(forger.call("POST", "/v1/sessions", {"purpose": "pay"}))
            )
            headers = {"X-FacePay-Device": device_id}
            unsigned = forger.call(
                "POST", "/v1/sessions", {"purpose": "pay"}, sign=False, headers=headers
            )
            answers.append(_without_request_id(unsigned))
        finally:
            forger.close()
    forged, unsigned = answers[0::2], answers[1::2]
    assert forged[0] == forged[1] == forged[2]
    assert forged[0][0] == 401
    assert forged[0][1]["code"] == "bad_signature"
    assert unsigned[0] == unsigned[1] == unsigned[2]
    assert unsigned[0][1]["code"] == "missing_signature"


def _pay(till: ProtocolTill, body: dict[str, Any], key: str | None = None) -> httpx.Response:
    return till.authorize(body, key=key)


@pytest.mark.parametrize(
    "where",
    [
        "basket_reference",
        "basket_reference_spaced",
        "idempotency_key",
        "evidence_value",
        "evidence_key",
        "challenge",
    ],
)
def test_a_card_number_is_refused_wherever_a_payment_carries_free_text(
    backend: Sandbox, till: ProtocolTill, where: str
) -> None:
    body = till.pay_body(same_face(face(1), 1))
    key = f"idem_{uuid.uuid4().hex}"
    if where == "basket_reference":
        body["basket_reference"] = f"order-{PAN}"
    elif where == "basket_reference_spaced":
        body["basket_reference"] = "4111-1111-1111-1111"
    elif where == "idempotency_key":
        key = f"idem_{PAN}"
    elif where == "evidence_value":
        body["liveness"]["evidence"] = {"note": f"card {PAN}"}
    elif where == "evidence_key":
        body["liveness"]["evidence"] = {PAN: 1.0}
    else:
        body["liveness"]["challenges"] = ["blink", PAN]
    r = _pay(till, body, key)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "card_number_rejected"
    assert "1111" not in json.dumps(_without_request_id(r)[1])
    assert ledger_size(backend) == 0
    audit = rows(backend, "SELECT details_json FROM audit_log")
    assert not any("1111111111" in str(row[0]) for row in audit)


@pytest.mark.parametrize(
    "payload",
    [
        {"purpose": "pay", PAN: "x"},
        {"purpose": "pay", "favourite_colour": "teal"},
        {"purpose": PAN},
        {PAN: {PAN: PAN}},
    ],
)
def test_a_422_never_echoes_the_requests_keys_or_values(
    till: ProtocolTill, payload: dict[str, Any]
) -> None:
    r = till.call("POST", "/v1/sessions", payload)
    assert r.status_code == 422, r.text
    _, error = _without_request_id(r)  # (a random request id may hold "1111")
    for text in (PAN, "1111", "favourite", "teal"):
        assert text not in json.dumps(error), r.text
    assert error["fields"], error  # it still says where the problem is


def test_genuine_references_and_keys_still_pay(till: ProtocolTill) -> None:
    body = till.pay_body(same_face(face(1), 2))
    body["basket_reference"] = "pos-2026-12-07/4711#3"
    body["liveness"]["evidence"] = {"blink_ms": 180, "note": "ean 4006381333931"}
    r = _pay(till, body, f"idem-{uuid.uuid4()}")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved"

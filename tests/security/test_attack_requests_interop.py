"""Issue 15, the server half of "a till written in another language": what such a till
sees of the backend must be what docs/protocol.md says, and the served OpenAPI document
must be enough to sign a request.

Tried as a Node/Java/.NET team would: a client that knows nothing but the OpenAPI
document builds and signs a request; non-JSON bodies on the operator and shopper
endpoints; malformed signature headers; authorize's status and its
``Idempotent-Replayed`` header. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import uuid
from typing import Any

import httpx
import pytest
from requests_kit import enroll_shopper

from facepay.crypto import DeviceKey, sign_request
from facepay.server import Sandbox
from facepay.testing.protocol_till import ProtocolTill, face, same_face


def _b64url(raw: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_a_client_generated_from_the_openapi_document_can_sign_and_pay(
    backend: Sandbox, till: ProtocolTill
) -> None:
    """Only the document's words: the security scheme names the headers and describes
    the canonical request; the operation says which scheme and that the key is needed."""
    enroll_shopper(till)
    doc = httpx.get(f"{backend.base_url}/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    operation = doc["paths"]["/v1/authorizations"]["post"]
    (required,) = operation["security"]
    headers_by_role = {name: schemes[name]["name"] for name in required}
    assert {schemes[name]["in"] for name in required} == {"header"}
    assert len(headers_by_role) == 4
    idempotency = [p for p in operation["parameters"] if p["in"] == "header"]
    assert [(p["name"], p["required"]) for p in idempotency] == [("Idempotency-Key", True)]
    assert "Idempotent-Replayed" in operation["responses"]["200"]["headers"]
    signature_scheme = schemes["FacePaySignature"]["description"]
    assert "FACEPAY-ED25519-V1" in signature_scheme
    assert "Idempotency-Key" in signature_scheme
    # Build the request as the description says, with the raw Ed25519 primitive.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.from_private_bytes(secrets.token_bytes(32))
    device = DeviceKey(private.private_bytes_raw())
    provisioned = backend.provision_device(device, tenant_id="acme")
    body = json.dumps(till.pay_body(same_face(face(1), 1))).encode()
    key = f"idem_{uuid.uuid4().hex}"
    ts, nonce = str(int(time.time())), _b64url(secrets.token_bytes(16))
    lines = ["FACEPAY-ED25519-V1", "POST", "/v1/authorizations", provisioned.device_id, ts,
             nonce, hashlib.sha256(body).hexdigest(), key]  # fmt: skip
    signature = _b64url(private.sign("\n".join(lines).encode()))
    values = {
        "FacePayDevice": provisioned.device_id,
        "FacePayTimestamp": ts,
        "FacePayNonce": nonce,
        "FacePaySignature": signature,
    }
    headers = {headers_by_role[name]: values[name] for name in required}
    headers.update({"Idempotency-Key": key, "Content-Type": "application/json"})
    r = httpx.post(f"{backend.base_url}/v1/authorizations", content=body, headers=headers)
    # The session belongs to the other till: refused after authentication, not before.
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "session_mismatch"
    for name, op in doc["paths"]["/v1/devices"].items():
        assert op["security"] == [{"EnrollmentToken": []}], name
    assert doc["paths"]["/v1/health"]["get"]["security"] == []


def test_authorize_answers_200_and_says_when_it_is_a_replay(till: ProtocolTill) -> None:
    enroll_shopper(till)
    body = till.pay_body(same_face(face(1), 2))
    key = f"idem_{uuid.uuid4().hex}"
    first = till.authorize(body, key=key)
    again = till.authorize(body, key=key)
    assert (first.status_code, first.headers["Idempotent-Replayed"]) == (200, "false")
    assert (again.status_code, again.headers["Idempotent-Replayed"]) == (200, "true")
    assert again.json() == first.json()


@pytest.mark.parametrize(
    "path",
    [
        "/v1/devices",
        "/v1/tenants",
        "/v1/shoppers/export",
        "/v1/shoppers/withdraw-consent",
        "/v1/shoppers/delete",
    ],
)
@pytest.mark.parametrize("body", [b"tenant_id=acme", b'{"not": "valid for this model"}'])
def test_a_non_json_content_type_is_415_everywhere(
    backend: Sandbox, path: str, body: bytes
) -> None:
    r = httpx.post(
        f"{backend.base_url}{path}",
        content=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": f"Bearer {backend.admin_token}",
        },
    )
    assert r.status_code == 415, r.text
    assert r.json()["error"]["code"] == "unsupported_media_type"


def _malformed(headers: dict[str, str], which: str) -> dict[str, str]:
    bad = dict(headers)
    if which == "short_signature":
        bad["X-FacePay-Signature"] = bad["X-FacePay-Signature"][:40]
    elif which == "timestamp_with_letters":
        bad["X-FacePay-Timestamp"] = "17e8"
    elif which == "nonce_too_short":
        bad["X-FacePay-Nonce"] = "abc"
    elif which == "device_id_with_spaces":
        bad["X-FacePay-Device"] = "kiosk 1"
    else:
        del bad["X-FacePay-Nonce"]
    return bad


@pytest.mark.parametrize(
    "which",
    [
        "short_signature",
        "timestamp_with_letters",
        "nonce_too_short",
        "device_id_with_spaces",
        "missing_nonce",
    ],
)
def test_malformed_signature_headers_answer_missing_signature(
    till: ProtocolTill, which: str
) -> None:
    body = b'{"purpose":"pay"}'
    signed: dict[str, Any] = sign_request(
        till.device.key,
        device_id=till.device.device_id,
        method="POST",
        target="/v1/sessions",
        body=body,
    )
    headers = {**_malformed(signed, which), "content-type": "application/json"}
    r = till.http.post("/v1/sessions", content=body, headers=headers)
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "missing_signature"
    # Well formed but wrong: bad_signature.
    wrong = dict(signed, **{"X-FacePay-Signature": _b64url(b"\x00" * 64)})
    r = till.http.post(
        "/v1/sessions", content=body, headers={**wrong, "content-type": "application/json"}
    )
    assert r.json()["error"]["code"] == "bad_signature"

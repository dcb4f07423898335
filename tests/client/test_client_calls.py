"""The protocol calls as the client builds them (MockTransport plays a scripted backend)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone

import httpx
import pytest

from facepay import wire
from facepay.client import FacePayClient, new_idempotency_key
from facepay.config import ClientConfig
from facepay.errors import (
    AuthenticationError,
    IdempotencyConflictError,
    SessionExpiredError,
    TransportError,
)
from facepay.testing import SignedAnswers

NOW = datetime(2026, 11, 26, 23, 0, tzinfo=timezone.utc)


class Signer:
    def __init__(self) -> None:
        self.paths: list[str] = []

    def sign_request(
        self, method: str, path: str, body: bytes, idempotency_key: str | None = None
    ) -> Mapping[str, str]:
        self.paths.append(path)
        return {wire.HEADER_DEVICE: "kiosk-1", wire.HEADER_NONCE: f"nonce{len(self.paths):012d}"}


def sealed() -> wire.SealedTemplateWire:
    return wire.SealedTemplateWire(
        key_id="k1",
        suite="x25519-hkdf-sha256-chacha20poly1305",
        encapsulated_key=wire.b64encode(b"e" * 32),
        ciphertext=wire.b64encode(b"c" * 64),
        session_id="ses_1",
    )


def authorize_request() -> wire.AuthorizeRequest:
    return wire.AuthorizeRequest(
        session_id="ses_1",
        amount_minor=1999,
        currency="EUR",
        basket_reference="pos-4711",
        sealed_template=sealed(),
        liveness=wire.LivenessSummary(decision="live", challenges=("blink",)),
        claim=wire.Claim(kind=wire.ClaimKind.PHONE, value="+4915112345678"),
    )


def approved(request: httpx.Request, auth_id: str = "auth_1") -> httpx.Response:
    body = json.loads(request.content)
    return httpx.Response(
        201,
        json={
            "authorization_id": auth_id,
            "status": "approved",
            "amount_minor": body["amount_minor"],
            "currency": body["currency"],
            "basket_reference": body["basket_reference"],
            "created_at": NOW.isoformat(),
            "receipt_id": "rcpt_1",
            "masked_payment_method": "Visa •••• 4242",
            "privacy_code": "K7QD-3MXA-9P2F",
        },
    )


def test_authorize_sends_a_signed_validated_body_under_its_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return approved(request)

    signer = Signer()
    key = new_idempotency_key()
    with FacePayClient(
        "http://127.0.0.1:1", signer=signer, transport=SignedAnswers(httpx.MockTransport(handler))
    ) as c:
        answer = c.authorize(authorize_request(), idempotency_key=key)
    assert answer.status is wire.AuthorizationStatus.APPROVED
    assert answer.masked_payment_method == "Visa •••• 4242"
    (request,) = seen
    assert request.method == "POST"
    assert request.url.path == "/v1/authorizations"
    assert request.headers["Idempotency-Key"] == key
    assert request.headers[wire.HEADER_PROTOCOL] == wire.PROTOCOL_VERSION
    assert request.headers["Content-Type"] == "application/json"
    assert signer.paths == ["/v1/authorizations"]
    # What went out is exactly what the backend's own model accepts.
    assert wire.AuthorizeRequest.model_validate_json(request.content) == authorize_request()


def test_reconcile_after_a_lost_answer_replays_the_same_request_under_the_same_key() -> None:
    """The first answer is lost on the way back; reconcile gets the stored answer."""
    decided: dict[str, tuple[bytes, httpx.Response]] = {}
    charges: list[str] = []

    def backend(request: httpx.Request) -> httpx.Response:
        key = request.headers["Idempotency-Key"]
        if key in decided:
            body, answer = decided[key]
            if body != request.content:
                return httpx.Response(409, json={"error": {"code": "idempotency_conflict"}})
            return answer
        charges.append(key)
        answer = approved(request, auth_id=f"auth_{len(charges)}")
        decided[key] = (request.content, answer)
        raise httpx.ReadTimeout("answer lost", request=request)

    config = ClientConfig(max_attempts=1)  # make the first call fail, as on a flaky uplink
    c = FacePayClient(
        "http://x", transport=SignedAnswers(httpx.MockTransport(backend)), config=config
    )
    key = new_idempotency_key()
    request = authorize_request()
    with pytest.raises(TransportError):
        c.authorize(request, idempotency_key=key)
    answer = c.reconcile(request, idempotency_key=key)
    assert answer.authorization_id == "auth_1"
    assert charges == [key]  # charged exactly once
    # A different body under the same key is refused, never charged.
    other = request.model_copy(update={"amount_minor": 2999})
    with pytest.raises(IdempotencyConflictError):
        c.reconcile(other, idempotency_key=key)
    assert charges == [key]


def test_a_bad_idempotency_key_is_refused_before_anything_is_sent() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing may be sent")

    c = FacePayClient("http://x", transport=SignedAnswers(httpx.MockTransport(handler)))
    with pytest.raises(ValueError, match="idempotency_key"):
        c.authorize(authorize_request(), idempotency_key="short")


def test_session_and_step_up_and_shopper_rights_paths() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path
        if path == "/v1/sessions":
            return httpx.Response(
                201,
                json={
                    "session_id": "ses_9",
                    "purpose": json.loads(request.content)["purpose"],
                    "server_nonce": wire.b64encode(b"n" * 32),
                    "liveness_seed": wire.b64encode(b"s" * 32),
                    "expires_at": NOW.isoformat(),
                    "sealing_key_id": "k1",
                },
            )
        if path.endswith("/step-up"):
            return httpx.Response(410, json={"error": {"code": "session_expired"}})
        return httpx.Response(403, json={"error": {"code": "shopper_access_denied"}})

    signer = Signer()
    c = FacePayClient(
        "http://x", signer=signer, transport=SignedAnswers(httpx.MockTransport(handler))
    )
    info = c.open_session("enroll")
    assert (info.session_id, info.purpose) == ("ses_9", wire.SessionPurpose.ENROLL)
    with pytest.raises(SessionExpiredError):
        c.answer_step_up("auth/1", "5678", idempotency_key="idem_step_1")
    assert seen[-1].url.raw_path == b"/v1/authorizations/auth%2F1/step-up"
    assert seen[-1].headers["Idempotency-Key"] == "idem_step_1"
    claim = wire.Claim(kind=wire.ClaimKind.PHONE, value="+4915112345678")
    with pytest.raises(AuthenticationError) as err:
        c.delete_shopper("K7QD-3MXA-9P2F", claim)
    assert err.value.code == "shopper_access_denied"
    # Sessions and step-ups are signed; shopper rights are not (a shopper's own phone).
    assert signer.paths == ["/v1/sessions", "/v1/authorizations/auth%2F1/step-up"]
    assert wire.HEADER_SIGNATURE not in seen[-1].headers

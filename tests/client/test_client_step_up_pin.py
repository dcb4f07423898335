"""The clients' step-up answer for a ``pin`` step-up: the whole ``StepUpRequest`` (its
``sealed_pin``, sealed by facepay.checkout) goes on the wire as it is, sync and async;
4 digits still mean ``phone_last4``."""

from __future__ import annotations

import json

import httpx
import pytest

from facepay import wire
from facepay.client import AsyncFacePayClient, FacePayClient
from facepay.testing import SignedAnswers

SEALED = wire.b64encode(b"FPB\x01" + bytes(60))
ANSWER = {
    "authorization_id": "auth_1",
    "status": "approved",
    "amount_minor": 100,
    "currency": "EUR",
    "basket_reference": "pos-1",
    "created_at": "2026-11-26T23:00:00Z",
}


def _recording(bodies: list[dict[str, object]]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json=ANSWER)

    return SignedAnswers(httpx.MockTransport(handler))


def test_the_sync_client_sends_a_sealed_pin_or_phone_digits() -> None:
    bodies: list[dict[str, object]] = []
    with FacePayClient("http://x", transport=_recording(bodies)) as client:
        answer = client.answer_step_up(
            "auth_1", wire.StepUpRequest(sealed_pin=SEALED), idempotency_key="idem_pin_1"
        )
        assert answer.status is wire.AuthorizationStatus.APPROVED
        client.answer_step_up("auth_1", "5678", idempotency_key="idem_pin_2")
    assert bodies == [
        {"phone_last4": None, "sealed_pin": SEALED},
        {"phone_last4": "5678", "sealed_pin": None},
    ]


async def test_the_async_client_sends_the_same() -> None:
    bodies: list[dict[str, object]] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json=ANSWER)

    async with AsyncFacePayClient(
        "http://x", transport=SignedAnswers(httpx.MockTransport(handler))
    ) as client:
        await client.answer_step_up(
            "auth_1", wire.StepUpRequest(sealed_pin=SEALED), idempotency_key="idem_pin_3"
        )
    assert bodies == [{"phone_last4": None, "sealed_pin": SEALED}]


def test_a_step_up_request_carries_exactly_one_answer() -> None:
    with pytest.raises(ValueError, match="not both"):
        wire.StepUpRequest()
    with pytest.raises(ValueError, match="not both"):
        wire.StepUpRequest(phone_last4="5678", sealed_pin=SEALED)
    with pytest.raises(ValueError, match="pattern"):
        wire.StepUpRequest(phone_last4="56789")

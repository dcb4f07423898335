"""The clients against the real reference backend on 127.0.0.1 (uvicorn, SQLite, real keys).

The sync ``httpx.Client`` cannot use ASGITransport, so this is a real server over real
loopback HTTP. The only fake is at the transport seam: ``LosingTransport`` delivers a
request to the real server and then drops the answer, as a flaky store uplink does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timezone

import httpx
import numpy as np
import pytest

from facepay import wire
from facepay.checkout import DeviceSigner
from facepay.client import AsyncFacePayClient, FacePayClient, new_idempotency_key
from facepay.config import ClientConfig
from facepay.crypto import BackendPublicKey, DeviceKey, SealingSuite, seal_template
from facepay.errors import (
    AuthenticationError,
    IdempotencyConflictError,
    RequestRejectedError,
    SessionExpiredError,
    TransportError,
)
from facepay.server import ProvisionedDevice, Sandbox
from facepay.types import FaceTemplate

PHONE = wire.Claim(kind=wire.ClaimKind.PHONE, value="+4915112345678")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


@pytest.fixture
def device(sandbox: Sandbox) -> ProvisionedDevice:
    return sandbox.provision_device()


def template(seed: int, noise: float = 0.0) -> FaceTemplate:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=128).astype(np.float32)
    v /= np.linalg.norm(v)
    if noise:
        v = v + np.random.default_rng(seed + 1000).normal(scale=noise, size=128).astype(np.float32)
    return FaceTemplate(vector=v * 0.9, model_id="dlib-resnet-v1", frames_fused=3)


def sealed_for(
    client: FacePayClient, t: FaceTemplate, session: wire.CheckoutSessionInfo
) -> wire.SealedTemplateWire:
    keys = client.get_keys()
    info = next(k for k in keys.keys if k.key_id == session.sealing_key_id)
    public = BackendPublicKey(
        key_id=info.key_id,
        suite=SealingSuite.parse(info.suite),
        raw=wire.b64decode(info.public_key),
    )
    return wire.SealedTemplateWire.from_sealed(
        seal_template(t, public, session_id=session.session_id)
    )


def enroll(
    client: FacePayClient, t: FaceTemplate, claim: wire.Claim = PHONE
) -> wire.EnrollmentResponse:
    session = client.open_session("enroll")
    return client.enroll(
        wire.EnrollmentRequest(
            session_id=session.session_id,
            sealed_template=sealed_for(client, t, session),
            consent=wire.ConsentRecord(
                text_version="2026-01-en", accepted_at=datetime.now(timezone.utc)
            ),
            payment_method_token="tok_visa_4242",
            claim=claim,
        )
    )


def authorize_request(
    client: FacePayClient, t: FaceTemplate, amount: int = 1999, claim: wire.Claim = PHONE
) -> wire.AuthorizeRequest:
    session = client.open_session("pay")
    return wire.AuthorizeRequest(
        session_id=session.session_id,
        amount_minor=amount,
        currency="EUR",
        # One order each: the backend approves an order once (docs/protocol.md).
        basket_reference=f"pos-{uuid.uuid4().hex[:8]}",
        sealed_template=sealed_for(client, t, session),
        liveness=wire.LivenessSummary(decision="live", challenges=("blink",)),
        claim=claim,
    )


def signed_client(sandbox: Sandbox, device: ProvisionedDevice, **kw: object) -> FacePayClient:
    return FacePayClient(sandbox.base_url, signer=DeviceSigner(device.key, device.device_id), **kw)  # type: ignore[arg-type]


class LosingTransport(httpx.BaseTransport):
    """Sends each request to the real server, then loses the first ``lose`` answers."""

    def __init__(self, lose: int) -> None:
        self._inner = httpx.HTTPTransport()
        self.lose = lose
        self.delivered = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        response.read()
        self.delivered += 1
        if request.url.path == "/v1/authorizations" and self.lose > 0:
            self.lose -= 1
            raise httpx.ReadTimeout("answer lost on the way back", request=request)
        return response


def test_enroll_then_authorize_and_shopper_rights(
    sandbox: Sandbox, device: ProvisionedDevice
) -> None:
    claim = wire.Claim(kind=wire.ClaimKind.PHONE, value="+4915100000001")
    with signed_client(sandbox, device) as c:
        assert c.health().protocol_version == wire.PROTOCOL_VERSION
        enrolled = enroll(c, template(1), claim)
        answer = c.authorize(
            authorize_request(c, template(1, noise=0.01), claim=claim),
            idempotency_key=new_idempotency_key(),
        )
        assert answer.status is wire.AuthorizationStatus.APPROVED
        assert answer.privacy_code == enrolled.privacy_code
        exported = c.export_shopper(enrolled.privacy_code, claim)
        assert exported.shopper_id == enrolled.shopper_id
        assert [a.authorization_id for a in exported.authorizations] == [answer.authorization_id]
        receipt = c.delete_shopper(enrolled.privacy_code, claim)
        assert receipt.shopper_id == enrolled.shopper_id
        with pytest.raises(AuthenticationError) as err:
            c.export_shopper(enrolled.privacy_code, claim)
        assert err.value.code == "shopper_access_denied"


def test_a_lost_answer_is_retried_under_the_same_key_and_charged_once(
    sandbox: Sandbox, device: ProvisionedDevice
) -> None:
    claim = wire.Claim(kind=wire.ClaimKind.PHONE, value="+4915100000002")
    with signed_client(sandbox, device) as setup:
        enroll(setup, template(2), claim)
    transport = LosingTransport(lose=1)
    with signed_client(
        sandbox, device, transport=transport, config=ClientConfig(backoff_initial_s=0.01)
    ) as c:
        request = authorize_request(c, template(2, noise=0.01), amount=4242, claim=claim)
        key = new_idempotency_key()
        answer = c.authorize(request, idempotency_key=key)  # 1st answer lost, retry replays
    assert answer.status is wire.AuthorizationStatus.APPROVED
    rows = [r for r in sandbox.ledger() if r["idempotency_key"] == key]
    assert len(rows) == 1
    assert rows[0]["id"] == answer.authorization_id
    assert rows[0]["amount_minor"] == 4242


def test_reconcile_after_the_client_gave_up(sandbox: Sandbox, device: ProvisionedDevice) -> None:
    claim = wire.Claim(kind=wire.ClaimKind.PHONE, value="+4915100000003")
    with signed_client(sandbox, device) as setup:
        enroll(setup, template(3), claim)
    transport = LosingTransport(lose=5)
    with signed_client(
        sandbox,
        device,
        transport=transport,
        config=ClientConfig(max_attempts=2, backoff_initial_s=0.01),
    ) as c:
        request = authorize_request(c, template(3, noise=0.01), claim=claim)
        key = new_idempotency_key()
        with pytest.raises(TransportError):
            c.authorize(request, idempotency_key=key)
        assert transport.delivered >= 3  # 1 session + 2 authorize attempts reached the server
        transport.lose = 0  # the uplink is back
        first = c.reconcile(request, idempotency_key=key)
        again = c.reconcile(request, idempotency_key=key)
        assert first == again
        assert first.status is wire.AuthorizationStatus.APPROVED
        # Same key, another amount: refused, nothing charged.
        with pytest.raises(IdempotencyConflictError):
            c.reconcile(request.model_copy(update={"amount_minor": 1}), idempotency_key=key)
    assert len([r for r in sandbox.ledger() if r["idempotency_key"] == key]) == 1


def test_an_unknown_device_and_a_tampered_signature_are_refused(sandbox: Sandbox) -> None:
    stranger = DeviceSigner(DeviceKey.generate(), "dev_unknown")
    with FacePayClient(sandbox.base_url, signer=stranger) as c:
        with pytest.raises(AuthenticationError) as err:
            c.open_session("pay")
        # An unknown id answers as a wrong key does (no oracle for which ids exist).
        assert (err.value.status, err.value.code) == (401, "bad_signature")
        assert err.value.request_id


def test_a_used_session_and_a_bad_body_are_typed_4xx(
    sandbox: Sandbox, device: ProvisionedDevice
) -> None:
    claim = wire.Claim(kind=wire.ClaimKind.PHONE, value="+4915100000004")
    with signed_client(sandbox, device) as c:
        enroll(c, template(4), claim)
        request = authorize_request(c, template(4, noise=0.01), claim=claim)
        c.authorize(request, idempotency_key=new_idempotency_key())
        with pytest.raises(SessionExpiredError) as err:
            c.authorize(request, idempotency_key=new_idempotency_key())
        assert (err.value.status, err.value.code) == (410, "session_used")
        with pytest.raises(RequestRejectedError) as err2:
            c.authorize(
                authorize_request(c, template(5), claim=claim).model_copy(
                    update={"claim": None, "currency": "XXX"}
                ),
                idempotency_key=new_idempotency_key(),
            )
        assert err2.value.status == 422


async def test_async_client_against_the_same_server(
    sandbox: Sandbox, device: ProvisionedDevice
) -> None:
    signer = DeviceSigner(device.key, device.device_id)
    async with AsyncFacePayClient(sandbox.base_url, signer=signer) as c:
        health = await c.health()
        assert health.status == "ok"
        session = await c.open_session("pay")
        assert session.purpose is wire.SessionPurpose.PAY
        keys = await c.get_keys()
        assert session.sealing_key_id in {k.key_id for k in keys.keys}

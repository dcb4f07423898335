"""Reconcile by order: ``Till.order_payments(basket_reference)`` against the real sandbox
over HTTP, on SQLite and PostgreSQL (docs/protocol.md, "Reconcile by order";
docs/integration.md, "Exactly once").

A POS that dies with a payment pending forgets it: the till's ``unanswered`` lives in
memory. The restarted till asks the backend's ledger by the order's reference, and finds
the charge, so the POS does not take a second one. The till, its client and signing,
and the backend with its database are the product; the doubles are the camera
(synthetic faces) only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import numpy.typing as npt
import pytest

import facepay
import facepay.testing as kit
from facepay import OrderPayment, PaymentStatus
from facepay.checkout import Till
from facepay.config import ServerConfig
from facepay.errors import AuthenticationError, RequestRejectedError
from facepay.server import ProvisionedDevice
from facepay.testing.protocol_till import PHONE, ProtocolTill, face, same_face

Vector = npt.NDArray[np.float32]
# Roomy rate limits: each test pays a few times from one device; claimless 1:N allowed
# for the step-up test (a two-shopper gallery is far inside any risk budget then).
CONFIG = ServerConfig(device_rate_burst=200, device_rate_per_s=100.0, risk_budget=1.0)


@pytest.fixture
def sandbox(database_url: str, tmp_path: Path) -> Iterator[kit.Sandbox]:
    with kit.Sandbox(database_url, key_dir=tmp_path / "keys", config=CONFIG) as sb:
        yield sb


@pytest.fixture
def faces() -> kit.SyntheticFaces:
    return kit.SyntheticFaces()


def till_as(device: ProvisionedDevice, sandbox: kit.Sandbox, faces: kit.SyntheticFaces) -> Till:
    """A till process signing as ``device``: a restart is a new one with the same key."""
    return Till.connect(
        sandbox.base_url, device_key=device.key, device_id=device.device_id, **faces.till_parts()
    )


def enroll(till: Till, faces: kit.SyntheticFaces, seed: int) -> tuple[Vector, facepay.Claim]:
    person = kit.face(seed)
    claim = facepay.Claim(kind=facepay.ClaimKind.PHONE, value=f"+4915188{seed:06d}")
    till.enroll(
        faces.camera(f"enroll-{seed}", person),
        consent=facepay.consent_now("2026-01-en"),
        claim=claim,
        payment_method_token="tok_visa_4242",
    )
    return person, claim


def basket(reference: str, price_minor: int = 432) -> facepay.Basket:
    line = facepay.BasketLine(sku="1", description="Tea", quantity=1, unit_price_minor=price_minor)
    return facepay.Basket(reference=reference, currency="EUR", lines=(line,))


def test_a_restarted_till_finds_the_order_it_charged_before_the_crash(
    sandbox: kit.Sandbox, faces: kit.SyntheticFaces
) -> None:
    device = sandbox.provision_device(tenant_id="acme")
    sale = basket("pos/4711#1")  # "/" and "#" travel in the query, not in the path
    before = till_as(device, sandbox, faces)
    person, claim = enroll(before, faces, 11)
    receipt = before.pay(sale, faces.camera(sale.reference, kit.same_face(person, 1)), claim=claim)
    assert receipt.status is PaymentStatus.APPROVED
    before.close()
    del before  # the POS process died: its memory (and the till's ledger) is gone

    after = till_as(device, sandbox, faces)
    try:
        assert after.unanswered == ()  # the till itself remembers nothing
        found = after.order_payments(sale.reference)
        assert len(found) == 1
        (payment,) = found
        assert isinstance(payment, OrderPayment)
        assert payment.authorization_id == receipt.authorization_id
        assert payment.status is PaymentStatus.APPROVED
        assert payment.blocks_another_payment()
        assert (payment.amount_minor, payment.currency) == (432, "EUR")
        assert payment.basket_reference == sale.reference
        assert payment.receipt_id == receipt.receipt_id
        # Never the shopper's privacy code: any lane of the tenant may ask.
        assert not hasattr(payment, "privacy_code")
        assert receipt.privacy_code is not None
        assert receipt.privacy_code not in repr(payment)
    finally:
        after.close()


def test_a_declined_then_approved_order_lists_both_oldest_first(
    sandbox: kit.Sandbox, faces: kit.SyntheticFaces
) -> None:
    device = sandbox.provision_device(tenant_id="acme")
    with till_as(device, sandbox, faces) as till:
        person, claim = enroll(till, faces, 12)
        sale = basket("ORDER-12")
        declined = till.pay(sale, faces.camera("stranger", kit.face(912)), claim=claim)
        assert declined.status is PaymentStatus.DECLINED
        approved = till.pay(sale, faces.camera("owner", kit.same_face(person, 1)), claim=claim)
        assert approved.status is PaymentStatus.APPROVED

        found = till.order_payments(sale.reference)
        assert [p.authorization_id for p in found] == [
            declined.authorization_id,
            approved.authorization_id,
        ]
        assert [p.status for p in found] == [PaymentStatus.DECLINED, PaymentStatus.APPROVED]
        assert found[0].decline_reason == declined.decline_reason == "no_match"
        assert not found[0].blocks_another_payment()
        assert found[1].blocks_another_payment()
        assert found[0].created_at <= found[1].created_at


def test_an_unknown_order_has_no_payments(sandbox: kit.Sandbox, faces: kit.SyntheticFaces) -> None:
    device = sandbox.provision_device(tenant_id="acme")
    with till_as(device, sandbox, faces) as till:
        assert till.order_payments("NEVER-SOLD") == ()


def test_another_tenants_order_with_the_same_reference_is_never_seen_another_lane_is(
    sandbox: kit.Sandbox, faces: kit.SyntheticFaces
) -> None:
    acme = sandbox.provision_device(tenant_id="acme", lane_id="lane-1")
    acme_lane_2 = sandbox.provision_device(tenant_id="acme", lane_id="lane-2")
    globex = sandbox.provision_device(tenant_id="globex")
    sale = basket("SHARED-REF-1", price_minor=999)
    with till_as(globex, sandbox, faces) as theirs:
        person, claim = enroll(theirs, faces, 13)
        paid = theirs.pay(sale, faces.camera("globex", kit.same_face(person, 1)), claim=claim)
        assert paid.status is PaymentStatus.APPROVED
        assert [p.authorization_id for p in theirs.order_payments(sale.reference)] == [
            paid.authorization_id
        ]
    with till_as(acme, sandbox, faces) as mine:
        assert mine.order_payments(sale.reference) == ()
        person, claim = enroll(mine, faces, 14)
        ours = mine.pay(sale, faces.camera("acme", kit.same_face(person, 1)), claim=claim)
        assert ours.status is PaymentStatus.APPROVED
    # The sale moved to another lane of the same retailer: that lane finds acme's payment,
    # and still not globex's.
    with till_as(acme_lane_2, sandbox, faces) as other_lane:
        found = other_lane.order_payments(sale.reference)
        assert [p.authorization_id for p in found] == [ours.authorization_id]


def test_a_revoked_till_gets_403_and_nothing_else(
    sandbox: kit.Sandbox, faces: kit.SyntheticFaces
) -> None:
    device = sandbox.provision_device(tenant_id="acme")
    with till_as(device, sandbox, faces) as till:
        person, claim = enroll(till, faces, 15)
        sale = basket("ORDER-15")
        assert till.pay(sale, faces.camera("p", kit.same_face(person, 1)), claim=claim).approved
        assert len(till.order_payments(sale.reference)) == 1
        revoked = httpx.post(
            f"{sandbox.base_url}/v1/devices/{device.device_id}/revoke",
            headers={"Authorization": f"Bearer {sandbox.admin_token}"},
        )
        assert revoked.status_code == 200, revoked.text
        with pytest.raises(AuthenticationError) as err:
            till.order_payments(sale.reference)
        assert err.value.status == 403
        assert err.value.code == "device_revoked"


def test_a_malformed_reference_is_a_validation_error_not_a_lookup(
    sandbox: kit.Sandbox, faces: kit.SyntheticFaces
) -> None:
    device = sandbox.provision_device(tenant_id="acme")
    with till_as(device, sandbox, faces) as till:
        for bad in ("", "-leading-dash", "x" * 65, "has space"):
            with pytest.raises(RequestRejectedError) as err:
                till.order_payments(bad)
            assert err.value.status == 422, bad
            assert err.value.code == "validation_failed", bad


def test_a_payment_waiting_for_its_step_up_blocks_another_one_until_its_window_closes() -> None:
    """A pending phone or PIN step-up may still be approved: it blocks until its window
    (plus the protocol's clock skew, the till's clock may run ahead) has passed. A
    ``claim`` step-up and a decline charged nothing: they never block."""
    from datetime import datetime, timedelta, timezone

    from facepay import wire

    asked = datetime(2026, 12, 8, 2, 0, tzinfo=timezone.utc)
    closes = asked + timedelta(seconds=60)
    skew = timedelta(seconds=wire.MAX_CLOCK_SKEW_SECONDS)
    waiting = wire.AuthorizationResponse(
        authorization_id="auth_1",
        status=wire.AuthorizationStatus.STEP_UP,
        amount_minor=100,
        currency="EUR",
        basket_reference="ORDER-1",
        created_at=asked,
        step_up=wire.StepUp(kind=wire.StepUpKind.PIN, expires_at=closes),
    )
    payment = OrderPayment.from_wire(waiting)
    assert payment.status is PaymentStatus.STEP_UP
    assert (payment.step_up, payment.step_up_expires_at) == ("pin", closes)
    assert not payment.approved
    assert payment.blocks_another_payment(asked)
    assert payment.blocks_another_payment(closes + skew)
    assert not payment.blocks_another_payment(closes + skew + timedelta(seconds=1))

    phone = OrderPayment.from_wire(
        waiting.model_copy(update={"step_up": wire.StepUp(kind=wire.StepUpKind.PHONE_LAST4)})
    )
    assert phone.step_up_expires_at is None
    assert phone.blocks_another_payment(asked + timedelta(days=1))  # no window: wait

    claim = waiting.model_copy(update={"step_up": wire.StepUp(kind=wire.StepUpKind.CLAIM)})
    assert not OrderPayment.from_wire(claim).blocks_another_payment(asked)

    declined = waiting.model_copy(
        update={
            "status": wire.AuthorizationStatus.DECLINED,
            "step_up": None,
            "decline_reason": wire.DeclineReason.STEP_UP_FAILED,
        }
    )
    assert not OrderPayment.from_wire(declined).blocks_another_payment(asked)
    assert OrderPayment.from_wire(declined).decline_reason == "step_up_failed"


async def test_the_async_client_asks_the_same_way(
    sandbox: kit.Sandbox, faces: kit.SyntheticFaces
) -> None:
    from facepay.checkout import DeviceSigner
    from facepay.client import AsyncFacePayClient

    device = sandbox.provision_device(tenant_id="acme")
    with till_as(device, sandbox, faces) as till:
        person, claim = enroll(till, faces, 16)
        sale = basket("ASYNC/16")
        paid = till.pay(sale, faces.camera("p", kit.same_face(person, 1)), claim=claim)
    signer = DeviceSigner(device.key, device.device_id)
    async with AsyncFacePayClient(sandbox.base_url, signer=signer) as client:
        found = await client.order_authorizations(sale.reference)
        assert found.basket_reference == sale.reference
        assert [a.authorization_id for a in found.authorizations] == [paid.authorization_id]
        assert found.authorizations[0].privacy_code is None
        assert (await client.order_authorizations("ASYNC/NONE")).authorizations == []


def test_the_lookup_follows_a_step_up_and_names_no_shopper(sandbox: kit.Sandbox) -> None:
    """On the wire: a phone step-up shows as pending, then as the same authorization
    approved once answered; no answer carries a privacy code, a shopper or a score."""
    till = ProtocolTill(sandbox, sandbox.provision_device(tenant_id="acme"))
    try:
        base = face(95)
        assert till.enroll(base).status_code == 201
        assert till.enroll(same_face(base, 1, noise=0.01), phone="+15550006161").status_code == 201
        body = till.pay_body(same_face(base, 2, noise=0.005), phone=None)
        answer = till.authorize(body).json()
        assert answer["status"] == "step_up", answer
        order = f"/v1/authorizations?basket_reference={body['basket_reference']}"

        pending = till.call("GET", order)
        assert pending.status_code == 200, pending.text
        (listed,) = pending.json()["authorizations"]
        assert (listed["authorization_id"], listed["status"]) == (
            answer["authorization_id"],
            "step_up",
        )
        assert listed["step_up"]["kind"] == "phone_last4"

        path = f"/v1/authorizations/{answer['authorization_id']}/step-up"
        r = till.call(
            "POST", path, {"phone_last4": PHONE[-4:]}, headers={"Idempotency-Key": "idem_su_r1"}
        )
        assert r.json()["status"] == "approved", r.text
        assert r.json()["privacy_code"]  # the paying till's own answer has it
        raw = till.call("GET", order)
        (listed,) = raw.json()["authorizations"]
        assert (listed["authorization_id"], listed["status"]) == (
            answer["authorization_id"],
            "approved",
        )
        assert listed.get("privacy_code") is None
        for secret in ("shopper", "score", "template", r.json()["privacy_code"]):
            assert secret not in raw.text, secret
    finally:
        till.close()


def test_the_asked_reference_is_signed_a_proxy_cannot_swap_it(sandbox: kit.Sandbox) -> None:
    """The query is part of the signed target: a request signed for one order and sent
    for another is refused, and so is one not signed at all."""
    from facepay.crypto import sign_request

    till = ProtocolTill(sandbox, sandbox.provision_device(tenant_id="acme"))
    try:
        signed_for = "/v1/authorizations?basket_reference=ORDER-A"
        headers = sign_request(
            till.device.key,
            device_id=till.device.device_id,
            method="GET",
            target=signed_for,
            body=b"",
        )
        swapped = till.http.get("/v1/authorizations?basket_reference=ORDER-B", headers=headers)
        assert swapped.status_code == 401, swapped.text
        assert swapped.json()["error"]["code"] == "bad_signature"
        unsigned = till.call("GET", signed_for, sign=False)
        assert unsigned.status_code == 401, unsigned.text
        assert till.call("GET", signed_for).json() == {
            "basket_reference": "ORDER-A",
            "authorizations": [],
            "more": False,
        }
    finally:
        till.close()

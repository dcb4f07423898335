"""facepay.testing: each double does what it says, and the raw till reaches a real backend.

The kit is what tests, examples and benchmarks use instead of building twins of the
product, so it is tested like the product: against the real sandbox, the real clip."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import facepay
import facepay.testing as kit
from facepay import wire
from facepay.errors import CheckoutError


def test_the_kit_lists_its_names_once_and_each_resolves() -> None:
    assert sorted(dir(kit)) == sorted(kit.__all__)
    for name in kit.__all__:
        assert getattr(kit, name) is not None, name
    # The demo switch lives here; the root hands out the same object, the flow does not.
    import facepay.checkout

    assert facepay.fixed_liveness_plan is kit.fixed_liveness_plan
    assert not hasattr(facepay.checkout, "fixed_liveness_plan")


def test_fake_clock_moves_only_forward_and_only_when_told() -> None:
    clock = kit.FakeClock(start=5.0)
    assert clock() == 5.0
    clock.advance(2.5)
    assert clock() == 7.5
    with pytest.raises(ValueError, match="does not go back"):
        clock.advance(-1.0)
    assert clock() == 7.5


def test_a_fixed_plan_fails_at_once_on_nothing_or_on_an_unknown_challenge() -> None:
    with pytest.raises(CheckoutError, match="at least one"):
        kit.fixed_liveness_plan()
    with pytest.raises(Exception, match="juggle"):
        kit.fixed_liveness_plan("juggle")
    check = kit.fixed_liveness_plan("blink")(b"\0" * 32, "USB camera")
    assert check.plan.names == ("blink",)


def test_synthetic_faces_are_one_person_or_another() -> None:
    alice, bob = kit.face(1), kit.face(2)
    assert float(np.linalg.norm(alice)) == pytest.approx(1.0, abs=1e-5)
    again = kit.same_face(alice, seed=3)
    cos = float(again @ alice / np.linalg.norm(again))
    assert cos > 0.95
    assert abs(float(alice @ bob)) < 0.4
    assert kit.template(alice).model_id == "dlib-resnet-v1"


@pytest.mark.eval
def test_a_clip_camera_starts_where_asked_and_its_clock_follows_the_frames(
    eval_dir: Path,
) -> None:
    clip = eval_dir / "video" / "single_face.mp4"
    camera = kit.ClipCamera(clip, start_s=1.0, skip_frames=2)
    assert camera.device_name == str(clip)
    frames: Iterator[facepay.Frame] = camera.frames()
    first = next(frames)
    assert first.timestamp >= 1.0
    assert camera.now() == first.timestamp
    second = next(frames)
    assert second.timestamp > first.timestamp
    assert camera.now() == second.timestamp
    frames.close()  # type: ignore[attr-defined]
    whole = next(kit.ClipCamera(clip).frames())
    assert whole.timestamp < first.timestamp


@pytest.fixture(scope="module")
def sandbox() -> Iterator[kit.Sandbox]:
    with kit.Sandbox() as sb:
        yield sb


def test_the_raw_till_enrolls_and_pays_against_the_real_backend(sandbox: kit.Sandbox) -> None:
    till = kit.ProtocolTill(sandbox, sandbox.provision_device())
    try:
        alice = kit.face(7)
        phone = f"+49151{uuid.uuid4().int % 10**8:08d}"
        assert till.enroll(alice, phone=phone).status_code == 201
        body = till.pay_body(kit.same_face(alice, 1), phone=phone, amount=555)
        answer = till.authorize(body)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "approved"
        stored = kit.rows(sandbox, "SELECT amount_minor FROM authorizations")
        assert (555,) in [tuple(r) for r in stored]
    finally:
        till.close()


def test_the_raw_till_sends_what_a_client_would_not(sandbox: kit.Sandbox) -> None:
    """A reused nonce is refused: the kit can misbehave, the backend must not care."""
    till = kit.ProtocolTill(sandbox, sandbox.provision_device())
    try:
        first = till.call("POST", "/v1/sessions", {"purpose": "pay"}, nonce="n" * 22)
        replay = till.call("POST", "/v1/sessions", {"purpose": "pay"}, nonce="n" * 22)
        assert first.status_code == 201, first.text
        assert replay.status_code in (401, 403), replay.text
    finally:
        till.close()


def test_connect_till_registers_a_device_and_connects_the_real_till(
    sandbox: kit.Sandbox,
) -> None:
    embedder = object()  # never asked: nothing is paid here
    with kit.connect_till(
        sandbox, lane_id="lane-9", analyzer=object(), embedder=embedder, fuse=len
    ) as till:
        assert isinstance(till, facepay.Till)
        session = till.client.open_session(wire.SessionPurpose.PAY)  # signed as the device
        assert session.session_id


def test_synthetic_faces_drive_the_real_till_from_enrollment_to_ledger(
    sandbox: kit.Sandbox,
) -> None:
    """The face stage is synthetic; the till (sealing, retries, ledger) and backend are not."""
    faces = kit.SyntheticFaces()
    alice = kit.face(11)
    phone = facepay.Claim(kind=facepay.ClaimKind.PHONE, value="+4915199990011")
    with kit.connect_till(sandbox, **faces.till_parts()) as till:
        till.enroll(
            faces.camera("enroll", alice),
            consent=facepay.consent_now("2026-01-en"),
            claim=phone,
            payment_method_token="tok_visa_4242",
        )
        line = facepay.BasketLine(sku="1", description="Tea", quantity=1, unit_price_minor=321)
        basket = facepay.Basket(reference="SALE-SYN-1", currency="EUR", lines=(line,))
        receipt = till.pay(basket, faces.camera("SALE-SYN-1", kit.same_face(alice, 1)), claim=phone)
        assert receipt.status is facepay.PaymentStatus.APPROVED
        stranger = facepay.Basket(reference="SALE-SYN-2", currency="EUR", lines=(line,))
        refused = till.pay(stranger, faces.camera("SALE-SYN-2", kit.face(12)), claim=phone)
        assert refused.status is not facepay.PaymentStatus.APPROVED
    booked = kit.rows(sandbox, "SELECT basket_reference, status FROM authorizations")
    assert ("SALE-SYN-1", "approved") in [tuple(r) for r in booked]


def test_free_port_is_a_loopback_port_nothing_listens_on() -> None:
    port = kit.free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # free: it binds
        s.listen()
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect(("127.0.0.1", kit.free_port()))

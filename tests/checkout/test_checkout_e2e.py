"""The checkout flow end to end: real clips, real models, real liveness, real crypto, the
real sandbox over loopback. Fakes only at the seams: the clock (timeouts) and, for the
lost-answer case, the HTTP transport."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from facepay import wire
from facepay.checkout import (
    Basket,
    BasketLine,
    CheckoutEvent,
    CheckoutFinished,
    CheckoutState,
    FailureReason,
    LivenessProgressed,
    NotEnrolledError,
    PaymentStatus,
    PaymentUnansweredError,
    StateChanged,
    Till,
    consent_now,
)
from facepay.config import CheckoutConfig, ClientConfig
from facepay.errors import CheckoutError, TransportError
from facepay.liveness import LivenessReason
from facepay.server import ProvisionedDevice, Sandbox
from facepay.testing import ClipCamera, FakeClock, fixed_liveness_plan
from facepay.types import Frame

pytestmark = [pytest.mark.slow, pytest.mark.eval]

S = CheckoutState


def phone(n: int) -> wire.Claim:
    return wire.Claim(kind=wire.ClaimKind.PHONE, value=f"+49151000{n:05d}")


def basket(reference: str = "pos-1", cents: int = 1250) -> Basket:
    return Basket(
        reference=reference,
        currency="EUR",
        lines=(BasketLine(sku="1", description="Bread", quantity=1, unit_price_minor=cents),),
    )


class LosingTransport(httpx.BaseTransport):
    """Delivers every request to the real server; loses the first ``lose`` authorize answers."""

    def __init__(self, lose: int) -> None:
        self._inner = httpx.HTTPTransport()
        self.lose = lose

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        response.read()
        if request.url.path == "/v1/authorizations" and self.lose > 0:
            self.lose -= 1
            raise httpx.ReadTimeout("answer lost", request=request)
        return response


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


@pytest.fixture(scope="module")
def device(sandbox: Sandbox) -> ProvisionedDevice:
    return sandbox.provision_device()


@pytest.fixture(scope="module")
def till(sandbox: Sandbox, device: ProvisionedDevice) -> Iterator[Till]:
    with Till.connect(
        sandbox.base_url,
        device_key=device.key,
        device_id=device.device_id,
        liveness=fixed_liveness_plan("blink"),
    ) as t:
        yield t


@pytest.fixture(scope="module")
def video(eval_dir: Path) -> Path:
    return eval_dir / "video"


def frames(path: Path) -> Iterator[Frame]:
    return ClipCamera(path).frames()


def test_enroll_then_pay_with_the_same_person(
    till: Till, sandbox: Sandbox, video: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    events: list[CheckoutEvent] = []
    enrollment = till.start_enrollment(
        consent=consent_now("2026-01-en"),
        claim=phone(1),
        payment_method_token="tok_visa_4242",
        on_event=events.append,
    )
    result = enrollment.enroll(frames(video / "single_face.mp4"))
    assert result.masked_payment_method == "Visa •••• 4242"
    assert enrollment.state is S.ENROLLED
    assert not enrollment.holds_biometric_data
    states = [e.state for e in events if isinstance(e, StateChanged)]
    assert states == [S.CAPTURING, S.LIVENESS, S.PROCESSING, S.ENROLLED]
    assert any(isinstance(e, LivenessProgressed) and e.challenge == "blink" for e in events)

    events.clear()
    session = till.start_checkout(basket("pos-e2e-1", 1250), claim=phone(1), on_event=events.append)
    receipt = session.pay(frames(video / "single_face.mp4"))
    assert receipt.status is PaymentStatus.APPROVED, receipt
    assert receipt.privacy_code == result.privacy_code
    assert receipt.amount_minor == 1250
    assert not session.holds_biometric_data
    assert session.pending is None
    finished = [e for e in events if isinstance(e, CheckoutFinished)]
    assert [f.receipt for f in finished] == [receipt]
    rows = [r for r in sandbox.ledger() if r["idempotency_key"] == receipt.idempotency_key]
    assert [(r["state"], r["amount_minor"]) for r in rows] == [("approved", 1250)]
    # The POS sends the same order again (a double click, a retry of its own): refused.
    with pytest.raises(CheckoutError, match="already paid"):
        till.start_checkout(basket("pos-e2e-1", 1250), claim=phone(1))
    # Nothing personal or biometric in the logs, even at DEBUG: no phone number, no card
    # token, no sealed bytes, no vectors.
    assert caplog.records
    for record in caplog.records:
        text = record.getMessage()
        assert phone(1).value not in text
        assert "tok_visa" not in text
        assert "ciphertext" not in text
        assert not re.search(r"(-?\d+\.\d+[,\s]+){8}", text), text[:200]


def test_a_ui_feeding_frames_sends_the_pos_sale_id_and_the_paid_guard_fires_on_it(
    till: Till, sandbox: Sandbox, video: Path
) -> None:
    """The kiosk's path (start_checkout, feed, complete): the POS sale id given as
    ``Basket.reference`` is the backend ledger's ``basket_reference``, and the same sale
    cannot be paid twice."""
    till.enroll(
        frames(video / "single_face.mp4"),
        consent=consent_now("2026-01-en"),
        claim=phone(21),
        payment_method_token="tok_visa_4242",
    )
    sale = "SALE-2026-000042"
    session = till.start_checkout(basket(sale, 990), claim=phone(21), camera_name="USB2.0 HD UVC")
    session.begin()
    source = frames(video / "single_face.mp4")
    while session.state in (S.CAPTURING, S.LIVENESS):
        session.feed(next(source))
    assert session.state is S.PROCESSING, session.reason
    receipt = session.complete()
    assert receipt.status is PaymentStatus.APPROVED
    assert receipt.basket_reference == sale
    rows = [r for r in sandbox.ledger() if r["idempotency_key"] == receipt.idempotency_key]
    assert [(r["basket_reference"], r["amount_minor"]) for r in rows] == [(sale, 990)]
    with pytest.raises(CheckoutError, match="already paid"):
        till.start_checkout(basket(sale, 990), claim=phone(21))


def test_the_virtual_camera_check_runs_on_the_feed_path(
    till: Till, sandbox: Sandbox, video: Path
) -> None:
    """A UI that feeds frames itself names its camera: a virtual one is refused before any
    template is made or anything is sent."""
    session = till.start_checkout(
        basket("SALE-virtual-1"), claim=phone(1), camera_name="OBS Virtual Camera"
    )
    session.begin()
    source = frames(video / "single_face.mp4")
    while not session.state.is_final:
        session.feed(next(source))
    assert session.state is S.FAILED
    assert session.reason is FailureReason.LIVENESS_FAILED
    assert session.liveness_reasons == (LivenessReason.VIRTUAL_CAMERA,)
    assert not session.holds_biometric_data
    assert not [r for r in sandbox.ledger() if r["basket_reference"] == "SALE-virtual-1"]


def test_another_person_claiming_that_phone_is_declined(till: Till, video: Path) -> None:
    till.enroll(
        frames(video / "single_face.mp4"),
        consent=consent_now("2026-01-en"),
        claim=phone(2),
        payment_method_token="tok_visa_4242",
    )
    # Another person, who also blinks (squeezes the eyes shut): live, but not the enrolled
    # shopper.
    receipt = till.pay(basket("pos-e2e-2"), frames(video / "d3.mp4"), claim=phone(2))
    assert receipt.status is PaymentStatus.DECLINED
    assert receipt.decline_reason == "no_match"


def test_cancel_mid_liveness_drops_every_frame_and_charges_nothing(
    till: Till, sandbox: Sandbox, video: Path
) -> None:
    session = till.start_checkout(basket("pos-e2e-3"), claim=phone(3))
    session.begin()
    # A corrupt frame from a flaky camera is skipped, not fatal.
    broken = Frame(image=np.zeros((0, 0, 3), dtype=np.uint8), timestamp=0.0, index=0)
    assert session.feed(broken).state is S.CAPTURING
    fed_in_liveness = 0
    for frame in frames(video / "single_face.mp4"):
        session.feed(frame)
        if session.state is S.LIVENESS:
            fed_in_liveness += 1
            if fed_in_liveness == 5:
                break
    assert session.state is S.LIVENESS
    assert session.holds_biometric_data
    session.cancel()
    assert session.state is S.CANCELLED
    assert not session.holds_biometric_data
    assert session.pending is None
    assert not [r for r in sandbox.ledger() if r["basket_reference"] == "pos-e2e-3"]


def test_liveness_times_out_on_the_clock_and_drops_the_frames(
    sandbox: Sandbox, device: ProvisionedDevice, video: Path
) -> None:
    clock = FakeClock(start=0.0)
    with Till.connect(
        sandbox.base_url,
        device_key=device.key,
        device_id=device.device_id,
        liveness=fixed_liveness_plan("blink"),
        config=CheckoutConfig(liveness_timeout_s=8.0),
        clock=clock,
    ) as t:
        session = t.start_checkout(basket("pos-e2e-4"), claim=phone(4))
        session.begin()
        source = frames(video / "single_face.mp4")
        while session.state is not S.LIVENESS:
            session.feed(next(source))
        session.feed(next(source))
        assert session.holds_biometric_data
        clock.advance(8.5)
        feedback = session.feed(next(source))
        assert feedback.state is S.TIMED_OUT
        assert session.reason is FailureReason.LIVENESS_TIMEOUT
        assert not session.holds_biometric_data


def test_a_still_photo_never_gets_a_template_made(
    till: Till, sandbox: Sandbox, video: Path
) -> None:
    """Only a LIVE verdict makes a template: a held-up still (a frozen image) is refused."""
    first = next(frames(video / "single_face.mp4"))
    still = (Frame(image=np.array(first.image), timestamp=i * 0.2, index=i) for i in range(200))
    session = till.start_enrollment(
        consent=consent_now("2026-01-en"), claim=phone(5), payment_method_token="tok_visa_4242"
    )
    with pytest.raises(NotEnrolledError) as err:
        session.enroll(still)
    assert err.value.reason is FailureReason.LIVENESS_FAILED
    assert LivenessReason.FROZEN_FRAMES in err.value.liveness_reasons
    assert not session.holds_biometric_data
    # Nothing was enrolled for that phone: the live shopper can still enroll it.
    result = till.enroll(
        frames(video / "single_face.mp4"),
        consent=consent_now("2026-01-en"),
        claim=phone(5),
        payment_method_token="tok_visa_4242",
    )
    assert result.shopper_id


def test_a_lost_answer_is_reconciled_and_charged_once(
    sandbox: Sandbox, device: ProvisionedDevice, till: Till, video: Path
) -> None:
    till.enroll(
        frames(video / "single_face.mp4"),
        consent=consent_now("2026-01-en"),
        claim=phone(6),
        payment_method_token="tok_visa_4242",
    )
    with Till.connect(
        sandbox.base_url,
        device_key=device.key,
        device_id=device.device_id,
        liveness=fixed_liveness_plan("blink"),
        transport=LosingTransport(lose=10),
        client_config=ClientConfig(max_attempts=2, backoff_initial_s=0.01),
    ) as flaky:
        with pytest.raises(PaymentUnansweredError) as err:
            flaky.pay(basket("pos-e2e-6", 777), frames(video / "single_face.mp4"), claim=phone(6))
        assert isinstance(err.value, TransportError)  # what a POS catching TransportError sees
        pending = err.value.pending
        assert pending.amount_minor == 777
        assert flaky.unanswered == (pending,)
        # It may have been charged: the same order cannot be paid again until reconciled.
        with pytest.raises(CheckoutError, match="unanswered"):
            flaky.start_checkout(basket("pos-e2e-6", 777), claim=phone(6))
        # The till itself settles it once the uplink is back (same key, same request).
        flaky.client._http._transport.lose = 0  # type: ignore[attr-defined]
        settled = flaky.reconcile(pending)
        assert flaky.unanswered == ()
        with pytest.raises(CheckoutError, match="already paid"):
            flaky.start_checkout(basket("pos-e2e-6", 777), claim=phone(6))
    receipt = till.reconcile(pending)  # and from another client of the same till: a replay
    assert receipt.status is PaymentStatus.APPROVED
    assert settled.authorization_id == receipt.authorization_id
    rows = [r for r in sandbox.ledger() if r["basket_reference"] == "pos-e2e-6"]
    assert [(r["id"], r["amount_minor"]) for r in rows] == [(receipt.authorization_id, 777)]


def test_a_near_tie_asks_for_phone_digits_and_the_answer_decides(video: Path) -> None:
    """Claimless 1:N (allowed here by a generous risk budget) finds two shoppers with the
    same face: the backend asks for the phone's last 4 digits, and they pick the payer."""
    from facepay.config import ServerConfig

    with Sandbox(config=ServerConfig(risk_budget=1.0)) as sb:
        dev = sb.provision_device()
        with Till.connect(
            sb.base_url,
            device_key=dev.key,
            device_id=dev.device_id,
            liveness=fixed_liveness_plan("blink"),
            claimless_allowed=True,
        ) as t:
            for n, token in ((10, "tok_visa_4242"), (11, "tok_amex_0005")):
                t.enroll(
                    frames(video / "single_face.mp4"),
                    consent=consent_now("2026-01-en"),
                    claim=phone(n),
                    payment_method_token=token,
                )
            session = t.start_checkout(basket("pos-e2e-7", 990))
            assert session.begin() is S.CAPTURING  # claimless: no claim screen
            first = session.pay(frames(video / "single_face.mp4"))
            assert first.status is PaymentStatus.STEP_UP
            assert first.step_up == "phone_last4"
            assert session.state is S.STEP_UP
            receipt = session.answer_step_up(phone(11).value[-4:])
            assert receipt.status is PaymentStatus.APPROVED
            assert receipt.masked_payment_method == "American Express •••• 0005"
            assert receipt.authorization_id == first.authorization_id
            assert session.state is S.APPROVED
            # Digits that belong to neither shopper: declined, nobody pays.
            wrong = t.start_checkout(basket("pos-e2e-8", 990))
            assert wrong.pay(frames(video / "single_face.mp4")).step_up == "phone_last4"
            refused = wrong.answer_step_up("0000")
            assert refused.status is PaymentStatus.DECLINED
            assert refused.decline_reason == "step_up_failed"
            assert wrong.state is S.DECLINED
        rows = [r for r in sb.ledger() if r["basket_reference"] in ("pos-e2e-7", "pos-e2e-8")]
        assert sorted((r["basket_reference"], r["state"]) for r in rows) == [
            ("pos-e2e-7", "approved"),
            ("pos-e2e-8", "declined"),
        ]


def test_a_shopper_deletes_themselves_and_the_till_checks_the_signed_receipt(
    till: Till, video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The till verifies the deletion receipt against the backend's published receipt key
    before handing it over; the same privacy code then opens nothing."""
    from facepay.errors import AuthenticationError

    enrollment = till.start_enrollment(
        consent=consent_now("2026-01-en"), claim=phone(7), payment_method_token="tok_visa_4242"
    )
    result = enrollment.enroll(frames(video / "single_face.mp4"))
    # A receipt that does not verify against the published key is refused, not handed on.
    from facepay.crypto import ReceiptSigner
    from facepay.errors import InvalidSignatureError

    real_keys = till.client.get_keys()
    impostor = ReceiptSigner.generate(key_id=real_keys.receipt_key_id)
    forged = real_keys.model_copy(
        update={"receipt_public_key": wire.b64encode(impostor.public_key.raw)}
    )
    monkeypatch.setattr(till.client, "get_keys", lambda: forged)
    with pytest.raises(InvalidSignatureError):
        till.delete_shopper(result.privacy_code, phone(7))
    monkeypatch.undo()
    enrollment = till.start_enrollment(
        consent=consent_now("2026-01-en"), claim=phone(7), payment_method_token="tok_visa_4242"
    )
    result = enrollment.enroll(frames(video / "single_face.mp4"))
    receipt = till.delete_shopper(result.privacy_code, phone(7))
    assert receipt.signature
    with pytest.raises(AuthenticationError, match="shopper_access_denied"):
        till.delete_shopper(result.privacy_code, phone(7))

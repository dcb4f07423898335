"""The checkout state machine: its table, guards, per-state timeouts and cancel.

Seams faked: the HTTP transport (httpx.MockTransport answers ``POST /v1/sessions``) and
the clock. No frame is fed here, so the analyzer, embedder, liveness and sealer are
tripwires that fail the test if the flow ever reaches for them.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from facepay import wire
from facepay.checkout import (
    Basket,
    BasketLine,
    CheckoutEvent,
    CheckoutFinished,
    CheckoutSession,
    CheckoutState,
    EnrollmentSession,
    FailureReason,
    FlowParts,
    PaymentNotTakenError,
    StateChanged,
    Transition,
    consent_now,
)
from facepay.checkout._machine import _FaceFlow
from facepay.client import FacePayClient
from facepay.config import CheckoutConfig
from facepay.errors import CheckoutError
from facepay.testing import FakeClock, SignedAnswers

S = CheckoutState
PHONE = wire.Claim(kind=wire.ClaimKind.PHONE, value="+4915112345678")


class Tripwire:
    """Stands where a stage would be; these tests must never reach it."""

    model_id = "tripwire"

    def reset(self) -> None:
        """Starting a session may reset a video-mode analyzer: allowed."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the flow called {name} on a stage it should not reach")

    def __call__(self, *args: Any) -> Any:
        raise AssertionError("the flow reached a stage it should not reach")


def session_backend() -> tuple[httpx.MockTransport, list[str]]:
    opened: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/sessions", request.url.path
        purpose = json.loads(request.content)["purpose"]
        opened.append(purpose)
        return httpx.Response(
            201,
            json={
                "session_id": f"ses_{len(opened)}",
                "purpose": purpose,
                "server_nonce": wire.b64encode(b"n" * 32),
                "liveness_seed": wire.b64encode(b"s" * 32),
                "expires_at": datetime(2026, 11, 27, tzinfo=timezone.utc).isoformat(),
                "sealing_key_id": "k1",
            },
        )

    return SignedAnswers(httpx.MockTransport(handler)), opened


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def parts(clock: FakeClock) -> FlowParts:
    transport, _ = session_backend()
    trip = Tripwire()
    return FlowParts(
        client=FacePayClient("http://backend.test", transport=transport),
        analyzer=trip,
        embedder=trip,
        fuse=trip,
        liveness=trip,
        sealer=trip,
        config=CheckoutConfig(claim_timeout_s=60, capture_timeout_s=20),
        clock=clock,
    )


def basket() -> Basket:
    return Basket(
        reference="pos-4711",
        currency="EUR",
        lines=(
            BasketLine(
                sku="4006381333931", description="Coffee 500 g", quantity=2, unit_price_minor=699
            ),
            BasketLine(
                sku="4001686301265", description="Oat milk", quantity=1, unit_price_minor=249
            ),
        ),
    )


def test_basket_totals_in_minor_units_and_refuses_nonsense() -> None:
    b = basket()
    assert b.total_minor == 2 * 699 + 249
    assert b.format_amount() == "EUR 16.47"
    with pytest.raises(CheckoutError, match="ISO 4217"):
        Basket(reference="x1", currency="EURO", lines=b.lines)
    with pytest.raises(CheckoutError, match="integer minor units"):
        BasketLine(sku="1", description="x", quantity=1, unit_price_minor=1.99)  # type: ignore[arg-type]
    with pytest.raises(CheckoutError, match="quantity"):
        BasketLine(sku="1", description="x", quantity=0, unit_price_minor=100)
    with pytest.raises(CheckoutError, match="empty"):
        Basket(reference="x1", currency="EUR", lines=())
    with pytest.raises(CheckoutError, match="reference"):
        Basket(reference="has space", currency="EUR", lines=b.lines)
    jpy = Basket(
        reference="j1",
        currency="JPY",
        lines=(BasketLine(sku="1", description="x", quantity=3, unit_price_minor=500),),
    )
    assert jpy.format_amount() == "JPY 1,500"


def test_without_a_claim_the_flow_asks_for_one(parts: FlowParts) -> None:
    events: list[CheckoutEvent] = []
    s = CheckoutSession(parts, basket(), on_event=events.append)
    assert s.state is S.IDLE
    assert s.begin() is S.CLAIM
    assert s.give_claim(PHONE) is S.CAPTURING
    assert [(e.previous, e.state) for e in events if isinstance(e, StateChanged)] == [
        (S.IDLE, S.CLAIM),
        (S.CLAIM, S.CAPTURING),
    ]


def test_a_claim_with_the_basket_or_a_claimless_store_skips_the_claim_screen(
    parts: FlowParts,
) -> None:
    assert CheckoutSession(parts, basket(), claim=PHONE).begin() is S.CAPTURING
    assert CheckoutSession(parts, basket(), claimless_allowed=True).begin() is S.CAPTURING


def test_out_of_order_calls_raise_checkout_error(parts: FlowParts) -> None:
    s = CheckoutSession(parts, basket())
    with pytest.raises(CheckoutError, match="not claim"):
        s.give_claim(PHONE)
    with pytest.raises(CheckoutError, match="not processing"):
        s.complete()
    with pytest.raises(CheckoutError, match="not step_up"):
        s.answer_step_up("1234")
    s.begin()
    with pytest.raises(CheckoutError, match="not idle"):
        s.begin()
    assert not s.can("face_found")  # guard: no usable face yet
    with pytest.raises(CheckoutError, match="nothing was sent"):
        s.reconcile()


@pytest.mark.parametrize(
    ("state_after_begin", "timeout"),
    [(S.CLAIM, 60.0), (S.CAPTURING, 20.0)],
)
def test_each_waiting_state_times_out_on_the_clock(
    parts: FlowParts, clock: FakeClock, state_after_begin: CheckoutState, timeout: float
) -> None:
    events: list[CheckoutEvent] = []
    claim = None if state_after_begin is S.CLAIM else PHONE
    s = CheckoutSession(parts, basket(), claim=claim, on_event=events.append)
    assert s.begin() is state_after_begin
    assert s.seconds_left == pytest.approx(timeout)
    clock.advance(timeout - 0.5)
    assert not s.check_timeout()
    assert s.state is state_after_begin
    clock.advance(1.0)
    assert s.check_timeout()
    assert s.state is S.TIMED_OUT
    assert s.reason is FailureReason(f"{state_after_begin.value}_timeout")
    assert isinstance(events[-1], CheckoutFinished)
    assert events[-1].state is S.TIMED_OUT
    assert events[-1].reason is s.reason
    assert not s.holds_biometric_data
    # A timed-out flow refuses to go on.
    with pytest.raises(CheckoutError):
        s.give_claim(PHONE)


def test_a_late_claim_after_the_timeout_does_not_revive_the_flow(
    parts: FlowParts, clock: FakeClock
) -> None:
    s = CheckoutSession(parts, basket())
    s.begin()
    clock.advance(61)
    assert s.give_claim(PHONE) is S.TIMED_OUT


def test_processing_times_out_into_checkout_failed(parts: FlowParts, clock: FakeClock) -> None:
    s = CheckoutSession(parts, basket(), claim=PHONE)
    s.begin()
    clock.advance(21)
    with pytest.raises(CheckoutError):
        s.complete()
    assert s.state is S.TIMED_OUT


def test_cancel_from_every_waiting_state_is_final_and_idempotent(parts: FlowParts) -> None:
    for claim in (None, PHONE):
        s = CheckoutSession(parts, basket(), claim=claim)
        s.begin()
        s.cancel()
        assert s.state is S.CANCELLED
        s.cancel()  # idempotent
        assert s.state is S.CANCELLED
        assert not s.holds_biometric_data
    idle = CheckoutSession(parts, basket())
    idle.cancel()
    assert idle.state is S.CANCELLED


def test_pay_needs_a_claim_first(parts: FlowParts) -> None:
    s = CheckoutSession(parts, basket())
    with pytest.raises(CheckoutError, match="claim"):
        s.pay([])


def test_a_camera_with_no_frames_fails_without_charging(parts: FlowParts) -> None:
    s = CheckoutSession(parts, basket(), claim=PHONE)
    with pytest.raises(PaymentNotTakenError) as err:
        s.pay([])
    assert err.value.state is S.FAILED
    assert err.value.reason is FailureReason.FRAMES_ENDED
    assert s.pending is None


def test_a_broken_event_handler_does_not_break_the_flow(parts: FlowParts) -> None:
    def handler(event: CheckoutEvent) -> None:
        raise RuntimeError("UI bug")

    s = CheckoutSession(parts, basket(), claim=PHONE, on_event=handler)
    assert s.begin() is S.CAPTURING


def test_enrollment_opens_an_enroll_session_and_refuses_card_numbers(clock: FakeClock) -> None:
    transport, opened = session_backend()
    trip = Tripwire()
    parts = FlowParts(
        client=FacePayClient("http://backend.test", transport=transport),
        analyzer=trip,
        embedder=trip,
        fuse=trip,
        liveness=trip,
        sealer=trip,
        clock=clock,
    )
    consent = consent_now("2026-01-en")
    with pytest.raises(CheckoutError, match="card numbers"):
        EnrollmentSession(
            parts, consent=consent, claim=PHONE, payment_method_token="4242 4242 4242 4242"
        )
    e = EnrollmentSession(parts, consent=consent, claim=PHONE, payment_method_token="tok_visa_4242")
    assert e.begin() is S.CAPTURING
    assert opened == ["enroll"]
    e.cancel()
    assert e.state is S.CANCELLED


def test_a_malformed_machine_fails_when_the_class_is_defined() -> None:
    with pytest.raises(TypeError, match="guard 'no_such_guard'"):

        class Broken(_FaceFlow):
            TRANSITIONS = (
                Transition("begin", frozenset({S.IDLE}), S.CAPTURING, guard="no_such_guard"),
            )

    with pytest.raises(TypeError, match="leaves a final state"):

        class Broken2(_FaceFlow):
            TRANSITIONS = (Transition("again", frozenset({S.APPROVED}), S.CAPTURING),)

    with pytest.raises(TypeError, match="capturing cannot time out"):

        class Broken3(_FaceFlow):
            TRANSITIONS = (
                Transition("begin", frozenset({S.IDLE}), S.CAPTURING),
                Transition("cancel", frozenset({S.CAPTURING}), S.CANCELLED),
            )


def test_the_module_docstring_lists_the_payment_table() -> None:
    """The spec in the docstring and the table the code runs cannot drift apart."""
    import re

    import facepay.checkout as checkout

    doc = checkout.__doc__ or ""
    drawn = set(re.findall(r"^\s+(\w+)\s+--(\w+)-*>\s+(\w+)", doc, flags=re.M))
    table = {
        (source.value, tr.event, tr.target.value)
        for tr in CheckoutSession.TRANSITIONS
        for source in tr.sources
        if tr.event not in ("fail", "cancel", "time_out", "approved", "declined")
    }
    assert drawn == table


def test_two_people_in_view_reach_liveness_as_two_faces(parts: FlowParts) -> None:
    """When the quality gate refuses a second person, liveness is shown both faces, so it
    reports multiple_faces (a second person at the till) rather than a lost face."""
    import dataclasses

    import numpy as np

    from facepay.liveness import ChallengePlan, LivenessProgress
    from facepay.types import (
        BoundingBox,
        FaceObservation,
        Frame,
        HeadPose,
        QualityReason,
        QualityReport,
    )

    def face(x: float) -> FaceObservation:
        return FaceObservation(
            box=BoundingBox(x=x, y=10, width=100, height=120),
            score=0.95,
            landmarks=np.zeros((478, 3), np.float32),
            pose=HeadPose(yaw=0, pitch=0, roll=0),
        )

    alone, other = face(10), face(200)
    reports = [
        QualityReport(reasons=(), metrics={"utility": 1.0}, face=alone, faces=(alone,)),
        QualityReport(
            reasons=(QualityReason.MULTIPLE_FACES,),
            metrics={"utility": 0.0},
            face=None,
            faces=(alone, other),
        ),
    ]

    class ScriptedAnalyzer:
        def reset(self) -> None:
            pass

        def analyze(self, frame: Frame) -> QualityReport:
            return reports[min(frame.index, len(reports) - 1)]

    fed: list[object] = []

    class RecordingLiveness:
        plan = ChallengePlan.of(["blink"])

        def watch(self, frame: Frame) -> LivenessProgress:
            return LivenessProgress(
                challenge=None, prompt_code="", seconds_left=5.0, progress=0.0, finished=False
            )

        def feed(self, frame: Frame, seen: object) -> LivenessProgress:
            fed.append(seen)
            return LivenessProgress(
                challenge="blink", prompt_code="", seconds_left=5.0, progress=0.0, finished=False
            )

        def verdict(self) -> object:
            raise AssertionError("no verdict is asked for in this test")

    parts = dataclasses.replace(
        parts, analyzer=ScriptedAnalyzer(), liveness=lambda seed, camera: RecordingLiveness()
    )
    s = CheckoutSession(parts, basket(), claim=PHONE)
    s.begin()
    image = np.zeros((480, 640, 3), np.uint8)
    for index in range(3):
        s.feed(Frame(image=image, timestamp=index / 10, index=index))
    assert s.state is S.LIVENESS
    assert fed == [(alone, other), (alone, other)]

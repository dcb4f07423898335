"""Failure reasons are types end to end: the session, its events and its errors carry a
``FailureReason``, and liveness's own reasons as a typed tuple, never a string to split.

Seams faked: the HTTP transport (httpx.MockTransport) and the frame analyzer (a scripted
quality report per frame). Liveness is the real ``LivenessSession``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone

import httpx
import numpy as np
import pytest

from facepay import wire
from facepay.checkout import (
    Basket,
    BasketLine,
    CheckoutEvent,
    CheckoutFinished,
    CheckoutSession,
    CheckoutState,
    FailureReason,
    FlowParts,
    PaymentNotTakenError,
    StateChanged,
)
from facepay.client import FacePayClient
from facepay.config import CheckoutConfig
from facepay.errors import CameraUnavailableError, CheckoutFailedError
from facepay.liveness import LivenessReason
from facepay.testing import SignedAnswers, fixed_liveness_plan
from facepay.types import (
    BoundingBox,
    FaceObservation,
    Frame,
    HeadPose,
    QualityReason,
    QualityReport,
)

S = CheckoutState
PHONE = wire.Claim(kind=wire.ClaimKind.PHONE, value="+4915112345678")
IMAGE = np.zeros((480, 640, 3), np.uint8)
FACE = FaceObservation(
    box=BoundingBox(x=200, y=120, width=200, height=240),
    score=0.95,
    landmarks=np.zeros((478, 3), np.float32),
    pose=HeadPose(yaw=0, pitch=0, roll=0),
)
GOOD = QualityReport(reasons=(), metrics={"utility": 1.0}, face=FACE, faces=(FACE,))
NO_FACE = QualityReport(reasons=(QualityReason.NO_FACE,), metrics={}, face=None, faces=())


class FirstFrameHasAFace:
    """The quality gate passes the first frame, then sees nobody (the shopper stepped away)."""

    def reset(self) -> None:
        pass

    def analyze(self, frame: Frame) -> QualityReport:
        return GOOD if frame.index == 0 else NO_FACE


class NeverCalled:
    model_id = "never"

    def embed(self, frame: Frame, face: FaceObservation) -> object:
        raise AssertionError("no template may be made without a live verdict")

    def seal(self, template: object, session: object) -> object:
        raise AssertionError("nothing may be fused without a live verdict")


def sessions_only(reported: list[dict[str, object]]) -> httpx.MockTransport:
    """Opens sessions and takes not_live reports (into ``reported``); nothing else."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/sessions/ses_1/liveness-refusal":
            reported.append(json.loads(request.content)["liveness"])
            return httpx.Response(
                200,
                json={"session_id": "ses_1", "recorded_at": "2026-11-27T00:00:00Z"},
            )
        assert request.url.path == "/v1/sessions", request.url.path
        return httpx.Response(
            201,
            json={
                "session_id": "ses_1",
                "purpose": json.loads(request.content)["purpose"],
                "server_nonce": wire.b64encode(b"n" * 32),
                "liveness_seed": wire.b64encode(b"s" * 32),
                "expires_at": datetime(2026, 11, 27, tzinfo=timezone.utc).isoformat(),
                "sealing_key_id": "k1",
            },
        )

    return SignedAnswers(httpx.MockTransport(handler))


@pytest.fixture
def reported() -> list[dict[str, object]]:
    """The liveness summaries the till reported as not_live."""
    return []


@pytest.fixture
def parts(reported: list[dict[str, object]]) -> FlowParts:
    never = NeverCalled()

    def no_fusing(*args: object) -> object:
        raise AssertionError("nothing may be sealed without a live verdict")

    return FlowParts(
        client=FacePayClient("http://backend.test", transport=sessions_only(reported)),
        analyzer=FirstFrameHasAFace(),
        embedder=never,  # type: ignore[arg-type]
        fuse=no_fusing,  # type: ignore[arg-type]
        liveness=fixed_liveness_plan("blink"),
        sealer=never,  # type: ignore[arg-type]
        config=CheckoutConfig(),
    )


def basket() -> Basket:
    line = BasketLine(sku="1", description="Bread", quantity=1, unit_price_minor=250)
    return Basket(reference="pos-77", currency="EUR", lines=(line,))


def frames(count: int) -> Iterator[Frame]:
    for index in range(count):
        yield Frame(image=IMAGE, timestamp=index / 30, index=index)


def test_a_clip_that_ends_mid_liveness_says_frames_ended_not_a_camera_fault(
    parts: FlowParts, reported: list[dict[str, object]]
) -> None:
    events: list[CheckoutEvent] = []
    session = CheckoutSession(parts, basket(), claim=PHONE, on_event=events.append)
    with pytest.raises(PaymentNotTakenError) as err:
        session.pay(frames(5))
    assert err.value.state is S.FAILED
    assert err.value.reason is FailureReason.FRAMES_ENDED
    # The liveness stage's own account, typed: it stopped before the plan was done.
    assert err.value.liveness_reasons == (LivenessReason.CAMERA_STOPPED,)
    finished = events[-1]
    assert isinstance(finished, CheckoutFinished)
    assert (finished.reason, finished.liveness_reasons) == (
        FailureReason.FRAMES_ENDED,
        (LivenessReason.CAMERA_STOPPED,),
    )
    changed = [e for e in events if isinstance(e, StateChanged)]
    assert changed[-1].reason is FailureReason.FRAMES_ENDED
    assert session.reason is FailureReason.FRAMES_ENDED
    assert not session.holds_biometric_data
    assert reported == []  # inconclusive is no attack: nothing is reported


def test_a_refusing_liveness_signal_is_liveness_failed_with_its_typed_reason(
    parts: FlowParts, reported: list[dict[str, object]]
) -> None:
    session = CheckoutSession(parts, basket(), claim=PHONE, camera_name="OBS Virtual Camera")
    with pytest.raises(PaymentNotTakenError) as err:
        session.pay(frames(5))
    assert err.value.reason is FailureReason.LIVENESS_FAILED
    assert err.value.liveness_reasons == (LivenessReason.VIRTUAL_CAMERA,)
    assert all(isinstance(r, LivenessReason) for r in session.liveness_reasons)
    # Still the documented base class, for a POS that catches only that.
    assert isinstance(err.value, CheckoutFailedError)
    # not_live is reported to the backend once, numbers and flags only.
    assert [(r["decision"], r["reasons"]) for r in reported] == [("not_live", ["virtual_camera"])]


def test_a_camera_that_fails_is_camera_lost(parts: FlowParts) -> None:
    def broken() -> Iterator[Frame]:
        yield from frames(2)
        raise CameraUnavailableError("unplugged")

    session = CheckoutSession(parts, basket(), claim=PHONE)
    with pytest.raises(PaymentNotTakenError) as err:
        session.pay(broken())
    assert err.value.reason is FailureReason.CAMERA_LOST
    assert err.value.liveness_reasons == ()


def test_no_frames_at_all_is_frames_ended_and_cancel_is_cancelled(parts: FlowParts) -> None:
    session = CheckoutSession(parts, basket(), claim=PHONE)
    with pytest.raises(PaymentNotTakenError) as err:
        session.pay([])
    assert err.value.reason is FailureReason.FRAMES_ENDED
    cancelled = CheckoutSession(parts, basket(), claim=PHONE)
    cancelled.begin()
    cancelled.cancel()
    assert cancelled.reason is FailureReason.CANCELLED


def test_every_reason_is_a_plain_string_value_for_logs_and_the_wire() -> None:
    for reason in FailureReason:
        assert str(reason) == reason.value
        assert f"{reason}" == reason.value
        assert FailureReason(reason.value) is reason
    for state in (S.CLAIM, S.CAPTURING, S.LIVENESS, S.PROCESSING, S.STEP_UP):
        assert FailureReason.timeout_of(state).value == f"{state.value}_timeout"


def test_the_error_carries_its_fields_as_its_own() -> None:
    error = PaymentNotTakenError(
        "no payment",
        state=S.FAILED,
        reason=FailureReason.LIVENESS_FAILED,
        liveness_reasons=(LivenessReason.SCREEN_CUE,),
    )
    assert (error.state, error.reason, error.liveness_reasons) == (
        S.FAILED,
        FailureReason.LIVENESS_FAILED,
        (LivenessReason.SCREEN_CUE,),
    )

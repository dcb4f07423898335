"""The enrollment rule for a hand over the face (issue 16): the real Till, its sealer and
client and the real backend; the camera side and the hand measure are doubles (each frame
says its pose and utility, and whether a hand covers it)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import facepay
from facepay import Till
from facepay.config import CheckoutConfig
from facepay.errors import InvalidImageError, ModelError
from facepay.testing import Sandbox, connect_till
from facepay.testing.synthetic import MODEL_ID, face
from facepay.types import (
    BoundingBox,
    FaceObservation,
    FaceTemplate,
    Frame,
    HandCoverage,
    HeadPose,
    LivenessDecision,
    LivenessVerdict,
    QualityReason,
    QualityReport,
)

_IMAGE = np.zeros((8, 8, 3), dtype=np.uint8)


class _Camera:
    """Analyzer, embedder and liveness of a shopper: frame i has ``utilities[i]`` and
    ``yaws[i]``, passes the gate, and is live once every frame was seen."""

    model_id = MODEL_ID

    def __init__(self, utilities: Sequence[float], yaws: Sequence[float] | None = None) -> None:
        self.utilities = list(utilities)
        self.yaws = list(yaws) if yaws is not None else [0.0] * len(self.utilities)
        self.vector = face(81)
        self.embedded: list[int] = []
        self._left = 0

    def frames(self) -> list[Frame]:
        return [
            Frame(image=_IMAGE, timestamp=i / 30.0, index=i, source_id="cam")
            for i in range(len(self.utilities))
        ]

    def reset(self) -> None:
        pass

    def analyze(self, frame: Frame) -> QualityReport:
        observed = FaceObservation(
            box=BoundingBox(x=1.0, y=1.0, width=6.0, height=6.0),
            score=1.0,
            landmarks=np.zeros((478, 3), dtype=np.float32),
            pose=HeadPose(yaw=self.yaws[frame.index], pitch=0.0, roll=0.0),
            frame_index=frame.index,
        )
        return QualityReport(
            reasons=(),
            metrics={"utility": self.utilities[frame.index], "eye_aspect_ratio": 0.3},
            face=observed,
            frame_index=frame.index,
            faces=(observed,),
        )

    def embed(self, frame: Frame, observed: FaceObservation) -> FaceTemplate:
        self.embedded.append(frame.index)
        rng = np.random.default_rng(frame.index)
        vector = self.vector + 0.003 * rng.standard_normal(128)
        return FaceTemplate(vector=vector.astype(np.float32), model_id=MODEL_ID, frames_fused=1)

    def liveness(self, seed: bytes, camera_name: str | None) -> _Camera:
        self._left = len(self.utilities) - 1
        return self

    # -- the liveness check's seam -----------------------------------------------------
    @property
    def plan(self) -> Any:
        from facepay.liveness import ChallengePlan

        return ChallengePlan.of(["blink"])

    def watch(self, frame: Frame) -> Any:
        from facepay.liveness import LivenessProgress

        return LivenessProgress(
            challenge=None, prompt_code="", seconds_left=1.0, progress=0.0, finished=False
        )

    def feed(self, frame: Frame, observed: object) -> Any:
        from facepay.liveness import LivenessProgress

        self._left -= 1
        return LivenessProgress(
            challenge=None, prompt_code="", seconds_left=1.0, progress=1.0, finished=self._left <= 0
        )

    def stop(self) -> None:
        pass

    def verdict(self) -> LivenessVerdict:
        return LivenessVerdict(
            decision=LivenessDecision.LIVE, reasons=(), challenges=("blink",), evidence={}
        )


class _HandOver:
    """The hand measure's double: frames in ``covered`` have a hand over the face."""

    def __init__(self, covered: set[int]) -> None:
        self.covered = covered
        self.measured: list[int] = []

    def measure(self, frame: Frame, observed: FaceObservation) -> HandCoverage:
        self.measured.append(frame.index)
        hit = frame.index in self.covered
        return HandCoverage(fraction=0.2 if hit else 0.0, hands=int(hit), covered=hit)


class _Unreadable:
    """A hand measure that cannot read any frame (a typed error from the detector)."""

    def measure(self, frame: Frame, observed: FaceObservation) -> HandCoverage:
        raise InvalidImageError("the hand models refused the frame")


def _fuse(templates: Sequence[FaceTemplate]) -> FaceTemplate:
    mean = np.mean([t.vector / np.linalg.norm(t.vector) for t in templates], axis=0)
    return FaceTemplate(
        vector=mean.astype(np.float32), model_id=MODEL_ID, frames_fused=len(templates)
    )


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


def _enroll(sandbox: Sandbox, camera: _Camera, hands: Any, phone: str, **config: Any) -> Any:
    with connect_till(
        sandbox,
        analyzer=camera,
        embedder=camera,
        fuse=_fuse,
        liveness=camera.liveness,
        hands=hands,
        config=CheckoutConfig(**config),
    ) as till:
        session = till.start_enrollment(
            consent=facepay.consent_now("2026-01-en"),
            claim=facepay.Claim(kind=facepay.ClaimKind.PHONE, value=phone),
            payment_method_token="tok_visa_4242",
        )
        try:
            return session.enroll(camera.frames())
        finally:
            assert not session.holds_biometric_data


def test_a_hand_over_every_frame_refuses_the_enrollment_as_occluded(sandbox: Sandbox) -> None:
    camera = _Camera([0.5] * 20)
    hands = _HandOver(set(range(20)))
    phone = "+15550008101"
    with pytest.raises(facepay.NotEnrolledError) as caught:
        _enroll(sandbox, camera, hands, phone, enrollment_views=1)
    assert caught.value.reason is facepay.FailureReason.FACE_NOT_CLEAR
    assert caught.value.quality_reasons == (QualityReason.OCCLUDED,)
    assert camera.embedded == []  # no template was made, so nothing was sealed or sent
    assert sorted(hands.measured) == list(range(20))


def test_covered_frames_never_become_the_template_and_the_rest_enroll(sandbox: Sandbox) -> None:
    # The covered frames rank best (a hand does not lower the gate's utility): without
    # the check they would be the template.
    utilities = [0.9] * 8 + [0.5] * 12
    camera = _Camera(utilities)
    hands = _HandOver(set(range(8)))
    result = _enroll(sandbox, camera, hands, "+15550008102", enrollment_views=1)
    assert result.privacy_code
    assert camera.embedded
    assert not set(camera.embedded) & hands.covered
    assert len(camera.embedded) == CheckoutConfig().fused_frames


def test_too_few_uncovered_frames_refuse_with_occluded_first(sandbox: Sandbox) -> None:
    camera = _Camera([0.5] * 12)
    hands = _HandOver(set(range(9)))  # 3 clear frames of 12; 5 are needed
    with pytest.raises(facepay.NotEnrolledError) as caught:
        _enroll(sandbox, camera, hands, "+15550008103", enrollment_views=1)
    assert caught.value.quality_reasons[0] is QualityReason.OCCLUDED
    assert camera.embedded == []


def test_a_covered_turn_is_not_an_enrollment_view(sandbox: Sandbox) -> None:
    # 6 frontal frames, 5 turned left (covered), 5 turned right.
    yaws = [0.0] * 6 + [15.0] * 5 + [-15.0] * 5
    camera = _Camera([1.0 - abs(y) / 100.0 for y in yaws], yaws)
    hands = _HandOver(set(range(6, 11)))
    _enroll(sandbox, camera, hands, "+15550008104", enrollment_views=3)
    assert not set(camera.embedded) & hands.covered
    assert any(yaws[i] < 0 for i in camera.embedded)


def test_the_hand_is_looked_for_only_on_frames_that_would_become_candidates(
    sandbox: Sandbox,
) -> None:
    # Utility falls frame by frame: once the 12 candidates are held, no later frame
    # would enter them, so the hand models are not run on it.
    camera = _Camera([1.0 - i / 100.0 for i in range(40)])
    hands = _HandOver(set())
    _enroll(sandbox, camera, hands, "+15550008105", enrollment_views=1)
    assert sorted(hands.measured) == list(range(CheckoutConfig().candidate_frames))


def test_a_frame_the_hand_check_cannot_read_is_not_clear(sandbox: Sandbox) -> None:
    camera = _Camera([0.5] * 10)
    with pytest.raises(facepay.NotEnrolledError) as caught:
        _enroll(sandbox, camera, _Unreadable(), "+15550008106", enrollment_views=1)
    assert caught.value.quality_reasons == (QualityReason.OCCLUDED,)
    assert camera.embedded == []


# -- payments (CheckoutConfig.hand_check_payments) ------------------------------------------


def _basket(reference: str) -> facepay.Basket:
    return facepay.Basket(
        reference=reference,
        currency="EUR",
        lines=(facepay.BasketLine(sku="1", description="Bread", quantity=1, unit_price_minor=250),),
    )


def _pay(sandbox: Sandbox, camera: _Camera, hands: Any, phone: str, **config: Any) -> Any:
    with connect_till(
        sandbox,
        analyzer=camera,
        embedder=camera,
        fuse=_fuse,
        liveness=camera.liveness,
        hands=hands,
        config=CheckoutConfig(**config),
    ) as till:
        claim = facepay.Claim(kind=facepay.ClaimKind.PHONE, value=phone)
        return till.pay(
            _basket(f"pos-{phone[-4:]}-{len(camera.utilities)}"), camera.frames(), claim=claim
        )


@pytest.fixture(scope="module")
def enrolled(sandbox: Sandbox) -> str:
    phone = "+15550008199"
    _enroll(sandbox, _Camera([0.5] * 12), _HandOver(set()), phone, enrollment_views=1)
    return phone


def test_a_payment_behind_a_hand_on_every_frame_ends_face_covered_with_nothing_sent(
    sandbox: Sandbox, enrolled: str
) -> None:
    camera = _Camera([0.5] * 15)
    hands = _HandOver(set(range(15)))
    with pytest.raises(facepay.PaymentNotTakenError) as caught:
        _pay(sandbox, camera, hands, enrolled)
    assert caught.value.reason is facepay.FailureReason.FACE_COVERED
    assert caught.value.quality_reasons == (QualityReason.OCCLUDED,)
    assert camera.embedded == []  # no template: nothing sealed, nothing sent


def test_a_payments_covered_frames_are_not_fused_and_the_rest_pay(
    sandbox: Sandbox, enrolled: str
) -> None:
    camera = _Camera([0.9] * 6 + [0.5] * 10)
    hands = _HandOver(set(range(6)))
    receipt = _pay(sandbox, camera, hands, enrolled)
    assert receipt.approved
    assert camera.embedded
    assert not set(camera.embedded) & hands.covered


def test_payments_can_be_left_unchecked(sandbox: Sandbox, enrolled: str) -> None:
    camera = _Camera([0.9] * 6 + [0.5] * 11)
    hands = _HandOver(set(range(6)))
    receipt = _pay(sandbox, camera, hands, enrolled, hand_check_payments=False)
    assert receipt.approved
    assert hands.measured == []
    assert set(camera.embedded) & hands.covered


class _Broken:
    """A hand measure whose models cannot load (a broken install)."""

    def measure(self, frame: Frame, observed: FaceObservation) -> HandCoverage:
        raise ModelError("mediapipe hand models could not be loaded")


def test_hand_models_that_fail_end_the_attempt_with_no_frames_kept(sandbox: Sandbox) -> None:
    camera = _Camera([0.5] * 10)
    with connect_till(
        sandbox,
        analyzer=camera,
        embedder=camera,
        fuse=_fuse,
        liveness=camera.liveness,
        hands=_Broken(),
        config=CheckoutConfig(enrollment_views=1),
    ) as till:
        session = till.start_enrollment(
            consent=facepay.consent_now("2026-01-en"),
            claim=facepay.Claim(kind=facepay.ClaimKind.PHONE, value="+15550008107"),
            payment_method_token="tok_visa_4242",
        )
        with pytest.raises(ModelError):
            session.enroll(camera.frames())
        assert session.reason is facepay.FailureReason.TEMPLATE_FAILED
        assert not session.holds_biometric_data
    assert camera.embedded == []


# -- the clip the rule was made for (eval data) ---------------------------------------------


@pytest.mark.eval
@pytest.mark.slow
def test_her_enrollment_with_a_hand_over_mouth_and_cheek_is_refused_occluded(
    eval_dir: Path,
) -> None:
    """WolfgangLanger_Pexels.mp4 at 6-9 s: eyes open, a hand over her mouth and cheek, the
    face detector confident (0.93-0.95). It used to enroll; the real till now refuses it as
    occluded and stores nothing."""
    from facepay.config import ServerConfig
    from facepay.eval._till_visits import Segment, _SegmentCamera
    from facepay.server import Sandbox as ServerSandbox
    from facepay.testing.clips import fixed_liveness_plan
    from facepay.vision import DlibResNetEmbedder, FrameAnalyzer

    clip = eval_dir / "video" / "WolfgangLanger_Pexels.mp4"
    camera = _SegmentCamera(Segment(clip, 2, 6.0, 9.0))
    with (
        tempfile.TemporaryDirectory(prefix="facepay-test-hands-") as tmp,
        ServerSandbox(Path(tmp) / "t.db", key_dir=Path(tmp) / "keys", config=ServerConfig()) as sb,
        FrameAnalyzer() as analyzer,
    ):
        device = sb.provision_device()
        with (
            Till.connect(
                sb.base_url,
                device_key=device.key,
                device_id=device.device_id,
                analyzer=analyzer,
                embedder=DlibResNetEmbedder(),
                liveness=fixed_liveness_plan("blink"),
                clock=camera.now,
            ) as till,
            pytest.raises(facepay.NotEnrolledError) as caught,
        ):
            till.enroll(
                camera,
                consent=facepay.consent_now("2026-01-en"),
                claim=facepay.Claim(kind=facepay.ClaimKind.PHONE, value="+4915100000002"),
                payment_method_token="tok_visa_4242",
            )
        with sb.backend.db.transaction(readonly=True) as tx:
            row = tx.one("SELECT COUNT(*) FROM shoppers", ())
    assert caught.value.reason is facepay.FailureReason.FACE_NOT_CLEAR
    assert caught.value.quality_reasons == (QualityReason.OCCLUDED,)
    assert row is not None
    assert int(row[0]) == 0

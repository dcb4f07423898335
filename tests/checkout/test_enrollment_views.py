"""Multi-view enrollment at the till (issue 16): the real Till, its sealer and client, and
the real backend; only the camera side is synthetic (each frame says its head pose and
which face it embeds to)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pytest

import facepay
from facepay.config import CheckoutConfig
from facepay.testing import Sandbox, connect_till
from facepay.testing.protocol_till import PHONE
from facepay.testing.synthetic import MODEL_ID, at_cosine, face
from facepay.types import (
    BoundingBox,
    FaceObservation,
    FaceTemplate,
    Frame,
    HeadPose,
    LivenessDecision,
    LivenessVerdict,
    QualityReport,
)

# Frames 0-5 frontal, 6-10 turned to the shopper's left, 11-15 to the right.
_YAWS = [0.0] * 6 + [15.0] * 5 + [-15.0] * 5
_IMAGE = np.zeros((8, 8, 3), dtype=np.uint8)


class _PosedCamera:
    """Analyzer, embedder and liveness of a shopper turning their head: frame i has yaw
    ``_YAWS[i]`` and embeds to the face of that pose (plus a little noise)."""

    model_id = MODEL_ID

    def __init__(self, frontal: np.ndarray, left: np.ndarray, right: np.ndarray) -> None:
        self.faces = {0: frontal, 1: left, -1: right}
        self.embedded: list[int] = []

    def frames(self) -> list[Frame]:
        return [
            Frame(image=_IMAGE, timestamp=i / 30.0, index=i, source_id="cam")
            for i in range(len(_YAWS))
        ]

    def reset(self) -> None:
        pass

    def analyze(self, frame: Frame) -> QualityReport:
        yaw = _YAWS[frame.index]
        observed = FaceObservation(
            box=BoundingBox(x=1.0, y=1.0, width=6.0, height=6.0),
            score=1.0,
            landmarks=np.zeros((478, 3), dtype=np.float32),
            pose=HeadPose(yaw=yaw, pitch=0.0, roll=0.0),
            frame_index=frame.index,
        )
        # Frontal frames rank higher, as the quality gate's pose term makes them.
        utility = 1.0 - abs(yaw) / 100.0
        return QualityReport(
            reasons=(),
            metrics={"utility": utility},
            face=observed,
            frame_index=frame.index,
            faces=(observed,),
        )

    def embed(self, frame: Frame, observed: FaceObservation) -> FaceTemplate:
        side = int(np.sign(observed.pose.yaw))
        self.embedded.append(frame.index)
        rng = np.random.default_rng(frame.index)
        vector = self.faces[side] + 0.003 * rng.standard_normal(128)
        return FaceTemplate(vector=vector.astype(np.float32), model_id=MODEL_ID, frames_fused=1)

    def liveness(self, seed: bytes, camera_name: str | None) -> _LiveAfterAll:
        return _LiveAfterAll(len(_YAWS) - 1)


class _LiveAfterAll:
    """Live once every frame was seen (the head turns happen during liveness)."""

    def __init__(self, frames: int) -> None:
        self._left = frames

    @property
    def plan(self) -> Any:
        from facepay.liveness import ChallengePlan

        return ChallengePlan.of(["turn_left", "turn_right"])

    def watch(self, frame: Frame) -> Any:
        from facepay.liveness import LivenessProgress

        return LivenessProgress(
            challenge=None, prompt_code="", seconds_left=1.0, progress=0.0, finished=False
        )

    def feed(self, frame: Frame, observed: object) -> Any:
        from facepay.liveness import LivenessProgress

        self._left -= 1
        return LivenessProgress(
            challenge=None,
            prompt_code="",
            seconds_left=1.0,
            progress=1.0,
            finished=self._left <= 0,
        )

    def stop(self) -> None:
        pass

    def verdict(self) -> LivenessVerdict:
        return LivenessVerdict(
            decision=LivenessDecision.LIVE,
            reasons=(),
            challenges=("turn_left", "turn_right"),
            evidence={"score": 0.97},
        )


def _fuse(templates: Sequence[FaceTemplate]) -> FaceTemplate:
    mean = np.mean([t.vector / np.linalg.norm(t.vector) for t in templates], axis=0)
    return FaceTemplate(
        vector=mean.astype(np.float32), model_id=MODEL_ID, frames_fused=len(templates)
    )


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


def _enroll(sandbox: Sandbox, camera: _PosedCamera, config: CheckoutConfig, phone: str) -> Any:
    with connect_till(
        sandbox,
        analyzer=camera,
        embedder=camera,
        fuse=_fuse,
        liveness=camera.liveness,
        config=config,
    ) as till:
        session = till.start_enrollment(
            consent=facepay.consent_now("2026-01-en"),
            claim=facepay.Claim(kind=facepay.ClaimKind.PHONE, value=phone),
            payment_method_token="tok_visa_4242",
        )
        result = session.enroll(camera.frames())
        assert not session.holds_biometric_data
        return result


def _views(sandbox: Sandbox, result: Any, phone: str) -> int:
    import httpx

    r = httpx.post(
        f"{sandbox.base_url}/v1/shoppers/export",
        json={"privacy_code": result.privacy_code, "claim": {"kind": "phone", "value": phone}},
    )
    assert r.status_code == 200, r.text
    return int(r.json()["template_enrollment_views"])


def test_the_till_enrolls_one_view_per_turned_side(sandbox: Sandbox) -> None:
    frontal = face(71)
    camera = _PosedCamera(frontal, at_cosine(frontal, 0.965, 1), at_cosine(frontal, 0.962, 2))
    result = _enroll(sandbox, camera, CheckoutConfig(enrollment_views=3), PHONE)
    assert _views(sandbox, result, PHONE) == 3
    # Every frame kept was embedded once per view it went into; turned sides only once.
    assert sorted(i for i in camera.embedded if _YAWS[i] > 0) == [6, 7, 8, 9, 10]
    assert sorted(i for i in camera.embedded if _YAWS[i] < 0) == [11, 12, 13, 14, 15]


def test_one_view_when_configured_so(sandbox: Sandbox) -> None:
    frontal = face(72)
    camera = _PosedCamera(frontal, at_cosine(frontal, 0.965, 1), at_cosine(frontal, 0.962, 2))
    phone = "+15550007272"
    result = _enroll(sandbox, camera, CheckoutConfig(enrollment_views=1), phone)
    assert _views(sandbox, result, phone) == 1
    assert all(_YAWS[i] == 0.0 for i in camera.embedded)


def test_a_turned_view_of_someone_else_is_not_kept(sandbox: Sandbox) -> None:
    frontal = face(73)
    camera = _PosedCamera(frontal, at_cosine(frontal, 0.965, 1), face(74))
    phone = "+15550007373"
    result = _enroll(sandbox, camera, CheckoutConfig(enrollment_views=3), phone)
    assert _views(sandbox, result, phone) == 2

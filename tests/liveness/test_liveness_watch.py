"""Frames before the plan starts (refused by the quality gate, nobody in view yet) go to
``LivenessSession.watch``: the injection checks see every frame of the session.

No face model is needed: the injection signals read only the frames and their
timestamps, and the plan's own frames here carry no face.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from facepay.liveness import ChallengePlan, LivenessReason, LivenessSession
from facepay.types import Frame, LivenessDecision

SCENE = np.random.default_rng(0).integers(40, 200, (240, 320, 3), dtype=np.uint8)


def _noisy(rng: np.random.Generator, sigma: float = 2.0) -> npt.NDArray[np.uint8]:
    noise = rng.normal(0.0, sigma, SCENE.shape)
    return np.clip(SCENE.astype(np.float64) + noise, 0, 255).astype(np.uint8)


def _frame(image: npt.NDArray[np.uint8], t: float, i: int) -> Frame:
    return Frame(image=image, timestamp=t, index=i, source_id="t")


def test_a_frozen_stretch_before_the_plan_is_not_live() -> None:
    session = LivenessSession(ChallengePlan.of(["blink"]))
    finished_at = None
    for i in range(30):  # one second of one frame
        if session.watch(_frame(SCENE, i / 30, i)).finished:
            finished_at = i
            break
    # frozen_run_s is 0.5 s: the 17th identical frame at 30 fps is past it.
    assert finished_at == 16
    verdict = session.verdict()
    assert verdict.decision is LivenessDecision.NOT_LIVE
    assert verdict.reasons == (LivenessReason.FROZEN_FRAMES.value,)


def test_a_still_scene_with_sensor_noise_is_no_frozen_feed() -> None:
    rng = np.random.default_rng(1)
    session = LivenessSession(ChallengePlan.of(["blink"]))
    for i in range(90):  # three seconds of an empty, still room
        assert not session.watch(_frame(_noisy(rng), i / 30, i)).finished
    assert session.verdict().evidence["injection_duplicate_frames"] == 0


def test_a_frozen_run_that_crosses_into_the_plan_is_still_one_run() -> None:
    session = LivenessSession(ChallengePlan.of(["blink"]))
    for i in range(10):
        assert not session.watch(_frame(SCENE, i / 30, i)).finished
    progress = None
    for i in range(10, 30):
        progress = session.feed(_frame(SCENE, i / 30, i), None)
        if progress.finished:
            break
    assert progress is not None
    assert progress.finished
    assert session.verdict().reasons == (LivenessReason.FROZEN_FRAMES.value,)


def test_a_pause_before_the_plan_is_no_stalled_camera() -> None:
    rng = np.random.default_rng(2)
    session = LivenessSession(ChallengePlan.of(["blink"]))
    for i in range(10):
        assert not session.watch(_frame(_noisy(rng), i / 30, i)).finished
    # Nobody there, the camera idled for 3 s (max_frame_gap_s is 2 s); then the plan runs.
    for i in range(10, 20):
        progress = session.feed(_frame(_noisy(rng), 3.0 + i / 30, i), None)
        assert not progress.finished, progress.reasons
    # Once the plan runs, a stall counts as before (inconclusive, not an attack).
    progress = session.feed(_frame(_noisy(rng), 6.0, 20), None)
    assert progress.finished
    assert session.verdict().decision is LivenessDecision.INCONCLUSIVE
    assert session.verdict().reasons == (LivenessReason.CAMERA_STALLED.value,)


def test_timestamps_going_back_before_the_plan_are_evidence_of_injection() -> None:
    rng = np.random.default_rng(3)
    session = LivenessSession(ChallengePlan.of(["blink"]))
    assert not session.watch(_frame(_noisy(rng), 1.0, 0)).finished
    assert session.watch(_frame(_noisy(rng), 0.5, 1)).finished
    assert session.verdict().reasons == (LivenessReason.TIMESTAMP_ANOMALY.value,)


def test_watch_is_only_for_frames_before_the_plan() -> None:
    rng = np.random.default_rng(4)
    session = LivenessSession(ChallengePlan.of(["blink"]))
    session.feed(_frame(_noisy(rng), 0.0, 0), None)
    with pytest.raises(RuntimeError):
        session.watch(_frame(_noisy(rng), 0.1, 1))

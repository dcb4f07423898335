"""LivenessSession's rules on controlled input.

The mesh is real (mediapipe on a real NUAA frame); the movements are applied to it in 3D
(a head turn is a rotation of the mesh, a blink moves the upper lids onto the lower ones)
so every rule can be driven exactly: answers, wrong and early answers, time-outs, faces
leaving, two faces, a camera that stops, frozen and mistimed frames, virtual cameras.
Frames carry fresh sensor-like noise (the frame source is the seam being faked).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from facepay.config import LivenessConfig
from facepay.liveness import (
    ChallengePlan,
    LivenessProgress,
    LivenessReason,
    LivenessSession,
    measure_face,
)
from facepay.types import BoundingBox, FaceObservation, Frame, HeadPose, LivenessDecision

FPS = 30.0
UPPER_LIDS = (160, 158, 385, 387, 159, 386, 161, 157, 384, 388)
LOWER_LIDS = (144, 153, 380, 373, 145, 374, 163, 154, 381, 390)


@pytest.fixture(scope="module")
def mesh(eval_dir: Path) -> np.ndarray:
    from facepay.capture import read_image
    from facepay.vision import FaceMeshDetector

    with FaceMeshDetector(mode="image") as detector:
        faces = detector.detect(read_image(eval_dir / "pad" / "live" / "s0001_live_03.jpg"))
    assert faces, "the reference frame must show a face"
    return faces[0].landmarks.copy()


def rotate(lm: np.ndarray, yaw: float = 0.0, pitch: float = 0.0) -> np.ndarray:
    out = lm.astype(np.float64).copy()
    c = out.mean(axis=0)
    p = out - c
    a, b = math.radians(yaw), math.radians(pitch)
    x = p[:, 0] * math.cos(a) - p[:, 2] * math.sin(a)
    z = p[:, 0] * math.sin(a) + p[:, 2] * math.cos(a)
    # Looking up brings the chin (larger y) nearer the camera (smaller z).
    y = p[:, 1] * math.cos(b) + z * math.sin(b)
    z2 = -p[:, 1] * math.sin(b) + z * math.cos(b)
    return (np.stack([x, y, z2], axis=1) + c).astype(np.float32)


def blink(lm: np.ndarray, closure: float) -> np.ndarray:
    out = lm.copy()
    for up, lo in zip(UPPER_LIDS, LOWER_LIDS, strict=True):
        out[up, 1] = lm[lo, 1] + (lm[up, 1] - lm[lo, 1]) * (1.0 - closure)
    return out


def observe(lm: np.ndarray) -> FaceObservation:
    m = measure_face(lm)
    x0, y0 = lm[:, :2].min(axis=0)
    x1, y1 = lm[:, :2].max(axis=0)
    return FaceObservation(
        box=BoundingBox(x=float(x0), y=float(y0), width=float(x1 - x0), height=float(y1 - y0)),
        score=0.99,
        landmarks=lm,
        pose=HeadPose(yaw=m.yaw, pitch=m.pitch, roll=m.roll),
    )


def frames(n: int, *, start: float = 0.0, fps: float = FPS, seed: int = 0) -> Iterator[Frame]:
    rng = np.random.default_rng(seed)
    for i in range(n):
        image = rng.integers(90, 110, size=(480, 640, 3), dtype=np.uint8)
        yield Frame(image=image, timestamp=start + i / fps, index=i)


Script = Callable[[float], "FaceObservation | list[FaceObservation] | None"]


def run(session: LivenessSession, script: Script, seconds: float = 12.0) -> LivenessProgress:
    progress = None
    for frame in frames(int(seconds * FPS)):
        progress = session.feed(frame, script(frame.timestamp))
        if progress.finished:
            return progress
    assert progress is not None
    return progress


def bump(t: float, t0: float, t1: float) -> float:
    """0 -> 1 -> 0 over [t0, t1]."""
    if t < t0 or t > t1:
        return 0.0
    return math.sin(math.pi * (t - t0) / (t1 - t0))


def test_a_blink_answers_a_blink_prompt(mesh: np.ndarray) -> None:
    session = LivenessSession(ChallengePlan.of(["blink"]))
    progress = run(session, lambda t: observe(blink(mesh, 0.9 * bump(t, 1.5, 1.8))))
    verdict = session.verdict()
    assert progress.finished
    assert verdict.decision is LivenessDecision.LIVE, verdict.reasons
    assert verdict.evidence["passed"] == "blink"
    # The plan had no turn, so no parallax was measured, and the evidence says so.
    assert verdict.evidence["parallax_checked"] is False


def test_progress_reports_the_prompt_and_the_time_left(mesh: np.ndarray) -> None:
    session = LivenessSession(ChallengePlan.of(["blink", "smile"]))
    face = observe(mesh)
    first = session.feed(next(frames(1)), face)
    assert first.challenge is None
    assert first.prompt_code == "liveness.look_at_camera"
    progress = first
    for frame in frames(40, start=1 / FPS):
        progress = session.feed(frame, face)
    assert progress.challenge == "blink"
    assert progress.prompt_code == "liveness.blink"
    assert 0.0 < progress.seconds_left < LivenessConfig().challenge_window_s
    assert progress.progress == 0.0
    assert not progress.finished


def test_a_half_closed_squint_is_not_a_blink(mesh: np.ndarray) -> None:
    session = LivenessSession(ChallengePlan.of(["blink"]))
    run(session, lambda t: observe(blink(mesh, 0.25 * bump(t, 1.5, 1.8))))
    verdict = session.verdict()
    assert verdict.decision is LivenessDecision.INCONCLUSIVE
    assert verdict.reasons == ("challenge_timeout",)
    assert verdict.evidence["failed_challenge"] == "blink"


def test_a_turn_the_wrong_way_is_a_wrong_response(mesh: np.ndarray) -> None:
    session = LivenessSession(ChallengePlan.of(["turn_left"]))
    run(session, lambda t: observe(rotate(mesh, yaw=-30 * bump(t, 1.5, 3.0))))
    verdict = session.verdict()
    assert verdict.decision is LivenessDecision.NOT_LIVE
    assert verdict.reasons == ("wrong_response",)


def test_a_turn_during_a_blink_prompt_is_a_wrong_response(mesh: np.ndarray) -> None:
    session = LivenessSession(ChallengePlan.of(["blink"]))
    run(session, lambda t: observe(rotate(mesh, yaw=25 * bump(t, 1.5, 3.0))))
    assert session.verdict().reasons == ("wrong_response",)


def test_an_answer_faster_than_human_reaction_is_refused(mesh: np.ndarray) -> None:
    # The prompt shows at 0.6 s (end of warm-up); the eyes shut at 0.67 s and are open again
    # at 0.70 s: 0.1 s after the prompt, faster than anyone can react to it (a clip that
    # blinks on its own schedule).
    session = LivenessSession(ChallengePlan.of(["blink"]))
    run(session, lambda t: observe(blink(mesh, 0.95 if 0.65 < t < 0.69 else 0.0)))
    verdict = session.verdict()
    assert verdict.decision is LivenessDecision.NOT_LIVE
    assert verdict.reasons == ("early_response",)


def test_an_answer_that_begins_long_after_the_prompt_is_late(mesh: np.ndarray) -> None:
    # The prompt shows at 0.6 s; the eyes stay open until 3.5 s (2.9 s after it) and the
    # blink is over at 3.8 s, inside the 4 s window: a clip blinking on its own schedule,
    # not a shopper reacting to the prompt.
    session = LivenessSession(ChallengePlan.of(["blink"]))
    run(session, lambda t: observe(blink(mesh, 0.9 * bump(t, 3.5, 3.8))))
    verdict = session.verdict()
    assert verdict.decision is LivenessDecision.INCONCLUSIVE
    assert verdict.reasons == ("late_response",)
    assert verdict.evidence["failed_challenge"] == "blink"


def test_an_answer_begun_within_reaction_time_is_live_and_its_onset_is_evidence(
    mesh: np.ndarray,
) -> None:
    session = LivenessSession(ChallengePlan.of(["blink"]))
    run(session, lambda t: observe(blink(mesh, 0.9 * bump(t, 1.6, 1.9))))
    verdict = session.verdict()
    assert verdict.decision is LivenessDecision.LIVE, verdict.reasons
    # The eyes were last open about 1.0-1.1 s after the prompt (0.6 s).
    assert 0.9 < float(verdict.evidence["onset_s_0"]) < 1.2
    assert float(verdict.evidence["onset_s_0"]) < float(verdict.evidence["response_s_0"])


def test_the_onset_rule_can_be_turned_off(mesh: np.ndarray) -> None:
    session = LivenessSession(ChallengePlan.of(["blink"]), LivenessConfig(max_onset_s=0.0))
    run(session, lambda t: observe(blink(mesh, 0.9 * bump(t, 3.5, 3.8))))
    assert session.verdict().decision is LivenessDecision.LIVE


def test_a_head_turn_without_texture_parallax_is_not_live(mesh: np.ndarray) -> None:
    # The mesh turns, but the pixels are noise: no texture moves like a head. Fail closed.
    session = LivenessSession(ChallengePlan.of(["turn_left"]))
    run(session, lambda t: observe(rotate(mesh, yaw=30 * bump(t, 1.0, 2.5))))
    verdict = session.verdict()
    assert verdict.evidence["passed"] == "turn_left"
    assert verdict.decision is not LivenessDecision.LIVE
    assert set(verdict.reasons) <= {"parallax_unmeasured", "no_parallax"}
    assert verdict.reasons


def test_look_up_open_mouth_and_smile_are_detected(mesh: np.ndarray) -> None:
    def script(t: float) -> FaceObservation:
        lm = rotate(mesh, pitch=20 * bump(t, 1.0, 2.0))
        lm = lm.copy()
        iod = float(np.hypot(*(lm[33, :2] - lm[263, :2])))
        lm[14, 1] += 0.5 * iod * bump(t, 2.5, 3.5)  # lower lip drops
        widen = 0.3 * bump(t, 4.0, 5.0)
        mid = (lm[61, 0] + lm[291, 0]) / 2
        lm[61, 0] = mid + (lm[61, 0] - mid) * (1 + widen)
        lm[291, 0] = mid + (lm[291, 0] - mid) * (1 + widen)
        return observe(lm)

    session = LivenessSession(ChallengePlan.of(["look_up", "open_mouth", "smile"]))
    run(session, script)
    verdict = session.verdict()
    assert verdict.decision is LivenessDecision.LIVE, verdict.reasons
    assert verdict.evidence["passed"] == "look_up,open_mouth,smile"


def test_no_face_at_all_ends_with_no_face() -> None:
    session = LivenessSession(ChallengePlan.of(["blink"]))
    progress = run(session, lambda t: None, seconds=10)
    assert progress.finished
    assert session.verdict().reasons == ("no_face",)
    assert session.verdict().decision is LivenessDecision.INCONCLUSIVE


def test_a_face_leaving_mid_challenge_ends_with_face_lost(mesh: np.ndarray) -> None:
    session = LivenessSession(ChallengePlan.of(["blink", "smile"]))
    progress = run(session, lambda t: observe(mesh) if t < 1.5 else None)
    assert progress.finished
    assert progress.reasons == ("face_lost",)
    assert session.verdict().decision is LivenessDecision.INCONCLUSIVE


def test_two_faces_end_the_session(mesh: np.ndarray) -> None:
    session = LivenessSession(ChallengePlan.of(["blink"]))
    face = observe(mesh)
    progress = run(session, lambda t: [face, face] if t > 1.0 else face)
    assert progress.finished
    assert session.verdict().reasons == ("multiple_faces",)


def test_a_camera_that_stops_gives_camera_stopped_and_reset_starts_clean(mesh: np.ndarray) -> None:
    session = LivenessSession(ChallengePlan.of(["blink"]))
    for frame in frames(20):
        session.feed(frame, observe(mesh))
    verdict = session.verdict()  # the source ended here
    assert verdict.decision is LivenessDecision.INCONCLUSIVE
    assert verdict.reasons == ("camera_stopped",)
    session.reset()
    assert not session.finished
    run(session, lambda t: observe(blink(mesh, 0.9 * bump(t, 1.5, 1.8))))
    assert session.verdict().is_live


def test_a_long_gap_between_frames_is_a_stalled_camera(mesh: np.ndarray) -> None:
    session = LivenessSession(ChallengePlan.of(["blink"]))
    session.feed(next(frames(1)), observe(mesh))
    late = next(frames(1, start=5.0, seed=1))
    assert session.feed(late, observe(mesh)).finished
    assert session.verdict().reasons == ("camera_stalled",)


def test_frozen_frames_are_injection(mesh: np.ndarray) -> None:
    still = next(frames(1)).image
    session = LivenessSession(ChallengePlan.of(["blink"]))
    for i in range(40):
        session.feed(Frame(image=still, timestamp=i / FPS, index=i), observe(mesh))
    verdict = session.verdict()
    assert verdict.decision is LivenessDecision.NOT_LIVE
    assert verdict.reasons == ("frozen_frames",)


def test_timestamps_that_go_backwards_are_injection(mesh: np.ndarray) -> None:
    session = LivenessSession(ChallengePlan.of(["blink"]))
    for frame in frames(5, start=1.0):
        session.feed(frame, observe(mesh))
    session.feed(next(frames(1, start=0.5, seed=9)), observe(mesh))
    assert session.verdict().reasons == ("timestamp_anomaly",)


def test_an_impossible_frame_rate_is_injection(mesh: np.ndarray) -> None:
    session = LivenessSession(ChallengePlan.of(["blink"]))
    for frame in frames(20, fps=1000.0):
        session.feed(frame, observe(mesh))
    assert session.verdict().reasons == ("frame_rate_anomaly",)


@pytest.mark.parametrize(
    "name",
    [
        "OBS Virtual Camera",
        "Dummy video device (0x0000)",
        "ManyCam Virtual Webcam",
        "DroidCam Source 3",
    ],
)
def test_a_virtual_camera_is_refused_before_any_frame(name: str) -> None:
    session = LivenessSession(ChallengePlan.of(["blink"]), device_name=name)
    assert session.finished
    verdict = session.verdict()
    assert verdict.decision is LivenessDecision.NOT_LIVE
    assert verdict.reasons == ("virtual_camera",)


def test_a_real_webcam_name_is_not_a_virtual_camera() -> None:
    assert not LivenessSession(ChallengePlan.of(["blink"]), device_name="Logitech C920").finished


def test_evidence_is_numbers_and_flags_only_and_nothing_biometric_is_logged(
    mesh: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="facepay")
    session = LivenessSession(ChallengePlan.of(["blink"]))
    run(session, lambda t: observe(rotate(mesh, yaw=25 * bump(t, 1.5, 3.0))))
    verdict = session.verdict()
    assert all(isinstance(v, int | float | str | bool) for v in verdict.evidence.values())
    assert all(isinstance(v, str) for v in verdict.reasons)
    for record in caplog.records:
        assert "array" not in record.getMessage()
        assert len(record.getMessage()) < 300


def test_every_reason_maps_to_a_decision() -> None:
    attack = {r for r in LivenessReason if r.is_attack_evidence}
    assert LivenessReason.NO_PARALLAX in attack
    assert LivenessReason.CHALLENGE_TIMEOUT not in attack


def test_a_face_without_a_fitted_mesh_counts_as_no_face(mesh: np.ndarray) -> None:
    broken = observe(np.full_like(mesh, np.nan))
    session = LivenessSession(ChallengePlan.of(["blink"]))
    progress = run(session, lambda t: broken, seconds=10)
    assert progress.finished
    assert session.verdict().reasons == ("no_face",)


def test_a_source_ending_after_the_last_answer_still_concludes(mesh: np.ndarray) -> None:
    # The head turned (answered at ~1.5 s) and the clip ends before it came back: the
    # session concludes on what it measured instead of calling it a stopped camera.
    session = LivenessSession(ChallengePlan.of(["turn_left"]))
    for frame in frames(int(1.7 * FPS)):
        session.feed(
            frame, observe(rotate(mesh, yaw=min(30.0, 30 * max(0.0, frame.timestamp - 1.0) / 0.5)))
        )
    assert not session.finished
    verdict = session.verdict()
    assert verdict.evidence["passed"] == "turn_left"
    assert "camera_stopped" not in verdict.reasons
    assert verdict.decision is not LivenessDecision.LIVE  # noise has no parallax


def _turn_hold_return(t: float, peak: float, *, after: float = 0.0) -> float:
    """Yaw of a head that turns to ``peak`` (1.0-1.6 s), rests there (to 2.6 s), comes back
    to frontal (to 3.2 s), then turns ``after`` degrees (3.6-4.2 s)."""
    if t < 1.0:
        return 0.0
    if t < 1.6:
        return peak * (t - 1.0) / 0.6
    if t < 2.6:
        return peak
    if t < 3.2:
        return peak * (1.0 - (t - 2.6) / 0.6)
    if t < 3.6:
        return 0.0
    return after * min((t - 3.6) / 0.6, 1.0)


def _open_mouth(lm: np.ndarray, amount: float) -> np.ndarray:
    out = lm.copy()
    iod = float(np.hypot(*(out[33, :2] - out[263, :2])))
    out[14, 1] += 0.5 * iod * amount  # the lower lip drops
    return out


def test_coming_back_from_a_wide_turn_is_not_a_wrong_answer_to_the_next_prompt(
    mesh: np.ndarray,
) -> None:
    # A 32-degree turn, a rest there (the next prompt arms on that steady, turned head),
    # then back to frontal and the mouth opens. Half-way back the head is 16 degrees from
    # both the turned rest and the frontal baseline: judged by the nearer of the two, that
    # was an unasked turn, and whether a session saw it hinged on its first frame (d3 in
    # the shared clips flipped to not live when started 2 frames later; issue 14).
    session = LivenessSession(ChallengePlan.of(["turn_left", "open_mouth"]))
    run(
        session,
        lambda t: observe(
            _open_mouth(rotate(mesh, yaw=_turn_hold_return(t, 32.0)), bump(t, 3.3, 4.3))
        ),
    )
    verdict = session.verdict()
    assert "wrong_response" not in verdict.reasons
    assert verdict.evidence["passed"] == "turn_left,open_mouth"


@pytest.mark.parametrize("after", [-20.0, 52.0])
def test_a_turn_beyond_both_references_is_still_a_wrong_answer(
    mesh: np.ndarray, after: float
) -> None:
    # Same start, but then the head turns 20 degrees past frontal the other way, or 20
    # past the turned rest: a turn nobody asked for.
    session = LivenessSession(ChallengePlan.of(["turn_left", "open_mouth"]))
    run(session, lambda t: observe(rotate(mesh, yaw=_turn_hold_return(t, 32.0, after=after))))
    verdict = session.verdict()
    assert verdict.reasons == ("wrong_response",)
    assert verdict.evidence["failed_challenge"] == "open_mouth"


# A blink from a resting eye level: d14's blink at the till (issue 16), once refused.


def _partial_reopen_closure(t: float, after: float) -> float:
    """Wide open until 1.0 s, then resting lower (0.67 of wide: looking down at the till),
    a quick blink at 1.5-1.8 s, reopening to ``1 - after`` of wide."""
    rest = 0.0 if t < 1.0 else 0.33 if t < 1.65 else after
    shut = math.sin(math.pi * (t - 1.5) / 0.3) if 1.5 <= t <= 1.8 else 0.0
    return max(rest, 0.9 * shut)


def _prompted_mid_blink_closure(t: float, after: float) -> float:
    """d14 3-6 s: the prompt (0.6 s, after the warm-up) comes mid-blink (0.5-0.75 s), the
    eyes then rest at 0.65 of wide (looking down: under the 0.75 share that arms a blink
    on the session baseline), blink at 1.3-1.6 s and reopen to ``1 - after`` of wide."""
    first = math.sin(math.pi * (t - 0.5) / 0.25) if 0.5 <= t <= 0.75 else 0.0
    rest = 0.0 if t < 0.7 else 0.35 if t < 1.45 else after
    shut = math.sin(math.pi * (t - 1.3) / 0.3) if 1.3 <= t <= 1.6 else 0.0
    return max(rest, 0.9 * first, 0.9 * shut)


def _run_partial_reopen(
    mesh: np.ndarray,
    config: LivenessConfig,
    after: float,
    closure: Callable[[float, float], float] = _partial_reopen_closure,
) -> LivenessSession:
    """Frames until 2.5 s, then the camera stops (d14's 3-second segment ended 1.3 s
    after her blink; the rolling baseline, 2 s of eye ratios, still held her wide eyes)."""
    session = LivenessSession(ChallengePlan.of(["blink"]), config)
    rng = np.random.default_rng(0)
    for i in range(int(2.5 * FPS)):
        t = i / FPS
        image = rng.integers(90, 110, size=(480, 640, 3), dtype=np.uint8)
        frame = Frame(image=image, timestamp=t, index=i)
        if session.feed(frame, observe(blink(mesh, closure(t, after)))).finished:
            break
    session.stop()
    return session


def test_a_partial_reopen_to_the_resting_level_is_a_blink(mesh: np.ndarray) -> None:
    """Issue 16, d14.mp4 3-6 s at the till (once a known false refusal): lids 45 % shut
    after the blink, eye ratio 0.57 of wide open, under 0.75 of the session baseline but
    0.84 of the 33 %-shut level the eyes rested at after the prompt. Taken against that
    resting level (docs/liveness.md, Blink); without it (``blink_rest_s = 0``, the rule
    before) the camera stops first."""
    verdict = _run_partial_reopen(mesh, LivenessConfig(), after=0.45).verdict()
    assert verdict.decision is LivenessDecision.LIVE, verdict.reasons
    assert verdict.evidence["passed"] == "blink"
    before = _run_partial_reopen(mesh, LivenessConfig(blink_rest_s=0.0), after=0.45).verdict()
    assert before.reasons == (LivenessReason.CAMERA_STOPPED.value,)
    assert before.evidence["passed"] == ""


def test_a_blink_prompted_mid_blink_arms_on_the_resting_level_after_it(
    mesh: np.ndarray,
) -> None:
    # The blink under way at the prompt is not the answer; the one from the resting level
    # after it is, and it began within a reaction time of the prompt.
    closure = _prompted_mid_blink_closure
    verdict = _run_partial_reopen(mesh, LivenessConfig(), after=0.45, closure=closure).verdict()
    assert verdict.decision is LivenessDecision.LIVE, verdict.reasons
    assert 0.5 < float(verdict.evidence["response_s_0"]) < 1.2
    # The rule before issue 16 never armed: her eyes never reached 0.75 of the baseline.
    config = LivenessConfig(blink_rest_s=0.0)
    before = _run_partial_reopen(mesh, config, after=0.45, closure=closure).verdict()
    assert before.reasons == (LivenessReason.CAMERA_STOPPED.value,)
    # Eyes that stay shut after the blink under way at the prompt answer nothing.
    shut = _run_partial_reopen(mesh, LivenessConfig(), after=0.9, closure=closure).verdict()
    assert shut.decision is not LivenessDecision.LIVE
    assert shut.evidence["passed"] == ""


def test_the_same_blink_reopening_wide_is_taken(mesh: np.ndarray) -> None:
    # The control: the same trace reopening to the wide-open level passes, so the refusal
    # above is the reopen share, not the harness.
    verdict = _run_partial_reopen(mesh, LivenessConfig(), after=0.0).verdict()
    assert verdict.decision is LivenessDecision.LIVE, verdict.reasons
    assert verdict.evidence["passed"] == "blink"

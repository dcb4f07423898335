"""One liveness check: a plan of challenges answered on live frames, then a verdict.

The session runs on the frame source's clock (``Frame.timestamp``), never the wall clock, so
a recorded clip replays exactly as it ran at the till and a test needs no sleeps. It never
blocks: each ``feed`` returns at once with what the UI should show next.
"""

from __future__ import annotations

import collections
import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from facepay.config import LivenessConfig
from facepay.liveness._blink import BlinkAnswer, BlinkRule
from facepay.liveness._challenges import ChallengePlan, LivenessChallenge
from facepay.liveness._cues import PassiveCues
from facepay.liveness._injection import InjectionMonitor, is_virtual_camera
from facepay.liveness._measures import FaceMeasures, measure_face
from facepay.liveness._pad import PadModel
from facepay.liveness._parallax import ParallaxReading, ParallaxTracker
from facepay.types import FaceObservation, Frame, LivenessDecision, LivenessVerdict

__all__ = ["LivenessProgress", "LivenessReason", "LivenessSession"]

logger = logging.getLogger(__name__)


class LivenessReason(str, enum.Enum):
    """Why a session did not end live. The UI maps each to a message; the backend logs it."""

    # The shopper can simply try again (inconclusive).
    NO_FACE = "no_face"
    MULTIPLE_FACES = "multiple_faces"
    FACE_LOST = "face_lost"
    CHALLENGE_TIMEOUT = "challenge_timeout"
    LATE_RESPONSE = "late_response"
    PARALLAX_UNMEASURED = "parallax_unmeasured"
    CAMERA_STOPPED = "camera_stopped"
    CAMERA_STALLED = "camera_stalled"
    # Evidence of an attack (not live).
    WRONG_RESPONSE = "wrong_response"
    EARLY_RESPONSE = "early_response"
    NO_PARALLAX = "no_parallax"
    SCREEN_CUE = "screen_cue"
    PRINT_CUE = "print_cue"
    PAD_MODEL = "pad_model"
    VIRTUAL_CAMERA = "virtual_camera"
    FROZEN_FRAMES = "frozen_frames"
    TIMESTAMP_ANOMALY = "timestamp_anomaly"
    FRAME_RATE_ANOMALY = "frame_rate_anomaly"

    @property
    def is_attack_evidence(self) -> bool:
        return self in _ATTACK_EVIDENCE


_ATTACK_EVIDENCE = frozenset(
    {
        LivenessReason.WRONG_RESPONSE,
        LivenessReason.EARLY_RESPONSE,
        LivenessReason.NO_PARALLAX,
        LivenessReason.SCREEN_CUE,
        LivenessReason.PRINT_CUE,
        LivenessReason.PAD_MODEL,
        LivenessReason.VIRTUAL_CAMERA,
        LivenessReason.FROZEN_FRAMES,
        LivenessReason.TIMESTAMP_ANOMALY,
        LivenessReason.FRAME_RATE_ANOMALY,
    }
)

PROMPT_LOOK_AT_CAMERA = "liveness.look_at_camera"
PROMPT_ONE_FACE = "liveness.one_face_only"
PROMPT_FACE_BACK = "liveness.face_not_visible"
PROMPT_DONE = "liveness.done"


@dataclass(frozen=True, slots=True, kw_only=True)
class LivenessProgress:
    """What the UI shows after a frame: the current challenge and how much time is left.

    ``challenge`` is None while the session learns the shopper's neutral face (prompt
    ``liveness.look_at_camera``) and once finished. ``progress`` runs 0..1 over the plan.
    """

    challenge: str | None
    prompt_code: str
    seconds_left: float
    progress: float
    finished: bool
    challenge_index: int = 0
    reasons: tuple[str, ...] = ()


@dataclass(slots=True)
class _Baseline:
    ear: float
    yaw: float
    pitch: float
    mouth_open: float
    mouth_width: float
    aspect: float


def _aspect(face: FaceObservation) -> float:
    lm = face.landmarks
    h = float(np.hypot(*(lm[152, :2] - lm[10, :2])))
    w = float(np.hypot(*(lm[454, :2] - lm[234, :2])))
    return h / w if w > 1e-6 else 0.0


class LivenessSession:
    """Run one plan. ``feed`` every frame (with the face the vision stage found, a list of
    faces, or None); when ``finished``, read ``verdict()``. Fail closed: anything but a
    completed plan with all checks passed is not live.

    ``device_name`` (the camera's, from the frame source) is checked against known virtual
    cameras. ``pad_model`` optionally adds a passive model's score (it can refuse, never
    accept alone). ``reset()`` starts the same plan over; a fresh session with a fresh seed
    is better after a failure, so an attacker learns nothing from retries.
    """

    def __init__(
        self,
        plan: ChallengePlan,
        config: LivenessConfig | None = None,
        *,
        device_name: str | None = None,
        pad_model: PadModel | None = None,
    ) -> None:
        if not isinstance(plan, ChallengePlan):
            raise TypeError("plan must be a ChallengePlan (ChallengePlan.from_seed or .of)")
        self.plan = plan
        self.config = config or LivenessConfig()
        self._blink_rule = BlinkRule.of(self.config)
        self._device_name = device_name
        self._pad = pad_model
        self.reset()

    # -- state ---------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget everything measured and start the same plan from the beginning."""
        c = self.config
        self._injection = InjectionMonitor(c)
        self._watched = False  # frames before the plan were given to watch()
        self._cues = PassiveCues(c)
        self._history: collections.deque[tuple[float, FaceMeasures, float]] = collections.deque()
        self._t0: float | None = None
        self._t_last: float | None = None
        self._face_since: float | None = None
        self._last_face_t: float | None = None
        self._multi = 0
        self._baseline: _Baseline | None = None
        self._index = 0
        self._challenge_t0 = 0.0
        self._armed_t: float | None = None
        self._onset_t: float | None = None
        self._yaw_ref = 0.0
        self._blink = BlinkAnswer(self._blink_rule)
        self._hold = 0
        self._passed: list[str] = []
        self._response_s: list[float] = []
        self._onset_s: list[float] = []
        self._parallax: ParallaxTracker | None = None
        self._parallax_readings: list[ParallaxReading] = []
        self._parallax_until: float | None = None
        self._pad_scores: list[float] = []
        self._finished = False
        self._reasons: list[LivenessReason] = []
        self._failed_challenge: str | None = None
        if is_virtual_camera(self._device_name, c):
            self._finish(LivenessReason.VIRTUAL_CAMERA)

    @property
    def finished(self) -> bool:
        return self._finished

    def _finish(self, *reasons: LivenessReason) -> None:
        for r in reasons:
            if r not in self._reasons:
                self._reasons.append(r)
        if not any(r.is_attack_evidence for r in self._reasons):
            # Ending early (a timeout, the face lost, the camera stopped) would be
            # inconclusive, which a backend cannot tell from a slow shopper; strong screen
            # or print evidence makes it not_live: evidence of the attack it is.
            self._reasons.extend(r for r in self._strong_cues() if r not in self._reasons)
        self._finished = True
        self._close_parallax()

    def _strong_cues(self) -> list[LivenessReason]:
        """The screen and print cues' refusals, once they rest on enough samples."""
        least = self.config.strong_cue_min_samples
        if least <= 0 or self._cues.samples < least:
            return []
        return [LivenessReason(r) for r in self._cues.refusals()]

    def stop(self) -> None:
        """The frame source ended or failed before the plan was done (camera_stopped)."""
        if self._finished:
            return
        if self._baseline is not None and self._index >= len(self.plan):
            # Every challenge was answered; only the last turn's return was still tracked.
            self._close_parallax()
            self._conclude()
        else:
            self._finish(LivenessReason.CAMERA_STOPPED)

    # -- feeding -------------------------------------------------------------------------------
    def feed(
        self, frame: Frame, face: FaceObservation | Sequence[FaceObservation] | None
    ) -> LivenessProgress:
        """Process one frame. ``face``: the face found in it, every face found, or None."""
        if self._finished:
            return self._progress(frame.timestamp)
        t = float(frame.timestamp)
        if self._t0 is None and self._watched:
            self._injection.restart_timing()
        self._injection.feed(frame)
        if self._check_injection():
            return self._progress(t)
        if self._t0 is None:
            self._t0 = t
        self._t_last = t
        faces = [] if face is None else [face] if isinstance(face, FaceObservation) else list(face)
        if len(faces) == 1 and not np.isfinite(faces[0].landmarks).all():
            faces = []  # a face the mesh could not fit is no face to measure
        if len(faces) > 1:
            self._multi += 1
            self._face_since = None
            if self._multi >= self.config.multiple_faces_frames:
                self._finish(LivenessReason.MULTIPLE_FACES)
            return self._progress(t, PROMPT_ONE_FACE)
        self._multi = 0
        if not faces:
            return self._no_face(t)
        obs = faces[0]
        m = measure_face(obs.landmarks)
        self._last_face_t = t
        if self._face_since is None:
            self._face_since = t
        aspect = _aspect(obs)
        self._history.append((t, m, aspect))
        while self._history and t - self._history[0][0] > self.config.baseline_window_s:
            self._history.popleft()
        self._cues.feed(frame, obs, t)
        if self._pad is not None:
            self._pad_scores.append(self._pad.live_score(frame, obs))
        if self._baseline is None:
            return self._warmup(t, m, aspect)
        self._feed_parallax(frame, obs, m, t)
        self._step_challenge(t, m, aspect)
        if self._index >= len(self.plan) and not self._finished and self._parallax is None:
            self._conclude()
        return self._progress(t)

    def watch(self, frame: Frame) -> LivenessProgress:
        """A frame the till received before the plan started (the quality gate refused
        it, or nobody is in front of the camera yet): only the injection checks see it,
        so a frozen, looped or re-timed stretch anywhere in the session is caught, not
        only one after the gate let liveness start.

        A still, empty scene is not a frozen feed: a real sensor's noise moves every
        frame (``LivenessConfig.frozen_frame_max_diff``). A gap or a slow frame rate
        before the plan is not held against the camera either: those are measured from
        the plan's first frame (a stall is inconclusive, never evidence of an attack).
        """
        if self._finished:
            return self._progress(frame.timestamp)
        if self._t0 is not None:
            raise RuntimeError("watch() is for frames before the plan's first feed()")
        self._injection.feed(frame)
        self._watched = True
        self._check_injection(attacks_only=True)
        return self._progress(float(frame.timestamp))

    def _check_injection(self, *, attacks_only: bool = False) -> bool:
        flags = self._injection.flags
        attack = []
        if flags.frozen:
            attack.append(LivenessReason.FROZEN_FRAMES)
        if flags.timestamp_anomaly:
            attack.append(LivenessReason.TIMESTAMP_ANOMALY)
        if flags.frame_rate_anomaly:
            attack.append(LivenessReason.FRAME_RATE_ANOMALY)
        if attack:
            self._finish(*attack)
            return True
        if flags.stalled and not attacks_only:
            self._finish(LivenessReason.CAMERA_STALLED)
            return True
        return False

    def _no_face(self, t: float) -> LivenessProgress:
        c = self.config
        self._face_since = None
        if self._baseline is None:
            if self._t0 is not None and t - self._t0 > c.max_warmup_s:
                self._finish(LivenessReason.NO_FACE)
            return self._progress(t, PROMPT_FACE_BACK)
        if self._index >= len(self.plan):
            # All answered: the shopper stepping away while the last turn's return was still
            # being tracked does not undo the answers.
            self._close_parallax()
            self._conclude()
            return self._progress(t)
        last = self._last_face_t if self._last_face_t is not None else t
        if t - last > c.face_lost_s:
            self._finish(LivenessReason.FACE_LOST)
        # Texture tracks cannot survive a gap: what was measured so far is kept.
        self._close_parallax()
        return self._progress(t, PROMPT_FACE_BACK)

    def _warmup(self, t: float, m: FaceMeasures, aspect: float) -> LivenessProgress:
        c = self.config
        if self._t0 is not None and t - self._t0 > c.max_warmup_s:
            self._finish(LivenessReason.NO_FACE)
            return self._progress(t)
        since = self._face_since if self._face_since is not None else t
        if t - since < c.warmup_s:
            return self._progress(t, PROMPT_LOOK_AT_CAMERA)
        recent = [(mm, a) for (tt, mm, a) in self._history if tt >= since]
        self._baseline = _Baseline(
            ear=self._ear_baseline(),
            yaw=float(np.median([mm.yaw for mm, _ in recent])),
            pitch=float(np.median([mm.pitch for mm, _ in recent])),
            mouth_open=float(np.median([mm.mouth_open for mm, _ in recent])),
            mouth_width=float(np.median([mm.mouth_width for mm, _ in recent])),
            aspect=float(np.median([a for _, a in recent])),
        )
        self._start_challenge(t)
        return self._progress(t)

    def _ear_baseline(self) -> float:
        values = [mm.ear for (_, mm, _) in self._history]
        return float(np.percentile(values, self.config.baseline_percentile)) if values else 0.0

    # -- challenges ------------------------------------------------------------------------------
    def _start_challenge(self, t: float) -> None:
        self._challenge_t0 = t
        self._armed_t = None
        self._onset_t = None
        self._blink = BlinkAnswer(self._blink_rule)
        self._hold = 0
        if self._index < len(self.plan) and self.plan.challenges[self._index].is_turn:
            self._parallax = ParallaxTracker(
                segment_turn_deg=self.config.parallax_segment_turn_deg,
                max_segment_frames=self.config.parallax_segment_max_frames,
            )
            self._parallax_until = None

    def _feed_parallax(self, frame: Frame, obs: FaceObservation, m: FaceMeasures, t: float) -> None:
        if self._parallax is None:
            return
        self._parallax.feed(frame.image, obs.landmarks, m.yaw)
        b = self._baseline
        assert b is not None
        # After the turn was answered, keep tracking while the head comes back (that half of
        # the movement shows parallax too), for at most 1 s.
        if self._parallax_until is not None and (
            t >= self._parallax_until or abs(m.yaw - b.yaw) < self.config.turn_min_deg / 3
        ):
            self._close_parallax()

    def _head_steady(self, t: float, span_s: float = 0.3, max_deg: float = 6.0) -> bool:
        recent = [mm.yaw for (tt, mm, _) in self._history if t - tt <= span_s]
        return len(recent) >= 3 and max(recent) - min(recent) < max_deg

    def _close_parallax(self) -> None:
        if self._parallax is not None:
            reading = self._parallax.reading()
            if reading is not None:
                self._parallax_readings.append(reading)
        self._parallax = None

    def _parallax_reading(self) -> ParallaxReading | None:
        """The reading of the largest prompted turn (a plan may hold two turns)."""
        if not self._parallax_readings:
            return None
        return max(self._parallax_readings, key=lambda r: r.turn_deg)

    def _turned_away(self, yaw: float, baseline_yaw: float) -> bool:
        """During a non-turn challenge: has the head turned ``wrong_turn_deg`` beyond both
        the yaw it settled at when the challenge armed and the frontal baseline?

        A challenge that follows a turn often arms while the head still rests turned (it
        is steady there), and the shopper then comes back to frontal. Coming back passes
        between the two references: with a turn of 30 degrees or more its midpoint is 15
        degrees from both, so judging by the nearer reference alone refused real shoppers
        depending on which frame the session started on (d3, issue 14). A head between
        the two references is finishing the previous answer, not giving a wrong one.
        """
        c = self.config
        low, high = sorted((self._yaw_ref, baseline_yaw))
        return yaw <= low - c.wrong_turn_deg or yaw >= high + c.wrong_turn_deg

    def _step_challenge(self, t: float, m: FaceMeasures, aspect: float) -> None:
        c = self.config
        b = self._baseline
        if b is None or self._index >= len(self.plan):
            return
        challenge = self.plan.challenges[self._index]
        elapsed = t - self._challenge_t0
        if elapsed > c.challenge_window_s:
            self._failed_challenge = challenge.value
            self._finish(LivenessReason.CHALLENGE_TIMEOUT)
            return
        ear_base = max(self._ear_baseline(), 1e-6)
        dyaw, dpitch = m.yaw - b.yaw, m.pitch - b.pitch
        mouth_gain = m.mouth_open - b.mouth_open
        smile_gain = m.mouth_width / max(b.mouth_width, 1e-6) - 1.0
        blinked = False
        if challenge is LivenessChallenge.BLINK:
            # The blink rule keeps its own arming, onset and closure (liveness/_blink.py):
            # eyes open against the session baseline or at a resting level seen after the
            # prompt. A tilted photo squashes the eyes and the face together: such a frame
            # is never a closed eye.
            squashed = abs(aspect / max(b.aspect, 1e-6) - 1.0) > c.blink_max_face_aspect_change
            blinked = self._blink.feed(
                t, m.ear, ear_base, shape_kept=not squashed, settled=self._head_steady(t)
            )
        neutral = {
            LivenessChallenge.BLINK: self._blink.armed_t is not None,
            LivenessChallenge.TURN_LEFT: dyaw < c.turn_min_deg / 2,
            LivenessChallenge.TURN_RIGHT: dyaw > -c.turn_min_deg / 2,
            LivenessChallenge.LOOK_UP: dpitch < c.look_up_min_deg / 2,
            LivenessChallenge.OPEN_MOUTH: mouth_gain < c.mouth_open_min_gain / 2,
            LivenessChallenge.SMILE: smile_gain < c.smile_min_gain / 2,
        }[challenge]
        if self._armed_t is None:
            # The answer counts only from a neutral face after the prompt, so the tail of the
            # previous answer (or an action already under way) is not taken as this one. A
            # non-turn challenge also waits for the head to settle and takes that settled yaw
            # as its reference (a shopper coming back from a turn rarely lands exactly where
            # the warm-up was).
            settled = abs(dyaw) < c.wrong_turn_deg if challenge.is_turn else self._head_steady(t)
            if neutral and settled:
                self._armed_t = self._onset_t = t
                self._yaw_ref = m.yaw
            return
        # The answer's onset: the last neutral frame before it (for a blink, the last
        # open-eye frame before the eyes closed: the blink rule keeps it).
        if neutral and challenge is not LivenessChallenge.BLINK:
            self._onset_t = t
        # A head turn that was not asked for is a wrong answer: a replayed clip that turns
        # on its own schedule fails here. Blinks and mouth movements are spontaneous in real
        # people, so they are never held against a shopper.
        if (
            (challenge is LivenessChallenge.TURN_LEFT and dyaw <= -c.wrong_turn_deg)
            or (challenge is LivenessChallenge.TURN_RIGHT and dyaw >= c.wrong_turn_deg)
            or (not challenge.is_turn and self._turned_away(m.yaw, b.yaw))
        ):
            self._failed_challenge = challenge.value
            self._finish(LivenessReason.WRONG_RESPONSE)
            return
        done = False
        if challenge is LivenessChallenge.BLINK:
            done = blinked
            self._onset_t = self._blink.onset_t
        else:
            hit = {
                LivenessChallenge.TURN_LEFT: dyaw >= c.turn_min_deg,
                LivenessChallenge.TURN_RIGHT: dyaw <= -c.turn_min_deg,
                LivenessChallenge.LOOK_UP: dpitch >= c.look_up_min_deg,
                LivenessChallenge.OPEN_MOUTH: mouth_gain >= c.mouth_open_min_gain,
                LivenessChallenge.SMILE: smile_gain >= c.smile_min_gain,
            }[challenge]
            self._hold = self._hold + 1 if hit else 0
            done = self._hold >= 2  # two frames in a row: one noisy mesh frame is not an answer
        if not done:
            return
        if elapsed < c.min_reaction_s:
            self._failed_challenge = challenge.value
            self._finish(LivenessReason.EARLY_RESPONSE)
            return
        onset = (self._onset_t if self._onset_t is not None else t) - self._challenge_t0
        if c.max_onset_s > 0 and onset > c.max_onset_s:
            # A shopper starts answering within a reaction time of the prompt; an action
            # that only began long after it was not an answer to it (a replay acting on its
            # own schedule). A slow shopper may simply try again: inconclusive.
            self._failed_challenge = challenge.value
            self._finish(LivenessReason.LATE_RESPONSE)
            return
        self._passed.append(challenge.value)
        self._response_s.append(elapsed)
        self._onset_s.append(onset)
        if challenge.is_turn and self._parallax is not None:
            self._parallax_until = t + 1.0
        self._index += 1
        if self._index < len(self.plan):
            self._start_challenge(t)

    # -- verdict -----------------------------------------------------------------------------
    def _conclude(self) -> None:
        c = self.config
        reasons: list[LivenessReason] = []
        reading = self._parallax_reading()
        # Parallax needs a prompted turn: seeded plans always hold one. An explicit plan
        # without a turn (a demo, a kiosk that cannot ask for turns) goes without it, which
        # the evidence says ("parallax_checked": false) and docs/liveness.md warns about.
        if c.parallax_required and any(ch.is_turn for ch in self.plan.challenges):
            if reading is None or reading.turn_deg < c.parallax_min_turn_deg:
                reasons.append(LivenessReason.PARALLAX_UNMEASURED)
            elif reading.deviation < c.parallax_min_deviation:
                reasons.append(LivenessReason.NO_PARALLAX)
        reasons.extend(LivenessReason(r) for r in self._cues.refusals())
        pad = self._pad
        if (
            pad is not None
            and self._pad_scores
            and np.median(self._pad_scores) < pad.card.threshold
        ):
            reasons.append(LivenessReason.PAD_MODEL)
        self._finish(*reasons)

    def _progress(self, t: float, prompt: str | None = None) -> LivenessProgress:
        n = len(self.plan)
        done = min(self._index, n)
        if self._finished:
            return LivenessProgress(
                challenge=None,
                prompt_code=PROMPT_DONE,
                seconds_left=0.0,
                progress=done / n,
                finished=True,
                challenge_index=done,
                reasons=tuple(r.value for r in self._reasons),
            )
        if self._baseline is None or self._index >= n:
            return LivenessProgress(
                challenge=None,
                prompt_code=prompt or PROMPT_LOOK_AT_CAMERA,
                seconds_left=self.config.challenge_window_s,
                progress=done / n,
                finished=False,
                challenge_index=done,
            )
        challenge = self.plan.challenges[self._index]
        left = max(0.0, self.config.challenge_window_s - (t - self._challenge_t0))
        return LivenessProgress(
            challenge=challenge.value,
            prompt_code=prompt or challenge.prompt_code,
            seconds_left=round(left, 3),
            progress=done / n,
            finished=False,
            challenge_index=done,
        )

    def verdict(self) -> LivenessVerdict:
        """The decision so far. Before the plan is done this is inconclusive (camera_stopped)."""
        if not self._finished:
            self.stop()
        reasons = tuple(r.value for r in self._reasons)
        if any(r.is_attack_evidence for r in self._reasons):
            decision = LivenessDecision.NOT_LIVE
        elif self._reasons or len(self._passed) < len(self.plan):
            decision = LivenessDecision.INCONCLUSIVE
        else:
            decision = LivenessDecision.LIVE
        if decision is not LivenessDecision.LIVE:
            logger.info("liveness: %s (%s)", decision.value, ",".join(reasons))
        return LivenessVerdict(
            decision=decision,
            reasons=reasons,
            challenges=self.plan.names,
            evidence=self._evidence(),
        )

    def _evidence(self) -> dict[str, float | int | str | bool]:
        ev: dict[str, float | int | str | bool] = {
            "plan": ",".join(self.plan.names),
            "passed": ",".join(self._passed),
            "challenges_passed": len(self._passed),
        }
        if self._failed_challenge:
            ev["failed_challenge"] = self._failed_challenge
        for i, s in enumerate(self._response_s):
            ev[f"response_s_{i}"] = round(s, 3)
        for i, s in enumerate(self._onset_s):
            ev[f"onset_s_{i}"] = round(s, 3)
        if self._t0 is not None and self._t_last is not None:
            ev["duration_s"] = round(self._t_last - self._t0, 3)
        reading = self._parallax_reading()
        ev["parallax_checked"] = any(ch.is_turn for ch in self.plan.challenges)
        if reading is not None:
            ev["parallax_deviation"] = round(reading.deviation, 4)
            ev["parallax_turn_deg"] = round(reading.turn_deg, 1)
            ev["parallax_segments"] = reading.segments
            ev["parallax_signed"] = round(reading.signed, 4)
        if self._baseline is not None:
            ev["open_eye_baseline"] = round(self._baseline.ear, 4)
        ev.update({f"injection_{k}": v for k, v in self._injection.evidence.items()})
        ev["virtual_camera"] = is_virtual_camera(self._device_name, self.config)
        ev.update(self._cues.evidence())
        if self._pad_scores:
            ev["pad_model"] = self._pad.card.name if self._pad is not None else ""
            ev["pad_live_score"] = round(float(np.median(self._pad_scores)), 4)
        return ev

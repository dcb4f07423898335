"""The state machine shared by payment and enrollment: its table, guards, per-state
timeouts, and what it does with each camera frame."""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from facepay import wire
from facepay.checkout._events import (
    _FINAL,
    CheckoutEvent,
    CheckoutFinished,
    CheckoutState,
    FailureReason,
    FrameFeedback,
    LivenessProgressed,
    NothingTakenError,
    QualityPrompt,
    StateChanged,
)
from facepay.client import FacePayClient
from facepay.config import CheckoutConfig
from facepay.errors import (
    BackendError,
    CaptureError,
    CheckoutError,
    InvalidImageError,
    SessionExpiredError,
)
from facepay.types import (
    FaceObservation,
    FaceTemplate,
    Frame,
    HandCoverage,
    LivenessDecision,
    LivenessVerdict,
    QualityReason,
    QualityReport,
    SealedTemplate,
)

if TYPE_CHECKING:
    # facepay.liveness pulls in OpenCV: imported when a session starts, not with the flow.
    from facepay.liveness import ChallengePlan, LivenessProgress, LivenessReason

__all__ = [
    "FaceFinder",
    "FlowParts",
    "FrameStream",
    "HandCheck",
    "LivenessCheck",
    "LivenessFactory",
    "PinSealer",
    "TemplateFuser",
    "TemplateMaker",
    "TemplateSealer",
    "Transition",
]

logger = logging.getLogger(__name__)

_E = TypeVar("_E", bound=NothingTakenError)


# What the flow needs of each stage, with the stages' own types. The real ones are
# facepay.vision.FrameAnalyzer, facepay.vision's embedders, facepay.liveness.LivenessSession
# and the till's SessionSealer; a test may stand in for any of them.


# A bounded best-first min-heap of (utility, tiebreak, frame, face): the candidates for
# fusion, and an enrollment's turned views.
_Heap = list[tuple[float, int, Frame, FaceObservation]]


class FaceFinder(Protocol):
    """Finds the face in a frame and grades it: detection and the quality gate in one call."""

    def analyze(self, frame: Frame) -> QualityReport: ...

    def reset(self) -> None:
        """Forget faces tracked across frames: a new shopper (a replayed clip) starts afresh."""


class HandCheck(Protocol):
    """How much of a face a hand covers (``facepay.vision.HandCoverageDetector``): the
    detector stays confident when a hand covers the mouth, so the hand is looked for."""

    def measure(self, frame: Frame, face: FaceObservation) -> HandCoverage: ...


class TemplateMaker(Protocol):
    """Makes the template of one face in one frame."""

    @property
    def model_id(self) -> str: ...

    def embed(self, frame: Frame, face: FaceObservation) -> FaceTemplate: ...


class LivenessCheck(Protocol):
    """Fed every frame while the shopper answers the plan's challenges, then asked for a
    verdict; ``stop`` says the frames ended first. ``watch`` is given every frame before
    that (from the session's first frame until the quality gate passes one) for the
    injection checks alone: its progress is ``finished`` when they refuse."""

    @property
    def plan(self) -> ChallengePlan: ...

    def watch(self, frame: Frame) -> LivenessProgress: ...

    def feed(
        self, frame: Frame, face: FaceObservation | Sequence[FaceObservation] | None
    ) -> LivenessProgress: ...

    def stop(self) -> None: ...

    def verdict(self) -> LivenessVerdict: ...


class FrameStream(Protocol):
    """What the flow reads of a camera (any ``facepay.capture.FrameSource``): its frames,
    and its device name for liveness's virtual-camera check."""

    @property
    def device_name(self) -> str: ...

    def frames(self) -> Iterator[Frame]: ...


class TemplateSealer(Protocol):
    """Seals a template to the backend key the session names, bound to that session."""

    def seal(self, template: FaceTemplate, session: wire.CheckoutSessionInfo) -> SealedTemplate: ...

    def forget_keys(self) -> None:
        """The backend could not open what this sealer sealed (``unknown_key_id``,
        ``sealed_template_invalid``): the keys it holds are stale, or were forged by
        whoever answered ``GET /v1/keys``; fetch them again before the next seal."""


class PinSealer(Protocol):
    """Seals a shopper's PIN to the backend key the session names (base64url blobs): for
    the enrollment session, or for the one authorization whose step-up it answers."""

    def seal_enrollment_pin(self, pin: str, session: wire.CheckoutSessionInfo) -> str: ...

    def seal_step_up_pin(
        self, pin: str, session: wire.CheckoutSessionInfo, authorization_id: str
    ) -> str: ...


# Builds a liveness check from the backend session's 32-byte seed and the camera's name.
LivenessFactory = Callable[[bytes, str | None], LivenessCheck]
# Fuses several templates of one face into one (``facepay.vision.fuse_templates``).
TemplateFuser = Callable[[Sequence[FaceTemplate]], FaceTemplate]


@dataclass(frozen=True, slots=True)
class FlowParts:
    """Everything a session composes, built once per till (models load once)."""

    client: FacePayClient
    analyzer: FaceFinder
    embedder: TemplateMaker
    fuse: TemplateFuser
    liveness: LivenessFactory
    sealer: TemplateSealer
    config: CheckoutConfig = field(default_factory=CheckoutConfig)
    clock: Callable[[], float] = time.monotonic
    # Looks for a hand over the face on the candidate frames of an enrollment (and of a
    # payment, CheckoutConfig.hand_check_payments); None: not looked for.
    hands: HandCheck | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """``event`` moves the flow from any of ``sources`` to ``target`` if ``guard`` holds.

    ``guard`` names a predicate method of the flow (python-statemachine style), so the
    table reads like the spec and a typo fails when the class is defined.
    """

    event: str
    sources: frozenset[CheckoutState]
    target: CheckoutState
    guard: str | None = None


def _t(
    event: str,
    sources: CheckoutState | Iterable[CheckoutState],
    target: CheckoutState,
    guard: str | None = None,
) -> Transition:
    src = frozenset([sources]) if isinstance(sources, CheckoutState) else frozenset(sources)
    return Transition(event, src, target, guard)


S = CheckoutState
_WAITING = frozenset({S.CLAIM, S.CAPTURING, S.LIVENESS, S.PROCESSING, S.STEP_UP})


class _FaceFlow:
    """The machinery shared by payment and enrollment: table, guards, timeouts, frames."""

    # Subclasses declare these; __init_subclass__ checks them when the class is defined.
    TRANSITIONS: ClassVar[tuple[Transition, ...]]
    # State -> name of the CheckoutConfig field holding its timeout in seconds.
    TIMEOUTS: ClassVar[Mapping[CheckoutState, str]] = {
        S.CLAIM: "claim_timeout_s",
        S.CAPTURING: "capture_timeout_s",
        S.LIVENESS: "liveness_timeout_s",
        S.PROCESSING: "processing_timeout_s",
        S.STEP_UP: "step_up_timeout_s",
    }

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table = getattr(cls, "TRANSITIONS", None)
        if not table:
            raise TypeError(f"{cls.__name__} declares no TRANSITIONS")
        reachable = {S.IDLE}
        for tr in table:
            if tr.guard is not None and not callable(getattr(cls, tr.guard, None)):
                raise TypeError(f"{cls.__name__}: guard {tr.guard!r} is not a method")
            if tr.sources & _FINAL:
                raise TypeError(f"{cls.__name__}: {tr.event!r} leaves a final state")
            reachable.add(tr.target)
        for state in cls.TIMEOUTS:
            if state in _FINAL:
                raise TypeError(f"{cls.__name__}: final state {state.value} has a timeout")
            if not hasattr(CheckoutConfig, cls.TIMEOUTS[state]):
                raise TypeError(f"{cls.__name__}: no CheckoutConfig.{cls.TIMEOUTS[state]}")
        # Every state the flow can wait in must end on its own: a shopper who walks away
        # must never leave frames in memory.
        for state in reachable - _FINAL - {S.IDLE}:
            exits = {tr.event for tr in table if state in tr.sources}
            if state not in cls.TIMEOUTS or not {"time_out", "cancel"} <= exits:
                raise TypeError(f"{cls.__name__}: {state.value} cannot time out and be cancelled")

    def __init__(
        self,
        parts: FlowParts,
        *,
        camera_name: str | None = None,
        on_event: Callable[[CheckoutEvent], None] | None = None,
    ) -> None:
        self._parts = parts
        self._config = parts.config
        self._clock = parts.clock
        self._on_event = on_event
        self._lock = threading.RLock()
        self._state = S.IDLE
        self._entered_at = self._clock()
        self._reason: FailureReason | None = None
        self._liveness_reasons: tuple[LivenessReason, ...] = ()
        self._session: wire.CheckoutSessionInfo | None = None
        self._liveness: LivenessCheck | None = None
        self._verdict: LivenessVerdict | None = None
        self._last_report: QualityReport | None = None
        # Best-first candidates for fusion: a bounded min-heap of (utility, tiebreak, frame, face).
        self._candidates: _Heap = []
        self._tiebreak = itertools.count()
        # Frames kept out of the candidates for a hand over the face, and why the frames
        # were not clear when the attempt ends FACE_NOT_CLEAR or FACE_COVERED.
        self._covered_frames = 0
        self._quality_reasons: tuple[QualityReason, ...] = ()
        self._sealed: SealedTemplate | None = None
        self._liveness_seed = b""
        # The camera's name (``FrameSource.device_name``): liveness refuses known virtual
        # cameras (injection). A caller that feeds frames itself passes it; ``run()``
        # fills it in from its source when it was not given.
        self.camera_name = camera_name

    # ---------------------------------------------------------------- state and events

    @property
    def state(self) -> CheckoutState:
        return self._state

    @property
    def reason(self) -> FailureReason | None:
        """Why the flow ended without a backend decision (None while it has not)."""
        return self._reason

    @property
    def liveness_reasons(self) -> tuple[LivenessReason, ...]:
        """The liveness signals that refused, when :attr:`reason` is ``LIVENESS_FAILED``."""
        return self._liveness_reasons

    @property
    def holds_biometric_data(self) -> bool:
        """True while a frame, a face or a clear template of the shopper is in memory."""
        return bool(self._candidates) or self._liveness is not None or self._last_report is not None

    @property
    def seconds_left(self) -> float | None:
        """Seconds before the current state times out (``None`` when it cannot)."""
        name = self.TIMEOUTS.get(self._state)
        if name is None:
            return None
        limit = float(getattr(self._config, name))
        return max(0.0, limit - (self._clock() - self._entered_at))

    def can(self, event: str) -> bool:
        """Would ``event`` be allowed now (guards included)?"""
        return self._choose(event) is not None

    def _emit(self, event: CheckoutEvent) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:  # a UI bug must not break a payment in flight
            logger.exception("checkout event handler failed on %s", type(event).__name__)

    def _choose(self, event: str) -> Transition | None:
        for tr in self.TRANSITIONS:
            if (
                tr.event == event
                and self._state in tr.sources
                and (tr.guard is None or getattr(self, tr.guard)())
            ):
                return tr
        return None

    def _fire(
        self, event: str, reason: FailureReason | None = None, detail: str = ""
    ) -> CheckoutState:
        tr = self._choose(event)
        if tr is None:
            known = any(t.event == event and self._state in t.sources for t in self.TRANSITIONS)
            why = "its guard does not hold" if known else "not allowed"
            raise CheckoutError(f"cannot {event!r} while {self._state.value}: {why}")
        previous, self._state = self._state, tr.target
        self._entered_at = self._clock()
        self._reason = reason
        logger.info(
            "checkout %s -> %s (%s%s%s)",
            previous.value,
            tr.target.value,
            event,
            f": {reason.value}" if reason else "",
            f" {detail}" if detail else "",
        )
        if tr.target in _FINAL or tr.target is S.PROCESSING:
            self._drop_biometrics()
        self._emit(StateChanged(previous=previous, state=tr.target, event=event, reason=reason))
        return tr.target

    def _drop_biometrics(self) -> None:
        self._candidates.clear()
        self._liveness = None
        self._last_report = None

    def check_timeout(self) -> bool:
        """End the current state if it has run out of time. Call it from a UI timer too:
        a shopper who walks away stops feeding frames."""
        with self._lock:
            left = self.seconds_left
            if left is not None and left <= 0.0:
                self._fire("time_out", reason=FailureReason.timeout_of(self._state))
                self._finish()
                return True
            return False

    def cancel(self, reason: FailureReason = FailureReason.CANCELLED) -> None:
        """Abandon the attempt and drop every frame and template. Idempotent."""
        with self._lock:
            if self._state.is_final:
                return
            self._fire("cancel", reason=reason)
            self._finish()

    def _fail(self, reason: FailureReason, detail: str = "") -> None:
        self._fire("fail", reason=reason, detail=detail)
        self._finish()

    def _finish(self) -> None:
        self._emit(
            CheckoutFinished(
                state=self._state, reason=self._reason, liveness_reasons=self._liveness_reasons
            )
        )

    def _nothing_taken(self, error: type[_E], message: str) -> _E:
        """The error that says this attempt ended before the backend decided, and why."""
        # No reason only if the backend decided, and then nothing raises this.
        reason = self._reason or FailureReason.CANCELLED
        return error(
            f"{message}: {reason.value}",
            state=self._state,
            reason=reason,
            liveness_reasons=self._liveness_reasons,
            quality_reasons=self._quality_reasons,
        )

    def _require(self, *states: CheckoutState) -> None:
        if self._state not in states:
            wanted = " or ".join(s.value for s in states)
            raise CheckoutError(f"the flow is {self._state.value}, not {wanted}")

    # ---------------------------------------------------------------- guards

    def face_is_usable(self) -> bool:
        return self._last_report is not None and self._last_report.passed

    def verdict_is_live(self) -> bool:
        return self._verdict is not None and self._verdict.is_live

    def has_fusable_frames(self) -> bool:
        return bool(self._candidates)

    # ---------------------------------------------------------------- frames

    def _open_backend_session(self, purpose: wire.SessionPurpose) -> None:
        # A video-mode analyzer tracks faces across frames: a new shopper starts afresh
        # (and a replayed clip's timestamps start again at 0).
        self._parts.analyzer.reset()
        self._session = self._parts.client.open_session(purpose)
        # The backend's seed decides the challenges, so a recording cannot know them.
        self._liveness_seed = wire.b64decode(self._session.liveness_seed)

    def _liveness_check(self) -> LivenessCheck:
        """The attempt's liveness check, built at its first frame (the camera's name is
        known by then): it watches every frame, also those before the gate passes one."""
        if self._liveness is None:
            self._liveness = self._parts.liveness(self._liveness_seed, self.camera_name)
        return self._liveness

    def feed(self, frame: Frame) -> FrameFeedback:
        """Analyse one camera frame: quality, then liveness; seals once the shopper is live.

        Call it from the camera worker thread for every frame while the state is
        ``capturing`` or ``liveness``. Frames in any other state are ignored (the answer
        says which state the flow is in), so a camera thread need not stop at once.
        """
        with self._lock:
            if self.check_timeout() or self._state not in (S.CAPTURING, S.LIVENESS):
                return FrameFeedback(state=self._state, frame_index=frame.index)
            try:
                report = self._parts.analyzer.analyze(frame)
            except InvalidImageError as exc:
                # One corrupt frame from a flaky camera is skipped, not fatal: the state's
                # timeout ends a camera that sends nothing usable.
                logger.debug("frame %d skipped: %s", frame.index, exc)
                return FrameFeedback(state=self._state, frame_index=frame.index)
            self._last_report = report
            if not report.passed:
                self._emit(QualityPrompt(reasons=report.reasons, frame_index=frame.index))
            if self._state is S.CAPTURING:
                # Every frame before the gate passes one goes to the injection checks: a
                # frozen or re-timed stretch before liveness starts is caught too.
                if self._liveness_check().watch(frame).finished:
                    self._conclude_safely()
                    return FrameFeedback(state=self._state, frame_index=frame.index)
                if self.can("face_found"):
                    self._fire("face_found")
                    self._keep_candidate(frame, report)
                return self._feedback(frame, report)
            # liveness: every frame goes to the liveness session, good or not (a blink
            # frame fails the eyes-open check and is exactly what liveness needs).
            assert self._liveness is not None
            self._keep_candidate(frame, report)
            # Two people in view is the gate's call (a far background face is not); when it
            # refuses, liveness sees every face, so it reports multiple_faces, not face_lost.
            seen: FaceObservation | Sequence[FaceObservation] | None = report.face
            if QualityReason.MULTIPLE_FACES in report.reasons:
                seen = report.faces
            progress = self._liveness.feed(frame, seen)
            view = _liveness_view(progress, frame.index, len(self._liveness.plan))
            self._emit(view)
            feedback = self._feedback(frame, report, view)
            if progress.finished:
                self._conclude_safely()
                return FrameFeedback(state=self._state, frame_index=frame.index)
            return feedback

    def _keep_candidate(self, frame: Frame, report: QualityReport) -> None:
        face = report.face
        if not report.passed or face is None:
            return
        # A hand over the mouth leaves the detector confident: the hand is looked for on
        # each frame that would become a candidate (about 11 ms CPU, so not on every frame).
        if (
            self._config.hand_check_payments
            and _admits(self._candidates, self._config.candidate_frames, report.score)
            and self._hand_covers(frame, face)
        ):
            self._covered_frames += 1
            return
        self._push_candidate(frame, report)

    def _push_candidate(self, frame: Frame, report: QualityReport) -> None:
        self._push(self._candidates, self._config.candidate_frames, frame, report)

    def _push(self, heap: _Heap, size: int, frame: Frame, report: QualityReport) -> None:
        """Keep this gate-passing frame in ``heap``, a best-first min-heap of ``size``, if
        its utility earns a place there (:func:`_admits`)."""
        assert report.face is not None
        item = (report.score, next(self._tiebreak), frame, report.face)
        if len(heap) < size:
            heapq.heappush(heap, item)
        elif item[0] > heap[0][0]:
            heapq.heapreplace(heap, item)

    def _hand_covers(self, frame: Frame, face: FaceObservation) -> bool:
        """Does a hand cover this face (``FlowParts.hands``)? A frame the hand check cannot
        read counts as covered: it is not made a template of."""
        hands = self._parts.hands
        if hands is None:
            return False
        try:
            return hands.measure(frame, face).covered
        except InvalidImageError as exc:
            logger.debug("frame %d: hand check refused it: %s", frame.index, exc)
            return True
        except Exception as exc:
            # The hand models failed to load or run: no template unchecked, no frames kept.
            if not self._state.is_final:
                self._fail(FailureReason.TEMPLATE_FAILED, type(exc).__name__)
            raise

    @property
    def quality_reasons(self) -> tuple[QualityReason, ...]:
        """Why the frames were not clear, when :attr:`reason` is ``FACE_NOT_CLEAR`` or
        ``FACE_COVERED``."""
        return self._quality_reasons

    def _feedback(
        self, frame: Frame, report: QualityReport, view: LivenessProgressed | None = None
    ) -> FrameFeedback:
        box = None
        face = report.face
        if face is not None and frame.width and frame.height:
            b = face.box
            box = (
                b.x / frame.width,
                b.y / frame.height,
                b.width / frame.width,
                b.height / frame.height,
            )
        return FrameFeedback(
            state=self._state,
            frame_index=frame.index,
            reasons=report.reasons,
            face_box=box,
            challenge=view.challenge if view else None,
            challenge_index=view.challenge_index if view else 0,
            challenge_count=view.challenge_count if view else 0,
            seconds_left=view.seconds_left if view else 0.0,
            progress=view.progress if view else 0.0,
        )

    def _conclude_safely(self, *, frames_ended: bool = False) -> None:
        try:
            self._conclude_liveness(frames_ended=frames_ended)
        except Exception as exc:
            # A model or key failure must not leave frames behind.
            if not self._state.is_final:
                self._fail(FailureReason.TEMPLATE_FAILED, type(exc).__name__)
            raise

    def _conclude_liveness(self, *, frames_ended: bool = False) -> None:
        assert self._liveness is not None
        self._verdict = self._liveness.verdict()
        if not self.can("liveness_passed"):
            from facepay.liveness import LivenessReason

            self._liveness_reasons = tuple(LivenessReason(r) for r in self._verdict.reasons)
            # A clip that ran out is an incomplete check, not a refusal by a liveness signal.
            ended = frames_ended and self._liveness_reasons == (LivenessReason.CAMERA_STOPPED,)
            reason = FailureReason.FRAMES_ENDED if ended else FailureReason.LIVENESS_FAILED
            if self._verdict.decision is LivenessDecision.NOT_LIVE:
                # Evidence of an attack: the backend counts it (a payment does; an
                # inconclusive end, a slow shopper, is not reported). The frames go first.
                summary = self._liveness_summary()
                self._drop_biometrics()
                self._report_not_live(summary)
            self._fire(
                "liveness_failed" if self._state is S.LIVENESS else "fail",
                reason=reason,
                detail=",".join(r.value for r in self._liveness_reasons),
            )
            self._finish()
            return
        refusal = self._template_refusal()
        if refusal is not None:
            self._fail(refusal)
            return
        if not self.has_fusable_frames():
            self._fail(FailureReason.NO_GOOD_FRAME)
            return
        session = self._session
        assert session is not None
        self._seal_templates(session)
        self._fire("liveness_passed")

    def _report_not_live(self, summary: wire.LivenessSummary) -> None:
        """Tell the backend this attempt's liveness ended ``not_live`` (a payment does:
        :class:`CheckoutSession`; an enrollment has no lockout to count it toward)."""

    def _template_refusal(self) -> FailureReason | None:
        """Liveness passed: a reason to make no template from these frames (enrollment
        holds its frames to more than the gate), or None. A payment whose every candidate
        had a hand over the face is FACE_COVERED (occluded): the shopper tries again."""
        if not self._candidates and self._covered_frames:
            self._quality_reasons = (QualityReason.OCCLUDED,)
            return FailureReason.FACE_COVERED
        return None

    def _seal_templates(self, session: wire.CheckoutSessionInfo) -> None:
        """Fuse the best frames into the shopper's template and seal it to ``session``."""
        template = self._fused_template()
        self._sealed = self._parts.sealer.seal(template, session)
        del template  # the clear template never outlives this call

    def _fused_template(
        self, candidates: list[tuple[float, int, Frame, FaceObservation]] | None = None
    ) -> FaceTemplate:
        """The template fused from the best ``fused_frames`` of ``candidates`` (default:
        the flow's quality-ranked candidates)."""
        pool = self._candidates if candidates is None else candidates
        best = heapq.nlargest(self._config.fused_frames, pool)
        templates = [self._parts.embedder.embed(frame, face) for _, _, frame, face in best]
        return self._parts.fuse(templates) if len(templates) > 1 else templates[0]

    def _liveness_summary(self) -> wire.LivenessSummary:
        verdict = self._verdict
        assert verdict is not None
        evidence = {
            str(k)[:64]: (v if not isinstance(v, str) else v[:128])
            for k, v in list(verdict.evidence.items())[:32]
        }
        score = evidence.get("score")
        return wire.LivenessSummary(
            decision=verdict.decision.value,
            challenges=tuple(c[:64] for c in verdict.challenges[:8]),
            reasons=tuple(r[:64] for r in verdict.reasons[:16]),
            score=float(score) if isinstance(score, float) and 0.0 <= score <= 1.0 else None,
            evidence={
                k: v for k, v in evidence.items() if not isinstance(v, float) or math.isfinite(v)
            },
        )

    def run(self, source: FrameStream | Iterable[Frame]) -> None:
        """Feed ``source`` (a ``FrameSource`` or any iterable of frames) until the face part
        is over: the flow then is ``processing`` (or a final state)."""
        frames: Iterable[Frame]
        if isinstance(source, Iterable):
            frames = source
        else:
            frames = source.frames()
            if self.camera_name is None:
                self.camera_name = source.device_name
        try:
            for frame in frames:
                self.feed(frame)
                if self._state not in (S.CAPTURING, S.LIVENESS):
                    return
        except CaptureError as exc:
            with self._lock:
                if not self._state.is_final:
                    self._fail(FailureReason.CAMERA_LOST, type(exc).__name__)
            return
        finally:
            # Release the camera or file now, not when the generator is collected.
            close = getattr(frames, "close", None)
            if callable(close):
                close()
        with self._lock:
            if self._state is S.LIVENESS and self._liveness is not None:
                # The frames ended mid-liveness: the verdict says so (never LIVE).
                self._liveness.stop()
                self._conclude_safely(frames_ended=True)
            elif self._state in (S.CAPTURING, S.LIVENESS):
                self._fail(FailureReason.FRAMES_ENDED)


def _admits(heap: _Heap, size: int, score: float) -> bool:
    """Would an item of ``score`` enter this bounded best-first min-heap of ``size``?"""
    return len(heap) < size or score > heap[0][0]


# The backend's answers that it could not open a seal (docs/protocol.md, "Keys").
_SEAL_REFUSALS = frozenset({wire.ErrorCode.UNKNOWN_KEY_ID, wire.ErrorCode.SEALED_TEMPLATE_INVALID})


def forget_keys_if_seal_refused(sealer: TemplateSealer, exc: BackendError) -> None:
    """A till whose seal the backend could not open must not keep sealing to that key: one
    forged key-set answer would otherwise send every later face to its author."""
    if exc.code in _SEAL_REFUSALS:
        logger.warning("the backend could not open a seal (%s): refetching its keys", exc.code)
        sealer.forget_keys()


def _refusal(exc: BackendError) -> FailureReason:
    """A 4xx from the backend: nothing was stored, nothing charged."""
    if isinstance(exc, SessionExpiredError):
        return FailureReason.SESSION_EXPIRED
    return FailureReason.REQUEST_REJECTED


def _liveness_view(progress: LivenessProgress, frame_index: int, count: int) -> LivenessProgressed:
    """The liveness stage's progress as the flow's event for the UI."""
    return LivenessProgressed(
        challenge=progress.challenge,
        challenge_index=progress.challenge_index,
        challenge_count=count,
        seconds_left=progress.seconds_left,
        progress=progress.progress,
        frame_index=frame_index,
    )

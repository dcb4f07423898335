"""The visit reading of ``facepay eval till-visits``: a shopper's stay at the till as they live it.

The segment reading (:mod:`facepay.eval._till_visits`) cuts each clip into 3-second
segments and the camera stops at a segment's end: a camera double that dies, which the
product never meets. Here each genuine payment still STARTS at a segment's start, but:

- The camera is the clip from there on (:class:`VisitCamera`): it runs on past the
  segment's end until the clip ends, except that a visit starting before the shopper's
  enrollment segment stops at that segment's start (:func:`visit_stop_s`): a payment is
  never made from the frames its shopper enrolled with. The till's clock stays the clip's
  timeline, so the till's own timeouts (``CheckoutConfig.capture_timeout_s``,
  ``liveness_timeout_s``) decide how long an attempt waits, not the cut.
- An end after which "Try again" is offered (``FailureReason.another_attempt_may_pay``,
  ``Receipt.another_attempt_may_pay``: the SDK's own rule, which the kiosk follows) is a
  shopper tapping it: a new attempt
  (a new ``start_checkout`` with the same phone, the next plan in
  :func:`~facepay.eval._till_visits.challenges_for` order) on the camera CONTINUING from the
  frame after the last one the previous attempt read (:func:`run_visit`). Up to ``tries``
  attempts (default 3: a shopper asked three times pays by card). A non-retryable end, the
  camera running out, or ``tries`` failed attempts: refused.
- Impostor visits get the same treatment (same tries, the camera runs to the clip's end, a
  wrong PIN at a step-up): an impostor approved in any try is a false accept.

One double remains, as in the segment reading: each attempt's liveness plan is a fixed
one-challenge plan, and a recording cannot react to it. Where the segment reading rewinds
and tries every plan on the same frames, here a plan the clip does not answer costs its
challenge window of clip time (docs/accuracy.md says what that does to the counts).

The backend's lockouts stay out of reach, as in the segment reading: many visits of one
clip are seconds apart on the clip's timeline and minutes apart on the sandbox's wall
clock, where a shopper's real visits are days apart, so a lock earned by one visit would
refuse the next for a reason that is the eval's, not the shopper's. What the lockout
would have seen is measured instead: the failed attempts each visit left in the backend's
own lockout counter for the claimed phone (``backend_failures``), beside
``ServerConfig().lockout_failures``.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facepay.eval._till_visits import (
    APPROVED_FACE,
    APPROVED_PIN,
    EVAL_PIN,
    NO_ACTION_SEGMENTS,
    NO_PERSON,
    OUTCOMES,
    WRONG_PIN,
    Segment,
    _Lane,
    _not_taken_outcome,
    _text,
    _Watch,
    challenges_for,
    same_person,
)
from facepay.types import Frame

if TYPE_CHECKING:
    pass

__all__ = [
    "Attempt",
    "ShopperVisit",
    "VisitCamera",
    "run_visit",
    "summarize_visits",
    "visit_stop_s",
    "visit_windows",
]

# How a visit ended.
APPROVED = "approved"
CAMERA_ENDED = "camera_ended"  # the clip (or the enrollment boundary) came first
TRIES_USED = "tries_used"  # asked ``tries`` times: pays by card
NOT_RETRYABLE = "not_retryable"  # an end after which the kiosk offers no "Try again"
ENDS = (APPROVED, CAMERA_ENDED, TRIES_USED, NOT_RETRYABLE)


def visit_stop_s(start_s: float, enrollment_start_s: float) -> float | None:
    """Where a genuine visit starting at ``start_s`` must stop: at the enrollment
    segment's start if it starts before it (a payment must never be made from the frames
    its shopper enrolled with), else nowhere before the clip's end (None)."""
    return enrollment_start_s if start_s < enrollment_start_s else None


def visit_windows(
    segments: Sequence[Segment], enrolled_index: int
) -> list[tuple[Segment, float | None]]:
    """The genuine visits of one clip: every segment but the enrollment's starts one, with
    where its camera stops (:func:`visit_stop_s`)."""
    enrollment = segments[enrolled_index]
    return [
        (segment, visit_stop_s(segment.start_s, enrollment.start_s))
        for segment in segments
        if segment.index != enrollment.index
    ]


class VisitCamera:
    """The till's camera for one visit: ``frames`` (a clip from the visit's start) up to
    ``stop_s`` (exclusive; None: until they end), shared by every attempt of the visit.

    Each :meth:`frames` call continues from the frame after the last one handed out: a new
    attempt does not rewind. :meth:`now` is the till's clock, the timestamp of the last
    frame handed out (``start_s`` before any), as :class:`facepay.testing.ClipCamera`'s.
    """

    def __init__(
        self,
        frames: Iterable[Frame],
        *,
        start_s: float,
        stop_s: float | None = None,
        device_name: str = "",
    ) -> None:
        self._source: Iterator[Frame] = iter(frames)
        self.start_s = start_s
        self.stop_s = stop_s
        self.device_name = device_name
        self._now = start_s
        self._next: Frame | None = None
        self._ended = False
        self.frames_read = 0

    @classmethod
    def of_clip(cls, clip: Path, *, start_s: float, stop_s: float | None = None) -> VisitCamera:
        from facepay.testing.clips import ClipCamera

        camera = ClipCamera(clip, start_s=start_s)
        return cls(camera.frames(), start_s=start_s, stop_s=stop_s, device_name=str(clip))

    def now(self) -> float:
        return self._now

    def _peek(self) -> Frame | None:
        if self._next is None and not self._ended:
            frame = next(self._source, None)
            if frame is None or (self.stop_s is not None and frame.timestamp >= self.stop_s):
                self.close()
            else:
                self._next = frame
        return self._next

    def peek_s(self) -> float | None:
        """The clip time of the next frame (None: no frame is left)."""
        frame = self._peek()
        return None if frame is None else frame.timestamp

    @property
    def ended(self) -> bool:
        """No frame is left for another attempt."""
        return self._peek() is None

    def frames(self) -> Iterator[Frame]:
        while (frame := self._peek()) is not None:
            self._next = None
            self._now = frame.timestamp
            self.frames_read += 1
            yield frame

    def close(self) -> None:
        """Release the clip (the till closes only each attempt's own iterator)."""
        self._ended = True
        self._next = None
        close = getattr(self._source, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> VisitCamera:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclasses.dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt of a visit: how it ended and which clip-seconds it read."""

    challenge: str
    outcome: str  # APPROVED_FACE, APPROVED_PIN or one of the segment reading's refused_*
    reason: str  # the FailureReason or the backend's decline reason ("" when approved)
    retryable: bool
    first_s: float | None  # clip time of its first and last frame (None: it read none)
    last_s: float | None
    face_seen: bool = True
    score: float | None = None

    @property
    def approved(self) -> bool:
        return self.outcome in (APPROVED_FACE, APPROVED_PIN)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def run_visit(
    camera: VisitCamera,
    plans: Sequence[str],
    attempt: Callable[[VisitCamera, str], Attempt],
    *,
    tries: int,
) -> tuple[str, tuple[Attempt, ...]]:
    """Attempts on one continuing camera until one is approved, one ends in a way the
    kiosk does not offer again, the camera runs out, or ``tries`` attempts failed.
    Attempt ``k`` asks for ``plans[k % len(plans)]``. Returns how the visit ended (one of
    ``ENDS``) and the attempts."""
    if tries < 1:
        raise ValueError("tries must be at least 1")
    if not plans:
        raise ValueError("a visit needs at least one liveness plan")
    attempts: list[Attempt] = []
    while True:
        if camera.ended:
            return CAMERA_ENDED, tuple(attempts)
        one = attempt(camera, plans[len(attempts) % len(plans)])
        attempts.append(one)
        if one.approved:
            return APPROVED, tuple(attempts)
        if not one.retryable:
            return NOT_RETRYABLE, tuple(attempts)
        if one.reason == "frames_ended" or camera.ended:
            return CAMERA_ENDED, tuple(attempts)
        if len(attempts) >= tries:
            return TRIES_USED, tuple(attempts)


@dataclasses.dataclass(frozen=True, slots=True)
class ShopperVisit:
    """One visit of the visit reading: from ``start_s`` of ``clip`` to ``stop_s`` (None:
    the clip's end), paying as ``claimed_clip``'s shopper."""

    setting: str
    kind: str  # "genuine" or "impostor"
    clip: str
    start_s: float
    stop_s: float | None
    claimed_clip: str
    outcome: str  # APPROVED_FACE, APPROVED_PIN, NO_PERSON, or the last attempt's refused_*
    ended: str  # one of ENDS
    attempts: tuple[Attempt, ...]
    seconds_to_approval: float | None  # clip-seconds from start_s to the approving frame
    backend_failures: int  # failed attempts the visit left in the claim's lockout counter
    segment_had_no_answer: bool = False  # its start segment is in NO_ACTION_SEGMENTS

    @property
    def name(self) -> str:
        stop = "end" if self.stop_s is None else f"{self.stop_s:g}s"
        return f"{self.clip}@{self.start_s:g}s-{stop}"

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["name"] = self.name
        out["tries"] = len(self.attempts)
        return out


def _median_max(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "max": None}
    return {"median": round(statistics.median(values), 3), "max": round(max(values), 3)}


def summarize_visits(visits: Sequence[ShopperVisit], lockout_failures: int) -> dict[str, Any]:
    """Counts for one setting of the visit reading: rates over genuine visits with a person
    in them; ``lockout_failures`` is the backend's default, to say whether any genuine
    visit alone would have reached it."""
    genuine = [v for v in visits if v.kind == "genuine" and v.outcome != NO_PERSON]
    impostors = [v for v in visits if v.kind == "impostor" and v.outcome != NO_PERSON]
    approved = (APPROVED_FACE, APPROVED_PIN)
    refused = [v for v in genuine if v.outcome not in approved]
    same = [v for v in genuine if not v.segment_had_no_answer]
    same_refused = [v for v in same if v.outcome not in approved]
    failures = Counter(v.backend_failures for v in genuine)
    per_clip: dict[str, Counter[str]] = {}
    for v in genuine:
        per_clip.setdefault(v.clip, Counter())[v.outcome] += 1
        per_clip[v.clip]["backend_failures"] += v.backend_failures
    accepted = [v for v in impostors if v.outcome in approved]
    return {
        "visits": len(genuine),
        "genuine": {o: sum(v.outcome == o for v in genuine) for o in OUTCOMES},
        "refused": len(refused),
        "refused_rate": len(refused) / len(genuine) if genuine else None,
        "refused_by_end": {e: sum(v.ended == e for v in refused) for e in ENDS[1:]},
        # The starts that were genuine payments in the segment reading (its "no answer"
        # segments left out), so the two readings are compared on the same starts.
        "same_starts_as_segments": {
            "visits": len(same),
            "refused": len(same_refused),
            "refused_rate": len(same_refused) / len(same) if same else None,
        },
        "not_payments": {
            NO_PERSON: sum(v.kind == "genuine" and v.outcome == NO_PERSON for v in visits)
        },
        "tries_used": dict(sorted(Counter(len(v.attempts) for v in genuine).items())),
        "seconds_to_approval": _median_max(
            [v.seconds_to_approval for v in genuine if v.seconds_to_approval is not None]
        ),
        "backend_failures": {
            "per_visit": dict(sorted(failures.items())),
            "max_per_visit": max(failures, default=0),
            "lockout_failures_default": lockout_failures,
            "visits_that_would_lock": sum(
                n for count, n in failures.items() if count >= lockout_failures
            ),
        },
        "impostor_visits": len(impostors),
        "impostor_accepted": len(accepted),
        "impostor_accepted_visits": [v.name for v in accepted],
        "impostor_tries_used": dict(sorted(Counter(len(v.attempts) for v in impostors).items())),
        "impostor_not_payments": {
            NO_PERSON: sum(v.kind == "impostor" and v.outcome == NO_PERSON for v in visits)
        },
        "per_clip": {clip: dict(c) for clip, c in sorted(per_clip.items())},
    }


def _round(seconds: float) -> float:
    return round(seconds, 3)


def _claim_failures(lane: _Lane) -> dict[str, tuple[int, float]]:
    """The backend's own lockout counters of claimed shoppers: subject -> (failures in the
    current window, the window's start)."""
    from facepay.server._repository import CLAIM_SUBJECT_PREFIX

    with lane.sandbox.backend.db.transaction(readonly=True) as tx:
        rows = tx.all(
            "SELECT subject, failures, window_start FROM lockouts WHERE subject LIKE ?",
            (CLAIM_SUBJECT_PREFIX + "%",),
        )
    return {str(r[0]): (int(r[1]), float(r[2])) for r in rows}


def _failures_added(
    before: dict[str, tuple[int, float]], after: dict[str, tuple[int, float]]
) -> int:
    added = 0
    for subject, (failures, window) in after.items():
        old_failures, old_window = before.get(subject, (0, window))
        added += failures - old_failures if old_window == window else failures
    return added


def _attempt(
    lane: _Lane, camera: VisitCamera, phone: str, challenge: str, *, genuine: bool
) -> Attempt:
    """One attempt through the product: ``Till.start_checkout`` claiming ``phone``,
    ``CheckoutSession.pay`` on the continuing camera, ``answer_step_up`` with the
    shopper's PIN (an impostor's wrong one) when the backend asks for it."""
    from facepay import Claim, ClaimKind
    from facepay.checkout import PaymentNotTakenError

    watch = _Watch()
    read_before = camera.frames_read
    with lane.till(camera.now, challenge) as till:
        session = till.start_checkout(
            lane.next_basket(), claim=Claim(kind=ClaimKind.PHONE, value=phone), on_event=watch
        )
        first = camera.peek_s()
        try:
            receipt = session.pay(camera)
        except PaymentNotTakenError as exc:
            reason = _text(exc.reason)
            if exc.liveness_reasons:
                reason += ":" + ",".join(r.value for r in exc.liveness_reasons)
            return Attempt(
                challenge,
                _not_taken_outcome(_text(exc.reason), watch.liveness_started),
                reason,
                exc.reason.another_attempt_may_pay,
                None if first is None else _round(first),
                _round(camera.now()) if camera.frames_read > read_before else None,
                face_seen=watch.face_seen,
            )
        score = lane.score(receipt.authorization_id)
        if receipt.step_up == "pin":
            receipt = session.answer_step_up(EVAL_PIN if genuine else WRONG_PIN)
            outcome = APPROVED_PIN if receipt.approved else "refused_no_match"
        elif receipt.approved:
            outcome = APPROVED_FACE
        elif receipt.decline_reason in ("no_match", "step_up_failed"):
            outcome = "refused_no_match"
        elif receipt.decline_reason == "liveness_failed":
            outcome = "refused_liveness"
        else:
            outcome = "refused_other"
        decline = "" if receipt.approved else receipt.decline_reason or receipt.status.value
        return Attempt(
            challenge,
            outcome,
            decline,
            receipt.another_attempt_may_pay,
            None if first is None else _round(first),
            _round(camera.now()),
            face_seen=True,
            score=score,
        )


def _visit(
    lane: _Lane,
    camera: VisitCamera,
    *,
    clip: str,
    claimed_clip: str,
    genuine: bool,
    tries: int,
    no_answer: bool,
) -> ShopperVisit:
    phone = lane.phones[claimed_clip]
    before = _claim_failures(lane)
    ended, attempts = run_visit(
        camera,
        challenges_for(clip),
        lambda cam, challenge: _attempt(lane, cam, phone, challenge, genuine=genuine),
        tries=tries,
    )
    failures = _failures_added(before, _claim_failures(lane))
    last = attempts[-1] if attempts else None
    # No frame of the whole visit showed a face (a cartoon to the end): not a shopper paying.
    person = last is not None and any(a.face_seen for a in attempts)
    outcome = last.outcome if person and last is not None else NO_PERSON
    seconds = None
    if last is not None and last.approved and last.last_s is not None:
        seconds = round(last.last_s - camera.start_s, 3)
    return ShopperVisit(
        setting=lane.setting.name,
        kind="genuine" if genuine else "impostor",
        clip=clip,
        start_s=camera.start_s,
        stop_s=camera.stop_s,
        claimed_clip=claimed_clip,
        outcome=outcome,
        ended=ended,
        attempts=attempts,
        seconds_to_approval=seconds,
        backend_failures=failures,
        segment_had_no_answer=no_answer,
    )


def run_stays(
    lane: _Lane,
    clips: Sequence[tuple[Path, list[Segment]]],
    enrolled_at: dict[str, int],
    *,
    tries: int,
    impostors: bool,
) -> list[ShopperVisit]:
    """The visit reading on ``lane``'s enrolled shoppers (the enrollments the segment
    reading made, so the two readings compare the same templates)."""
    out: list[ShopperVisit] = []
    for clip, segments in clips:
        if clip.name not in enrolled_at:
            continue
        for segment, stop in visit_windows(segments, enrolled_at[clip.name]):
            key = (clip.name, segment.start_s, segment.end_s)
            with VisitCamera.of_clip(clip, start_s=segment.start_s, stop_s=stop) as camera:
                out.append(
                    _visit(
                        lane,
                        camera,
                        clip=clip.name,
                        claimed_clip=clip.name,
                        genuine=True,
                        tries=tries,
                        no_answer=key in NO_ACTION_SEGMENTS,
                    )
                )
    if impostors:
        names = [clip.name for clip, _ in clips if clip.name in enrolled_at]
        for clip, segments in clips:
            others = [n for n in names if not same_person(n, clip.name)]
            for k, segment in enumerate(segments):
                if not others:
                    break
                # The impostor's camera runs to the clip's end: every frame is a chance.
                with VisitCamera.of_clip(clip, start_s=segment.start_s) as camera:
                    out.append(
                        _visit(
                            lane,
                            camera,
                            clip=clip.name,
                            claimed_clip=others[k % len(others)],
                            genuine=False,
                            tries=tries,
                            no_answer=False,
                        )
                    )
    return out

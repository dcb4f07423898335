"""Visits to a till: enroll from one part of a clip, pay from the others, through the till.

``facepay eval till-visits`` (docs/accuracy.md, "At the till: enroll from one part of a clip, pay
from another"). Each clip is cut into non-overlapping segments (windows long enough for a
one-challenge liveness plan). The first segment that enrolls is the shopper's enrollment
(:meth:`facepay.Till.enroll`, with a PIN); every other segment then pays with
:meth:`facepay.Till.start_checkout` / ``CheckoutSession.pay`` claiming the shopper's phone,
and a ``pin`` step-up is answered with the shopper's PIN (``answer_step_up``). Impostor
visits follow: each segment of clip A claims the phone of an enrolled clip B of another
person (round robin), and a PIN step-up is answered with a wrong PIN. An impostor counted
as approved is a false accept.

What decides is the product: the till's own quality gate, liveness, fusion, enrollment
views, sealing and retry, over HTTP to an in-process :class:`facepay.testing.Sandbox` whose
matching, grey zone and template update are the backend's own. The doubles sit at the
camera only: a segment of a clip is the camera and the till's clock (the per-state
timeouts run on the clip's timeline), and the liveness plan is fixed to a challenge the
person performs (a recording cannot answer a random plan; the sandbox tenant accepts a
fixed plan, a production tenant would not). A segment tries the clip's own challenges
first, then the others, until an attempt reaches the backend, as a shopper asked again
would; only the last attempt is counted.

Two settings of the product on the same segments: ``learning`` (three enrollment views,
two adaptive slots, a PIN so the grey zone asks for it) and ``baseline``
(``CheckoutConfig.enrollment_views=1``, ``ServerConfig.adaptive_slots=0``, no PIN). The
backend's lockouts are raised out of reach (lockouts are not what this measures; many
failed faces of one clip would otherwise lock the shopper and hide the later visits).
An adaptive update needs production liveness (the seed's plan and a 3D check), which a
fixed plan never is, so the count of updates is reported as the backend's audit shows it.

Not every segment is a shopper paying. A segment in which no frame shows a face (the
cartoon of the ``.mov`` clips) and a segment whose recording holds no answer to any plan
after the prompt (``NO_ACTION_SEGMENTS``, read from the traces) are reported in their own
columns, outside the genuine payments; ``refused_rate_counting_all`` counts them as
refusals too, so both readings are on the page. An enrollment the till refuses
(``face_not_clear``: eyes shut or half shut on too many frames) moves on to the next
segment, as a shopper asked to enroll again would.

This is the **segment** reading. The **visit** reading (:mod:`facepay.eval._till_stays`,
``readings=("visits",)``) pays from the same starts on the same enrollments, but its
camera runs on past the segment's end and a shopper asked to try again does.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from facepay.testing.clips import ClipCamera, fixed_liveness_plan
from facepay.types import Frame

__all__ = [
    "CLIP_CHALLENGES",
    "EVAL_PIN",
    "NOT_PAYMENTS",
    "NO_ACTION",
    "NO_ACTION_SEGMENTS",
    "NO_PERSON",
    "READINGS",
    "Segment",
    "VisitResult",
    "challenges_for",
    "clip_segments",
    "evaluate_till_visits",
    "same_person",
    "summarize",
]

# The PIN every evaluated shopper sets (not one the till refuses), and the impostor's guess.
EVAL_PIN = "5092"
WRONG_PIN = "7316"

# What the person in each clip of ../shared/eval/video does (its MANIFEST.tsv): the fixed
# liveness plans of one challenge a segment tries first; then the rest of ALL_CHALLENGES
# (a segment need not hold the clip's main action, and a shopper is asked again).
CLIP_CHALLENGES: dict[str, tuple[str, ...]] = {
    "WolfgangLanger_Pexels.mp4": ("turn_left", "smile"),
    "single_face.mp4": ("blink",),
    "face_noface.mov": ("blink",),
    "noface_face.mov": ("blink",),
    "d3.mp4": ("blink", "turn_left"),
    "d9.mp4": ("blink",),
    "d12.mp4": ("turn_left", "turn_right"),
    "d14.mp4": ("blink",),
}
DEFAULT_CHALLENGES: tuple[str, ...] = ("blink",)
ALL_CHALLENGES: tuple[str, ...] = ("blink", "turn_left", "turn_right", "smile", "open_mouth")


def challenges_for(clip_name: str) -> tuple[str, ...]:
    """The plans a segment of this clip tries, in order."""
    first = CLIP_CHALLENGES.get(clip_name, DEFAULT_CHALLENGES)
    return first + tuple(c for c in ALL_CHALLENGES if c not in first)


# Clips cut from the same footage of one man (docs/accuracy.md, "At a till"): each enrolls
# as its own shopper, but one never plays an impostor of another.
SAME_PERSON: tuple[frozenset[str], ...] = (
    frozenset({"single_face.mp4", "face_noface.mov", "noface_face.mov"}),
)


def same_person(a: str, b: str) -> bool:
    return a == b or any(a in group and b in group for group in SAME_PERSON)


# The two readings (docs/accuracy.md, "At the till"): the camera stops at the segment's
# end (this module), or runs on with "Try again" (facepay.eval._till_stays).
SEGMENTS = "segments"
VISITS = "visits"
READINGS = (SEGMENTS, VISITS)

# Outcome names, in report order.
APPROVED_FACE = "approved_on_face"
APPROVED_PIN = "approved_after_pin"
OUTCOMES = (
    APPROVED_FACE,
    APPROVED_PIN,
    "refused_quality",
    "refused_liveness",
    "refused_no_match",
    "refused_other",
)
# Segments that are not a shopper paying: counted in their own columns, outside the genuine
# payments (and, to show the difference, also as refusals in ``refused_rate_counting_all``).
NO_PERSON = "not_a_payment_no_person"
NO_ACTION = "not_a_payment_no_action"
NOT_PAYMENTS = (NO_PERSON, NO_ACTION)

# Segments (clip, start_s, end_s of the 3-second cut) whose recording holds no answer to
# any of the five one-challenge plans after the till's prompt: read from the eye aspect,
# yaw, inner-lip gap and mouth-width traces of `facepay analyze` (docs/accuracy.md, "At
# the till"). A refusal there is an artefact of replaying a recording, not a shopper
# refused. Only segments whose traces show no such movement at all are listed: where a
# movement is there but the detector did not take it, the refusal counts.
NO_ACTION_SEGMENTS: dict[tuple[str, float, float], str] = {
    ("WolfgangLanger_Pexels.mp4", 12.0, 15.0): (
        "after the prompt (12.7 s) no blink (eye aspect 0.22-0.27), no turn (yaw 1-8 deg), "
        "mouth no wider than before it (she smiles throughout), inner-lip gap 0.18-0.23"
    ),
    ("d9.mp4", 6.0, 9.0): (
        "his blink is at 6.4 s, before the prompt (6.6 s); then eyes open (0.22-0.30), "
        "head turns of 12-14 deg (15 asked), no mouth movement"
    ),
}


@dataclasses.dataclass(frozen=True, slots=True)
class Segment:
    """``[start_s, end_s)`` of one clip."""

    clip: Path
    index: int
    start_s: float
    end_s: float

    @property
    def name(self) -> str:
        return f"{self.clip.name}#{self.index}@{self.start_s:g}-{self.end_s:g}s"


@dataclasses.dataclass(frozen=True, slots=True)
class VisitResult:
    """One visit: an enrollment or a payment (genuine or impostor) from one segment."""

    setting: str
    kind: str  # "enroll", "genuine", "impostor"
    segment: str
    claimed_clip: str
    outcome: str  # "enrolled" / "not_enrolled" for enrollments, one of OUTCOMES otherwise
    challenge: str | None
    detail: str = ""
    score: float | None = None  # the backend's best similarity (its audit line)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class _SegmentCamera(ClipCamera):
    """The till's camera for one segment: the clip from ``start_s`` to ``end_s``."""

    def __init__(self, segment: Segment) -> None:
        super().__init__(segment.clip, start_s=segment.start_s)
        self.end_s = segment.end_s

    def frames(self) -> Iterator[Frame]:
        for frame in super().frames():
            if frame.timestamp >= self.end_s:
                return
            yield frame


def clip_duration_s(clip: Path) -> float:
    from facepay.capture import VideoFileSource

    with VideoFileSource(clip) as source:
        last = 0.0
        for frame in source.frames():
            last = frame.timestamp
    return last


def clip_segments(clip: Path, duration_s: float, segment_s: float) -> list[Segment]:
    """Non-overlapping ``segment_s`` windows; a shorter tail is kept if it is at least two
    thirds of a window (a short clip is then one segment)."""
    if segment_s <= 0:
        raise ValueError("segment_s must be positive")
    out: list[Segment] = []
    start = 0.0
    while start < duration_s:
        end = min(start + segment_s, duration_s + 1e-6)
        if end - start >= segment_s * 2 / 3:
            out.append(Segment(clip, len(out), round(start, 3), round(end, 3)))
        start += segment_s
    return out


def _text(value: object) -> str:
    return str(getattr(value, "value", value) or "")


class _Watch:
    """Whether the till's liveness stage started (the quality gate let a face through), and
    whether any frame showed a face at all (the gate's prompts say ``no_face`` otherwise)."""

    def __init__(self) -> None:
        self.liveness_started = False
        self.face_seen = False

    def __call__(self, event: object) -> None:
        from facepay.checkout import LivenessProgressed, QualityPrompt
        from facepay.types import QualityReason

        if isinstance(event, LivenessProgressed):
            self.liveness_started = self.face_seen = True
        elif isinstance(event, QualityPrompt) and event.reasons != (QualityReason.NO_FACE,):
            self.face_seen = True


def _not_taken_outcome(reason: str, liveness_started: bool) -> str:
    if reason in ("liveness_failed", "liveness_timeout"):
        return "refused_liveness"
    if reason == "frames_ended":
        # The segment ended: during liveness the person did not do the challenge in time;
        # before it, no frame passed the quality gate.
        return "refused_liveness" if liveness_started else "refused_quality"
    if reason in ("capturing_timeout", "no_good_frame", "face_covered"):
        # face_covered: a hand over the face on every frame that would make the template.
        return "refused_quality"
    return "refused_other"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Setting:
    name: str
    enrollment_views: int
    adaptive_slots: int
    pin: str | None


SETTINGS = {
    # Templates that learn (issue 16): three enrollment views and two adaptive slots, the
    # values `facepay eval adaptive` measured and the shipped defaults today
    # (`CheckoutConfig.enrollment_views`, `ServerConfig.adaptive_slots`); named here, not
    # read from the defaults, so a change of default does not silently change this reading.
    "learning": _Setting(name="learning", enrollment_views=3, adaptive_slots=2, pin=EVAL_PIN),
    "baseline": _Setting(name="baseline", enrollment_views=1, adaptive_slots=0, pin=None),
}


class _Lane:
    """One setting's sandbox backend, its till models, and the shoppers enrolled there."""

    def __init__(self, sandbox: Any, analyzer: Any, embedder: Any, setting: _Setting) -> None:
        from facepay import CheckoutConfig

        self.sandbox = sandbox
        self.device = sandbox.provision_device()
        self.analyzer = analyzer
        self.embedder = embedder
        self.setting = setting
        self.config = CheckoutConfig(enrollment_views=setting.enrollment_views)
        self.phones: dict[str, str] = {}  # clip name -> claimed phone
        self.baskets = 0

    def till(self, clock: Callable[[], float], challenge: str) -> Any:
        """A till of this lane asking for ``challenge``, on ``clock`` (the clip's time)."""
        from facepay import Till

        return Till.connect(
            self.sandbox.base_url,
            device_key=self.device.key,
            device_id=self.device.device_id,
            analyzer=self.analyzer,
            embedder=self.embedder,
            liveness=fixed_liveness_plan(challenge),
            config=self.config,
            clock=clock,
        )

    def enroll(self, segment: Segment, challenges: Sequence[str]) -> VisitResult:
        from facepay import Claim, ClaimKind, consent_now
        from facepay.checkout import NotEnrolledError
        from facepay.errors import BackendError, CheckoutFailedError

        phone = f"+49151{len(self.phones) + 1:03d}{segment.index:05d}"
        detail, outcome, used = "", "not_enrolled", None
        for challenge in challenges:
            camera, watch = _SegmentCamera(segment), _Watch()
            with self.till(camera.now, challenge) as till:
                try:
                    enrolled = till.enroll(
                        camera,
                        consent=consent_now("2026-01-en"),
                        claim=Claim(kind=ClaimKind.PHONE, value=phone),
                        payment_method_token="tok_visa_4242",  # noqa: S106 - sandbox card
                        on_event=watch,
                        pin=self.setting.pin,
                    )
                except CheckoutFailedError as exc:
                    detail = _text(exc.reason) or _text(exc.state) or "failed"
                    if isinstance(exc, NotEnrolledError) and exc.quality_reasons:
                        detail += ":" + ",".join(r.value for r in exc.quality_reasons)
                    if _not_taken_outcome(detail, watch.liveness_started) == "refused_liveness":
                        continue  # the person may do the next challenge in this segment
                    break
                except BackendError as exc:
                    detail = f"backend:{exc.code or type(exc).__name__}"
                    continue
            outcome, used, detail = (
                "enrolled",
                challenge,
                f"views={self._views(enrolled.shopper_id)}",
            )
            self.phones[segment.clip.name] = phone
            break
        return VisitResult(
            self.setting.name, "enroll", segment.name, segment.clip.name, outcome, used, detail
        )

    def next_basket(self) -> Any:
        """A new sale (its own reference: the till refuses an order it saw approved)."""
        from facepay import Basket, BasketLine

        self.baskets += 1
        return Basket(
            reference=f"visit-{self.baskets}",
            currency="EUR",
            lines=(
                BasketLine(sku="sku-1", description="groceries", quantity=1, unit_price_minor=1250),
            ),
        )

    def pay(
        self, segment: Segment, claimed_clip: str, challenges: Sequence[str], *, genuine: bool
    ) -> VisitResult:
        """Pay from ``segment`` claiming ``claimed_clip``'s phone; each challenge in turn
        until an attempt reaches the backend's decision."""
        from facepay import Claim, ClaimKind
        from facepay.checkout import PaymentNotTakenError

        phone = self.phones[claimed_clip]
        outcome, detail, used, score = "refused_other", "", None, None
        for challenge in challenges:
            camera, watch = _SegmentCamera(segment), _Watch()
            with self.till(camera.now, challenge) as till:
                session = till.start_checkout(
                    self.next_basket(),
                    claim=Claim(kind=ClaimKind.PHONE, value=phone),
                    on_event=watch,
                )
                try:
                    receipt = session.pay(camera)
                except PaymentNotTakenError as exc:
                    outcome = _not_taken_outcome(_text(exc.reason), watch.liveness_started)
                    detail, used = _text(exc.reason), challenge
                    if outcome == "refused_liveness":
                        continue  # the person may do the next challenge in this segment
                    if not watch.face_seen:
                        outcome, detail = NO_PERSON, "no frame showed a face"
                    break
                used, score = challenge, self.score(receipt.authorization_id)
                if receipt.step_up == "pin":
                    receipt = session.answer_step_up(EVAL_PIN if genuine else WRONG_PIN)
                    if receipt.approved:
                        outcome, detail = APPROVED_PIN, "pin"
                    else:
                        outcome, detail = "refused_no_match", f"pin:{receipt.decline_reason}"
                elif receipt.approved:
                    outcome, detail = APPROVED_FACE, ""
                elif receipt.decline_reason == "no_match":
                    outcome, detail = "refused_no_match", "no_match"
                elif receipt.decline_reason == "liveness_failed":
                    outcome, detail = "refused_liveness", "backend:liveness_failed"
                else:
                    outcome = "refused_other"
                    detail = receipt.decline_reason or receipt.step_up or receipt.status.value
                break
        if outcome == "refused_liveness":
            note = NO_ACTION_SEGMENTS.get((segment.clip.name, segment.start_s, segment.end_s))
            if note is not None:
                outcome, detail = NO_ACTION, note
        return VisitResult(
            self.setting.name,
            "genuine" if genuine else "impostor",
            segment.name,
            claimed_clip,
            outcome,
            used,
            detail,
            score,
        )

    def _audit(self, event: str, subject: str) -> dict[str, Any] | None:
        backend = self.sandbox.backend
        with backend.db.transaction(readonly=True) as tx:
            row = tx.one(
                "SELECT details_json FROM audit_log WHERE event = ? AND subject_id = ?",
                (event, subject),
            )
        return None if row is None else dict(json.loads(row[0]))

    def score(self, authorization_id: str) -> float | None:
        details = self._audit("authorization", authorization_id)
        score = None if details is None else details.get("best_score")
        return None if score is None else float(score)

    def _views(self, shopper_id: str) -> int | None:
        """How many enrollment views the backend kept (its audit line of the enrollment)."""
        details = self._audit("enrolled", shopper_id)
        views = None if details is None else details.get("views")
        return None if views is None else int(views)

    def adaptive_updates(self) -> int:
        backend = self.sandbox.backend
        with backend.db.transaction(readonly=True) as tx:
            row = tx.one("SELECT COUNT(*) FROM audit_log WHERE event = 'templates_adapted'", ())
        return 0 if row is None else int(row[0])


def _run_setting(
    setting: _Setting,
    clips: Sequence[tuple[Path, list[Segment]]],
    *,
    impostors: bool,
    analyzer: Any,
    embedder: Any,
    progress: Callable[[Iterable[Any]], Iterable[Any]],
    readings: Sequence[str] = (SEGMENTS,),
    tries: int = 3,
) -> tuple[list[VisitResult], int, list[Any]]:
    """One setting's sandbox: every clip enrolls (once, for both readings), then the
    segment reading's payments, then the visit reading's (``facepay.eval._till_stays``).
    Returns the segment reading's results, its adaptive updates, and the visits."""
    from facepay.config import ServerConfig
    from facepay.server import Sandbox

    config = ServerConfig(
        adaptive_slots=setting.adaptive_slots,
        # Lockouts are not what this measures (see the module docstring).
        lockout_failures=1_000_000,
    )
    results: list[VisitResult] = []
    stays: list[Any] = []
    with (
        tempfile.TemporaryDirectory(prefix="facepay-eval-till-") as tmp,
        Sandbox(Path(tmp) / "till.db", key_dir=Path(tmp) / "keys", config=config) as sandbox,
    ):
        lane = _Lane(sandbox, analyzer, embedder, setting)
        enrolled_at: dict[str, int] = {}
        for clip, segments in progress(clips):
            challenges = challenges_for(clip.name)
            for segment in segments:
                visit = lane.enroll(segment, challenges)
                results.append(visit)
                if visit.outcome == "enrolled":
                    enrolled_at[clip.name] = segment.index
                    break
            if clip.name not in enrolled_at or SEGMENTS not in readings:
                continue
            for segment in segments:
                if segment.index != enrolled_at[clip.name]:
                    results.append(lane.pay(segment, clip.name, challenges, genuine=True))
        if impostors and SEGMENTS in readings:
            names = [clip.name for clip, _ in clips if clip.name in enrolled_at]
            for clip, segments in clips:
                others = [n for n in names if not same_person(n, clip.name)]
                challenges = challenges_for(clip.name)
                for k, segment in enumerate(segments):
                    if not others:
                        break
                    target = others[k % len(others)]
                    results.append(lane.pay(segment, target, challenges, genuine=False))
        updates = lane.adaptive_updates()
        if VISITS in readings:
            from facepay.eval._till_stays import run_stays

            stays = run_stays(lane, clips, enrolled_at, tries=tries, impostors=impostors)
    return results, updates, stays


def summarize(results: Sequence[VisitResult], adaptive_updates: int = 0) -> dict[str, Any]:
    """Counts per clip and in total for one setting; rates over genuine payments."""
    per_clip: dict[str, dict[str, Any]] = {}
    total: Counter[str] = Counter()
    impostor: Counter[str] = Counter()
    not_payments: Counter[str] = Counter()
    impostor_not_payments: Counter[str] = Counter()
    scores: list[float] = []
    for r in results:
        clip = r.segment.split("#", 1)[0]
        slot = per_clip.setdefault(
            clip,
            {
                "enrolled": False,
                "enroll_tries": 0,
                **dict.fromkeys(OUTCOMES, 0),
                **dict.fromkeys(NOT_PAYMENTS, 0),
            },
        )
        if r.kind == "enroll":
            slot["enroll_tries"] += 1
            slot["enrolled"] = slot["enrolled"] or r.outcome == "enrolled"
        elif r.outcome in NOT_PAYMENTS:
            if r.kind == "genuine":
                slot[r.outcome] += 1
                not_payments[r.outcome] += 1
            else:
                impostor_not_payments[r.outcome] += 1
        elif r.kind == "genuine":
            slot[r.outcome] += 1
            total[r.outcome] += 1
            if r.outcome == "refused_no_match" and r.score is not None:
                scores.append(r.score)
        else:
            impostor[r.outcome] += 1
    genuine = sum(total.values())
    refused = sum(total[o] for o in OUTCOMES if o.startswith("refused"))
    others = sum(not_payments.values())
    out: dict[str, Any] = {
        "clips": len(per_clip),
        "not_enrolled": sorted(c for c, s in per_clip.items() if not s["enrolled"]),
        "genuine_payments": genuine,
        "genuine": {o: total[o] for o in OUTCOMES},
        # Segments that are not a shopper paying (no person, or no answer in the recording):
        # outside the genuine payments; refused_rate_counting_all counts them as refusals.
        "not_payments": {o: not_payments[o] for o in NOT_PAYMENTS},
        "refused_rate": refused / genuine if genuine else None,
        "refused_rate_counting_all": (
            (refused + others) / (genuine + others) if genuine + others else None
        ),
        "refused_on_face_rate": total["refused_no_match"] / genuine if genuine else None,
        "step_up_rate": total[APPROVED_PIN] / genuine if genuine else None,
        "no_match_distances": sorted(round(1 - s, 4) for s in scores),
        "impostor_payments": sum(impostor.values()),
        "impostor": {o: impostor[o] for o in OUTCOMES},
        "impostor_not_payments": {o: impostor_not_payments[o] for o in NOT_PAYMENTS},
        "impostor_accepted": impostor[APPROVED_FACE] + impostor[APPROVED_PIN],
        "adaptive_updates": adaptive_updates,
        "per_clip": per_clip,
    }
    return out


def evaluate_till_visits(
    clips: Sequence[Path],
    *,
    segment_s: float = 3.0,
    settings: Sequence[str] = ("learning", "baseline"),
    impostors: bool = True,
    progress: Callable[[Iterable[Any]], Iterable[Any]] = lambda x: x,
    readings: Sequence[str] = (SEGMENTS,),
    tries: int = 3,
) -> dict[str, Any]:
    """Run every setting on the same segments (see the module docstring). Impostor visits
    run in the ``learning`` setting only (it is the one with a grey zone to guess into).

    ``readings``: ``segments`` (this module: the camera stops at the segment's end, each
    plan tried on the same frames) and/or ``visits`` (:mod:`facepay.eval._till_stays`: the
    camera runs on, up to ``tries`` attempts). Returns ``{"segment_s", "segments",
    "readings": {"segments": {"settings"}, "visits": {"tries", "settings", "details"}},
    "settings", "visits"}``; the last two are the segment reading's summaries and rows,
    kept under their old names.
    """
    from facepay.config import ServerConfig
    from facepay.vision import DlibResNetEmbedder, FrameAnalyzer

    unknown = [s for s in settings if s not in SETTINGS]
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
    wrong = [r for r in readings if r not in READINGS]
    if wrong or not readings:
        raise ValueError(f"readings: one or more of {', '.join(READINGS)}")
    if tries < 1:
        raise ValueError("tries must be at least 1")
    cut = [(clip, clip_segments(clip, clip_duration_s(clip), segment_s)) for clip in clips]
    report: dict[str, Any] = {
        "path": "Till.enroll + Till.start_checkout/CheckoutSession.pay + answer_step_up",
        "segment_s": segment_s,
        "segments": {clip.name: len(segs) for clip, segs in cut},
        "readings": {},
        "settings": {},
        "visits": [],
    }
    if SEGMENTS in readings:
        report["readings"][SEGMENTS] = {"settings": report["settings"]}
    if VISITS in readings:
        report["readings"][VISITS] = {"tries": tries, "settings": {}, "details": []}
    with FrameAnalyzer() as analyzer:
        embedder = DlibResNetEmbedder()
        for name in settings:
            results, updates, stays = _run_setting(
                SETTINGS[name],
                cut,
                impostors=impostors and name == "learning",
                analyzer=analyzer,
                embedder=embedder,
                progress=progress,
                readings=readings,
                tries=tries,
            )
            if SEGMENTS in readings:
                report["settings"][name] = summarize(results, updates)
                report["visits"].extend(r.to_json() for r in results)
            if VISITS in readings:
                from facepay.eval._till_stays import summarize_visits

                visits = report["readings"][VISITS]
                visits["settings"][name] = summarize_visits(stays, ServerConfig().lockout_failures)
                visits["details"].extend(v.to_json() for v in stays)
    return report

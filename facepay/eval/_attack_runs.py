"""``facepay eval attacks``: synthetic presentation and injection attacks, paid through the till.

Every attack is presented to the product's own :class:`facepay.Till`, which pays against an
in-process sandbox backend (:class:`facepay.testing.Sandbox`): the quality gate decides
when liveness starts, the liveness session judges every frame after that, the best frames
are fused, sealed and sent, and the backend checks the liveness summary and matches the
face. The doubles sit at the camera (:class:`AttackCamera`: the attack's frames, whose
timestamps are also the till's clock, so the per-state timeouts count recorded seconds on
any machine) and at the plan (:func:`facepay.testing.fixed_liveness_plan`, which the
sandbox tenant accepts and a production tenant refuses; the liveness session itself is the
till's own):

* ``photo``: live NUAA frames and eval portraits held up by an attacker who reads the
  till's prompts (its :class:`~facepay.checkout.LivenessProgressed` events, what a
  shopper's screen shows) and tilts the photo as each asks, under head-movement-only
  plans (a photo's best case);
* ``print``: NUAA frames of printed-photo attacks, held up the same way;
* ``replay``: every real clip re-filmed off a simulated screen, started at a random point,
  under a random plan of 2 or 3 challenges (drawn by ``ChallengePlan.from_seed``, as the
  till draws it from the backend session's seed, but from a seed of this run, so that a
  run can be repeated attack for attack and the clip still cannot know the plan);
* ``replay_matched``: the recorded live sessions re-filmed off the screen under the very
  plan each clip answers (fixed: the worst case for the till);
* ``injection_frozen``: the same sessions injected with 1 s of frozen frames.

Before the attacks, each presented person is enrolled from a live image of them (a raw
protocol client, :class:`facepay.testing.ProtocolTill`, sealing the real embedder's
template), so an attack that fooled liveness could be paid: an attack is **accepted**
when the payment is approved. Each result also says what liveness decided (``live``,
``not_live``, ``inconclusive``), since only ``not_live`` is evidence of an attack.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from facepay.eval._liveness import VIDEO_SUFFIXES, PadResult, RecordedSession, iso_metrics
from facepay.types import Frame, LivenessDecision, LivenessVerdict

if TYPE_CHECKING:
    from facepay.checkout import LivenessCheck, LivenessFactory, Till
    from facepay.testing import Sandbox

__all__ = ["ATTACK_KINDS", "AttackCamera", "attacks_through_till"]

# The parts of the suite, in the order they run.
ATTACK_KINDS = ("photo", "print", "replay", "matched")

# Worst cases for a photo: plans of head movements only (a photo cannot blink or smile).
_PHOTO_PLANS = (
    ("turn_left", "turn_right"),
    ("turn_right", "look_up"),
    ("look_up", "turn_left"),
    ("turn_right", "turn_left"),
)


class AttackCamera:
    """An attack's frames as a till's camera (a ``FrameStream``).

    :meth:`now` is the timestamp of the last frame handed out: the till's clock, so a
    state's timeout means recorded seconds however busy the machine is.
    """

    def __init__(self, frames: Iterable[Frame], *, name: str = "attack") -> None:
        self._frames = frames
        self._name = name
        self._now = 0.0

    @property
    def device_name(self) -> str:
        return self._name

    def now(self) -> float:
        return self._now

    def frames(self) -> Iterator[Frame]:
        for frame in self._frames:
            self._now = frame.timestamp
            yield frame


class _Watched:
    """The till's liveness factory, keeping the session it built so that its verdict (and
    the evidence behind it) can be reported after the payment attempt."""

    def __init__(self, inner: LivenessFactory) -> None:
        self._inner = inner
        self.session: LivenessCheck | None = None

    def __call__(self, seed: bytes, camera_name: str | None) -> LivenessCheck:
        self.session = self._inner(seed, camera_name)
        return self.session

    def verdict(self) -> LivenessVerdict | None:
        return self.session.verdict() if self.session is not None else None


def _clip_frames(path: Path) -> Iterator[Frame]:
    """A clip's frames at its own frame rate (timestamps from 0)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 30.0)
    index = 0
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                return
            rgb = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)
            yield Frame(image=rgb, timestamp=index / fps, index=index, source_id=path.name)
            index += 1
    finally:
        cap.release()


def _read_rgb(path: Path) -> npt.NDArray[np.uint8]:
    import cv2

    bgr = cv2.imread(str(path))
    if bgr is None:
        raise FileNotFoundError(path)
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def _from(frames: Iterable[Frame], start_s: float) -> Iterator[Frame]:
    return (f for f in frames if f.timestamp >= start_s)


@dataclass
class _Outcome:
    approved: bool
    flow: str  # "approved", "declined:<reason>", or the failure reason
    verdict: LivenessVerdict | None
    liveness_started: bool


class _Lane:
    """One sandbox, one set of face models, and the victims enrolled on it."""

    def __init__(self, sandbox: Sandbox, analyzer: Any, embedder: Any) -> None:
        from facepay.testing import ProtocolTill

        self.sandbox = sandbox
        self.analyzer = analyzer
        self.embedder = embedder
        self._enroller = ProtocolTill(sandbox, sandbox.provision_device())
        self._victims: dict[str, str] = {}
        self._attempts = 0

    def close(self) -> None:
        self._enroller.close()

    def victim(self, key: str, images: Iterable[npt.NDArray[np.uint8]]) -> str | None:
        """Enroll the person in the first of ``images`` whose face passes the quality gate
        (once per ``key``); their phone number, or None if no image had a usable face."""
        if key in self._victims:
            return self._victims[key]
        from facepay.vision import FrameAnalyzer

        with FrameAnalyzer(mode="image") as stills:
            for image in images:
                report = stills.analyze(image)
                if report.passed and report.face is not None:
                    vector = self.embedder.embed(image, report.face).vector
                    break
            else:
                return None
        phone = f"+49160{len(self._victims) + 1:08d}"
        answer = self._enroller.enroll(np.asarray(vector, np.float32), phone=phone)
        if answer.status_code != 201:
            raise RuntimeError(f"enrolling the attack's victim failed: {answer.text}")
        self._victims[key] = phone
        return phone

    def pay(
        self,
        camera: AttackCamera,
        phone: str,
        liveness: LivenessFactory,
        on_prompt: Callable[[str | None], None] | None = None,
    ) -> _Outcome:
        from facepay import Basket, BasketLine, Claim, ClaimKind, PaymentStatus
        from facepay.checkout import LivenessProgressed, PaymentNotTakenError
        from facepay.errors import BackendError

        self._attempts += 1
        watched = _Watched(liveness)
        started = False

        def on_event(event: object) -> None:
            nonlocal started
            if isinstance(event, LivenessProgressed):
                started = True
                if on_prompt is not None:
                    on_prompt(event.challenge)

        basket = Basket(
            reference=f"attack-{self._attempts}",
            currency="EUR",
            lines=(BasketLine(sku="1", description="item", quantity=1, unit_price_minor=999),),
        )
        approved, flow = False, ""
        with self._till(watched, camera) as till:
            try:
                receipt = till.pay(
                    basket,
                    camera,
                    claim=Claim(kind=ClaimKind.PHONE, value=phone),
                    on_event=on_event,
                )
                approved = receipt.status is PaymentStatus.APPROVED
                flow = "approved" if approved else f"{receipt.status.value}:"
                flow += "" if approved else str(receipt.decline_reason or receipt.step_up or "")
            except PaymentNotTakenError as exc:
                flow = str(exc.reason.value)
            except BackendError as exc:
                flow = f"backend:{exc.code or type(exc).__name__}"
        return _Outcome(approved, flow, watched.verdict(), started)

    def _till(self, liveness: LivenessFactory, camera: AttackCamera) -> Till:
        from facepay import Till

        # A lane of its own per attack: one attack's refusals counted against its device
        # (the backend's lockout) must not decide how the next attack is answered.
        device = self.sandbox.provision_device()
        return Till.connect(
            self.sandbox.base_url,
            device_key=device.key,
            device_id=device.device_id,
            analyzer=self.analyzer,
            embedder=self.embedder,
            liveness=liveness,
            clock=camera.now,
        )


def _result(label: str, item: str, outcome: _Outcome) -> PadResult:
    verdict = outcome.verdict
    if (
        verdict is not None
        and not outcome.liveness_started
        and verdict.decision is not LivenessDecision.NOT_LIVE
    ):
        # The till's liveness session watches from the first frame (injection checks),
        # but the plan never started when the gate passed no frame: unless those checks
        # refused, the flow's reason says what happened.
        verdict = None
    evidence: dict[str, Any] = dict(verdict.evidence) if verdict is not None else {}
    evidence["payment"] = outcome.flow
    evidence["liveness"] = verdict.decision.value if verdict is not None else "not_started"
    if outcome.approved:
        reasons: tuple[str, ...] = ()
    elif verdict is not None and verdict.reasons:
        reasons = verdict.reasons
    else:
        reasons = (outcome.flow,)
    return PadResult(
        label=label,
        path=item,
        accepted=outcome.approved,
        acquired=outcome.liveness_started,
        reasons=reasons,
        evidence=evidence,
    )


def attacks_through_till(
    eval_dir: Path,
    *,
    photos: int = 12,
    plans_per_clip: int = 10,
    matched_sessions: Sequence[RecordedSession] = (),
    seed_offset: int = 0,
    kinds: Collection[str] = ATTACK_KINDS,
    clips: Collection[str] | None = None,
    progress: Callable[[str], None] = lambda item: None,
) -> tuple[dict[str, Any], list[PadResult]]:
    """Pay with every attack through a real :class:`Till` (see the module docstring).

    ``seed_offset`` shifts every random choice (photo shake, the simulated screens' moiré,
    glare and jitter, the replays' start points; the backend draws the random plans): 0
    gives the reported set, another offset fresh attacks. Returns the ISO metrics (an
    attack is accepted when it was paid), ``liveness_by_type`` (how liveness ended, per
    attack type) and every result.

    ``kinds`` (of :data:`ATTACK_KINDS`; ``matched`` is the matched replays and the frozen
    injections) and ``clips`` (clip file names to replay) run a part of the suite: each
    attack keeps the seeds it has in the whole run, so parts run side by side add up to
    the whole.
    """
    unknown = set(kinds) - set(ATTACK_KINDS)
    if unknown:
        raise ValueError(f"unknown attack kinds {sorted(unknown)}: use {ATTACK_KINDS}")
    from facepay.eval.attacks import (
        PromptReadingAttacker,
        frozen_frames,
        planar_photo_attack,
        screen_replay_attack,
    )
    from facepay.liveness import ChallengePlan
    from facepay.testing import Sandbox, fixed_liveness_plan
    from facepay.vision import DlibResNetEmbedder, FrameAnalyzer

    results: list[PadResult] = []
    with (
        tempfile.TemporaryDirectory(prefix="facepay-eval-attacks-") as tmp,
        Sandbox(Path(tmp) / "attacks.db", key_dir=Path(tmp) / "keys") as sandbox,
        FrameAnalyzer() as analyzer,
    ):
        lane = _Lane(sandbox, analyzer, DlibResNetEmbedder())
        try:

            def photo_attack(label: str, path: Path, victim: Path, k: int, seed: int) -> None:
                plan = _PHOTO_PLANS[k % len(_PHOTO_PLANS)]
                item = f"{path.name}:{','.join(plan)}"
                progress(f"{label} {item}")
                phone = lane.victim(str(victim), [_read_rgb(victim)])
                if phone is None:
                    return
                attacker = PromptReadingAttacker(seed=seed)
                frames = planar_photo_attack(
                    _read_rgb(path),
                    attacker.poses(),
                    seed=seed,
                    paper_margin=0.05 if label == "photo" and k % 2 else 0.0,
                )
                camera = AttackCamera(frames, name=f"attack:{label}")
                outcome = lane.pay(camera, phone, fixed_liveness_plan(*plan), attacker.saw)
                results.append(_result(label, item, outcome))

            pad = eval_dir / "pad"
            live_stills = sorted((pad / "live").glob("*_03.jpg"))
            portraits = sorted((eval_dir / "faces").glob("*/*.jpg"))
            portraits = portraits[:: max(1, len(portraits) // 8)]
            for k, path in enumerate((live_stills + portraits)[:photos]):
                if "photo" in kinds:
                    photo_attack("photo", path, path, k, seed_offset + k)
            prints = (
                sorted((pad / "print").glob("*_03.jpg"))[: max(1, photos // 2)]
                if photos and "print" in kinds
                else []
            )
            for k, path in enumerate(prints):
                # The victim is the printed person, enrolled from a live frame of them.
                live = pad / "live" / path.name.replace("_print_", "_live_")
                photo_attack(
                    "print", path, live if live.exists() else path, k, seed_offset + 100 + k
                )

            every_clip = sorted(
                p for p in (eval_dir / "video").iterdir() if p.suffix.lower() in VIDEO_SUFFIXES
            )
            for c, clip in enumerate(every_clip):
                if "replay" not in kinds or (clips is not None and clip.name not in clips):
                    continue
                phone = lane.victim(str(clip), (f.image for f in _clip_frames(clip)))
                if phone is None:
                    continue
                duration = max((f.timestamp for f in _clip_frames(clip)), default=0.0)
                rng = np.random.default_rng(seed_offset + c)
                for k in range(plans_per_clip):
                    # The attacker presses play whenever they like; the plan is drawn as
                    # the till draws it from the backend's seed (ChallengePlan.from_seed),
                    # from a seed of this run, so a run can be repeated attack for attack.
                    start = float(rng.uniform(0.0, max(0.0, duration - 2.0)))
                    nonce = f"replay:{clip.name}:{seed_offset + k}".encode()
                    plan = ChallengePlan.from_seed(nonce, count=2 + k % 2)
                    item = f"{clip.name}@{start:.1f}s:{','.join(plan.names)}"
                    progress(f"replay {item}")
                    frames = screen_replay_attack(_clip_frames(clip), seed=seed_offset + c)
                    outcome = lane.pay(
                        AttackCamera(_from(frames, start), name="attack:replay"),
                        phone,
                        fixed_liveness_plan(*plan.names),
                    )
                    results.append(_result("replay", item, outcome))

            for k, s in enumerate(matched_sessions):
                if s.label != "live" or "matched" not in kinds:
                    continue
                phone = lane.victim(str(s.clip), (f.image for f in _clip_frames(s.clip)))
                if phone is None:
                    continue
                plan = ChallengePlan.of(s.challenges)
                item = f"{s.clip.name}@{s.start_s:g}s:{','.join(plan.names)}"
                progress(f"replay_matched {item}")
                frames = screen_replay_attack(_clip_frames(s.clip), seed=seed_offset + k)
                outcome = lane.pay(
                    AttackCamera(_from(frames, s.start_s), name="attack:replay"),
                    phone,
                    fixed_liveness_plan(*plan.names),
                )
                results.append(_result("replay_matched", item, outcome))
                # One second frozen right after the warm-up, while the first challenge runs.
                first = next(
                    f.index for f in _clip_frames(s.clip) if f.timestamp >= s.start_s + 0.8
                )
                frozen = frozen_frames(_clip_frames(s.clip), start=first, count=30)
                outcome = lane.pay(
                    AttackCamera(_from(frozen, s.start_s), name="attack:injection"),
                    phone,
                    fixed_liveness_plan(*plan.names),
                )
                results.append(_result("injection_frozen", item, outcome))
        finally:
            lane.close()
    metrics = iso_metrics(results)
    metrics["path"] = "Till.pay"
    metrics["liveness_by_type"] = _liveness_by_type(results)
    return metrics, results


def _liveness_by_type(results: Sequence[PadResult]) -> dict[str, dict[str, int]]:
    """Per attack type: how many liveness sessions ended live, not_live, inconclusive (or
    never started, the quality gate never passing a frame)."""
    out: dict[str, dict[str, int]] = {}
    for r in results:
        slot = out.setdefault(r.label, {})
        key = str(r.evidence.get("liveness", "not_started"))
        slot[key] = slot.get(key, 0) + 1
    return out

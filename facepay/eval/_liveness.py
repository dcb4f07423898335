"""Liveness evaluation in ISO/IEC 30107-3 terms.

* :func:`evaluate_pad_dir`: passive-only presentation attack detection on a folder of
  ``live/`` and ``<attack type>/`` images or clips, at the SDK's shipped operating point.
* recorded sessions (a clip plus the plan that was shown) are scored through the till
  itself: :func:`facepay.eval._sessions.evaluate_sessions`; synthetic attacks are paid
  through it too: :func:`facepay.eval._attack_runs.attacks_through_till`.
* :func:`run_session`: one liveness session over any frame iterable.
* :func:`adaptive_photo_attack`: a photo held up by an attacker who reads the prompts and
  tilts the photo as each one asks (the strongest planar attack we can simulate).

Terms (ISO/IEC 30107-3): APCER, per attack type (PAI species), is the share of attack
presentations accepted as bona fide; BPCER the share of bona fide presentations refused;
ACER = (max APCER + BPCER) / 2 (the standard deprecates ACER; reported for comparison with
papers). A presentation whose face is never found is counted as refused (it cannot pay)
and also reported as a failure to acquire.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from facepay.config import LivenessConfig
from facepay.liveness import (
    ChallengePlan,
    InjectionMonitor,
    LivenessSession,
    PadModel,
    PassiveCues,
)
from facepay.types import FaceObservation, Frame, LivenessVerdict

__all__ = [
    "FaceFinder",
    "PadResult",
    "adaptive_photo_attack",
    "evaluate_pad_dir",
    "iso_metrics",
    "run_session",
]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"})


class FaceFinder(Protocol):
    """What the harness needs from the vision stage: faces in a frame, dominant first."""

    def faces(self, frame: Frame) -> list[FaceObservation]: ...


def usable_faces(faces: Sequence[FaceObservation]) -> list[FaceObservation] | None:
    """The vision stage's faces as liveness takes them: None when no face has a mesh."""
    if not faces:
        return None
    if not np.isfinite(faces[0].landmarks).all():
        return None if len(faces) == 1 else list(faces)
    return list(faces)


def run_session(
    frames: Iterable[Frame],
    plan: ChallengePlan,
    finder: FaceFinder,
    *,
    config: LivenessConfig | None = None,
    device_name: str | None = None,
    pad_model: PadModel | None = None,
    start_s: float = 0.0,
) -> LivenessVerdict:
    """Run one session on ``frames`` (at their own pace) until it finishes or they end."""
    session = LivenessSession(plan, config, device_name=device_name, pad_model=pad_model)
    for frame in frames:
        if frame.timestamp < start_s:
            continue
        faces = usable_faces(finder.faces(frame))
        if session.feed(frame, faces).finished:
            break
    else:
        session.stop()
    return session.verdict()


def adaptive_photo_attack(
    photo: npt.NDArray[np.uint8],
    plan: ChallengePlan,
    finder: FaceFinder,
    *,
    config: LivenessConfig | None = None,
    fps: float = 30.0,
    max_s: float = 25.0,
    tilt_deg: float = 55.0,
    speed_deg_s: float = 90.0,
    seed: int = 0,
    paper_margin: float = 0.0,
) -> LivenessVerdict:
    """An attacker holds ``photo`` up and tilts it the way each prompt asks.

    turn_left/turn_right rotate the photo about its vertical axis by ``tilt_deg`` (far more
    than a head turns, to make the mesh see a turn), look_up tips it back; for blink, mouth
    and smile a photo can only wobble. Between prompts it returns to frontal.
    """
    from facepay.eval.attacks import PromptReadingAttacker, planar_photo_attack

    session = LivenessSession(plan, config)
    attacker = PromptReadingAttacker(
        fps=fps, max_s=max_s, tilt_deg=tilt_deg, speed_deg_s=speed_deg_s, seed=seed
    )
    frames = planar_photo_attack(
        photo, attacker.poses(), fps=fps, seed=seed, paper_margin=paper_margin
    )
    for frame in frames:
        progress = session.feed(frame, usable_faces(finder.faces(frame)))
        if progress.finished:
            break
        attacker.saw(progress.challenge)
    else:
        session.stop()
    return session.verdict()


@dataclass
class PadResult:
    """Per-presentation outcome of a PAD evaluation."""

    label: str  # "live" or the attack type (folder name)
    path: str
    accepted: bool
    acquired: bool
    reasons: tuple[str, ...] = ()
    evidence: dict[str, float | int | str | bool] = field(default_factory=dict)
    group: dict[str, Any] = field(default_factory=dict)


def iso_metrics(results: Sequence[PadResult]) -> dict[str, Any]:
    """Counts, BPCER, per-type APCER, max APCER and ACER (see the module docstring)."""
    counts: dict[str, int] = {}
    accepted: dict[str, int] = {}
    fta: dict[str, int] = {}
    for r in results:
        counts[r.label] = counts.get(r.label, 0) + 1
        accepted[r.label] = accepted.get(r.label, 0) + int(r.accepted)
        fta[r.label] = fta.get(r.label, 0) + int(not r.acquired)
    live_n = counts.get("live", 0)
    bpcer = (live_n - accepted.get("live", 0)) / live_n if live_n else None
    apcer = {k: accepted[k] / n for k, n in counts.items() if k != "live" and n}
    apcer_max = max(apcer.values()) if apcer else None
    acer = (apcer_max + bpcer) / 2 if apcer_max is not None and bpcer is not None else None
    return {
        "counts": counts,
        "bpcer": bpcer,
        "apcer": apcer,
        "apcer_max": apcer_max,
        "acer": acer,
        "failure_to_acquire": fta,
    }


def _passive_judgement(
    cues: PassiveCues,
    monitor: InjectionMonitor | None,
    pad_scores: list[float],
    pad_model: PadModel | None,
) -> tuple[bool, tuple[str, ...]]:
    reasons = list(cues.refusals())
    if monitor is not None:
        flags = monitor.flags
        if flags.frozen:
            reasons.append("frozen_frames")
        if flags.timestamp_anomaly:
            reasons.append("timestamp_anomaly")
        if flags.frame_rate_anomaly:
            reasons.append("frame_rate_anomaly")
    if pad_model is not None and pad_scores and np.median(pad_scores) < pad_model.card.threshold:
        reasons.append("pad_model")
    return not reasons, tuple(reasons)


def evaluate_pad_item(
    frames: Iterable[Frame],
    finder: FaceFinder,
    *,
    config: LivenessConfig,
    pad_model: PadModel | None = None,
    video: bool = False,
) -> tuple[bool, bool, tuple[str, ...], dict[str, Any]]:
    """Passive-only judgement of one presentation: (accepted, acquired, reasons, evidence)."""
    cues = PassiveCues(config, every_s=0.0)
    monitor = InjectionMonitor(config) if video else None
    pad_scores: list[float] = []
    acquired = False
    for frame in frames:
        if monitor is not None:
            monitor.feed(frame)
        faces = usable_faces(finder.faces(frame))
        if not faces:
            continue
        # Stills of NUAA show bystanders: the dominant face is the presentation.
        face = faces[0]
        acquired = True
        cues.feed(frame, face, frame.timestamp)
        if pad_model is not None:
            pad_scores.append(pad_model.live_score(frame, face))
    if not acquired:
        return False, False, ("no_face",), {}
    accepted, reasons = _passive_judgement(cues, monitor, pad_scores, pad_model)
    evidence: dict[str, Any] = dict(cues.evidence())
    if pad_scores:
        evidence["pad_live_score"] = round(float(np.median(pad_scores)), 4)
    return accepted, True, reasons, evidence


def evaluate_pad_dir(
    root: Path,
    finder_factory: Callable[[bool], FaceFinder],
    *,
    config: LivenessConfig | None = None,
    pad_model: PadModel | None = None,
    frames_of: Callable[[Path], Iterable[Frame]],
    progress: Callable[[Iterable[Path]], Iterable[Path]] = lambda x: x,
) -> tuple[dict[str, Any], list[PadResult]]:
    """Passive-only PAD metrics for ``root/live`` and ``root/<attack>/`` (images or clips).

    ``finder_factory(video)`` gives a face finder for stills (False) or one clip (True);
    ``frames_of(path)`` the frames of one presentation.
    """
    cfg = config or LivenessConfig()
    if not (root / "live").is_dir():
        raise FileNotFoundError(f"{root} has no live/ folder")
    items: list[tuple[str, Path]] = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        for f in sorted(sub.iterdir()):
            if f.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
                items.append((sub.name, f))
    if not any(label != "live" for label, _ in items):
        raise FileNotFoundError(f"{root} has no attack folder (print/, replay/, ...)")
    still_finder = finder_factory(False)
    results: list[PadResult] = []
    by_path = dict((p, label) for label, p in items)
    for path in progress([p for _, p in items]):
        video = path.suffix.lower() in VIDEO_SUFFIXES
        finder = finder_factory(True) if video else still_finder
        accepted, acquired, reasons, evidence = evaluate_pad_item(
            frames_of(path), finder, config=cfg, pad_model=pad_model, video=video
        )
        results.append(PadResult(by_path[path], str(path), accepted, acquired, reasons, evidence))
    return iso_metrics(results), results


@dataclass(frozen=True)
class RecordedSession:
    """One entry of a sessions manifest: a clip, the plan shown, and its ground truth."""

    clip: Path
    challenges: tuple[str, ...]
    label: str = "live"
    start_s: float = 0.0
    group: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], base: Path) -> RecordedSession:
        clip = Path(raw["clip"])
        if not clip.is_absolute():
            clip = base / clip
        ch = raw["challenges"]
        return cls(
            clip=clip,
            challenges=tuple(ch.split(",") if isinstance(ch, str) else ch),
            label=str(raw.get("label", "live")),
            start_s=float(raw.get("start_s", 0.0)),
            group=dict(raw.get("group", {})),
        )


def load_sessions_manifest(path: Path) -> list[RecordedSession]:
    import json

    text = path.read_text(encoding="utf-8")
    raw = (
        json.loads(text)
        if text.lstrip().startswith("[")
        else [json.loads(line) for line in text.splitlines() if line.strip()]
    )
    return [RecordedSession.from_dict(r, path.parent) for r in raw]

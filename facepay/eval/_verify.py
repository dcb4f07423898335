"""Verification accuracy: genuine/impostor pairs, EER, FNMR at fixed FMR, and the shipped
threshold's FMR/FNMR, on a folder of stills or on video clips with multi-frame fusion.

Conventions (ISO/IEC 19795-1 vocabulary):

- a comparison score is a **distance** (smaller = more alike); a pair matches when its
  distance is ``<= threshold``;
- FMR(t) = share of impostor pairs with distance <= t; FNMR(t) = share of genuine pairs
  with distance > t;
- FNMR@FMR=x is the FNMR at the largest threshold whose FMR is still <= x (with n impostor
  pairs, FMR below 1/n can only be read as "no impostor matched");
- EER is where the two curves cross: the threshold that minimises |FMR - FNMR|, reported as
  their mean there;
- failed_to_enroll counts images (or windows) that gave no usable face; their pairs are
  left out of both sets (reported, not hidden).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facepay.types import FaceObservation, FaceTemplate

__all__ = [
    "FMR_TARGETS",
    "EnrolledSample",
    "PairScores",
    "calibrated_threshold",
    "closest_impostors",
    "pair_scores",
    "verification_report",
]

logger = logging.getLogger(__name__)

FMR_TARGETS: tuple[str, ...] = ("0.01", "0.001", "0.0001")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm"}

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class EnrolledSample:
    """One template with the identity it belongs to and where it came from."""

    identity: str
    source: str
    template: FaceTemplate = field(repr=False)


@dataclass(frozen=True, slots=True)
class PairScores:
    genuine: F64
    impostor: F64
    impostor_pairs: tuple[tuple[int, int], ...]  # sample indices, aligned with ``impostor``


def pair_scores(
    samples: Sequence[EnrolledSample],
    compare: Callable[[FaceTemplate, FaceTemplate], float],
    *,
    metric: str | None = None,
) -> PairScores:
    """All unordered pairs: same identity -> genuine, different -> impostor.

    With ``metric`` ("cosine" or "euclidean", the embedder's) the distances are computed
    as one matrix (clips give hundreds of thousands of pairs); otherwise pair by pair with
    ``compare``.
    """
    if metric is not None and len(samples) > 1:
        return _pair_scores_matrix(samples, metric)
    genuine: list[float] = []
    impostor: list[float] = []
    imp_pairs: list[tuple[int, int]] = []
    for i, j in itertools.combinations(range(len(samples)), 2):
        d = compare(samples[i].template, samples[j].template)
        if samples[i].identity == samples[j].identity:
            genuine.append(d)
        else:
            impostor.append(d)
            imp_pairs.append((i, j))
    return PairScores(
        genuine=np.asarray(genuine, dtype=np.float64),
        impostor=np.asarray(impostor, dtype=np.float64),
        impostor_pairs=tuple(imp_pairs),
    )


def _pair_scores_matrix(samples: Sequence[EnrolledSample], metric: str) -> PairScores:
    v = np.stack([np.asarray(s.template.vector, dtype=np.float64) for s in samples])
    if metric == "cosine":
        u = v / np.linalg.norm(v, axis=1, keepdims=True)
        dist = 1.0 - u @ u.T
    elif metric == "euclidean":
        sq = (v**2).sum(axis=1)
        dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * v @ v.T, 0.0))
    else:
        raise ValueError(f"unknown metric {metric!r}")
    rows, cols = np.triu_indices(len(samples), 1)
    ids = np.array([s.identity for s in samples])
    same = ids[rows] == ids[cols]
    d = dist[rows, cols]
    return PairScores(
        genuine=d[same],
        impostor=d[~same],
        impostor_pairs=tuple(zip(rows[~same].tolist(), cols[~same].tolist(), strict=True)),
    )


def _fmr(impostor: F64, t: float) -> float:
    return float(np.mean(impostor <= t)) if impostor.size else 0.0


def _fnmr(genuine: F64, t: float) -> float:
    return float(np.mean(genuine > t)) if genuine.size else 0.0


def equal_error_rate(genuine: F64, impostor: F64) -> float | None:
    if not genuine.size or not impostor.size:
        return None
    # Every distinct score is a candidate threshold; FMR(t) and FNMR(t) for all of them at
    # once by binary search in the sorted scores (O(n log n), not O(n^2)).
    g = np.sort(genuine)
    i = np.sort(impostor)
    candidates = np.unique(np.concatenate([g, i]))
    fmr = np.searchsorted(i, candidates, side="right") / i.size
    fnmr = 1.0 - np.searchsorted(g, candidates, side="right") / g.size
    k = int(np.argmin(np.abs(fmr - fnmr)))
    return float((fmr[k] + fnmr[k]) / 2.0)


def fnmr_at_fmr(genuine: F64, impostor: F64, target: float) -> float | None:
    """FNMR at the largest threshold whose FMR <= target (None without pairs)."""
    if not genuine.size or not impostor.size:
        return None
    imp = np.sort(impostor)
    allowed = int(np.floor(target * imp.size + 1e-9))  # impostors that may match
    # Threshold just below the (allowed+1)-th smallest impostor distance.
    t = float(np.nextafter(imp[allowed], -np.inf)) if allowed < imp.size else float(imp[-1])
    return _fnmr(genuine, t)


def calibrated_threshold(
    scores: PairScores, *, max_fmr: float = 1e-3, step: float = 0.005
) -> dict[str, Any] | None:
    """The documented calibration rule (docs/accuracy.md, "How 0.04 was chosen"): the
    largest distance, in steps of ``step``, whose FMR is at most ``max_fmr``; with its FMR
    and FNMR. None without impostor pairs.

    Steps are counted as integers (k * step) so that 0.04 is 8 steps, not 0.04000000001.
    """
    g, i = scores.genuine, scores.impostor
    if not i.size:
        return None
    k = 0
    while k < 10_000 and _fmr(i, round((k + 1) * step, 6)) <= max_fmr:
        k += 1
    t = round(k * step, 6)
    return {
        "rule": f"largest multiple of {step} with FMR <= {max_fmr}",
        "threshold": t,
        "fmr": round(_fmr(i, t), 6),
        "fnmr": round(_fnmr(g, t), 6),
        "fmr_next_step": round(_fmr(i, round(t + step, 6)), 6),
    }


def verification_report(
    scores: PairScores,
    *,
    images: int,
    identities: int,
    failed_to_enroll: int,
    threshold: float,
) -> dict[str, Any]:
    """The ``facepay eval verify --json`` document (keys fixed by issue 2)."""
    g, i = scores.genuine, scores.impostor
    eer = equal_error_rate(g, i)
    return {
        "images": images,
        "identities": identities,
        "failed_to_enroll": failed_to_enroll,
        "genuine_pairs": int(g.size),
        "impostor_pairs": int(i.size),
        "eer": None if eer is None else round(eer, 6),
        "fnmr_at_fmr": {k: _round(fnmr_at_fmr(g, i, float(k))) for k in FMR_TARGETS},
        "at_default_threshold": {
            "threshold": threshold,
            "fmr": round(_fmr(i, threshold), 6),
            "fnmr": round(_fnmr(g, threshold), 6),
        },
    }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


def closest_impostors(
    samples: Sequence[EnrolledSample], scores: PairScores, n: int
) -> list[dict[str, Any]]:
    """The ``n`` impostor pairs with the smallest distances (who could be mistaken for whom)."""
    order = np.argsort(scores.impostor)[:n]
    out = []
    for k in order:
        a, b = scores.impostor_pairs[int(k)]
        out.append(
            {
                "distance": round(float(scores.impostor[int(k)]), 4),
                "a": samples[a].source,
                "b": samples[b].source,
            }
        )
    return out


# --- still photos --------------------------------------------------------------------


def identity_images(root: Path, pattern: str | None = None) -> list[tuple[str, Path]]:
    """(identity, image path) for every image in ``root/<identity>/``, sorted.

    With ``pattern`` (a regular expression whose first group is the identity) the images
    sit directly in ``root`` and are named after their subject, e.g. ``^(s\\d{4})_`` for
    NUAA's ``s0003_live_07.jpg``; files that do not match are skipped.
    """
    items = []
    if pattern is not None:
        import re

        rx = re.compile(pattern)
        for f in sorted(root.iterdir()):
            m = rx.search(f.name)
            if f.suffix.lower() in IMAGE_SUFFIXES and m:
                items.append((m.group(1), f))
        return items
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        for f in sorted(sub.iterdir()):
            if f.suffix.lower() in IMAGE_SUFFIXES:
                items.append((sub.name, f))
    return items


# --- video clips with fusion ---------------------------------------------------------


def usable_for_template(face: FaceObservation, min_score: float, max_angle: float) -> bool:
    """The frame-level gate used for fused windows: a confident, near-frontal face.

    The product's full quality gate is stricter (sharpness, exposure, eyes open); here we
    only keep the frames a till would not have thrown away outright, so the number says
    what fusion does rather than what the gate does.
    """
    if face.score < min_score or not np.all(np.isfinite(face.landmarks[:, :2])):
        return False
    p = face.pose
    return bool(abs(p.yaw) <= max_angle and abs(p.pitch) <= max_angle and abs(p.roll) <= 30)


def windows(items: Sequence[Any], k: int) -> Iterable[Sequence[Any]]:
    """Non-overlapping runs of ``k`` consecutive items (the tail that does not fill is dropped)."""
    for start in range(0, len(items) - k + 1, k):
        yield items[start : start + k]


# --- runners (compose capture + vision; used by `facepay eval verify`) ---------------


def enroll_stills(
    root: Path,
    *,
    detector: Any,
    embedder: Any,
    pattern: str | None = None,
    progress: Callable[[Iterable[Any], int], Iterable[Any]] | None = None,
) -> tuple[list[EnrolledSample], int, int]:
    """Embed the largest (dominant) face of every image in ``root/<identity>/``.

    Returns ``(samples, images, failed_to_enroll)``.
    """
    from facepay.capture import read_image
    from facepay.errors import FacePayError

    items = identity_images(root, pattern)
    it: Iterable[tuple[str, Path]] = progress(items, len(items)) if progress else items
    samples: list[EnrolledSample] = []
    failed = 0
    for identity, path in it:
        try:
            image = read_image(path)
            faces = detector.detect(image)
            if not faces:
                raise LookupError("no face")
            template = embedder.embed(image, faces[0])
        except (FacePayError, LookupError) as exc:
            logger.info("%s/%s: not enrolled (%s)", identity, path.name, exc)
            failed += 1
            continue
        samples.append(EnrolledSample(identity, f"{identity}/{path.name}", template))
    return samples, len(items), failed


def enroll_clips(
    root: Path,
    k: int,
    *,
    detector_factory: Callable[[], Any],
    embedder: Any,
    same_person: Sequence[Sequence[str]] = (),
    min_score: float = 0.8,
    max_angle: float = 25.0,
    step: int = 1,
    progress: Callable[[Iterable[Any], int], Iterable[Any]] | None = None,
) -> tuple[list[EnrolledSample], int, int, int]:
    """Fused templates of ``k`` consecutive usable frames per window, per clip.

    ``detector_factory`` makes a ``FrameAnalyzer`` (frames must pass the product's quality
    gate, as at a till) or a bare ``FaceMeshDetector`` (frames need only a confident,
    near-frontal face: :func:`usable_for_template`).

    Each clip is its own identity unless listed together in ``same_person`` (clips cut
    from the same footage). Returns ``(samples, windows, clips, failed_windows)``;
    a failed window is one that could not be filled with usable frames (the tail of a
    clip and stretches with no face are not counted: they are not enrolment attempts).
    """
    from facepay.capture import VideoFileSource
    from facepay.errors import FacePayError
    from facepay.vision import fuse_templates

    alias: dict[str, str] = {}
    for group in same_person:
        for name in group:
            alias[name] = "+".join(sorted(group))
    clips = sorted(p for p in root.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    it: Iterable[Path] = progress(clips, len(clips)) if progress else clips
    samples: list[EnrolledSample] = []
    failed = 0
    for clip in it:
        identity = alias.get(clip.name, clip.name)
        detector = detector_factory()
        usable: list[tuple[int, FaceTemplate]] = []
        try:
            with VideoFileSource(clip) as source:
                for frame in source.frames():
                    if frame.index % step:
                        continue
                    if hasattr(detector, "analyze"):  # a FrameAnalyzer: the till's own gate
                        report = detector.analyze(frame)
                        face = report.face if report.passed else None
                    else:
                        faces = detector.detect_frame(frame)
                        ok = faces and usable_for_template(faces[0], min_score, max_angle)
                        face = faces[0] if ok else None
                    if face is None:
                        continue
                    try:
                        usable.append((frame.index, embedder.embed(frame, face)))
                    except FacePayError:
                        failed += 1
        finally:
            detector.close()
        for window in windows(usable, k):
            fused = fuse_templates([t for _, t in window], metric=embedder.metric)
            src = f"{clip.name}#{window[0][0]}-{window[-1][0]}"
            samples.append(EnrolledSample(identity, src, fused))
    return samples, len(samples), len(clips), failed

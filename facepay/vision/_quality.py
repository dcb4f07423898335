"""The quality gate: is this frame good enough to make a template from?

:class:`QualityGate` measures one frame's faces and answers with a
:class:`facepay.types.QualityReport`: reason codes (:class:`facepay.types.QualityReason`)
that a UI turns into prompts, the measured values (``metrics``), and a 0..1 ``utility``
used to rank frames for multi-frame fusion. Every threshold lives in
:class:`facepay.config.QualityConfig` with the source of its value; ``docs/quality.md``
explains each reason code.

The measures follow ISO/IEC 29794-5 (face image quality) in spirit, simplified to what a
till can compute in about a millisecond from the mesh and the pixels:

- **one face**: a second face whose box is large compared with the dominant one (close
  to the till), or close beside it, refuses the frame: the gate never guesses who pays;
- **size**: interocular distance (eye centres, px), and a face too close to the camera;
- **pose**: yaw, pitch, roll from the mesh;
- **sharpness**: variance of the Laplacian of the inner face, resampled to a fixed size so
  that the number does not depend on how big the face is;
- **exposure**: mean luminance, the share of clipped pixels and the spread (contrast) of
  the face region;
- **eyes open**: eye aspect ratio (Soukupova & Cech 2016) from the mesh's eyelids;
- **occlusion / sunglasses**: the brightest part of the eye openings against the cheeks
  (dark lenses hide the sclera), and the detector's confidence (a mask or a scarf over
  much of the face). A hand over the mouth with the eyes visible leaves the detector
  confident: enrollment looks for the hand itself on its candidate frames
  (:class:`facepay.vision.HandCoverageDetector`, docs/quality.md "A hand over the face");
- **cut off**: face-outline points outside the frame.

An enrollment is held to more than one frame's gate: its template is the one every later
payment is compared with. :func:`enrollment_frames` judges an enrollment session's frames
together (eyes open compared with the shopper's own best frame, enough clear frames to fuse)
and says why when they are not enough (docs/quality.md, "Enrollment").
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from facepay import _mesh
from facepay.config import QualityConfig
from facepay.types import FaceObservation, Frame, QualityReason, QualityReport

__all__ = [
    "EnrollmentFrames",
    "GradedFrame",
    "QualityGate",
    "enrollment_frames",
    "eye_aspect_ratio",
]

logger = logging.getLogger(__name__)

_Points = npt.NDArray[np.float32]

# Inner-face landmarks (brows, eyes, nose, mouth, cheeks; no hair or background) whose
# bounding box is the region for sharpness.
_INNER_FACE = (
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,  # brows
    33, 133, 362, 263, 1, 2, 98, 327,  # eye corners, nose
    61, 291, 13, 14, 17, 0,  # mouth
    205, 425, 50, 280,  # cheeks
)  # fmt: skip
# Cheek patches (below the eyes, beside the nose): the skin reference for the eyes.
_RIGHT_CHEEK = (50, 101, 118, 117, 123, 187, 205, 36)
_LEFT_CHEEK = (280, 330, 347, 346, 352, 411, 425, 266)
# Side length the inner face is resampled to before the Laplacian (sharpness is then
# comparable between a 60 px and a 300 px face).
_SHARPNESS_SIDE = 128
# Interocular distance the face crop is reduced to for luminance statistics.
_STATS_INTEROCULAR_PX = 64.0


def eye_aspect_ratio(landmarks: _Points, eye: Sequence[int]) -> float:
    """Eye aspect ratio from six mesh points ``(p1..p6)``: about 0.25-0.35 open, < 0.15 shut."""
    p = landmarks[list(eye), :2].astype(np.float64)
    width = float(np.linalg.norm(p[0] - p[3]))
    if width <= 1e-6:
        return float("nan")
    height = float(np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4]))
    return height / (2.0 * width)


def _luma(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    gray: npt.NDArray[np.uint8] = np.asarray(
        cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), dtype=np.uint8
    )
    return gray


def _percentiles(values: npt.NDArray[np.uint8], qs: Sequence[float]) -> list[float]:
    """Percentiles of 8-bit values from their histogram (lower value; no interpolation)."""
    counts = np.bincount(values.reshape(-1), minlength=256)
    cumulative = np.cumsum(counts)
    total = int(cumulative[-1])
    if total == 0:
        return [float("nan")] * len(qs)
    return [float(np.searchsorted(cumulative, q / 100.0 * total, side="left")) for q in qs]


def _polygon_mask(shape: tuple[int, ...], points: _Points) -> npt.NDArray[np.bool_]:
    mask = np.zeros(shape, dtype=np.uint8)
    hull = cv2.convexHull(np.round(points[:, :2]).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, (1,))
    return mask.astype(bool)


class QualityGate:
    """``assess(frame, faces) -> QualityReport``; stateless and thread-safe."""

    def __init__(self, config: QualityConfig | None = None) -> None:
        self.config = config or QualityConfig()

    def assess(self, frame: Frame, faces: Sequence[FaceObservation]) -> QualityReport:
        """Judge one frame given the faces found in it, dominant first (as
        :class:`FaceMeshDetector` returns them: the largest confident face leads, and a
        weakly detected face may be larger than it)."""
        cfg = self.config
        if not faces:
            return QualityReport(
                reasons=(QualityReason.NO_FACE,),
                metrics={"faces": 0.0, "utility": 0.0},
                frame_index=frame.index,
            )
        ordered = list(faces)
        face = ordered[0]
        reasons: list[QualityReason] = []
        metrics: dict[str, float] = {"faces": float(len(ordered)), "score": face.score}

        # -- exactly one dominant face ----------------------------------------------
        competing = self._competing_faces(face, ordered[1:])
        metrics["second_face_area_ratio"] = max(
            (other.box.area / face.box.area for other in ordered[1:] if face.box.area > 0),
            default=0.0,
        )
        if competing:
            reasons.append(QualityReason.MULTIPLE_FACES)

        lm = face.landmarks
        if not np.isfinite(lm).all():
            # Only secondary faces can lack a mesh; a dominant one without is not usable.
            reasons.append(QualityReason.OCCLUDED)
            return QualityReport(
                reasons=tuple(dict.fromkeys(reasons)),
                metrics={**metrics, "utility": 0.0},
                face=None,
                frame_index=frame.index,
                faces=tuple(ordered),
            )
        height, width = frame.height, frame.width

        # -- size and placement -----------------------------------------------------
        right_eye = lm[[_mesh.RIGHT_EYE_OUTER, _mesh.RIGHT_EYE_INNER], :2].mean(axis=0)
        left_eye = lm[[_mesh.LEFT_EYE_OUTER, _mesh.LEFT_EYE_INNER], :2].mean(axis=0)
        ied = float(np.linalg.norm(left_eye - right_eye))
        metrics["interocular_px"] = ied
        metrics["interocular_fraction"] = ied / width
        if ied < cfg.min_interocular_px:
            reasons.append(QualityReason.FACE_TOO_SMALL)
        elif ied > cfg.max_interocular_fraction * width:
            reasons.append(QualityReason.FACE_TOO_LARGE)

        oval = lm[list(_mesh.FACE_OVAL), :2]
        margin = cfg.cut_off_margin_fraction * ied
        outside = (
            (oval[:, 0] < -margin)
            | (oval[:, 0] > width - 1 + margin)
            | (oval[:, 1] < -margin)
            | (oval[:, 1] > height - 1 + margin)
        )
        metrics["outline_outside_fraction"] = float(outside.mean())
        if outside.mean() > cfg.max_outline_outside_fraction:
            reasons.append(QualityReason.FACE_CUT_OFF)
        centre = lm[:, :2].mean(axis=0)
        offset = max(
            abs(float(centre[0]) - width / 2) / (width / 2),
            abs(float(centre[1]) - height / 2) / (height / 2),
        )
        metrics["centre_offset"] = offset
        if (
            cfg.max_centre_offset is not None
            and offset > cfg.max_centre_offset
            and QualityReason.FACE_CUT_OFF not in reasons
        ):
            reasons.append(QualityReason.FACE_NOT_CENTERED)

        # -- pose -------------------------------------------------------------------
        pose = face.pose
        metrics.update(yaw=pose.yaw, pitch=pose.pitch, roll=pose.roll)
        if not math.isfinite(pose.yaw) or abs(pose.yaw) > cfg.max_abs_yaw:
            reasons.append(QualityReason.YAW)
        if not math.isfinite(pose.pitch) or abs(pose.pitch) > cfg.max_abs_pitch:
            reasons.append(QualityReason.PITCH)
        if not math.isfinite(pose.roll) or abs(pose.roll) > cfg.max_abs_roll:
            reasons.append(QualityReason.ROLL)

        # -- pixels: sharpness, exposure, eyes, occlusion ---------------------------
        # Work on the face's own box: masks over a whole 1080p frame would cost more
        # than the rest of the gate together.
        x0 = max(int(np.floor(lm[:, 0].min())), 0)
        y0 = max(int(np.floor(lm[:, 1].min())), 0)
        x1 = min(int(np.ceil(lm[:, 0].max())) + 1, width)
        y1 = min(int(np.ceil(lm[:, 1].max())) + 1, height)
        if x1 - x0 < 2 or y1 - y0 < 2:
            x0, y0, x1, y1 = 0, 0, width, height
        gray = _luma(np.ascontiguousarray(frame.image[y0:y1, x0:x1]))
        lm = (lm - np.array([x0, y0, 0], dtype=np.float32)).astype(np.float32)
        metrics["sharpness"] = self._sharpness(gray, lm)
        if metrics["sharpness"] < cfg.min_sharpness:
            reasons.append(QualityReason.BLURRY)
        # Luminance statistics do not need more than ~64 px between the eyes; a close face
        # at 1080p has 4-5x that (and as many times the pixels to count).
        factor = _STATS_INTEROCULAR_PX / ied if ied > 0 else 1.0
        if factor < 1.0 and min(gray.shape[:2]) * factor >= 8:
            gray = np.asarray(
                cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA),
                dtype=np.uint8,
            )
            lm = (lm * np.array([factor, factor, factor], dtype=np.float32)).astype(np.float32)

        region = _polygon_mask(gray.shape[:2], lm[list(_mesh.FACE_OVAL)])
        values = gray[region]
        if values.size < 16:
            values = gray.reshape(-1)
        brightness = float(values.mean())
        dark = float((values <= cfg.dark_pixel_level).mean())
        bright = float((values >= cfg.bright_pixel_level).mean())
        p5, p95 = _percentiles(values, (5, 95))
        metrics.update(
            brightness=brightness,
            dark_fraction=dark,
            bright_fraction=bright,
            contrast=p95 - p5,
        )
        if brightness < cfg.min_brightness or dark > cfg.max_dark_fraction:
            reasons.append(QualityReason.TOO_DARK)
        elif brightness > cfg.max_brightness or bright > cfg.max_bright_fraction:
            reasons.append(QualityReason.TOO_BRIGHT)
        elif p95 - p5 < cfg.min_contrast:
            reasons.append(QualityReason.LOW_CONTRAST)

        ear_right = eye_aspect_ratio(lm, _mesh.RIGHT_EYE_EAR)
        ear_left = eye_aspect_ratio(lm, _mesh.LEFT_EYE_EAR)
        ear = float(np.nanmean([ear_right, ear_left]))
        metrics.update(eye_aspect_ratio=ear, ear_right=ear_right, ear_left=ear_left)

        eye_ratio = self._eye_to_cheek_luminance(gray, lm)
        metrics["eye_cheek_luminance_ratio"] = eye_ratio
        if not math.isfinite(ear) or ear < cfg.min_eye_aspect_ratio:
            reasons.append(QualityReason.EYES_CLOSED)
        elif not math.isfinite(eye_ratio) or eye_ratio < cfg.min_eye_cheek_luminance_ratio:
            reasons.append(QualityReason.SUNGLASSES)
        if face.score < cfg.min_face_score:
            reasons.append(QualityReason.OCCLUDED)

        metrics["utility"] = self._utility(metrics)
        unique = tuple(dict.fromkeys(reasons))
        return QualityReport(
            reasons=unique,
            metrics=metrics,
            face=None if QualityReason.MULTIPLE_FACES in unique else face,
            frame_index=frame.index,
            faces=tuple(ordered),
        )

    # -- measures ------------------------------------------------------------------------

    def _competing_faces(
        self, face: FaceObservation, others: Sequence[FaceObservation]
    ) -> list[FaceObservation]:
        """Other faces close enough to the till to make "who pays" ambiguous."""
        cfg = self.config
        competing = []
        fx, fy = face.box.center
        for other in others:
            if face.box.area <= 0:
                competing.append(other)
                continue
            ratio = other.box.area / face.box.area
            ox, oy = other.box.center
            distance = math.hypot(ox - fx, oy - fy) / max(face.box.width, 1.0)
            if ratio >= cfg.max_second_face_area_ratio or (
                ratio >= cfg.near_second_face_area_ratio
                and distance <= cfg.near_second_face_distance
            ):
                competing.append(other)
        return competing

    @staticmethod
    def _sharpness(gray: npt.NDArray[np.uint8], lm: _Points) -> float:
        pts = lm[list(_INNER_FACE), :2]
        x0, y0 = np.floor(pts.min(axis=0)).astype(int)
        x1, y1 = np.ceil(pts.max(axis=0)).astype(int)
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, gray.shape[1]), min(y1, gray.shape[0])
        if x1 - x0 < 4 or y1 - y0 < 4:
            return 0.0
        crop = gray[y0:y1, x0:x1]
        resized = cv2.resize(crop, (_SHARPNESS_SIDE, _SHARPNESS_SIDE), interpolation=cv2.INTER_AREA)
        return float(cv2.Laplacian(resized, cv2.CV_64F).var())

    @staticmethod
    def _eye_to_cheek_luminance(gray: npt.NDArray[np.uint8], lm: _Points) -> float:
        """Brightest part (90th percentile) of the eye openings over the cheeks' median luma.

        A bare open eye shows its bright sclera beside the iris (ratio ~0.8, never below
        0.29 on the eval photos and clips); dark lenses cover the whole eye region, sclera
        included (ratio ~0.1-0.15). Eyes squeezed shut in deep shadow also read low, which is
        why a low eye aspect ratio takes precedence (eyes_closed).
        """
        shape = (gray.shape[0], gray.shape[1])
        cheeks = _polygon_mask(shape, lm[list(_RIGHT_CHEEK)]) | _polygon_mask(
            shape, lm[list(_LEFT_CHEEK)]
        )
        if cheeks.sum() < 4:
            return float("nan")
        cheek = max(_percentiles(gray[cheeks], (50,))[0], 1.0)
        ratios = []
        for ring in (_mesh.RIGHT_EYE_RING, _mesh.LEFT_EYE_RING):
            eye = _polygon_mask(shape, lm[list(ring)])
            if eye.sum() >= 4:
                ratios.append(_percentiles(gray[eye], (90,))[0] / cheek)
        return float(np.mean(ratios)) if ratios else float("nan")

    def _utility(self, m: dict[str, float]) -> float:
        """0..1: how good a frame is for a template, for ranking frames (not a gate).

        A product of soft scores, each 1 at or beyond its "good" value and falling to 0 at
        the gate's threshold or beyond, so frames that pass the gate rank by how
        comfortably they pass.
        """
        cfg = self.config

        def ramp(value: float, bad: float, good: float) -> float:
            if not math.isfinite(value):
                return 0.0
            if good == bad:
                return 1.0 if value >= good else 0.0
            return float(min(1.0, max(0.0, (value - bad) / (good - bad))))

        terms = (
            ramp(m["interocular_px"], cfg.min_interocular_px * 0.75, cfg.min_interocular_px * 2),
            ramp(-abs(m["yaw"]), -cfg.max_abs_yaw * 1.5, 0.0),
            ramp(-abs(m["pitch"]), -cfg.max_abs_pitch * 1.5, 0.0),
            ramp(-abs(m["roll"]), -cfg.max_abs_roll * 1.5, 0.0),
            ramp(m["sharpness"], cfg.min_sharpness * 0.5, cfg.min_sharpness * 4),
            ramp(m["eye_aspect_ratio"], cfg.min_eye_aspect_ratio * 0.8, 0.26),
            ramp(m["score"], cfg.min_face_score * 0.8, 0.95),
            1.0 - min(1.0, m["dark_fraction"] + m["bright_fraction"]),
            ramp(
                -abs(m["brightness"] - 128.0),
                -max(128.0 - cfg.min_brightness, cfg.max_brightness - 128.0) * 1.2,
                -20.0,
            ),
        )
        return float(np.prod(terms))


# -- enrollment: the session's frames together ----------------------------------------------


@dataclass(frozen=True, slots=True)
class GradedFrame:
    """What the enrollment rule keeps of one frame's report: numbers and reason codes, never
    the face (a session may see hundreds of frames)."""

    frame_index: int
    reasons: tuple[QualityReason, ...]
    eye_aspect_ratio: float

    @property
    def passed(self) -> bool:
        return not self.reasons

    @classmethod
    def of(cls, report: QualityReport) -> GradedFrame:
        reasons = report.reasons
        if not reasons and report.face is None:
            reasons = (QualityReason.NO_FACE,)
        return cls(
            frame_index=report.frame_index,
            reasons=reasons,
            eye_aspect_ratio=float(report.metrics.get("eye_aspect_ratio", float("nan"))),
        )


@dataclass(frozen=True, slots=True)
class EnrollmentFrames:
    """:func:`enrollment_frames`' answer. ``clear``: the frames a template may be made from;
    ``reasons``: when there are too few of them, why the others were not clear, most
    frequent first (the prompt for the shopper asked to enroll again); empty when enough."""

    clear: tuple[int, ...]
    reasons: tuple[QualityReason, ...]

    @property
    def enough(self) -> bool:
        return not self.reasons


def enrollment_frames(
    frames: Iterable[GradedFrame], *, min_frames: int, min_eye_open_ratio: float
) -> EnrollmentFrames:
    """Which frames of an enrollment session are clear enough for the shopper's template.

    A frame is clear when it passed the gate and its eyes are open compared with the
    shopper's own widest-open frame of the session (eye aspect ratio at least
    ``min_eye_open_ratio`` of it): the gate's absolute 0.15 must let narrow eyes through,
    so on its own it also passes eyes half shut, or half open behind a hand
    (WolfgangLanger_Pexels.mp4 at 4.0-4.1 s: 0.155-0.177 against 0.25 a second later).
    Fewer than ``min_frames`` clear frames (the template is fused from several) and the
    enrollment is refused with the reasons of the frames that were not clear; a session of
    fewer frames than that needs every frame clear. A frame the till found a hand over
    arrives here already refused (``occluded``, ``EnrollmentSession``'s hand check).
    """
    graded = list(frames)
    passed = [g for g in graded if g.passed]
    # The gate refuses a frame whose eyes it cannot measure; a report without the measure
    # (a stand-in analyzer) is not judged on it.
    best = max(
        (g.eye_aspect_ratio for g in passed if math.isfinite(g.eye_aspect_ratio)), default=0.0
    )
    clear = tuple(
        g.frame_index
        for g in passed
        if not math.isfinite(g.eye_aspect_ratio) or g.eye_aspect_ratio >= min_eye_open_ratio * best
    )
    # A session of fewer frames than min_frames (a still, a stand-in camera) is judged by
    # the eye rule alone: a live camera session has dozens (0.6 s of liveness warm-up).
    if clear and len(clear) >= min(min_frames, len(graded)):
        return EnrollmentFrames(clear=clear, reasons=())
    counts: Counter[QualityReason] = Counter()
    kept = set(clear)
    for g in graded:
        if g.passed:
            if g.frame_index not in kept:
                counts[QualityReason.EYES_CLOSED] += 1
        else:
            counts.update(g.reasons)
    reasons = tuple(reason for reason, _ in counts.most_common()) or (QualityReason.NO_FACE,)
    return EnrollmentFrames(clear=clear, reasons=reasons)

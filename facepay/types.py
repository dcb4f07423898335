"""Plain, frozen data that flows between facepay's stages.

No framework object (mediapipe result, Qt type, httpx response) ever crosses a module
boundary: stages take and return these. Images are numpy ``uint8`` arrays, ``H x W x 3``,
**RGB** order (OpenCV's BGR is converted once, in ``capture``). Pixel coordinates are
``(x, y)`` floats with the origin at the top-left of the frame.

Types that hold biometric data (``Frame``, ``FaceTemplate``) keep it out of ``repr`` so
that a stray log line or traceback can never print it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = [
    "BoundingBox",
    "FaceObservation",
    "FaceTemplate",
    "Frame",
    "HandCoverage",
    "HeadPose",
    "LivenessDecision",
    "LivenessVerdict",
    "PinRefusal",
    "QualityReason",
    "QualityReport",
    "SealedTemplate",
]

FloatArray = npt.NDArray[np.float32]
ImageArray = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True, kw_only=True)
class Frame:
    """One image from a frame source.

    ``timestamp`` is in seconds on the source's own clock (monotonic for a camera, the
    presentation time for a video file); ``index`` counts frames from 0.
    """

    image: ImageArray = field(repr=False)
    timestamp: float
    index: int
    source_id: str = ""

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


@dataclass(frozen=True, slots=True, kw_only=True)
class BoundingBox:
    """Axis-aligned box in pixels."""

    x: float
    y: float
    width: float
    height: float

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    @property
    def center(self) -> tuple[float, float]:
        return (self.x + self.width / 2.0, self.y + self.height / 2.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class HeadPose:
    """Head rotation in degrees.

    ``yaw`` is positive when the shopper turns to **their own left**, ``pitch`` positive
    when they look up, ``roll`` positive when the head tilts towards their own left shoulder.
    """

    yaw: float
    pitch: float
    roll: float


@dataclass(frozen=True, slots=True, kw_only=True)
class FaceObservation:
    """One face found in one frame.

    ``landmarks`` is the mediapipe face mesh, ``(478, 3)`` float32: ``x, y`` in pixels,
    ``z`` in the same pixel scale (relative depth, smaller is nearer the camera).
    ``alignment_points`` are the five alignment points in pixels, in the order dlib's
    5-point model uses: the subject's LEFT eye outer corner, left eye inner corner (both on
    the image's right in an unmirrored frame), RIGHT eye outer corner, right eye inner
    corner, nose base. (Checked against dlib's predictor: its point 0 has the largest x.)
    """

    box: BoundingBox
    score: float
    landmarks: FloatArray = field(repr=False)
    pose: HeadPose
    frame_index: int = 0
    timestamp: float = 0.0

    @property
    def alignment_points(self) -> FloatArray:
        """The five points used to align a face chip (see class docstring)."""
        # Mediapipe mesh indices: 263/362 are the subject's left eye outer/inner corners,
        # 33/133 the right eye's, 2 the point just below the nose tip. dlib's template
        # starts with the left eye (x ~ 0.86 of the face), so the left eye comes first.
        idx = [263, 362, 33, 133, 2]
        pts: FloatArray = self.landmarks[idx, :2].astype(np.float32)
        return pts


@dataclass(frozen=True, slots=True, kw_only=True)
class HandCoverage:
    """How much of a face a hand covers in one frame (``facepay.vision.HandCoverageDetector``).

    ``fraction``: the largest share of the face outline's area under one hand (0..1);
    ``hands``: hands found anywhere in the frame; ``covered``: ``fraction`` is at or above
    ``QualityConfig.max_hand_face_coverage`` (the face counts as ``occluded``).
    """

    fraction: float
    hands: int
    covered: bool


class QualityReason(str, enum.Enum):
    """Why a frame is not good enough. The UI maps each to a prompt for the shopper."""

    NO_FACE = "no_face"
    MULTIPLE_FACES = "multiple_faces"
    FACE_TOO_SMALL = "face_too_small"
    FACE_TOO_LARGE = "face_too_large"
    FACE_NOT_CENTERED = "face_not_centered"
    FACE_CUT_OFF = "face_cut_off"
    YAW = "yaw"
    PITCH = "pitch"
    ROLL = "roll"
    BLURRY = "blurry"
    TOO_DARK = "too_dark"
    TOO_BRIGHT = "too_bright"
    LOW_CONTRAST = "low_contrast"
    EYES_CLOSED = "eyes_closed"
    OCCLUDED = "occluded"
    SUNGLASSES = "sunglasses"


@dataclass(frozen=True, slots=True, kw_only=True)
class QualityReport:
    """The quality gate's answer for one frame.

    ``face`` is the dominant face when exactly one was usable. ``metrics`` holds the
    measured values (sharpness, brightness, interocular distance ...), never pixels.
    """

    reasons: tuple[QualityReason, ...]
    metrics: Mapping[str, float]
    face: FaceObservation | None = None
    frame_index: int = 0
    # Every face found, dominant first (``face`` is None when a second one is a refusal):
    # liveness needs to know that two people are in view, not just that one is usable.
    faces: tuple[FaceObservation, ...] = field(default=(), repr=False)

    @property
    def passed(self) -> bool:
        return not self.reasons and self.face is not None

    @property
    def score(self) -> float:
        """A 0..1 utility score used to rank frames for multi-frame fusion."""
        return float(self.metrics.get("utility", 0.0))


@dataclass(frozen=True, slots=True, kw_only=True)
class FaceTemplate:
    """A face template (embedding). Biometric data: never log or persist it in the clear.

    ``model_id`` names the embedder and its recipe (``"dlib-resnet-v1+mirror"`` for the
    default, ``"dlib-resnet-v1"`` for the plain recipe) so that the backend never compares
    templates of different models or made different ways.
    """

    vector: FloatArray = field(repr=False)
    model_id: str
    frames_fused: int = 1

    @property
    def dimension(self) -> int:
        return int(self.vector.shape[0])


class LivenessDecision(str, enum.Enum):
    LIVE = "live"
    NOT_LIVE = "not_live"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True, slots=True, kw_only=True)
class LivenessVerdict:
    """The liveness stage's answer for a checkout: a decision, why, and the evidence.

    ``evidence`` holds numbers and flags only (no images, no templates); its summary is
    what the client sends to the backend with an authorization.
    """

    decision: LivenessDecision
    reasons: tuple[str, ...] = ()
    challenges: tuple[str, ...] = ()
    evidence: Mapping[str, float | int | str | bool] = field(default_factory=dict)

    @property
    def is_live(self) -> bool:
        return self.decision is LivenessDecision.LIVE


@dataclass(frozen=True, slots=True, kw_only=True)
class SealedTemplate:
    """A template sealed (HPKE) to the backend's public key, bound to one checkout session.

    Opaque bytes: only the backend holding ``key_id``'s private key can open it.
    """

    key_id: str
    suite: str
    encapsulated_key: bytes = field(repr=False)
    ciphertext: bytes = field(repr=False)
    session_id: str


class PinRefusal(str, enum.Enum):
    """Why a shopper's PIN cannot be set (``facepay.crypto.pin_refusal``)."""

    NOT_FOUR_DIGITS = "not_four_digits"
    # One digit four times: 0000, 1111, ...
    REPEATED_DIGIT = "repeated_digit"
    # Four consecutive digits up or down: 0123 ... 6789, 9876 ... 3210.
    SEQUENCE = "sequence"
    # Two different digits repeated: 1212, 9090, ...
    REPEATED_PAIR = "repeated_pair"

    def __str__(self) -> str:
        return self.value

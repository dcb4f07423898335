"""facepay.vision: faces, landmarks and quality from RGB frames.

mediapipe stays inside this package: everything public takes and returns
:mod:`facepay.types` data.
"""

from facepay.vision._alignment import ChipSpec, extract_chip
from facepay.vision._analyzer import FrameAnalyzer, validate_image
from facepay.vision._embedding import (
    DLIB_RESNET_CARD,
    DlibResNetEmbedder,
    Embedder,
    ModelCard,
    OnnxEmbedder,
    compare,
    fuse_templates,
)
from facepay.vision._landmarks import FaceMeshDetector, head_pose_from_landmarks
from facepay.vision._quality import (
    EnrollmentFrames,
    GradedFrame,
    QualityGate,
    enrollment_frames,
    eye_aspect_ratio,
)

__all__ = [
    "DLIB_RESNET_CARD",
    "ChipSpec",
    "DlibResNetEmbedder",
    "Embedder",
    "EnrollmentFrames",
    "FaceMeshDetector",
    "FrameAnalyzer",
    "GradedFrame",
    "ModelCard",
    "OnnxEmbedder",
    "QualityGate",
    "compare",
    "enrollment_frames",
    "extract_chip",
    "eye_aspect_ratio",
    "fuse_templates",
    "head_pose_from_landmarks",
    "validate_image",
]

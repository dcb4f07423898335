"""facepay.vision: faces, landmarks and quality from RGB frames.

mediapipe stays inside this package: everything public takes and returns
:mod:`facepay.types` data.
"""

from facepay.vision._alignment import ChipJitter, ChipSpec, extract_chip
from facepay.vision._analyzer import FrameAnalyzer, validate_image
from facepay.vision._embedding import (
    DLIB_RESNET_CARD,
    TEMPLATE_JITTERS,
    DlibResNetEmbedder,
    Embedder,
    ModelCard,
    OnnxEmbedder,
    compare,
    fuse_templates,
    recipe_model_id,
)
from facepay.vision._hands import HandCoverageDetector, hand_face_coverage
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
    "TEMPLATE_JITTERS",
    "ChipJitter",
    "ChipSpec",
    "DlibResNetEmbedder",
    "Embedder",
    "EnrollmentFrames",
    "FaceMeshDetector",
    "FrameAnalyzer",
    "GradedFrame",
    "HandCoverageDetector",
    "ModelCard",
    "OnnxEmbedder",
    "QualityGate",
    "compare",
    "enrollment_frames",
    "extract_chip",
    "eye_aspect_ratio",
    "fuse_templates",
    "hand_face_coverage",
    "head_pose_from_landmarks",
    "recipe_model_id",
    "validate_image",
]

"""facepay.vision: faces, landmarks and quality from RGB frames.

mediapipe stays inside this package: everything public takes and returns
:mod:`facepay.types` data.
"""

from facepay.vision._analyzer import FrameAnalyzer, validate_image
from facepay.vision._landmarks import FaceMeshDetector, head_pose_from_landmarks
from facepay.vision._quality import QualityGate, eye_aspect_ratio

__all__ = [
    "FaceMeshDetector",
    "FrameAnalyzer",
    "QualityGate",
    "eye_aspect_ratio",
    "head_pose_from_landmarks",
    "validate_image",
]

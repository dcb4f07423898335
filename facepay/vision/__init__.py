"""facepay.vision: faces, landmarks and quality from RGB frames.

mediapipe stays inside this package: everything public takes and returns
:mod:`facepay.types` data.
"""

from facepay.vision._landmarks import FaceMeshDetector, head_pose_from_landmarks

__all__ = [
    "FaceMeshDetector",
    "head_pose_from_landmarks",
]

"""Scalar measures read off a mediapipe face mesh (478 points, pixels).

Every detector in this package works on these few numbers, never on the mesh itself, so a
retailer can log and audit them (they are not biometric templates: an eye-opening ratio
cannot be turned back into a face).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["FaceMeasures", "measure_face"]

# Mediapipe face-mesh indices (canonical topology, shared by the 468 and 478 point models).
# "Right" and "left" are the shopper's own.
RIGHT_EYE_CORNERS = (33, 133)  # outer, inner
RIGHT_EYE_LIDS = ((160, 144), (158, 153))  # (upper, lower) pairs
LEFT_EYE_CORNERS = (263, 362)
LEFT_EYE_LIDS = ((385, 380), (387, 373))
MOUTH_INNER = (13, 14)  # upper, lower inner lip midpoints
MOUTH_CORNERS = (61, 291)  # shopper's right, left
FOREHEAD = 10
CHIN = 152
NOSE_TIP = 1
# Outline of the face (mediapipe FACEMESH_FACE_OVAL order), used to mask texture tracks.
FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
    377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip
# Nose ridge and tip: the part of a real face that stands out most from the cheek plane.
NOSE_REGION = (
    1,
    2,
    4,
    5,
    6,
    19,
    45,
    44,
    48,
    64,
    98,
    97,
    94,
    275,
    274,
    278,
    294,
    327,
    326,
    195,
    197,
)


@dataclass(frozen=True, slots=True)
class FaceMeasures:
    """Numbers for one face in one frame. Ratios are scale-free (divided by eye distance)."""

    ear_right: float
    ear_left: float
    mouth_open: float  # inner-lip gap / inter-ocular distance
    mouth_width: float  # mouth-corner distance / inter-ocular distance
    interocular_px: float  # outer eye corner distance, pixels
    yaw: float  # degrees, + = shopper's own left
    pitch: float  # degrees, + = up
    roll: float  # degrees, + = towards the shopper's own left shoulder

    @property
    def ear(self) -> float:
        """Both-eye opening: the mean of the two eyes' aspect ratios."""
        return (self.ear_right + self.ear_left) / 2.0


def _dist(pts: npt.NDArray[np.float32], a: int, b: int) -> float:
    return float(np.hypot(*(pts[a, :2] - pts[b, :2])))


def _ear(
    pts: npt.NDArray[np.float32], corners: tuple[int, int], lids: tuple[tuple[int, int], ...]
) -> float:
    width = _dist(pts, *corners)
    if width <= 1e-6:
        return 0.0
    return sum(_dist(pts, u, lo) for u, lo in lids) / (len(lids) * width)


def measure_face(landmarks: npt.NDArray[np.float32]) -> FaceMeasures:
    """Measure one face mesh. ``landmarks`` is ``(N >= 468, 3)``: x, y pixels, z depth."""
    pts = np.asarray(landmarks, dtype=np.float32)
    if pts.ndim != 2 or pts.shape[0] < 468 or pts.shape[1] < 3:
        raise ValueError(f"expected a (478, 3) face mesh, got {pts.shape}")
    iod = _dist(pts, RIGHT_EYE_CORNERS[0], LEFT_EYE_CORNERS[0])
    scale = max(iod, 1e-6)
    # Head pose straight from the mesh's 3D points (x, y pixels, z in the same scale): the eye
    # line's depth slope gives yaw, the forehead-chin line's gives pitch. Good to a few degrees,
    # which is all a "turn your head" challenge needs; the vision stage's pose is preferred.
    eye_vec = pts[LEFT_EYE_CORNERS[0]] - pts[RIGHT_EYE_CORNERS[0]]
    yaw = math.degrees(math.atan2(float(eye_vec[2]), float(eye_vec[0])))
    roll = math.degrees(math.atan2(float(eye_vec[1]), float(eye_vec[0])))
    vert = pts[CHIN] - pts[FOREHEAD]
    pitch = math.degrees(math.atan2(float(-vert[2]), float(math.hypot(vert[0], vert[1]))))
    return FaceMeasures(
        ear_right=_ear(pts, RIGHT_EYE_CORNERS, RIGHT_EYE_LIDS),
        ear_left=_ear(pts, LEFT_EYE_CORNERS, LEFT_EYE_LIDS),
        mouth_open=_dist(pts, *MOUTH_INNER) / scale,
        mouth_width=_dist(pts, *MOUTH_CORNERS) / scale,
        interocular_px=iod,
        yaw=yaw,
        pitch=pitch,
        roll=roll,
    )

"""Named indices into the 478-point mediapipe face mesh (``FaceObservation.landmarks``).

Plain constants, no imports: vision, liveness and eval all read landmarks, but stages must
not import each other, so the shared vocabulary lives in this leaf module.

"Right" and "left" are the **shopper's own** sides (the shopper's right eye appears on the
image's left in an unmirrored camera frame). Indices are those of mediapipe's canonical
face mesh (``face_landmark_with_attention``; 468-477 are the iris points added by
``refine_landmarks=True``).
"""

__all__ = [
    "CHIN",
    "FACE_OVAL",
    "FOREHEAD",
    "LEFT_EYE_EAR",
    "LEFT_EYE_INNER",
    "LEFT_EYE_OUTER",
    "LEFT_EYE_RING",
    "LEFT_IRIS",
    "LEFT_IRIS_CENTER",
    "MESH_POINTS",
    "MOUTH_INNER_LOWER",
    "MOUTH_INNER_UPPER",
    "MOUTH_LEFT",
    "MOUTH_MAR",
    "MOUTH_RIGHT",
    "NOSE_BASE",
    "NOSE_TIP",
    "RIGHT_EYE_EAR",
    "RIGHT_EYE_INNER",
    "RIGHT_EYE_OUTER",
    "RIGHT_EYE_RING",
    "RIGHT_IRIS",
    "RIGHT_IRIS_CENTER",
]

MESH_POINTS = 478

# Eye corners (also dlib's 5-point alignment order: right outer, right inner, left outer,
# left inner, nose base).
RIGHT_EYE_OUTER = 33
RIGHT_EYE_INNER = 133
LEFT_EYE_OUTER = 263
LEFT_EYE_INNER = 362
NOSE_TIP = 1
NOSE_BASE = 2
FOREHEAD = 10
CHIN = 152

# Eye aspect ratio (Soukupova & Cech 2016) points, in the p1..p6 order:
# p1 outer corner, p2/p3 upper lid, p4 inner corner, p5/p6 lower lid;
# EAR = (|p2-p6| + |p3-p5|) / (2 |p1-p4|).
RIGHT_EYE_EAR = (33, 160, 158, 133, 153, 144)
LEFT_EYE_EAR = (263, 387, 385, 362, 380, 373)

# The closed contour around each eye opening (for eye-region crops and texture checks).
RIGHT_EYE_RING = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
LEFT_EYE_RING = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)

# Iris (refine_landmarks=True only): centre first, then four points on the iris edge.
RIGHT_IRIS = (468, 469, 470, 471, 472)
LEFT_IRIS = (473, 474, 475, 476, 477)
RIGHT_IRIS_CENTER = 468
LEFT_IRIS_CENTER = 473

# Mouth: outer corners and the inner lip midpoints; MAR = |upper-lower| / |right-left|.
MOUTH_RIGHT = 61
MOUTH_LEFT = 291
MOUTH_INNER_UPPER = 13
MOUTH_INNER_LOWER = 14
MOUTH_MAR = (61, 291, 13, 14)

# Face outline, clockwise from the forehead.
FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
    377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip

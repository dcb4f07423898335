"""A hand over the face, from mediapipe 0.10.21's bundled hand models.

The face detector stays confident when a hand covers the mouth and a cheek (0.93-0.95 in
``WolfgangLanger_Pexels.mp4`` at 6-8.5 s) and the mesh fits a plausible face under the
hand, so neither says "covered". Looking for the hand itself does: the 0.10.21 wheel ships
mediapipe's palm detector and 21-point hand-landmark models (``mediapipe/modules/
palm_detection``, ``hand_landmark``; lite and full, Apache-2.0), used through
``mediapipe.solutions.hands``: nothing is downloaded.

:class:`HandCoverageDetector` answers one question per frame: how much of this face's
outline lies under a hand (the convex hull of a hand's 21 landmarks, which runs through the
joints and so under-reads a hand's area a little). Rasterised at about 64 px across the
face, so the cost does not grow with the camera's resolution; the models themselves cost
about 10 ms CPU per 640x360 frame on the build machine (docs/quality.md, "A hand over
the face"). No mediapipe type leaves this module: callers get
:class:`facepay.types.HandCoverage`.

Thread safety: as for the face graphs (``facepay/vision/_landmarks.py``), a mediapipe
graph is not re-entrant. One detector serialises its calls with a lock; give each worker
thread its own for parallelism. Every call is an independent still (``static_image_mode``):
the frames it is shown (an attempt's candidate frames) are not a continuous stream.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from facepay import _mesh
from facepay._closing import ClosesOnExit
from facepay.config import QualityConfig
from facepay.errors import InvalidImageError, ModelError
from facepay.types import FaceObservation, Frame, HandCoverage, ImageArray
from facepay.vision._landmarks import graph_image

__all__ = ["HandCoverageDetector", "hand_face_coverage"]

logger = logging.getLogger(__name__)

# The face outline is rasterised this many pixels across (its widest side): a 0.05 share
# of its area is then ~160 cells, far above the rounding of the polygons' edges.
_RASTER_SIDE = 64.0
_HAND_POINTS = 21


def hand_face_coverage(
    face_outline: npt.NDArray[np.floating[Any]],
    hands: list[npt.NDArray[np.floating[Any]]],
    *,
    min_points_outside: int = 0,
) -> float:
    """Largest share (0..1) of the face outline's area under the convex hull of one hand.

    ``face_outline``: (N, 2) points of the face's outline in pixels; ``hands``: each a
    (21, 2) array of one hand's landmarks in the same pixels. A hand with fewer than
    ``min_points_outside`` landmarks outside the outline is not counted: a real hand over a
    face reaches in from an arm outside it, while the palm detector's false "hands" on a
    face's own nose and mouth lie wholly inside (QualityConfig.min_hand_points_outside_face).
    Plain geometry, no model.
    """
    outline = np.asarray(face_outline, dtype=np.float64)[:, :2]
    if outline.shape[0] < 3 or not np.isfinite(outline).all() or not hands:
        return 0.0
    origin = outline.min(axis=0)
    extent = float((outline.max(axis=0) - origin).max())
    if extent <= 0.0:
        return 0.0
    scale = _RASTER_SIDE / extent
    size = int(_RASTER_SIDE) + 3
    face = np.zeros((size, size), dtype=np.uint8)
    hull = cv2.convexHull(np.round((outline - origin) * scale).astype(np.int32))
    cv2.fillConvexPoly(face, hull, (1,))
    face_area = int(face.sum())
    if face_area == 0:
        return 0.0
    best = 0.0
    contour = cv2.convexHull(outline.astype(np.float32))
    for points in hands:
        pts = np.asarray(points, dtype=np.float64)[:, :2]
        if pts.shape[0] < 3 or not np.isfinite(pts).all():
            continue
        outside = sum(
            cv2.pointPolygonTest(contour, (float(x), float(y)), False) < 0 for x, y in pts
        )
        if outside < min_points_outside:
            continue
        # Clipped to a margin around the raster: a hand far off the face stays off it.
        grid = np.clip(np.round((pts - origin) * scale), -size, 2 * size).astype(np.int32)
        hand = np.zeros_like(face)
        cv2.fillConvexPoly(hand, cv2.convexHull(grid), (1,))
        best = max(best, float((hand & face).sum()) / face_area)
    return best


class HandCoverageDetector(ClosesOnExit):
    """``measure(frame, face) -> HandCoverage``: how much of ``face`` a hand covers.

    Options come from :class:`facepay.config.QualityConfig` (``max_hand_face_coverage``,
    ``min_hand_detection_confidence``, ``hand_model_complexity``,
    ``min_hand_points_outside_face``). Use as a context
    manager or call :meth:`close` to free the graph. The models load on the first frame
    measured (:class:`facepay.errors.ModelError` if they cannot); a bad frame is an
    :class:`facepay.errors.InvalidImageError`.
    """

    def __init__(self, config: QualityConfig | None = None) -> None:
        self.config = config or QualityConfig()  # validated by QualityConfig itself
        self._lock = threading.Lock()
        # Loaded on the first frame measured: a till builds one with its other stages, and
        # only an attempt's candidate frames (or a caller's) ever need it.
        self._graph: Any = None
        self._closed = False

    def _loaded(self) -> Any:
        if self._graph is None:
            try:
                from mediapipe.python.solutions import hands

                self._graph = hands.Hands(
                    static_image_mode=True,
                    max_num_hands=2,
                    model_complexity=self.config.hand_model_complexity,
                    min_detection_confidence=self.config.min_hand_detection_confidence,
                )
            except Exception as exc:  # ImportError, or mediapipe's RuntimeError/ValueError
                raise ModelError(f"mediapipe hand models could not be loaded: {exc}") from exc
        return self._graph

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._graph is not None:
                self._graph.close()
                self._graph = None

    def measure(self, frame: Frame, face: FaceObservation) -> HandCoverage:
        """How much of ``face`` (found in ``frame``) lies under a hand."""
        image = graph_image(frame.image)
        outline = face.landmarks[list(_mesh.FACE_OVAL), :2]
        if not np.isfinite(outline).all():
            raise InvalidImageError("the face has no landmarks to measure a hand against")
        if float(np.ptp(outline, axis=0).min()) < 1.0:
            # A face of no area (a stand-in's zero landmarks): nothing there to cover.
            return HandCoverage(fraction=0.0, hands=0, covered=False)
        hands = self.hands(image)
        fraction = hand_face_coverage(
            outline, hands, min_points_outside=self.config.min_hand_points_outside_face
        )
        return HandCoverage(
            fraction=fraction,
            hands=len(hands),
            covered=fraction >= self.config.max_hand_face_coverage,
        )

    def hands(self, image: ImageArray) -> list[npt.NDArray[np.float32]]:
        """Each hand found in an RGB ``uint8`` image: its 21 landmarks, (x, y) in pixels."""
        image = np.ascontiguousarray(image)
        height, width = image.shape[:2]
        with self._lock:
            if self._closed:
                raise RuntimeError("HandCoverageDetector is closed")
            graph = self._loaded()
            try:
                result = graph.process(image)
            except Exception as exc:  # mediapipe's own errors on a frame it cannot take
                raise InvalidImageError(f"the hand models refused the frame: {exc}") from exc
        found: list[npt.NDArray[np.float32]] = []
        for hand in result.multi_hand_landmarks or ():
            pts = np.array([(p.x, p.y) for p in hand.landmark], dtype=np.float32)
            if pts.shape != (_HAND_POINTS, 2):
                continue
            found.append(pts * np.array([width, height], dtype=np.float32))
        return found

"""Faces and their 478-point landmarks, from mediapipe 0.10.21's ``solutions`` graphs.

Why this pin: 0.10.21 is the last mediapipe wheel that ships the face models itself (face
detection short/full range, face mesh with attention/iris refinement, Apache-2.0) and the
``mediapipe.solutions`` API; later wheels need a downloaded ``.task`` file, which a till
must not fetch at run time. No mediapipe type leaves this module: callers get
:class:`facepay.types.FaceObservation` objects in pixels.

Two models, two jobs:

- the **face detector** (min score 0.8) counts the faces in the frame and picks the
  dominant one (the largest confident box): a second face near the till must be seen to
  be refused. Live video uses the short-range model (faces within ~2 m: the shopper and
  anyone close enough to matter); stills use short and full range together (small faces
  in photos). See ``FaceDetectorConfig`` for the measurements behind that choice;
- the **face mesh** (``refine_landmarks=True``: 468 points + 10 iris points) gives the
  landmarks. In ``video`` mode it tracks the face from frame to frame (cheaper and
  steadier); in ``image`` mode every call is independent. The mesh is matched to the
  dominant detection by box overlap; if it sits on another face (or found none), it is
  re-fitted on a crop around the detection.

Thread safety: mediapipe graphs keep per-stream state and are not re-entrant. One
``FaceMeshDetector`` serialises its calls with a lock (inside a call, the detector graph
runs on one private worker thread beside the mesh), so sharing one between threads is
safe but gives no parallelism; give each worker thread its own detector instead. A
``video`` mode detector must see the frames of one stream in order (call :meth:`reset`
between shoppers or streams).
"""

from __future__ import annotations

import logging
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from facepay import _mesh
from facepay._closing import ClosesOnExit
from facepay.config import FaceDetectorConfig
from facepay.errors import ConfigurationError, InvalidImageError, ModelError
from facepay.types import BoundingBox, FaceObservation, Frame, HeadPose, ImageArray

__all__ = ["FaceMeshDetector", "head_pose_from_landmarks"]

logger = logging.getLogger(__name__)

Mode = Literal["video", "image"]

# A mesh belongs to a detection when their boxes overlap at least this much (IoU). The
# mesh's own box (landmark extent) is tighter at the top and wider at the sides than the
# detector's, so identical faces give IoU ~0.5-0.8; two different faces give ~0.
_MATCH_IOU = 0.3
# The mesh's forehead-to-chin line leans back on a level head: measured pitch medians of
# -6.5 deg on the 75 eval portraits and -5.9 on the webcam clip single_face.mp4 (-3.2 on the
# NUAA webcam frames). Adding this makes a level, frontal head read ~0.
_LEVEL_PITCH_DEG = 6.0
# Crop around a detection for re-fitting the mesh: the face then fills about half the
# crop, where mediapipe's short-range mesh detector works best.
_CROP_SCALE = 2.0


def graph_image(image: object) -> ImageArray:
    """``image`` as mediapipe's graphs take it (contiguous RGB ``uint8``, (H, W, 3)), or
    :class:`facepay.errors.InvalidImageError`: the face and hand graphs take nothing else."""
    if (
        not isinstance(image, np.ndarray)
        or image.dtype != np.uint8
        or image.ndim != 3
        or image.shape[2] != 3
        or image.shape[0] < 1
        or image.shape[1] < 1
    ):
        raise InvalidImageError(
            "expected an RGB uint8 image of shape (H, W, 3); use FrameAnalyzer for arbitrary input"
        )
    return np.ascontiguousarray(image)


@dataclass(frozen=True, slots=True)
class _Detection:
    box: BoundingBox
    score: float


def _iou(a: BoundingBox, b: BoundingBox) -> float:
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1 = min(a.x + a.width, b.x + b.width)
    y1 = min(a.y + a.height, b.y + b.height)
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


def _landmark_box(landmarks: npt.NDArray[np.float32]) -> BoundingBox:
    x0, y0 = (float(v) for v in landmarks[:, :2].min(axis=0))
    x1, y1 = (float(v) for v in landmarks[:, :2].max(axis=0))
    return BoundingBox(x=x0, y=y0, width=x1 - x0, height=y1 - y0)


def head_pose_from_landmarks(landmarks: npt.NDArray[np.float32]) -> HeadPose:
    """Yaw, pitch and roll in degrees from the mesh's 3D landmarks (pixels, z in x scale).

    The head's own axes are built from the mesh: ``x`` runs from the shopper's right eye's
    outer corner to the left eye's (image right for an unmirrored camera), ``y`` from the
    forehead to the chin, made orthogonal to ``x``. Then, with mediapipe's z growing away
    from the camera:

    - yaw = elevation of ``x`` out of the image plane: positive when the left eye moves
      away, i.e. the shopper turns to **their own left**;
    - pitch = elevation of ``-y`` (chin-to-forehead) away from the camera: positive when
      the chin comes forward, i.e. the shopper looks **up**; offset by +6 deg so that a
      level head reads ~0 (the mesh's forehead point sits further back than its chin);
    - roll = angle of ``x`` in the image plane: positive when the left eye drops, i.e. the
      head tilts towards the shopper's **own left** shoulder.

    These are the conventions of :class:`facepay.types.HeadPose`, checked on real clips in
    ``tests/vision/test_landmarks.py``.
    """
    pts = landmarks.astype(np.float64)
    ex = pts[_mesh.LEFT_EYE_OUTER] - pts[_mesh.RIGHT_EYE_OUTER]
    down = pts[_mesh.CHIN] - pts[_mesh.FOREHEAD]
    ex_norm = float(np.linalg.norm(ex))
    if ex_norm == 0.0 or not np.isfinite(ex_norm):
        return HeadPose(yaw=float("nan"), pitch=float("nan"), roll=float("nan"))
    ex /= ex_norm
    down = down - float(np.dot(down, ex)) * ex
    down_norm = float(np.linalg.norm(down))
    if down_norm == 0.0:
        return HeadPose(yaw=float("nan"), pitch=float("nan"), roll=float("nan"))
    down /= down_norm
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, float(ex[2])))))
    pitch = math.degrees(math.asin(max(-1.0, min(1.0, -float(down[2]))))) + _LEVEL_PITCH_DEG
    roll = math.degrees(math.atan2(float(ex[1]), float(ex[0])))
    return HeadPose(yaw=yaw, pitch=pitch, roll=roll)


class FaceMeshDetector(ClosesOnExit):
    """Find faces and fit the 478-point mesh: ``detect(image) -> list[FaceObservation]``.

    The list is ordered dominant face first (largest confident box), then the other
    confident faces by size, then weak detections (score between
    ``weak_detection_confidence`` and ``min_detection_confidence``) that the mesh confirms
    as faces. When there is no confident face but the mesh fits one where the detector
    sees something weakly (a turned or partly covered head, e.g. during a liveness
    challenge), that face is returned with its weak score, and the quality gate refuses it
    as ``occluded``; otherwise the list is empty. Every observation has its landmarks; a
    secondary face whose mesh cannot be fitted (tiny, far in the background) carries NaN
    landmarks and pose, so it still counts as a face for the quality gate's "exactly one
    face" rule.

    ``mode="video"`` tracks one stream; ``mode="image"`` treats each call on its own (stills,
    photo folders). Use as a context manager or call :meth:`close` to free the graphs.
    """

    def __init__(self, config: FaceDetectorConfig | None = None, *, mode: Mode = "video") -> None:
        if mode not in ("video", "image"):
            raise ValueError(f"mode must be 'video' or 'image', got {mode!r}")
        self.config = config or FaceDetectorConfig()
        self.mode: Mode = mode
        self._lock = threading.Lock()
        try:
            from mediapipe.python.solutions import face_detection, face_mesh
        except ImportError as exc:  # pragma: no cover - a broken install
            raise ModelError(f"mediapipe is not usable: {exc}") from exc
        try:
            which = self.config.video_detector if mode == "video" else self.config.image_detector
            if which not in ("short", "full", "both"):
                raise ConfigurationError(
                    f"detector must be 'short', 'full' or 'both', got {which!r}"
                )
            self._detectors = [
                face_detection.FaceDetection(
                    model_selection=selection,
                    min_detection_confidence=self.config.weak_detection_confidence,
                )
                for name, selection in (("short", 0), ("full", 1))
                if which in (name, "both")
            ]
            self._mesh = face_mesh.FaceMesh(
                static_image_mode=(mode == "image"),
                max_num_faces=1,
                refine_landmarks=True,
                min_detection_confidence=self.config.weak_detection_confidence,
                min_tracking_confidence=self.config.min_tracking_confidence,
            )
            # Crops around a detection are always independent stills.
            self._crop_mesh = face_mesh.FaceMesh(
                static_image_mode=True,
                max_num_faces=1,
                refine_landmarks=True,
                min_detection_confidence=self.config.weak_detection_confidence,
            )
            self._confirm_detector: Any = None  # made on first need
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="facepay-detector")
        except ConfigurationError:
            raise
        except Exception as exc:  # mediapipe raises RuntimeError/ValueError on bad graphs
            raise ModelError(f"mediapipe face models could not be loaded: {exc}") from exc
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------

    def reset(self) -> None:
        """Forget the tracked face (a new shopper or a new stream)."""
        with self._lock:
            if self.mode == "video" and not self._closed:
                self._mesh.reset()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._pool.shutdown(wait=True)
            graphs = [*self._detectors, self._mesh, self._crop_mesh, self._confirm_detector]
            for graph in graphs:
                if graph is not None:
                    graph.close()

    # -- detection -------------------------------------------------------------------

    def detect_frame(self, frame: Frame) -> list[FaceObservation]:
        """:meth:`detect` on a frame, stamping its index and timestamp on the faces."""
        return self.detect(frame.image, frame_index=frame.index, timestamp=frame.timestamp)

    def detect(
        self, image: ImageArray, *, frame_index: int = 0, timestamp: float = 0.0
    ) -> list[FaceObservation]:
        """All faces in an RGB ``uint8`` image, dominant first (see class docstring)."""
        image = graph_image(image)
        with self._lock:
            if self._closed:
                raise RuntimeError("FaceMeshDetector is closed")
            # The detector and the mesh are independent graphs: run them side by side on
            # the till's two cores (measured on d12 at 640x480 under load: 17-19 ms in
            # sequence, 12 ms side by side; the CPU time is the same).
            pending = self._pool.submit(self._detections, image)
            try:
                mesh = self._run_mesh(self._mesh, image)
            finally:
                detections = pending.result()
            strong = [d for d in detections if d.score >= self.config.min_detection_confidence]
            faces: list[FaceObservation] = []
            if strong:
                for i, det in enumerate(strong):
                    landmarks = None
                    if (
                        i == 0
                        and mesh is not None
                        and _iou(_landmark_box(mesh), det.box) >= _MATCH_IOU
                    ):
                        landmarks = mesh
                    if landmarks is None:
                        landmarks = self._mesh_on_crop(image, det.box)
                    faces.append(self._observation(det, landmarks, frame_index, timestamp))
                # A weak second detection counts as a face when a second look confirms it:
                # the mesh fits it and the short-range detector, shown a crop where the
                # face fills half the view, is confident (obama_and_biden.jpg's second
                # face scores 0.80-, kit_with_rose.jpg's 0.78). Missing a person beside the
                # shopper is worse than a needless refusal, but a blurred seal behind a
                # speaker (obama1.jpg, 0.70, and the mesh "fits" it) must not block a till.
                for det in detections:
                    if det.score >= self.config.min_detection_confidence:
                        continue
                    if any(_iou(det.box, f.box) >= _MATCH_IOU for f in faces):
                        continue
                    landmarks = self._mesh_on_crop(image, det.box)
                    if landmarks is not None and self._confirmed_on_crop(image, det.box):
                        faces.append(self._observation(det, landmarks, frame_index, timestamp))
            elif mesh is not None:
                # No confident face, but the mesh sees one: keep it only where the detector
                # also sees something (a turned or partly covered head), with its weak score.
                mesh_box = _landmark_box(mesh)
                weak = [d for d in detections if _iou(mesh_box, d.box) >= _MATCH_IOU]
                if weak:
                    faces.append(self._observation(weak[0], mesh, frame_index, timestamp))
            return faces

    def _detections(self, image: ImageArray) -> list[_Detection]:
        height, width = image.shape[:2]
        found: list[_Detection] = []
        for detector in self._detectors:
            result = detector.process(image)
            for det in result.detections or ():
                rel = det.location_data.relative_bounding_box
                box = BoundingBox(
                    x=float(rel.xmin) * width,
                    y=float(rel.ymin) * height,
                    width=float(rel.width) * width,
                    height=float(rel.height) * height,
                )
                if box.area <= 0:
                    continue
                score = float(det.score[0]) if det.score else 0.0
                if score < self.config.weak_detection_confidence:
                    continue  # mediapipe does not always apply its own threshold
                # The same face from both models: keep one box, the higher score.
                for i, seen in enumerate(found):
                    if _iou(seen.box, box) >= 0.5:
                        if score > seen.score:
                            found[i] = _Detection(box=box, score=score)
                        break
                else:
                    found.append(_Detection(box=box, score=score))
        found.sort(key=lambda d: d.box.area, reverse=True)
        strong = [d for d in found if d.score >= self.config.min_detection_confidence]
        weak = [d for d in found if d.score < self.config.min_detection_confidence]
        return strong + weak

    @staticmethod
    def _run_mesh(graph: Any, image: ImageArray) -> npt.NDArray[np.float32] | None:
        result = graph.process(image)
        if not result.multi_face_landmarks:
            return None
        height, width = image.shape[:2]
        lm = result.multi_face_landmarks[0].landmark
        pts = np.array([(p.x, p.y, p.z) for p in lm], dtype=np.float32)
        if pts.shape != (_mesh.MESH_POINTS, 3):
            return None
        # mediapipe: x, y normalised by width/height, z "roughly the same scale as x".
        pts *= np.array([width, height, width], dtype=np.float32)
        return pts

    @staticmethod
    def _crop(image: ImageArray, box: BoundingBox) -> tuple[ImageArray, int, int] | None:
        """A square twice the box's size around it, black where it leaves the frame."""
        height, width = image.shape[:2]
        cx, cy = box.center
        side = max(box.width, box.height) * _CROP_SCALE
        x0 = round(cx - side / 2)
        y0 = round(cy - side / 2)
        size = max(round(side), 8)
        crop = np.zeros((size, size, 3), dtype=np.uint8)
        sx0, sy0 = max(x0, 0), max(y0, 0)
        sx1, sy1 = min(x0 + size, width), min(y0 + size, height)
        if sx1 <= sx0 or sy1 <= sy0:
            return None
        crop[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
        return crop, x0, y0

    def _confirmed_on_crop(self, image: ImageArray, box: BoundingBox) -> bool:
        """Does the short-range detector, shown the face at its favourite scale, agree?"""
        cropped = self._crop(image, box)
        if cropped is None:
            return False
        crop, x0, y0 = cropped
        if self._confirm_detector is None:
            from mediapipe.python.solutions import face_detection

            self._confirm_detector = face_detection.FaceDetection(
                model_selection=0,
                min_detection_confidence=self.config.min_detection_confidence,
            )
        result = self._confirm_detector.process(crop)
        side = crop.shape[0]
        for det in result.detections or ():
            # mediapipe does not always apply min_detection_confidence itself.
            if not det.score or float(det.score[0]) < self.config.min_detection_confidence:
                continue
            rel = det.location_data.relative_bounding_box
            seen = BoundingBox(
                x=x0 + float(rel.xmin) * side,
                y=y0 + float(rel.ymin) * side,
                width=float(rel.width) * side,
                height=float(rel.height) * side,
            )
            # The crop may hold a neighbouring face too: only a detection on this box counts.
            if _iou(seen, box) >= _MATCH_IOU:
                return True
        return False

    def _mesh_on_crop(self, image: ImageArray, box: BoundingBox) -> npt.NDArray[np.float32] | None:
        cropped = self._crop(image, box)
        if cropped is None:
            return None
        crop, x0, y0 = cropped
        pts = self._run_mesh(self._crop_mesh, crop)
        if pts is None:
            return None
        pts[:, 0] += x0
        pts[:, 1] += y0
        # The crop is twice the box: the mesh may have found a neighbouring face in it
        # (obama1.jpg: a weak "face" on the blurred seal behind him got Obama's mesh).
        if _iou(_landmark_box(pts), box) < _MATCH_IOU:
            return None
        return pts

    @staticmethod
    def _observation(
        det: _Detection,
        landmarks: npt.NDArray[np.float32] | None,
        frame_index: int,
        timestamp: float,
    ) -> FaceObservation:
        if landmarks is None:
            landmarks = np.full((_mesh.MESH_POINTS, 3), np.nan, dtype=np.float32)
        return FaceObservation(
            box=det.box,
            score=det.score,
            landmarks=landmarks,
            pose=head_pose_from_landmarks(landmarks),
            frame_index=frame_index,
            timestamp=timestamp,
        )

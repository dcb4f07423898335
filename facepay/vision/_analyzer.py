"""One call per frame: validate the image, find the faces, judge the quality.

:class:`FrameAnalyzer` is what the checkout flow, the CLI and the benchmarks use. It
accepts what a POS integration may realistically hand over (grayscale, RGBA, 16-bit or
float images, huge photos) and turns everything else into a typed error, never a crash
inside mediapipe:

- not an array, empty, NaN, wrong shape -> :class:`InvalidImageError`;
- grayscale -> RGB; RGBA -> alpha dropped; 16-bit -> 8-bit; float 0..1 or 0..255 -> 8-bit;
- smaller than ``min_image_side_px`` -> :class:`InvalidImageError`;
- more than ``max_image_pixels`` -> :class:`InvalidImageError`;
- longer than ``max_detection_side_px`` -> downscaled for detection only; the landmarks
  and boxes are mapped back to the full image, where quality is measured.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from facepay._closing import ClosesOnExit
from facepay.config import FaceDetectorConfig, QualityConfig
from facepay.errors import InvalidImageError
from facepay.types import BoundingBox, FaceObservation, Frame, ImageArray, QualityReport
from facepay.vision._landmarks import FaceMeshDetector, Mode
from facepay.vision._quality import QualityGate

__all__ = ["FrameAnalyzer", "validate_image"]

logger = logging.getLogger(__name__)


def validate_image(image: Any, config: FaceDetectorConfig | None = None) -> ImageArray:
    """Return ``image`` as a contiguous RGB ``uint8`` array, or raise InvalidImageError.

    The input is assumed to be RGB(A) already (facepay's sources convert from BGR).
    """
    cfg = config or FaceDetectorConfig()
    if not isinstance(image, np.ndarray):
        raise InvalidImageError(f"expected a numpy image array, got {type(image).__name__}")
    if image.size == 0:
        raise InvalidImageError("empty image")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise InvalidImageError(f"unsupported image shape {image.shape}")
    height, width = image.shape[:2]
    if min(height, width) < cfg.min_image_side_px:
        raise InvalidImageError(
            f"image is {width}x{height} px; at least {cfg.min_image_side_px} px a side is needed"
        )
    if height * width > cfg.max_image_pixels:
        raise InvalidImageError(
            f"image is {width}x{height} px, over the {cfg.max_image_pixels} pixel limit"
        )
    image = _to_uint8(image)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    elif image.shape[2] == 4:
        image = image[:, :, :3]
    out: ImageArray = np.ascontiguousarray(image, dtype=np.uint8)
    return out


def _to_uint8(image: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return (image >> 8).astype(np.uint8)
    if image.dtype == np.bool_:
        return np.where(image, np.uint8(255), np.uint8(0)).astype(np.uint8)
    if np.issubdtype(image.dtype, np.floating):
        if not np.isfinite(image).all():
            raise InvalidImageError("image holds NaN or infinite values")
        top = float(image.max())
        scale = 255.0 if top <= 1.0 else 1.0
        return np.clip(image * scale, 0, 255).round().astype(np.uint8)
    if np.issubdtype(image.dtype, np.integer):
        return np.clip(image, 0, 255).astype(np.uint8)
    raise InvalidImageError(f"unsupported pixel type {image.dtype}")


def _scale_face(face: FaceObservation, factor: float) -> FaceObservation:
    box = face.box
    return replace(
        face,
        box=BoundingBox(
            x=box.x * factor,
            y=box.y * factor,
            width=box.width * factor,
            height=box.height * factor,
        ),
        landmarks=(face.landmarks * np.float32(factor)).astype(np.float32),
    )


class FrameAnalyzer(ClosesOnExit):
    """Detect faces and judge quality: ``analyze(frame) -> QualityReport``.

    ``mode="video"`` (default) for a stream of frames from one source, ``"image"`` for
    unrelated stills. Not re-entrant across streams: one analyzer per camera/worker
    thread (see :class:`FaceMeshDetector`); call :meth:`reset` between shoppers.
    """

    def __init__(
        self,
        detector_config: FaceDetectorConfig | None = None,
        quality_config: QualityConfig | None = None,
        *,
        mode: Mode = "video",
    ) -> None:
        self.detector_config = detector_config or FaceDetectorConfig()
        self.gate = QualityGate(quality_config)
        self.detector = FaceMeshDetector(self.detector_config, mode=mode)

    @property
    def quality_config(self) -> QualityConfig:
        return self.gate.config

    def faces(self, frame: Frame) -> list[FaceObservation]:
        """The faces in a frame, dominant first, in the frame's own pixel coordinates."""
        return self._faces(self._validated(frame))

    def _validated(self, frame: Frame | ImageArray) -> Frame:
        if isinstance(frame, Frame):
            image = validate_image(frame.image, self.detector_config)
            return frame if image is frame.image else replace(frame, image=image)
        return Frame(image=validate_image(frame, self.detector_config), timestamp=0.0, index=0)

    def _faces(self, frame: Frame) -> list[FaceObservation]:
        image = frame.image
        height, width = image.shape[:2]
        longest = max(height, width)
        limit = self.detector_config.max_detection_side_px
        if longest <= limit:
            return self.detector.detect_frame(frame)
        factor = limit / longest
        small = cv2.resize(
            image,
            (max(1, round(width * factor)), max(1, round(height * factor))),
            interpolation=cv2.INTER_AREA,
        )
        found = self.detector.detect(
            np.asarray(small, dtype=np.uint8), frame_index=frame.index, timestamp=frame.timestamp
        )
        return [_scale_face(face, 1.0 / factor) for face in found]

    def analyze(self, frame: Frame | ImageArray) -> QualityReport:
        """Validate, detect and judge one frame (or a bare RGB image)."""
        validated = self._validated(frame)
        return self.gate.assess(validated, self._faces(validated))

    def reset(self) -> None:
        self.detector.reset()

    def close(self) -> None:
        self.detector.close()

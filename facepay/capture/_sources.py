"""Frame sources: a camera, a video file or a folder of images, all yielding RGB frames.

OpenCV decodes in BGR; every source converts to RGB exactly once, here, so no later stage
has to wonder about channel order. Every frame carries a timestamp in seconds:

- a camera stamps frames with ``time.monotonic()`` when they are read (its own clock);
- a video file uses the container's presentation time (``CAP_PROP_POS_MSEC``), falling
  back to ``index / fps`` when the container gives none, and is played at the file's own
  pace only when asked (``realtime=True``, for demos standing in for a camera);
- an image folder stamps frames at a fixed rate (``index / fps``).

A live source can be stopped from another thread with :meth:`stop` (the kiosk's UI thread
does this when the shopper cancels); ``frames()`` then returns at the next frame.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, TypeVar, runtime_checkable

import cv2
import numpy as np
import numpy.typing as npt

from facepay._closing import ClosesOnExit
from facepay.errors import CameraUnavailableError, CaptureError, InvalidImageError
from facepay.types import Frame, ImageArray

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "CameraSource",
    "FrameSource",
    "ImageFolderSource",
    "VideoFileSource",
    "open_source",
    "read_image",
]

logger = logging.getLogger(__name__)

_S = TypeVar("_S", bound="_SourceBase")

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mjpeg", ".mjpg"})


@runtime_checkable
class FrameSource(Protocol):
    """Anything that yields :class:`~facepay.types.Frame` objects.

    Use it as a context manager so the device or file is released::

        with open_source("clip.mp4") as source:
            for frame in source.frames():
                ...
    """

    @property
    def description(self) -> str:
        """A short human-readable name, e.g. ``"camera 0"`` or ``"video clip.mp4"``."""
        ...

    @property
    def device_name(self) -> str:
        """What the frames come from: a device path/index or a file path (for evidence)."""
        ...

    def frames(self) -> Iterator[Frame]:
        """Yield frames until the source ends, fails, is stopped or closed."""
        ...

    def stop(self) -> None:
        """Ask a running ``frames()`` loop to end; safe to call from another thread."""
        ...

    def close(self) -> None:
        """Release the device or file. Idempotent."""
        ...

    def __enter__(self) -> FrameSource: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def _bgr_to_rgb(image: npt.NDArray[Any]) -> ImageArray:
    """Convert one decoded OpenCV image (BGR, BGRA or gray) to contiguous RGB uint8."""
    if image.dtype != np.uint8:
        if image.dtype == np.uint16:
            image = (image >> 8).astype(np.uint8)
        else:
            raise InvalidImageError(f"unsupported pixel type {image.dtype}")
    if image.ndim == 2:
        out = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    elif image.ndim == 3 and image.shape[2] == 1:
        out = cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2RGB)
    elif image.ndim == 3 and image.shape[2] == 3:
        out = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    elif image.ndim == 3 and image.shape[2] == 4:
        out = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    else:
        raise InvalidImageError(f"unsupported image shape {image.shape}")
    result: ImageArray = np.ascontiguousarray(out)
    return result


class _SourceBase(ClosesOnExit):
    """Shared stop/close/context-manager plumbing."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._closed = False

    @property
    def description(self) -> str:
        raise NotImplementedError

    @property
    def device_name(self) -> str:
        raise NotImplementedError

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        self._closed = True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"


class CameraSource(_SourceBase):
    """A live camera through OpenCV, by index (``0``) or device path (``/dev/video2``).

    Opening fails fast with :class:`CameraUnavailableError` when the device does not exist
    or yields no frame within ``open_timeout`` seconds; a camera that stops delivering
    frames for ``read_timeout`` seconds mid-stream raises :class:`CaptureError` rather than
    hanging the till.
    """

    def __init__(
        self,
        device: int | str = 0,
        *,
        width: int | None = 640,
        height: int | None = 480,
        open_timeout: float = 5.0,
        read_timeout: float = 2.0,
    ) -> None:
        super().__init__()
        self._device = device
        self._width = width
        self._height = height
        self._open_timeout = open_timeout
        self._read_timeout = read_timeout
        self._capture: cv2.VideoCapture | None = None
        self._lock = threading.Lock()
        self._open()

    @property
    def description(self) -> str:
        return f"camera {self._device}"

    @property
    def device_name(self) -> str:
        return str(self._device)

    def _open(self) -> None:
        device = self._device
        if isinstance(device, str) and not device.isdigit() and not os.path.exists(device):
            raise CameraUnavailableError(f"camera {device!r} does not exist")
        if isinstance(device, str) and device.isdigit():
            device = int(device)
        if isinstance(device, int) and device < 0:
            raise CameraUnavailableError(f"camera index must be >= 0, got {device}")
        # A device that does not exist makes VideoCapture return at once with isOpened()
        # False; a device that exists but is busy can block, so bound the first read too.
        capture = cv2.VideoCapture(device)
        if not capture.isOpened():
            capture.release()
            raise CameraUnavailableError(
                f"camera {self._device!r} cannot be opened (is it connected and not in use?)"
            )
        if self._width:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self._width)
        if self._height:
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self._height)
        self._capture = capture
        first = self._read_with_timeout(self._open_timeout)
        if first is None:
            self._release()
            raise CameraUnavailableError(
                f"camera {self._device!r} opened but gave no frame within {self._open_timeout} s"
            )
        self._pending: npt.NDArray[Any] | None = first
        logger.info("opened %s", self.description)

    def _read_with_timeout(self, timeout: float) -> npt.NDArray[Any] | None:
        result: list[npt.NDArray[Any] | None] = [None]
        capture = self._capture
        if capture is None:
            return None

        def read() -> None:
            with self._lock:
                ok, image = capture.read()
            result[0] = image if ok and image is not None and image.size else None

        reader = threading.Thread(target=read, name="facepay-camera-read", daemon=True)
        reader.start()
        reader.join(timeout)
        return result[0]

    def frames(self) -> Iterator[Frame]:
        if self._closed or self._capture is None:
            raise CaptureError(f"{self.description} is closed")
        index = 0
        while not self._stop.is_set():
            image = self._pending
            self._pending = None
            if image is None:
                image = self._read_with_timeout(self._read_timeout)
            if self._stop.is_set():
                break
            if image is None:
                raise CaptureError(
                    f"{self.description} stopped delivering frames for {self._read_timeout} s"
                )
            yield Frame(
                image=_bgr_to_rgb(image),
                timestamp=time.monotonic(),
                index=index,
                source_id=self.description,
            )
            index += 1

    def _release(self) -> None:
        capture, self._capture = self._capture, None
        if capture is None:
            return
        # A read stuck in the driver holds the lock; never let close() hang the till on it.
        if self._lock.acquire(timeout=self._read_timeout):
            try:
                capture.release()
            finally:
                self._lock.release()
        else:
            logger.warning("%s: a read is stuck in the driver; not waiting to release", self)

    def close(self) -> None:
        super().close()
        self._release()


class VideoFileSource(_SourceBase):
    """A video file played as if it were a camera (tests, demos, recorded sessions).

    Timestamps come from the container. With ``realtime=True`` frames are released at the
    file's own pace (a stand-in camera for the kiosk demo); by default they come as fast as
    they decode (evaluation). ``loop=True`` restarts at the end (timestamps keep growing).
    A file that cannot be opened or decodes no frame raises :class:`CaptureError`.

    ``clock`` and ``sleep`` are the pacing's time (``time.monotonic`` and a wait that
    :meth:`stop` cuts short, by default): a test passes a fake clock and its ``advance`` to
    check the pace without waiting for it.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        realtime: bool = False,
        loop: bool = False,
        max_frames: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        super().__init__()
        self._path = Path(path)
        self._realtime = realtime
        self._clock = clock
        self._sleep = sleep
        self._loop = loop
        self._max_frames = max_frames
        if not self._path.is_file():
            raise CaptureError(f"video file {self._path} does not exist")
        capture = cv2.VideoCapture(str(self._path))
        try:
            if not capture.isOpened():
                raise CaptureError(
                    f"video file {self._path} cannot be opened (corrupt or unknown format)"
                )
            self.fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
            if not np.isfinite(self.fps) or self.fps <= 0 or self.fps > 1000:
                self.fps = 30.0
            count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            self.frame_count: int | None = count if count > 0 else None
            self.width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
            self.height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
            ok, image = capture.read()
            if not ok or image is None or not image.size:
                raise CaptureError(f"video file {self._path} has no decodable frame")
        finally:
            capture.release()

    @property
    def description(self) -> str:
        return f"video {self._path.name}"

    @property
    def device_name(self) -> str:
        return str(self._path)

    def frames(self) -> Iterator[Frame]:
        if self._closed:
            raise CaptureError(f"{self.description} is closed")
        index = 0
        offset = 0.0
        started = self._clock()
        while not self._stop.is_set():
            capture = cv2.VideoCapture(str(self._path))
            if not capture.isOpened():
                raise CaptureError(f"video file {self._path} cannot be opened")
            last_ts = offset
            produced = 0
            try:
                local = 0
                while not self._stop.is_set():
                    if self._max_frames is not None and index >= self._max_frames:
                        return
                    ok, image = capture.read()
                    if not ok or image is None:
                        break
                    pos_ms = capture.get(cv2.CAP_PROP_POS_MSEC)
                    ts = (
                        pos_ms / 1000.0
                        if np.isfinite(pos_ms) and (pos_ms > 0 or local == 0)
                        else local / self.fps
                    )
                    ts += offset
                    if ts <= last_ts and index > 0:
                        ts = last_ts + 1.0 / self.fps  # containers without usable timestamps
                    last_ts = ts
                    if self._realtime:
                        delay = started + ts - self._clock()
                        if delay > 0 and self._wait(delay):
                            return
                    yield Frame(
                        image=_bgr_to_rgb(image),
                        timestamp=ts,
                        index=index,
                        source_id=self.description,
                    )
                    index += 1
                    local += 1
                    produced += 1
            finally:
                capture.release()
            if not self._loop or produced == 0:
                return
            offset = last_ts + 1.0 / self.fps

    def _wait(self, seconds: float) -> bool:
        """Wait for the next frame's time; True when stopped meanwhile."""
        if self._sleep is None:
            return self._stop.wait(seconds)
        self._sleep(seconds)
        return self._stop.is_set()


class ImageFolderSource(_SourceBase):
    """The images of a folder in name order, as frames at a fixed rate (``index / fps``).

    An image that cannot be decoded is **skipped** with a WARNING naming the file (a stray
    ``.DS_Store`` or a half-written file must not stop an evaluation run); the skipped
    names are kept in :attr:`skipped`. Pass ``strict=True`` to raise
    :class:`InvalidImageError` instead. A folder with no images raises :class:`CaptureError`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fps: float = 10.0,
        strict: bool = False,
        recursive: bool = False,
    ) -> None:
        super().__init__()
        if fps <= 0:
            raise CaptureError(f"fps must be positive, got {fps}")
        self._path = Path(path)
        self._fps = fps
        self._strict = strict
        if not self._path.is_dir():
            raise CaptureError(f"image folder {self._path} does not exist")
        pattern = "**/*" if recursive else "*"
        self.files: list[Path] = sorted(
            p
            for p in self._path.glob(pattern)
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not self.files:
            raise CaptureError(f"image folder {self._path} holds no images")
        self.skipped: list[tuple[Path, str]] = []

    @property
    def description(self) -> str:
        return f"images {self._path.name}/"

    @property
    def device_name(self) -> str:
        return str(self._path)

    @property
    def fps(self) -> float:
        return self._fps

    def frames(self) -> Iterator[Frame]:
        if self._closed:
            raise CaptureError(f"{self.description} is closed")
        index = 0
        for file in self.files:
            if self._stop.is_set():
                return
            try:
                image = read_image(file)
            except InvalidImageError as exc:
                if self._strict:
                    raise
                logger.warning("skipping %s: %s", file.name, exc)
                self.skipped.append((file, str(exc)))
                continue
            yield Frame(
                image=image,
                timestamp=index / self._fps,
                index=index,
                source_id=file.name,
            )
            index += 1


def read_image(path: str | os.PathLike[str]) -> ImageArray:
    """Read one image file as RGB uint8; :class:`InvalidImageError` if it cannot be decoded."""
    file = Path(path)
    try:
        data = np.fromfile(file, dtype=np.uint8)
    except OSError as exc:
        raise InvalidImageError(f"{file.name}: cannot be read ({exc.strerror})") from exc
    if data.size == 0:
        raise InvalidImageError(f"{file.name}: empty file")
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise InvalidImageError(f"{file.name}: not a decodable image")
    return _bgr_to_rgb(image)


def open_source(spec: str | int | os.PathLike[str], **kwargs: Any) -> FrameSource:
    """Pick a source from a spec: an int or digit string is a camera index, ``/dev/...`` a
    camera device, a folder an :class:`ImageFolderSource`, a file a :class:`VideoFileSource`
    (a single image file is a one-frame folder-like source). Keyword arguments go to the
    chosen source's constructor."""
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit()):
        return CameraSource(int(spec), **kwargs)
    path = Path(spec)
    if str(path).startswith("/dev/"):
        return CameraSource(str(path), **kwargs)
    if path.is_dir():
        return ImageFolderSource(path, **kwargs)
    if path.is_file():
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return _SingleImageSource(path)
        return VideoFileSource(path, **kwargs)
    raise CaptureError(f"no camera, video file or image folder at {spec!s}")


class _SingleImageSource(_SourceBase):
    """One still image as a one-frame source (``facepay analyze photo.jpg``)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._path = path

    @property
    def description(self) -> str:
        return f"image {self._path.name}"

    @property
    def device_name(self) -> str:
        return str(self._path)

    def frames(self) -> Iterator[Frame]:
        if self._closed:
            raise CaptureError(f"{self.description} is closed")
        if self._stop.is_set():
            return
        yield Frame(image=read_image(self._path), timestamp=0.0, index=0, source_id=self._path.name)

"""Background threads. They talk to the UI only through Qt signals (queued across threads).

* :class:`CameraWorker` (a ``QThread``) reads the frame source, paces a file to real time,
  turns each frame into a ``QImage`` for the preview and leaves the newest frame in a
  :class:`FrameMailbox`.
* :class:`FlowWorker` (a ``QObject`` on its own ``QThread``) owns every call into the
  :class:`~kiosk_app.model.CheckoutPort`: vision, liveness and the network. It takes only the
  NEWEST frame from the mailbox when it is free, so slow analysis drops frames instead of
  slowing the preview: the preview runs at the camera's rate whatever the analysis costs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from PyQt6.QtCore import QObject, QThread, pyqtSignal, pyqtSlot
from PyQt6.QtGui import QImage

from facepay import CameraUnavailableError, FacePayError, Frame, SourceExhaustedError
from kiosk_app.model import CheckoutPort, Outcome, OutcomeKind, Sale, process_frame

__all__ = [
    "CameraPlayback",
    "CameraWorker",
    "FlowWorker",
    "FrameMailbox",
    "FrameSourceLike",
    "frame_to_qimage",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class CameraPlayback:
    """How the camera thread plays its source. A live camera: the defaults.

    ``pace``: play a file at its own frame rate (a camera is already on time); ``loop``: a
    demo clip restarts so the demo never "loses" its camera; ``lockstep``: wait for the
    analysis to take each frame (tests on a busy shared machine: a recorded clip is then
    analysed frame by frame; a live kiosk drops frames instead).
    """

    pace: bool = True
    loop: bool = False
    lockstep: bool = False


logger = logging.getLogger(__name__)


class FrameSourceLike(Protocol):
    """What the kiosk needs of ``facepay``'s frame sources."""

    def frames(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


class FrameMailbox:
    """Holds at most one frame: the newest. Taking it empties the box."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._frame: Frame | None = None
        self.dropped = 0

    def put(self, frame: Frame) -> None:
        with self._lock:
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame

    def take(self) -> Frame | None:
        with self._lock:
            frame, self._frame = self._frame, None
            self._lock.notify_all()
            return frame

    def clear(self) -> None:
        with self._lock:
            self._frame = None
            self._lock.notify_all()

    def wait_taken(self, timeout: float) -> bool:
        """Block until the frame in the box was taken (lockstep mode); False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: self._frame is None, timeout)


def frame_to_qimage(frame: Frame) -> QImage:
    """An RGB ``Frame`` as a ``QImage`` that owns its pixels (safe to hand across threads)."""
    image = frame.image
    h, w = int(image.shape[0]), int(image.shape[1])
    data = image.tobytes()  # C order, 3 bytes per pixel, rows packed
    qimage = QImage(data, w, h, 3 * w, QImage.Format.Format_RGB888)
    # RGB32 owns its pixels (``data`` can go) and is what QPainter scales fast: measured
    # on the 2-core box, drawing a 640x360 frame into the 1216x684 preview took ~20 ms
    # from RGB888 and ~4 ms from RGB32; the conversion here costs ~1 ms on this thread.
    converted: QImage = qimage.convertToFormat(QImage.Format.Format_RGB32)
    return converted


class CameraWorker(QThread):
    """Reads frames until stopped; reports failures as a short code, never a traceback."""

    # The preview is "newest only" too: if the UI thread falls behind (a busy till), it
    # draws the latest frame instead of working through a queue of stale ones.
    preview_ready = pyqtSignal()
    frame_available = pyqtSignal()
    camera_failed = pyqtSignal(str)
    fps_measured = pyqtSignal(float)

    def __init__(
        self,
        open_source: Callable[[], FrameSourceLike],
        mailbox: FrameMailbox,
        *,
        playback: CameraPlayback | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
        parent: QObject | None = None,
    ) -> None:
        """``clock`` and ``sleep`` are the pacing's time (``time.monotonic`` and a wait that
        :meth:`stop` cuts short, by default); a test passes a fake clock to check the pace."""
        super().__init__(parent)
        playback = playback or CameraPlayback()
        self._clock = clock
        self._sleep = sleep
        self._open = open_source
        self._mailbox = mailbox
        self._pace = playback.pace
        self._lockstep = playback.lockstep
        self._loop = playback.loop
        self._stop = threading.Event()
        self.frames_read = 0
        self.fps = 0.0
        self._preview_lock = threading.Lock()
        self._preview: QImage | None = None
        self.previews_skipped = 0
        self._ts_offset = 0.0
        self._index_offset = 0
        self._last_ts = 0.0
        self._last_dt = 1.0 / 30.0
        self._last_index = -1

    def stop(self) -> None:
        self._stop.set()

    def take_preview(self) -> QImage | None:
        """The newest preview image, once (None when already taken)."""
        with self._preview_lock:
            image, self._preview = self._preview, None
            return image

    def run(self) -> None:
        try:
            while not self._stop.is_set():
                source = self._open()
                try:
                    self._play(source)
                finally:
                    source.close()
                # A looping clip restarts at t=0; a camera's clock never goes back, and
                # liveness rightly flags one that does (injection signal). Carry on the clock.
                self._ts_offset = self._last_ts + self._last_dt
                self._index_offset = self._last_index + 1
                if not self._loop:
                    if not self._stop.is_set():
                        self.camera_failed.emit("source_exhausted")
                    return
        except SourceExhaustedError:
            if not self._stop.is_set():
                self.camera_failed.emit("source_exhausted")
        except CameraUnavailableError:
            logger.warning("camera unavailable")
            self.camera_failed.emit("camera_unavailable")
        except FacePayError as exc:
            logger.warning("camera failed: %s", type(exc).__name__)
            self.camera_failed.emit(type(exc).__name__)
        except Exception as exc:  # a broken driver must not take the till down
            logger.exception("camera thread crashed")
            self.camera_failed.emit(type(exc).__name__)

    def _wait(self, seconds: float) -> None:
        if self._sleep is None:
            self._stop.wait(seconds)
        else:
            self._sleep(seconds)

    def _play(self, source: FrameSourceLike) -> None:
        start_wall: float | None = None
        start_ts = 0.0
        window_start = self._clock()
        window_frames = 0
        for raw in source.frames():
            if self._stop.is_set():
                return
            frame = raw
            if self._ts_offset or self._index_offset:
                frame = Frame(
                    image=raw.image,
                    timestamp=raw.timestamp + self._ts_offset,
                    index=raw.index + self._index_offset,
                    source_id=raw.source_id,
                )
            if frame.timestamp > self._last_ts:
                self._last_dt = frame.timestamp - self._last_ts
            self._last_ts, self._last_index = frame.timestamp, frame.index
            if self._pace:
                now = self._clock()
                if start_wall is None:
                    start_wall, start_ts = now, frame.timestamp
                # A file plays faster than life; a camera is already on time (no sleep).
                delay = (frame.timestamp - start_ts) - (now - start_wall)
                if delay > 0:
                    self._wait(min(delay, 0.5))
                elif delay < -1.0:  # fell behind (machine busy): re-anchor, don't sprint
                    start_wall, start_ts = now, frame.timestamp
            self._mailbox.put(frame)
            self.frame_available.emit()
            image = frame_to_qimage(frame)
            with self._preview_lock:
                if self._preview is not None:
                    self.previews_skipped += 1
                self._preview = image
            self.preview_ready.emit()
            if self._lockstep:
                while not self._stop.is_set() and not self._mailbox.wait_taken(0.1):
                    pass
                now = self._clock()
                if start_wall is not None and now - start_wall > frame.timestamp - start_ts:
                    start_wall, start_ts = now, frame.timestamp  # we waited: re-anchor
            self.frames_read += 1
            window_frames += 1
            elapsed = self._clock() - window_start
            if elapsed >= 1.0:
                self.fps = window_frames / elapsed
                self.fps_measured.emit(self.fps)
                window_start, window_frames = self._clock(), 0


class FlowWorker(QObject):
    """Runs every :class:`CheckoutPort` call on one thread.

    Frames are fed for one attempt at a time (:meth:`start_feeding`); the machine ignores
    answers for attempts the shopper already left, so a late answer can never move the
    screen of a new shopper. Other calls are jobs with an id (:meth:`call`).
    """

    feedback = pyqtSignal(int, object)  # attempt, facepay.FrameFeedback
    processing = pyqtSignal(int)
    outcome = pyqtSignal(int, object)  # attempt, Outcome
    result = pyqtSignal(int, object)  # job id, value
    failed = pyqtSignal(int, str)  # job id, error code
    analysed = pyqtSignal(float)  # seconds spent on one frame

    def __init__(self, port: CheckoutPort, mailbox: FrameMailbox) -> None:
        super().__init__()
        self._port = port
        self._mailbox = mailbox
        self._feeding: tuple[int, Sale | None] | None = None
        self.frames_analysed = 0
        # For the benchmark: when the frame that met the last challenge arrived, and how
        # long the authorization round trip took.
        self.conclusion_started_at = 0.0
        self.last_complete_s = 0.0

    @property
    def port(self) -> CheckoutPort:
        return self._port

    @pyqtSlot(int, object)
    def start_feeding(self, attempt: int, sale: Sale | None) -> None:
        self._mailbox.clear()
        self._feeding = (attempt, sale)

    @pyqtSlot()
    def stop_feeding(self) -> None:
        self._feeding = None
        self._mailbox.clear()

    @pyqtSlot()
    def on_frame(self) -> None:
        feeding = self._feeding
        if feeding is None:
            self._mailbox.clear()
            return
        attempt, sale = feeding
        frame = self._mailbox.take()
        if frame is None:
            return  # already took the newest one: the rest were dropped on purpose
        t0 = time.perf_counter()
        started = time.monotonic()
        completing: list[float] = []

        def processing() -> None:
            # This frame met the last challenge; the call also fused and sealed.
            self.conclusion_started_at = started
            self._feeding = None
            self._mailbox.clear()
            self.processing.emit(attempt)
            completing.append(time.perf_counter())

        try:
            update = process_frame(self._port, frame, sale, processing)
        except Exception as exc:  # a bug must end the attempt, not the till
            logger.error("checkout flow failed", exc_info=exc)
            update = Outcome(kind=OutcomeKind.ERROR, staff_code=type(exc).__name__)
        finally:
            del frame
        self.frames_analysed += 1
        if completing:
            self.last_complete_s = time.perf_counter() - completing[0]
        else:
            self.analysed.emit(time.perf_counter() - t0)
        if isinstance(update, Outcome):
            self._feeding = None
            self._mailbox.clear()
            self.outcome.emit(attempt, update)
        else:
            self.feedback.emit(attempt, update)

    @pyqtSlot(int, object)
    def call(self, job_id: int, fn: Callable[[CheckoutPort], Any]) -> None:
        """Run ``fn(port)``; answer with ``result`` (or ``failed`` on an error)."""
        try:
            value = fn(self._port)
        except Exception as exc:
            code = type(exc).__name__
            if not isinstance(exc, FacePayError):
                logger.exception("till call failed")
            self.failed.emit(job_id, code)
            return
        self.result.emit(job_id, value)

"""The camera thread: real clip, real pacing, newest-frame mailbox, clean failure codes."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from facepay import Frame
from facepay.capture import open_source
from facepay.testing import FakeClock
from kiosk_app.workers import CameraPlayback, CameraWorker, FrameMailbox, frame_to_qimage

pytestmark = pytest.mark.eval


def test_mailbox_keeps_only_the_newest_frame() -> None:
    box = FrameMailbox()
    img = np.zeros((4, 4, 3), np.uint8)
    for i in range(5):
        box.put(Frame(image=img, timestamp=i / 30, index=i))
    frame = box.take()
    assert frame is not None
    assert frame.index == 4
    assert box.dropped == 4
    assert box.take() is None


def test_frame_to_qimage_keeps_rgb_order_and_owns_pixels() -> None:
    img = np.zeros((2, 3, 3), np.uint8)
    img[0, 0] = (255, 0, 0)
    img[1, 2] = (0, 0, 255)
    q = frame_to_qimage(Frame(image=img, timestamp=0.0, index=0))
    del img
    assert (q.width(), q.height()) == (3, 2)
    assert q.pixelColor(0, 0).getRgb()[:3] == (255, 0, 0)
    assert q.pixelColor(2, 1).getRgb()[:3] == (0, 0, 255)


def test_camera_plays_a_clip_at_its_own_rate_then_reports_the_end(qtbot, eval_dir: Path) -> None:  # type: ignore[no-untyped-def]
    path = eval_dir / "video" / "single_face.mp4"  # 2.4 s at 30 fps
    box = FrameMailbox()
    clock = FakeClock()
    waits: list[float] = []
    drawn = threading.Event()

    def sleep(seconds: float) -> None:
        # The camera's wait for the next frame's time, on a clock the test moves; it also
        # lets the UI thread draw the last frame first (an idle till's UI keeps up).
        waits.append(seconds)
        clock.advance(seconds)
        if not drawn.wait(60):
            raise RuntimeError("the UI thread never drew the previous frame")
        drawn.clear()

    worker = CameraWorker(
        lambda: open_source(path),
        box,
        playback=CameraPlayback(pace=True),
        clock=clock,
        sleep=sleep,
    )
    shown: list[int] = []

    def draw() -> None:
        image = worker.take_preview()
        if image is not None:
            shown.append(image.width())
            drawn.set()

    worker.preview_ready.connect(draw)
    with qtbot.waitSignal(worker.camera_failed, timeout=60_000) as blocker:
        worker.start()
    worker.wait(3000)
    assert blocker.args == ["source_exhausted"]
    qtbot.waitUntil(lambda: len(shown) + worker.previews_skipped == worker.frames_read)
    assert worker.frames_read > 60
    assert len(shown) == worker.frames_read  # the idle UI thread drew every frame
    assert shown[0] == 640
    # Paced to the clip's timestamps: one wait of a frame's time (1/30 s) before each frame
    # after the first, adding up to the clip's 2.4 s, on the worker's own clock.
    assert len(waits) == worker.frames_read - 1
    assert waits == pytest.approx([1 / 30.0] * len(waits), abs=0.01)
    assert sum(waits) == pytest.approx((worker.frames_read - 1) / 30.0, abs=0.05)
    assert box.take() is not None


def test_missing_file_is_a_code_not_a_crash(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    worker = CameraWorker(lambda: open_source(tmp_path / "nope.mp4"), FrameMailbox())
    with qtbot.waitSignal(worker.camera_failed, timeout=5000) as blocker:
        worker.start()
    worker.wait(3000)
    assert blocker.args[0]
    assert "Traceback" not in blocker.args[0]


def test_a_slow_consumer_gets_the_newest_frames_and_never_slows_the_camera(  # type: ignore[no-untyped-def]
    qtbot, eval_dir: Path
) -> None:
    """The analysis side takes one frame per 150 ms (slower than the 30 fps camera): the
    camera keeps its pace, the preview gets every frame, the consumer the newest ones."""
    import threading

    path = eval_dir / "video" / "single_face.mp4"
    box = FrameMailbox()
    worker = CameraWorker(lambda: open_source(path), box, playback=CameraPlayback(pace=True))
    previews: list[int] = []
    worker.preview_ready.connect(
        lambda: previews.append(1) if worker.take_preview() is not None else None
    )
    taken: list[int] = []
    done = threading.Event()

    def slow_consumer() -> None:
        while not done.is_set():
            frame = box.take()
            if frame is not None:
                taken.append(frame.index)
                time.sleep(0.15)
            else:
                time.sleep(0.005)

    consumer = threading.Thread(target=slow_consumer)
    consumer.start()
    with qtbot.waitSignal(worker.camera_failed, timeout=60_000):
        worker.start()
    done.set()
    consumer.join()
    worker.wait(3000)
    assert worker.frames_read == 72  # the camera read the whole clip, not held back
    qtbot.waitUntil(
        lambda: len(previews) + worker.previews_skipped == worker.frames_read, timeout=3000
    )
    assert len(previews) > 0.8 * worker.frames_read
    assert len(taken) < worker.frames_read / 2  # most frames were dropped for analysis
    assert box.dropped > 0
    assert taken == sorted(taken)  # always forward in time

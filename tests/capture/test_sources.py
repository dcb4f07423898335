"""Frame sources on real clips and on files written here: RGB, timestamps, errors, stop."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from facepay.capture import (
    CameraSource,
    FrameSource,
    ImageFolderSource,
    VideoFileSource,
    open_source,
    read_image,
)
from facepay.errors import CameraUnavailableError, CaptureError, InvalidImageError
from facepay.testing import FakeClock


def _write_video(path: Path, colors_rgb: list[tuple[int, int, int]], fps: float = 20.0) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (64, 48))
    assert writer.isOpened()
    for rgb in colors_rgb:
        frame = np.zeros((48, 64, 3), np.uint8)
        frame[:] = rgb[::-1]  # OpenCV writes BGR
        writer.write(frame)
    writer.release()


def test_video_file_real_clip_frames_are_rgb_and_timestamped(eval_dir: Path) -> None:
    clip = eval_dir / "video" / "single_face.mp4"
    cap = cv2.VideoCapture(str(clip))
    ok, first_bgr = cap.read()
    cap.release()
    assert ok
    with VideoFileSource(clip) as source:
        assert isinstance(source, FrameSource)
        frames = list(source.frames())
    assert len(frames) == 72  # the manifest's frame count
    first = frames[0]
    assert first.image.dtype == np.uint8
    assert first.image.shape == (360, 640, 3)
    assert np.array_equal(first.image, first_bgr[:, :, ::-1])  # converted from BGR once
    stamps = np.array([f.timestamp for f in frames])
    assert np.all(np.diff(stamps) > 0)
    # The container's own clock: 30 fps.
    assert stamps[-1] - stamps[0] == pytest.approx(71 / 30.0, abs=0.02)
    assert [f.index for f in frames] == list(range(72))


def test_video_file_channel_order_on_a_written_clip(tmp_path: Path) -> None:
    path = tmp_path / "rgb.avi"
    _write_video(path, [(255, 0, 0), (0, 255, 0), (0, 0, 255)])
    with VideoFileSource(path) as source:
        frames = list(source.frames())
    assert len(frames) == 3
    for frame, channel in zip(frames, (0, 1, 2), strict=True):
        means = frame.image.reshape(-1, 3).mean(axis=0)
        assert int(np.argmax(means)) == channel, means
    assert frames[1].timestamp == pytest.approx(1 / 20.0, abs=1e-3)


def test_video_realtime_paces_frames_and_max_frames_stops(tmp_path: Path) -> None:
    path = tmp_path / "pace.avi"
    _write_video(path, [(128, 128, 128)] * 12, fps=20.0)
    clock = FakeClock()
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(seconds)

    with VideoFileSource(path, realtime=True, max_frames=8, clock=clock, sleep=sleep) as source:
        frames = list(source.frames())
    assert len(frames) == 8
    # Played at the file's own pace, not as fast as decoded: one 1/20 s wait before each
    # frame after the first, on the source's own clock.
    assert waits == pytest.approx([1 / 20.0] * 7)
    assert clock.now - 1000.0 == pytest.approx(frames[-1].timestamp - frames[0].timestamp)


def test_looping_video_is_stopped_from_another_thread(tmp_path: Path) -> None:
    path = tmp_path / "loop.avi"
    _write_video(path, [(10, 20, 30)] * 5, fps=50.0)
    source = VideoFileSource(path, realtime=True, loop=True)
    frames = []
    looped = threading.Event()

    def consume() -> None:
        for frame in source.frames():  # would never end without stop()
            frames.append(frame)
            if len(frames) == 12:  # past two restarts of the 5-frame clip
                looped.set()

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    assert looped.wait(60), "the looping clip stopped producing frames"
    source.stop()
    consumer.join(60)
    assert not consumer.is_alive(), "stop() from another thread did not end the loop"
    source.close()
    assert len(frames) >= 12
    stamps = [f.timestamp for f in frames]
    assert all(b > a for a, b in itertools.pairwise(stamps))  # grows across loops


def test_corrupt_and_missing_video_files_raise_capture_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    with pytest.raises(CaptureError):
        VideoFileSource(bad)
    with pytest.raises(CaptureError):
        VideoFileSource(tmp_path / "missing.mp4")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(CaptureError):
        VideoFileSource(empty)


def test_image_folder_sorted_fixed_rate_and_skips_unreadable(tmp_path: Path) -> None:
    for i, value in enumerate((30, 60, 90)):
        img = np.full((20, 30, 3), value, np.uint8)
        cv2.imwrite(str(tmp_path / f"img{2 - i}.png"), img)  # names in reverse value order
    (tmp_path / "img1_broken.jpg").write_bytes(b"not a jpeg at all")
    (tmp_path / "notes.txt").write_text("ignored: not an image suffix")
    source = ImageFolderSource(tmp_path, fps=5.0)
    frames = list(source.frames())
    assert [f.source_id for f in frames] == ["img0.png", "img1.png", "img2.png"]
    assert [int(f.image[0, 0, 0]) for f in frames] == [90, 60, 30]
    assert [f.timestamp for f in frames] == pytest.approx([0.0, 0.2, 0.4])
    assert [p.name for p, _ in source.skipped] == ["img1_broken.jpg"]
    with pytest.raises(InvalidImageError):
        list(ImageFolderSource(tmp_path, strict=True).frames())


def test_image_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="no images"):
        ImageFolderSource(tmp_path)
    with pytest.raises(CaptureError):
        ImageFolderSource(tmp_path / "nope")


def test_read_image_converts_gray_and_rgba(tmp_path: Path) -> None:
    gray = np.arange(12 * 10, dtype=np.uint8).reshape(12, 10)
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 2] = 200  # red in BGRA
    rgba[..., 3] = 10
    cv2.imwrite(str(tmp_path / "a.png"), rgba)
    g = read_image(tmp_path / "g.png")
    a = read_image(tmp_path / "a.png")
    assert g.shape == (12, 10, 3)
    assert np.array_equal(g[..., 0], gray)
    assert a.shape == (8, 8, 3)
    assert a[0, 0].tolist() == [200, 0, 0]
    (tmp_path / "zero.png").write_bytes(b"")
    with pytest.raises(InvalidImageError, match="empty"):
        read_image(tmp_path / "zero.png")


def test_missing_camera_fails_fast_with_a_clear_error() -> None:
    with pytest.raises(CameraUnavailableError, match="camera"):
        CameraSource(97)
    with pytest.raises(CameraUnavailableError, match="does not exist"):
        CameraSource("/dev/video97")
    with pytest.raises(CameraUnavailableError):
        open_source("/dev/video97")


def test_open_source_picks_by_spec(eval_dir: Path, tmp_path: Path) -> None:
    with open_source(eval_dir / "video" / "d12.mp4") as video:
        assert isinstance(video, VideoFileSource)
        assert video.device_name.endswith("d12.mp4")
    with open_source(str(eval_dir / "nonface")) as folder:
        assert isinstance(folder, ImageFolderSource)
        assert len(list(folder.frames())) == 7
    with open_source(eval_dir / "nonface" / "chelsea.png") as still:
        frames = list(still.frames())
        assert len(frames) == 1
        assert frames[0].image.shape[2] == 3
    with pytest.raises(CameraUnavailableError):
        open_source(97)
    with pytest.raises(CaptureError):
        open_source(tmp_path / "nothing-here")


def test_closed_source_refuses_to_play(eval_dir: Path) -> None:
    source = VideoFileSource(eval_dir / "video" / "single_face.mp4")
    source.close()
    source.close()  # idempotent
    with pytest.raises(CaptureError, match="closed"):
        list(source.frames())


def test_camera_source_reads_a_device_and_stops_cleanly(eval_dir: Path) -> None:
    """OpenCV opens a file path like a device node: exercise the camera path for real."""
    clip = str(eval_dir / "video" / "single_face.mp4")
    camera = CameraSource(clip, width=None, height=None, read_timeout=1.0)
    frames = []
    for frame in camera.frames():
        frames.append(frame)
        if len(frames) == 5:
            threading.Thread(target=camera.stop).start()
            time.sleep(0.1)
    camera.close()
    assert 5 <= len(frames) <= 7
    assert frames[0].image.shape == (360, 640, 3)
    stamps = [f.timestamp for f in frames]
    assert stamps == sorted(stamps)  # the till's monotonic clock
    assert camera.description == f"camera {clip}"


def test_camera_that_stops_delivering_raises_instead_of_hanging(eval_dir: Path) -> None:
    clip = str(eval_dir / "video" / "single_face.mp4")
    camera = CameraSource(clip, width=None, height=None, read_timeout=1.0)
    with camera, pytest.raises(CaptureError, match="stopped delivering"):
        for _ in camera.frames():  # the "device" runs dry after 72 frames
            pass

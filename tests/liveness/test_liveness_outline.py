"""The screen-outline cue: a straight-edged frame closed around the face (a screen or a print
held up whole) refuses; a real person, whose neck breaks any edge of the room below the
face, is never framed. Real frames and real faces; the screens are simulated."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from facepay.capture import VideoFileSource, read_image
from facepay.config import FaceDetectorConfig, LivenessConfig
from facepay.eval.attacks import screen_replay_attack
from facepay.liveness import PassiveCues, measure_cues
from facepay.types import FaceObservation, Frame
from facepay.vision import FrameAnalyzer

pytestmark = [pytest.mark.eval, pytest.mark.slow]


def _framed(frames: list[Frame]) -> list[bool]:
    out = []
    with FrameAnalyzer(FaceDetectorConfig()) as analyzer:
        for frame in frames:
            faces = analyzer.faces(frame)
            assert len(faces) == 1
            out.append(measure_cues(frame.image, faces[0])["outline"] == 1.0)
    return out


def _clip(eval_dir: Path, name: str, every: int = 8) -> list[Frame]:
    with VideoFileSource(eval_dir / "video" / name) as source:
        return [f for f in source.frames() if f.index % every == 0]


def test_a_replay_on_a_screen_is_framed_and_the_person_is_not(eval_dir: Path) -> None:
    real = _clip(eval_dir, "d12.mp4")
    replayed = list(screen_replay_attack(real, seed=7))
    assert not any(_framed(real))
    framed = _framed(replayed)
    assert sum(framed) >= 0.8 * len(framed)


def _still(eval_dir: Path) -> tuple[npt.NDArray[np.uint8], FaceObservation]:
    image = read_image(eval_dir / "pad" / "live" / "s0001_live_03.jpg")
    with FrameAnalyzer(FaceDetectorConfig(), mode="image") as analyzer:
        (face,) = analyzer.faces(Frame(image=image, timestamp=0.0, index=0, source_id="t"))
    return image, face


def _draw_frame(
    image: npt.NDArray[np.uint8], face: FaceObservation, *, neck_gap: bool
) -> npt.NDArray[np.uint8]:
    """A dark rectangle around the face, as a bezel; optionally broken below the chin where
    a real person's neck would hide an edge of the room behind them."""
    out = image.copy()
    h, w = out.shape[:2]
    b = face.box
    m = 0.25 * b.width
    x0, y0 = int(max(2, b.x - m)), int(max(2, b.y - m))
    x1, y1 = int(min(w - 3, b.x + b.width + m)), int(min(h - 3, b.y + b.height + m))
    cv2.rectangle(out, (x0, y0), (x1, y1), (15, 15, 15), 3)
    if neck_gap:  # off-centre, as a neck is when the head is turned
        g0, g1 = int(b.center[0] + b.width / 20), int(b.center[0] + b.width / 5)
        out[y1 - 3 : y1 + 4, g0:g1] = image[y1 - 3 : y1 + 4, g0:g1]
    return out


def test_an_edge_below_the_face_counts_only_when_nothing_breaks_it(eval_dir: Path) -> None:
    image, face = _still(eval_dir)
    assert measure_cues(image, face)["outline"] == 0.0
    assert measure_cues(_draw_frame(image, face, neck_gap=False), face)["outline"] == 1.0
    # The same frame with the bottom edge interrupted under the face: a room, not a screen.
    assert measure_cues(_draw_frame(image, face, neck_gap=True), face)["outline"] == 0.0


def test_the_session_refuses_when_the_face_is_framed_in_most_samples(eval_dir: Path) -> None:
    image, face = _still(eval_dir)
    framed = _draw_frame(image, face, neck_gap=False)

    def run(images: list[npt.NDArray[np.uint8]], config: LivenessConfig) -> PassiveCues:
        cues = PassiveCues(config, every_s=0.0)
        for i, img in enumerate(images):
            cues.feed(Frame(image=img, timestamp=i / 10, index=i, source_id="t"), face, i / 10)
        return cues

    config = LivenessConfig()
    mostly = run([framed, framed, image], config)
    assert mostly.evidence()["cue_outline"] == pytest.approx(2 / 3, abs=1e-3)
    assert "screen_cue" in mostly.refusals()
    seldom = run([framed, image, image, image, image], config)
    assert "screen_cue" not in seldom.refusals()
    # 0 turns the outline cue off.
    off = run([framed, framed, framed], LivenessConfig(screen_outline_min_share=0.0))
    assert "screen_cue" not in off.refusals()

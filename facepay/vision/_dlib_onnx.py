"""Build an ONNX graph of a parsed dlib ResNet (see ``_dlib_format``) with the ``onnx`` package.

The graph takes what the rest of facepay has: aligned chips as ``uint8`` RGB, shape
``(N, 150, 150, 3)``; it does dlib's input normalisation itself (``(v - mean) / 256`` per
channel, ``input_rgb_image_sized``), so no caller can get it wrong. Its output ``descriptor``
is ``(N, 128)`` float32, not L2-normalised, exactly like ``dlib.face_recognition_model_v1``.

Semantics copied from dlib rather than guessed:

- ``affine_`` (inference batch norm, ``gamma * x + beta`` per channel) follows every conv;
  it is folded into the conv's weights and bias, which moves outputs by ~1e-6 at most.
- stride-2 convs and pools use zero padding 0 (dlib's default when the stride is not 1),
  3x3 stride-1 convs pad 1.
- ``add_prev`` adds two tensors of possibly different sizes: the output has the larger of
  each dimension and each input is added aligned top-left, missing values counting as zero
  (``tt::add`` in dlib/cuda/cpu_dlib.cpp). That happens in the 256-channel down block,
  where the strided conv gives 3x3 but the 2x2 average pool of the shortcut gives 4x4.
- ``fc_no_bias``: ``y = x @ W`` with ``W`` stored ``(inputs, outputs)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

from facepay.errors import ModelError
from facepay.vision._dlib_format import DlibNetwork

__all__ = ["DESCRIPTOR_OUTPUT", "IMAGE_INPUT", "build_onnx_model"]

IMAGE_INPUT = "image"
DESCRIPTOR_OUTPUT = "descriptor"
OPSET = 17


class _Builder:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def name(self, base: str) -> str:
        self._n += 1
        return f"{base}_{self._n}"

    def const(self, base: str, array: npt.NDArray[Any]) -> str:
        name = self.name(base)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], base: str, **attrs: Any) -> str:
        out = self.name(base)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out


def build_onnx_model(net: DlibNetwork, *, doc: str = "") -> onnx.ModelProto:
    """Return an ONNX model computing ``net``'s 128-d descriptor from uint8 RGB chips."""
    rows, cols = net.input_size
    b = _Builder()
    x = b.node("Cast", [IMAGE_INPUT], "as_float", to=TensorProto.FLOAT)
    x = b.node("Transpose", [x], "nchw", perm=[0, 3, 1, 2])
    means = np.array(net.input_means, dtype=np.float32).reshape(1, 3, 1, 1)
    x = b.node("Sub", [x, b.const("means", means)], "centred")
    x = b.node("Mul", [x, b.const("scale", np.array(1.0 / 256.0, np.float32))], "input")
    shape = (3, rows, cols)  # C, H, W of the current tensor
    tags: dict[int, tuple[str, tuple[int, int, int]]] = {}

    layers = list(net.layers)
    i = 0
    while i < len(layers):
        rec = layers[i]
        spec = rec.spec
        kind = spec.kind
        if kind == "con":
            w = rec.weights["filters"].astype(np.float64)
            bias = rec.weights["biases"].astype(np.float64)
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            if nxt is not None and nxt.spec.kind == "affine":
                gamma = nxt.weights["gamma"].astype(np.float64)
                beta = nxt.weights["beta"].astype(np.float64)
                w = w * gamma[:, None, None, None]
                bias = bias * gamma + beta
                i += 1
            pad = 0 if spec.stride != 1 else spec.size // 2
            x = b.node(
                "Conv",
                [x, b.const("W", w.astype(np.float32)), b.const("B", bias.astype(np.float32))],
                "conv",
                kernel_shape=[spec.size, spec.size],
                strides=[spec.stride, spec.stride],
                pads=[pad, pad, pad, pad],
            )
            h = (shape[1] + 2 * pad - spec.size) // spec.stride + 1
            wd = (shape[2] + 2 * pad - spec.size) // spec.stride + 1
            shape = (spec.filters, h, wd)
        elif kind == "affine":
            k = shape[0]
            g = rec.weights["gamma"].reshape(1, k, 1, 1)
            be = rec.weights["beta"].reshape(1, k, 1, 1)
            x = b.node("Mul", [x, b.const("gamma", g)], "affine_mul")
            x = b.node("Add", [x, b.const("beta", be)], "affine")
        elif kind == "relu":
            x = b.node("Relu", [x], "relu")
        elif kind in ("max_pool", "avg_pool"):
            if kind == "avg_pool" and spec.size == 0:
                x = b.node("GlobalAveragePool", [x], "gap")
                shape = (shape[0], 1, 1)
            else:
                op = "MaxPool" if kind == "max_pool" else "AveragePool"
                x = b.node(
                    op,
                    [x],
                    kind,
                    kernel_shape=[spec.size, spec.size],
                    strides=[spec.stride, spec.stride],
                )
                h = (shape[1] - spec.size) // spec.stride + 1
                wd = (shape[2] - spec.size) // spec.stride + 1
                shape = (shape[0], h, wd)
        elif kind == "tag":
            tags[spec.tag] = (x, shape)
        elif kind == "skip":
            x, shape = tags[spec.tag]
        elif kind == "add_prev":
            other, oshape = tags[spec.tag]
            out_shape = (
                max(shape[0], oshape[0]),
                max(shape[1], oshape[1]),
                max(shape[2], oshape[2]),
            )
            x = _pad_to(b, x, shape, out_shape)
            other = _pad_to(b, other, oshape, out_shape)
            x = b.node("Add", [x, other], "residual")
            shape = out_shape
        elif kind == "fc":
            x = b.node("Flatten", [x], "flat", axis=1)
            x = b.node("MatMul", [x, b.const("fc", rec.weights["weights"])], "fc")
        else:  # pragma: no cover - _dlib_format rejects unknown kinds
            raise ModelError(f"cannot convert layer kind {kind!r}")
        i += 1

    b.nodes.append(helper.make_node("Identity", [x], [DESCRIPTOR_OUTPUT], name="out"))
    graph = helper.make_graph(
        b.nodes,
        "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info(IMAGE_INPUT, TensorProto.UINT8, ["N", rows, cols, 3])],
        [helper.make_tensor_value_info(DESCRIPTOR_OUTPUT, TensorProto.FLOAT, ["N", 128])],
        initializer=b.inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="facepay",
        doc_string=doc or "dlib ResNet face descriptor converted by facepay",
    )
    model.ir_version = 8
    helper.set_model_props(model, {"source_sha256": net.sha256, "licence": "CC0-1.0"})
    onnx.checker.check_model(model)
    return model


def _pad_to(b: _Builder, x: str, shape: tuple[int, int, int], target: tuple[int, int, int]) -> str:
    if shape == target:
        return x
    pads = np.array(
        [0, 0, 0, 0, 0, target[0] - shape[0], target[1] - shape[1], target[2] - shape[2]],
        dtype=np.int64,
    )
    return b.node("Pad", [x, b.const("pads", pads)], "pad_zero", mode="constant")

"""A pure-Python reader for dlib's serialized ``dnn`` networks (``.dat`` files).

facepay runs dlib's ResNet face descriptor on onnxruntime, not on dlib: this module reads
the weights out of ``dlib_face_recognition_resnet_model_v1.dat`` (CC0, shipped in the PyPI
package ``face_recognition_models``) so that ``_dlib_onnx`` can build an ONNX graph of them.

The format, as written by ``dlib/serialize.h`` and ``dlib/dnn/{core,layers,loss,input}.h``:

- integers: one control byte (low 4 bits: number of magnitude bytes, 1 to 8; bit 0x80: the
  sign), then the magnitude, little-endian;
- ``float``/``double``: an int64 mantissa and an int16 exponent in that integer encoding,
  value = mantissa * 2**exponent;
- strings: the length as an integer, then the bytes; bools: one byte, ``'1'`` or ``'0'``;
- tensors: version 2, then num_samples, k, nr, nc, then raw little-endian float32 data;
  ``alias_tensor`` (a view into a layer's ``params``): version 1 and the four sizes only;
- each layer wrapper (``add_layer``) writes its version, then its **whole subnetwork**, then
  its own layer's record; tag and skip wrappers write a version and their subnetwork only.
  So a file starts with the loss layer, then a run of version numbers from the outermost
  wrapper inward, then the input layer, then the layers' records from the innermost out.
  The tag numbers that wire residual connections are not stored: the structure comes from
  the network's C++ template, which :data:`DLIB_RESNET_V1` spells out.

Nothing here imports dlib; the reference tests compare against it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facepay.errors import ModelError

__all__ = [
    "DLIB_RESNET_V1",
    "DlibNetwork",
    "LayerRecord",
    "LayerSpec",
    "read_dlib_network",
]

F32 = npt.NDArray[np.float32]


class _Stream:
    """dlib's primitive encodings over an in-memory byte string."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self._data):
            raise ModelError("dlib model file is truncated")
        chunk = self._data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def read_int(self) -> int:
        control = self._take(1)[0]
        size = control & 0x0F
        if size < 1 or size > 8 or control & 0x70:
            raise ModelError(f"bad integer control byte 0x{control:02x} at offset {self.pos - 1}")
        value = int.from_bytes(self._take(size), "little")
        return -value if control & 0x80 else value

    def read_float(self) -> float:
        mantissa = self.read_int()
        exponent = self.read_int()
        return float(mantissa) * 2.0**exponent

    def read_string(self) -> str:
        n = self.read_int()
        if n < 0 or n > 1 << 20:
            raise ModelError(f"implausible string length {n}")
        return self._take(n).decode("latin-1")

    def read_bool(self) -> bool:
        b = self._take(1)
        if b not in (b"0", b"1"):
            raise ModelError(f"bad bool byte {b!r} at offset {self.pos - 1}")
        return b == b"1"

    def read_version(self, allowed: Sequence[int], what: str) -> int:
        v = self.read_int()
        if v not in allowed:
            raise ModelError(f"unexpected {what} version {v} at offset {self.pos}")
        return v

    def read_tensor(self) -> F32:
        self.read_version((2,), "tensor")
        n, k, nr, nc = (self.read_int() for _ in range(4))
        count = n * k * nr * nc
        if count < 0 or n < 0:
            raise ModelError("negative tensor size")
        raw = self._take(4 * count)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(n, k, nr, nc)

    def read_alias_tensor(self) -> tuple[int, int, int, int]:
        self.read_version((1,), "alias_tensor")
        n, k, nr, nc = (self.read_int() for _ in range(4))
        return (n, k, nr, nc)

    def read_expect(self, *versions: str) -> str:
        s = self.read_string()
        if s not in versions:
            raise ModelError(f"expected one of {versions}, found {s!r} at offset {self.pos}")
        return s

    @property
    def at_end(self) -> bool:
        return self.pos == len(self._data)


@dataclass(frozen=True, slots=True)
class LayerSpec:
    """One wrapper of a dlib network, as its C++ template declares it.

    ``kind`` is one of ``con``, ``affine``, ``relu``, ``max_pool``, ``avg_pool``,
    ``add_prev``, ``tag``, ``skip``, ``fc``. ``tag`` is the tag number for ``tag``, ``skip``
    and ``add_prev``; the other fields are the template parameters of that layer.
    """

    kind: str
    filters: int = 0
    size: int = 0
    stride: int = 1
    tag: int = 0


@dataclass(frozen=True, slots=True)
class LayerRecord:
    """One layer as read from the file: its spec and its weights (empty when it has none)."""

    spec: LayerSpec
    weights: dict[str, F32] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DlibNetwork:
    """A parsed network: the input layer's means and size, and the layers innermost first."""

    input_means: tuple[float, float, float]  # R, G, B, subtracted before dividing by 256
    input_size: tuple[int, int]  # rows, columns
    layers: tuple[LayerRecord, ...]
    loss: str
    sha256: str


def _ares(n: int) -> list[LayerSpec]:
    """relu<add_prev1<block<n, affine, 1, tag1<SUBNET>>>>, outermost first."""
    return [
        LayerSpec("relu"),
        LayerSpec("add_prev", tag=1),
        LayerSpec("affine"),
        LayerSpec("con", filters=n, size=3, stride=1),
        LayerSpec("relu"),
        LayerSpec("affine"),
        LayerSpec("con", filters=n, size=3, stride=1),
        LayerSpec("tag", tag=1),
    ]


def _ares_down(n: int) -> list[LayerSpec]:
    """relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<n, affine, 2, tag1<SUBNET>>>>>>>."""
    return [
        LayerSpec("relu"),
        LayerSpec("add_prev", tag=2),
        LayerSpec("avg_pool", size=2, stride=2),
        LayerSpec("skip", tag=1),
        LayerSpec("tag", tag=2),
        LayerSpec("affine"),
        LayerSpec("con", filters=n, size=3, stride=1),
        LayerSpec("relu"),
        LayerSpec("affine"),
        LayerSpec("con", filters=n, size=3, stride=2),
        LayerSpec("tag", tag=1),
    ]


def _resnet_v1() -> tuple[LayerSpec, ...]:
    """``anet_type`` of dlib's tools/python/src/face_recognition.cpp, outermost first."""
    layers: list[LayerSpec] = [
        LayerSpec("fc", filters=128),
        LayerSpec("avg_pool", size=0, stride=1),  # avg_pool_everything
    ]
    layers += _ares_down(256)  # alevel0
    layers += _ares(256) + _ares(256) + _ares_down(256)  # alevel1
    layers += _ares(128) + _ares(128) + _ares_down(128)  # alevel2
    layers += _ares(64) + _ares(64) + _ares(64) + _ares_down(64)  # alevel3
    layers += _ares(32) + _ares(32) + _ares(32)  # alevel4
    layers += [
        LayerSpec("max_pool", size=3, stride=2),
        LayerSpec("relu"),
        LayerSpec("affine"),
        LayerSpec("con", filters=32, size=7, stride=2),
    ]
    return tuple(layers)


DLIB_RESNET_V1: tuple[LayerSpec, ...] = _resnet_v1()
"""The face descriptor ResNet (29 conv layers), outermost layer first; input layer implied."""


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ModelError(f"dlib model does not match the expected network: {message}")


def _read_details(s: _Stream, spec: LayerSpec) -> dict[str, F32]:
    """Read one computational layer's own record (the ``details`` object)."""
    kind = spec.kind
    if kind == "con":
        s.read_expect("con_4", "con_5", "con_6")
        params = s.read_tensor()
        num_filters = s.read_int()
        nr, nc, sy, sx, py, px = (s.read_int() for _ in range(6))
        fshape = s.read_alias_tensor()
        bshape = s.read_alias_tensor()
        for _ in range(4):  # learning-rate and weight-decay multipliers
            s.read_float()
        # con_5 adds use_bias and con_6 use_relu; this model predates both.
        _check(num_filters == spec.filters, f"con filters {num_filters} != {spec.filters}")
        _check((nr, nc) == (spec.size, spec.size), f"con size {(nr, nc)}")
        _check((sy, sx) == (spec.stride, spec.stride), f"con stride {(sy, sx)}")
        expected_pad = 0 if spec.stride != 1 else spec.size // 2
        _check((py, px) == (expected_pad, expected_pad), f"con padding {(py, px)}")
        flat = params.reshape(-1)
        nf = int(np.prod(fshape))
        filters = flat[:nf].reshape(fshape[0], fshape[1], fshape[2], fshape[3])
        biases = flat[nf : nf + int(np.prod(bshape))].reshape(-1)
        _check(biases.shape[0] == num_filters, "con bias size")
        return {"filters": filters, "biases": biases, "padding": np.array([py, px], np.float32)}
    if kind == "affine":
        version = s.read_expect("affine_", "affine_2")
        params = s.read_tensor()
        gshape = s.read_alias_tensor()
        s.read_alias_tensor()  # beta has gamma's shape
        mode = s.read_int()
        if version == "affine_2":
            s.read_bool()  # disabled
        _check(mode == 0, f"affine mode {mode} (expected CONV_MODE = 0)")
        flat = params.reshape(-1)
        k = int(np.prod(gshape))
        return {"gamma": flat[:k].copy(), "beta": flat[k : 2 * k].copy()}
    if kind == "relu":
        if s.read_expect("relu_", "relu_2") == "relu_2":
            s.read_bool()
        return {}
    if kind in ("max_pool", "avg_pool"):
        s.read_expect(f"{kind}_2")
        nr, nc, sy, sx, py, px = (s.read_int() for _ in range(6))
        _check((nr, nc) == (spec.size, spec.size), f"{kind} size {(nr, nc)}")
        _check((sy, sx) == (spec.stride, spec.stride), f"{kind} stride {(sy, sx)}")
        _check((py, px) == (0, 0), f"{kind} padding {(py, px)}")
        return {}
    if kind == "add_prev":
        s.read_expect("add_prev_")
        return {}
    if kind == "fc":
        version = s.read_expect("fc_2", "fc_3")
        num_outputs = s.read_int()
        num_inputs = s.read_int()
        params = s.read_tensor()
        wshape = s.read_alias_tensor()
        s.read_alias_tensor()  # biases (unused: fc_no_bias)
        bias_mode = s.read_int()
        for _ in range(4):
            s.read_float()
        if version == "fc_3":
            s.read_bool()
        _check(num_outputs == spec.filters, f"fc outputs {num_outputs}")
        _check(bias_mode == 1, "fc must be fc_no_bias")
        rows, cols = wshape[0], wshape[1]
        _check((rows, cols) == (num_inputs, num_outputs), f"fc weights {wshape}")
        weights = params.reshape(-1)[: rows * cols].reshape(rows, cols)
        return {"weights": weights}
    raise ModelError(f"unsupported layer kind {kind!r}")


def _wrapper_tail(s: _Stream, version: int) -> None:
    """What ``add_layer`` writes after its layer's record: training state we discard."""
    for _ in range(3):  # setup called, gradient stale, output/gradient disabled
        s.read_bool()
    s.read_tensor()  # x_grad
    s.read_tensor()  # cached_output
    if version == 2:
        s.read_tensor()  # params_grad


def read_dlib_network(path: str | Path, spec: Sequence[LayerSpec] = DLIB_RESNET_V1) -> DlibNetwork:
    """Parse a dlib ``loss_metric`` network file laid out as ``spec`` (outermost first).

    Raises :class:`~facepay.errors.ModelError` when the file is missing, truncated, or does
    not hold the network ``spec`` describes.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read dlib model {path}: {exc}") from exc
    s = _Stream(data)
    s.read_version((1,), "add_loss_layer")
    loss = s.read_expect("loss_metric_", "loss_metric_2")
    if loss == "loss_metric_2":
        s.read_float()  # margin
        s.read_float()  # distance threshold used in training
    # The run of versions, outermost wrapper inward; the last add_layer sits on the input.
    versions: list[int] = []
    for i, layer in enumerate(spec):
        if layer.kind in ("tag", "skip"):
            versions.append(s.read_version((1,), f"{layer.kind} layer"))
        elif i == len(spec) - 1:
            versions.append(s.read_version((2, 3), "input add_layer"))
        else:
            versions.append(s.read_version((1, 2), "add_layer"))
    s.read_expect("input_rgb_image_sized")
    means = (s.read_float(), s.read_float(), s.read_float())
    rows, cols = s.read_int(), s.read_int()
    records: list[LayerRecord] = []
    for i in range(len(spec) - 1, -1, -1):
        layer = spec[i]
        if layer.kind in ("tag", "skip"):
            records.append(LayerRecord(layer))
            continue
        weights = _read_details(s, layer)
        if i == len(spec) - 1:
            for _ in range(3):
                s.read_bool()
            s.read_tensor()  # x_grad
            s.read_tensor()  # cached_output
            s.read_tensor()  # grad_final
            if versions[i] >= 3:
                s.read_int()  # sample expansion factor
        else:
            _wrapper_tail(s, versions[i])
        records.append(LayerRecord(layer, weights))
    if not s.at_end:
        raise ModelError(f"{len(data) - s.pos} unexpected bytes after the network")
    return DlibNetwork(
        input_means=means,
        input_size=(rows, cols),
        layers=tuple(records),
        loss=loss,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def iter_weights(net: DlibNetwork) -> Iterator[tuple[int, str, F32]]:
    """(layer index, name, array) for every weight array, innermost layer first."""
    for i, rec in enumerate(net.layers):
        for name, arr in rec.weights.items():
            yield i, name, arr

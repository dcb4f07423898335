"""FaceTemplate <-> bytes: exact layout, and every malformed input refused."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from facepay.crypto import decode_template, encode_template
from facepay.errors import TemplateFormatError
from facepay.types import FaceTemplate


def test_layout_is_as_documented() -> None:
    t = FaceTemplate(vector=np.array([1.0, -2.0], dtype=np.float32), model_id="m1", frames_fused=3)
    data = encode_template(t)
    assert data == b"FPT\x01" + b"\x00\x02" + b"\x00\x03" + b"\x02" + b"m1" + struct.pack(
        "<2f", 1.0, -2.0
    )


@settings(max_examples=60, deadline=None)
@given(
    vec=arrays(np.float32, st.integers(1, 600), elements=st.floats(-1e6, 1e6, width=32)),
    model=st.text(
        alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40
    ),
    frames=st.integers(1, 65535),
)
def test_round_trip(vec: np.ndarray, model: str, frames: int) -> None:
    out = decode_template(
        encode_template(FaceTemplate(vector=vec, model_id=model, frames_fused=frames))
    )
    np.testing.assert_array_equal(out.vector, vec)
    assert out.vector.dtype == np.float32
    assert out.model_id == model
    assert out.frames_fused == frames


def test_float64_input_is_stored_as_float32() -> None:
    t = FaceTemplate(vector=np.array([0.1, 0.2]), model_id="m")  # type: ignore[arg-type]
    assert decode_template(encode_template(t)).vector.dtype == np.float32


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_encode_refuses_non_finite(bad: float) -> None:
    with pytest.raises(TemplateFormatError):
        encode_template(FaceTemplate(vector=np.array([0.0, bad], dtype=np.float32), model_id="m"))


def test_encode_refuses_bad_shapes_and_ids() -> None:
    for vec, model in (
        (np.zeros((2, 2), dtype=np.float32), "m"),
        (np.zeros(0, dtype=np.float32), "m"),
        (np.zeros(4097, dtype=np.float32), "m"),
        (np.zeros(3, dtype=np.int32), "m"),
        (np.zeros(3, dtype=np.float32), ""),
        (np.zeros(3, dtype=np.float32), "has space"),
        (np.zeros(3, dtype=np.float32), "模型"),
    ):
        with pytest.raises(TemplateFormatError):
            encode_template(FaceTemplate(vector=vec, model_id=model))


def test_decode_refuses_every_malformation() -> None:
    good = encode_template(FaceTemplate(vector=np.ones(4, dtype=np.float32), model_id="m"))
    nan = good[:-4] + struct.pack("<f", float("nan"))
    inf = good[:-4] + struct.pack("<f", float("inf"))
    cases = [
        b"",
        good[:5],
        good[:-1],
        good + b"\x00",
        b"XPT\x01" + good[4:],
        b"FPT\x02" + good[4:],  # unknown version
        good[:4] + b"\x00\x00" + good[6:],  # dimension 0
        good[:6] + b"\x00\x00" + good[8:],  # frames 0
        good[:8] + b"\x00" + good[9:],  # empty model id
        good[:9] + b" " + good[10:],  # non-printable model id
        good[:9] + b"\xff" + good[10:],
        nan,
        inf,
    ]
    for data in cases:
        with pytest.raises(TemplateFormatError):
            decode_template(data)
    assert isinstance(TemplateFormatError("x"), ValueError)

"""FaceTemplate <-> bytes: the plaintext that is sealed on the wire and encrypted at rest.

Layout (version 1, all integers big-endian, vector little-endian)::

    offset  size  field
    0       4     magic  b"FPT\\x01" ("FacePay Template", format version 1)
    4       2     dimension (1..4096)
    6       2     frames_fused (1..65535)
    8       1     length L of model_id (1..255)
    9       L     model_id, ASCII printable
    9+L     4*dim vector, float32 little-endian

Nothing else: no padding, no trailing bytes. Decoding rejects every deviation, and any
NaN or infinity, with :class:`facepay.errors.TemplateFormatError`.
"""

from __future__ import annotations

import struct

import numpy as np

from facepay.errors import TemplateFormatError
from facepay.types import FaceTemplate

__all__ = ["MAX_TEMPLATE_DIMENSION", "decode_template", "encode_template"]

_MAGIC = b"FPT\x01"
_HEADER = struct.Struct(">4sHHB")
MAX_TEMPLATE_DIMENSION = 4096


def _check_model_id(model_id: str) -> bytes:
    try:
        raw = model_id.encode("ascii")
    except UnicodeEncodeError:
        raise TemplateFormatError("model_id must be ASCII") from None
    if not 1 <= len(raw) <= 255 or not all(0x21 <= b <= 0x7E for b in raw):
        raise TemplateFormatError("model_id must be 1..255 printable ASCII characters")
    return raw


def encode_template(template: FaceTemplate) -> bytes:
    """Serialize ``template``; raises TemplateFormatError for a vector we could not decode."""
    vector = np.asarray(template.vector)
    if vector.ndim != 1 or not 1 <= vector.shape[0] <= MAX_TEMPLATE_DIMENSION:
        raise TemplateFormatError("template vector must be 1-D with 1..4096 values")
    if not np.issubdtype(vector.dtype, np.floating):
        raise TemplateFormatError("template vector must hold floats")
    as32 = vector.astype("<f4")
    if not np.all(np.isfinite(as32)):
        raise TemplateFormatError("template vector holds NaN or infinity")
    if not 1 <= template.frames_fused <= 0xFFFF:
        raise TemplateFormatError("frames_fused must be 1..65535")
    model = _check_model_id(template.model_id)
    header = _HEADER.pack(_MAGIC, as32.shape[0], template.frames_fused, len(model))
    return header + model + as32.tobytes()


def decode_template(data: bytes) -> FaceTemplate:
    """Parse bytes made by :func:`encode_template`; the vector comes back as float32."""
    data = bytes(data)
    if len(data) < _HEADER.size:
        raise TemplateFormatError("template bytes truncated")
    magic, dim, frames, model_len = _HEADER.unpack_from(data)
    if magic != _MAGIC:
        raise TemplateFormatError("not a facepay template (bad magic or version)")
    if not 1 <= dim <= MAX_TEMPLATE_DIMENSION or frames < 1 or model_len < 1:
        raise TemplateFormatError("template header out of range")
    expected = _HEADER.size + model_len + 4 * dim
    if len(data) != expected:
        raise TemplateFormatError(f"template bytes have the wrong size ({len(data)} != {expected})")
    start = _HEADER.size
    try:
        model_id = data[start : start + model_len].decode("ascii")
    except UnicodeDecodeError:
        raise TemplateFormatError("model_id is not ASCII") from None
    _check_model_id(model_id)
    vector = np.frombuffer(data, dtype="<f4", count=dim, offset=start + model_len)
    if not np.all(np.isfinite(vector)):
        raise TemplateFormatError("template vector holds NaN or infinity")
    native = vector.astype(np.float32)  # a writable, native-order copy
    return FaceTemplate(vector=native, model_id=model_id, frames_fused=frames)

"""Passive presentation-attack detection: any single-frame ONNX model, by model card.

facepay ships **no** default passive model. The open anti-spoofing models we know of
(MiniFASNet / Silent-Face, the CelebA-Spoof baselines, ...) are not on a package registry
under a licence that allows commercial use with weights we could produce ourselves, and an
unmeasured model is worse than none: it gives a number that looks like evidence. A retailer
who has a model (their vendor's, or their own) describes it in a :class:`PadModelCard` and
plugs it in; its score then joins the verdict's evidence and can refuse, never accept alone.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from facepay.errors import ModelError
from facepay.types import FaceObservation, Frame

__all__ = ["PadModel", "PadModelCard"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class PadModelCard:
    """How to run one single-frame anti-spoofing ONNX model.

    ``crop_scale``: side of the square crop as a multiple of the larger side of the face box
    (e.g. 2.7 for MiniFASNet's context crops, 1.0 for a tight crop). Pixels are converted
    to ``(value * pixel_scale - mean) / std`` per channel, in ``channel_order``, laid out
    ``layout``. ``live_index`` is the output column that means "live"; ``output`` says
    whether the outputs are ``"logits"`` (softmax is applied), ``"probabilities"`` or a
    single ``"sigmoid"`` live score. ``threshold``: live score at or above which a frame
    counts as live (the card's own operating point). ``licence`` must be stated: a till in a
    shop is commercial use.
    """

    name: str
    path: Path
    input_size: tuple[int, int]  # width, height
    licence: str
    crop_scale: float = 1.0
    channel_order: str = "RGB"
    layout: str = "NCHW"
    pixel_scale: float = 1.0 / 255.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    output: str = "logits"
    live_index: int = 0
    threshold: float = 0.5
    sha256: str | None = None

    def __post_init__(self) -> None:
        if self.channel_order not in ("RGB", "BGR"):
            raise ModelError(f"{self.name}: channel_order must be RGB or BGR")
        if self.layout not in ("NCHW", "NHWC"):
            raise ModelError(f"{self.name}: layout must be NCHW or NHWC")
        if self.output not in ("logits", "probabilities", "sigmoid"):
            raise ModelError(f"{self.name}: output must be logits, probabilities or sigmoid")
        if not self.licence.strip():
            raise ModelError(f"{self.name}: the model card must state the weights' licence")
        if self.crop_scale <= 0 or min(self.input_size) <= 0:
            raise ModelError(f"{self.name}: crop_scale and input_size must be positive")

    @classmethod
    def from_json(cls, path: str | Path) -> PadModelCard:
        """Read a card from JSON; a relative ``path`` is relative to the card's folder."""
        card_path = Path(path)
        try:
            raw: dict[str, Any] = json.loads(card_path.read_text(encoding="utf-8"))
            model_path = Path(raw.pop("path"))
            if not model_path.is_absolute():
                model_path = card_path.parent / model_path
            for key in ("input_size", "mean", "std"):
                if key in raw:
                    raw[key] = tuple(raw[key])
            return cls(path=model_path, **raw)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"cannot read PAD model card {card_path}: {exc}") from exc


class PadModel:
    """A loaded single-frame PAD model. ``live_score(frame, face)`` is in 0..1."""

    def __init__(self, card: PadModelCard, session: Any) -> None:
        self.card = card
        self._session = session
        self._input = session.get_inputs()[0].name

    @classmethod
    def from_model_card(cls, card: PadModelCard) -> PadModel:
        from facepay._onnxruntime_privacy import before_importing

        before_importing()  # no telemetry queue or device id on the till (docs/privacy.md)
        import onnxruntime as ort

        try:
            data = card.path.read_bytes()
        except OSError as exc:
            raise ModelError(f"{card.name}: cannot read {card.path}: {exc}") from exc
        if card.sha256 is not None and hashlib.sha256(data).hexdigest() != card.sha256.lower():
            raise ModelError(f"{card.name}: {card.path} does not match the card's sha256")
        try:
            session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"{card.name}: onnxruntime cannot load the model: {exc}") from exc
        return cls(card, session)

    def _crop(self, image: npt.NDArray[np.uint8], face: FaceObservation) -> npt.NDArray[np.uint8]:
        cx, cy = face.box.center
        side = max(face.box.width, face.box.height) * self.card.crop_scale
        w, h = self.card.input_size
        # An affine map from the square crop to the model input; outside the frame is
        # filled by replicating the border, as the common PAD training pipelines do.
        s = w / side
        m = np.array([[s, 0, w / 2 - s * cx], [0, h / side, h / 2 - (h / side) * cy]], np.float32)
        out = cv2.warpAffine(
            image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        return np.asarray(out, np.uint8)

    def live_score(self, frame: Frame, face: FaceObservation) -> float:
        c = self.card
        crop = self._crop(frame.image, face)
        if c.channel_order == "BGR":
            crop = crop[:, :, ::-1]
        x = (crop.astype(np.float32) * c.pixel_scale - np.array(c.mean, np.float32)) / np.array(
            c.std, np.float32
        )
        x = x.transpose(2, 0, 1)[None] if c.layout == "NCHW" else x[None]
        try:
            out = np.asarray(self._session.run(None, {self._input: np.ascontiguousarray(x)})[0])
        except Exception as exc:
            raise ModelError(f"{c.name}: inference failed: {exc}") from exc
        v = out.reshape(-1).astype(np.float64)
        if c.output == "sigmoid":
            return float(1.0 / (1.0 + np.exp(-v[0])))
        if c.output == "logits":
            v = np.exp(v - v.max())
            v = v / v.sum()
        return float(v[c.live_index])

    def is_live(self, frame: Frame, face: FaceObservation) -> bool:
        return self.live_score(frame, face) >= self.card.threshold

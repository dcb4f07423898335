"""Face templates: the :class:`Embedder` protocol, the default dlib ResNet on onnxruntime,
any ArcFace-style ONNX model described by a :class:`ModelCard`, multi-frame fusion and
comparison.

Scores are **distances** for every metric (smaller = more alike) so that one rule reads
the same everywhere: two templates match when ``compare(a, b) <= threshold``.

- ``cosine`` (the default dlib ResNet, and ArcFace-style models): ``1 - cos(a, b)``, in
  [0, 2]; for dlib this beats the raw Euclidean distance its loss was trained with
  (docs/accuracy.md);
- ``euclidean``: the L2 distance between raw, unnormalised vectors, for models whose card
  says so.

Fusion (:func:`fuse_templates`): a checkout's template is the mean of the templates of its
best few frames (ranked by the quality gate's utility score). For ``euclidean`` the raw
descriptors are averaged (the centroid minimises the summed squared distance to the frames
in the very space the threshold lives in); for ``cosine`` the vectors are L2-normalised
first and the mean is normalised again, so no frame weighs more for having a longer
vector. Fusing averages out per-frame noise (blink, motion blur, a landmark jitter), which
is why genuine distances shrink; it cannot fix a frame of the wrong person, which is the
quality gate's job ("exactly one face").

Recipes (``EmbedderConfig.mirror_average``, ``EmbedderConfig.jitters``): one frame's
template may itself be an average, over the chip and the same face cut from the frame
flipped left to right, and over fixed small jitters of both (:data:`TEMPLATE_JITTERS`).
A recipe other than the plain one is part of the template's model id
(:func:`recipe_model_id`), so templates made two ways are never compared, here
(:func:`compare` refuses two model ids) or in the backend. Mirror averaging is the
default recipe (``dlib-resnet-v1+mirror``); docs/accuracy.md, "Making templates: mirror
and jitter averaging", has what each recipe gains and costs.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from facepay.config import MAX_TEMPLATE_JITTERS, EmbedderConfig
from facepay.errors import FaceNotUsableError, InvalidImageError, ModelError
from facepay.types import FaceObservation, FaceTemplate, Frame, ImageArray
from facepay.vision._alignment import (
    DLIB_5_POINT_TEMPLATE,
    ChipJitter,
    ChipSpec,
    extract_chip,
    mirror_partners,
    mirror_points,
)

__all__ = [
    "DLIB_RESNET_CARD",
    "TEMPLATE_JITTERS",
    "DlibResNetEmbedder",
    "Embedder",
    "ModelCard",
    "OnnxEmbedder",
    "compare",
    "fuse_templates",
    "recipe_model_id",
]

logger = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]

# Mediapipe face-mesh indices in dlib's 5-point order: the subject's LEFT eye outer (263)
# and inner (362) corners (on the image's right), the RIGHT eye outer (33) and inner (133)
# corners, and the point just below the nose tip (2). Checked against dlib's own 5-point
# predictor: same chip, no measurable loss (docs/models.md).
DLIB_5_POINT_MESH: tuple[tuple[int, ...], ...] = ((263,), (362,), (33,), (133,), (2,))

_METRICS = ("cosine", "euclidean")

# EmbedderConfig.jitters takes the first N of these, in this order: 2-pixel shifts in the
# four directions, then 3% zoom in and out, then 3-degree turns: the range dlib's own
# jitter_image draws from at random (2% of the face, 0.97-1.0 zoom, 3 degrees), fixed here
# so that a frame always gives the same template.
TEMPLATE_JITTERS: tuple[ChipJitter, ...] = (
    ChipJitter(dx=2.0),
    ChipJitter(dx=-2.0),
    ChipJitter(dy=2.0),
    ChipJitter(dy=-2.0),
    ChipJitter(zoom=1.03),
    ChipJitter(zoom=0.97),
    ChipJitter(degrees=3.0),
    ChipJitter(degrees=-3.0),
)
assert len(TEMPLATE_JITTERS) == MAX_TEMPLATE_JITTERS


def recipe_model_id(model_id: str, *, mirror_average: bool = False, jitters: int = 0) -> str:
    """The model id a template made by this recipe carries.

    The plain recipe keeps the model's id; any other adds ``+mirror`` and/or
    ``+jitterN``, so that templates made two ways are never compared: to the backend they
    are two models (``ServerConfig.template_models``).
    """
    suffix = ("+mirror" if mirror_average else "") + (f"+jitter{jitters}" if jitters else "")
    return model_id + suffix


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelCard:
    """Everything facepay must know to run a face-embedding ONNX model correctly.

    A retailer bringing its own (licensed) model writes one of these as JSON next to the
    ``.onnx`` file (see ``examples/custom_embedder.py`` and ``docs/models.md``).

    The chip is cut by aligning ``alignment_landmarks`` (face-mesh indices; a point that
    lists several indices is their mean, e.g. an eye centre) to ``alignment_template``
    (points on the unit square of the face, padded by ``chip_padding`` on each side, then
    scaled to ``input_size``). The chip (RGB ``uint8``) is then reordered to
    ``channel_order``, normalised as ``(v - mean) / std`` per channel when ``input_dtype``
    is ``float32`` (passed as-is when ``uint8``), laid out as ``layout`` and fed to
    ``input_name``; ``output_name`` gives the embedding.
    """

    model_id: str
    input_size: int = 112
    layout: str = "NCHW"  # or "NHWC"
    input_dtype: str = "float32"  # or "uint8" (the graph normalises itself)
    channel_order: str = "RGB"  # or "BGR"
    mean: tuple[float, float, float] = (127.5, 127.5, 127.5)
    std: tuple[float, float, float] = (127.5, 127.5, 127.5)
    alignment_template: tuple[tuple[float, float], ...] = DLIB_5_POINT_TEMPLATE
    alignment_landmarks: tuple[tuple[int, ...], ...] = DLIB_5_POINT_MESH
    chip_padding: float = 0.0
    chip_method: str = "warp"  # "dlib" to reproduce dlib's get_face_chip exactly
    metric: str = "cosine"
    default_threshold: float = 0.6
    embedding_size: int = 512
    input_name: str | None = None  # None: the model's first input
    output_name: str | None = None  # None: the model's first output
    licence: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        problems = []
        if not self.model_id:
            problems.append("model_id is empty")
        if self.layout not in ("NCHW", "NHWC"):
            problems.append(f"layout must be NCHW or NHWC, not {self.layout!r}")
        if self.input_dtype not in ("float32", "uint8"):
            problems.append(f"input_dtype must be float32 or uint8, not {self.input_dtype!r}")
        if self.channel_order not in ("RGB", "BGR"):
            problems.append(f"channel_order must be RGB or BGR, not {self.channel_order!r}")
        if self.metric not in _METRICS:
            problems.append(f"metric must be one of {_METRICS}, not {self.metric!r}")
        if len(self.mean) != 3 or len(self.std) != 3 or any(s == 0 for s in self.std):
            problems.append("mean and std need 3 values and std must not be 0")
        if len(self.alignment_template) != len(self.alignment_landmarks):
            problems.append("alignment_template and alignment_landmarks differ in length")
        if len(self.alignment_template) < 2:
            problems.append("alignment needs at least 2 points")
        if any(
            not group or any(i < 0 or i >= 478 for i in group) for group in self.alignment_landmarks
        ):
            problems.append("alignment_landmarks must be face-mesh indices 0..477")
        if self.input_size < 8 or self.embedding_size < 1:
            problems.append("input_size and embedding_size must be positive")
        if not self.default_threshold > 0:
            problems.append("default_threshold must be > 0")
        if problems:
            raise ModelError("invalid model card: " + "; ".join(problems))

    @property
    def chip_spec(self) -> ChipSpec:
        return ChipSpec(
            size=self.input_size,
            padding=self.chip_padding,
            template=self.alignment_template,
            method=self.chip_method,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelCard:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ModelError(f"invalid model card: unknown fields {sorted(unknown)}")
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key in ("mean", "std"):
                value = tuple(float(v) for v in value)
            elif key == "alignment_template":
                value = tuple((float(p[0]), float(p[1])) for p in value)
            elif key == "alignment_landmarks":
                value = tuple(
                    (int(g),) if isinstance(g, int) else tuple(int(i) for i in g) for g in value
                )
            values[key] = value
        try:
            return cls(**values)
        except TypeError as exc:
            raise ModelError(f"invalid model card: {exc}") from exc

    @classmethod
    def from_json(cls, source: str | Path) -> ModelCard:
        """Read a card from a JSON file path, or from a JSON string."""
        try:
            text = (
                Path(source).read_text(encoding="utf-8")
                if isinstance(source, Path) or not str(source).lstrip().startswith("{")
                else str(source)
            )
            data = json.loads(text)
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read model card {source}: {exc}") from exc
        if not isinstance(data, dict):
            raise ModelError("a model card is a JSON object")
        return cls.from_dict(data)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


@runtime_checkable
class Embedder(Protocol):
    """Turns a face into a template. ``embed`` aligns the chip from the face's mesh."""

    @property
    def model_id(self) -> str: ...

    @property
    def metric(self) -> str: ...

    @property
    def default_threshold(self) -> float: ...

    def embed(self, frame: Frame | ImageArray, face: FaceObservation) -> FaceTemplate: ...


# model_id -> metric, so that compare()/fuse_templates() on bare templates know the space.
_KNOWN_METRICS: dict[str, str] = {}
_KNOWN_LOCK = threading.Lock()


def _register(model_id: str, metric: str) -> None:
    with _KNOWN_LOCK:
        previous = _KNOWN_METRICS.setdefault(model_id, metric)
    if previous != metric:
        raise ModelError(f"model_id {model_id!r} is already registered with metric {previous}")


def _metric_for(template: FaceTemplate, metric: str | None) -> str:
    if metric is not None:
        if metric not in _METRICS:
            raise ValueError(f"metric must be one of {_METRICS}")
        return metric
    found = _KNOWN_METRICS.get(template.model_id)
    if found is None:
        raise ValueError(
            f"unknown model {template.model_id!r}: pass metric='cosine' or 'euclidean'"
        )
    return found


class OnnxEmbedder:
    """An embedder running an ONNX model on onnxruntime, described by a :class:`ModelCard`.

    One session per embedder (sessions are thread-safe for ``run``); ``intra_op_threads``
    cores per inference (1 by default: the till runs landmarks and liveness alongside).
    """

    def __init__(
        self,
        card: ModelCard,
        model: str | Path | bytes,
        *,
        config: EmbedderConfig | None = None,
    ) -> None:
        from facepay._onnxruntime_privacy import before_importing

        before_importing()  # no telemetry queue or device id on the till (docs/privacy.md)
        import onnxruntime as ort

        self.card = card
        self.config = config or EmbedderConfig()
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, self.config.intra_op_threads)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        source: str | bytes = model if isinstance(model, bytes) else str(model)
        try:
            self._session = ort.InferenceSession(
                source, options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ModelError(f"cannot load ONNX model for {card.model_id}: {exc}") from exc
        inputs = self._session.get_inputs()
        outputs = self._session.get_outputs()
        self._input = card.input_name or inputs[0].name
        self._output = card.output_name or outputs[0].name
        if self._input not in {i.name for i in inputs}:
            raise ModelError(f"model has no input {self._input!r}")
        if self._output not in {o.name for o in outputs}:
            raise ModelError(f"model has no output {self._output!r}")
        self._chip_spec = card.chip_spec
        self._mean = np.asarray(card.mean, dtype=np.float32)
        self._std = np.asarray(card.std, dtype=np.float32)
        self._groups = [list(g) for g in card.alignment_landmarks]
        jitters = TEMPLATE_JITTERS[: self.config.jitters]
        self._jitters: tuple[ChipJitter | None, ...] = (None, *jitters)
        self._partners: tuple[int, ...] | None = None
        if self.config.mirror_average:
            try:
                self._partners = mirror_partners(card.alignment_template)
            except ValueError as exc:
                raise ModelError(
                    f"{card.model_id}: cannot average mirrored faces ({exc}); the default "
                    "recipe mirrors: pass EmbedderConfig(mirror_average=False) for this card"
                ) from exc
        self._model_id = recipe_model_id(
            card.model_id, mirror_average=self.config.mirror_average, jitters=self.config.jitters
        )
        _register(card.model_id, card.metric)
        _register(self._model_id, card.metric)

    @classmethod
    def from_model_card(
        cls,
        card: ModelCard | str | Path,
        model_path: str | Path,
        *,
        config: EmbedderConfig | None = None,
    ) -> OnnxEmbedder:
        """Load ``model_path`` as described by ``card`` (a ModelCard or its JSON file)."""
        if not isinstance(card, ModelCard):
            card = ModelCard.from_json(card)
        return cls(card, model_path, config=config)

    # -- the Embedder protocol ----------------------------------------------------------

    @property
    def model_id(self) -> str:
        """The id the templates of :meth:`embed` carry: the card's, plus the recipe."""
        return self._model_id

    @property
    def metric(self) -> str:
        return self.card.metric

    @property
    def default_threshold(self) -> float:
        return self.card.default_threshold

    def alignment_points(self, face: FaceObservation) -> F32:
        """The card's alignment points for ``face``, in pixels."""
        lm = np.asarray(face.landmarks, dtype=np.float32)
        if lm.ndim != 2 or lm.shape[0] < 478 or lm.shape[1] < 2:
            raise FaceNotUsableError("face has no usable landmarks", ("no_face",))
        pts: F32 = np.stack([lm[g, :2].mean(axis=0) for g in self._groups]).astype(np.float32)
        if not np.all(np.isfinite(pts)):
            raise FaceNotUsableError("face landmarks are missing", ("no_face",))
        return pts

    def chip(self, frame: Frame | ImageArray, face: FaceObservation) -> ImageArray:
        """The aligned chip (RGB uint8, ``input_size`` square) this model embeds."""
        image = frame.image if isinstance(frame, Frame) else frame
        return extract_chip(image, self.alignment_points(face), self._chip_spec)

    def recipe_chips(self, frame: Frame | ImageArray, face: FaceObservation) -> list[ImageArray]:
        """Every chip :meth:`embed` averages: the plain chip, its jitters, and with
        ``mirror_average`` the same cut from the frame flipped left to right.

        The mirrored chips are aligned to the mirrored face (its points swapped left for
        right), not flipped copies of the plain chip: dlib's template is symmetric about
        x = 0.4901, not about the chip's centre, so a flipped chip would sit a pixel off.
        Cut this way a frame and its mirror image give the same set of chips.
        """
        image = frame.image if isinstance(frame, Frame) else frame
        points = self.alignment_points(face)
        chips = [extract_chip(image, points, self._chip_spec, jitter=j) for j in self._jitters]
        if self._partners is not None:
            import cv2

            # cv2.flip, not image[:, ::-1]: numpy copies a reversed RGB row pixel by pixel
            # (19 ms for 640x480 on the build machine, 0.03 ms with OpenCV).
            flipped: ImageArray = np.asarray(cv2.flip(np.ascontiguousarray(image), 1), np.uint8)
            mirrored = mirror_points(points, image.shape[1], self._partners)
            chips += [
                extract_chip(flipped, mirrored, self._chip_spec, jitter=j) for j in self._jitters
            ]
        return chips

    def embed(self, frame: Frame | ImageArray, face: FaceObservation) -> FaceTemplate:
        chips = self.recipe_chips(frame, face)
        vectors = self._descriptors(chips)
        if len(chips) == 1:
            return FaceTemplate(vector=vectors[0].copy(), model_id=self.model_id)
        if self.card.metric == "cosine":  # directions, as fuse_templates does for cosine
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        mean = vectors.astype(np.float64).mean(axis=0)
        if self.card.metric == "cosine":
            mean /= max(float(np.linalg.norm(mean)), 1e-12)
        return FaceTemplate(vector=mean.astype(np.float32), model_id=self.model_id)

    def embed_chip(self, chip: ImageArray) -> FaceTemplate:
        """Template of one already aligned chip (the plain recipe: the card's model id)."""
        return self.embed_chips([chip])[0]

    def embed_chips(self, chips: Sequence[ImageArray]) -> list[FaceTemplate]:
        """Templates of several aligned chips in one inference call, each on its own
        (the plain recipe, so they carry the card's model id, not the embedder's)."""
        return [
            FaceTemplate(vector=v.copy(), model_id=self.card.model_id)
            for v in self._descriptors(chips)
        ]

    def _descriptors(self, chips: Sequence[ImageArray]) -> F32:
        """The model's raw output for each chip, one row per chip."""
        if not chips:
            return np.zeros((0, self.card.embedding_size), dtype=np.float32)
        size = self.card.input_size
        batch = []
        for chip in chips:
            if (
                not isinstance(chip, np.ndarray)
                or chip.dtype != np.uint8
                or chip.shape != (size, size, 3)
            ):
                raise InvalidImageError(f"a chip must be RGB uint8 of shape ({size}, {size}, 3)")
            batch.append(chip)
        x: npt.NDArray[Any] = np.stack(batch)
        if self.card.channel_order == "BGR":
            x = x[..., ::-1]
        if self.card.input_dtype == "float32":
            x = (x.astype(np.float32) - self._mean) / self._std
        if self.card.layout == "NCHW":
            x = x.transpose(0, 3, 1, 2)
        x = np.ascontiguousarray(x)
        try:
            out = self._session.run([self._output], {self._input: x})[0]
        except Exception as exc:
            raise ModelError(f"{self.model_id} inference failed: {exc}") from exc
        vectors: F32 = np.asarray(out, dtype=np.float32).reshape(len(batch), -1)
        if vectors.shape[1] != self.card.embedding_size:
            raise ModelError(
                f"{self.model_id} gave {vectors.shape[1]}-d embeddings, card says "
                f"{self.card.embedding_size}"
            )
        return vectors

    def compare(self, a: FaceTemplate, b: FaceTemplate) -> float:
        return compare(a, b, metric=self.metric)

    def fuse(self, templates: Sequence[FaceTemplate]) -> FaceTemplate:
        return fuse_templates(templates, metric=self.metric)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_id={self.model_id!r}, metric={self.metric!r})"


DLIB_RESNET_CARD = ModelCard(
    model_id="dlib-resnet-v1",
    input_size=150,
    layout="NHWC",
    input_dtype="uint8",  # the converted graph does dlib's (v - mean) / 256 itself
    channel_order="RGB",
    mean=(0.0, 0.0, 0.0),
    std=(1.0, 1.0, 1.0),
    alignment_template=DLIB_5_POINT_TEMPLATE,
    alignment_landmarks=DLIB_5_POINT_MESH,
    chip_padding=0.25,
    chip_method="dlib",
    # dlib's descriptors are not unit length (norms ~1.3 to 1.6); comparing directions
    # (cosine) separates people better than raw Euclidean distance on our calibration
    # data (docs/accuracy.md) and is what the backend does.
    metric="cosine",
    default_threshold=EmbedderConfig().match_distance,
    embedding_size=128,
    input_name="image",
    output_name="descriptor",
    licence="CC0-1.0 (weights: Davis E. King, dlib_face_recognition_resnet_model_v1.dat)",
    description=(
        "dlib's ResNet-29 face descriptor (LFW 99.38% as published by dlib), converted to "
        "ONNX by facepay from the face_recognition_models package"
    ),
)


class DlibResNetEmbedder(OnnxEmbedder):
    """The default embedder: dlib's ResNet face descriptor (128-d) on onnxruntime.

    The ONNX graph is converted from ``dlib_face_recognition_resnet_model_v1.dat`` on first
    use and cached (see ``_model_cache``). Its output matches dlib's own to ~3e-7.
    """

    def __init__(
        self, config: EmbedderConfig | None = None, *, model_path: str | Path | None = None
    ) -> None:
        from facepay.vision._model_cache import dlib_resnet_onnx_path

        config = config or EmbedderConfig()
        onnx_path = dlib_resnet_onnx_path(Path(model_path) if model_path else None)
        card = DLIB_RESNET_CARD
        if config.match_distance != card.default_threshold:
            card = _replace_threshold(card, config.match_distance)
        super().__init__(card, onnx_path, config=config)


def _replace_threshold(card: ModelCard, threshold: float) -> ModelCard:
    data = asdict(card)
    data["default_threshold"] = threshold
    return ModelCard.from_dict(data)


_register(DLIB_RESNET_CARD.model_id, DLIB_RESNET_CARD.metric)
# The shipped recipe's id too ("dlib-resnet-v1+mirror"), so templates a default till made
# compare without an embedder built in this process (a backend's tools, the testing kit).
_register(
    recipe_model_id(
        DLIB_RESNET_CARD.model_id,
        mirror_average=EmbedderConfig().mirror_average,
        jitters=EmbedderConfig().jitters,
    ),
    DLIB_RESNET_CARD.metric,
)


def compare(a: FaceTemplate, b: FaceTemplate, *, metric: str | None = None) -> float:
    """Distance between two templates of the same model (smaller = more alike).

    ``metric`` defaults to the one registered for the templates' model (every embedder
    registers its model when created; ``dlib-resnet-v1`` and the default recipe's
    ``dlib-resnet-v1+mirror`` are always known).
    """
    if a.model_id != b.model_id:
        raise ValueError(f"cannot compare templates of {a.model_id!r} and {b.model_id!r}")
    m = _metric_for(a, metric)
    va = np.asarray(a.vector, dtype=np.float64)
    vb = np.asarray(b.vector, dtype=np.float64)
    if va.shape != vb.shape:
        raise ValueError("templates differ in dimension")
    if m == "euclidean":
        return float(np.linalg.norm(va - vb))
    na, nb = np.linalg.norm(va), np.linalg.norm(vb)
    if na == 0 or nb == 0:
        return 1.0
    return float(1.0 - np.dot(va, vb) / (na * nb))


def fuse_templates(
    templates: Sequence[FaceTemplate],
    *,
    metric: str | None = None,
    weights: Sequence[float] | None = None,
) -> FaceTemplate:
    """One template from several frames of the same face (see the module docstring).

    ``weights`` (e.g. the frames' quality utility scores) default to equal.
    """
    if not templates:
        raise ValueError("nothing to fuse")
    model_id = templates[0].model_id
    if any(t.model_id != model_id for t in templates):
        raise ValueError("cannot fuse templates of different models")
    m = _metric_for(templates[0], metric)
    vs = np.stack([np.asarray(t.vector, dtype=np.float64) for t in templates])
    w = np.ones(len(templates)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(templates),) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError("weights must be non-negative, one per template, not all zero")
    if m == "cosine":
        norms = np.linalg.norm(vs, axis=1, keepdims=True)
        vs = vs / np.where(norms == 0, 1.0, norms)
    fused = (w[:, None] * vs).sum(axis=0) / w.sum()
    if m == "cosine":
        n = np.linalg.norm(fused)
        fused = fused / n if n > 0 else fused
    frames = sum(t.frames_fused for t in templates)
    return FaceTemplate(vector=fused.astype(np.float32), model_id=model_id, frames_fused=frames)

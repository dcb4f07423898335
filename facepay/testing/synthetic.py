"""Synthetic face templates: a person is a random unit vector, another capture of them is
that vector plus a little noise. For tests and proofs about what happens after the face
(matching, sealing, the protocol, the till's retry and reconcile), where running the face
models would only cost time.

:class:`SyntheticFaces` is a till's face stage made of them: the analyzer passes every
frame, the liveness check is live on the first frame it sees, and the embedder returns the
probe vector the camera named (:meth:`SyntheticFaces.camera`), so a real
:class:`facepay.Till` fuses, seals and sends exactly that vector, in milliseconds. The
face pipeline itself is measured on real clips (``facepay eval sessions|verify``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from facepay.types import (
    BoundingBox,
    FaceObservation,
    FaceTemplate,
    Frame,
    HeadPose,
    LivenessDecision,
    LivenessVerdict,
    QualityReport,
)

if TYPE_CHECKING:
    from facepay.liveness import ChallengePlan, LivenessProgress

__all__ = ["MODEL_ID", "SyntheticFaces", "at_cosine", "beyond", "face", "same_face", "template"]

# The model id synthetic templates carry: dlib's model, plain recipe (a random vector has
# no recipe). The backend compares templates of one model id only; its default
# template_models takes this id and the default embedder's "dlib-resnet-v1+mirror", so
# synthetic shoppers pay through a default backend. A test mixing synthetic templates with
# a real Till's must seal them with the till's embedder.model_id.
MODEL_ID = "dlib-resnet-v1"

Vector = np.ndarray[Any, np.dtype[np.float32]]


def face(seed: int, dim: int = 128) -> Vector:
    """A synthetic identity: a random unit vector (independent ones are ~orthogonal)."""
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def same_face(base: Vector, seed: int, noise: float = 0.02) -> Vector:
    """Another capture of the same identity: cosine ~0.98 with ``base``."""
    rng = np.random.default_rng(10_000 + seed)
    return (base + noise * rng.standard_normal(base.shape[0])).astype(np.float32)


def at_cosine(base: Vector, cosine: float, seed: int) -> Vector:
    """A unit vector at exactly ``cosine`` from ``base``, in a random direction: a probe
    placed precisely around a threshold (a near-threshold impostor, a clear genuine)."""
    b = np.asarray(base, dtype=np.float64)
    b = b / np.linalg.norm(b)
    other = np.random.default_rng(20_000 + seed).standard_normal(b.shape[0])
    other -= (other @ b) * b
    other /= np.linalg.norm(other)
    out: Vector = (cosine * b + np.sqrt(max(0.0, 1.0 - cosine * cosine)) * other).astype(np.float32)
    return out


def beyond(primary: Vector, view: Vector, cosine: float) -> Vector:
    """The unit vector at ``cosine`` from ``view``, on the far side of it from ``primary``
    (in their plane): a look-alike close to one added view of a template set and as far
    from its primary view as it can be."""
    p = np.asarray(primary, dtype=np.float64)
    p = p / np.linalg.norm(p)
    v = np.asarray(view, dtype=np.float64)
    v = v / np.linalg.norm(v)
    u = v - float(v @ p) * p
    u = u / np.linalg.norm(u)
    angle = float(np.arccos(np.clip(v @ p, -1.0, 1.0)) + np.arccos(cosine))
    out: Vector = (np.cos(angle) * p + np.sin(angle) * u).astype(np.float32)
    return out


def template(vector: Vector, *, model_id: str = MODEL_ID, frames_fused: int = 5) -> FaceTemplate:
    """``vector`` as the template a till would fuse from ``frames_fused`` frames."""
    return FaceTemplate(vector=vector, model_id=model_id, frames_fused=frames_fused)


_FACE = FaceObservation(
    box=BoundingBox(x=8.0, y=8.0, width=48.0, height=48.0),
    score=1.0,
    landmarks=np.zeros((478, 3), dtype=np.float32),
    pose=HeadPose(yaw=0.0, pitch=0.0, roll=0.0),
)
_IMAGE = np.zeros((64, 64, 3), dtype=np.uint8)


class _LiveCheck:
    """Live once it has seen a frame (the till's liveness seam)."""

    def __init__(self) -> None:
        self._frames = 0

    @property
    def plan(self) -> ChallengePlan:
        from facepay.liveness import ChallengePlan

        return ChallengePlan.of(["blink"])

    def watch(self, frame: Frame) -> LivenessProgress:
        from facepay.liveness import LivenessProgress

        return LivenessProgress(
            challenge=None, prompt_code="", seconds_left=1.0, progress=0.0, finished=False
        )

    def feed(
        self, frame: Frame, face: FaceObservation | Sequence[FaceObservation] | None
    ) -> LivenessProgress:
        from facepay.liveness import LivenessProgress

        self._frames += 1
        return LivenessProgress(
            challenge=None, prompt_code="", seconds_left=0.0, progress=1.0, finished=True
        )

    def stop(self) -> None:
        pass

    def verdict(self) -> LivenessVerdict:
        return LivenessVerdict(
            decision=LivenessDecision.LIVE,
            reasons=(),
            challenges=("blink",),
            evidence={"score": 0.97},
        )


class SyntheticFaces:
    """Analyzer, embedder and liveness factory for a :class:`facepay.Till` (see the module
    docstring). One instance may serve several tills in several threads."""

    model_id = MODEL_ID

    def __init__(self) -> None:
        self._probes: dict[str, Vector] = {}
        self._lock = threading.Lock()

    def camera(self, name: str, vector: Vector) -> list[Frame]:
        """The frames a camera would give for a shopper whose face embeds to ``vector``."""
        with self._lock:
            self._probes[name] = np.asarray(vector, dtype=np.float32)
        return [Frame(image=_IMAGE, timestamp=i / 30.0, index=i, source_id=name) for i in (0, 1)]

    def forget(self, name: str) -> None:
        with self._lock:
            self._probes.pop(name, None)

    # The till's FaceFinder seam.
    def reset(self) -> None:
        pass

    def analyze(self, frame: Frame) -> QualityReport:
        return QualityReport(
            reasons=(),
            metrics={"utility": 1.0},
            face=_FACE,
            frame_index=frame.index,
            faces=(_FACE,),
        )

    # The till's TemplateMaker seam.
    def embed(self, frame: Frame, face: FaceObservation) -> FaceTemplate:
        with self._lock:
            vector = self._probes[frame.source_id]
        return FaceTemplate(vector=vector.copy(), model_id=MODEL_ID, frames_fused=1)

    # The till's LivenessFactory seam.
    def liveness(self, seed: bytes, camera_name: str | None) -> _LiveCheck:
        return _LiveCheck()

    def till_parts(self) -> dict[str, Any]:
        """This face stage as :class:`facepay.Till`'s options (``Till(client,
        **faces.till_parts())``, ``connect_till(sandbox, **faces.till_parts())``): the
        analyzer, the embedder, the liveness factory, and a fuser that keeps the first
        template (every frame of a synthetic camera embeds to the same vector)."""
        return {"analyzer": self, "embedder": self, "fuse": _first, "liveness": self.liveness}


def _first(templates: Sequence[FaceTemplate]) -> FaceTemplate:
    return templates[0]

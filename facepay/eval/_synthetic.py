"""A till's face stage made of synthetic templates, for proofs about the payment protocol.

The reliability proofs (``facepay bench faults|crash``) run thousands of checkouts through
:class:`facepay.Till`: its checkout state machine, sealing, client retries, pending
authorizations and :meth:`~facepay.Till.reconcile` are the product's own code. What a
shopper's face would give them (a usable face, a live verdict, a template) comes from
here instead, so that a checkout costs milliseconds, not a second of face mesh and
embedder per frame: the proof is about money after the face, and the face pipeline is
measured on real clips by ``facepay eval sessions`` and ``facepay eval verify``.

:meth:`SyntheticFaces.camera` is the camera: two frames that name a probe vector. The
analyzer passes every frame, the liveness check is live on the second frame, and the
embedder returns the probe vector: so the till fuses, seals and sends exactly that vector.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from facepay.liveness import ChallengePlan, LivenessProgress
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

__all__ = ["SyntheticFaces"]

MODEL_ID = "dlib-resnet-v1"

_FACE = FaceObservation(
    box=BoundingBox(x=8.0, y=8.0, width=48.0, height=48.0),
    score=1.0,
    landmarks=np.zeros((478, 3), dtype=np.float32),
    pose=HeadPose(yaw=0.0, pitch=0.0, roll=0.0),
)
_IMAGE = np.zeros((64, 64, 3), dtype=np.uint8)


class _LiveCheck:
    """Live once it has seen a frame after the first (the till's liveness seam)."""

    plan = ChallengePlan.of(["blink"])

    def __init__(self) -> None:
        self._frames = 0

    def feed(
        self, frame: Frame, face: FaceObservation | Sequence[FaceObservation] | None
    ) -> LivenessProgress:
        self._frames += 1
        done = self._frames >= 1
        return LivenessProgress(
            challenge=None, prompt_code="", seconds_left=0.0, progress=float(done), finished=done
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
        self._probes: dict[str, np.ndarray[Any, Any]] = {}
        self._lock = threading.Lock()

    def camera(self, name: str, vector: np.ndarray[Any, Any]) -> list[Frame]:
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

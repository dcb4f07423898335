"""Synthetic face templates: a person is a random unit vector, another capture of them is
that vector plus a little noise. For tests and proofs about what happens after the face
(matching, sealing, the protocol), where running the face models would only cost time."""

from __future__ import annotations

from typing import Any

import numpy as np

from facepay.types import FaceTemplate

__all__ = ["MODEL_ID", "face", "same_face", "template"]

# The default embedder's model id: the backend compares templates of one model only.
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


def template(vector: Vector, *, model_id: str = MODEL_ID, frames_fused: int = 5) -> FaceTemplate:
    """``vector`` as the template a till would fuse from ``frames_fused`` frames."""
    return FaceTemplate(vector=vector, model_id=model_id, frames_fused=frames_fused)

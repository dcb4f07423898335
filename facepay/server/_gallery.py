"""The in-memory gallery and the risk-budgeted matcher.

One :class:`Gallery` per (tenant, model id): a float32 matrix of L2-normalized,
tenant-transformed templates, one row per enrolled shopper, grown by doubling and
shrunk by swapping the last row into a deleted one. Matching is a matrix-vector product
(BLAS) and two arg-max passes, so a decision over 1M templates reads the matrix once.

Scores are cosine similarities in [-1, 1]. The orthogonal tenant transform preserves
them, which is why matching can happen entirely in the transformed space.
"""

from __future__ import annotations

import dataclasses
import enum
import threading

import numpy as np
import numpy.typing as npt

__all__ = ["Gallery", "GalleryRegistry", "MatchOutcome", "MatchResult", "decide"]

FloatArray = npt.NDArray[np.float32]


class MatchOutcome(str, enum.Enum):
    MATCH = "match"
    NO_MATCH = "no_match"
    AMBIGUOUS = "ambiguous"  # best over the threshold but within the margin of the second
    OVER_BUDGET = "over_budget"  # claimless 1:N refused: N x FMR over the risk budget


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class MatchResult:
    outcome: MatchOutcome
    shopper_id: str | None = None
    best_score: float | None = None
    second_score: float | None = None
    gallery_size: int = 0
    # Shopper ids over the threshold, best first (step-up candidates); at most a few.
    candidates: tuple[str, ...] = ()
    candidate_scores: tuple[float, ...] = ()


def normalize(vector: npt.ArrayLike) -> FloatArray:
    """L2-normalize to float32; raises ValueError for a zero or non-finite vector."""
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(v))
    if not np.isfinite(norm) or norm < 1e-6:
        raise ValueError("template has no direction (zero or non-finite)")
    out: FloatArray = (v / norm).astype(np.float32)
    return out


def decide(
    scores: FloatArray, ids: list[str], *, threshold: float, margin: float, top: int = 5
) -> MatchResult:
    """Best over ``threshold`` and ahead of the second best by ``margin``."""
    n = int(scores.shape[0])
    if n == 0:
        return MatchResult(outcome=MatchOutcome.NO_MATCH, gallery_size=0)
    best = int(np.argmax(scores))
    best_score = float(scores[best])
    second_score: float | None = None
    if n > 1:
        saved = scores[best]
        scores[best] = -np.inf
        second = int(np.argmax(scores))
        second_score = float(scores[second])
        scores[best] = saved
    if best_score < threshold:
        return MatchResult(
            outcome=MatchOutcome.NO_MATCH,
            best_score=best_score,
            second_score=second_score,
            gallery_size=n,
        )
    if second_score is not None and best_score - second_score < margin:
        over = np.flatnonzero(scores >= max(threshold, best_score - margin))
        order = over[np.argsort(-scores[over])][:top]
        return MatchResult(
            outcome=MatchOutcome.AMBIGUOUS,
            best_score=best_score,
            second_score=second_score,
            gallery_size=n,
            candidates=tuple(ids[i] for i in order),
            candidate_scores=tuple(float(scores[i]) for i in order),
        )
    return MatchResult(
        outcome=MatchOutcome.MATCH,
        shopper_id=ids[best],
        best_score=best_score,
        second_score=second_score,
        gallery_size=n,
    )


class Gallery:
    """Templates of one tenant and one model, in memory, for 1:N search."""

    def __init__(self, dimension: int, capacity: int = 1024) -> None:
        self.dimension = dimension
        self._matrix: FloatArray = np.zeros((max(capacity, 16), dimension), dtype=np.float32)
        self._ids: list[str] = []
        self._rows: dict[str, int] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, shopper_id: object) -> bool:
        return shopper_id in self._rows

    def add(self, shopper_id: str, vector: npt.ArrayLike) -> None:
        """Add (or replace) one shopper's template; ``vector`` is normalized here."""
        v = normalize(vector)
        if v.shape[0] != self.dimension:
            raise ValueError("template dimension does not match the gallery")
        with self._lock:
            row = self._rows.get(shopper_id)
            if row is None:
                row = len(self._ids)
                if row == self._matrix.shape[0]:
                    grown = np.zeros((row * 2, self.dimension), dtype=np.float32)
                    grown[:row] = self._matrix[:row]
                    self._matrix = grown
                self._ids.append(shopper_id)
                self._rows[shopper_id] = row
            self._matrix[row] = v

    def add_many(self, shopper_ids: list[str], matrix: FloatArray) -> None:
        """Bulk load already-normalized rows (startup, benchmarks)."""
        if matrix.ndim != 2 or matrix.shape[1] != self.dimension:
            raise ValueError("matrix shape does not match the gallery")
        with self._lock:
            start = len(self._ids)
            need = start + matrix.shape[0]
            if need > self._matrix.shape[0]:
                grown = np.zeros((max(need, start * 2), self.dimension), dtype=np.float32)
                grown[:start] = self._matrix[:start]
                self._matrix = grown
            self._matrix[start:need] = matrix
            for offset, shopper_id in enumerate(shopper_ids):
                self._rows[shopper_id] = start + offset
            self._ids.extend(shopper_ids)

    def remove(self, shopper_id: str) -> bool:
        with self._lock:
            row = self._rows.pop(shopper_id, None)
            if row is None:
                return False
            last = len(self._ids) - 1
            if row != last:
                moved = self._ids[last]
                self._matrix[row] = self._matrix[last]
                self._ids[row] = moved
                self._rows[moved] = row
            self._ids.pop()
            self._matrix[last] = 0.0
            return True

    def vector(self, shopper_id: str) -> FloatArray | None:
        with self._lock:
            row = self._rows.get(shopper_id)
            return None if row is None else self._matrix[row].copy()

    def search(self, probe: FloatArray, *, threshold: float, margin: float) -> MatchResult:
        """1:N over the whole gallery."""
        q = normalize(probe)
        if q.shape[0] != self.dimension:
            raise ValueError("probe dimension does not match the gallery")
        with self._lock:
            n = len(self._ids)
            scores: FloatArray = self._matrix[:n] @ q
            return decide(scores, self._ids, threshold=threshold, margin=margin)

    def verify(
        self, probe: FloatArray, shopper_ids: list[str], *, threshold: float, margin: float
    ) -> MatchResult:
        """1:few against the claimed shoppers only."""
        q = normalize(probe)
        with self._lock:
            rows = [self._rows[s] for s in shopper_ids if s in self._rows]
            ids = [self._ids[r] for r in rows]
            # einsum, not BLAS, for a handful of rows: waking OpenBLAS's second thread
            # for a tiny product costs a scheduler slice on a busy 2-core server.
            scores: FloatArray = (
                np.einsum("ij,j->i", self._matrix[rows], q)
                if rows
                else np.zeros(0, dtype=np.float32)
            )
        return decide(scores, ids, threshold=threshold, margin=margin)


class GalleryRegistry:
    """Every tenant's galleries, keyed by (tenant id, model id)."""

    def __init__(self) -> None:
        self._galleries: dict[tuple[str, str], Gallery] = {}
        self._lock = threading.Lock()

    def get(self, tenant_id: str, model_id: str, dimension: int | None = None) -> Gallery | None:
        with self._lock:
            gallery = self._galleries.get((tenant_id, model_id))
            if gallery is None and dimension is not None:
                gallery = Gallery(dimension)
                self._galleries[(tenant_id, model_id)] = gallery
            return gallery

    def remove(self, shopper_id: str) -> None:
        with self._lock:
            galleries = list(self._galleries.values())
        for gallery in galleries:
            gallery.remove(shopper_id)

    def size(self, tenant_id: str) -> int:
        with self._lock:
            return sum(len(g) for (t, _), g in self._galleries.items() if t == tenant_id)

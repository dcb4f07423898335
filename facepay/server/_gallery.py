"""The in-memory gallery and the risk-budgeted matcher.

One :class:`Gallery` per (tenant, model id) holds L2-normalized, tenant-transformed
templates, one row per view of each enrolled shopper (a shopper's template set:
enrollment views and adaptive views, :mod:`facepay.server._templates`), grown by
doubling and shrunk by swapping the last row into a deleted one. Scores are cosine
similarities in [-1, 1]; a shopper scores its set score (the weighted mean of its two
best views, :func:`facepay.server._templates.set_score`; its one view's score for a set of
one), and the margin between the best and the second best compares two *shoppers*' set
scores, never two views of one shopper.
The orthogonal tenant transform preserves them, which is why matching can happen entirely
in the transformed space.

**Exact bound-pruned 1:N search.** A decision over 1M templates is memory-bound: reading
the whole float32 matrix once takes ~40 ms on the reference machine. So each row is
stored split in two: a *head* (its first ``k`` coordinates, ``k = 3D/8`` by default) in
one contiguous ``N x k`` matrix, and a *tail* (the other ``D - k``) in another, plus the
tail's norm. By Cauchy-Schwarz, ``q.g = q_h.g_h + q_t.g_t <= q_h.g_h + |q_t| |g_t|``, so
one pass over the head matrix (3/8 of the bytes) bounds every row's score from above.
Only rows whose bound reaches the decision's cutoff can change the decision, and only
those are scored exactly (head product plus their tail rows):

1. rows whose bound reaches ``threshold`` are scored, with every other row of their
   shoppers (a set score needs all of a set's views); if no shopper's set score reaches
   ``threshold``, the answer is NO_MATCH (a set score is never above its best row, so no
   other shopper can reach it);
2. otherwise the best ``b`` is the true best, and the rows whose bound reaches
   ``min(threshold, b - margin)`` are scored too, with their shoppers' other rows:
   exactly the shoppers that could be a second best within the margin, or an AMBIGUOUS
   candidate.

Each cutoff is lowered by :data:`BOUND_SLACK` to cover float32 rounding. When more than
:attr:`Gallery.rescore_fraction` of the rows survive (gathering scattered rows costs
about ten times a streamed pass per byte), the search falls back to the full product:
the tail pass on top of the head pass already made, the same bytes as one plain product.

The head is only tight when it carries most of each template's energy. Random vectors
in a random rotation spread it evenly, but real face embeddings share a large common
direction (dlib's cosines between different people sit around 0.85), so the gallery
keeps its rows in its own **PCA basis** (eigenvectors of the uncentered second moment
``G^T G``, largest first): an orthogonal change of basis preserves every dot product, the
probe is rotated the same way, and :meth:`Gallery.vector` rotates back. The basis is
checked when the gallery reaches :attr:`Gallery.prune_min_rows` rows and again each time
it doubles, and refitted (every row rotated in place, in chunks, under the lock) only when
that moves a tenth or more of the tail's energy into the head.

The outcome, the matched shopper, the AMBIGUOUS candidates and their scores are those of
the exhaustive search (``tests/server/test_gallery_pruning.py`` checks this against a
float64 brute force). ``best_score`` and ``second_score`` are exact when they are at or
above :attr:`MatchResult.exact_above`; below it (or when it is None for the
exhaustive path, always) they are *upper bounds* on the true scores: the pruned
search never computed them because they could not change the decision.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import threading
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from facepay.server._templates import BEST_VIEW_WEIGHT, set_score

__all__ = [
    "BOUND_SLACK",
    "Gallery",
    "GalleryRegistry",
    "GalleryStats",
    "MatchOutcome",
    "MatchResult",
    "decide",
]

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.intp]

# Slack under every pruning cutoff. A bound and the exact score it bounds share the head
# product; they differ only in |q_t||g_t| versus q_t.g_t, whose float32 rounding is at most
# ~D x 6e-8 ~ 1e-5 for unit vectors. 1e-4 covers that tenfold and prunes no less in practice.
BOUND_SLACK = 1e-4


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
    # None: every score above is exact. A number: the pruned 1:N search scored exactly
    # only the rows that could change the decision; best_score / second_score at or above
    # this value are exact, below it they are upper bounds on the true scores (never
    # lower than the truth, so a margin computed from them is never overstated).
    exact_above: float | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GalleryStats:
    """Counters of :meth:`Gallery.search` since the gallery was made (for benchmarks)."""

    searches: int = 0
    pruned_searches: int = 0  # answered from the head bound plus a few exact rows
    full_scans: int = 0  # too many rows survived the bound (or gallery too small)
    rows_searched: int = 0  # sum of gallery sizes over all searches
    rows_rescored: int = 0  # rows scored exactly by pruned searches
    rebases: int = 0  # PCA basis refits


def normalize(vector: npt.ArrayLike) -> FloatArray:
    """L2-normalize to float32; raises ValueError for a zero or non-finite vector."""
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(v))
    if not np.isfinite(norm) or norm < 1e-6:
        raise ValueError("template has no direction (zero or non-finite)")
    out: FloatArray = (v / norm).astype(np.float32)
    return out


def decide(
    scores: FloatArray,
    ids: list[str],
    *,
    threshold: float,
    margin: float,
    top: int = 5,
    exact_above: float | None = None,
    rows_of: Mapping[str, Sequence[int]] | None = None,
    best_view_weight: float = BEST_VIEW_WEIGHT,
) -> MatchResult:
    """Best shopper over ``threshold`` and ahead of the second best shopper by ``margin``.

    ``ids[i]`` is the shopper of row ``i``; ``rows_of`` maps a shopper to all its rows
    (several views), None when each shopper has one row. A shopper scores its set score
    (:func:`facepay.server._templates.set_score` of its rows, ``best_view_weight``).
    ``scores`` may hold upper bounds instead of exact scores for rows below
    ``exact_above`` (see the module docstring); the caller guarantees that such a row
    cannot change the decision. ``scores`` is modified while deciding and restored.

    Shoppers are scored in the order of their best row, highest first. A set score is
    never above its best row, so once the next row is no higher than the second best set
    score found (and, when AMBIGUOUS, lower than every candidate's cutoff), no shopper not
    yet scored can change the answer: with one row per shopper that is two passes over
    the scores, as a plain best and second best.
    """
    n = int(scores.shape[0])
    if n == 0:
        return MatchResult(outcome=MatchOutcome.NO_MATCH, gallery_size=0)
    found: dict[str, float] = {}
    hidden: list[tuple[list[int], FloatArray]] = []

    def settled(ceiling: float) -> bool:
        """Whether no shopper whose set score is at most ``ceiling`` changes the answer."""
        ranked = sorted(found.values(), reverse=True)
        if len(ranked) < 2 or ranked[1] < ceiling:
            return False
        best, second = ranked[0], ranked[1]
        if best >= threshold and best - second < margin:
            return (
                ceiling < max(threshold, best - margin) or sum(v >= ceiling for v in ranked) >= top
            )
        return True

    try:
        ceiling = math.inf
        while not settled(ceiling):
            i = int(np.argmax(scores))
            ceiling = float(scores[i])
            if ceiling == -math.inf or settled(ceiling):
                break
            shopper = ids[i]
            own = [i] if rows_of is None else list(rows_of[shopper])
            values = scores[own].copy()
            found[shopper] = set_score(values, best_view_weight)
            scores[own] = -np.inf
            hidden.append((own, values))
    finally:
        for own, values in reversed(hidden):
            scores[own] = values
    # Best first; a tie keeps the shopper whose best row came first.
    ranked = sorted(found.items(), key=lambda item: -item[1])
    best_id, best_score = ranked[0]
    second_score = ranked[1][1] if len(ranked) > 1 else None
    if best_score < threshold:
        return MatchResult(
            outcome=MatchOutcome.NO_MATCH,
            best_score=best_score,
            second_score=second_score,
            gallery_size=n,
            exact_above=exact_above,
        )
    if second_score is not None and best_score - second_score < margin:
        cutoff = max(threshold, best_score - margin)
        chosen = [(s, v) for s, v in ranked if v >= cutoff][:top]
        return MatchResult(
            outcome=MatchOutcome.AMBIGUOUS,
            best_score=best_score,
            second_score=second_score,
            gallery_size=n,
            candidates=tuple(s for s, _ in chosen),
            candidate_scores=tuple(v for _, v in chosen),
            exact_above=exact_above,
        )
    return MatchResult(
        outcome=MatchOutcome.MATCH,
        shopper_id=best_id,
        best_score=best_score,
        second_score=second_score,
        gallery_size=n,
        exact_above=exact_above,
    )


class Gallery:
    """Templates of one tenant and one model, in memory, for 1:N search.

    ``head`` is the number of leading coordinates (in the gallery's PCA basis) read by
    the bounding pass; default ``3 * dimension // 8`` (48 of 128). ``head=dimension``
    turns pruning off. A quarter (32) is cheaper on isotropic synthetic templates (21 vs
    30 CPU ms per decision at 1M), but on real dlib templates, with a basis fitted on other
    people's templates, 9.8% of impostor rows kept a bound over the threshold at 32 (so
    the search fell back to the full product) against 1.1% at 48 (docs/performance.md).
    """

    # Below this size a plain product is already fast (100k rows: ~4 ms) and a PCA fit
    # on few rows generalizes poorly; pruning and the basis start here.
    prune_min_rows = 20_000
    # Fall back to the full product when more rows than this share need exact scores:
    # gathering scattered rows costs ~10x a streamed pass per byte (measured, numpy take).
    rescore_fraction = 0.05
    # Rows used to fit the basis (evenly strided): a 128x128 second moment needs few.
    basis_sample_rows = 65_536
    # Refit only if the new basis leaves at least this much less energy in the tail.
    refit_gain = 0.1
    # Wider templates keep the basis they were added in (pruning stays exact, only less
    # effective): a refit costs O(N D^2), a minute's work at 1M x 4096.
    max_basis_dimension = 512
    _chunk_rows = 65_536

    def __init__(self, dimension: int, capacity: int = 1024, *, head: int | None = None) -> None:
        if dimension < 1:
            raise ValueError("dimension must be positive")
        k = max(1, 3 * dimension // 8) if head is None else head
        if not 1 <= k <= dimension:
            raise ValueError("head must be in [1, dimension]")
        self.dimension = dimension
        self._k = k
        cap = max(capacity, 16)
        self._head: FloatArray = np.zeros((cap, k), dtype=np.float32)
        self._tail: FloatArray = np.zeros((cap, dimension - k), dtype=np.float32)
        self._tail_norm: FloatArray = np.zeros(cap, dtype=np.float32)
        # Rows are stored as basis @ v (None: the identity); refitted by _maybe_rebase.
        self._basis: FloatArray | None = None
        self._basis_rows = 0
        # The shopper of each row, and each shopper's rows (one per view) and the
        # version of its stored set those rows hold (see PaymentBackend._sync_gallery).
        self._ids: list[str] = []
        self._rows: dict[str, list[int]] = {}
        self._versions: dict[str, int] = {}
        self._stats = GalleryStats()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Shoppers in the gallery (:attr:`row_count` counts their views)."""
        return len(self._rows)

    @property
    def row_count(self) -> int:
        """Rows (views) in the gallery: what a 1:N search compares a probe with."""
        return len(self._ids)

    def version(self, shopper_id: str) -> int | None:
        """The version of the shopper's stored template set its rows hold (None: absent)."""
        with self._lock:
            return self._versions.get(shopper_id) if shopper_id in self._rows else None

    def __contains__(self, shopper_id: object) -> bool:
        return shopper_id in self._rows

    @property
    def head_dimension(self) -> int:
        return self._k

    def stats(self) -> GalleryStats:
        with self._lock:
            return self._stats

    # --- storage (callers hold the lock) ---------------------------------------------

    def _to_stored(self, rows: FloatArray) -> FloatArray:
        """Rows (n x D, gallery input space) into the gallery's basis."""
        if self._basis is None:
            return rows
        out: FloatArray = rows @ self._basis.T
        return out

    def _to_stored_one(self, v: FloatArray) -> FloatArray:
        """One vector into the gallery's basis. einsum, not BLAS: a 128x128 product
        through OpenBLAS wakes its second thread, a scheduler slice on a busy server."""
        if self._basis is None:
            return v
        out: FloatArray = np.einsum("ij,j->i", self._basis, v)
        return out

    def _put(self, start: int, stored: FloatArray) -> None:
        stop = start + stored.shape[0]
        k = self._k
        self._head[start:stop] = stored[:, :k]
        self._tail[start:stop] = stored[:, k:]
        self._tail_norm[start:stop] = np.linalg.norm(stored[:, k:], axis=1)

    def _reserve(self, need: int) -> None:
        cap = self._head.shape[0]
        if need <= cap:
            return
        n = len(self._ids)
        cap = max(need, cap * 2)
        for name in ("_head", "_tail", "_tail_norm"):
            old = getattr(self, name)
            grown = np.zeros((cap, *old.shape[1:]), dtype=np.float32)
            grown[:n] = old[:n]
            setattr(self, name, grown)

    def _maybe_rebase(self) -> None:
        """Check the PCA basis at ``prune_min_rows`` rows and each time the gallery doubles;
        refit it only if that takes at least ``refit_gain`` of the tail's energy away.

        A refit rotates every row in place, chunk by chunk (no second copy of the
        gallery), while holding the lock: ~3 s of CPU at 1M rows, so it is skipped when
        the rows still look like the ones the basis was fitted on (the usual case: a
        stable population, or isotropic vectors that no basis helps). The check itself
        is one 128x128 second moment over a sample (~0.1 s at 1M).
        """
        n = len(self._ids)
        if (
            self._k == self.dimension
            or self.dimension > self.max_basis_dimension
            or n < self.prune_min_rows
            or n < 2 * self._basis_rows
        ):
            return
        self._basis_rows = n
        # The same sample bytes at any width: 65,536 rows of 128, 16,384 of 512.
        budget = max(1, self.basis_sample_rows * 128 // max(self.dimension, 128))
        step = max(1, n // budget)
        sample = np.hstack([self._head[:n:step], self._tail[:n:step]])
        moment = (sample.T @ sample).astype(np.float64)
        energy, vectors = np.linalg.eigh(moment)  # ascending
        tail_now = float(np.trace(moment[self._k :, self._k :]))
        tail_best = float(energy[: self.dimension - self._k].sum())
        if tail_best > (1.0 - self.refit_gain) * tail_now:
            return
        change = np.ascontiguousarray(vectors[:, ::-1])  # columns: largest energy first
        rot = change.astype(np.float32)
        for start in range(0, n, self._chunk_rows):
            stop = min(n, start + self._chunk_rows)
            stored = np.hstack([self._head[start:stop], self._tail[start:stop]]) @ rot
            self._put(start, stored)
        current = np.eye(self.dimension) if self._basis is None else self._basis.astype(np.float64)
        # Keep the basis orthonormal in float64 so repeated refits do not drift.
        q, r = np.linalg.qr(change.T @ current)
        self._basis = (q * np.sign(np.diag(r))).astype(np.float32)
        self._stats = dataclasses.replace(self._stats, rebases=self._stats.rebases + 1)

    # --- public API ------------------------------------------------------------------

    def add(self, shopper_id: str, vector: npt.ArrayLike, *, version: int = 0) -> None:
        """Add (or replace) one shopper's views: ``vector`` is one template or a matrix of
        one row per view; each is normalized here. ``version`` is that of the stored set
        they come from."""
        rows = np.asarray(vector, dtype=np.float32)
        views = [normalize(v) for v in (rows if rows.ndim == 2 else rows.reshape(1, -1))]
        if not views or any(v.shape[0] != self.dimension for v in views):
            raise ValueError("template dimension does not match the gallery")
        with self._lock:
            held = self._rows.get(shopper_id)
            if held is not None and len(held) != len(views):
                self._remove_locked(shopper_id)
                held = None
            if held is None:
                start = len(self._ids)
                self._reserve(start + len(views))
                held = list(range(start, start + len(views)))
                self._ids.extend([shopper_id] * len(views))
                self._rows[shopper_id] = held
            k = self._k
            for row, v in zip(held, views, strict=True):
                w = self._to_stored_one(v)
                tail = w[k:]
                self._head[row] = w[:k]
                self._tail[row] = tail
                self._tail_norm[row] = math.sqrt(float(tail @ tail))
            self._versions[shopper_id] = version
            if len(self._ids) >= max(self.prune_min_rows, 2 * self._basis_rows):
                self._maybe_rebase()

    def add_many(self, shopper_ids: list[str], matrix: FloatArray) -> None:
        """Bulk load already-normalized rows (startup, benchmarks)."""
        if matrix.ndim != 2 or matrix.shape[1] != self.dimension:
            raise ValueError("matrix shape does not match the gallery")
        if len(shopper_ids) != matrix.shape[0]:
            raise ValueError("one shopper id per row")
        with self._lock:
            start = len(self._ids)
            need = start + matrix.shape[0]
            self._reserve(need)
            for at in range(0, matrix.shape[0], self._chunk_rows):
                block = np.asarray(matrix[at : at + self._chunk_rows], dtype=np.float32)
                self._put(start + at, self._to_stored(block))
            for offset, shopper_id in enumerate(shopper_ids):
                self._rows.setdefault(shopper_id, []).append(start + offset)
                self._versions.setdefault(shopper_id, 0)
            self._ids.extend(shopper_ids)
            self._maybe_rebase()

    def remove(self, shopper_id: str) -> bool:
        with self._lock:
            return self._remove_locked(shopper_id)

    def _remove_locked(self, shopper_id: str) -> bool:
        held = self._rows.pop(shopper_id, None)
        self._versions.pop(shopper_id, None)
        if held is None:
            return False
        # Highest first: a row swapped in from the end is never one still to be removed.
        for row in sorted(held, reverse=True):
            last = len(self._ids) - 1
            if row != last:
                moved = self._ids[last]
                self._head[row] = self._head[last]
                self._tail[row] = self._tail[last]
                self._tail_norm[row] = self._tail_norm[last]
                self._ids[row] = moved
                others = self._rows[moved]
                others[others.index(last)] = row
            self._ids.pop()
            self._head[last] = 0.0
            self._tail[last] = 0.0
            self._tail_norm[last] = 0.0
        return True

    def vector(self, shopper_id: str) -> FloatArray | None:
        """The shopper's first stored (normalized) view, in the space it was added in (to
        float32 rounding: rows kept in the PCA basis are rotated back)."""
        views = self.views(shopper_id)
        return None if views is None else views[0].copy()

    def views(self, shopper_id: str) -> FloatArray | None:
        """Every stored view of the shopper (one row each), as :meth:`vector` gives one."""
        with self._lock:
            held = self._rows.get(shopper_id)
            if held is None:
                return None
            stored = np.hstack([self._head[held], self._tail[held]])
            out: FloatArray = stored if self._basis is None else stored @ self._basis
            return out.astype(np.float32, copy=True)

    def search(
        self,
        probe: FloatArray,
        *,
        threshold: float,
        margin: float,
        best_view_weight: float = BEST_VIEW_WEIGHT,
    ) -> MatchResult:
        """1:N over the whole gallery (exact decision; see the module docstring); each
        shopper scores its set score (``best_view_weight``, ServerConfig's)."""
        q = normalize(probe)
        if q.shape[0] != self.dimension:
            raise ValueError("probe dimension does not match the gallery")
        with self._lock:
            n = len(self._ids)
            w = self._to_stored_one(q)
            k = self._k
            q_head = np.ascontiguousarray(w[:k])
            q_tail = np.ascontiguousarray(w[k:])
            head_scores: FloatArray = self._head[:n] @ q_head
            result = None
            if n >= self.prune_min_rows and k < self.dimension:
                result = self._pruned(
                    head_scores,
                    q_tail,
                    threshold=threshold,
                    margin=margin,
                    best_view_weight=best_view_weight,
                )
            if result is None:
                scores: FloatArray = head_scores
                if k < self.dimension:
                    scores += self._tail[:n] @ q_tail
                result = decide(
                    scores,
                    self._ids,
                    threshold=threshold,
                    margin=margin,
                    rows_of=self._rows,
                    best_view_weight=best_view_weight,
                )
                self._count(n, full=True)
            return result

    def _pruned(
        self,
        head_scores: FloatArray,
        q_tail: FloatArray,
        *,
        threshold: float,
        margin: float,
        best_view_weight: float,
    ) -> MatchResult | None:
        """The two-cutoff search of the module docstring; None when too many rows survive
        (the caller then scans in full). Caller holds the lock.

        A shopper's set score is never above its best row and never falls when a row's
        score rises (:func:`facepay.server._templates.set_score`), so a shopper none of
        whose rows reaches a cutoff stays under it, and the bounds of its rows bound its
        set score; a shopper with any row over a cutoff has *all* its rows scored exactly,
        so its set score is exact."""
        n = head_scores.shape[0]
        limit = int(self.rescore_fraction * n)
        bound = self._tail_norm[:n] * np.float32(np.sqrt(np.dot(q_tail, q_tail)))
        bound += head_scores
        cut = np.float32(threshold - BOUND_SLACK)
        first = self._whole_sets(np.flatnonzero(bound >= cut))
        if first.shape[0] > limit:
            return None
        exact_first = self._exact(first, head_scores, q_tail)
        rescored = [(first, exact_first)]
        best = self._best_set_score(first, exact_first, best_view_weight)
        if best >= threshold:
            lower = np.float32(min(threshold, best - margin) - BOUND_SLACK)
            if lower < cut:
                near = np.flatnonzero((bound >= lower) & (bound < cut))
                second = np.setdiff1d(self._whole_sets(near), first, assume_unique=True)
                if first.shape[0] + second.shape[0] > limit:
                    return None
                rescored.append((second, self._exact(second, head_scores, q_tail)))
                cut = lower
        # Rows scored exactly carry their score; the rest keep their bound, which is below
        # every cutoff that matters, so decide() reaches the exhaustive search's decision.
        total = 0
        for rows, exact in rescored:
            bound[rows] = exact
            total += rows.shape[0]
        self._count(n, full=False, rescored=total)
        return decide(
            bound,
            self._ids,
            threshold=threshold,
            margin=margin,
            exact_above=float(cut),
            rows_of=self._rows,
            best_view_weight=best_view_weight,
        )

    def _whole_sets(self, rows: IntArray) -> IntArray:
        """``rows`` and every other row of their shoppers, sorted (caller holds the lock)."""
        if len(self._ids) == len(self._rows) or rows.shape[0] == 0:
            return rows  # one row per shopper
        ids = self._ids
        whole = {r for i in rows.tolist() for r in self._rows[ids[i]]}
        return np.asarray(sorted(whole), dtype=np.intp)

    def _best_set_score(self, rows: IntArray, values: FloatArray, best_view_weight: float) -> float:
        """The best set score among the shoppers of ``rows`` (whole sets, exact values)."""
        by_shopper: dict[str, list[float]] = {}
        for i, v in zip(rows.tolist(), values.tolist(), strict=True):
            by_shopper.setdefault(self._ids[i], []).append(v)
        return max((set_score(v, best_view_weight) for v in by_shopper.values()), default=-math.inf)

    def _exact(self, rows: IntArray, head_scores: FloatArray, q_tail: FloatArray) -> FloatArray:
        if rows.shape[0] == 0:
            return np.zeros(0, dtype=np.float32)
        tail = np.take(self._tail, rows, axis=0)
        out: FloatArray = head_scores[rows] + tail @ q_tail
        return out

    def _count(self, n: int, *, full: bool, rescored: int = 0) -> None:
        s = self._stats
        self._stats = dataclasses.replace(
            s,
            searches=s.searches + 1,
            pruned_searches=s.pruned_searches + (not full),
            full_scans=s.full_scans + full,
            rows_searched=s.rows_searched + n,
            rows_rescored=s.rows_rescored + rescored,
        )

    def verify(
        self,
        probe: FloatArray,
        shopper_ids: list[str],
        *,
        threshold: float,
        margin: float,
        best_view_weight: float = BEST_VIEW_WEIGHT,
    ) -> MatchResult:
        """1:few against the claimed shoppers only (each scores its set score)."""
        q = normalize(probe)
        with self._lock:
            rows = [r for s in shopper_ids for r in self._rows.get(s, ())]
            ids = [self._ids[r] for r in rows]
            rows_of: dict[str, list[int]] = {}
            for at, shopper in enumerate(ids):
                rows_of.setdefault(shopper, []).append(at)
            w = self._to_stored_one(q)
            k = self._k
            # einsum, not BLAS, for a handful of rows: waking OpenBLAS's second thread
            # for a tiny product costs a scheduler slice on a busy 2-core server.
            scores: FloatArray = (
                np.einsum("ij,j->i", self._head[rows], w[:k])
                + np.einsum("ij,j->i", self._tail[rows], w[k:])
                if rows
                else np.zeros(0, dtype=np.float32)
            )
        return decide(
            scores,
            ids,
            threshold=threshold,
            margin=margin,
            rows_of=rows_of,
            best_view_weight=best_view_weight,
        )


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

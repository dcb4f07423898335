"""Template sets that learn: the rules, as pure functions of numpy arrays.

A shopper's stored templates are a :class:`TemplateSet`:

- 1..5 **anchors**: the distinct views (frontal, turned left, turned right) the till
  captured during the enrollment's liveness check. Never changed after enrollment.
- up to ``slots`` **adaptive views**: each one a capped running average of the fused
  templates of approved payments (:func:`adapt`).

**A set scores as strictly as one template** (:func:`set_score`). A payment's score
against a set is ``w`` x its best view's cosine similarity + ``(1 - w)`` x its second
best view's (``w`` = ``best_view_weight``, default :data:`BEST_VIEW_WEIGHT` = 0.75; a set of
one view scores that view). Taking the best view alone (``w`` = 1) gave every added view
its own acceptance region, so a look-alike who landed near one added view was accepted
however far from the rest: on the NUAA East-Asian frames the face-only FMR at 0.96 rose
from 0.047% (one view) to 0.19% with three enrollment views and 0.27% with two adaptive
views more (docs/accuracy.md, "Templates that learn"). A weighted mean of the two best
asks a probe to be near two views at once, which the shopper's own face is (the views are
of one face, within the payment threshold of the primary) and a look-alike near one view
rarely is. The score is never above the best view's, so nothing the best-view rule
refused is accepted, and every bound below still holds. The margin between two shoppers in
1:N compares their set scores (:mod:`facepay.server._gallery`); the grey zone and the
update's clear margin read the same score.

**Why poisoning is bounded.** :func:`adapt` folds a payment's template in only if it
scores at least ``adaptive_threshold`` (stricter than the payment threshold) against the
set AND at least ``anchor_threshold`` against an enrollment anchor itself. So every
template ever folded in lies in the spherical cap ``{x : x . a >= anchor_threshold}`` of
some anchor ``a``. An adaptive view is a normalized positive combination of such
templates, and a cap narrower than a hemisphere is closed under that (for unit x, y in
the cap and α, β > 0, ``(αx + βy) . a >= c (α + β) >= c |αx + βy|``), so every adaptive
view stays in an anchor's cap however many payments are folded in. A probe that matches
the set is within the match angle of some view, hence within (match angle + cap angle)
of an anchor: that is the most the set's acceptance region can ever grow, and an
impostor farther than that from every anchor is never accepted whatever was folded in.
An impostor accepted once below ``adaptive_threshold`` (a lucky score, a lowered
threshold) changes nothing at all: the set is returned unchanged.

Everything here takes and returns plain numpy data (no database, no clock, no keys) so the
backend (:mod:`facepay.server._service`) and the measurement (``facepay eval adaptive``,
through that backend) run the same functions.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = [
    "BEST_VIEW_WEIGHT",
    "MAX_ADAPTIVE_SLOTS",
    "MAX_ANCHORS",
    "AdaptVerdict",
    "Adaptation",
    "AdaptivePolicy",
    "TemplateSet",
    "adapt",
    "best_score",
    "enrollment_set",
    "may_adapt",
    "score_set",
    "set_score",
]

FloatArray = npt.NDArray[np.float32]

# A set holds at most this many enrollment views and adaptive views (the at-rest format
# has room for no more; docs/crypto.md).
MAX_ANCHORS = 5
MAX_ADAPTIVE_SLOTS = 4
# The best view's share of a set's score (ServerConfig.best_view_weight), the second best
# view's the rest. 0.75 is the largest of 0.6-0.9 with no false accept in 6,400 NUAA
# impostor attempts with three views and two adaptive slots (20 orders of `facepay eval
# adaptive`, docs/accuracy.md); 1.0 is the best view alone.
BEST_VIEW_WEIGHT = 0.75


def _unit_rows(vectors: npt.ArrayLike, dimension: int | None = None) -> FloatArray:
    rows = np.asarray(vectors, dtype=np.float64)
    if rows.ndim == 1:
        rows = rows.reshape(1, -1)
    if rows.ndim != 2 or (dimension is not None and rows.shape[1] != dimension):
        raise ValueError("templates must be rows of one dimension")
    if rows.shape[0] and not np.all(np.isfinite(rows)):
        raise ValueError("template holds NaN or infinity")
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    if rows.shape[0] and float(norms.min()) < 1e-6:
        raise ValueError("template has no direction (zero)")
    out: FloatArray = (rows / np.where(norms > 0, norms, 1.0)).astype(np.float32)
    return out


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class TemplateSet:
    """One shopper's views, unit rows of one dimension (tenant-transformed, as stored).

    ``anchors`` (A x D, 1 <= A <= 5) come from enrollment and never change; ``adaptive``
    (S x D, S <= 4) are the adaptive views, ``updates[i]`` the number of payments folded
    into ``adaptive[i]``. Build one with :meth:`of` (which normalizes)."""

    anchors: FloatArray
    adaptive: FloatArray
    updates: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        a, s = self.anchors, self.adaptive
        if a.ndim != 2 or not 1 <= a.shape[0] <= MAX_ANCHORS:
            raise ValueError(f"a template set has 1..{MAX_ANCHORS} anchors")
        if s.ndim != 2 or s.shape[0] > MAX_ADAPTIVE_SLOTS or s.shape[1] != a.shape[1]:
            raise ValueError(f"a template set has 0..{MAX_ADAPTIVE_SLOTS} adaptive views")
        if len(self.updates) != s.shape[0] or any(n < 1 for n in self.updates):
            raise ValueError("one update count (>= 1) per adaptive view")

    @classmethod
    def of(
        cls,
        anchors: npt.ArrayLike,
        adaptive: npt.ArrayLike | None = None,
        updates: Sequence[int] = (),
    ) -> TemplateSet:
        """A set from any float rows (a single vector is one anchor); rows normalized."""
        a = _unit_rows(anchors)
        s = (
            np.zeros((0, a.shape[1]), dtype=np.float32)
            if adaptive is None
            else _unit_rows(adaptive, a.shape[1])
        )
        return cls(anchors=a, adaptive=s, updates=tuple(int(n) for n in updates))

    @property
    def dimension(self) -> int:
        return int(self.anchors.shape[1])

    @property
    def views(self) -> FloatArray:
        """Every view, anchors first (A + S rows)."""
        out: FloatArray = np.vstack([self.anchors, self.adaptive])
        return out

    def __len__(self) -> int:
        return int(self.anchors.shape[0] + self.adaptive.shape[0])

    def same_as(self, other: TemplateSet) -> bool:
        return (
            self.updates == other.updates
            and np.array_equal(self.anchors, other.anchors)
            and np.array_equal(self.adaptive, other.adaptive)
        )


def best_score(views: npt.ArrayLike, probe: npt.ArrayLike) -> float:
    """The probe's best cosine similarity over ``views`` (rows; need not be unit)."""
    rows = _unit_rows(views)
    q = _unit_rows(probe, rows.shape[1])[0]
    return float(np.max(rows.astype(np.float64) @ q.astype(np.float64)))


def _check_weight(best_weight: float) -> None:
    if not 0.5 <= best_weight <= 1.0:
        raise ValueError("best_view_weight must be in [0.5, 1]")


def set_score(view_scores: npt.ArrayLike, best_weight: float = BEST_VIEW_WEIGHT) -> float:
    """A set's score from the cosine similarities of one probe with each of its views
    (any order): ``best_weight`` x the best + ``(1 - best_weight)`` x the second best; a
    set of one view scores that view. Never above the best view's score, and
    non-decreasing in every view's score (so an upper bound per view gives an upper bound
    on the set's score: the pruned 1:N search relies on it)."""
    _check_weight(best_weight)
    s = np.asarray(view_scores, dtype=np.float64).reshape(-1)
    if s.size == 0:
        raise ValueError("a set has at least one view")
    if s.size == 1 or best_weight == 1.0:
        return float(s.max())
    top = np.partition(s, s.size - 2)[-2:]
    return float(best_weight * top[1] + (1.0 - best_weight) * top[0])


def score_set(
    templates: TemplateSet, probe: npt.ArrayLike, best_weight: float = BEST_VIEW_WEIGHT
) -> float:
    """The probe's :func:`set_score` against every view of ``templates``."""
    q = _unit_rows(probe, templates.dimension)[0].astype(np.float64)
    return set_score(templates.views.astype(np.float64) @ q, best_weight)


def enrollment_set(views: Sequence[npt.ArrayLike], *, agreement: float) -> tuple[TemplateSet, int]:
    """The set an enrollment stores from the till's views (the first is the primary,
    frontal one); returns (set, views dropped).

    A view joins the anchors only if it matches the primary view at ``agreement`` (the
    payment threshold): otherwise one enrollment could hold two people's faces under one
    claim. At most :data:`MAX_ANCHORS` views are kept."""
    if not 1 <= len(views) <= MAX_ANCHORS:
        raise ValueError(f"an enrollment sends 1..{MAX_ANCHORS} views")
    rows = _unit_rows(np.vstack([np.asarray(v, dtype=np.float64).reshape(1, -1) for v in views]))
    primary = rows[0].astype(np.float64)
    keep = [0] + [i for i in range(1, rows.shape[0]) if float(rows[i] @ primary) >= agreement]
    return TemplateSet.of(rows[keep]), rows.shape[0] - len(keep)


class AdaptVerdict(str, enum.Enum):
    """What :func:`adapt` did with one approved payment's template."""

    SEEDED = "seeded"  # a free adaptive slot now holds it
    UPDATED = "updated"  # averaged into the closest adaptive view
    NOT_CLEAR = "not_clear"  # below adaptive_threshold against the set: unchanged
    FAR_FROM_ANCHORS = "far_from_anchors"  # close to an adaptive view only: unchanged
    DISABLED = "disabled"  # the policy has no adaptive slots

    @property
    def changed(self) -> bool:
        return self in (AdaptVerdict.SEEDED, AdaptVerdict.UPDATED)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AdaptivePolicy:
    """The bounds of adaptive update (``ServerConfig.adaptive_*`` in the backend).

    ``adaptive_threshold``: the clear margin a payment needs against the set, stricter than
    the payment threshold (0.975 against 0.96: half the match distance). ``anchor_threshold``:
    what the payment must also score against an enrollment anchor (the backend uses its
    payment threshold: the template must match the enrollment itself, not only a view
    that earlier payments moved). ``slots``: adaptive views kept (0 turns update off).
    A template is folded into a view with weight ``clamp(1 / (n + 1), min_weight,
    max_weight)`` after n earlier folds: no single payment moves a view by more than
    ``max_weight`` of the way, and ``min_weight`` keeps following slow change. A new slot
    is seeded (while one is free) only by a template below ``merge_threshold`` against
    every adaptive view; otherwise it is averaged into the closest one."""

    adaptive_threshold: float = 0.975
    anchor_threshold: float = 0.96
    slots: int = 2
    max_weight: float = 0.25
    min_weight: float = 0.1
    merge_threshold: float = 0.99

    def __post_init__(self) -> None:
        if not 0.0 < self.anchor_threshold <= self.adaptive_threshold <= 1.0:
            raise ValueError("AdaptivePolicy: 0 < anchor_threshold <= adaptive_threshold <= 1")
        if not 0 <= self.slots <= MAX_ADAPTIVE_SLOTS:
            raise ValueError(f"AdaptivePolicy.slots: 0..{MAX_ADAPTIVE_SLOTS}")
        if not 0.0 < self.min_weight <= self.max_weight <= 0.5:
            raise ValueError("AdaptivePolicy: 0 < min_weight <= max_weight <= 0.5")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Adaptation:
    """The outcome of :func:`adapt`: ``templates`` is the new set (the same object when
    ``verdict.changed`` is False); ``slot`` the adaptive view written; the scores are
    the payment's best against the whole set and against the anchors alone."""

    verdict: AdaptVerdict
    templates: TemplateSet
    score: float
    anchor_score: float
    slot: int | None = None


def may_adapt(
    *,
    approved_on_face: bool,
    live: bool,
    strong_liveness: bool,
    score: float | None,
    policy: AdaptivePolicy,
) -> bool:
    """Whether an approved payment may even be considered for :func:`adapt` (cheap, no
    templates): approved on the face alone (no step-up), live, with liveness a production
    tenant would accept (the plan the seed derives and a 3D head-turn check, so a
    sandbox's fixed plan never teaches the set), and a score already past the stricter
    threshold."""
    return (
        policy.slots > 0
        and approved_on_face
        and live
        and strong_liveness
        and score is not None
        and score >= policy.adaptive_threshold
    )


def adapt(templates: TemplateSet, probe: npt.ArrayLike, policy: AdaptivePolicy) -> Adaptation:
    """Fold one approved payment's fused template into the set, within the bounds of the
    module docstring; the anchors never change."""
    q = _unit_rows(probe, templates.dimension)[0].astype(np.float64)
    anchor_scores = templates.anchors.astype(np.float64) @ q
    adaptive_scores = templates.adaptive.astype(np.float64) @ q
    anchor_score = float(anchor_scores.max())
    score = max(anchor_score, float(adaptive_scores.max()) if adaptive_scores.size else -1.0)

    def unchanged(verdict: AdaptVerdict) -> Adaptation:
        return Adaptation(
            verdict=verdict, templates=templates, score=score, anchor_score=anchor_score
        )

    if policy.slots == 0:
        return unchanged(AdaptVerdict.DISABLED)
    if score < policy.adaptive_threshold:
        return unchanged(AdaptVerdict.NOT_CLEAR)
    if anchor_score < policy.anchor_threshold:
        return unchanged(AdaptVerdict.FAR_FROM_ANCHORS)
    adaptive = templates.adaptive.astype(np.float64)
    updates = list(templates.updates)
    # A policy with fewer slots than the set holds (slots lowered since) only averages.
    closest = int(np.argmax(adaptive_scores)) if adaptive_scores.size else None
    free = adaptive.shape[0] < policy.slots
    if closest is None or (free and adaptive_scores[closest] < policy.merge_threshold):
        slot = adaptive.shape[0]
        adaptive = np.vstack([adaptive, q.reshape(1, -1)])
        updates.append(1)
        verdict = AdaptVerdict.SEEDED
    else:
        slot = closest
        n = updates[slot]
        weight = min(policy.max_weight, max(policy.min_weight, 1.0 / (n + 1)))
        mixed = (1.0 - weight) * adaptive[slot] + weight * q
        adaptive[slot] = mixed / np.linalg.norm(mixed)
        updates[slot] = min(n + 1, 0xFFFF)
        verdict = AdaptVerdict.UPDATED
    new = TemplateSet(
        anchors=templates.anchors,
        adaptive=adaptive.astype(np.float32),
        updates=tuple(updates),
    )
    return Adaptation(
        verdict=verdict, templates=new, score=score, anchor_score=anchor_score, slot=slot
    )

"""The gallery with several views per shopper: a shopper scores its set score (the
weighted mean of its two best views), the margin is between shoppers, and the pruned 1:N
search decides as a per-shopper brute force does."""

from __future__ import annotations

import numpy as np
import pytest

from facepay.server._gallery import Gallery, MatchOutcome
from facepay.server._templates import BEST_VIEW_WEIGHT, set_score
from facepay.testing.synthetic import at_cosine, beyond, face


def _brute(
    views: dict[str, np.ndarray],
    probe: np.ndarray,
    threshold: float,
    margin: float,
    weight: float = BEST_VIEW_WEIGHT,
) -> tuple[MatchOutcome, str | None, float]:
    q = probe.astype(np.float64) / np.linalg.norm(probe)
    best = {
        s: set_score((v / np.linalg.norm(v, axis=1, keepdims=True)) @ q, weight)
        for s, v in views.items()
    }
    order = sorted(best, key=lambda s: -best[s])
    top, second = best[order[0]], best[order[1]]
    if top < threshold:
        return MatchOutcome.NO_MATCH, None, top
    if top - second < margin:
        return MatchOutcome.AMBIGUOUS, None, top
    return MatchOutcome.MATCH, order[0], top


def test_a_lookalike_near_one_added_view_is_refused_in_1_to_1_and_1_to_n() -> None:
    g = Gallery(128)
    me = face(21)
    left = at_cosine(me, 0.965, 1)
    g.add("me", np.vstack([me, left]))
    g.add("other", face(22))
    lookalike = beyond(me, left, 0.975)
    for weight, outcome in ((1.0, MatchOutcome.MATCH), (BEST_VIEW_WEIGHT, MatchOutcome.NO_MATCH)):
        one = g.verify(lookalike, ["me"], threshold=0.96, margin=0.03, best_view_weight=weight)
        many = g.search(lookalike, threshold=0.96, margin=0.03, best_view_weight=weight)
        assert one.outcome is outcome
        assert many.outcome is outcome
    refused = g.verify(lookalike, ["me"], threshold=0.96, margin=0.03)
    # The score reported (audit, grey zone) is the set's, not the best view's.
    assert refused.best_score == pytest.approx(
        0.75 * 0.975 + 0.25 * float(lookalike @ me), abs=1e-4
    )


def test_two_views_of_one_shopper_never_make_a_margin_ambiguous() -> None:
    g = Gallery(128)
    me = face(1)
    g.add("me", np.vstack([me, at_cosine(me, 0.97, 1)]))
    g.add("other", face(2))
    result = g.search(me, threshold=0.96, margin=0.03)
    assert result.outcome is MatchOutcome.MATCH
    assert result.shopper_id == "me"
    assert len(g) == 2
    assert g.row_count == 3
    assert g.verify(at_cosine(me, 0.97, 1), ["me"], threshold=0.96, margin=0.03).outcome is (
        MatchOutcome.MATCH
    )


def test_ambiguous_candidates_name_each_shopper_once() -> None:
    g = Gallery(128)
    base = face(3)
    twin = at_cosine(base, 0.995, 1)
    g.add("a", np.vstack([base, at_cosine(base, 0.999, 2)]))
    g.add("b", np.vstack([twin, at_cosine(twin, 0.999, 3)]))
    result = g.search(base, threshold=0.96, margin=0.03)
    assert result.outcome is MatchOutcome.AMBIGUOUS
    assert sorted(result.candidates) == ["a", "b"]


@pytest.mark.parametrize("weight", [BEST_VIEW_WEIGHT, 1.0])
@pytest.mark.parametrize("seed", range(3))
def test_pruned_search_over_views_decides_as_brute_force(seed: int, weight: float) -> None:
    rng = np.random.default_rng(seed)
    g = Gallery(128)
    g.prune_min_rows = 200
    views: dict[str, np.ndarray] = {}
    for i in range(300):
        base = face(1000 * seed + i)
        rows = np.vstack(
            [base] + [at_cosine(base, 0.965, 10 * i + k) for k in range(int(rng.integers(0, 3)))]
        )
        views[f"shp_{i}"] = rows
        g.add(f"shp_{i}", rows, version=1)
    # Replace some sets with more or fewer views, remove others: the row bookkeeping holds.
    for i in range(0, 300, 7):
        base = face(1000 * seed + i)
        rows = np.vstack([base, at_cosine(base, 0.97, 5000 + i), at_cosine(base, 0.975, 6000 + i)])
        views[f"shp_{i}"] = rows
        g.add(f"shp_{i}", rows, version=2)
    for i in range(3, 300, 11):
        g.remove(f"shp_{i}")
        del views[f"shp_{i}"]
    assert len(g) == len(views)
    assert g.row_count == sum(v.shape[0] for v in views.values())
    seen: set[MatchOutcome] = set()
    for i in range(0, 300, 5):
        sid = f"shp_{i}"
        stored = g.views(sid)
        if sid not in views:
            assert stored is None
            continue
        assert stored is not None
        expected = views[sid] / np.linalg.norm(views[sid], axis=1, keepdims=True)
        np.testing.assert_allclose(stored, expected, atol=1e-4)
        near_one = beyond(views[sid][0], views[sid][-1], 0.975) if len(views[sid]) > 1 else None
        for probe in (at_cosine(views[sid][-1], 0.985, 7000 + i), near_one):
            if probe is None:
                continue
            result = g.search(probe, threshold=0.96, margin=0.03, best_view_weight=weight)
            outcome, who, top = _brute(views, probe, 0.96, 0.03, weight)
            assert result.outcome is outcome
            assert result.shopper_id == who
            if outcome is not MatchOutcome.NO_MATCH or top >= 0.96 - 0.03:
                assert result.best_score == pytest.approx(top, abs=1e-4)
            seen.add(outcome)
    assert g.stats().pruned_searches > 0
    # Both answers occur: the look-alikes near one view are refused at 0.75, not at 1.0.
    assert seen == (
        {MatchOutcome.MATCH, MatchOutcome.NO_MATCH} if weight < 1 else {MatchOutcome.MATCH}
    )

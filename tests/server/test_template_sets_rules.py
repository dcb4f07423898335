"""The rules of template sets (facepay.server._templates), without a database or a clock."""

from __future__ import annotations

import numpy as np
import pytest

from facepay.config import ServerConfig
from facepay.server._templates import (
    BEST_VIEW_WEIGHT,
    AdaptivePolicy,
    AdaptVerdict,
    TemplateSet,
    adapt,
    best_score,
    enrollment_set,
    may_adapt,
    score_set,
    set_score,
)
from facepay.testing.synthetic import beyond, face

POLICY = AdaptivePolicy(adaptive_threshold=0.975, anchor_threshold=0.96, slots=2)


def _at(base: np.ndarray, cosine: float, seed: int) -> np.ndarray:
    """A unit vector at exactly ``cosine`` from unit ``base``, in a random direction."""
    rng = np.random.default_rng(seed)
    other = rng.standard_normal(base.shape[0])
    other -= (other @ base) * base
    other /= np.linalg.norm(other)
    out = cosine * base + np.sqrt(1.0 - cosine**2) * other
    return out.astype(np.float32)


def test_a_set_scores_the_weighted_mean_of_its_two_best_views() -> None:
    assert set_score([0.97]) == pytest.approx(0.97)
    assert set_score([0.90, 0.99, 0.95], 0.75) == pytest.approx(0.75 * 0.99 + 0.25 * 0.95)
    assert set_score([0.95, 0.90, 0.99], 0.75) == pytest.approx(0.75 * 0.99 + 0.25 * 0.95)
    assert set_score([0.90, 0.99, 0.95], 1.0) == pytest.approx(0.99)
    assert set_score([0.98, 0.98], 0.6) == pytest.approx(0.98)
    # The backend's default is this module's.
    assert ServerConfig().best_view_weight == BEST_VIEW_WEIGHT
    for bad in (0.49, 1.01):
        with pytest.raises(ValueError, match="best_view_weight"):
            set_score([0.9, 0.8], bad)
    with pytest.raises(ValueError, match="one view"):
        set_score([])


def test_a_set_score_is_never_above_its_best_view_and_never_falls_when_a_view_rises() -> None:
    """What the pruned 1:N search relies on: an upper bound per view bounds the set."""
    rng = np.random.default_rng(0)
    for _ in range(500):
        views = rng.uniform(0.5, 1.0, size=int(rng.integers(1, 7)))
        weight = float(rng.uniform(0.5, 1.0))
        score = set_score(views, weight)
        assert score <= views.max() + 1e-12
        raised = views.copy()
        raised[int(rng.integers(0, views.size))] += float(rng.uniform(0.0, 0.1))
        assert set_score(raised, weight) >= score - 1e-12


def test_a_lookalike_near_one_added_view_only_scores_under_the_threshold() -> None:
    me = face(11).astype(np.float64)
    left = _at(me, 0.965, 1)
    templates, _ = enrollment_set([me, left], agreement=0.96)
    lookalike = beyond(me, left.astype(np.float64), 0.975)
    assert best_score(templates.views, lookalike) == pytest.approx(0.975, abs=1e-5)
    # The best view alone (the rule before) would have let it pay ...
    assert score_set(templates, lookalike, 1.0) >= 0.96
    # ... the set's score does not: it is also far from the primary (cosine 0.88).
    assert score_set(templates, lookalike) < 0.96
    # The shopper's own face between the two views is near both, and pays.
    between = (me / np.linalg.norm(me) + left / np.linalg.norm(left)).astype(np.float32)
    assert score_set(templates, between) >= 0.96
    # A set of one view scores it exactly as one template.
    single = TemplateSet.of(me)
    probe = _at(me / np.linalg.norm(me), 0.961, 2)
    assert score_set(single, probe) == pytest.approx(0.961, abs=1e-5)


def test_a_probe_scores_its_closest_view() -> None:
    frontal, turned = face(1), face(2)
    probe = _at(turned.astype(np.float64), 0.97, 3)
    assert best_score(np.vstack([frontal, turned]), probe) == pytest.approx(0.97, abs=1e-5)
    assert best_score(frontal, probe) < 0.3


def test_enrollment_keeps_views_of_the_primary_face_only() -> None:
    me = face(5).astype(np.float64)
    left, right, someone_else = _at(me, 0.97, 1), _at(me, 0.965, 2), face(6)
    templates, dropped = enrollment_set([me, left, someone_else, right], agreement=0.96)
    assert dropped == 1
    assert len(templates) == 3
    assert templates.adaptive.shape[0] == 0
    assert best_score(templates.views, someone_else) < 0.5
    with pytest.raises(ValueError, match=r"1\.\.5"):
        enrollment_set([me] * 6, agreement=0.96)


def test_a_payment_without_a_clear_margin_changes_nothing() -> None:
    me = face(7).astype(np.float64)
    templates = TemplateSet.of(me)
    out = adapt(templates, _at(me, 0.965, 1), POLICY)
    assert out.verdict is AdaptVerdict.NOT_CLEAR
    assert out.templates is templates


def test_clear_payments_seed_then_average_with_a_capped_weight() -> None:
    me = face(8).astype(np.float64)
    templates = TemplateSet.of(me)
    first = adapt(templates, _at(me, 0.98, 1), POLICY)
    assert first.verdict is AdaptVerdict.SEEDED
    assert first.slot == 0
    assert first.templates.updates == (1,)
    np.testing.assert_array_equal(first.templates.anchors, templates.anchors)
    # A template near the adaptive view is averaged into it, by at most max_weight.
    view = first.templates.adaptive[0].astype(np.float64)
    probe = _at(view, 0.995, 2)
    second = adapt(first.templates, probe, POLICY)
    assert second.verdict is AdaptVerdict.UPDATED
    assert second.slot == 0
    moved = second.templates.adaptive[0].astype(np.float64)
    assert second.templates.updates == (2,)
    angle_to_probe = np.arccos(np.clip(view @ probe, -1, 1))
    angle_moved = np.arccos(np.clip(view @ moved, -1, 1))
    assert 0 < angle_moved <= 0.26 * angle_to_probe


def test_slots_are_bounded_and_disabled_policy_never_adapts() -> None:
    me = face(9).astype(np.float64)
    templates = TemplateSet.of(me)
    for seed in range(20):
        templates = adapt(templates, _at(me, 0.98, 100 + seed), POLICY).templates
    assert templates.adaptive.shape[0] == POLICY.slots
    assert sum(templates.updates) == 20
    off = AdaptivePolicy(slots=0)
    assert adapt(templates, me, off).verdict is AdaptVerdict.DISABLED
    assert not may_adapt(
        approved_on_face=True, live=True, strong_liveness=True, score=0.99, policy=off
    )


@pytest.mark.parametrize(
    ("approved", "live", "strong", "score", "expected"),
    [
        (True, True, True, 0.98, True),
        (False, True, True, 0.98, False),  # a step-up approval
        (True, False, True, 0.98, False),
        (True, True, False, 0.98, False),  # a sandbox's fixed plan, no 3D check
        (True, True, True, 0.97, False),  # approved, but not by a clear margin
        (True, True, True, None, False),
    ],
)
def test_which_approvals_may_teach_the_set(
    approved: bool, live: bool, strong: bool, score: float | None, expected: bool
) -> None:
    assert (
        may_adapt(
            approved_on_face=approved, live=live, strong_liveness=strong, score=score, policy=POLICY
        )
        is expected
    )


def test_a_template_close_only_to_an_adaptive_view_is_refused() -> None:
    me = face(10).astype(np.float64)
    away = _at(me, 0.0, 1).astype(np.float64)
    edge, beyond = np.arccos(0.962), np.arccos(0.962) + np.arccos(0.99)
    view = np.cos(edge) * me + np.sin(edge) * away  # an adaptive view at the cap's edge
    templates = TemplateSet.of(me, [view], [3])
    # 0.99 to that view, further out on the same great circle: ~0.92 to the anchor.
    probe = np.cos(beyond) * me + np.sin(beyond) * away
    assert float(me @ probe) < 0.96
    out = adapt(templates, probe, POLICY)
    assert out.verdict is AdaptVerdict.FAR_FROM_ANCHORS
    assert out.templates is templates


def test_greedy_poisoning_stays_inside_the_anchor_cap() -> None:
    """An attacker who can present any template that passes both tests, each one as far
    towards themselves as the rules allow, 500 times: every adaptive view stays within the
    anchor's cap, so the impostor never gets near the payment threshold."""
    victim, impostor = face(11).astype(np.float64), face(12).astype(np.float64)
    templates = TemplateSet.of(victim)
    for _ in range(500):
        views = templates.views.astype(np.float64)
        # The best the attacker can send: the point nearest the impostor that still
        # scores adaptive_threshold against some view and anchor_threshold to the anchor.
        best = None
        for view in views:
            for t in np.linspace(0.0, 1.0, 41):
                candidate = (1 - t) * view + t * impostor
                candidate /= np.linalg.norm(candidate)
                if (
                    float(np.max(views @ candidate)) >= POLICY.adaptive_threshold
                    and float(victim @ candidate) >= POLICY.anchor_threshold
                ):
                    best = candidate
        assert best is not None
        templates = adapt(templates, best, POLICY).templates
    for view in templates.adaptive.astype(np.float64):
        assert float(view @ victim) >= POLICY.anchor_threshold - 1e-5
    # The impostor's own face still scores nowhere near the payment threshold.
    assert best_score(templates.views, impostor) < 0.5


def test_slow_genuine_drift_is_followed() -> None:
    """A face that drifts slowly (glasses, hair, age): without update it falls below the
    payment threshold; with update the set follows it."""
    start = face(13).astype(np.float64)
    away = _at(start, 0.0, 1).astype(np.float64)  # orthogonal direction of the drift
    rng = np.random.default_rng(14)
    templates = TemplateSet.of(start)
    frozen = TemplateSet.of(start)
    threshold = 0.96
    refused_frozen = refused_adaptive = 0
    for step in range(200):
        angle = step * 0.0025  # radians per payment; ~29 degrees after 200
        true = np.cos(angle) * start + np.sin(angle) * away
        probe = true + 0.008 * rng.standard_normal(start.shape[0])
        probe /= np.linalg.norm(probe)
        refused_frozen += best_score(frozen.views, probe) < threshold
        if best_score(templates.views, probe) >= threshold:
            templates = adapt(templates, probe, POLICY).templates
        else:
            refused_adaptive += 1
    assert refused_frozen >= 20
    assert refused_adaptive < refused_frozen / 2


def test_the_at_rest_layout_is_the_one_docs_crypto_md_states() -> None:
    from pathlib import Path

    from facepay.server._vault import decode_template_set, encode_template_set

    known = TemplateSet.of(np.array([[1.0, 0.0]]), np.array([[0.6, 0.8]]), [3])
    data = encode_template_set(known, "m")
    doc = (Path(__file__).parents[2] / "docs" / "crypto.md").read_text(encoding="utf-8")
    assert data.hex() in doc
    assert decode_template_set(data).templates.same_as(known)

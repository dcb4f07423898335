"""The bound-pruned 1:N search decides exactly as the exhaustive search.

Every case builds a gallery, asks :meth:`Gallery.search`, and compares with a float64
brute force over the same normalized templates fed to :func:`decide`: same outcome, same
shopper, same AMBIGUOUS candidates and scores; ``best_score``/``second_score`` exact at
or above ``exact_above`` and never below the truth under it. Pruning starts at
``prune_min_rows`` rows, lowered here so small galleries take the production path.

Scores within ``FRAGILE`` of a decision boundary are decided by float32 rounding in
either search (the stored rows live in a rotated basis), so such probes are counted and
left out; each test asserts that almost all of its probes were compared.
"""

from __future__ import annotations

import threading

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facepay.server import Gallery
from facepay.server._gallery import MatchOutcome, MatchResult, decide

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
D = 128
THRESHOLD = 0.96  # ServerConfig defaults
MARGIN = 0.03
FRAGILE = 5e-6


def unit_rows(rng: np.random.Generator, n: int, d: int = D) -> F32:
    m = rng.standard_normal((n, d))
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    return m.astype(np.float32)


def clustered_rows(rng: np.random.Generator, n: int, spread: float, d: int = D) -> F32:
    """Rows sharing one strong common direction, like dlib descriptors (whose cosines
    between different people sit around 0.85), seen through a random rotation."""
    mean = rng.standard_normal(d)
    mean /= np.linalg.norm(mean)
    scales = np.linspace(1.5, 0.2, d)  # anisotropic residual: PCA has something to find
    rot, _ = np.linalg.qr(rng.standard_normal((d, d)))
    m = mean + spread * (rng.standard_normal((n, d)) * scales) @ rot.T / np.sqrt(d)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    return m.astype(np.float32)


def pruning_gallery(rows: F32, *, min_rows: int = 256, head: int | None = None) -> Gallery:
    g = Gallery(rows.shape[1], head=head)
    g.prune_min_rows = min_rows
    g.add_many([f"shp_{i}" for i in range(rows.shape[0])], rows)
    return g


def reference(rows: F32, probe: F32, threshold: float, margin: float) -> tuple[MatchResult, F64]:
    q = probe.astype(np.float64)
    q /= np.linalg.norm(q)
    scores = rows.astype(np.float64) @ q
    ids = [f"shp_{i}" for i in range(rows.shape[0])]
    return decide(scores.copy(), ids, threshold=threshold, margin=margin), scores  # type: ignore[arg-type]


def fragile(scores: F64, threshold: float, margin: float) -> bool:
    """Is a decision boundary within rounding reach (which row is best, the threshold,
    the margin, who is a candidate, the candidates' order)?"""
    if scores.shape[0] < 2:
        return False
    top = np.sort(scores)[::-1]
    best, second = top[0], top[1]
    edge = max(threshold, best - margin)
    near = top[1:][np.abs(top[1:] - edge) < 1e-2]
    gaps = np.diff(top[top >= edge - FRAGILE][:6])  # the candidates' order
    return bool(
        abs(best - threshold) < FRAGILE
        or abs(best - second - margin) < FRAGILE
        or best - second < FRAGILE
        or np.any(np.abs(near - edge) < FRAGILE)
        or (best >= threshold and np.any(np.abs(gaps) < FRAGILE))
    )


def assert_same(got: MatchResult, want: MatchResult, threshold: float) -> None:
    assert got.outcome is want.outcome
    assert got.shopper_id == want.shopper_id
    assert got.gallery_size == want.gallery_size
    assert got.candidates == want.candidates
    np.testing.assert_allclose(got.candidate_scores, want.candidate_scores, atol=1e-5)
    for name in ("best_score", "second_score"):
        value, true = getattr(got, name), getattr(want, name)
        if true is None:
            assert value is None
            continue
        assert value is not None
        if got.exact_above is None or value >= got.exact_above:
            assert value == pytest.approx(true, abs=1e-5), name
        else:
            # An upper bound, never below the truth, and under the cutoff.
            assert value >= true - 1e-5, name
            assert value < got.exact_above
    if got.exact_above is not None:
        # Pruning only ever happens below the decision's own cutoffs.
        assert got.exact_above <= threshold


def check_probes(
    g: Gallery,
    rows: F32,
    probes: list[F32],
    *,
    threshold: float = THRESHOLD,
    margin: float = MARGIN,
) -> dict[MatchOutcome, int]:
    seen: dict[MatchOutcome, int] = {}
    skipped = 0
    for probe in probes:
        want, scores = reference(rows, probe, threshold, margin)
        if fragile(scores, threshold, margin):
            skipped += 1
            continue
        got = g.search(probe, threshold=threshold, margin=margin)
        assert_same(got, want, threshold)
        seen[got.outcome] = seen.get(got.outcome, 0) + 1
    assert skipped <= max(1, len(probes) // 20), f"{skipped} of {len(probes)} probes fragile"
    return seen


def probe_at(rng: np.random.Generator, targets: dict[int, float], rows: F32) -> F32:
    """A unit probe whose cosine with ``rows[i]`` is ``targets[i]`` (float64-exact), built
    on the first target row; with two targets the second row is rebuilt around the probe
    (callers then put it back into the gallery)."""
    (i, s), *rest = targets.items()
    g = rows[i].astype(np.float64)
    u = rng.standard_normal(rows.shape[1])
    u -= (u @ g) * g
    u /= np.linalg.norm(u)
    q = s * g + np.sqrt(1 - s * s) * u
    for j, sj in rest:
        v = rng.standard_normal(rows.shape[1])
        v -= (v @ q) * q
        v /= np.linalg.norm(v)
        rows[j] = (sj * q + np.sqrt(1 - sj * sj) * v).astype(np.float32)
    return q.astype(np.float32)


@pytest.mark.parametrize("seed", range(4))
def test_random_galleries_genuine_and_impostor_probes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = unit_rows(rng, 3000)
    g = pruning_gallery(rows)
    probes = [
        rows[rng.integers(len(rows))] + noise * rng.standard_normal(D).astype(np.float32)
        for noise in (0.0, 0.005, 0.01, 0.015, 0.02, 0.03)
        for _ in range(5)
    ]
    probes += [rng.standard_normal(D).astype(np.float32) for _ in range(20)]
    seen = check_probes(g, rows, probes)
    assert seen.get(MatchOutcome.MATCH, 0) > 0
    assert seen.get(MatchOutcome.NO_MATCH, 0) > 0
    stats = g.stats()
    assert stats.pruned_searches == stats.searches  # random rows: the bound prunes
    assert stats.rows_rescored < 0.01 * stats.rows_searched


@pytest.mark.parametrize("seed", range(3))
def test_near_threshold_probes(seed: int) -> None:
    """Best score a hair over or under the threshold, alone or with a runner-up."""
    rng = np.random.default_rng(100 + seed)
    rows = unit_rows(rng, 2000)
    probes = []
    for delta in (-3e-3, -5e-4, -1e-4, 1e-4, 5e-4, 3e-3):
        i = int(rng.integers(len(rows)))
        probes.append(probe_at(rng, {i: THRESHOLD + delta}, rows))
    g = pruning_gallery(rows)
    seen = check_probes(g, rows, probes)
    assert seen.get(MatchOutcome.MATCH, 0) == 3
    assert seen.get(MatchOutcome.NO_MATCH, 0) == 3


@pytest.mark.parametrize("head", [None, 120])
@pytest.mark.parametrize("seed", range(3))
def test_near_margin_probes(seed: int, head: int | None) -> None:
    """A runner-up a hair inside or outside the margin, under the threshold: with a tight
    bound (head=120) it is only found by the second cutoff, best - margin."""
    rng = np.random.default_rng(200 + seed)
    rows = unit_rows(rng, 2000)
    picks = iter(rng.choice(len(rows), 32, replace=False).tolist())  # disjoint pairs
    cases = []
    for best in (0.961, 0.97, 0.99, 0.999):
        for delta in (-1e-3, -1e-4, 1e-4, 1e-3):
            cases.append((next(picks), next(picks), best, best - MARGIN + delta))
    probes = [probe_at(rng, {i: s1, j: s2}, rows) for i, j, s1, s2 in cases]
    g = pruning_gallery(rows, head=head)
    seen = check_probes(g, rows, probes)
    assert seen.get(MatchOutcome.AMBIGUOUS, 0) >= 4
    assert seen.get(MatchOutcome.MATCH, 0) >= 4


def test_ambiguous_candidates_and_three_way_ties_within_margin() -> None:
    rng = np.random.default_rng(7)
    rows = unit_rows(rng, 1500)
    q = probe_at(rng, {0: 0.985, 1: 0.975}, rows)
    # a third and a fourth row inside the margin, a fifth just outside it
    for j, s in ((2, 0.97), (3, 0.962), (4, 0.95)):
        v = rng.standard_normal(D)
        v -= (v @ q) * q
        v /= np.linalg.norm(v)
        rows[j] = (s * q + np.sqrt(1 - s * s) * v).astype(np.float32)
    g = pruning_gallery(rows)
    seen = check_probes(g, rows, [q])
    got = g.search(q, threshold=THRESHOLD, margin=MARGIN)
    assert seen == {MatchOutcome.AMBIGUOUS: 1}
    assert got.candidates == ("shp_0", "shp_1", "shp_2", "shp_3")
    assert got.exact_above is not None


@pytest.mark.parametrize("seed", range(3))
def test_clustered_galleries_like_real_embeddings(seed: int) -> None:
    """A strong common direction: the PCA basis must carry it in the head, or nothing
    would be pruned. Thresholds are varied so some probes decide near the cluster."""
    rng = np.random.default_rng(300 + seed)
    rows = clustered_rows(rng, 4000, spread=0.55)
    g = pruning_gallery(rows)
    assert g.stats().rebases == 1
    probes = [
        rows[rng.integers(len(rows))] + 0.01 * rng.standard_normal(D).astype(np.float32)
        for _ in range(20)
    ]
    probes += list(clustered_rows(rng, 20, spread=0.55))
    check_probes(g, rows, probes)
    for threshold, margin in ((0.93, 0.05), (0.9, 0.02), (0.99, 0.0)):
        check_probes(g, rows, probes[:10], threshold=threshold, margin=margin)
    stats = g.stats()
    assert stats.pruned_searches > 0


def test_pruning_fails_and_the_search_falls_back_to_the_full_product() -> None:
    """Every row close to every probe: the bound keeps most rows, so the search must scan
    in full (and still decide exactly)."""
    rng = np.random.default_rng(400)
    rows = clustered_rows(rng, 3000, spread=0.35)
    g = pruning_gallery(rows)
    probes = [
        rows[rng.integers(len(rows))] + 0.002 * rng.standard_normal(D).astype(np.float32)
        for _ in range(10)
    ]
    probes += list(clustered_rows(rng, 10, spread=0.35))
    for threshold, margin in ((THRESHOLD, MARGIN), (0.9, 0.01)):
        check_probes(g, rows, probes, threshold=threshold, margin=margin)
    stats = g.stats()
    assert stats.full_scans > 0
    full = g.search(probes[0], threshold=0.9, margin=0.01)
    assert full.exact_above is None  # a full scan: every score exact


def test_fallback_after_the_second_cutoff_grows_the_survivors() -> None:
    """Few rows over the threshold but many within the margin below the best: the first
    cutoff passes and the second one overflows the rescoring budget."""
    rng = np.random.default_rng(450)
    rows = unit_rows(rng, 2000)
    q = rng.standard_normal(D)
    q /= np.linalg.norm(q)
    for j in range(300):
        s = 0.931 + 0.0285 * j / 300  # [0.931, 0.9595): under the threshold, over best-margin
        v = rng.standard_normal(D)
        v -= (v @ q) * q
        v /= np.linalg.norm(v)
        rows[j] = (s * q + np.sqrt(1 - s * s) * v).astype(np.float32)
    v = rng.standard_normal(D)
    v -= (v @ q) * q
    v /= np.linalg.norm(v)
    rows[1999] = (0.9605 * q + np.sqrt(1 - 0.9605**2) * v).astype(np.float32)
    g = pruning_gallery(rows)
    before = g.stats().full_scans
    check_probes(g, rows, [q.astype(np.float32)])
    assert g.stats().full_scans == before + 1


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 700),
    head=st.sampled_from([1, 8, 32, 64, 127, 128]),
    threshold=st.floats(0.5, 0.999),
    margin=st.floats(0.0, 0.2),
    noise=st.sampled_from([0.0, 0.01, 0.05, 0.5]),
    clustered=st.booleans(),
)
def test_property_any_gallery_any_head_any_operating_point(
    seed: int, n: int, head: int, threshold: float, margin: float, noise: float, clustered: bool
) -> None:
    rng = np.random.default_rng(seed)
    rows = clustered_rows(rng, n, spread=1.0) if clustered else unit_rows(rng, n)
    g = Gallery(D, head=head, capacity=16)
    g.prune_min_rows = 2
    g.rescore_fraction = float(rng.choice([0.05, 0.5, 1.0]))
    for i in range(n):  # one by one: exercises growth and refits at each doubling
        g.add(f"shp_{i}", rows[i])
    probe = rows[rng.integers(n)] + noise * rng.standard_normal(D).astype(np.float32)
    want, scores = reference(rows, probe, threshold, margin)
    if not fragile(scores, threshold, margin):
        got = g.search(probe, threshold=threshold, margin=margin)
        assert got.outcome is want.outcome
        assert got.shopper_id == want.shopper_id
        assert got.candidates == want.candidates


def test_add_replace_remove_and_vector_survive_refits() -> None:
    rng = np.random.default_rng(500)
    # two populations: the second one makes the refit at 800 worth its cost
    rows = np.vstack([clustered_rows(rng, 400, 0.55), clustered_rows(rng, 800, 0.55)])
    g = Gallery(D, capacity=16)
    g.prune_min_rows = 300
    ids = [f"shp_{i}" for i in range(len(rows))]
    g.add_many(ids[:400], rows[:400])  # refit at 400
    for i in range(400, 1200):
        g.add(ids[i], rows[i])  # refit at 800
    assert g.stats().rebases == 2
    for i in (0, 399, 400, 1199):
        got = g.vector(ids[i])
        assert got is not None
        np.testing.assert_allclose(got, rows[i], atol=2e-6)
    # replace one, remove a few (the last row moves into the hole)
    rows[5] = unit_rows(rng, 1)[0]
    g.add(ids[5], rows[5])
    keep = np.ones(len(rows), dtype=bool)
    for i in (7, 1199, 300):
        assert g.remove(ids[i])
        keep[i] = False
    assert not g.remove(ids[7])
    assert len(g) == 1197
    assert ids[7] not in g
    assert ids[8] in g
    live = [ids[i] for i in range(len(rows)) if keep[i]]
    probes = [rows[i] + 0.01 * rng.standard_normal(D).astype(np.float32) for i in (5, 8, 1198)]
    for i, probe in zip((5, 8, 1198), probes, strict=True):
        got = g.search(probe, threshold=THRESHOLD, margin=MARGIN)
        assert got.outcome is MatchOutcome.MATCH
        assert got.shopper_id == ids[i]
        assert got.gallery_size == 1197
        claimed = g.verify(probe, [ids[i], ids[7], ids[9]], threshold=THRESHOLD, margin=MARGIN)
        assert claimed.outcome is MatchOutcome.MATCH
        assert claimed.shopper_id == ids[i]
        assert claimed.gallery_size == 2
        want = float(rows[i] @ probe / np.linalg.norm(probe))
        assert claimed.best_score == pytest.approx(want, abs=1e-5)
    # every id still points at its own template
    for sid in live[::97]:
        got_vec = g.vector(sid)
        assert got_vec is not None
        np.testing.assert_allclose(got_vec, rows[int(sid.split("_")[1])], atol=2e-6)


def test_input_checks() -> None:
    g = Gallery(8)
    with pytest.raises(ValueError, match="no direction"):
        g.add("a", np.zeros(8))
    with pytest.raises(ValueError, match="dimension"):
        g.add("a", np.ones(9))
    with pytest.raises(ValueError, match="one shopper id per row"):
        g.add_many(["a"], np.ones((2, 8), dtype=np.float32))
    with pytest.raises(ValueError, match="head"):
        Gallery(8, head=9)
    assert g.search(np.ones(8, dtype=np.float32), threshold=0.9, margin=0.1).outcome is (
        MatchOutcome.NO_MATCH
    )


def test_concurrent_search_add_remove() -> None:
    rng = np.random.default_rng(600)
    rows = np.vstack([clustered_rows(rng, 1000, 0.55), clustered_rows(rng, 2000, 0.55)])
    g = pruning_gallery(rows[:1000], min_rows=200)
    errors: list[BaseException] = []
    stop = threading.Event()

    def searcher(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            while not stop.is_set():
                i = int(rng.integers(1000))
                got = g.search(rows[i], threshold=THRESHOLD, margin=MARGIN)
                # rows < 1000 are never removed
                assert got.outcome is MatchOutcome.MATCH
                assert got.shopper_id == f"shp_{i}"
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=searcher, args=(s,)) for s in (1, 2)]
    for t in threads:
        t.start()
    for i in range(1000, 3000):  # grows through a refit at 2000 while searches run
        g.add(f"shp_{i}", rows[i])
        if i % 3 == 0:
            g.remove(f"shp_{i - 1}")
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert g.stats().rebases >= 2
    assert len(g) == 3000 - len([i for i in range(1000, 3000) if i % 3 == 0])


def test_a_gallery_that_keeps_its_shape_is_not_refitted_when_it_doubles() -> None:
    """A refit costs a pass over every row under the lock; it only happens when the new
    basis would move a tenth of the tail's energy into the head."""
    rng = np.random.default_rng(700)
    rows = clustered_rows(rng, 8000, 0.55)  # one population
    g = pruning_gallery(rows[:2000], min_rows=2000)
    assert g.stats().rebases == 1  # the first fit finds the common direction
    g.add_many([f"shp_{i}" for i in range(2000, 8000)], rows[2000:])  # checked at 8000
    assert g.stats().rebases == 1
    other = clustered_rows(rng, 16000, 0.55)  # a different population arrives
    g.add_many([f"new_{i}" for i in range(len(other))], other)
    assert g.stats().rebases == 2
    probe = other[5] + 0.01 * rng.standard_normal(D).astype(np.float32)
    got = g.search(probe, threshold=THRESHOLD, margin=MARGIN)
    assert got.shopper_id == "new_5"
    assert got.exact_above is not None  # pruned


def test_isotropic_vectors_keep_the_identity_basis() -> None:
    rng = np.random.default_rng(800)
    g = pruning_gallery(unit_rows(rng, 30000), min_rows=20000)
    assert g.stats().rebases == 0  # no basis would help: no pass over the rows


def test_wide_templates_are_searched_exactly_without_a_basis() -> None:
    rng = np.random.default_rng(900)
    rows = clustered_rows(rng, 600, 0.55, d=1024)
    g = pruning_gallery(rows, min_rows=100)
    assert g.stats().rebases == 0  # 1024 > max_basis_dimension
    probes = [rows[7] + 0.005 * rng.standard_normal(1024).astype(np.float32)]
    probes += list(clustered_rows(rng, 3, 0.55, d=1024))
    check_probes(g, rows, probes, threshold=0.9, margin=0.02)

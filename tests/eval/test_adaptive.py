"""`facepay eval adaptive`: histories through the backend's own code, and their numbers."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from facepay.cli import main
from facepay.config import ServerConfig
from facepay.eval._adaptive import (
    Attempt,
    History,
    Visit,
    backend_grey_zone,
    condition_report,
    conditions,
    grey_zone_sweep,
    paired_drift,
    plan_history,
    run_conditions,
    run_history,
)
from facepay.eval._verify import EnrolledSample
from facepay.testing import face, same_face, template
from facepay.testing.synthetic import at_cosine


def _people(spec: dict[str, tuple[np.ndarray, int, float]]) -> list[EnrolledSample]:
    """identity -> (base vector, captures, noise): each capture is base plus noise."""
    out = []
    for p, (identity, (base, n, noise)) in enumerate(spec.items()):
        for k in range(n):
            vector = same_face(base, seed=100 * p + k, noise=noise)
            out.append(EnrolledSample(identity, f"{identity}/{k}", template(vector)))
    return out


def test_history_is_seeded_and_keeps_who_is_who_apart() -> None:
    samples = _people(
        {name: (face(i), 4, 0.02) for i, name in enumerate(["ana", "ben", "cy", "dee"])}
    )
    a = plan_history(samples, seed=7, impostors_per_target=5, lookalikes=2)
    assert a == plan_history(samples, seed=7, impostors_per_target=5, lookalikes=2)
    assert a != plan_history(samples, seed=8, impostors_per_target=5, lookalikes=2)
    for visit in a.visits:
        same = samples[visit.sample].identity == visit.target
        assert same is visit.genuine
        assert visit.sample not in a.enrolments[visit.target]  # never pays with its enrolment
    for target in a.enrolments:
        mine = [v for v in a.visits if v.target == target]
        assert sum(v.genuine for v in mine) == 3  # 4 samples, one enrolled
        assert sum(not v.genuine for v in mine) == 5
        assert sum(v.lookalike for v in mine) == 2
    # Two views enrol two samples each and leave two to pay with.
    b = plan_history(samples, seed=7, enroll_views=2, impostors_per_target=0)
    assert all(len(v) == 2 for v in b.enrolments.values())
    assert len(b.visits) == 4 * 2
    # With one reserve, one view and two views pay with the same samples in the same order.
    one = plan_history(samples, seed=7, enroll_views=1, reserve=2, impostors_per_target=3)
    two = plan_history(samples, seed=7, enroll_views=2, reserve=2, impostors_per_target=3)
    assert one.visits == two.visits
    assert all(two.enrolments[t][:1] == v for t, v in one.enrolments.items())


def test_lookalikes_are_the_closest_other_people() -> None:
    ana = face(1)
    samples = _people({"ana": (ana, 2, 0.02), "far": (face(2), 3, 0.02)})
    # A look-alike: close to ana, but not ana.
    twin = (ana + 0.6 * face(3)).astype(np.float32)
    samples.append(EnrolledSample("twin", "twin/0", template(twin)))
    history = plan_history(samples, seed=0, impostors_per_target=2, lookalikes=1)
    looks = [v for v in history.visits if v.target == "ana" and v.lookalike]
    assert [samples[v.sample].source for v in looks] == ["twin/0"]


def test_backend_decides_and_an_accepted_impostor_never_counts_as_genuine() -> None:
    ana, cy = face(11), face(12)
    samples = _people(
        {
            "ana": (ana, 3, 0.01),
            # Another person whose captures the model cannot tell from ana's.
            "ana_twin": (ana, 3, 0.01),
            "cy": (cy, 3, 0.01),
        }
    )
    history = plan_history(samples, seed=3, impostors_per_target=10, lookalikes=0)
    attempts = run_history(samples, history, ServerConfig(), order=0)
    assert len(attempts) == len(history.visits)
    twins = {"ana", "ana_twin"}
    for a in attempts:
        presenter = a.source.split("/")[0]
        assert a.genuine is (presenter == a.target)
        assert a.score is not None
        if {presenter, a.target} == twins:
            assert not a.genuine
            assert a.status == "approved"
        if "cy" in (presenter, a.target) and not a.genuine:
            assert a.status == "declined"
            assert a.decline_reason == "no_match"
    report = condition_report(attempts)
    genuine = [a for a in attempts if a.genuine]
    impostor = [a for a in attempts if not a.genuine]
    assert report["genuine_attempts"] == len(genuine) == 3 * 2
    assert report["fnmr"] == 0.0
    twin_accepts = sum({a.source.split("/")[0], a.target} == twins for a in impostor)
    assert twin_accepts > 0
    assert report["fmr"] == pytest.approx(twin_accepts / len(impostor), abs=1e-6)
    assert set(report["false_accepts"]) <= {"ana <- ana_twin", "ana_twin <- ana"}
    assert sum(report["false_accepts"].values()) == twin_accepts
    assert report["other_outcomes"] == {}


def test_update_and_views_are_the_backends_and_counted_per_condition(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The backend as configured (here with two adaptive slots, the default) is compared
    # with the same backend without update.
    monkeypatch.setenv("FACEPAY_SERVER_ADAPTIVE_SLOTS", "2")
    rng = np.random.default_rng(5)
    ana = face(31)
    # A face that drifts a little at every capture (ageing, new glasses): later captures
    # are far from the first, each is close to the one before.
    drift, captures = ana.copy(), []
    for _ in range(8):
        drift = drift + 0.09 * rng.standard_normal(128).astype(np.float32) / np.sqrt(128)
        captures.append(drift / np.linalg.norm(drift))
    samples = [EnrolledSample("ana", f"ana/{k}", template(v)) for k, v in enumerate(captures)]
    samples += _people({"ben": (face(32), 4, 0.01)})
    chosen = conditions((1, 2))
    assert list(chosen) == [
        "views=1, no update",
        "views=1, update",
        "views=2, no update",
        "views=2, update",
    ]
    assert chosen["views=1, no update"][0].adaptive_slots == 0
    assert chosen["views=1, update"][0].adaptive_slots > 0
    runs = run_conditions(samples, chosen, orders=2, seed=0, impostors_per_target=3, lookalikes=1)
    reports = {name: condition_report(rows) for name, rows in runs.items()}
    for name, report in reports.items():
        assert report["updates_by_impostor"] == 0
        assert (report["updates_by_shopper"] > 0) is name.endswith(", update")
        assert report["fmr"] == 0.0
    assert reports["views=2, no update"]["enrolled_views_mean"] > 1.0
    for name in chosen:  # the same visits under every condition
        assert [(a.order, a.source) for a in runs[name]] == [
            (a.order, a.source) for a in runs["views=1, no update"]
        ]


def test_the_backends_grey_zone_asks_the_pin_and_only_the_shopper_answers_it() -> None:
    # Without update: the scores below are placed against ana's enrolment, and a clear
    # payment folded into her set would move every later score (that is measured above).
    config = dataclasses.replace(ServerConfig(), adaptive_slots=0)
    grey, match = config.grey_threshold, config.match_threshold
    ana, ben = face(41), face(42)
    # ana enrols from her first capture; the others sit at known scores from it: two clear,
    # two in the grey zone, one below it. ben's captures are placed the same way around
    # ana's enrolment, so ben is an impostor who reaches ana's grey zone.
    ana_scores = [0.99, 0.97, (grey + match) / 2, grey + 0.001, grey - 0.02]
    samples = [EnrolledSample("ana", "ana/enrol", template(ana))]
    samples += [
        EnrolledSample("ana", f"ana/{k}", template(at_cosine(ana, c, seed=k)))
        for k, c in enumerate(ana_scores)
    ]
    samples += [
        EnrolledSample("ben", "ben/grey", template(at_cosine(ana, (grey + match) / 2, seed=9))),
        EnrolledSample("ben", "ben/far", template(ben)),
    ]
    # Enrolled from sample 0; every other sample claims ana once, in order.
    history = History(
        seed=0,
        enrolments={"ana": (0,)},
        visits=tuple(Visit("ana", i, samples[i].identity == "ana") for i in range(1, len(samples))),
    )
    attempts = run_history(samples, history, config)
    by_source = {a.source: a for a in attempts}
    for k in (0, 1):
        assert by_source[f"ana/{k}"].status == "approved"
        assert by_source[f"ana/{k}"].step_up is None
    for k in (2, 3):  # the grey zone: PIN asked, the right PIN approves
        assert by_source[f"ana/{k}"].step_up == "pin"
        assert by_source[f"ana/{k}"].final_status == "approved"
    assert by_source["ana/4"].final_status == "declined"  # below the grey zone
    assert by_source["ben/grey"].step_up == "pin"  # reaches the prompt, never the money
    assert by_source["ben/grey"].final_status == "step_up"
    assert by_source["ben/far"].step_up is None
    seen = backend_grey_zone(attempts, config=config)
    assert seen["genuine_asked_pin"] == 2
    assert seen["genuine_approved_after_pin"] == 2
    assert seen["genuine_refused"] == pytest.approx(1 / 5)
    assert seen["impostor_asked_pin"] == 1
    assert seen["sweep_disagreements"] == 0
    # The sweep at the backend's grey threshold says the same as the backend did.
    (row,) = grey_zone_sweep(
        attempts, match_threshold=match, grey_thresholds=[grey], pin_guess_probability=0.5
    )
    assert (row["approved_on_face"], row["step_up"], row["refused"]) == (0.4, 0.4, 0.2)
    assert row["impostor_in_grey_zone"] == 0.5
    assert row["combined_false_accept"] == pytest.approx(0.25)


def test_scores_are_the_backends_cosine_with_the_enrolment() -> None:
    samples = _people({"ana": (face(21), 4, 0.03), "ben": (face(22), 4, 0.03)})
    history = plan_history(samples, seed=1, impostors_per_target=4, lookalikes=0)
    attempts = run_history(samples, history, ServerConfig(), order=0)
    by_source = {s.source: np.asarray(s.template.vector, dtype=np.float64) for s in samples}
    for visit, a in zip(history.visits, attempts, strict=True):
        (enrolled,) = history.enrolments[visit.target]
        u = by_source[samples[enrolled].source]
        v = by_source[a.source]
        cosine = float(u @ v / np.linalg.norm(u) / np.linalg.norm(v))
        assert a.score == pytest.approx(cosine, abs=2e-4)  # the audit rounds to 4 places
        assert (a.status == "approved") is (cosine >= 0.96)


def _attempt(
    score: float, *, genuine: bool, approved: bool = False, source: str | None = None
) -> Attempt:
    return Attempt(
        order=0,
        position=0,
        target="t",
        source=source or f"s{score}",
        genuine=genuine,
        lookalike=False,
        status="approved" if approved else "declined",
        decline_reason=None if approved else "no_match",
        score=score,
    )


def test_grey_zone_rates_on_known_scores() -> None:
    attempts = [
        _attempt(0.97, genuine=True, approved=True),
        _attempt(0.955, genuine=True),
        _attempt(0.945, genuine=True),
        _attempt(0.90, genuine=True),
        _attempt(0.95, genuine=False),
        _attempt(0.80, genuine=False),
        _attempt(0.70, genuine=False),
        _attempt(0.60, genuine=False),
        # Declined at a score the audit rounded up to the threshold: not a face match.
        _attempt(0.96, genuine=True),
    ]
    rows = grey_zone_sweep(
        attempts,
        match_threshold=0.96,
        grey_thresholds=[0.96, 0.95, 0.94, 0.99],
        pin_guess_probability=3e-4,
    )
    assert [r["grey_threshold"] for r in rows] == [0.96, 0.95, 0.94]  # 0.99 is no grey zone
    shipped, g95, g94 = rows
    assert (shipped["approved_on_face"], shipped["step_up"], shipped["refused"]) == (
        0.2,
        0.0,
        0.8,
    )
    assert (g95["step_up"], g95["refused"]) == (0.4, 0.4)
    assert (g94["step_up"], g94["refused"]) == (0.6, 0.2)
    assert g95["impostor_in_grey_zone"] == 0.25
    assert g95["combined_false_accept"] == pytest.approx(0.25 * 3e-4)
    assert shipped["combined_false_accept"] == 0.0


def test_drift_pairs_the_same_visits_and_refuses_others() -> None:
    base = [
        _attempt(0.90, genuine=True, source="g"),
        _attempt(0.80, genuine=False, source="i"),
    ]
    learned = [
        _attempt(0.93, genuine=True, approved=True, source="g"),
        _attempt(0.79, genuine=False, source="i"),
    ]
    drift = paired_drift(base, learned)
    assert drift["genuine"] == {"attempts": 1, "mean_change": 0.03, "max_rise": 0.03, "rose": 1}
    assert drift["impostor"]["rose"] == 0
    assert drift["impostor"]["mean_change"] == -0.01
    with pytest.raises(ValueError, match="same histories"):
        paired_drift(base, list(reversed(learned)))


def _link_faces(eval_dir: Path, root: Path, picks: dict[str, list[str]]) -> None:
    for identity, names in picks.items():
        (root / identity).mkdir(parents=True)
        for name in names:
            (root / identity / name).symlink_to(eval_dir / "faces" / identity / name)


@pytest.mark.eval
def test_eval_adaptive_command_on_stills(
    eval_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two adaptive slots (the default), said here; the command compares the
    # backend as configured with the same backend without update.
    monkeypatch.setenv("FACEPAY_SERVER_ADAPTIVE_SLOTS", "2")
    # A small slice of ../shared/eval/faces (symlinked, never copied).
    picks = {
        "barack_obama": ["obama1.jpg", "obama2.jpg", "obama3.jpg"],
        "joe_biden": ["biden.jpg", "biden2.jpg"],
        "katy_perry": ["img44.jpg", "img45.jpg"],
    }
    _link_faces(eval_dir, tmp_path, picks)
    argv = ["eval", "adaptive", str(tmp_path), "--json", "--orders", "2", "--impostors", "3"]
    assert main([*argv, "--lookalikes", "1", "--grey-distances", "0.04,0.06"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["samples"] == 7
    assert report["best_view_weight"] == ServerConfig().best_view_weight
    assert report["identities"] == 3
    assert list(report["conditions"]) == ["views=1, no update", "views=1, update"]
    for name, run in report["conditions"].items():
        # Every sample but the enrolled one pays, in each of the 2 orders.
        assert run["genuine_attempts"] == 2 * (2 + 1 + 1)
        assert run["impostor_attempts"] == 2 * 3 * 3
        assert run["lookalike_attempts"] == 2 * 3 * 1
        assert run["other_outcomes"] == {}
        assert 0.0 <= run["fnmr"] <= 1.0
        assert run["fmr"] == 0.0
        assert run["updates_by_impostor"] == 0
        rows = report["grey_zone"][name]
        assert [r["grey_distance"] for r in rows] == [0.04, 0.06]
        for r in rows:
            assert r["approved_on_face"] + r["step_up"] + r["refused"] == pytest.approx(1.0)
        assert rows[0]["step_up"] == 0.0  # no grey zone at the match threshold itself
        assert rows[1]["refused"] <= rows[0]["refused"]
    assert report["conditions"]["views=1, no update"]["updates_by_shopper"] == 0
    drift = report["drift_against_views=1, no update"]["views=1, update"]
    assert drift["genuine"]["attempts"] == 2 * 4
    assert report["pairs"]["genuine_pairs"] == 3 + 1 + 1

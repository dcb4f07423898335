"""`facepay eval attacks`: synthetic attacks paid through the till, fresh or reproducible.

Each attack goes through ``Till.pay`` against an in-process sandbox, its victim enrolled
first, so "accepted" means a payment approved. A rule designed while looking at one set of
synthetic replays must be measured on another (docs/liveness.md). The suite runs here on
one real clip, read in place through a symlink in a temporary folder (never copied into
the repo), with no photos."""

from __future__ import annotations

from pathlib import Path

import pytest

from facepay.eval._attack_runs import attacks_through_till
from facepay.eval._liveness import PadResult
from facepay.liveness import LivenessReason

pytestmark = [pytest.mark.eval, pytest.mark.slow]


@pytest.fixture
def one_clip_dir(eval_dir: Path, tmp_path: Path) -> Path:
    (tmp_path / "video").mkdir()
    (tmp_path / "video" / "d12.mp4").symlink_to(eval_dir / "video" / "d12.mp4")
    return tmp_path


def _replays(root: Path, seed_offset: int, plans: int = 2) -> list[PadResult]:
    metrics, results = attacks_through_till(
        root, photos=0, plans_per_clip=plans, seed_offset=seed_offset
    )
    assert metrics["path"] == "Till.pay"
    assert [r.label for r in results] == ["replay"] * plans
    return results


def test_replays_are_paid_through_the_till_and_refused_as_attacks(one_clip_dir: Path) -> None:
    results = _replays(one_clip_dir, 0, plans=4)
    for r in results:
        # The till asked, the backend never saw a live summary: no payment.
        assert not r.accepted
        assert r.acquired, r.evidence  # the quality gate passed a frame: liveness ran
        # An attack, not a slow shopper: the till fails the payment for liveness
        # (FailureReason.LIVENESS_FAILED), and liveness says not_live.
        assert r.evidence["liveness"] == "not_live", r.reasons
        assert r.evidence["payment"] == "liveness_failed"
    # d12 turns its head often, so most replays answer a prompt the wrong way; the one
    # that started answering too late (a slow shopper's reason, which alone is
    # inconclusive) is not_live because the screen was in view.
    (late,) = [r for r in results if not LivenessReason(r.reasons[0]).is_attack_evidence]
    assert late.reasons[0] == "late_response"
    assert "screen_cue" in late.reasons


def test_a_seed_offset_gives_fresh_replays_and_the_same_offset_the_same_ones(
    one_clip_dir: Path,
) -> None:
    def decisions(results: list[PadResult]) -> list[tuple[str, tuple[str, ...], str]]:
        return [(r.path, r.reasons, str(r.evidence["payment"])) for r in results]

    reported = decisions(_replays(one_clip_dir, 0))
    fresh = decisions(_replays(one_clip_dir, 2000))
    # Other plans and start points ("clip@start:plan")...
    assert {item for item, _, _ in reported}.isdisjoint(item for item, _, _ in fresh)
    # ...and every run of one offset is the same attack, decision for decision.
    assert decisions(_replays(one_clip_dir, 2000)) == fresh

"""`facepay eval attacks --seed-offset`: fresh synthetic attacks, reproducible ones.

A rule designed while looking at one set of synthetic replays must be measured on another
(docs/liveness.md). The suite runs here on one short real clip, read in place through a
symlink in a temporary folder (never copied into the repo), with no photos."""

from __future__ import annotations

from pathlib import Path

import pytest

from facepay.config import FaceDetectorConfig
from facepay.eval._liveness import synthetic_attack_suite
from facepay.vision import FrameAnalyzer

pytestmark = [pytest.mark.eval, pytest.mark.slow]


@pytest.fixture
def one_clip_dir(eval_dir: Path, tmp_path: Path) -> Path:
    (tmp_path / "video").mkdir()
    (tmp_path / "video" / "single_face.mp4").symlink_to(eval_dir / "video" / "single_face.mp4")
    return tmp_path


def _replays(root: Path, seed_offset: int) -> list[tuple[str, tuple[str, ...]]]:
    det = FaceDetectorConfig()
    _, results = synthetic_attack_suite(
        root,
        lambda: FrameAnalyzer(det, mode="video"),
        photos=0,
        plans_per_clip=3,
        seed_offset=seed_offset,
    )
    return [(r.path, r.reasons) for r in results if r.label == "replay"]


def test_a_seed_offset_gives_fresh_replays_and_the_same_offset_the_same_ones(
    one_clip_dir: Path,
) -> None:
    reported = _replays(one_clip_dir, 0)
    fresh = _replays(one_clip_dir, 2000)
    assert len(reported) == len(fresh) == 3
    # Other plans and start points ("clip@start:plan")...
    assert {item for item, _ in reported}.isdisjoint(item for item, _ in fresh)
    # ...and every run of one offset is the same attack, decision for decision.
    assert _replays(one_clip_dir, 2000) == fresh

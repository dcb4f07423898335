"""The verification harness: metric arithmetic; `facepay eval verify` and `facepay bench`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facepay.cli import main
from facepay.eval._verify import (
    PairScores,
    equal_error_rate,
    fnmr_at_fmr,
    verification_report,
)

ISSUE_KEYS = {
    "images",
    "identities",
    "failed_to_enroll",
    "genuine_pairs",
    "impostor_pairs",
    "eer",
    "fnmr_at_fmr",
    "at_default_threshold",
}


def test_rates_on_known_scores() -> None:
    genuine = np.array([0.1, 0.2, 0.3, 0.5])
    impostor = np.array([0.4, 0.6, 0.7, 0.8, 0.9] * 20)  # 100 pairs, 20 at 0.4
    # FMR <= 0.01 allows 1 impostor; the smallest 20 are all at 0.4, so stay below it.
    assert fnmr_at_fmr(genuine, impostor, 0.01) == pytest.approx(0.25)
    # FMR <= 0.2 admits all twenty at 0.4: the threshold is just under 0.6.
    assert fnmr_at_fmr(genuine, impostor, 0.2) == pytest.approx(0.0)
    # Curves closest at t = 0.4: FMR 0.2, FNMR 0.25 -> EER reported as their mean.
    assert equal_error_rate(genuine, impostor) == pytest.approx(0.225)
    report = verification_report(
        PairScores(genuine, impostor, ()),
        images=9,
        identities=3,
        failed_to_enroll=1,
        threshold=0.45,
    )
    assert set(report) == ISSUE_KEYS
    assert set(report["fnmr_at_fmr"]) == {"0.01", "0.001", "0.0001"}
    assert report["at_default_threshold"] == {"threshold": 0.45, "fmr": 0.2, "fnmr": 0.25}


def test_perfect_separation_has_zero_eer() -> None:
    assert equal_error_rate(np.array([0.1, 0.2]), np.array([0.8, 0.9])) == 0.0
    assert fnmr_at_fmr(np.array([]), np.array([0.5]), 0.01) is None


def _link_faces(eval_dir: Path, root: Path, picks: dict[str, list[str]]) -> None:
    for identity, names in picks.items():
        (root / identity).mkdir(parents=True)
        for name in names:
            (root / identity / name).symlink_to(eval_dir / "faces" / identity / name)


@pytest.mark.eval
def test_eval_verify_json_on_stills(
    eval_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A small slice of ../shared/eval/faces (symlinked, never copied) plus one non-face.
    picks = {
        "barack_obama": ["obama1.jpg", "obama2.jpg"],
        "joe_biden": ["biden.jpg", "biden2.jpg"],
        "katy_perry": ["img44.jpg", "img45.jpg"],
    }
    _link_faces(eval_dir, tmp_path, picks)
    (tmp_path / "katy_perry" / "cat.png").symlink_to(eval_dir / "nonface" / "chelsea.png")
    assert main(["eval", "verify", str(tmp_path), "--json", "--closest", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) >= ISSUE_KEYS
    assert report["images"] == 7
    assert report["failed_to_enroll"] == 1  # the cat
    assert report["identities"] == 3
    assert (report["genuine_pairs"], report["impostor_pairs"]) == (3, 12)
    assert report["at_default_threshold"]["fmr"] == 0.0
    assert len(report["closest_impostors"]) == 2


@pytest.mark.eval
@pytest.mark.slow
def test_eval_verify_fused_on_clips(
    eval_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for clip in ("single_face.mp4", "d12.mp4"):
        (tmp_path / clip).symlink_to(eval_dir / "video" / clip)
    args = ["eval", "verify", str(tmp_path), "--fused", "3", "--step", "3", "--json"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["fused_frames"] == 3
    assert report["identities"] == 2
    assert report["genuine_pairs"] > 0
    assert report["impostor_pairs"] > 0
    assert report["at_default_threshold"]["fmr"] == 0.0


@pytest.mark.eval
@pytest.mark.slow
def test_bench_json(eval_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clip = eval_dir / "video" / "single_face.mp4"
    assert main(["bench", "--json", "--clip", str(clip), "--frames", "8"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["stages"]) == {"landmarks", "quality", "align", "embed", "frame"}
    for stage in report["stages"].values():
        assert stage["n"] > 0
        assert 0 < stage["median_ms"] <= stage["p95_ms"]
    assert report["cold_start"]["total_ms"] > 0
    assert report["frame_size"] == "640x480"


def test_eval_verify_refuses_a_missing_folder(tmp_path: Path) -> None:
    assert main(["eval", "verify", str(tmp_path / "nope"), "--json"]) == 2


def test_matrix_pairs_equal_pairwise_compare() -> None:
    from facepay.eval._verify import EnrolledSample, pair_scores
    from facepay.types import FaceTemplate
    from facepay.vision import compare

    rng = np.random.default_rng(3)
    samples = [
        EnrolledSample(
            f"id{i % 3}",
            str(i),
            FaceTemplate(vector=rng.normal(size=8).astype(np.float32), model_id="dlib-resnet-v1"),
        )
        for i in range(7)
    ]
    for metric in ("cosine", "euclidean"):

        def cmp(a: FaceTemplate, b: FaceTemplate, m: str = metric) -> float:
            return compare(a, b, metric=m)

        slow = pair_scores(samples, cmp)
        fast = pair_scores(samples, cmp, metric=metric)
        np.testing.assert_allclose(fast.genuine, slow.genuine, atol=1e-9)
        np.testing.assert_allclose(fast.impostor, slow.impostor, atol=1e-9)
        assert fast.impostor_pairs == slow.impostor_pairs

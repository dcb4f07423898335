"""The calibration rule of docs/accuracy.md ("How 0.04 was chosen") as code: the largest
distance, in steps of 0.005, whose FMR is at most 1e-3 (``facepay eval verify --calibrate``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facepay.cli import main
from facepay.eval._verify import PairScores, calibrated_threshold


def _scores(genuine: list[float], impostor: list[float]) -> PairScores:
    return PairScores(np.asarray(genuine), np.asarray(impostor), ())


def test_the_rule_stops_at_the_last_step_within_the_fmr() -> None:
    # 2000 impostors: FMR <= 1e-3 allows 2 of them at or under the threshold.
    impostor = [0.0384, 0.0397, 0.0409, 0.0412] + [0.2] * 1996
    genuine = [0.01, 0.02, 0.03, 0.041, 0.06]
    got = calibrated_threshold(_scores(genuine, impostor))
    assert got is not None
    # 0.040 admits 2 (FMR 0.001, allowed); 0.045 admits 4 (0.002, not).
    assert got["threshold"] == 0.04
    assert got["fmr"] == pytest.approx(0.001)
    assert got["fmr_next_step"] == pytest.approx(0.002)
    assert got["fnmr"] == pytest.approx(0.4)  # 0.041 and 0.06 are refused


def test_a_stricter_budget_gives_a_stricter_threshold() -> None:
    impostor = [0.0384, 0.0397, 0.0409, 0.0412] + [0.2] * 1996
    got = calibrated_threshold(_scores([0.01], impostor), max_fmr=1e-4)
    assert got is not None
    assert got["threshold"] == 0.035
    assert got["fmr"] == 0.0


def test_no_impostors_no_rule() -> None:
    assert calibrated_threshold(_scores([0.01], [])) is None


@pytest.mark.eval
def test_eval_verify_measures_the_recipe_the_environment_sets(
    eval_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for identity, names in {
        "barack_obama": ["obama1.jpg", "obama2.jpg"],
        "joe_biden": ["biden.jpg", "biden2.jpg"],
    }.items():
        (tmp_path / identity).mkdir()
        for name in names:
            (tmp_path / identity / name).symlink_to(eval_dir / "faces" / identity / name)
    monkeypatch.setenv("FACEPAY_EMBEDDER_MIRROR_AVERAGE", "1")
    monkeypatch.setenv("FACEPAY_EMBEDDER_JITTERS", "2")
    assert main(["eval", "verify", str(tmp_path), "--json", "--calibrate"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["genuine_pairs"], report["impostor_pairs"]) == (2, 4)
    template = report["template"]
    assert template["model_id"] == "dlib-resnet-v1+mirror+jitter2"
    assert template["chips_per_face"] == 6
    assert template["faces_timed"] == 4
    assert template["embed_ms_median"] > 0
    assert report["calibration"]["fmr"] <= 1e-3

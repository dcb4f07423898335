"""The whole liveness pipeline on real clips and real models (mediapipe, KLT), through the
commands a retailer runs. Slow-ish: each session decodes and analyses a real clip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facepay.cli import main
from facepay.config import FaceDetectorConfig
from facepay.eval._liveness import adaptive_photo_attack, run_session
from facepay.eval.attacks import frozen_frames
from facepay.liveness import ChallengePlan
from facepay.types import LivenessDecision

pytestmark = [pytest.mark.eval, pytest.mark.slow]


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = main(list(argv))
    return code, json.loads(capsys.readouterr().out)


def test_a_real_person_answering_turns_is_live(
    eval_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = str(eval_dir / "video" / "d12.mp4")
    code, out = _cli(
        capsys, "liveness", "--camera", clip, "--challenges", "turn_left,turn_right", "--json"
    )
    assert out["decision"] == "live", out["reasons"]
    assert code == 0
    assert out["challenges"] == ["turn_left", "turn_right"]
    # The nose moved against the cheek plane: real 3D.
    assert out["evidence"]["parallax_deviation"] > 0.03


def test_the_same_clip_under_the_other_order_is_refused(
    eval_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # What a replayed recording faces at a till: the plan it did not know.
    clip = str(eval_dir / "video" / "d12.mp4")
    code, out = _cli(
        capsys, "liveness", "--camera", clip, "--challenges", "turn_right,turn_left", "--json"
    )
    assert out["decision"] == "not_live"
    assert out["reasons"] == ["wrong_response"]
    assert code == 3


def test_a_photo_tilted_on_cue_is_not_live(eval_dir: Path) -> None:
    from facepay.capture import read_image
    from facepay.vision import FrameAnalyzer

    photo = read_image(eval_dir / "pad" / "live" / "s0001_live_03.jpg")
    with FrameAnalyzer(FaceDetectorConfig()) as analyzer:
        verdict = adaptive_photo_attack(
            photo, ChallengePlan.of(["turn_left", "turn_right"]), analyzer, seed=1
        )
    assert verdict.decision is not LivenessDecision.LIVE


def test_a_frozen_feed_is_injection(eval_dir: Path) -> None:
    from facepay.capture import VideoFileSource
    from facepay.vision import FrameAnalyzer

    with VideoFileSource(eval_dir / "video" / "d12.mp4") as source, FrameAnalyzer() as analyzer:
        frames = frozen_frames(source.frames(), start=20, count=30)
        verdict = run_session(frames, ChallengePlan.of(["turn_left", "turn_right"]), analyzer)
    assert verdict.decision is LivenessDecision.NOT_LIVE
    assert "frozen_frames" in verdict.reasons


def test_eval_pad_reports_iso_metrics(
    eval_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for label in ("live", "print"):
        (tmp_path / label).mkdir()
        for name in sorted((eval_dir / "pad" / label).glob("s000[12]_*_03.jpg")):
            (tmp_path / label / name.name).symlink_to(name)
    code, out = _cli(capsys, "eval", "pad", str(tmp_path), "--json")
    assert code == 0
    assert out["counts"] == {"live": 2, "print": 2}
    assert set(out) >= {"counts", "bpcer", "apcer", "apcer_max", "acer"}
    assert set(out["apcer"]) == {"print"}
    for value in (out["bpcer"], out["apcer"]["print"], out["apcer_max"], out["acer"]):
        assert 0.0 <= value <= 1.0
    assert out["acer"] == pytest.approx((out["apcer_max"] + out["bpcer"]) / 2, abs=1e-4)


def test_eval_sessions_scores_recorded_sessions(
    eval_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "sessions.jsonl"
    rows = [
        {"clip": str(eval_dir / "video" / "single_face.mp4"), "challenges": ["blink"],
         "group": {"glasses": False}},
        {"clip": str(eval_dir / "video" / "face_noface.mov"), "challenges": ["blink", "smile"],
         "start_s": 1.5, "label": "live", "group": {"glasses": False}},
    ]  # fmt: skip
    manifest.write_text("\n".join(json.dumps(r) for r in rows))
    code, out = _cli(capsys, "eval", "sessions", str(manifest), "--json", "--details")
    assert code == 0
    assert out["counts"] == {"live": 2}
    first, second = out["details"]
    assert first["accepted"] is True
    # The man leaves the picture at 2.7 s, before a second challenge can be answered.
    assert second["accepted"] is False
    assert out["bpcer"] == pytest.approx(0.5)
    assert out["bpcer_by_group"]["glasses=False"]["n"] == 2
    assert np.isfinite(out["bpcer"])

"""`facepay eval sessions` scores recorded sessions through the till's own code (Till.enroll
against a real sandbox, the clip as the camera and the clock), not through a twin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from facepay.cli import main
from facepay.eval._liveness import PadResult
from facepay.eval._sessions import ClipCamera, _metrics


@pytest.mark.eval
def test_a_clip_camera_starts_where_asked_and_is_the_tills_clock(eval_dir: Path) -> None:
    clip = eval_dir / "video" / "single_face.mp4"
    camera = ClipCamera(clip, start_s=0.5, skip_frames=2)
    assert camera.now() == 0.5
    frames = camera.frames()
    first = next(frames)
    assert first.timestamp >= 0.5
    assert camera.now() == first.timestamp
    second = next(frames)
    assert camera.now() == second.timestamp > first.timestamp
    frames.close()
    late = ClipCamera(clip, start_s=0.5, skip_frames=0).frames()
    # Two frames skipped after the start: the first frame is two frames later.
    assert first.index == next(late).index + 2
    late.close()


@pytest.mark.eval
@pytest.mark.slow
def test_eval_sessions_runs_each_session_through_the_till(
    eval_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = eval_dir / "video"
    rows = [
        {"clip": str(video / "single_face.mp4"), "challenges": ["blink"], "label": "live"},
        # The head is tilted (roll) or the eyes read closed in every frame from 16.5 s to
        # the end: the till's quality gate never lets liveness start. Liveness alone
        # (without the gate) accepted this session.
        {"clip": str(video / "WolfgangLanger_Pexels.mp4"), "challenges": ["turn_right"],
         "start_s": 16.5, "label": "live"},
    ]  # fmt: skip
    manifest = tmp_path / "sessions.jsonl"
    manifest.write_text("\n".join(json.dumps(r) for r in rows))
    code = main(["eval", "sessions", str(manifest), "--json", "--details"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["path"] == "Till.enroll"
    assert out["counts"] == {"live": 2}
    enrolled, refused = out["details"]
    assert enrolled["accepted"] is True
    assert enrolled["evidence"]["challenges_passed"] == 1
    assert refused["accepted"] is False
    assert refused["acquired"] is False
    assert refused["reasons"] == ["frames_ended"]  # the clip ended before a usable face
    assert refused["evidence"]["gate_roll"] > 0
    assert out["bpcer"] == pytest.approx(0.5)
    assert out["failure_to_acquire"] == {"live": 1}


def _result(item: str, accepted: bool) -> PadResult:
    return PadResult(label="live", path=item, accepted=accepted, acquired=True)


def test_the_start_offset_sweep_counts_every_session_whose_decision_changes() -> None:
    offsets = [0, 1, 2]
    results = [
        # steady: accepted wherever it starts
        _result("a+0", True), _result("a+1", True), _result("a+2", True),
        # flips at +2 (the d3 case of issue 14)
        _result("b+0", True), _result("b+1", True), _result("b+2", False),
        # refused at +0, accepted at +1
        _result("c+0", False), _result("c+1", True), _result("c+2", False),
    ]  # fmt: skip
    metrics = _metrics(results, offsets)
    assert metrics["counts"] == {"live": 3}
    assert metrics["bpcer"] == pytest.approx(1 / 3)
    assert metrics["decisions_changed"] == 2
    assert metrics["sessions_changed"][0].startswith("b+0 (accepted at +0f) -> +2f:refused")
    assert metrics["sessions_changed"][1].startswith("c+0 (refused at +0f) -> +1f:accepted")
    assert metrics["start_offsets"]["2"]["refused_live"] == 2
    assert metrics["start_offsets"]["1"]["bpcer"] == pytest.approx(0.0)


@pytest.mark.parametrize("bad", ["-1", "1,x", ""])
def test_a_bad_start_offset_list_is_a_usage_error(
    bad: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "sessions.jsonl"
    manifest.write_text("")
    with pytest.raises(SystemExit) as exc:
        main(["eval", "sessions", str(manifest), "--start-offsets", bad])
    assert exc.value.code == 2
    assert "--start-offsets" in capsys.readouterr().err

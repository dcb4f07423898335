"""`facepay eval sessions` scores recorded sessions through the till's own code (Till.enroll
against a real sandbox, the clip as the camera and the clock), not through a twin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from facepay.cli import main
from facepay.eval._sessions import ClipCamera

pytestmark = [pytest.mark.eval]


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


@pytest.mark.slow
def test_eval_sessions_runs_each_session_through_the_till(
    eval_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = eval_dir / "video"
    rows = [
        {"clip": str(video / "single_face.mp4"), "challenges": ["blink"], "label": "live"},
        # His head is tilted (roll) or his eyes read closed in every frame from 16.5 s to
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

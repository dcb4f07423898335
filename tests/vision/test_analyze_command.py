"""``facepay analyze``: the headless pipeline summarises a clip or a folder as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from facepay.cli import main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_analyze_clip_json(capsys: pytest.CaptureFixture[str], eval_dir: Path) -> None:
    clip = eval_dir / "video" / "single_face.mp4"
    code, out, _ = _run(capsys, "analyze", str(clip), "--json", "--max-frames", "30")
    assert code == 0
    summary = json.loads(out)
    assert summary["mode"] == "video"
    assert summary["frames"] == 30
    assert summary["faces_per_frame"] == {"1": 30}
    assert summary["frames_passed"] >= 25  # one blink at ~frame 27
    assert summary["best_frame"]["utility"] > 0
    assert summary["ms_per_frame"]["median"] > 0
    assert set(summary["reasons"]) <= {"eyes_closed"}


def test_analyze_folder_per_frame_and_human_text(
    capsys: pytest.CaptureFixture[str], eval_dir: Path
) -> None:
    code, out, _ = _run(capsys, "analyze", str(eval_dir / "nonface"), "--json", "--per-frame")
    assert code == 0
    summary = json.loads(out)
    assert summary["mode"] == "image"
    assert summary["frames"] == 7
    assert summary["frames_with_face"] == 0
    assert summary["reasons"] == {"no_face": 7}
    assert [f["name"] for f in summary["per_frame"]][1] == "chelsea.png"
    code, out, _ = _run(capsys, "analyze", str(eval_dir / "multi_face" / "couple.jpg"))
    assert code == 0
    assert "multiple_faces" in out
    assert "1 frames, 1 with a face, 0 passed" in out


def test_analyze_reports_a_missing_source_as_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = _run(capsys, "analyze", str(tmp_path / "nope.mp4"))
    assert code == 2
    assert "no camera, video file or image folder" in err
    code, _, err = _run(capsys, "analyze", "7")
    assert code == 2
    assert "camera 7" in err

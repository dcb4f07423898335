"""``facepay-kiosk`` from a shell: clear messages, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_kiosk(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run(
        [sys.executable, "-m", "kiosk_app", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=env,
        check=False,
    )


def test_no_camera_says_how_to_pass_one(tmp_path: Path) -> None:
    result = run_kiosk("--demo", "--camera", str(tmp_path / "missing.mp4"))
    assert result.returncode == 2
    assert "no camera could be opened" in result.stderr
    assert "--camera path/to/clip.mp4" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_lists_the_options() -> None:
    result = run_kiosk("--help")
    assert result.returncode == 0
    for option in ("--demo", "--camera", "--lang", "--staff-file", "--challenges"):
        assert option in result.stdout
    # #13: the shared staff PIN was printed in --help.
    assert "--pin" not in result.stdout
    assert "2468" not in result.stdout


def test_without_demo_it_explains_instead_of_starting() -> None:
    result = run_kiosk()
    assert result.returncode == 2
    assert "facepay-kiosk --demo" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_readme_command_brings_the_kiosk_up(eval_dir: Path) -> None:
    """README's main job, with --window --exit-after so it ends on its own."""
    clip = eval_dir / "video" / "single_face.mp4"
    result = run_kiosk("--demo", "--camera", str(clip), "--window", "--exit-after", "2")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "facepay-kiosk: ready (sandbox backend http://127.0.0.1:" in result.stderr
    assert "Traceback" not in result.stderr

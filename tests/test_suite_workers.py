"""The suite on two pytest-xdist workers (scripts/test.sh): what the one-process run says,
the two-worker run says too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_deselected_eval_tests_are_still_announced_with_workers(tmp_path: Path) -> None:
    # Under xdist the workers collect and deselect; the controller writes the summary.
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(PYTHONPATH=str(REPO), FACEPAY_EVAL_DIR=str(tmp_path / "no-eval-data"))
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"),
            *("-n", "2", "--dist", "loadfile"),
            # 2 tests that need the evaluation data, 2 that do not.
            "tests/vision/test_landmarks.py::"
            "test_one_face_with_full_mesh_in_every_frame_of_a_webcam_clip",
            "tests/vision/test_bad_input.py::test_cartoon_frames_give_no_usable_face",
            "tests/test_errors.py",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "3 passed in" in out, out
    assert "facepay: 2 evaluation-data tests (marker 'eval') DID NOT RUN" in out, out

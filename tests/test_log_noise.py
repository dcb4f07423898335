"""A user sees facepay's own lines; the native libraries' log noise only with ``-v``."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from facepay._native_logs import NATIVE_NOISE

REPO = Path(__file__).resolve().parent.parent

# As mediapipe 0.10 and TensorFlow Lite print them (copied from a run of facepay analyze).
NOISE = [
    b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    b"W0000 00:00:1796649177.719070    9220 inference_feedback_manager.cc:114] Feedback "
    b"manager requires a model with a single signature inference.",
    b"W0000 00:00:1796649178.610734    9222 landmark_projection_calculator.cc:186] Using "
    b"NORM_RECT without IMAGE_DIMENSIONS is only supported for the square ROI.",
    b"I1207 13:01:02.123456   4242 gl_context.cc:357] GL version: 3.2",
    b"libpng warning: iCCP: known incorrect sRGB profile",
]
KEPT = [
    b"facepay: error: no camera, video file or image folder at nope.mp4",
    b"E0000 00:00:1796649178.610734    9222 model_loader.cc:12] cannot open model",
    b"Traceback (most recent call last):",
    b'  File "x.py", line 1, in <module>',
    b"UserWarning: something the user should see",
]


def test_the_filter_drops_native_info_and_warnings_and_keeps_everything_else() -> None:
    assert all(NATIVE_NOISE.match(line) for line in NOISE)
    assert not any(NATIVE_NOISE.match(line) for line in KEPT)


@pytest.mark.parametrize(
    "tail",
    [b"INFO: ", b"INFO: Created TensorFlow", b"WARNING: All log", b"W0000 00:00:17966", b"libpng"],
)
def test_a_noise_line_cut_short_at_exit_is_dropped_and_facepays_line_kept(tail: bytes) -> None:
    # Seen in the CLI sweep: the program printed its error and exited while TensorFlow Lite
    # was between the two writes of its INFO line; the user saw a stray "INFO: " line last.
    from facepay._native_logs import _forward

    pipe_read, pipe_write = os.pipe()
    out_read, out_write = os.pipe()
    os.write(pipe_write, b"facepay: error: nope has no live/ folder\n" + tail)
    os.close(pipe_write)
    _forward(pipe_read, out_write)
    os.close(out_write)
    with os.fdopen(out_read, "rb") as shown:
        assert shown.read() == b"facepay: error: nope has no live/ folder\n"


@pytest.mark.parametrize("tail", [b"facepay: done", b"E0000 00:00:1 x.cc:1] cannot", b"Trace"])
def test_an_unfinished_last_line_that_is_not_noise_is_shown(tail: bytes) -> None:
    from facepay._native_logs import _forward

    pipe_read, pipe_write = os.pipe()
    out_read, out_write = os.pipe()
    os.write(pipe_write, tail)
    os.close(pipe_write)
    _forward(pipe_read, out_write)
    os.close(out_write)
    with os.fdopen(out_read, "rb") as shown:
        assert shown.read() == tail


def _photo() -> str:
    spec = importlib.util.find_spec("skimage")
    assert spec is not None
    assert spec.submodule_search_locations
    return str(Path(next(iter(spec.submodule_search_locations))) / "data" / "astronaut.png")


def _facepay(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "facepay", *argv],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_a_run_shows_facepays_lines_only_and_all_of_them_with_v(tmp_path: Path) -> None:
    quiet = _facepay("analyze", _photo())
    assert quiet.returncode == 0, quiet.stderr
    assert "1 frames, 1 with a face" in quiet.stdout
    assert quiet.stderr.strip() == "", quiet.stderr
    # The same run with -v shows what was filtered: the filter had something to drop.
    loud = _facepay("-v", "analyze", _photo())
    assert loud.returncode == 0, loud.stderr
    assert any(NATIVE_NOISE.match(line.encode()) for line in loud.stderr.splitlines())
    # A mistake after the models loaded is still one line, in order, not swallowed.
    wrong = _facepay("analyze", str(tmp_path / "nope.mp4"))
    assert wrong.returncode == 2
    assert wrong.stderr.splitlines() == [
        f"facepay: error: no camera, video file or image folder at {tmp_path / 'nope.mp4'}"
    ]


def test_a_native_crash_still_shows_its_last_words() -> None:
    """The filter outlives a process that aborts: a fatal native line is not lost."""
    crash = (
        "import os\n"
        "from facepay import quiet_native_logs\n"
        "assert quiet_native_logs()\n"
        "os.write(2, b'W0000 00:00:1.5 7 x.cc:1] noise\\n')\n"
        "os.write(2, b'F0000 00:00:1.5 7 model.cc:2] Check failed: model loaded\\n')\n"
        "os.abort()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", crash],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "Check failed: model loaded" in result.stderr
    assert "noise" not in result.stderr


# Written while pytest has fd 2 back on the terminal (it reports a test), as mediapipe's
# own thread writes its feedback-manager warning a moment after a face mesh is built.
_NOISY_CONFTEST = """
import os

def pytest_runtest_logreport(report):
    if report.when == "call":
        os.write(2, b"W0000 00:00:1796669575.6 25750 inference_feedback_manager.cc:114] "
                    b"Feedback manager requires a model with a single signature inference.\\n")
        os.write(2, b"a line of the test's own\\n")
"""


def _pytest_in(folder: Path, *argv: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *argv],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    return result.stdout + result.stderr


def test_a_test_run_shows_no_native_lines_with_facepays_pytest_plugin(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(_NOISY_CONFTEST)
    (tmp_path / "test_one.py").write_text("def test_one():\n    assert True\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # its own rootdir: no addopts of ours
    quiet = _pytest_in(tmp_path, "-p", "facepay.testing.pytest_plugin")
    assert "inference_feedback_manager" not in quiet
    assert "a line of the test's own" in quiet
    # Without the plugin the line reaches the output: the check above could fail.
    loud = _pytest_in(tmp_path)
    assert "inference_feedback_manager" in loud
    assert "a line of the test's own" in loud


def test_facepays_suite_loads_the_plugin(request: pytest.FixtureRequest) -> None:
    assert request.config.pluginmanager.has_plugin("facepay.testing.pytest_plugin")

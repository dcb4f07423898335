"""scripts/each_file.sh, the flaky-test check of docs/testing.md, reports what it ran.

It runs each given test file alone N times; a run that fails must show as failed in the
log and in the summary, with its output kept, and make the script exit 1, or the check
would pass a flaky suite.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "each_file.sh"


def test_a_failing_file_is_logged_kept_and_fails_the_check(tmp_path: Path) -> None:
    passing = tmp_path / "test_passes.py"
    passing.write_text("def test_fine():\n    assert True\n")
    failing = tmp_path / "test_fails.py"
    failing.write_text("def test_broken():\n    assert 1 == 2\n")
    log = tmp_path / "each.log"

    done = subprocess.run(
        ["bash", str(SCRIPT), "-n", "2", "-l", str(log), str(passing), str(failing)],
        capture_output=True,
        text=True,
        check=False,
        # The two files need no plugin: starting pytest without them keeps this cheap.
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )

    assert done.returncode == 1, done.stdout + done.stderr
    runs = [line.split() for line in log.read_text().splitlines() if not line.startswith("#")]
    assert [(r[0], r[1], r[2]) for r in runs] == [
        (str(passing), "1", "pass"),
        (str(failing), "1", "fail"),
        (str(passing), "2", "pass"),
        (str(failing), "2", "fail"),
    ]
    assert "2 files, 4 runs, 2 runs failed" in done.stdout
    assert f"FLAKY/FAILING {failing}: 2 of 2 runs failed" in done.stdout
    kept = {p.name for p in (tmp_path / "each.log.d").iterdir()}
    # Failing runs keep their output; a passing file keeps only its first run (durations).
    assert sum(1 for name in kept if "test_fails" in name) == 2
    assert sum(1 for name in kept if "test_passes" in name) == 1

    summary = subprocess.run(
        ["bash", str(SCRIPT), "-s", str(log)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert summary.returncode == 1
    assert "2 runs failed" in summary.stdout

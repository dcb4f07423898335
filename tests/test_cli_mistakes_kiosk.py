"""The kiosk and the scripts the docs tell a user to run, with the mistakes people make.

``facepay-kiosk`` (README, docs/kiosk.md), ``scripts/kiosk_bench.py`` (docs/kiosk.md) and
``scripts/screenshots.py`` (docs/kiosk.md, Screenshots) each answer a missing or wrong
file, an unknown challenge or a bad number in one line on stderr (argparse's usage above
it), exit 2, before Qt or a sandbox starts, and leave the files around them as they were.
The sweep of the ``facepay`` command is tests/test_cli_mistakes.py; this file shares its
checks.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from test_cli_mistakes import TEXT, Mistake, _assert_one_clear_line, _read_only, _snapshot

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A text file, a hand-edited staff file, an empty folder, a read-only folder and a
    one-picture image folder the kiosk can open as its camera (no evaluation data needed:
    the mistakes are told before a face is looked for)."""
    import cv2

    root = tmp_path_factory.mktemp("kiosk-mistakes")
    (root / "notes.txt").write_text(TEXT)
    (root / "staff.json").write_text('[{"name": "Ann"}]\n')
    (root / "empty").mkdir()
    (root / "camera").mkdir()
    frame = np.full((120, 160, 3), 90, dtype=np.uint8)
    assert cv2.imwrite(str(root / "camera" / "0001.png"), frame)
    with _read_only(root / "locked"):
        yield root


def _run(cwd: Path, argv: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    program, *rest = argv
    command = (
        [sys.executable, "-m", "kiosk_app", *rest]
        if program == "facepay-kiosk"
        else [sys.executable, str(REPO / "scripts" / program), *rest]
    )
    return subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


_KIOSK = ("facepay-kiosk", "--demo", "--camera", "camera", "--exit-after", "1")

MISTAKES = {
    "kiosk: unknown challenge": Mistake((*_KIOSK, "--challenges", "blink,wink"), "'wink'"),
    "kiosk: a challenge twice": Mistake(
        (*_KIOSK, "--challenges", "blink,blink"), "does not repeat a challenge"
    ),
    "kiosk: an empty challenge list": Mistake(
        (*_KIOSK, "--challenges", ","), "name at least one challenge"
    ),
    "kiosk: missing staff file": Mistake(
        (*_KIOSK, "--staff-file", "staff-typo.json"),
        "cannot read the staff file staff-typo.json: No such file",
    ),
    "kiosk: a text file as the staff file": Mistake(
        (*_KIOSK, "--staff-file", "notes.txt"), "notes.txt: not a staff file"
    ),
    "kiosk: a hand-edited staff file": Mistake(
        (*_KIOSK, "--staff-file", "staff.json"), "staff.json: not a staff file"
    ),
    "kiosk: a folder as the staff file": Mistake(
        (*_KIOSK, "--staff-file", "empty"), "cannot read the staff file empty"
    ),
    "kiosk: privacy page over http": Mistake(
        (*_KIOSK, "--privacy-url", "http://shop.example/privacy"), "must be an https:// address"
    ),
    "kiosk: privacy page on loopback": Mistake(
        (*_KIOSK, "--privacy-url", "https://127.0.0.1/privacy"), "must be public"
    ),
    "kiosk: not a currency": Mistake((*_KIOSK, "--currency", "EURO"), "three letters"),
    "kiosk: negative --exit-after": Mistake(
        ("facepay-kiosk", "--demo", "--exit-after", "-1"), "--exit-after: must be > 0"
    ),
    "kiosk: an empty folder as the camera": Mistake(
        ("facepay-kiosk", "--demo", "--camera", "empty", "--exit-after", "1"),
        "image folder empty holds no images",
    ),
    "kiosk: unknown language": Mistake(
        ("facepay-kiosk", "--demo", "--lang", "fr"), "invalid choice: 'fr'"
    ),
    "kiosk_bench: missing clip": Mistake(
        ("kiosk_bench.py", "--clip", "nope.mp4"), "--clip: no camera, video file or image folder"
    ),
    "kiosk_bench: a text file as the clip": Mistake(
        ("kiosk_bench.py", "--clip", "notes.txt"), "cannot be opened"
    ),
    "kiosk_bench: unknown challenge": Mistake(
        ("kiosk_bench.py", "--clip", "camera", "--challenge", "wink"), "'wink'"
    ),
    "kiosk_bench: --runs 0": Mistake(("kiosk_bench.py", "--runs", "0"), "--runs: must be >= 1"),
    "screenshots: a read-only folder": Mistake(
        ("screenshots.py", "--out", "locked", "--screen", "idle"), "locked: cannot write there"
    ),
    "screenshots: a file as the folder": Mistake(
        ("screenshots.py", "--out", "notes.txt", "--screen", "idle"), "is a file, not a folder"
    ),
    "screenshots: a 0x0 display": Mistake(
        ("screenshots.py", "--out", "shots", "--size", "0x0"), "at least 1x1 pixels"
    ),
    "screenshots: unknown screen": Mistake(
        ("screenshots.py", "--out", "shots", "--screen", "wink"), "invalid choice: 'wink'"
    ),
}


@pytest.mark.parametrize("mistake", MISTAKES.values(), ids=MISTAKES.keys())
def test_the_kiosk_and_its_scripts_answer_a_mistake_with_one_line(
    workspace: Path, mistake: Mistake
) -> None:
    before = _snapshot(workspace)
    result = _run(workspace, mistake.argv)
    _assert_one_clear_line(result, mistake)
    assert _snapshot(workspace) == before  # nothing created, nothing lost


def test_the_kiosk_comes_up_on_the_camera_those_mistakes_used(workspace: Path) -> None:
    """The mistakes above are refused for what they are, not because the camera, the
    options' own types or the folder stop every start: the same start with good values
    comes up."""
    result = _run(
        workspace,
        (
            *_KIOSK,
            "--challenges",
            "blink",
            "--currency",
            "usd",
            "--privacy-url",
            "https://shop.example/privacy",
        ),
    )
    assert result.returncode == 0, result.stderr
    assert "facepay-kiosk: ready" in result.stderr

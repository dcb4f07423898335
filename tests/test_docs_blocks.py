"""Docs that paste and run: every code block in README.md and docs/ is run here.

- ``python`` blocks of one document run in order, as one program, in a fresh process in
  an empty folder (a reader pasting them into one session). Names a block uses without
  defining stand for the reader's own objects (their POS order, camera, screens); the
  document says so, and ``GIVENS`` below defines them from the real examples and clips.
- ``bash`` blocks run through bash from the repository root, unless the line before the
  block says why not, visibly, as ``<!-- not run: REASON -->`` (a command that installs
  system packages, starts the kiosk or a server until stopped, is the suite itself, or
  measures for minutes; or a command another named test already runs).
- Blocks without a language are text (program output, byte layouts, HTTP exchanges). A
  block without a language whose first line is a command fails here: untagged, it would
  never run (issue 15 found 15 such blocks).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

pytestmark = [pytest.mark.slow, pytest.mark.eval]

_FENCE = re.compile(r"^```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.S | re.M)
_NOT_RUN = re.compile(r"<!--\s*not run:\s*(?P<why>.+?)\s*-->\s*\n*$", re.S)
_SHELLS = {"bash", "sh", "shell", "console"}


@dataclass(frozen=True)
class Block:
    doc: Path
    line: int
    lang: str
    body: str
    not_run: str | None  # the visible reason, when the doc marks it not run

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(REPO)}:{self.line}"


def blocks(doc: Path) -> list[Block]:
    text = doc.read_text(encoding="utf-8")
    out = []
    for m in _FENCE.finditer(text):
        before = text[: m.start()]
        tail = before[-400:]
        marker = _NOT_RUN.search(tail)
        out.append(
            Block(
                doc=doc,
                line=before.count("\n") + 1,
                lang=m.group("lang"),
                body=m.group("body"),
                not_run=marker.group("why") if marker else None,
            )
        )
    return out


# A shell command as a block's first line (an optional "$ " prompt before it).
_COMMAND = re.compile(
    r"^[ \t]*(?:\$[ \t]*)?(?:facepay|facepay-kiosk|python3?|pip3?|pytest|bash|sh|git|sudo"
    r"|apt-get|apt|cd|export|uv|npm|npx|node|curl|make)[ \t]"
)
# Untagged commands in documents their owner is still editing (engineer a: protocol.md),
# by document and first line; each is tagged by that owner, then its entry removed here.
UNTAGGED_ELSEWHERE: set[tuple[str, str]] = set()


def untagged_commands(found: list[Block]) -> list[Block]:
    """Blocks without a language that start with a shell command."""
    return [b for b in found if not b.lang and _COMMAND.match(b.body.lstrip("\n"))]


ALL = [b for doc in DOCS for b in blocks(doc)]
PYTHON_DOCS = sorted({b.doc for b in ALL if b.lang == "python"})
SHELL = [b for b in ALL if b.lang in _SHELLS and b.not_run is None]


# What the reader brings. Each entry is Python run before the document's first block, in
# the document's folder-less working directory; CLIP, PHOTO and EVAL are set by the test.
GIVENS: dict[str, str] = {
    "integration.md": """
        import runpy
        from types import SimpleNamespace
        from facepay import open_source
        _pos = runpy.run_path(str(REPO / "examples" / "pos_integration.py"))
        order = _pos["demo_order"]()
        customer_display = _pos["show_on_customer_display"]
        camera = open_source(CLIP)
        events = []
        ui = SimpleNamespace(post=events.append)
        print_receipt = lambda lines: print("\\n".join(lines))
    """,
    "liveness.md": """
        from types import SimpleNamespace
        from facepay import FrameAnalyzer, open_source
        session_nonce = bytes(range(16))
        source = open_source(CLIP)
        analyzer = FrameAnalyzer(mode="video")
        ui = SimpleNamespace(show=lambda *shown: None)
    """,
    "models.md": """
        import runpy, shutil
        from facepay import open_source
        from facepay.vision import ModelCard
        _example = runpy.run_path(str(REPO / "examples" / "custom_embedder.py"))
        shutil.copy(REPO / "examples" / "tiny_arcface.card.json", "my_model.card.json")
        _example["build_tiny_arcface"](
            Path("my_model.onnx"), ModelCard.from_json("my_model.card.json")
        )
        with open_source(PHOTO) as _photo:
            frame = next(iter(_photo.frames()))
    """,
    "quality.md": """
        import os
        os.symlink(CLIP, "clip.mp4")
        show_prompt = print
    """,
    "testing.md": "",  # CLIP is the reader's recorded clip
    "kiosk.md": """
        from types import SimpleNamespace
        from PyQt6.QtCore import QTimer
        from PyQt6.QtWidgets import QApplication
        # The POS's card terminal and sale records.
        terminal = SimpleNamespace(charge=lambda sale_id, basket: None, on_result=None)
        pos = SimpleNamespace(close_sale=lambda sale_id, outcome: None)
        # app.exec() runs until the kiosk quits: here, once the event loop has started.
        _exec = QApplication.exec
        QApplication.exec = lambda self: (QTimer.singleShot(0, self.quit), _exec())[1]
    """,
}


def test_every_python_document_has_its_givens_and_every_block_a_fate() -> None:
    assert {d.name for d in PYTHON_DOCS} <= set(GIVENS) | {"README.md"}
    assert SHELL, "no shell block is run"
    for b in ALL:
        if b.lang == "python":
            assert b.not_run is None, f"{b.where}: python blocks all run"
        if b.not_run is not None:
            assert len(b.not_run) > 10, f"{b.where}: say why it is not run"
            other = re.match(r"(tests/\S+\.py) runs this command", b.not_run)
            if other:  # the test it names exists and runs that script
                script = re.search(r"examples/(\w+\.py)", b.body)
                assert script, b.where
                assert script.group(1) in (REPO / other.group(1)).read_text(), b.where


def test_every_command_block_says_its_language() -> None:
    untagged = [
        b
        for b in untagged_commands(ALL)
        if not any(
            str(b.doc.relative_to(REPO)) == doc and b.body.lstrip("\n").startswith(first)
            for doc, first in UNTAGGED_ELSEWHERE
        )
    ]
    assert not untagged, "tag these ```bash (and run them, or say why not):\n" + "\n".join(
        f"  {b.where}: {b.body.strip().splitlines()[0]}" for b in untagged
    )


def test_the_untagged_command_check_is_not_blind(tmp_path: Path) -> None:
    doc = tmp_path / "sample.md"
    doc.write_text(
        "```\nfacepay analyze clip.mp4\n```\n\n"  # a command, untagged: caught
        "```\n$ python -m facepay --help\n```\n\n"  # with a prompt: caught
        "```bash\nfacepay analyze clip.mp4\n```\n\n"  # tagged: fine
        "```\nfacepay-kiosk: no camera could be opened\n```\n\n"  # output: fine
        "```\nPOST /v1/sessions     (signed)\n```\n",  # an HTTP exchange: fine
        encoding="utf-8",
    )
    caught = [b.body.strip() for b in untagged_commands(blocks(doc))]
    assert caught == ["facepay analyze clip.mp4", "$ python -m facepay --help"]


@pytest.mark.parametrize("doc", PYTHON_DOCS, ids=[d.name for d in PYTHON_DOCS])
def test_python_blocks_run_in_order(doc: Path, eval_dir: Path, tmp_path: Path) -> None:
    program = [
        "from pathlib import Path",
        f"REPO = Path({str(REPO)!r})",
        f"CLIP = {str(eval_dir / 'video' / 'single_face.mp4')!r}",
        f"PHOTO = {str(eval_dir / 'faces' / 'barack_obama' / 'obama1.jpg')!r}",
        textwrap.dedent(GIVENS.get(doc.name, "")),
        "def _run(where, source):",
        "    print(f'== {where}', flush=True)",
        "    exec(compile(source, where, 'exec'), globals())",
    ]
    for b in blocks(doc):
        if b.lang == "python":
            program.append(f"_run({b.where!r}, {b.body!r})")
    script = tmp_path / "doc_program.py"
    script.write_text("\n".join(program) + "\n", encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=work,
        env={**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    ran = re.findall(r"^== (.+)$", result.stdout, flags=re.M)
    assert ran == [b.where for b in blocks(doc) if b.lang == "python"]


@pytest.mark.parametrize("block", SHELL, ids=[b.where for b in SHELL])
def test_shell_blocks_run(block: Block, eval_dir: Path) -> None:
    result = subprocess.run(
        # The docs say ../shared/eval, where the data sits next to a clone here.
        ["bash", "-euo", "pipefail", "-c", block.body.replace("../shared/eval", str(eval_dir))],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "FACEPAY_EVAL_DIR": str(eval_dir)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"{block.where}\n{result.stdout[-2000:]}{result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr

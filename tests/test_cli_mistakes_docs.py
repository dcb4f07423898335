"""Every ``facepay`` command the docs show still parses, the ones they do not run included.

Most of the docs' measuring commands are marked ``<!-- not run: ... -->`` (they take
minutes to hours; tests/test_docs_blocks.py checks each says why). A renamed option or a
value the command now refuses (``--gallery -5``, ``--db notes.txt``) would then leave a
command that a newcomer pastes and that fails at once, with no test noticing. Here each
command line of every shell block goes through ``facepay``'s own parser, which checks
names, choices and number ranges without running anything.
"""

from __future__ import annotations

import re
import shlex

import pytest
from test_docs_blocks import _SHELLS, ALL

from facepay.cli import build_parser

_FACEPAY = re.compile(r"^(?:[A-Z_]+=\S*\s+)*(?:\.venv/bin/)?facepay\s+(?P<args>.*)$")


def _command_lines() -> list[tuple[str, str]]:
    found = []
    for block in ALL:
        if block.lang not in _SHELLS or "synopsis" in (block.not_run or ""):
            continue  # a synopsis mixes commands with [optional] parts and prose
        for line in block.body.replace("\\\n", " ").splitlines():
            m = _FACEPAY.match(line.strip())
            # A shell variable or a synopsis's [optional] part is not a literal command.
            if m and "$" not in line and "[" not in line:
                found.append((block.where, m.group("args")))
    return found


COMMANDS = _command_lines()


def test_the_docs_show_facepay_commands_not_run_elsewhere() -> None:
    """The extraction is not blind: the docs' measuring commands are among those found."""
    shown = " | ".join(args for _, args in COMMANDS)
    for expected in ("bench faults", "bench fuzz", "eval till-visits", "eval verify"):
        assert expected in shown, expected


@pytest.mark.parametrize(("where", "args"), COMMANDS, ids=[w for w, _ in COMMANDS])
def test_a_command_the_docs_show_parses(
    where: str, args: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = shlex.split(args, comments=True)
    try:
        parsed = build_parser().parse_args(argv)
    except SystemExit as stopped:
        if stopped.code == 0:  # --help, --version
            return
        pytest.fail(f"{where}: facepay {args}\n{capsys.readouterr().err}")
    assert getattr(parsed, "handler", None) is not None, f"{where}: facepay {args} runs nothing"

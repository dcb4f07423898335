"""No test may depend on the machine's speed: a static check of the whole suite.

A test that asserts wall time, sleeps a fixed while instead of waiting for a condition, or
fires a timer and counts what happened meanwhile passes on one machine and fails on a
slower or faster one (issue 15: a crash test that passed only under the full suite's
load). This reads every test file's syntax tree and flags:

- ``wall-clock assert``: an ``assert`` outside a polling loop that reads the clock
  (``time.monotonic``/``perf_counter``/``time``) or a name computed from it;
- ``fixed sleep``: ``time.sleep``/``asyncio.sleep`` outside a loop (a loop that sleeps
  is a poll; a lone sleep is a guess at how long something takes);
- ``timer race``: ``threading.Timer`` (something happens after a wall-clock delay).

What may stay: a deadline inside a poll loop (``assert time.monotonic() < deadline``
fails only on a hang), and sleeps inside loops. ``KNOWN`` lists the cases found in files
their owners are fixing, each with its fix; the check fails on anything new.
docs/reliability.md, "How the suite is checked for timing".
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent

_CLOCKS = {("time", "monotonic"), ("time", "perf_counter"), ("time", "time")}
_SLEEPS = {("time", "sleep"), ("asyncio", "sleep")}

# (file, function, kind) -> the fix. Remove an entry with the fix.
KNOWN: dict[tuple[str, str, str], str] = {}


def _dotted(node: ast.AST) -> tuple[str, str] | None:
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
    ):
        return (node.func.value.id, node.func.attr)
    return None


def _reads_clock(node: ast.AST, tainted: set[str]) -> bool:
    for sub in ast.walk(node):
        if _dotted(sub) in _CLOCKS:
            return True
        if isinstance(sub, ast.Name) and sub.id in tainted:
            return True
    return False


def _findings(path: Path) -> set[tuple[str, str]]:
    """(function, kind) for each timing dependence in one test file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[tuple[str, str]] = set()
    for func in ast.walk(tree):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        tainted: set[str] = set()
        for node in ast.walk(func):
            # deadline = monotonic() + N is a poll's bound, not a measurement
            is_deadline = isinstance(node, ast.Assign) and (
                isinstance(node.value, ast.BinOp) and isinstance(node.value.op, ast.Add)
            )
            if isinstance(node, ast.Assign) and not is_deadline and _reads_clock(node.value, set()):
                tainted.update(t.id for t in node.targets if isinstance(t, ast.Name))
        _scan(func, func.name, tainted, in_loop=False, found=found)
    return found


def _scan(
    node: ast.AST, name: str, tainted: set[str], *, in_loop: bool, found: set[tuple[str, str]]
) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue  # scanned as a function of its own
        loop = in_loop or isinstance(child, (ast.While, ast.For, ast.AsyncFor))
        if isinstance(child, ast.Assert) and not in_loop and _reads_clock(child.test, tainted):
            found.add((name, "wall-clock assert"))
        if isinstance(child, ast.Call):
            called = _dotted(child)
            if called in _SLEEPS and not in_loop:
                found.add((name, "fixed sleep"))
            if called == ("threading", "Timer"):
                found.add((name, "timer race"))
        _scan(child, name, tainted, in_loop=loop, found=found)


def _suite() -> set[tuple[str, str, str]]:
    out = set()
    for path in sorted(TESTS.rglob("test_*.py")):
        rel = str(path.relative_to(TESTS))
        out.update((rel, func, kind) for func, kind in _findings(path))
    return out


def test_no_test_depends_on_the_machines_speed() -> None:
    new = sorted(_suite() - set(KNOWN))
    assert not new, "timing-dependent tests (see this file's docstring):\n" + "\n".join(
        f"  {f}::{fn}: {kind}" for f, fn, kind in new
    )


def test_the_check_finds_each_kind(tmp_path: Path) -> None:
    """The scanner is not blind: a file with each mistake, and the allowed poll."""
    sample = tmp_path / "test_sample.py"
    sample.write_text(
        "import threading, time\n"
        "def test_wall():\n"
        "    t0 = time.monotonic()\n"
        "    work()\n"
        "    elapsed = time.monotonic() - t0\n"
        "    assert elapsed < 2\n"
        "def test_sleep():\n"
        "    time.sleep(0.5)\n"
        "def test_timer():\n"
        "    threading.Timer(0.3, stop).start()\n"
        "def test_poll_is_fine():\n"
        "    deadline = time.monotonic() + 60\n"
        "    while not ready():\n"
        "        assert time.monotonic() < deadline, 'hung'\n"
        "        time.sleep(0.1)\n"
    )
    assert _findings(sample) == {
        ("test_wall", "wall-clock assert"),
        ("test_sleep", "fixed sleep"),
        ("test_timer", "timer race"),
    }

"""Every command, every plausible mistake: one clear line, exit status 2, nothing made or lost.

Each ``facepay`` subcommand and each example runs as a user runs it (a subprocess, so an
uncaught exception shows as the traceback a user would see) with the mistakes people make:
a missing file, a text file as a clip or a database, a folder it may not write, a
PostgreSQL nobody listens on, an unknown flag, challenge or too short a seed. Each must
answer with one line on stderr naming the problem (argparse's own usage errors add the
usage line above it), exit 2, and leave the files around it exactly as they were.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from facepay.testing import free_port

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow

TEXT = "not a video, not a database: a shopping list\n"


def _unreachable_postgres() -> str:
    # A port just freed on loopback: nothing listens there, the connection is refused.
    return f"postgresql://facepay@127.0.0.1:{free_port()}/facepay?connect_timeout=5"


@contextlib.contextmanager
def _read_only(folder: Path) -> Iterator[Path]:
    """A folder nobody may write into. chmod is enough for a normal user; CI runs as root,
    whom only the immutable attribute stops."""
    folder.mkdir()
    folder.chmod(0o555)
    immutable = False
    if _writable(folder) and shutil.which("chattr"):
        immutable = (
            subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
        )
    try:
        if _writable(folder):
            pytest.fail(f"cannot make {folder} read-only here (chmod 555, chattr +i)")
        yield folder
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


def _writable(folder: Path) -> bool:
    probe = folder / ".probe"
    try:
        probe.write_text("x")
    except OSError:
        return False
    probe.unlink()
    return True


def _snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` with a hash of its bytes and its permission bits: what
    exists, what it holds and who may read it (a mistake must not chmod a user's file)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        held = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        out[rel] = f"{held} {path.stat().st_mode & 0o777:o}"
    return out


@dataclass(frozen=True)
class Mistake:
    argv: tuple[str, ...]
    says: str  # what the one line must name
    code: int = 2
    env: tuple[tuple[str, str], ...] = ()  # a setting in the environment, as a user sets it


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder with a text file, a real sandbox database holding one device, its keys,
    an empty folder and a read-only folder."""
    root = tmp_path_factory.mktemp("mistakes")
    (root / "notes.txt").write_text(TEXT)
    result = _run(
        root,
        "facepay",
        "sandbox",
        "provision",
        "--db",
        "shop.db",
        "--device-key",
        "till.pem",
    )
    assert result.returncode == 0, result.stderr
    (root / "empty").mkdir()
    with _read_only(root / "locked"):
        yield root


def _run(cwd: Path, program: str, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    command = (
        [sys.executable, "-m", "facepay", *argv]
        if program == "facepay"
        else [sys.executable, str(REPO / "examples" / program), *argv]
    )
    return subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _assert_one_clear_line(result: subprocess.CompletedProcess[str], mistake: Mistake) -> None:
    err = result.stderr
    assert "Traceback" not in err, err
    assert result.returncode == mistake.code, (result.returncode, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines, "nothing on stderr"
    last = lines[-1]
    assert mistake.says in last, last
    # The error is the last line and the only one, bar argparse's usage above it.
    assert "error" in last or ": " in last
    others = [ln for ln in lines[:-1] if not ln.startswith(("usage:", " "))]
    assert not others, others


FACEPAY_MISTAKES = {
    "analyze: missing file": Mistake(
        ("analyze", "nope.mp4"), "no camera, video file or image folder at nope.mp4"
    ),
    "analyze: text file as a clip": Mistake(("analyze", "notes.txt"), "cannot be opened"),
    "analyze: unknown flag": Mistake(
        ("analyze", "notes.txt", "--frames", "3"), "unrecognized arguments: --frames"
    ),
    "liveness: text file as a clip": Mistake(
        ("liveness", "--camera", "notes.txt", "--challenges", "blink"), "cannot be opened"
    ),
    "liveness: unknown challenge": Mistake(
        ("liveness", "--camera", "notes.txt", "--challenges", "blink,wink"),
        "unknown challenge 'wink'",
    ),
    "liveness: seed shorter than 8 bytes": Mistake(
        ("liveness", "--camera", "notes.txt", "--seed", "00112233"), "at least 8 bytes"
    ),
    "liveness: seed not hex": Mistake(
        ("liveness", "--camera", "notes.txt", "--seed", "not-hex"), "is not hex"
    ),
    "liveness: count out of range": Mistake(
        ("liveness", "--camera", "notes.txt", "--count", "6"), "invalid choice: 6"
    ),
    "ledger: database typo": Mistake(
        ("sandbox", "ledger", "--db", "shopp.db"), "shopp.db: no such database"
    ),
    "ledger: text file as database": Mistake(
        ("sandbox", "ledger", "--db", "notes.txt"), "notes.txt: file is not a database"
    ),
    "ledger: unreachable PostgreSQL": Mistake(
        ("sandbox", "ledger", "--db", "@pg"), "PostgreSQL: connection failed"
    ),
    "serve: text file as database": Mistake(
        ("sandbox", "serve", "--db", "notes.txt", "--port", "@port"), "file is not a database"
    ),
    "serve: database in a read-only folder": Mistake(
        ("sandbox", "serve", "--db", "locked/shop.db", "--port", "@port"), "locked/shop.db"
    ),
    "serve: port already in use": Mistake(
        ("sandbox", "serve", "--db", "new.db", "--port", "@busy"), "Address already in use"
    ),
    "serve: unreachable PostgreSQL": Mistake(
        ("sandbox", "serve", "--db", "@pg", "--keys", "pg.keys", "--port", "@port"),
        "PostgreSQL: connection failed",
    ),
    "provision: text file as database": Mistake(
        ("sandbox", "provision", "--db", "notes.txt", "--device-key", "new.pem"),
        "notes.txt: file is not a database",
    ),
    "provision: device key in a read-only folder": Mistake(
        ("sandbox", "provision", "--db", "shop.db", "--device-key", "locked/till.pem"),
        "locked/till.pem",
    ),
    "provision: database in a read-only folder": Mistake(
        ("sandbox", "provision", "--db", "locked/shop.db", "--device-key", "new.pem"),
        "locked/shop.db",
    ),
    "provision: unreachable PostgreSQL": Mistake(
        ("sandbox", "provision", "--db", "@pg", "--keys", "pg.keys", "--device-key", "new.pem"),
        "PostgreSQL: connection failed",
    ),
    "provision: a folder as the device key": Mistake(
        ("sandbox", "provision", "--db", "shop.db", "--device-key", "empty"),
        "--device-key empty is a folder, not a PEM file",
    ),
    "provision: a text file as the device key": Mistake(
        ("sandbox", "provision", "--db", "shop.db", "--device-key", "notes.txt"),
        "--device-key notes.txt: ",
    ),
    "revoke: database typo": Mistake(
        ("sandbox", "revoke", "--db", "shopp.db", "--device-id", "dev_x"), "no database at shopp.db"
    ),
    "revoke: unknown device": Mistake(
        ("sandbox", "revoke", "--db", "shop.db", "--device-id", "dev_nope"), "no device 'dev_nope'"
    ),
    "tenant: database typo": Mistake(
        ("sandbox", "tenant", "--db", "shopp.db", "--tenant", "acme", "--token-file", "t.txt"),
        "no database at shopp.db",
    ),
    "tenant: token file over a file that is not a token": Mistake(
        ("sandbox", "tenant", "--db", "shop.db", "--tenant", "acme", "--token-file", "notes.txt"),
        "notes.txt exists and holds no enrollment token",
    ),
    "tenant: not a tenant id": Mistake(
        ("sandbox", "tenant", "--db", "shop.db", "--tenant", "acme shop!", "--token-file", "t"),
        "tenant_id: String should match pattern",
    ),
    "keys: key folder typo": Mistake(
        ("sandbox", "keys", "--keys", "shopp.db.keys"), "no receipt key"
    ),
    "rotate-answer-key: key folder typo": Mistake(
        ("sandbox", "rotate-answer-key", "--keys", "shopp.db.keys", "--switch"), "no receipt key"
    ),
    "rotate-key: key folder typo": Mistake(
        ("sandbox", "rotate-key", "--keys", "shopp.db.keys"), "no sealing keyring"
    ),
    "rotate-key: unknown suite": Mistake(
        ("sandbox", "rotate-key", "--keys", "shop.db.keys", "--suite", "rot13"),
        "invalid choice: 'rot13'",
    ),
    "eval verify: missing folder": Mistake(("eval", "verify", "nope"), "nope is not a folder"),
    "eval verify: a text file": Mistake(
        ("eval", "verify", "notes.txt"), "notes.txt is not a folder"
    ),
    "eval adaptive: missing folder": Mistake(("eval", "adaptive", "nope"), "nope is not a folder"),
    "eval adaptive: no enrolment view": Mistake(
        ("eval", "adaptive", "nope", "--views", "0"), "argument --views: must be >= 1, got 0"
    ),
    "eval adaptive: a text file": Mistake(
        ("eval", "adaptive", "notes.txt"), "notes.txt is not a folder"
    ),
    "eval pad: missing folder": Mistake(("eval", "pad", "nope"), "nope has no live/ folder"),
    "eval attacks: missing folder": Mistake(("eval", "attacks", "nope"), "No such file"),
    "eval sessions: missing manifest": Mistake(("eval", "sessions", "nope.json"), "nope.json"),
    "eval till-visits: missing folder": Mistake(
        ("eval", "till-visits", "nope"), "nope: No such file or directory"
    ),
    "eval till-visits: a text file as a clip": Mistake(
        ("eval", "till-visits", "notes.txt"), "notes.txt cannot be opened"
    ),
    "bench: missing clip": Mistake(("bench", "--clip", "nope.mp4"), "clip not found: nope.mp4"),
    "bench backend: unreachable PostgreSQL": Mistake(
        (
            *("bench", "backend", "--db", "postgres", "--postgres-dsn", "@pg"),
            *("--gallery", "10", "--queries", "2", "--duration", "0.5"),
        ),
        "did not start: PostgreSQL: connection failed",
    ),
    # Added with the commands and options of the week after the sweep was written (#15).
    "eval verify: an empty folder": Mistake(("eval", "verify", "empty"), "no images"),
    "eval verify: an empty clip folder": Mistake(
        ("eval", "verify", "empty", "--fused", "3"), "no video clips in empty"
    ),
    "eval verify --calibrate: an empty folder": Mistake(
        ("eval", "verify", "empty", "--calibrate"), "no images"
    ),
    "eval verify: step 0": Mistake(
        ("eval", "verify", "empty", "--fused", "3", "--step", "0"), "--step: must be >= 1"
    ),
    "eval verify: negative threshold": Mistake(
        ("eval", "verify", "empty", "--threshold", "-1"), "--threshold: must be >= 0"
    ),
    "eval verify: negative --closest": Mistake(
        ("eval", "verify", "empty", "--closest", "-1"), "--closest: must be >= 0"
    ),
    "eval verify: identity pattern not a regex": Mistake(
        ("eval", "verify", "empty", "--identity-pattern", "("), "not a regular expression"
    ),
    "eval verify: identity pattern without a group": Mistake(
        ("eval", "verify", "empty", "--identity-pattern", "_"), "needs a group"
    ),
    "eval adaptive: an empty folder": Mistake(("eval", "adaptive", "empty"), "no images"),
    "eval adaptive: --orders 0": Mistake(
        ("eval", "adaptive", "empty", "--orders", "0"), "--orders: must be >= 1, got 0"
    ),
    "eval adaptive: negative impostors": Mistake(
        ("eval", "adaptive", "empty", "--impostors", "-1"), "--impostors: must be >= 0"
    ),
    "eval adaptive: negative lookalikes": Mistake(
        ("eval", "adaptive", "empty", "--lookalikes", "-1"), "--lookalikes: must be >= 0"
    ),
    "eval adaptive: no --views at all": Mistake(
        ("eval", "adaptive", "empty", "--views", ","), "--views needs at least one"
    ),
    "eval adaptive: a grey distance not a number": Mistake(
        ("eval", "adaptive", "empty", "--grey-distances", "0.05,x"), "not a number: 'x'"
    ),
    "eval pad: an empty folder": Mistake(("eval", "pad", "empty"), "empty has no live/ folder"),
    "eval sessions: a text file as the manifest": Mistake(
        ("eval", "sessions", "notes.txt"), "cannot read sessions manifest notes.txt"
    ),
    "eval sessions: offsets not numbers": Mistake(
        ("eval", "sessions", "nope.json", "--start-offsets", "x"), "not a list of frame counts"
    ),
    "eval attacks: unknown kind": Mistake(
        ("eval", "attacks", "nope", "--only", "wink"), "attack kinds are photo"
    ),
    "eval till-visits: an empty folder": Mistake(("eval", "till-visits", "empty"), "no clips"),
    "eval till-visits: unknown setting": Mistake(
        ("eval", "till-visits", "nope", "--settings", "wink"), "one or more of learning, baseline"
    ),
    "eval till-visits: segment 0 s": Mistake(
        ("eval", "till-visits", "nope", "--segment-s", "0"), "--segment-s: must be positive"
    ),
    "analyze: an empty folder": Mistake(("analyze", "empty"), "empty holds no images"),
    "analyze: --max-frames 0": Mistake(
        ("analyze", "notes.txt", "--max-frames", "0"), "--max-frames must be at least 1"
    ),
    "liveness: negative start": Mistake(
        ("liveness", "--camera", "notes.txt", "--start", "-5"), "--start: must be >= 0"
    ),
    "liveness: a text file as the PAD model card": Mistake(
        ("liveness", "--camera", "notes.txt", "--pad-model", "notes.txt"),
        "cannot read PAD model card notes.txt",
    ),
    "serve: port out of range": Mistake(
        ("sandbox", "serve", "--db", "shop.db", "--port", "70000"), "a TCP port is 0-65535"
    ),
    "serve: no worker": Mistake(
        ("sandbox", "serve", "--db", "new.db", "--port", "@port", "--workers", "0"),
        "--workers must be at least 1",
    ),
    "tenant: token file in a read-only folder": Mistake(
        ("sandbox", "tenant", "--db", "shop.db", "--tenant", "acme", "--token-file", "locked/t"),
        "cannot write locked/t",
    ),
    "rotate-key: negative grace": Mistake(
        ("sandbox", "rotate-key", "--keys", "shop.db.keys", "--grace-days", "-1"),
        "--grace-days: must be >= 0",
    ),
    "bench: --frames 0": Mistake(("bench", "--frames", "0"), "--frames: must be >= 1"),
    "bench: --threads 0": Mistake(("bench", "--threads", "0"), "--threads: must be >= 1"),
    "bench: a text file as the clip": Mistake(("bench", "--clip", "notes.txt"), "cannot be opened"),
    "bench backend: negative gallery": Mistake(
        ("bench", "backend", "--gallery", "-5"), "a gallery needs at least 2 templates"
    ),
    "bench backend: --queries 0": Mistake(
        ("bench", "backend", "--db", "none", "--queries", "0"), "--queries: must be >= 1"
    ),
    "bench backend: --clients 0": Mistake(
        ("bench", "backend", "--clients", "0"), "--clients: must be >= 1"
    ),
    "bench backend: --duration 0": Mistake(
        ("bench", "backend", "--duration", "0"), "--duration: must be > 0"
    ),
    "bench backend: negative rate": Mistake(
        ("bench", "backend", "--rate", "-1"), "--rate: must be > 0"
    ),
    "bench backend: negative warm-up": Mistake(
        ("bench", "backend", "--warmup", "-1"), "--warmup: must be >= 0"
    ),
    "bench backend: --workers 0": Mistake(
        ("bench", "backend", "--workers", "0"), "--workers: must be >= 1"
    ),
    "bench crypto: --iterations 0": Mistake(
        ("bench", "crypto", "--iterations", "0"), "--iterations: must be >= 1"
    ),
    "bench faults: --checkouts 0": Mistake(
        ("bench", "faults", "--checkouts", "0"), "--checkouts: must be >= 1"
    ),
    "bench faults: a fault rate above 1": Mistake(
        ("bench", "faults", "--fault-rate", "2"), "a share between 0 and 1"
    ),
    "bench faults: --tills 0": Mistake(
        ("bench", "faults", "--tills", "0"), "--tills: must be >= 1"
    ),
    "bench faults: a text file as the database": Mistake(
        ("bench", "faults", "--db", "notes.txt"), "sqlite, postgres or a postgresql:// DSN"
    ),
    "bench crash: negative kills": Mistake(
        ("bench", "crash", "--kills", "-1"), "--kills: must be >= 0"
    ),
    "bench crash: unknown database": Mistake(
        ("bench", "crash", "--db", "nope"), "sqlite, postgres or a postgresql:// DSN"
    ),
    "bench load: --clients 0": Mistake(
        ("bench", "load", "--clients", "0"), "--clients: must be >= 1"
    ),
    "bench load: negative duration": Mistake(
        ("bench", "load", "--duration", "-1"), "--duration: must be > 0"
    ),
    "bench memory: --templates 0": Mistake(
        ("bench", "memory", "--templates", "-5"), "--templates: must be >= 1"
    ),
    "bench fuzz: --cases 0": Mistake(("bench", "fuzz", "--cases", "0"), "--cases: must be >= 1"),
    "bench fuzz: unknown database": Mistake(
        ("bench", "fuzz", "--db", "shop.db"), "sqlite, postgres or a postgresql:// DSN"
    ),
    "eval verify: jitters not a number": Mistake(
        ("eval", "verify", "empty"),
        "FACEPAY_EMBEDDER_JITTERS: cannot read 'abc'",
        env=(("FACEPAY_EMBEDDER_JITTERS", "abc"),),
    ),
    "eval verify: negative jitters": Mistake(
        ("eval", "verify", "empty"),
        "jitters must be 0..8, not -1",
        env=(("FACEPAY_EMBEDDER_JITTERS", "-1"),),
    ),
    "eval verify: mirror average not yes or no": Mistake(
        ("eval", "verify", "empty"),
        "FACEPAY_EMBEDDER_MIRROR_AVERAGE: cannot read 'maybe'",
        env=(("FACEPAY_EMBEDDER_MIRROR_AVERAGE", "maybe"),),
    ),
    "liveness: a random plan of 9 challenges from the environment": Mistake(
        ("liveness", "--camera", "notes.txt"),
        "a random plan has 2 to 5 challenges, not 9",
        env=(("FACEPAY_CHECKOUT_LIVENESS_CHALLENGES", "9"),),
    ),
    "unknown command": Mistake(("pay",), "invalid choice: 'pay'"),
}


_BUSY: list[socket.socket] = []


def _busy_port() -> str:
    """A port this test process listens on."""
    if not _BUSY:
        _BUSY.append(socket.create_server(("127.0.0.1", 0)))
    return str(_BUSY[0].getsockname()[1])


def _resolve(argv: tuple[str, ...]) -> list[str]:
    table = {
        "@pg": _unreachable_postgres,
        "@port": lambda: str(free_port()),
        "@busy": _busy_port,
    }
    return [table[a]() if a in table else a for a in argv]


@pytest.mark.parametrize("mistake", FACEPAY_MISTAKES.values(), ids=FACEPAY_MISTAKES.keys())
def test_facepay_answers_a_mistake_with_one_line(workspace: Path, mistake: Mistake) -> None:
    before = _snapshot(workspace)
    result = _run(workspace, "facepay", *_resolve(mistake.argv), **dict(mistake.env))
    _assert_one_clear_line(result, mistake)
    assert _snapshot(workspace) == before  # nothing created, nothing lost


def test_the_ledger_still_reads_the_database_those_mistakes_missed(workspace: Path) -> None:
    """The database the typos and failed provisionings did not touch is intact."""
    result = _run(workspace, "facepay", "sandbox", "ledger", "--db", "shop.db", "--json")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


EXAMPLE_MISTAKES = {
    "quickstart: text file as the clip": ("quickstart.py", ("notes.txt",), "cannot be opened"),
    "quickstart: missing clip": ("quickstart.py", ("nope.mp4",), "no clip at nope.mp4"),
    "quickstart: unknown challenge": (
        "quickstart.py",
        ("--challenge", "wink"),
        "invalid choice: 'wink'",
    ),
    "pos_integration: text file as the clip": (
        "pos_integration.py",
        ("notes.txt",),
        "cannot be opened",
    ),
    "pos_integration: unknown challenge": (
        "pos_integration.py",
        ("--challenge", "wink"),
        "invalid choice: 'wink'",
    ),
    "custom_embedder: no evaluation photos": ("custom_embedder.py", (), "no photo at"),
}


@pytest.mark.parametrize(
    ("program", "argv", "says"), EXAMPLE_MISTAKES.values(), ids=EXAMPLE_MISTAKES.keys()
)
def test_examples_answer_a_mistake_with_one_line(
    workspace: Path, program: str, argv: tuple[str, ...], says: str
) -> None:
    before = _snapshot(workspace)
    # An evaluation folder without the photos and clips: the examples must say so.
    result = _run(workspace, program, *argv, FACEPAY_EVAL_DIR=str(workspace / "locked"))
    _assert_one_clear_line(result, Mistake(argv, says))
    assert _snapshot(workspace) == before


def _subcommands() -> list[tuple[str, ...]]:
    from facepay.cli import build_parser

    def walk(parser: argparse.ArgumentParser, prefix: tuple[str, ...]) -> list[tuple[str, ...]]:
        found = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    found.append((*prefix, name))
                    found.extend(walk(sub, (*prefix, name)))
        return found

    return walk(build_parser(), ())


SUBCOMMANDS = _subcommands()


def test_the_sweep_knows_every_subcommand() -> None:
    """A new subcommand is added to the sweep above, or this fails."""
    tried = {m.argv[: len(c)] for m in FACEPAY_MISTAKES.values() for c in SUBCOMMANDS}
    leaves = {c for c in SUBCOMMANDS if not any(o[: len(c)] == c and o != c for o in SUBCOMMANDS)}
    untried = sorted(c for c in leaves if c not in tried)
    assert not untried, f"add their plausible mistakes to FACEPAY_MISTAKES: {untried}"


@pytest.mark.parametrize("command", SUBCOMMANDS, ids=[" ".join(c) for c in SUBCOMMANDS])
def test_every_subcommand_refuses_an_unknown_flag_in_one_line(
    command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    from facepay.cli import main

    with pytest.raises(SystemExit) as stopped:
        main([*command, "--no-such-flag"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    # argparse's one error line: the flag, or first a required argument it lacks.
    last = err.strip().splitlines()[-1]
    assert last.startswith("facepay"), last
    assert ": error: " in last, last
    assert "--no-such-flag" in last or "required" in last, last

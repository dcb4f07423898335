"""The ``facepay`` command.

Each area of the SDK contributes its subcommands through a small module exposing
``register(subparsers)``; those modules import nothing heavy at module level, so
``facepay --help`` stays fast. Commands that report accept ``--json`` and print one
JSON document on stdout; progress bars go to stderr.

Exit status: 0 done; 2 a mistake in what the command was given (a missing or unreadable
file, a file that is not a video or a database, a folder it may not write, a database it
cannot reach, an unknown option or value), told in one line on stderr and never as a
traceback; ``facepay liveness`` adds 3 (not live) and 4 (inconclusive); 130 interrupted.
The mistakes are caught here, once, not in every command: facepay's own typed errors,
the operating system's (``OSError``) and the databases' (sqlite3, psycopg).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sqlite3
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from facepay.errors import FacePayError

__all__ = ["EXIT_MISTAKE", "add_json_flag", "emit", "main", "progress"]

# The exit status of a usage mistake, as argparse uses for an unknown flag.
EXIT_MISTAKE = 2

_T = TypeVar("_T")

# group name -> (help, modules that register subcommands into it). A module listed under
# "" registers top-level commands.
_GROUPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "": ("", ("facepay._commands.analyze", "facepay._commands.liveness")),
    "eval": (
        "measure accuracy on a folder of faces, attacks or recorded sessions",
        (
            "facepay._commands.eval_verify",
            "facepay._commands.eval_pad",
            "facepay._commands.eval_till",
        ),
    ),
    "bench": (
        "measure speed: per-stage latency, cold start, backend throughput",
        (
            "facepay._commands.bench",
            "facepay._commands.bench_backend",
            "facepay._commands.bench_crypto",
            "facepay._commands.bench_reliability",
        ),
    ),
    "sandbox": (
        "run and inspect the reference payment backend (sandbox)",
        ("facepay._commands.sandbox",),
    ),
}


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def emit(args: argparse.Namespace, payload: Any, human: Callable[[Any], str] | None = None) -> None:
    """Print a command's result as JSON (``--json``) or as text for a person."""
    if getattr(args, "json", False) or human is None:
        sys.stdout.write(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")
    else:
        sys.stdout.write(human(payload) + "\n")


def progress(items: Iterable[_T], *, total: int | None = None, desc: str = "") -> Iterator[_T]:
    """Wrap a long loop in a progress bar on stderr (hidden when stderr is not a terminal)."""
    from tqdm import tqdm

    yield from tqdm(items, total=total, desc=desc, file=sys.stderr, disable=None, leave=False)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facepay",
        description="Face-pay checkout SDK: pipeline, liveness, evaluation and sandbox backend.",
    )
    from facepay import __version__

    parser.add_argument("--version", action="version", version=f"facepay {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv: debug)")
    top = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group, (help_text, modules) in _GROUPS.items():
        if group:
            group_parser = top.add_parser(group, help=help_text, description=help_text)
            target = group_parser.add_subparsers(dest=f"{group}_command", metavar="SUBCOMMAND")
            group_parser.set_defaults(_group_parser=group_parser)
        else:
            target = top
        for module_name in modules:
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name != module_name:
                    raise
                continue  # that area has not been built yet
            module.register(target, group_parser if group else None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if argv is None and not args.verbose:
        # The facepay command's own process (not a caller of main([...])): mediapipe's
        # and TensorFlow Lite's native log lines show only with -v.
        from facepay._native_logs import quiet_native_logs

        quiet_native_logs()
    if args.verbose:
        import logging

        logging.basicConfig(
            level=logging.DEBUG if args.verbose > 1 else logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    handler = getattr(args, "handler", None)
    if handler is None:
        group_parser = getattr(args, "_group_parser", None)
        (group_parser or parser).print_help(sys.stderr)
        return 2
    try:
        return int(handler(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        line = _mistake(exc, args)
        if line is None:
            raise  # a bug, not a mistake: the traceback is for us
        sys.stderr.write(f"facepay: error: {line}\n")
        return EXIT_MISTAKE


def _mistake(exc: BaseException, args: argparse.Namespace) -> str | None:
    """One line that tells a user what was wrong with what they gave, or None for a bug."""
    db = getattr(args, "db", None)
    if isinstance(exc, FacePayError):
        return _one_line(str(exc) or type(exc).__name__)
    if isinstance(exc, OSError):
        if exc.filename is not None and exc.strerror:
            return f"{exc.filename}: {exc.strerror}"
        return _one_line(str(exc))
    if isinstance(exc, sqlite3.Error):
        # "file is not a database", "unable to open database file", "disk I/O error"
        return f"{db}: {exc}" if db else f"database: {exc}"
    if type(exc).__module__.split(".")[0].startswith("pydantic") and hasattr(exc, "errors"):
        # A value a command checks with a wire model (an id, a claim): name the field.
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "value"
        return f"{where}: {first.get('msg', 'invalid')}"
    if type(exc).__module__.split(".")[0] == "psycopg":
        # psycopg is imported only by commands that reach PostgreSQL.
        return f"PostgreSQL: {_one_line(str(exc))}"
    return None


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.strip().splitlines() if part.strip())


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

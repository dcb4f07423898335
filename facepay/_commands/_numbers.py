"""Argument types for the numbers a command is given: a count, a duration, a share.

A bad number (``--orders 0``, ``--gallery -5``, ``--fault-rate 2``) is refused by argparse
itself, in one usage line naming the option, before any model loads or any server starts:
later it would surface as a traceback deep in a run (an empty array, a pool with no
connections) or, worse, as a run that "succeeds" on nothing.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

__all__ = ["at_least", "bench_database", "not_negative", "port", "positive", "share"]


def at_least(minimum: int) -> Callable[[str], int]:
    """A whole number >= ``minimum`` (a count of orders, clients, checkouts...)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    parse.__name__ = f"whole number >= {minimum}"
    return parse


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def positive(text: str, *, zero: bool = False) -> float:
    """A finite number > 0 (a duration, a rate)."""
    value = _number(text)
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        raise argparse.ArgumentTypeError(f"must be {'>= 0' if zero else '> 0'}, got {text}")
    return value


def not_negative(text: str) -> float:
    """A finite number >= 0 (a warm-up, a start offset, a distance)."""
    return positive(text, zero=True)


def share(text: str) -> float:
    """A share between 0 and 1 (a fault rate)."""
    value = _number(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a share between 0 and 1, got {text}")
    return value


def bench_database(text: str) -> str:
    """``sqlite``, ``postgres`` or a ``postgresql://`` DSN (the proof runs' ``--db``)."""
    if text in ("sqlite", "postgres") or text.startswith(("postgresql://", "postgres://")):
        return text
    raise argparse.ArgumentTypeError(f"sqlite, postgres or a postgresql:// DSN, not {text!r}")


def port(text: str) -> int:
    """A TCP port, 0-65535 (0: any free port)."""
    value = at_least(0)(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a TCP port is 0-65535, got {value}")
    return value

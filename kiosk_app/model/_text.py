"""Text from outside the kiosk (the backend's answer, the POS, a keyboard) made fit for one
line of the shared screen, a printed receipt or a log line."""

from __future__ import annotations

import unicodedata

__all__ = ["isolated", "one_line"]

# Unicode's control (Cc: NUL, newline, escape ...) and format (Cf: the bidirectional
# overrides and isolates, zero-width characters) categories, and the line and paragraph
# separators: each can break a line, hide text or turn "EUR 2.38" into "83.2 RUE".
_DROPPED = frozenset({"Cc", "Cf", "Zl", "Zp"})


def one_line(text: str, limit: int) -> str:
    """``text`` without control or format characters, cut to ``limit`` characters (the
    last one an ellipsis when it was longer)."""
    kept = "".join(ch for ch in text if unicodedata.category(ch) not in _DROPPED)
    kept = " ".join(kept.split())
    if len(kept) > limit:
        return kept[: limit - 1] + "\u2026"
    return kept


def isolated(text: str) -> str:
    """``text`` as a first-strong isolate (UAX #9): laid out in its own direction, and
    whatever direction controls it holds (a POS product named "Wine\u202e") end with it,
    so they cannot reverse the amount printed after it."""
    return f"\u2068{text}\u2069"

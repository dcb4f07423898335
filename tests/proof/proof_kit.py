"""The attack suites' till: the shared raw protocol-v1 till (facepay.testing),
plus what the proof suites count (rows that would mean something was stored)."""

from __future__ import annotations

import httpx

from facepay.server import Sandbox
from facepay.testing import CONSENT, PHONE, ProtocolTill, face, rows, same_face

__all__ = [
    "CONSENT",
    "PHONE",
    "STORED",
    "RawTill",
    "error_code",
    "face",
    "rows",
    "same_face",
    "stored_counts",
]

RawTill = ProtocolTill
# Tables whose rows would mean "something was stored" (a charge, a shopper, an answer).
STORED = ("authorizations", "shoppers", "step_up_answers", "deletion_receipts")


def stored_counts(sandbox: Sandbox) -> dict[str, int]:
    """Row counts of every table that would hold a result, plus consumed sessions."""
    counts = {t: int(rows(sandbox, f"SELECT COUNT(*) FROM {t}")[0][0]) for t in STORED}
    counts["sessions_used"] = int(
        rows(sandbox, "SELECT COUNT(*) FROM sessions WHERE used_at IS NOT NULL")[0][0]
    )
    return counts


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])

"""Counters kept in the database so every worker counts together: a subject's failures and
lock, and its requests in a window."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from facepay.server._storage import Transaction

__all__ = [
    "CLAIM_SUBJECT_PREFIX",
    "ERASED_CLAIM_SUBJECT",
    "LockoutRow",
    "PurgedCounters",
    "RequestCount",
    "count_request",
    "locked_until",
    "locks_sql",
    "purge_counters",
    "read_lockout",
    "write_lockout",
]


@dataclasses.dataclass(frozen=True, slots=True)
class LockoutRow:
    """A subject's failed attempts in its current window, and until when it is locked."""

    failures: int
    window_start: float
    locked_until: float


def read_lockout(tx: Transaction, subject: str, *, for_update: bool = False) -> LockoutRow | None:
    """A subject's failures and lock, or None if it has none.

    ``for_update``: for a transaction that will write the subject's row. On PostgreSQL
    the row is then locked until ``tx`` ends, so two failures counted at the same moment
    on two connections (two workers, two replicas) queue instead of both reading the same
    count and writing the same next one. A missing row is first created as a placeholder
    that counts like no row (no failures, a window long over, no lock), so there is
    always a row to lock. SQLite's write transactions already run one at a time
    (``BEGIN IMMEDIATE``)."""
    select = "SELECT failures, window_start, locked_until FROM lockouts WHERE subject = ?"
    if for_update:
        tx.execute(
            "INSERT INTO lockouts (subject, failures, window_start, locked_until) "
            "VALUES (?, 0, 0, 0) ON CONFLICT (subject) DO NOTHING",
            (subject,),
        )
        if tx.dialect == "postgres":
            select += " FOR UPDATE"
    row = tx.one(select, (subject,))
    if row is None:
        return None
    return LockoutRow(
        failures=int(row[0]), window_start=float(row[1]), locked_until=float(row[2] or 0.0)
    )


def write_lockout(tx: Transaction, subject: str, state: LockoutRow) -> None:
    tx.execute(
        "INSERT INTO lockouts (subject, failures, window_start, locked_until) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (subject) DO UPDATE SET failures = excluded.failures, "
        "window_start = excluded.window_start, locked_until = excluded.locked_until",
        (subject, state.failures, state.window_start, state.locked_until),
    )


def locks_sql(count: int) -> str:
    """The statement (``count`` subjects as parameters) whose one row is the latest
    ``locked_until`` among them (NULL if none is recorded)."""
    marks = ", ".join("?" * count)
    return f"SELECT max(locked_until) AS locked_until FROM lockouts WHERE subject IN ({marks})"  # noqa: S608


def locked_until(tx: Transaction, subjects: Sequence[str]) -> float | None:
    row = tx.one(locks_sql(len(subjects)), subjects)
    return None if row is None or row[0] is None else float(row[0])


@dataclasses.dataclass(frozen=True, slots=True)
class RequestCount:
    requests: int
    window_start: float


def count_request(tx: Transaction, subject: str, now: float, window_s: float) -> RequestCount:
    """Count one request of ``subject`` in its fixed window (a new window once the last
    one is ``window_s`` old): one row per subject, updated in place, in the database so
    every worker and replica counts together."""
    stale = now - window_s
    tx.execute(
        "INSERT INTO request_windows (subject, requests, window_start) VALUES (?, 1, ?) "
        "ON CONFLICT (subject) DO UPDATE SET "
        "requests = CASE WHEN request_windows.window_start < ? THEN 1 "
        "ELSE request_windows.requests + 1 END, "
        "window_start = CASE WHEN request_windows.window_start < ? THEN excluded.window_start "
        "ELSE request_windows.window_start END",
        (subject, now, stale, stale),
    )
    row = tx.one("SELECT requests, window_start FROM request_windows WHERE subject = ?", (subject,))
    assert row is not None
    return RequestCount(requests=int(row[0]), window_start=float(row[1]))


@dataclasses.dataclass(frozen=True, slots=True)
class PurgedCounters:
    lockouts: int
    request_windows: int


# A claim's lockout subject is this prefix and the claim's keyed hash
# (facepay.server._lockouts.claim_subject); its audit lines name ERASED_CLAIM_SUBJECT
# instead once no shopper holds it.
CLAIM_SUBJECT_PREFIX = "claim:"
ERASED_CLAIM_SUBJECT = CLAIM_SUBJECT_PREFIX + "erased"
_CHUNK = 500


def purge_counters(
    tx: Transaction, *, now: float, lockout_window_s: float, rights_window_s: float
) -> PurgedCounters:
    """Forget lockouts that neither lock nor count any more, and ended request windows.

    A purged claim that no shopper holds (a number nobody enrolled, or probed by a till)
    also leaves the audit: its ``locked_out`` lines name :data:`ERASED_CLAIM_SUBJECT`
    instead of the keyed hash, a pseudonym of a phone number of someone who never
    enrolled."""
    stale = (now, now - lockout_window_s)
    claims = [
        str(row[0])
        for row in tx.all(
            "SELECT subject FROM lockouts WHERE locked_until < ? AND window_start < ? "
            "AND subject LIKE ?",
            (*stale, CLAIM_SUBJECT_PREFIX + "%"),
        )
    ]
    for start in range(0, len(claims), _CHUNK):
        chunk = claims[start : start + _CHUNK]
        hashes = [c.removeprefix(CLAIM_SUBJECT_PREFIX) for c in chunk]
        marks = ", ".join("?" * len(chunk))
        held = {
            CLAIM_SUBJECT_PREFIX + str(row[0])
            for row in tx.all(
                f"SELECT claim_hash FROM shoppers WHERE claim_hash IN ({marks})",  # noqa: S608
                hashes,
            )
        }
        unheld = [c for c in chunk if c not in held]
        if unheld:
            marks = ", ".join("?" * len(unheld))
            tx.execute(
                f"UPDATE audit_log SET subject_id = ? WHERE subject_id IN ({marks})",  # noqa: S608
                (ERASED_CLAIM_SUBJECT, *unheld),
            )
    lockouts = tx.execute("DELETE FROM lockouts WHERE locked_until < ? AND window_start < ?", stale)
    windows = tx.execute(
        "DELETE FROM request_windows WHERE window_start < ?", (now - rights_window_s,)
    )
    return PurgedCounters(lockouts=lockouts, request_windows=windows)

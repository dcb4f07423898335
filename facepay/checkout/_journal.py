"""The till's journal: a small file that outlives the process, holding what a till sent
that may have moved money and has no answer yet, and the orders it saw paid.

A POS that dies with a payment pending forgets it (the ledger lives in memory); with a
journal, the next ``Till`` on the same file finds it and asks the backend what became
of it (``Till.recover``). Only what finding a payment again needs is written: the
idempotency key, the order's reference, amount and currency, the backend session (id
and expiry), the step-up's authorization id and the till's time. Never the sealed
template, a PIN or its seal, nor anything else of a face (docs/privacy.md, "What never
leaves the till"): such a payment cannot be sent again after a crash, only looked up.

One SQLite file (each write one transaction: a crash mid-write leaves the last committed
state), created 0600 for the till's user alone, marked with its own application id so
that a foreign file is refused (:class:`JournalError`) and never overwritten.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from facepay.errors import CheckoutError

__all__ = ["JournalEntry", "JournalError", "PaidOrder", "TillJournal"]

# "FPTJ": what PRAGMA application_id holds in a facepay till journal.
_APPLICATION_ID = 0x4650544A
_VERSION = 1

_SCHEMA = (
    """CREATE TABLE unanswered (
        idempotency_key TEXT PRIMARY KEY,
        basket_reference TEXT NOT NULL,
        amount_minor INTEGER NOT NULL,
        currency TEXT NOT NULL,
        session_id TEXT,
        session_expires_at TEXT,
        step_up_authorization_id TEXT,
        sent_at TEXT NOT NULL
    )""",
    """CREATE TABLE paid (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        basket_reference TEXT NOT NULL UNIQUE,
        authorization_id TEXT,
        receipt_id TEXT
    )""",
)


class JournalError(CheckoutError):
    """The journal file cannot be used: not a till journal (another program's file, a
    newer version), corrupt, or unreadable. Nothing in it was changed or removed: move it
    aside for a look, or point the till at another path."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalEntry:
    """One payment sent without an answer, as the journal keeps it: enough to look it
    up at the backend, nothing to send it again with."""

    idempotency_key: str
    basket_reference: str
    amount_minor: int
    currency: str
    # The backend session it was sent in (its authorization is looked up by it) and
    # when that session stops taking payments (the backend's clock).
    session_id: str | None
    session_expires_at: datetime | None
    # Set when the lost request was a step-up's answer, not the authorization itself.
    step_up_authorization_id: str | None = None
    sent_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class PaidOrder:
    """An order a till saw paid: no payment may be taken for it again."""

    basket_reference: str
    authorization_id: str | None
    receipt_id: str | None = None


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(timezone.utc).isoformat()


def _moment(text: object) -> datetime | None:
    return None if text is None else datetime.fromisoformat(str(text))


class TillJournal:
    """The journal file at ``path`` (created if missing, 0600). Thread-safe: every call
    takes one lock and writes one transaction."""

    def __init__(self, path: str | os.PathLike[str], *, paid_memory: int) -> None:
        self.path = Path(path)
        self._paid_memory = paid_memory
        self._lock = threading.Lock()
        self._conn = self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            # Created for the till's user alone before SQLite opens it (and its journal
            # files, which SQLite gives the main file's mode); an existing file is only
            # read until it shows itself a till journal.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "rb") as f:
                head = f.read(16)
            if head not in (b"", b"SQLite format 3\x00"):
                raise JournalError(f"{self.path} is not a till journal (not SQLite)")
            conn = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False, timeout=10.0
            )
        except OSError as exc:
            raise JournalError(f"the till journal {self.path} cannot be opened: {exc}") from exc
        try:
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA secure_delete=ON")
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if app_id == 0 and tables == 0:
                with _transaction(conn):
                    for statement in _SCHEMA:
                        conn.execute(statement)
                    conn.execute(f"PRAGMA application_id={_APPLICATION_ID}")
                    conn.execute(f"PRAGMA user_version={_VERSION}")
            elif app_id != _APPLICATION_ID:
                raise JournalError(f"{self.path} is another program's SQLite file")
            elif conn.execute("PRAGMA user_version").fetchone()[0] != _VERSION:
                raise JournalError(f"{self.path} is a till journal of another version")
            # A damaged page fails here, at start, not at the first payment.
            if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise JournalError(f"the till journal {self.path} is damaged")
            if self.path.stat().st_mode & 0o077:
                os.chmod(self.path, 0o600)  # a journal others could read: the owner's now
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise JournalError(f"the till journal {self.path} is damaged: {exc}") from exc
        except JournalError:
            conn.close()
            raise
        except OSError as exc:
            conn.close()
            raise JournalError(f"the till journal {self.path} cannot be used: {exc}") from exc
        return conn

    def hold(self, entry: JournalEntry) -> None:
        """``entry`` was sent and no answer came back: keep it until it is settled."""
        self._write(
            "INSERT OR REPLACE INTO unanswered (idempotency_key, basket_reference,"
            " amount_minor, currency, session_id, session_expires_at,"
            " step_up_authorization_id, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                entry.idempotency_key,
                entry.basket_reference,
                entry.amount_minor,
                entry.currency,
                entry.session_id,
                _iso(entry.session_expires_at),
                entry.step_up_authorization_id,
                _iso(entry.sent_at),
            ),
        )

    def settle(self, idempotency_key: str, paid: PaidOrder | None = None) -> None:
        """The payment under ``idempotency_key`` has its outcome (``paid``: its order was
        paid), in one transaction: the entry never goes before the paid order is in."""
        with self._lock, self._guarded(), _transaction(self._conn):
            self._conn.execute(
                "DELETE FROM unanswered WHERE idempotency_key = ?", (idempotency_key,)
            )
            if paid is not None:
                self._remember(paid)

    def remember_paid(self, paid: PaidOrder) -> None:
        with self._lock, self._guarded(), _transaction(self._conn):
            self._remember(paid)

    def _remember(self, paid: PaidOrder) -> None:
        self._conn.execute("DELETE FROM paid WHERE basket_reference = ?", (paid.basket_reference,))
        self._conn.execute(
            "INSERT INTO paid (basket_reference, authorization_id, receipt_id) VALUES (?, ?, ?)",
            (paid.basket_reference, paid.authorization_id, paid.receipt_id),
        )
        # Bounded: the oldest orders are forgotten first (the backend still refuses them).
        self._conn.execute(
            "DELETE FROM paid WHERE seq NOT IN (SELECT seq FROM paid ORDER BY seq DESC LIMIT ?)",
            (self._paid_memory,),
        )

    def unanswered(self) -> tuple[JournalEntry, ...]:
        """Every entry, oldest first."""
        with self._lock, self._guarded():
            rows = self._conn.execute(
                "SELECT idempotency_key, basket_reference, amount_minor, currency, session_id,"
                " session_expires_at, step_up_authorization_id, sent_at FROM unanswered"
                " ORDER BY sent_at, idempotency_key"
            ).fetchall()
        try:
            return tuple(
                JournalEntry(
                    idempotency_key=str(r[0]),
                    basket_reference=str(r[1]),
                    amount_minor=int(r[2]),
                    currency=str(r[3]),
                    session_id=None if r[4] is None else str(r[4]),
                    session_expires_at=_moment(r[5]),
                    step_up_authorization_id=None if r[6] is None else str(r[6]),
                    sent_at=_moment(r[7]) or datetime.now(timezone.utc),
                )
                for r in rows
            )
        except (TypeError, ValueError) as exc:
            raise JournalError(f"the till journal {self.path} holds a damaged entry") from exc

    def paid_orders(self) -> tuple[PaidOrder, ...]:
        """The orders remembered paid, oldest first."""
        with self._lock, self._guarded():
            rows = self._conn.execute(
                "SELECT basket_reference, authorization_id, receipt_id FROM paid ORDER BY seq"
            ).fetchall()
        return tuple(
            PaidOrder(
                basket_reference=str(r[0]),
                authorization_id=None if r[1] is None else str(r[1]),
                receipt_id=None if r[2] is None else str(r[2]),
            )
            for r in rows
        )

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _write(self, sql: str, params: tuple[object, ...]) -> None:
        with self._lock, self._guarded(), _transaction(self._conn):
            self._conn.execute(sql, params)

    @contextlib.contextmanager
    def _guarded(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise JournalError(f"the till journal {self.path} could not be used: {exc}") from exc

    def __repr__(self) -> str:
        return f"TillJournal({str(self.path)!r})"


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.rollback()
        raise
    else:
        conn.execute("COMMIT")

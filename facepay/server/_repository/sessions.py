"""Checkout sessions, a till's not_live report spending one (and the expired sessions and
device nonces the retention sweep deletes)."""

from __future__ import annotations

import dataclasses

from facepay.server._storage import Row, Transaction

__all__ = [
    "RefusalRow",
    "SessionRow",
    "delete_expired_sessions",
    "insert_session",
    "read_refusal",
    "read_session",
    "session_row",
    "spend_session",
    "spend_session_on_refusal",
]


@dataclasses.dataclass(frozen=True, slots=True)
class SessionRow:
    """What decides whether a checkout session can still be used."""

    device_id: str | None
    purpose: str | None
    expires_at: float
    used_at: float | None


def session_row(row: Row) -> SessionRow:
    """A :class:`SessionRow` from the columns ``device_id, purpose, expires_at, used_at``
    (as :func:`read_session` selects them, or a join that selects the same four)."""
    return SessionRow(
        device_id=None if row[0] is None else str(row[0]),
        purpose=None if row[1] is None else str(row[1]),
        expires_at=0.0 if row[2] is None else float(row[2]),
        used_at=None if row[3] is None else float(row[3]),
    )


def read_session(tx: Transaction, session_id: str) -> SessionRow | None:
    row = tx.one(
        "SELECT device_id, purpose, expires_at, used_at FROM sessions WHERE session_id = ?",
        (session_id,),
    )
    return None if row is None else session_row(row)


def insert_session(
    tx: Transaction,
    *,
    session_id: str,
    device_id: str,
    tenant_id: str,
    purpose: str,
    server_nonce: bytes,
    liveness_seed: bytes,
    created_at: float,
    expires_at: float,
) -> None:
    tx.execute(
        "INSERT INTO sessions (session_id, device_id, tenant_id, purpose, server_nonce, "
        "liveness_seed, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            session_id,
            device_id,
            tenant_id,
            purpose,
            server_nonce,
            liveness_seed,
            created_at,
            expires_at,
        ),
    )


def spend_session(tx: Transaction, session_id: str, now: float) -> bool:
    """Mark a session used; False if it was already used or has expired."""
    changed = tx.execute(
        "UPDATE sessions SET used_at = ? WHERE session_id = ? AND used_at IS NULL "
        "AND expires_at >= ?",
        (now, session_id, now),
    )
    return changed == 1


def delete_expired_sessions(tx: Transaction, expired_before: float) -> int:
    return tx.execute("DELETE FROM sessions WHERE expires_at < ?", (expired_before,))


# A till's not_live report on its payment session (facepay.server._reports).


@dataclasses.dataclass(frozen=True, slots=True)
class RefusalRow:
    """A session as a not_live report reads it: whether it can still be used, and the
    report that spent it if one did."""

    session: SessionRow
    refused_at: float | None
    refusal_hash: str | None


def read_refusal(tx: Transaction, session_id: str) -> RefusalRow | None:
    row = tx.one(
        "SELECT device_id, purpose, expires_at, used_at, refused_at, refusal_hash "
        "FROM sessions WHERE session_id = ?",
        (session_id,),
    )
    if row is None:
        return None
    return RefusalRow(
        session=session_row(row),
        refused_at=None if row[4] is None else float(row[4]),
        refusal_hash=None if row[5] is None else str(row[5]),
    )


def spend_session_on_refusal(
    tx: Transaction, session_id: str, device_id: str, request_hash: str, now: float
) -> bool:
    """Spend an unused, unexpired payment session of ``device_id`` on a not_live report;
    False if it was used, refused, expired or is not that device's meanwhile."""
    changed = tx.execute(
        "UPDATE sessions SET used_at = ?, refused_at = ?, refusal_hash = ? "
        "WHERE session_id = ? AND device_id = ? AND purpose = 'pay' AND used_at IS NULL "
        "AND expires_at >= ?",
        (now, now, request_hash, session_id, device_id, now),
    )
    return changed == 1

"""The ledger (``authorizations``): a row written, or written with its session, payer and
audit line in one statement, and read back."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any, Literal

from facepay.server._repository.payers import LIVE_PAYER_SQL
from facepay.server._storage import Transaction

__all__ = [
    "AuthorizationRecord",
    "LedgerRow",
    "OneStatementCommit",
    "answer_in_session",
    "answers_for_order",
    "commit_authorization_in_one_statement",
    "insert_authorization",
    "ledger_rows",
]


@dataclasses.dataclass(frozen=True, slots=True)
class AuthorizationRecord:
    """One row of the ledger (``authorizations``), as written."""

    authorization_id: str
    tenant_id: str
    device_id: str
    idempotency_key: str
    request_hash: str
    session_id: str
    amount_minor: int
    currency: str
    basket_reference: str
    status: str
    decline_reason: str | None
    shopper_id: str | None
    receipt_id: str | None
    response_json: str
    step_up_candidates: str | None
    step_up_expires_at: float | None
    created_at: float
    updated_at: float

    def values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self))


_AUTHORIZATION_COLUMNS = ", ".join(f.name for f in dataclasses.fields(AuthorizationRecord))


def insert_authorization(tx: Transaction, record: AuthorizationRecord) -> None:
    marks = ", ".join("?" * len(dataclasses.fields(record)))
    tx.execute(
        f"INSERT INTO authorizations ({_AUTHORIZATION_COLUMNS}) VALUES ({marks})",  # noqa: S608
        record.values(),
    )


# PostgreSQL only (SQLite has no data-modifying CTEs). Parameters in a SELECT list carry
# no column type, so each one is cast.
_PG_COMMIT_AUTHORIZATION = (
    # The payer first: its row is updated (and so locked, waiting for a deletion being
    # committed by another worker and then re-checked) only while it can still be paid,
    # and an approval spends its session only if it was.
    "WITH payer AS (UPDATE shoppers SET last_used_at = CAST(? AS DOUBLE PRECISION)"  # noqa: S608
    f" WHERE shopper_id = CAST(? AS TEXT) AND {LIVE_PAYER_SQL}"
    " AND EXISTS (SELECT 1 FROM sessions WHERE session_id = CAST(? AS TEXT)"
    " AND used_at IS NULL AND expires_at >= CAST(? AS DOUBLE PRECISION))"
    " RETURNING shopper_id),"
    " used AS ("
    " UPDATE sessions SET used_at = CAST(? AS DOUBLE PRECISION)"
    " WHERE session_id = CAST(? AS TEXT) AND used_at IS NULL"
    " AND expires_at >= CAST(? AS DOUBLE PRECISION)"
    " AND (CAST(? AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM payer)) RETURNING session_id),"
    f" authorization_row AS (INSERT INTO authorizations ({_AUTHORIZATION_COLUMNS})"
    " SELECT CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT),"
    " CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS TEXT),"
    " CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT),"
    " CAST(? AS TEXT), CAST(? AS DOUBLE PRECISION), CAST(? AS DOUBLE PRECISION),"
    " CAST(? AS DOUBLE PRECISION) FROM used),"
    " audit_row AS (INSERT INTO audit_log"
    " (at, tenant_id, device_id, event, subject_id, details_json)"
    " SELECT CAST(? AS DOUBLE PRECISION), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT),"
    " CAST(? AS TEXT), CAST(? AS TEXT) FROM used)"
    " SELECT (SELECT count(*) FROM used), (SELECT count(*) FROM payer),"
    " (SELECT count(*) FROM sessions WHERE session_id = CAST(? AS TEXT) AND used_at IS NULL"
    " AND expires_at >= CAST(? AS DOUBLE PRECISION))"
)

# What the one statement did: committed; nothing, the session being spent or expired;
# nothing, the payer being deleted, withdrawn or expired by another worker meanwhile.
OneStatementCommit = Literal["committed", "session_unusable", "payer_gone"]


def commit_authorization_in_one_statement(
    tx: Transaction,
    record: AuthorizationRecord,
    *,
    now: float,
    paid: str | None,
    details: Mapping[str, Any],
) -> OneStatementCommit:
    """PostgreSQL, on an autocommit connection: the authorization, its session spent,
    the payer's last use and the audit line as one statement (data-modifying CTEs run
    atomically on one snapshot). Nothing is written unless the session was still unused
    and unexpired and, for an approval (``paid``), the payer can still be paid."""
    row = tx.one(
        _PG_COMMIT_AUTHORIZATION,
        (
            now,
            paid,
            record.session_id,
            now,
            now,
            record.session_id,
            now,
            paid,
            *record.values(),
            now,
            record.tenant_id,
            record.device_id,
            "authorization",
            record.authorization_id,
            json.dumps(details, default=str),
            record.session_id,
            now,
        ),
    )
    if row is not None and row[0] == 1:
        return "committed"
    if paid is not None and row is not None and row[1] == 0 and row[2] == 1:
        return "payer_gone"  # the session could still pay: the payer is what went
    return "session_unusable"


@dataclasses.dataclass(frozen=True, slots=True)
class LedgerRow:
    """One authorization as the ledger lists it (``facepay sandbox ledger``)."""

    authorization_id: str
    idempotency_key: str
    amount_minor: int
    currency: str
    status: str
    shopper_id: str | None
    decline_reason: str | None
    receipt_id: str | None
    basket_reference: str
    device_id: str
    tenant_id: str
    created_at: float
    updated_at: float


def ledger_rows(tx: Transaction) -> list[LedgerRow]:
    """Every authorization, oldest first."""
    return [
        LedgerRow(
            authorization_id=str(row[0]),
            idempotency_key=str(row[1]),
            amount_minor=int(row[2]),
            currency=str(row[3]),
            status=str(row[4]),
            shopper_id=None if row[5] is None else str(row[5]),
            decline_reason=None if row[6] is None else str(row[6]),
            receipt_id=None if row[7] is None else str(row[7]),
            basket_reference=str(row[8]),
            device_id=str(row[9]),
            tenant_id=str(row[10]),
            created_at=float(row[11]),
            updated_at=float(row[12]),
        )
        for row in tx.all(
            "SELECT authorization_id, idempotency_key, amount_minor, currency, status, "
            "shopper_id, decline_reason, receipt_id, basket_reference, device_id, tenant_id, "
            "created_at, updated_at FROM authorizations ORDER BY created_at, authorization_id"
        )
    ]


def answer_in_session(tx: Transaction, session_id: str, device_id: str) -> str | None:
    """The stored answer (JSON) of the authorization a device made in a session."""
    row = tx.one(
        "SELECT response_json FROM authorizations WHERE session_id = ? AND device_id = ?",
        (session_id, device_id),
    )
    return None if row is None else str(row[0])


def answers_for_order(
    tx: Transaction, tenant_id: str, basket_reference: str, *, limit: int
) -> tuple[list[str], bool]:
    """The stored answers (JSON) of a tenant's authorizations for one order, oldest first,
    at most ``limit``: the approvals and the step-ups first (what blocks another payment
    of the order), then the newest others; and whether some were left out."""
    rows = tx.all(
        "SELECT response_json, created_at, authorization_id FROM authorizations "
        "WHERE tenant_id = ? AND basket_reference = ? ORDER BY "
        "CASE status WHEN 'approved' THEN 0 WHEN 'step_up' THEN 1 ELSE 2 END, "
        "created_at DESC, authorization_id DESC LIMIT ?",
        (tenant_id, basket_reference, limit + 1),
    )
    kept = sorted(rows[:limit], key=lambda row: (float(row[1]), str(row[2])))
    return [str(row[0]) for row in kept], len(rows) > limit

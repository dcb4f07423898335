"""What deciding an authorization reads: the payer, and every input in one statement."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from facepay.server._repository.answers import StoredAnswer
from facepay.server._repository.lockouts import locks_sql
from facepay.server._repository.sessions import SessionRow, session_row
from facepay.server._repository.templates import StoredTemplate
from facepay.server._storage import Transaction

__all__ = [
    "LIVE_PAYER_SQL",
    "PAID_ORDER_SQL",
    "AuthorizationInputs",
    "PayerRow",
    "authorization_inputs",
    "mark_used",
    "paid_by",
    "payer",
]


@dataclasses.dataclass(frozen=True, slots=True)
class PayerRow:
    """What paying needs of a matched shopper (and what loading their set needs)."""

    shopper_id: str
    payment_token: str | None
    masked_payment_method: str
    privacy_code_wrapped: bytes | None
    consent_withdrawn_at: float | None
    model_id: str
    data_key_wrapped: bytes
    template_sealed: bytes
    template_version: int

    def stored_template(self, tenant_id: str) -> StoredTemplate:
        """The shopper's set as :func:`stored_templates` would return it."""
        return StoredTemplate(
            shopper_id=self.shopper_id,
            tenant_id=tenant_id,
            model_id=self.model_id,
            template_dim=None,
            data_key_wrapped=self.data_key_wrapped,
            template_sealed=self.template_sealed,
            pinned_dim=None,
            version=self.template_version,
        )


_PAYER_COLUMNS = (
    "shopper_id",
    "payment_token",
    "masked_payment_method",
    "privacy_code_wrapped",
    "consent_withdrawn_at",
    "model_id",
    "data_key_wrapped",
    "template_sealed",
    "template_version",
)


def _payer(row: Sequence[Any]) -> PayerRow:
    return PayerRow(
        shopper_id=str(row[0]),
        payment_token=None if row[1] is None else str(row[1]),
        masked_payment_method=str(row[2] or ""),
        privacy_code_wrapped=None if row[3] is None else bytes(row[3]),
        consent_withdrawn_at=None if row[4] is None else float(row[4]),
        model_id=str(row[5]),
        data_key_wrapped=bytes(row[6]),
        template_sealed=bytes(row[7]),
        template_version=int(row[8]),
    )


def payer(tx: Transaction, shopper_id: str) -> PayerRow | None:
    """A shopper who can still pay: enrolled, template stored, not deleted."""
    row = tx.one(
        f"SELECT {', '.join(_PAYER_COLUMNS)} FROM shoppers "  # noqa: S608 (fixed names)
        "WHERE shopper_id = ? AND template_sealed IS NOT NULL AND deleted_at IS NULL",
        (shopper_id,),
    )
    return None if row is None else _payer(row)


@dataclasses.dataclass(frozen=True, slots=True)
class AuthorizationInputs:
    """Everything deciding an authorization reads, read at once."""

    stored_answer: StoredAnswer | None
    locked_until: float | None
    session: SessionRow
    liveness_seed: bytes
    payer: PayerRow | None
    # The authorization that already paid this order (None: the order is not paid).
    paid_by: str | None = None


def authorization_inputs(
    tx: Transaction,
    *,
    tenant_id: str,
    idempotency_key: str,
    lock_subjects: Sequence[str],
    session_id: str,
    claim_hash: str | None,
    basket_reference: str,
) -> AuthorizationInputs:
    """The stored answer under the key, the latest lock of the subjects, the session,
    the shopper holding ``claim_hash`` (None: no claimed payer) and the approval that
    already paid ``basket_reference`` (migration 10's index: at most one), in ONE
    statement: a round trip each cost more than the reads on PostgreSQL."""
    payer_columns = ", ".join(f"p.{c}" for c in _PAYER_COLUMNS)
    row = tx.one(
        "SELECT o.authorization_id, a.request_hash, a.response_json, a.device_id, "  # noqa: S608
        "l.locked_until, s.device_id, s.purpose, s.expires_at, s.used_at, s.liveness_seed, "
        f"{payer_columns} "
        "FROM (SELECT 1 AS one) AS base "
        "LEFT JOIN authorizations a ON a.tenant_id = ? AND a.idempotency_key = ? "
        f"LEFT JOIN ({locks_sql(len(lock_subjects))}) AS l ON 1 = 1 "
        "LEFT JOIN sessions s ON s.session_id = ? "
        "LEFT JOIN shoppers p ON p.tenant_id = ? AND p.claim_hash = ? "
        "AND p.template_sealed IS NOT NULL AND p.deleted_at IS NULL "
        f"LEFT JOIN authorizations o ON {PAID_ORDER_SQL.format(row='o')}",
        (
            tenant_id,
            idempotency_key,
            *lock_subjects,
            session_id,
            tenant_id,
            claim_hash,
            tenant_id,
            basket_reference,
        ),
    )
    assert row is not None  # the base row is always there
    order_paid_by = None if row[0] is None else str(row[0])
    row = row[1:]
    stored = None
    if row[0] is not None:
        stored = StoredAnswer(
            request_hash=str(row[0]), response_json=str(row[1]), device_id=str(row[2])
        )
    return AuthorizationInputs(
        stored_answer=stored,
        locked_until=None if row[3] is None else float(row[3]),
        session=session_row(row[4:8]),
        liveness_seed=b"" if row[8] is None else bytes(row[8]),
        payer=None if row[9] is None else _payer(row[9:]),
        paid_by=order_paid_by,
    )


# The approval that paid an order (tenant, basket reference: two parameters): the rows
# migration 10's unique index authorizations_paid_once holds, so at most one.
PAID_ORDER_SQL = (
    "{row}.tenant_id = ? AND {row}.basket_reference = ? AND {row}.status = 'approved' "
    "AND {row}.duplicate_of IS NULL"
)


def paid_by(tx: Transaction, tenant_id: str, basket_reference: str) -> str | None:
    """The authorization that paid a tenant's order, None if it is not paid."""
    found = tx.one(
        "SELECT p.authorization_id FROM authorizations p WHERE "  # noqa: S608 (fixed SQL)
        + PAID_ORDER_SQL.format(row="p"),
        (tenant_id, basket_reference),
    )
    return None if found is None else str(found[0])


# A payer that can still be paid: neither deleted nor withdrawn, and a template left (a
# retention expiry shreds only the template). Written once: the one-statement commit of
# facepay.server._repository.ledger uses it too.
LIVE_PAYER_SQL = (
    "deleted_at IS NULL AND consent_withdrawn_at IS NULL AND template_sealed IS NOT NULL"
)


def mark_used(tx: Transaction, shopper_id: str, now: float) -> bool:
    """The shopper just paid: their retention period starts again. False, and nothing
    written, if the shopper was deleted, withdrew or expired meanwhile (another worker's
    transaction committed since the payment read the row): the payment must not stand.
    Inside the writing transaction, so it holds the row until the commit."""
    changed = tx.execute(
        f"UPDATE shoppers SET last_used_at = ? WHERE shopper_id = ? AND {LIVE_PAYER_SQL}",  # noqa: S608
        (now, shopper_id),
    )
    return changed == 1

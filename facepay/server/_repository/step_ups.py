"""A step-up (the grey zone's PIN): the authorization it answers, and its answer."""

from __future__ import annotations

import dataclasses

from facepay.server._storage import Transaction
from facepay.wire import AuthorizationStatus

__all__ = ["StepUpRow", "answer_step_up", "authorization_for_step_up", "insert_step_up_answer"]


@dataclasses.dataclass(frozen=True, slots=True)
class StepUpRow:
    """An authorization as a step-up answer needs it."""

    status: str
    candidates_json: str | None
    expires_at: float | None
    amount_minor: int
    currency: str
    basket_reference: str
    created_at: float
    device_id: str
    response_json: str


def authorization_for_step_up(
    tx: Transaction, authorization_id: str, tenant_id: str
) -> StepUpRow | None:
    row = tx.one(
        "SELECT status, step_up_candidates, step_up_expires_at, amount_minor, currency, "
        "basket_reference, created_at, device_id, response_json FROM authorizations "
        "WHERE authorization_id = ? AND tenant_id = ?",
        (authorization_id, tenant_id),
    )
    if row is None:
        return None
    return StepUpRow(
        status=str(row[0]),
        candidates_json=None if row[1] is None else str(row[1]),
        expires_at=None if row[2] is None else float(row[2]),
        amount_minor=int(row[3]),
        currency=str(row[4]),
        basket_reference=str(row[5]),
        created_at=float(row[6]),
        device_id=str(row[7]),
        response_json=str(row[8]),
    )


def answer_step_up(
    tx: Transaction,
    authorization_id: str,
    *,
    status: str,
    decline_reason: str | None,
    shopper_id: str | None,
    receipt_id: str | None,
    response_json: str,
    now: float,
) -> bool:
    """Record the step-up's outcome on its authorization; False if it was no longer
    awaiting one (answered meanwhile)."""
    changed = tx.execute(
        "UPDATE authorizations SET status = ?, decline_reason = ?, shopper_id = ?, "
        "receipt_id = ?, response_json = ?, step_up_candidates = NULL, "
        "updated_at = ? WHERE authorization_id = ? AND status = ?",
        (
            status,
            decline_reason,
            shopper_id,
            receipt_id,
            response_json,
            now,
            authorization_id,
            AuthorizationStatus.STEP_UP.value,
        ),
    )
    return changed == 1


def insert_step_up_answer(
    tx: Transaction,
    *,
    tenant_id: str,
    idempotency_key: str,
    request_hash: str,
    authorization_id: str,
    response_json: str,
    now: float,
) -> None:
    tx.execute(
        "INSERT INTO step_up_answers (tenant_id, idempotency_key, request_hash, "
        "authorization_id, response_json, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (tenant_id, idempotency_key, request_hash, authorization_id, response_json, now),
    )

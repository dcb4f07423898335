"""The ledger as the operator and a reconciling till read it: every authorization,
the answer a device got in one session, and a tenant's answers for one order."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from facepay.server import _repository as repository
from facepay.server._devices import AuthenticatedDevice
from facepay.server._errors import ApiError
from facepay.server._storage import Database
from facepay.wire import AuthorizationResponse, ErrorCode, OrderAuthorizations

__all__ = ["answer_in_session", "answers_for_order", "ledger"]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat()


def ledger(db: Database) -> list[dict[str, Any]]:
    """Every authorization, oldest first, for reconciliation (``facepay sandbox ledger``)."""
    with db.transaction() as tx:
        rows = repository.ledger_rows(tx)
    return [
        {
            "id": row.authorization_id,
            "idempotency_key": row.idempotency_key,
            "amount_minor": row.amount_minor,
            "currency": row.currency,
            "state": row.status,
            "shopper_id": row.shopper_id,
            "decline_reason": row.decline_reason,
            "receipt_id": row.receipt_id,
            "basket_reference": row.basket_reference,
            "device_id": row.device_id,
            "tenant_id": row.tenant_id,
            "created_at": _iso(row.created_at),
            "updated_at": _iso(row.updated_at),
        }
        for row in rows
    ]


def answer_in_session(
    db: Database, device: AuthenticatedDevice, session_id: str
) -> AuthorizationResponse:
    """Reconcile by session: the answer to the authorization this device made in
    ``session_id`` (its current state, after a step-up too), for a till that lost its
    idempotency key or its answer. 404 if the session took no payment of this device."""
    with db.transaction(readonly=True) as tx:
        stored = repository.answer_in_session(tx, session_id, device.device_id)
    if stored is None:
        raise ApiError(ErrorCode.NOT_FOUND, "no authorization of this device in that session")
    return AuthorizationResponse.model_validate_json(stored)


def answers_for_order(
    db: Database, device: AuthenticatedDevice, basket_reference: str, *, limit: int
) -> OrderAuthorizations:
    """Reconcile by order: the authorizations of this device's tenant for
    ``basket_reference``, oldest first, as each stands now; for a POS back from a crash
    that forgot what it sent. At most ``limit``: the approval and the step-ups always,
    then the newest (``more``: some older were left out). Any device of the tenant may
    ask (a sale moved to another lane, a till replaced): the order is the tenant's, not
    the lane's. Another tenant's order with the same reference is never seen."""
    with db.transaction(readonly=True) as tx:
        stored, more = repository.answers_for_order(
            tx, device.tenant_id, basket_reference, limit=limit
        )
    return OrderAuthorizations(
        basket_reference=basket_reference,
        more=more,
        # Stored answers hold no privacy code; dropped again here so that no later change
        # to what is stored can hand one to another lane.
        authorizations=[
            AuthorizationResponse.model_validate_json(answer).model_copy(
                update={"privacy_code": None}
            )
            for answer in stored
        ],
    )

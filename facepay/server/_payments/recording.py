"""A decided authorization written: the ledger row, the session spent, the failures
counted, the payer's last use and the audit line, all or nothing; on PostgreSQL, when
no failure is counted, as one statement."""

from __future__ import annotations

from typing import Any

from facepay.server import _decision as decision
from facepay.server import _repository as repository
from facepay.server._devices import AuthenticatedDevice
from facepay.server._errors import ApiError
from facepay.server._lockouts import Lockouts, claim_subject, device_subject
from facepay.server._part import BackendContext, BackendPart
from facepay.server._sessions import CheckoutSessions
from facepay.wire import AuthorizationResponse, AuthorizationStatus, DeclineReason, ErrorCode

__all__ = ["AuthorizationWriter", "PayerGoneError", "order_already_paid", "payer_gone_decline"]


class PayerGoneError(Exception):
    """The approval's payer was deleted, withdrew consent or expired under retention
    (through another worker or replica) after the payment read its row: nothing was
    written, and the payment must not stand (docs/privacy.md: from the moment a deletion
    commits no process pays that face)."""


def order_already_paid(paid_by: str) -> ApiError:
    """``409 order_already_paid``, naming the approval that paid the order: a tenant's
    order (basket reference) is paid once, whichever till or worker asks (migration 10);
    nothing of the refused request is written or charged."""
    return ApiError(
        ErrorCode.ORDER_ALREADY_PAID,
        f"this order was already paid (authorization {paid_by}): take no other payment",
        authorization_id=paid_by,
    )


def payer_gone_decline(response: AuthorizationResponse) -> AuthorizationResponse:
    """The answer an approval becomes when its payer went meanwhile (:class:`PayerGoneError`):
    ``declined no_match``, with nothing of the shopper in it (no receipt, card or code)."""
    return response.model_copy(
        update={
            "status": AuthorizationStatus.DECLINED,
            "decline_reason": DeclineReason.NO_MATCH,
            "receipt_id": None,
            "masked_payment_method": None,
            "privacy_code": None,
        }
    )


class AuthorizationWriter(BackendPart):
    """Writes a decided authorization in one transaction."""

    def __init__(
        self, context: BackendContext, *, sessions: CheckoutSessions, lockouts: Lockouts
    ) -> None:
        super().__init__(context)
        self.sessions = sessions
        self.lockouts = lockouts

    def write(
        self,
        device: AuthenticatedDevice,
        record: repository.AuthorizationRecord,
        *,
        failure: bool,
        claim_hash: str | None,
        live: bool,
        paid: str | None,
        details: dict[str, Any],
    ) -> None:
        """Raises ``UniqueViolationError`` if the Idempotency-Key was written meanwhile or
        another approval of the order committed (an approval only),
        ``409 session_used`` if the session was spent or expired meanwhile, and
        :class:`PayerGoneError` if ``paid`` can no longer be paid (nothing written)."""
        if self.db.dialect == "postgres" and not failure:
            self._commit_in_one_statement(record, paid, details)
            return
        with self.db.transaction() as tx:
            # The session first, as the one-statement path does: a spent session is
            # 410 session_used whichever unique index the row would also meet.
            self.sessions.spend(tx, record.session_id)
            repository.insert_authorization(tx, record)
            if failure:
                self.lockouts.record_failure(
                    tx, device_subject(device.device_id), self.config.device_lockout_s
                )
                if decision.counts_against_claim(claimed=claim_hash is not None, live=live):
                    assert claim_hash is not None  # claimed
                    self.lockouts.record_failure(
                        tx, claim_subject(claim_hash), self.config.shopper_lockout_s
                    )
            if paid and not repository.mark_used(tx, paid, record.created_at):
                raise PayerGoneError(paid)
            self._audit(
                tx,
                device.tenant_id,
                device.device_id,
                "authorization",
                record.authorization_id,
                details,
            )

    def refuse_if_paid(self, tenant_id: str, basket_reference: str) -> None:
        """``409 order_already_paid`` if another approval paid this order: what a write
        refused by migration 10's index means."""
        with self.db.transaction(readonly=True) as tx:
            paid_by = repository.paid_by(tx, tenant_id, basket_reference)
        if paid_by is not None:
            raise order_already_paid(paid_by)

    def _commit_in_one_statement(
        self,
        record: repository.AuthorizationRecord,
        paid: str | None,
        details: dict[str, Any],
    ) -> None:
        """PostgreSQL: the writes of a fresh authorization that records no failure (the
        authorization, the session spent, the payer's last use, the audit line) as one
        statement: the transaction of the SQLite path in one round trip instead of
        several; nothing is written unless the session was still unused and unexpired."""
        with self.db.reads() as tx:
            # autocommit: the statement is its own transaction
            committed = repository.commit_authorization_in_one_statement(
                tx, record, now=self.clock(), paid=paid, details=details
            )
        if committed == "payer_gone":
            raise PayerGoneError(paid)
        if committed != "committed":
            raise ApiError(ErrorCode.SESSION_USED, "this session was already used or expired")

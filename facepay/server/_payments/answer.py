"""The answer to a decided payment: the payer's row and the acquirer turn a matched
shopper into an approval with its receipt, or into a decline."""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from typing import Protocol

from facepay.server import _repository as repository
from facepay.server._part import BackendContext, BackendPart
from facepay.wire import (
    AuthorizationResponse,
    AuthorizationStatus,
    DeclineReason,
    StepUp,
)

__all__ = ["Acquirer", "PaymentAnswers", "iso", "new_id"]


class Acquirer(Protocol):
    """Who charges the shopper's payment token once the face matched."""

    def approves(self, payment_token: str) -> bool: ...


def iso(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class PaymentAnswers(BackendPart):
    """Charges a matched shopper and writes the answer."""

    def __init__(self, context: BackendContext, *, acquirer: Acquirer) -> None:
        super().__init__(context)
        self.acquirer = acquirer

    def answer(
        self,
        *,
        authorization_id: str,
        req_amount: int,
        currency: str,
        basket: str,
        created: float,
        shopper_id: str | None,
        status: AuthorizationStatus,
        reason: DeclineReason | None,
        step_up: StepUp | None,
        payer: repository.PayerRow | None = None,
    ) -> AuthorizationResponse:
        """The answer for ``shopper_id`` (matched): ``payer`` is its row as
        ``Payments.authorize`` reads it for a claim, when the caller already has it."""
        receipt_id = masked = privacy_code = None
        if shopper_id is not None:
            if payer is None:
                # The gallery is a cache: a shopper deleted through another replica can
                # still be in it, so the row decides.
                with self.db.transaction(readonly=True) as tx:
                    payer = repository.payer(tx, shopper_id)
            if payer is None or payer.consent_withdrawn_at is not None:
                status, reason = AuthorizationStatus.DECLINED, DeclineReason.NO_MATCH
            elif not self.acquirer.approves(str(payer.payment_token)):
                status, reason = AuthorizationStatus.DECLINED, DeclineReason.PAYMENT_METHOD_DECLINED
            else:
                status = AuthorizationStatus.APPROVED
                receipt_id = new_id("rcpt")
                masked = payer.masked_payment_method
                privacy_code = self.vault.unwrap_secret(
                    payer.privacy_code_wrapped or b"", purpose="privacy-code"
                ).decode()
        return AuthorizationResponse(
            authorization_id=authorization_id,
            status=status,
            amount_minor=req_amount,
            currency=currency,
            basket_reference=basket,
            created_at=iso(created),
            receipt_id=receipt_id,
            masked_payment_method=masked,
            privacy_code=privacy_code,
            decline_reason=reason if status is AuthorizationStatus.DECLINED else None,
            step_up=step_up if status is AuthorizationStatus.STEP_UP else None,
        )

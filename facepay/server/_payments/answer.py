"""The answer to a decided payment: the payer's row and the acquirer turn a matched
shopper into an approval with its receipt, or into a decline.

An approval is a hold at the acquirer until the backend's write of it commits: then the
hold is captured; a write that is refused (another approval of the order committed
first, the session spent meanwhile, the payer gone) or fails voids it, so the loser of
a race leaves no money held (:meth:`PaymentAnswers.settled_by`)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
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


logger = logging.getLogger(__name__)


class Acquirer(Protocol):
    """Who charges the shopper's payment token once the face matched: an authorization
    hold, then its capture or its void."""

    def authorize(
        self, payment_token: str, *, amount_minor: int, currency: str, reference: str
    ) -> str | None:
        """Hold ``amount_minor`` on the token for the order ``reference``: the hold's id,
        or None if the payment method is declined."""
        ...

    def capture(self, hold_id: str) -> None:
        """Charge a hold: its approval committed."""
        ...

    def void(self, hold_id: str) -> None:
        """Release a hold: its approval was not written."""
        ...


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
    ) -> tuple[AuthorizationResponse, str | None]:
        """The answer for ``shopper_id`` (matched), and the acquirer's hold of an
        approval (None otherwise), to be settled by :meth:`settled_by` around the write:
        ``payer`` is its row as ``Payments.authorize`` reads it for a claim, when the
        caller already has it."""
        receipt_id = masked = privacy_code = hold = None
        if shopper_id is not None:
            if payer is None:
                # The gallery is a cache: a shopper deleted through another replica can
                # still be in it, so the row decides.
                with self.db.transaction(readonly=True) as tx:
                    payer = repository.payer(tx, shopper_id)
            if payer is None or payer.consent_withdrawn_at is not None:
                status, reason = AuthorizationStatus.DECLINED, DeclineReason.NO_MATCH
            elif (
                hold := self.acquirer.authorize(
                    str(payer.payment_token),
                    amount_minor=req_amount,
                    currency=currency,
                    reference=basket,
                )
            ) is None:
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
        ), hold

    @contextmanager
    def settled_by(self, hold: str | None) -> Iterator[None]:
        """Around the write of an approval holding ``hold``: capture it once the write
        committed, void it if the write raised (and raise on). A void that fails is
        logged and the write's own error raised: the hold then lapses at the acquirer."""
        if hold is None:
            yield
            return
        try:
            yield
        except BaseException:
            try:
                self.acquirer.void(hold)
            except Exception:
                logger.exception("could not void acquirer hold %s of a refused approval", hold)
            raise
        self.acquirer.capture(hold)

"""The kiosk's :class:`~kiosk_app.model.CheckoutPort` over one ``facepay.Till``: thin.

It passes what the model hands it straight to the till: the POS sale id arrives as the
basket's ``reference`` (the backend's ledger records it and the till's already-paid guard
checks it), the camera's device name goes to ``start_checkout`` so the virtual-camera check
runs on the kiosk's ``feed()`` path, and answers and errors come back as facepay's own
types. It has no retry loop and no list of unanswered payments of its own: those are the
till's (``Till.unanswered``), settled by ``Till.reconcile``, the one reconcile path. It
only remembers which attempt keys belong to which sale, to find them there.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from facepay import (
    BackendError,
    Basket,
    CheckoutConfig,
    CheckoutError,
    CheckoutSession,
    Claim,
    EnrollmentResult,
    EnrollmentSession,
    FacePayError,
    FailureReason,
    Frame,
    FrameFeedback,
    PaymentStatus,
    PendingAuthorization,
    Receipt,
    Till,
    consent_now,
    format_money,
)
from kiosk_app.model import AttemptEnd, BackendHealth, Outcome, StoreProfile, reconcile_outcome

__all__ = ["TillAdapter", "consent_text_version"]

logger = logging.getLogger(__name__)


def consent_text_version(language: str, consent_text: str) -> str:
    """Names the exact consent text shown: changes whenever a word of it changes."""
    digest = hashlib.sha256(consent_text.encode()).hexdigest()[:12]
    return f"kiosk-{language}-{digest}"


class TillAdapter:
    """One lane's till, as the kiosk's worker thread drives it."""

    def __init__(
        self,
        till: Till,
        *,
        store: StoreProfile,
        base_url: str,
        camera_name: str | None = None,
        consent_text: Callable[[str], str] = lambda language: language,
        rebuild_till: Callable[[CheckoutConfig], Till] | None = None,
    ) -> None:
        self.till = till
        self.store = store
        self.base_url = base_url
        self.camera_name = camera_name
        self._consent_text = consent_text
        self._rebuild_till = rebuild_till
        self._session: CheckoutSession | EnrollmentSession | None = None
        # The attempt keys of each sale (an index into the till's ledger, not a copy of it).
        self._attempt_keys: dict[str, list[str]] = {}
        self._close_hooks: list[Callable[[], None]] = []

    # ------------------------------------------------------------------ CheckoutPort
    def store_profile(self) -> StoreProfile:
        return self.store

    def health(self) -> BackendHealth:
        try:
            self.till.client.health()
        except FacePayError as exc:
            return BackendHealth(reachable=False, url=self.base_url, detail=type(exc).__name__)
        cfg = self.till.config
        return BackendHealth(
            reachable=True,
            url=self.base_url,
            detail=f"{n} awaiting reconciliation" if (n := len(self.till.unanswered)) else "",
            settings={
                "liveness_challenges": float(cfg.liveness_challenges),
                "capture_timeout_s": cfg.capture_timeout_s,
                "liveness_timeout_s": cfg.liveness_timeout_s,
            },
        )

    def begin_payment(self, basket: Basket, claim: Claim | None) -> None:
        self.cancel()
        # Forget the keys of sales that have nothing left to settle.
        for sale_id in [k for k in self._attempt_keys if not self._unanswered_of(k)]:
            del self._attempt_keys[sale_id]
        session = self.till.start_checkout(basket, claim=claim, camera_name=self.camera_name)
        self._attempt_keys.setdefault(basket.reference, []).append(session.idempotency_key)
        session.begin()  # opens the backend session: raises TransportError when down
        self._session = session

    def begin_enrollment(
        self, claim: Claim, card_token: str, locale: str, *, pin: str | None = None
    ) -> None:
        self.cancel()
        consent = consent_now(
            consent_text_version(locale, self._consent_text(locale)),
            retention_days=self.store.retention_days,
            locale=locale,
        )
        session = self.till.start_enrollment(
            consent=consent,
            claim=claim,
            payment_method_token=card_token,
            camera_name=self.camera_name,
            pin=pin,
        )
        session.begin()
        self._session = session

    def feed(self, frame: Frame) -> FrameFeedback:
        session = self._session
        if session is None:
            raise CheckoutError("no attempt is open")
        return session.feed(frame)

    def end_reason(self) -> AttemptEnd:
        session = self._session
        if session is None:
            return AttemptEnd(reason=FailureReason.CANCELLED)
        return AttemptEnd(
            reason=session.reason,
            liveness_reasons=session.liveness_reasons,
            quality_reasons=session.quality_reasons,
        )

    def complete(self) -> Receipt | EnrollmentResult:
        session = self._session
        if session is None:
            raise CheckoutError("no attempt is open")
        return session.complete()

    def answer_step_up(self, digits: str) -> Receipt:
        session = self._session
        if not isinstance(session, CheckoutSession):
            raise CheckoutError("no payment is waiting for a step-up")
        return session.answer_step_up(digits)

    def answer_lost(self, sale_id: str) -> bool:
        return bool(self._unanswered_of(sale_id))

    def recover(self) -> tuple[tuple[str, str, Outcome], ...]:
        """At start: ``Till.recover`` (what became of each payment the till's journal
        left unanswered), one ``(sale id, amount text, outcome)`` per sale."""
        by_sale: dict[str, list[Any]] = {}
        for recovered in self.till.recover():
            by_sale.setdefault(recovered.basket_reference, []).append(recovered)
        found = []
        for sale_id, mine in by_sale.items():
            entry = mine[0].entry
            outcome = reconcile_outcome(partial(_journal_answer, mine), None)
            found.append((sale_id, format_money(entry.amount_minor, entry.currency), outcome))
        return tuple(found)

    def reconcile(self, sale_id: str) -> Receipt | None:
        """Settle the sale's unanswered payment through the till (charged at most once).

        ``None`` when the backend refused the re-sent request for good: the till's one
        reconcile policy then settles it as not charged and drops it from its ledger, and
        that, not the kind of error, is what this reads. A payment the till's journal kept
        from before a restart is looked up again (``Till.recover``)."""
        pending = self._unanswered_of(sale_id)
        if not pending and any(e.basket_reference == sale_id for e in self.till.journalled):
            found = [r for r in self.till.recover() if r.basket_reference == sale_id]
            return _journal_answer(found)
        if not pending:
            return self._paid_elsewhere(sale_id)
        last = pending[-1]
        try:
            return self.till.reconcile(last)
        except BackendError:
            key = last.idempotency_key
            if any(p.idempotency_key == key for p in self.till.unanswered):
                raise  # no answer for good: it may still have been charged
            logger.info("a lost payment was settled as not charged")
            return None

    def _paid_elsewhere(self, sale_id: str) -> Receipt:
        """No payment of this sale waits in this till: another lane (or an attempt before
        a restart) may have paid it, which the backend's payments for the order say. Its
        approval settles the sale as paid (no privacy code, no card: another till's
        receipt is the payer's); anything else stays unknown, never "not charged"."""
        for payment in self.till.order_payments(sale_id):
            if payment.approved:
                return Receipt(
                    status=PaymentStatus.APPROVED,
                    amount_minor=payment.amount_minor,
                    currency=payment.currency,
                    basket_reference=payment.basket_reference,
                    authorization_id=payment.authorization_id,
                    idempotency_key="",
                    receipt_id=payment.receipt_id,
                )
        raise CheckoutError("no payment for this sale is waiting for an answer")

    def _unanswered_of(self, sale_id: str) -> list[PendingAuthorization]:
        keys = set(self._attempt_keys.get(sale_id, ()))
        return [
            p
            for p in self.till.unanswered
            if p.idempotency_key in keys or (p.attempt_key or "") in keys
        ]

    def cancel(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.state.is_final:
            session.cancel(FailureReason.CANCELLED)

    # ------------------------------------------------------------------ the lane
    def set_camera_name(self, name: str | None) -> None:
        self.camera_name = name

    def configure(self, settings: Mapping[str, float]) -> None:
        """Staff settings, already clamped by the model: the next shopper's till config."""
        current = self.till.config
        changes: dict[str, Any] = {}
        for name, value in settings.items():
            old = getattr(current, name)
            changes[name] = round(value) if isinstance(old, int) else float(value)
        if self._rebuild_till is None or all(getattr(current, k) == v for k, v in changes.items()):
            return
        self.cancel()
        rebuilt = self._rebuild_till(dataclasses.replace(current, **changes))
        # The lane's one ledger moves to the new till: a payment whose answer was lost
        # before staff changed a setting must still be found and reconciled (a fresh ledger
        # forgot it, and its sale could then never be settled nor paid another way).
        rebuilt.ledger = self.till.ledger
        self.till = rebuilt
        logger.info("staff changed till settings: %s", ", ".join(sorted(changes)))

    def close(self) -> None:
        self.cancel()
        self.till.close()
        for hook in self._close_hooks:
            hook()

    def add_close_hook(self, hook: Callable[[], None]) -> None:
        self._close_hooks.append(hook)


def _journal_answer(found: list[Any]) -> Receipt | None:
    """What ``Till.recover`` found for one sale, as :meth:`TillAdapter.reconcile` answers:
    a charged payment's receipt; ``None`` when every payment is not charged; an error
    (still unknown) otherwise."""
    for recovered in found:
        if recovered.charged:
            receipt: Receipt = recovered.receipt
            return receipt
    unknown = [r for r in found if r.outcome.value == "unknown"]
    if unknown or not found:
        why = unknown[0].why if unknown else "nothing journalled"
        raise CheckoutError(f"the journalled payment is still unknown ({why})")
    return None

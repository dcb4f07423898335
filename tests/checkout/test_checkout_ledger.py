"""The till's one payment ledger: an unanswered authorization blocks its order until it is
reconciled, an approved order is never paid twice, and the memory of approvals is bounded.
Plain data in, plain data out: no backend, no clock."""

from __future__ import annotations

import pytest

from facepay.checkout import PaymentLedger, PaymentStatus, PendingAuthorization, Receipt
from facepay.errors import CheckoutError


def pending(key: str) -> PendingAuthorization:
    return PendingAuthorization(
        idempotency_key=key, step_up_authorization_id=f"auth-{key}", step_up_phone_last4="1234"
    )


def receipt(order: str, status: PaymentStatus = PaymentStatus.APPROVED) -> Receipt:
    return Receipt(
        status=status,
        amount_minor=990,
        currency="EUR",
        basket_reference=order,
        authorization_id=f"auth-{order}",
        idempotency_key=f"key-{order}",
        receipt_id=f"rcpt-{order}",
    )


def test_an_unanswered_order_is_blocked_until_its_answer_settles_it() -> None:
    ledger = PaymentLedger()
    lost = pending("k1")
    ledger.hold(lost, "SALE-1")
    assert ledger.unanswered == (lost,)
    with pytest.raises(CheckoutError, match="unanswered"):
        ledger.refuse_if_open("SALE-1")
    ledger.refuse_if_open("SALE-2")  # another order is free to pay
    ledger.settle(lost, receipt("SALE-1"))
    assert ledger.unanswered == ()
    with pytest.raises(CheckoutError, match="already paid"):
        ledger.refuse_if_open("SALE-1")


def test_a_refusal_or_a_decline_frees_the_order() -> None:
    ledger = PaymentLedger()
    refused, declined = pending("k1"), pending("k2")
    ledger.hold(refused, "SALE-1")
    ledger.settle(refused, None)  # a 4xx: nothing stored, nothing charged
    ledger.refuse_if_open("SALE-1")
    ledger.hold(declined, "SALE-1")
    ledger.settle(declined, receipt("SALE-1", PaymentStatus.DECLINED))
    ledger.refuse_if_open("SALE-1")
    assert ledger.unanswered == ()


def test_the_memory_of_approved_orders_is_bounded_oldest_first() -> None:
    ledger = PaymentLedger(approved_memory=2)
    for order in ("SALE-1", "SALE-2", "SALE-3"):
        ledger.settle(pending(order), receipt(order))
    ledger.refuse_if_open("SALE-1")  # forgotten
    for order in ("SALE-2", "SALE-3"):
        with pytest.raises(CheckoutError, match="already paid"):
            ledger.refuse_if_open(order)

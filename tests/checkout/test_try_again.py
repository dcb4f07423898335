"""When "Try again" is worth offering: the SDK's one rule, which the kiosk, the eval and a
POS read (``FailureReason``/``DeclineReason``/``Receipt.another_attempt_may_pay``)."""

from __future__ import annotations

import pytest

from facepay import wire
from facepay.checkout import FailureReason, PaymentStatus, Receipt

# An attempt the POS or the shopper ended, or one whose payment may be charged already.
_FINAL = {FailureReason.CANCELLED, FailureReason.ABANDONED, FailureReason.PROCESSING_TIMEOUT}


@pytest.mark.parametrize("reason", list(FailureReason))
def test_every_end_before_the_backend_decided_may_be_tried_again_but_three(
    reason: FailureReason,
) -> None:
    assert reason.another_attempt_may_pay is (reason not in _FINAL)


def _receipt(status: PaymentStatus, **fields: str) -> Receipt:
    return Receipt(
        status=status,
        amount_minor=250,
        currency="EUR",
        basket_reference="order-7",
        authorization_id="auth_7",
        idempotency_key="key-7",
        **fields,
    )


@pytest.mark.parametrize(
    ("decline", "again"),
    [
        ("no_match", True),
        ("liveness_failed", True),
        ("step_up_failed", True),
        ("payment_method_declined", False),
        ("shopper_locked", False),
        ("consent_withdrawn", False),
    ],
)
def test_a_decline_says_whether_the_face_may_be_tried_again(decline: str, again: bool) -> None:
    assert wire.DeclineReason(decline).another_attempt_may_pay is again
    assert _receipt(PaymentStatus.DECLINED, decline_reason=decline).another_attempt_may_pay is again


def test_every_decline_of_the_protocol_has_its_answer_here() -> None:
    assert {d.value for d in wire.DeclineReason} == {
        "no_match",
        "liveness_failed",
        "step_up_failed",
        "payment_method_declined",
        "shopper_locked",
        "consent_withdrawn",
    }


def test_a_decline_from_a_newer_backend_is_tried_again_and_an_approval_or_step_up_is_not() -> None:
    assert _receipt(PaymentStatus.DECLINED, decline_reason="velocity_check").another_attempt_may_pay
    assert not _receipt(PaymentStatus.APPROVED, receipt_id="rcpt_7").another_attempt_may_pay
    assert not _receipt(PaymentStatus.STEP_UP, step_up="pin").another_attempt_may_pay

"""Red team at the kiosk: one sale on two lanes. The POS sends a sale a shopper already
paid by face at one kiosk to a second kiosk (a re-scan at the next lane, a POS retry), and
the shopper there pays by face again. The backend pays an order once (``409
order_already_paid``); the defended outcome at the second kiosk is that it never offers
the card for a paid order (a card then would charge the sale twice) and calls staff, and
the backend holds one approval.

Real kiosks (controller, screens, model) over their real ``TillAdapter`` and two
``facepay.Till`` instances on one sandbox over HTTP; the doubles are the cameras
(synthetic faces) and the card reader (tests/kiosk/kiosk_redteam_kit.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kiosk_redteam_kit import (
    STAFF_ID,
    STAFF_PIN,
    Lane,
    approvals,
    close_lane,
    enroll,
    held_anywhere,
    open_lane,
    pay_by_face,
    push_sale,
)
from PyQt6.QtWidgets import QApplication

import facepay.testing as kit
from kiosk_app.model import OutcomeKind


@pytest.fixture
def sandbox() -> Iterator[kit.Sandbox]:
    with kit.Sandbox() as sb:
        yield sb


@pytest.fixture
def lanes(qapp: QApplication, sandbox: kit.Sandbox, tmp_path: Path) -> Iterator[tuple[Lane, Lane]]:
    first = open_lane(qapp, sandbox, tmp_path / "receipts-1")
    second = open_lane(qapp, sandbox, tmp_path / "receipts-2")
    yield first, second
    close_lane(qapp, second)
    close_lane(qapp, first)


def test_a_sale_paid_at_one_kiosk_is_never_sent_to_the_card_at_another(  # type: ignore[no-untyped-def]
    qtbot, lanes: tuple[Lane, Lane]
) -> None:
    first, second = lanes
    enroll(qtbot, first.c)
    first.c.enroll_done.done_button.click()
    push_sale(qtbot, first.c, "SALE-TWO-LANES")
    assert pay_by_face(qtbot, first.c) == "result"
    assert first.c.result.outcome.kind is OutcomeKind.APPROVED
    assert approvals(first.sandbox) == 1

    push_sale(qtbot, second.c, "SALE-TWO-LANES")
    assert pay_by_face(qtbot, second.c) == "result"
    outcome = second.c.result.outcome
    # Not "something went wrong, pay by card": the order is paid, the card is not safe.
    assert outcome.kind is OutcomeKind.PAYMENT_UNKNOWN, outcome
    assert not outcome.kind.card_is_safe
    assert "OrderAlreadyPaidError" in outcome.staff_code
    second.c.machine.choose_card()
    assert second.c.current != "card"
    assert second.card_requests == []
    assert approvals(second.sandbox) == 1


def test_staff_settle_the_sale_paid_at_the_other_kiosk_as_paid_once(  # type: ignore[no-untyped-def]
    qtbot, lanes: tuple[Lane, Lane]
) -> None:
    """The second kiosk holds no payment of its own for the sale: the staff's "check the
    payment" asks the backend for the order's payments and finds the approval, so the sale
    ends paid at this kiosk too (no second charge, no card, no other shopper's privacy
    code shown)."""
    first, second = lanes
    enroll(qtbot, first.c)
    first.c.enroll_done.done_button.click()
    push_sale(qtbot, first.c, "SALE-TWO-LANES-2")
    assert pay_by_face(qtbot, first.c) == "result"
    privacy_code = first.c.result.outcome.receipt.privacy_code
    push_sale(qtbot, second.c, "SALE-TWO-LANES-2")
    assert pay_by_face(qtbot, second.c) == "result"
    assert second.c.result.outcome.kind is OutcomeKind.PAYMENT_UNKNOWN

    m = second.c.machine
    m.staff_requested()
    m.staff_sign_in(STAFF_ID, STAFF_PIN)
    m.settle_payment("SALE-TWO-LANES-2")
    qtbot.waitUntil(lambda: "SALE-TWO-LANES-2" in m.paid_sales, timeout=10_000)
    assert not m.queue.open
    m.staff_sign_out()
    outcome = second.c.result.outcome
    assert outcome.kind is OutcomeKind.APPROVED
    assert outcome.charged
    assert privacy_code
    assert not held_anywhere(second.c, privacy_code)
    assert second.card_requests == []
    assert approvals(second.sandbox) == 1

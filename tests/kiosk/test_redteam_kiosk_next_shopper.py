"""Red team at the kiosk: the next shopper in the queue, and a shoulder-surfer.

The last shopper walked away mid-flow (a phone number half typed, a PIN chosen once, an
e-mail address typed for the receipt, a staff member's ID and PIN) or after paying. The
next one reads the glass, and every widget behind it: each test lets the screen's own
inactivity timer (a real ``QTimer``, its time shortened to a fraction of a second, the
wait a poll for the idle screen) take the kiosk back to idle and then looks for the
last shopper's data in every text any widget holds, shown or hidden, and in every
keypad's own buffer. The kiosk is the real one over a real till and sandbox
(``kiosk_redteam_kit.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kiosk_redteam_kit import (
    EMAIL,
    PHONE,
    PIN,
    STAFF_ID,
    STAFF_PIN,
    Lane,
    approvals,
    close_lane,
    enroll,
    every_text,
    held_anywhere,
    open_lane,
    pay_by_face,
    push_sale,
    type_digits,
)
from PyQt6.QtWidgets import QApplication

import facepay.testing as kit
from kiosk_app.controller import KioskController
from kiosk_app.model import ChannelKind, StaffAction


@pytest.fixture
def sandbox() -> Iterator[kit.Sandbox]:
    with kit.Sandbox() as sb:
        yield sb


@pytest.fixture
def lane(qapp: QApplication, sandbox: kit.Sandbox, tmp_path: Path) -> Iterator[Lane]:
    made = open_lane(qapp, sandbox, tmp_path / "receipts")
    yield made
    close_lane(qapp, made)


def walk_away(qtbot: object, c: KioskController) -> None:
    """The shopper leaves: the current screen's own inactivity timer, shortened, fires."""
    screen = c.current
    c.settings.timeouts[screen] = 0.2
    c.touch()
    qtbot.waitUntil(lambda: c.current == "idle", timeout=10_000)  # type: ignore[attr-defined]


def test_a_phone_number_typed_and_left_is_gone_for_the_next_shopper(  # type: ignore[no-untyped-def]
    qtbot, lane: Lane
) -> None:
    c = lane.c
    push_sale(qtbot, c, "SALE-Q-1")
    c.basket_screen.pay_button.click()
    c.choice.face_button.click()
    assert c.current == "claim"
    type_digits(c.claim, PHONE)
    # The shoulder-surfer: dots, then only the last two digits, after every key.
    assert c.claim.keypad.display.text() == "\u2022" * (len(PHONE) - 2) + PHONE[-2:]
    walk_away(qtbot, c)
    assert held_anywhere(c, PHONE) == []
    assert held_anywhere(c, PHONE[-4:]) == []
    assert c.claim.keypad.display.text() == ""
    assert c.machine.claim is None


def test_every_key_of_a_phone_number_shows_at_most_its_last_two_digits(
    qapp: QApplication,
) -> None:
    from kiosk_app.widgets import Keypad

    pad = Keypad(max_digits=15, reveal_last=2)
    for n, d in enumerate(PHONE, start=1):
        pad.press(d)
        shown = pad.display.text()
        assert sum(ch.isdigit() for ch in shown) == min(2, n), shown
        assert pad.display.accessibleName() == ""  # the screen reader names the field only
    pin = Keypad(max_digits=4, reveal_last=0)
    for d in PIN:
        pin.press(d)
        assert not any(ch.isdigit() for ch in pin.display.text())


def test_an_enrollment_left_at_the_second_pin_forgets_the_number_and_the_pin(  # type: ignore[no-untyped-def]
    qtbot, lane: Lane
) -> None:
    c = lane.c
    c.idle.join_button.click()
    c.consent.agree_box.setChecked(True)
    c.consent.agree_button.click()
    type_digits(c.enroll_phone, PHONE)
    c.enroll_phone.keypad.submit_button.click()
    c.enroll_card.tap_button.click()
    c.enroll_card.continue_button.click()
    type_digits(c.enroll_pin, PIN)
    c.enroll_pin.keypad.submit_button.click()
    type_digits(c.enroll_pin, PIN[:3])  # the second entry, half typed
    walk_away(qtbot, c)
    assert held_anywhere(c, PHONE) == []
    assert held_anywhere(c, PIN[:3]) == []
    assert c.machine.enroll_claim is None
    assert c.machine.card_token == ""
    assert c.machine.pin_confirming is False
    # The next shopper who starts an enrollment starts it from the beginning.
    c.idle.join_button.click()
    assert c.current == "consent"
    assert not c.consent.agree_box.isChecked()
    assert not c.consent.agree_button.isEnabled()


def test_staff_credentials_typed_and_left_are_gone(qtbot, lane: Lane) -> None:  # type: ignore[no-untyped-def]
    c = lane.c
    c.idle.attendant_button.click()
    assert c.current == "attendant_pin"
    c.attendant_pin.staff_id_edit.setText(STAFF_ID)
    type_digits(c.attendant_pin, STAFF_PIN[:5])
    assert not any(ch.isdigit() for ch in c.attendant_pin.keypad.display.text())
    walk_away(qtbot, c)
    assert c.attendant_pin.staff_id_edit.text() == ""
    assert held_anywhere(c, STAFF_PIN[:5]) == []


def test_after_paying_and_leaving_the_receipt_screen_nothing_of_the_shopper_stays(  # type: ignore[no-untyped-def]
    qtbot, lane: Lane
) -> None:
    c = lane.c
    enroll(qtbot, c)
    code = c.machine.outcome.privacy_code if c.machine.outcome else ""
    assert len(code) >= 6
    c.enroll_done.done_button.click()
    push_sale(qtbot, c, "SALE-Q-2")
    assert pay_by_face(qtbot, c) == "result"
    assert approvals(lane.sandbox) == 1
    masked = c.result.method_label.text()
    assert "4242" in masked
    amount = c.result.amount_label.text()
    c.result.done_button.click()
    assert c.current == "receipt"
    c.privacy.channel_buttons[ChannelKind.EMAIL].click()
    for ch in EMAIL:
        c.privacy.email_keyboard.press(ch)
    assert c.privacy.email_keyboard.display.text() == EMAIL  # the shopper checks it
    c.privacy.email_keyboard.submit_button.click()
    assert [to for to, _s, _b in lane.gateways.mails] == [EMAIL]
    # Sent; the shopper walks away without pressing Done.
    walk_away(qtbot, c)
    for secret in (PHONE, EMAIL, code, amount, "4242", "Bananas"):
        assert held_anywhere(c, secret) == [], secret
    assert c.result.outcome is None
    assert c.machine.outcome is None

    # A member of staff reprints the last receipt for the next shopper who asks: the sale,
    # never the privacy code, the e-mail address or the phone number.
    c.idle.attendant_button.click()
    c.attendant_pin.staff_id_edit.setText(STAFF_ID)
    type_digits(c.attendant_pin, STAFF_PIN)
    c.attendant_pin.keypad.submit_button.click()
    assert c.current == "attendant"
    c.attendant.reprint_button.click()
    reprint = lane.printer.printed[-1].read_text(encoding="utf-8")
    assert "4242" in reprint  # the sale is reprinted
    for secret in (code, EMAIL, PHONE):
        assert secret not in reprint
    for secret in (code, EMAIL, PHONE):
        assert not [t for t in every_text(c.widget()) if secret in t]
    walk_away(qtbot, c)  # the attendant leaves signed in: signed out, nothing kept
    assert c.machine.signed_in == ""
    assert c.machine.audit.lines[-1].action is StaffAction.SIGN_OUT
    assert c.machine.audit.lines[-1].staff_id == STAFF_ID
    assert c.attendant.basket_list.rowCount() == 0
    assert held_anywhere(c, "4242") == []


def test_an_sms_number_typed_for_the_receipt_and_left_is_gone(  # type: ignore[no-untyped-def]
    qtbot, lane: Lane
) -> None:
    c = lane.c
    enroll(qtbot, c)
    c.enroll_done.channel_buttons[ChannelKind.SMS].click()
    for d in PHONE:
        c.enroll_done.phone_keypad.press(d)
    shown = c.enroll_done.phone_keypad.display.text()
    assert sum(ch.isdigit() for ch in shown) == 2
    walk_away(qtbot, c)
    assert held_anywhere(c, PHONE) == []
    assert lane.gateways.texts == []


def test_a_language_chosen_and_left_mid_enrollment_is_not_the_next_shoppers(  # type: ignore[no-untyped-def]
    qtbot, lane: Lane
) -> None:
    from PyQt6.QtCore import Qt

    from kiosk_app.i18n import Language

    c = lane.c
    c.idle.language_buttons[Language.AR].click()
    assert c.widget().layoutDirection() is Qt.LayoutDirection.RightToLeft
    c.idle.join_button.click()
    c.consent.agree_box.setChecked(True)  # ticked, never agreed
    walk_away(qtbot, c)
    assert c.translate.language is Language.EN
    assert c.stack.layoutDirection() is Qt.LayoutDirection.LeftToRight
    c.idle.join_button.click()
    assert not c.consent.agree_box.isChecked()
    assert c.consent.agree_button.text() == "I agree, set it up"

"""Red team at the kiosk: a shopper trying to skip consent, and fast fingers.

Taps are real mouse events (press and release, each with its event time as the platform
stamps it) sent to whatever widget is under the finger at that moment, through the
application's event filters like a touch screen's: a double tap whose second tap lands on
the next screen is exactly what a shopper's finger does. No wall clock is read: the event
times are the test's own numbers. The kiosk is the real one over a real till and sandbox
(``kiosk_redteam_kit.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kiosk_redteam_kit import (
    BANANAS,
    PHONE,
    Lane,
    approvals,
    close_lane,
    enroll,
    open_lane,
    pay_by_face,
    push_sale,
    type_digits,
)
from PyQt6.QtCore import QEvent, Qt
from PyQt6.QtGui import QKeyEvent, QWindow
from PyQt6.QtTest import QTest
from PyQt6.QtWidgets import QApplication, QWidget

import facepay.testing as kit
from kiosk_app.controller import KioskController
from kiosk_app.model import Sale


@pytest.fixture
def sandbox() -> Iterator[kit.Sandbox]:
    with kit.Sandbox() as sb:
        yield sb


@pytest.fixture
def lane(qapp: QApplication, sandbox: kit.Sandbox, tmp_path: Path) -> Iterator[Lane]:
    made = open_lane(qapp, sandbox, tmp_path / "receipts")
    yield made
    close_lane(qapp, made)


class Finger:
    """Taps at one spot of the kiosk's window, through the window system like a touch
    screen: each event goes to whatever widget is under the finger when it arrives."""

    def __init__(self, c: KioskController, target: QWidget) -> None:
        self.root = c.widget()
        self.spot = target.mapTo(self.root, target.rect().center())

    def under(self) -> str:
        found = self.root.childAt(self.spot)
        return found.objectName() if found is not None else ""

    def tap(self) -> str:
        """One tap (Qt's test clicks are a double-tap interval apart: never a double tap)."""
        name = self.under()
        QTest.mouseClick(self._window(), Qt.MouseButton.LeftButton, NO_MODIFIER, self.spot)
        return name

    def double_tap(self) -> str:
        """Press, release, press, release within the double-tap interval."""
        name = self.under()
        QTest.mouseDClick(self._window(), Qt.MouseButton.LeftButton, NO_MODIFIER, self.spot)
        return name

    def _window(self) -> QWindow:
        window = self.root.windowHandle()
        assert window is not None
        return window


NO_MODIFIER = Qt.KeyboardModifier.NoModifier


def test_a_double_tap_on_i_agree_does_not_press_cancel_on_the_phone_screen(  # type: ignore[no-untyped-def]
    qtbot, lane: Lane
) -> None:
    c = lane.c
    c.idle.join_button.click()
    c.consent.agree_box.setChecked(True)
    finger = Finger(c, c.consent.agree_button)
    # Before: the second tap pressed the phone screen's Cancel, back to idle.
    assert finger.double_tap() == "consent_agree"
    assert c.current == "enroll_phone"
    # (control) A tap after the double-tap interval is a decision of its own.
    assert finger.tap() == "cancel"
    assert c.current == "idle"


def test_a_double_tap_on_pay_does_not_land_on_the_choice_screens_cancel(  # type: ignore[no-untyped-def]
    qtbot, lane: Lane
) -> None:
    c = lane.c
    push_sale(qtbot, c, "SALE-TAP-1")
    finger = Finger(c, c.basket_screen.pay_button)
    assert finger.double_tap() == "pay"  # before: "Cancel this purchase?"
    assert c.current == "choice"


def test_a_double_tap_on_pay_with_my_face_types_no_digit(qtbot, lane: Lane) -> None:  # type: ignore[no-untyped-def]
    c = lane.c
    push_sale(qtbot, c, "SALE-TAP-2")
    c.basket_screen.pay_button.click()
    finger = Finger(c, c.choice.face_button)
    assert finger.double_tap() == "pay_face"  # before: a "5" in the phone number
    assert c.current == "claim"
    assert c.claim.keypad.digits() == ""


def test_a_double_tap_on_pay_by_card_asks_the_terminal_once(qtbot, lane: Lane) -> None:  # type: ignore[no-untyped-def]
    c = lane.c
    push_sale(qtbot, c, "SALE-TAP-3")
    c.basket_screen.pay_button.click()
    finger = Finger(c, c.choice.card_button)
    finger.double_tap()
    finger.tap()  # and once more, later, on the card screen
    assert c.current == "card"
    assert lane.card_requests == ["SALE-TAP-3"]


def test_a_paid_basket_is_not_paid_again_by_a_second_tap_or_a_second_push(  # type: ignore[no-untyped-def]
    qtbot, lane: Lane
) -> None:
    c = lane.c
    enroll(qtbot, c)
    c.enroll_done.done_button.click()
    push_sale(qtbot, c, "SALE-TAP-4")
    assert pay_by_face(qtbot, c) == "result"
    assert approvals(lane.sandbox) == 1
    finger = Finger(c, c.result.done_button)
    finger.double_tap()
    assert c.current == "receipt"
    c.privacy.done_button.click()
    # The POS sends the paid basket again (a re-scan, a retry of its own): not payable,
    # neither by face nor by card, whatever is pressed.
    push_again = Sale(sale_id="SALE-TAP-4", currency="EUR", lines=(BANANAS,))
    c.bridge.push_basket(push_again)
    c.machine.start()
    for act in (c.machine.pay, c.machine.choose_face, c.machine.choose_card):
        act()
        assert c.current not in ("claim", "capture", "card")
    assert approvals(lane.sandbox) == 1
    assert lane.card_requests == []


def press(widget: QWidget, key: Qt.Key, *, repeat: bool = False) -> None:
    for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
        text = " " if key == Qt.Key.Key_Space else "\r"
        event = QKeyEvent(kind, key, Qt.KeyboardModifier.NoModifier, text, repeat)
        QApplication.sendEvent(widget, event)


def test_consent_cannot_be_skipped_by_keyboard_enter_space_or_a_held_key(  # type: ignore[no-untyped-def]
    qtbot, lane: Lane, sandbox: kit.Sandbox
) -> None:
    c = lane.c
    c.idle.join_button.click()
    assert QApplication.focusWidget() is c.consent.agree_box  # the box first, never Agree
    stops: list[QWidget] = []
    for _ in range(12):  # every focus stop, in Tab order
        focused = QApplication.focusWidget()
        assert focused is not None
        if focused not in stops:
            stops.append(focused)
        c.consent.focusNextChild()
    assert c.consent.agree_button not in stops  # disabled until the box is ticked
    for key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
        for widget in stops:
            if c.current != "consent":
                c.idle.join_button.click()
            if key == Qt.Key.Key_Space and widget is c.consent.agree_box:
                continue  # Space ticks the box: that is the shopper's consent
            widget.setFocus()
            press(widget, key)
            press(widget, key, repeat=True)
            # Back, Cancel and "No thanks" leave; nothing goes on without the tick.
            assert c.current in ("consent", "idle"), (key, widget.objectName())
            assert not c.consent.agree_box.isChecked()
    if c.current != "consent":
        c.idle.join_button.click()
    # The button itself while the box is not ticked (a disabled button's click, its
    # signal sent by hand to the controller's slot): nothing.
    c.consent.agree_button.click()
    c.consent.agree_button.clicked.emit(False)
    assert c.current == "consent"
    press(c.consent, Qt.Key.Key_Escape)  # Escape is "No thanks"
    assert c.current == "idle"
    assert kit.rows(sandbox, "SELECT 1 FROM shoppers") == []


def test_a_held_enter_is_one_press_not_one_per_screen(qtbot, lane: Lane) -> None:  # type: ignore[no-untyped-def]
    c = lane.c
    push_sale(qtbot, c, "SALE-TAP-5")
    assert QApplication.focusWidget() is c.basket_screen.pay_button
    press(c.basket_screen.pay_button, Qt.Key.Key_Return)
    assert c.current == "choice"
    # The key is still held: the keyboard repeats it onto the next screen's first focus.
    focused = QApplication.focusWidget()
    assert focused is c.choice.face_button
    for _ in range(5):
        press(focused, Qt.Key.Key_Return, repeat=True)
    assert c.current == "choice"
    press(focused, Qt.Key.Key_Return)  # (control) a new press chooses
    assert c.current == "claim"


def test_escape_never_drops_a_basket_or_skips_a_step(qtbot, lane: Lane) -> None:  # type: ignore[no-untyped-def]
    c = lane.c
    push_sale(qtbot, c, "SALE-TAP-6")
    c.basket_screen.pay_button.click()
    c.choice.face_button.click()
    type_digits(c.claim, PHONE)
    for expected in ("choice", "basket", "confirm_cancel", "basket"):
        press(c.screens[c.current], Qt.Key.Key_Escape)
        assert c.current == expected
    assert c.machine.sale.sale_id == "SALE-TAP-6"
    assert lane.card_requests == []

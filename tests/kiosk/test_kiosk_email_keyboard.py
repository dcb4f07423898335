"""The e-mail receipt step has its own keyboard on the screen: a till has none.

The step showed a bare text field: a shopper at a touch screen could not type an address,
so the e-mail receipt (and the privacy code on it) could not be had. The screen now has a
keyboard of big keys (letters, digits, ``@ . - _ +``, backspace, clear), laid out left
to right in every language (an address is typed left to right, also on the mirrored
Arabic screen), and everything the shopper must press stays on screen at the till's sizes.
"""

from __future__ import annotations

import pytest
from PyQt6.QtCore import QPoint, QRect, Qt
from PyQt6.QtWidgets import QApplication, QPushButton, QWidget

from kiosk_app.app import apply_theme
from kiosk_app.i18n import Language, Translator
from kiosk_app.model import ChannelKind
from kiosk_app.screens import PrivacyScreen
from kiosk_app.ui.gallery import DISPLAY_SIZES

ADDRESS = "ana.b-c_d+1@shop9.example"


@pytest.fixture
def themed(qapp: QApplication) -> QApplication:
    apply_theme(qapp)
    return qapp


def _asking_email(qtbot, language: Language, size: tuple[int, int] = (1280, 800)) -> PrivacyScreen:  # type: ignore[no-untyped-def]
    screen = PrivacyScreen(Translator(language))
    qtbot.addWidget(screen)
    if language.rtl:
        screen.setLayoutDirection(Qt.LayoutDirection.RightToLeft)  # as the kiosk mirrors it
    screen.resize(*size)
    screen.offer()
    screen.show()
    screen.channel_buttons[ChannelKind.EMAIL].click()
    QApplication.processEvents()
    return screen


@pytest.mark.parametrize("language", list(Language), ids=lambda x: x.value)
def test_an_address_is_typed_on_the_screens_keys_and_sent(
    qtbot, themed: QApplication, language: Language
) -> None:  # type: ignore[no-untyped-def]
    screen = _asking_email(qtbot, language)
    keyboard = screen.email_keyboard
    assert keyboard.isVisible()
    assert screen.first_focus() is keyboard.display
    for key in ADDRESS + "x":
        keyboard.key_buttons[key].click()
    keyboard.delete_button.click()  # the stray "x"
    assert keyboard.display.text() == ADDRESS
    assert all(keyboard.key_buttons[k].accessibleName() for k in keyboard.key_buttons)
    assert keyboard.delete_button.accessibleName() == Translator(language)("common.delete")
    assert keyboard.submit_button.text() == Translator(language)("privacy.send")
    with qtbot.waitSignal(screen.channel_chosen, timeout=1000) as chosen:
        keyboard.submit_button.click()
    assert chosen.args == [ChannelKind.EMAIL, ADDRESS]


def test_send_waits_for_something_that_can_be_an_address(qtbot, themed: QApplication) -> None:  # type: ignore[no-untyped-def]
    screen = _asking_email(qtbot, Language.EN)
    keyboard = screen.email_keyboard
    for text, ok in (("ana", False), ("ana@", False), ("ana@b", True), ("ana@b@c", False)):
        keyboard.reset()
        for key in text:
            keyboard.press(key)
        assert keyboard.submit_button.isEnabled() is ok, text


def test_a_till_keyboard_types_into_it_too_and_enter_sends(qtbot, themed: QApplication) -> None:  # type: ignore[no-untyped-def]
    screen = _asking_email(qtbot, Language.EN)
    display = screen.email_keyboard.display
    display.setFocus()
    qtbot.keyClicks(display, "Ana@Shop.de!")
    assert display.text() == "ana@shop.de"  # "!" is no address character
    qtbot.keyClick(display, Qt.Key.Key_Backspace)
    with qtbot.waitSignal(screen.channel_chosen, timeout=1000) as chosen:
        qtbot.keyClick(display, Qt.Key.Key_Return)
    assert chosen.args == [ChannelKind.EMAIL, "ana@shop.d"]


def test_clear_empties_it_and_leaving_forgets_the_address(qtbot, themed: QApplication) -> None:  # type: ignore[no-untyped-def]
    screen = _asking_email(qtbot, Language.ZH)
    for key in "a@b.c":
        screen.email_keyboard.press(key)
    screen.email_keyboard.clear_button.click()
    assert screen.email_keyboard.text() == ""
    screen.email_keyboard.press("a")
    screen.reset()
    assert screen.email_keyboard.display.text() == ""


def _rect(w: QWidget, window: QWidget) -> QRect:
    return QRect(w.mapTo(window, QPoint(0, 0)), w.size())


@pytest.mark.parametrize("size", [(1024, 768), (1280, 1024)], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("language", list(Language), ids=lambda x: x.value)
def test_every_key_send_and_done_stay_on_screen_left_to_right(
    qtbot, themed: QApplication, language: Language, size: tuple[int, int]
) -> None:  # type: ignore[no-untyped-def]
    assert size in DISPLAY_SIZES
    screen = _asking_email(qtbot, language, size)
    keyboard = screen.email_keyboard
    window = screen.rect()
    buttons = [b for b in screen.findChildren(QPushButton) if b.isVisibleTo(screen)]
    assert keyboard.submit_button in buttons
    assert screen.done_button in buttons
    keys = keyboard.key_buttons
    for b in buttons:
        assert window.contains(_rect(b, screen)), (b.objectName(), b.text(), _rect(b, screen))
        # A key as tall as the number keypad's; every other button the screens' 64 px.
        tall = 56 if b in (*keys.values(), keyboard.delete_button, keyboard.clear_button) else 64
        assert b.height() >= tall, (b.objectName(), b.text(), b.height())
        assert b.width() >= 48, (b.objectName(), b.text(), b.width())
    # The same left-to-right order on the mirrored Arabic screen: an address reads LTR.
    for row in keyboard.ROWS:
        xs = [_rect(keys[k], screen).x() for k in row]
        assert xs == sorted(xs), (language, row)
    assert keyboard.display.layoutDirection() is Qt.LayoutDirection.LeftToRight
    if language.rtl:
        # The rest of the screen is mirrored: Send's label sits where Arabic starts reading.
        assert screen.layoutDirection() is Qt.LayoutDirection.RightToLeft

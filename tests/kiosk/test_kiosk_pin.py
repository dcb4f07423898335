"""The shopper's facepay PIN at the kiosk (issue #16): chosen at enrollment, asked at a
grey-zone step-up.

The kiosk's controller and screens, pressed key by key, over its real ``TillAdapter``, a
real ``facepay.Till`` and the real sandbox over HTTP. The doubles sit at the camera only
(synthetic faces: no face models, so these run in seconds).
"""

from __future__ import annotations

import gc
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QApplication, QWidget

import facepay.testing as kit
from facepay import Frame
from kiosk_app.adapter import TillAdapter
from kiosk_app.app import apply_theme
from kiosk_app.controller import KioskController
from kiosk_app.i18n import Language, Translator
from kiosk_app.model import (
    FilePrinter,
    PrintedReceipt,
    StaffDirectory,
    StaffLogin,
    StoreProfile,
)
from kiosk_app.pos import PosBridge
from kiosk_app.screens import EnrollPinScreen, StepUpScreen
from kiosk_app.workers import CameraPlayback

PIN = "3851"
PHONE = "015112345678"
STORE = StoreProfile(
    store_name="test store", currency="EUR", operator="the test sandbox", retention_days=1095
)


class SyntheticCamera:
    """A camera in front of one synthetic shopper (the frames name their face vector)."""

    def __init__(self, faces: kit.SyntheticFaces, vector: npt.NDArray[np.float32]) -> None:
        self._frames = faces.camera("kiosk-camera", vector)

    def frames(self) -> Iterator[Frame]:
        yield from self._frames

    def close(self) -> None:
        pass


@pytest.fixture
def kiosk(qapp: QApplication, tmp_path: Path) -> Iterator[KioskController]:
    apply_theme(qapp)
    faces = kit.SyntheticFaces()
    person = kit.face(61)
    with kit.Sandbox() as sandbox:
        till = kit.connect_till(
            sandbox,
            analyzer=faces,
            embedder=faces,
            fuse=lambda ts: ts[0],
            liveness=faces.liveness,
        )
        port = TillAdapter(till, store=STORE, base_url=sandbox.base_url)
        c = KioskController(
            port=port,
            open_camera=lambda: SyntheticCamera(faces, person),
            bridge=PosBridge(),
            staff=StaffLogin(StaffDirectory()),
            receipt_channels=[PrintedReceipt(FilePrinter(tmp_path))],
            playback=CameraPlayback(pace=False, loop=True, lockstep=True),
            card_reader=lambda: "tok_visa_4242",
        )
        c.widget().resize(1024, 768)
        c.widget().show()
        yield c
        c.shutdown()
        port.close()
    qapp.setLayoutDirection(Qt.LayoutDirection.LeftToRight)
    gc.collect()


def names(text: str, digits: str) -> bool:
    """``digits`` appear in ``text`` as a value of their own (a port number, a hex id or a
    duration that happens to contain them does not count)."""
    return re.search(rf"(?<![0-9A-Za-z.]){digits}(?![0-9A-Za-z])", text) is not None


def on_screen_texts(widget: QWidget) -> list[str]:
    """Every text on the glass or spoken by a screen reader."""
    texts = []
    for w in [widget, *widget.findChildren(QWidget)]:
        texts += [w.accessibleName(), w.accessibleDescription()]
        text = getattr(w, "text", None)
        if callable(text):
            texts.append(str(text()))
    return [t for t in texts if t]


def type_digits(screen: Any, digits: str) -> None:
    for d in digits:
        screen.keypad.press(d)


def to_pin_screen(c: KioskController) -> None:
    c.idle.join_button.click()
    c.consent.agree_box.setChecked(True)
    c.consent.agree_button.click()
    type_digits(c.enroll_phone, PHONE)
    c.enroll_phone.keypad.submit_button.click()
    assert c.current == "enroll_card"
    c.enroll_card.tap_button.click()
    c.enroll_card.continue_button.click()
    assert c.current == "enroll_pin"


def test_the_pin_is_chosen_twice_as_dots_and_a_trivial_one_is_refused(  # type: ignore[no-untyped-def]
    qtbot, kiosk: KioskController, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    c = kiosk
    to_pin_screen(c)
    s = c.enroll_pin
    assert s.title.text() == "Choose a 4-digit PIN"
    assert "refused" in s.skip_hint.text()
    assert s.skip_hint.isVisible()
    assert s.keypad.display.hasFocus()  # a keyboard user types the PIN at once

    type_digits(s, "1234")
    assert s.keypad.display.text() == "\u2022" * 4  # dots only, never a digit
    s.keypad.press("5")  # 4 digits, no more
    assert len(s.keypad.digits()) == 4
    s.keypad.submit_button.click()
    assert s.notice.isVisible()
    assert "too easy to guess" in s.notice.text()
    assert s.keypad.digits() == ""
    assert s.title.text() == "Choose a 4-digit PIN"

    type_digits(s, PIN[:3])
    assert not s.keypad.submit_button.isEnabled()  # a PIN is 4 digits
    s.keypad.press(PIN[3])
    assert s.keypad.submit_button.isEnabled()
    s.keypad.submit_button.click()
    assert s.title.text() == "Enter your PIN again"
    assert not s.notice.isVisible()
    assert s.keypad.digits() == ""
    type_digits(s, "3815")
    s.keypad.submit_button.click()
    assert "different" in s.notice.text()
    assert s.title.text() == "Choose a 4-digit PIN"

    type_digits(s, PIN)
    s.keypad.submit_button.click()
    type_digits(s, PIN)
    s.keypad.submit_button.click()
    qtbot.waitUntil(lambda: c.current in ("enroll_done", "result"), timeout=30_000)
    assert c.current == "enroll_done", c.result.outcome
    # Nowhere on the screen, in no log line.
    assert s.keypad.digits() == ""
    assert not [t for t in on_screen_texts(c.widget()) if PIN in t]
    assert not names(caplog.text, PIN)
    assert not names(caplog.text, "3815")


def test_skip_says_what_going_without_a_pin_means_and_enrolls(  # type: ignore[no-untyped-def]
    qtbot, kiosk: KioskController
) -> None:
    c = kiosk
    to_pin_screen(c)
    hint = c.enroll_pin.skip_hint.text()
    assert "Without a PIN" in hint
    assert "refused" in hint
    assert c.enroll_pin.skip_button.accessibleName() == hint
    c.enroll_pin.skip_button.click()
    qtbot.waitUntil(lambda: c.current in ("enroll_done", "result"), timeout=30_000)
    assert c.current == "enroll_done", c.result.outcome


def test_back_from_the_pin_keeps_the_linked_card(kiosk: KioskController) -> None:
    c = kiosk
    to_pin_screen(c)
    type_digits(c.enroll_pin, PIN)
    c.enroll_pin.keypad.submit_button.click()
    c.enroll_pin.back_button.click()
    assert c.current == "enroll_card"
    assert c.enroll_card.continue_button.isEnabled()
    c.enroll_card.continue_button.click()
    assert c.current == "enroll_pin"
    assert c.enroll_pin.title.text() == "Choose a 4-digit PIN"  # the first entry is gone


@pytest.mark.parametrize("language", list(Language), ids=lambda x: x.value)
def test_every_language_asks_for_the_pin(qapp: QApplication, language: Language) -> None:
    apply_theme(qapp)
    tr = Translator(language)
    step_up = StepUpScreen(tr)
    step_up.ask(4, pin=True)
    assert step_up.subtitle.text() == tr("stepup.pin_subtitle")
    assert step_up.keypad.display.accessibleName() == tr("stepup.pin_subtitle")
    step_up.ask(4, pin=False)
    assert step_up.subtitle.text() == tr("stepup.subtitle", digits=4)
    enroll = EnrollPinScreen(tr)
    enroll.ask(confirm=False)
    assert enroll.title.text() == tr("enroll.pin_title")
    enroll.ask(confirm=True)
    assert enroll.title.text() == tr("enroll.pin_again_title")
    assert enroll.skip_hint.text() == tr("enroll.pin_skip_hint")
    if language is Language.EN:
        step_up.ask(4, pin=True)
        assert step_up.subtitle.text() == "Enter your facepay PIN."
        step_up.ask(4, pin=False)
        assert "last 4 digits of your phone" in step_up.subtitle.text()


def test_the_log_check_sees_a_pin_and_not_a_port() -> None:
    assert names("enroll pin=3851 sent", PIN)
    assert names("digits '3851'", PIN)
    assert not names("http://127.0.0.1:38512/v1", PIN)
    assert not names("idem_a3851f", PIN)

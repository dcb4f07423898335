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
from facepay import BasketLine, Frame
from kiosk_app.adapter import TillAdapter
from kiosk_app.app import apply_theme
from kiosk_app.controller import KioskController
from kiosk_app.i18n import Language, Translator
from kiosk_app.model import (
    FilePrinter,
    OutcomeKind,
    PrintedReceipt,
    Sale,
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


def near(base: npt.NDArray[np.float32], similarity: float) -> npt.NDArray[np.float32]:
    """Another capture of ``base``'s face at exactly ``similarity`` (cosine)."""
    unit = np.asarray(base, dtype=np.float64)
    unit /= np.linalg.norm(unit)
    other = np.random.default_rng(int(similarity * 1e6)).standard_normal(unit.shape[0])
    other -= (other @ unit) * unit
    other /= np.linalg.norm(other)
    return (similarity * unit + np.sqrt(1 - similarity**2) * other).astype(np.float32)


class InFront:
    """Who stands in front of the camera (a test changes it between attempts)."""

    def __init__(self, vector: npt.NDArray[np.float32]) -> None:
        self.vector = vector


PERSON = kit.face(61)


@pytest.fixture
def in_front() -> InFront:
    return InFront(PERSON)


@pytest.fixture
def sandbox() -> Iterator[kit.Sandbox]:
    with kit.Sandbox() as sb:
        yield sb


@pytest.fixture
def kiosk(
    qapp: QApplication, tmp_path: Path, in_front: InFront, sandbox: kit.Sandbox
) -> Iterator[KioskController]:
    apply_theme(qapp)
    faces = kit.SyntheticFaces()
    till = kit.connect_till(
        sandbox,
        **faces.till_parts(),
    )
    port = TillAdapter(till, store=STORE, base_url=sandbox.base_url)
    c = KioskController(
        port=port,
        open_camera=lambda: SyntheticCamera(faces, in_front.vector),
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
    assert c.enroll_pin.title.text() == "Enter your PIN again"
    c.enroll_pin.back_button.click()  # one step back: choose the PIN again
    assert c.current == "enroll_pin"
    assert c.enroll_pin.title.text() == "Choose a 4-digit PIN"
    type_digits(c.enroll_pin, PIN)
    c.enroll_pin.keypad.submit_button.click()
    c.enroll_pin.back_button.click()
    c.enroll_pin.back_button.click()
    assert c.current == "enroll_card"
    assert c.enroll_card.continue_button.isEnabled()
    c.enroll_card.continue_button.click()
    assert c.current == "enroll_pin"
    assert c.enroll_pin.title.text() == "Choose a 4-digit PIN"  # the first entry is gone


def enroll_with(qtbot: Any, c: KioskController, pin: str | None) -> None:
    to_pin_screen(c)
    if pin is None:
        c.enroll_pin.skip_button.click()
    else:
        for _ in range(2):
            type_digits(c.enroll_pin, pin)
            c.enroll_pin.keypad.submit_button.click()
    qtbot.waitUntil(lambda: c.current in ("enroll_done", "result"), timeout=30_000)
    assert c.current == "enroll_done", c.result.outcome
    c.enroll_done.done_button.click()
    assert c.current == "idle"


def pay_just_short_of_the_match(qtbot: Any, c: KioskController, in_front: InFront) -> str:
    """The enrolled shopper pays with a face at cosine 0.95: under the match (0.96), in
    the grey zone (from 0.945) of ``facepay.config.ServerConfig``."""
    in_front.vector = near(PERSON, 0.95)
    line = BasketLine(sku="4011", description="Bananas 1 kg", quantity=2, unit_price_minor=119)
    c.bridge.push_basket(Sale(sale_id="SALE-PIN-1", currency="EUR", lines=(line,)))
    qtbot.waitUntil(lambda: c.current == "basket", timeout=5_000)
    c.basket_screen.pay_button.click()
    c.choice.face_button.click()
    assert c.current == "claim"
    type_digits(c.claim, PHONE)
    c.claim.keypad.submit_button.click()
    qtbot.waitUntil(lambda: c.current in ("step_up", "result"), timeout=30_000)
    return c.current


def approvals(sandbox: kit.Sandbox) -> list[tuple[Any, ...]]:
    return kit.rows(sandbox, "SELECT status FROM authorizations WHERE status = 'approved'")


def test_a_near_match_asks_for_the_pin_and_pays_once_it_is_typed(  # type: ignore[no-untyped-def]
    qtbot,
    kiosk: KioskController,
    in_front: InFront,
    sandbox: kit.Sandbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    c = kiosk
    enroll_with(qtbot, c, PIN)
    assert pay_just_short_of_the_match(qtbot, c, in_front) == "step_up"
    assert c.step_up.subtitle.text() == "Enter your facepay PIN."
    assert c.step_up.keypad.display.hasFocus()
    type_digits(c.step_up, PIN)
    assert c.step_up.keypad.display.text() == "\u2022" * 4
    c.step_up.keypad.submit_button.click()
    qtbot.waitUntil(lambda: c.current == "result", timeout=30_000)
    outcome = c.result.outcome
    assert outcome is not None
    assert outcome.kind is OutcomeKind.APPROVED, outcome
    assert len(approvals(sandbox)) == 1
    assert c.step_up.keypad.digits() == ""
    assert not [t for t in on_screen_texts(c.widget()) if PIN in t]
    assert not names(caplog.text, PIN)


def test_a_wrong_pin_is_not_recognised_and_offers_the_card(  # type: ignore[no-untyped-def]
    qtbot, kiosk: KioskController, in_front: InFront, sandbox: kit.Sandbox
) -> None:
    c = kiosk
    enroll_with(qtbot, c, PIN)
    assert pay_just_short_of_the_match(qtbot, c, in_front) == "step_up"
    type_digits(c.step_up, "9520")
    c.step_up.keypad.submit_button.click()
    qtbot.waitUntil(lambda: c.current == "result", timeout=30_000)
    outcome = c.result.outcome
    assert outcome is not None
    assert outcome.kind is OutcomeKind.NOT_RECOGNISED, outcome
    assert "Nothing was charged" in c.result.message.text()
    assert c.result.card_button.isVisible()
    assert approvals(sandbox) == []


def test_without_a_pin_a_near_match_is_refused_as_the_skip_said(  # type: ignore[no-untyped-def]
    qtbot, kiosk: KioskController, in_front: InFront, sandbox: kit.Sandbox
) -> None:
    c = kiosk
    enroll_with(qtbot, c, None)
    assert pay_just_short_of_the_match(qtbot, c, in_front) == "result"
    outcome = c.result.outcome
    assert outcome is not None
    assert outcome.kind is OutcomeKind.NOT_RECOGNISED, outcome
    assert c.result.card_button.isVisible()
    assert approvals(sandbox) == []


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
    # The consent, read before the PIN is chosen, says it is kept (as a hash only).
    assert "PIN" in tr("enroll.consent_what")
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

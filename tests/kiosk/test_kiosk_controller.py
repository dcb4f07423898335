"""The controller on a real sandbox: language and RTL everywhere, inactivity, attendant.

No camera is needed here; the flows with clips are in test_kiosk_flows.py.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from typing import Any

import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QApplication, QPushButton

from facepay import Sandbox
from kiosk_app.app import apply_theme
from kiosk_app.controller import KioskController, KioskSettings
from kiosk_app.facepay_port import connect_port
from kiosk_app.i18n import Language
from kiosk_app.pos import DemoPos, PosBridge

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def models() -> dict[str, Any]:
    from facepay.vision import DlibResNetEmbedder, FrameAnalyzer

    return {"analyzer": FrameAnalyzer(), "embedder": DlibResNetEmbedder()}


@pytest.fixture
def kiosk(qapp: QApplication, models: dict[str, Any]) -> Iterator[tuple[KioskController, DemoPos]]:
    apply_theme(qapp)
    with Sandbox() as sandbox:
        port = connect_port(sandbox, **models)
        bridge = PosBridge()
        pos = DemoPos(bridge)
        settings = KioskSettings()
        settings.timeouts["basket"] = 0.4
        c = KioskController(
            port=port,
            open_camera=None,
            bridge=bridge,
            settings=settings,
            on_demo_scan=pos.scan,
            on_demo_card=pos.approve_card,
        )
        c.widget().resize(1280, 800)
        c.widget().show()
        yield c, pos
        c.shutdown()
        port.close()
        qapp.setLayoutDirection(Qt.LayoutDirection.LeftToRight)
    gc.collect()


def test_arabic_mirrors_every_screen_and_english_restores(qtbot, kiosk) -> None:  # type: ignore[no-untyped-def]
    c, _ = kiosk
    c.idle.language_buttons[Language.AR].click()
    assert QApplication.layoutDirection() is Qt.LayoutDirection.RightToLeft
    for name, screen in c.screens.items():
        assert screen.layoutDirection() is Qt.LayoutDirection.RightToLeft, name
        assert screen.title.text() == "" or not screen.title.text().isascii(), name
    assert c.idle.start_button.text() == "ابدأ"
    c.idle.language_buttons[Language.ZH].click()
    assert QApplication.layoutDirection() is Qt.LayoutDirection.LeftToRight
    assert c.idle.start_button.text() == "开始"
    assert c.idle.language_buttons[Language.ZH].isChecked()
    assert not c.idle.language_buttons[Language.AR].isChecked()


def test_every_visible_button_on_every_screen_has_a_name(kiosk) -> None:  # type: ignore[no-untyped-def]
    c, pos = kiosk
    pos.scan("4011")
    for name in c.screens:
        c.go(name)
        QApplication.processEvents()
        screen = c.screens[name]
        for b in screen.findChildren(QPushButton):
            if b.isVisibleTo(screen):
                assert b.accessibleName(), (name, b.objectName())
                assert b.height() >= 64, (name, b.objectName(), b.height())


def test_inactivity_goes_back_to_idle_and_forgets_the_basket(qtbot, kiosk) -> None:  # type: ignore[no-untyped-def]
    c, pos = kiosk
    pos.scan("4011")
    QApplication.processEvents()
    assert c.current == "basket"
    assert c.basket_screen.table.rowCount() == 1
    qtbot.waitUntil(lambda: c.basket_screen.notice.isVisible(), timeout=3000)
    assert "Still there?" in c.basket_screen.notice.text()
    qtbot.waitUntil(lambda: c.current == "idle", timeout=3000)
    assert c.basket.lines == ()
    assert c.basket_screen.table.rowCount() == 0
    assert pos.quantities == {}


def test_keyboard_alone_reaches_the_basket(qtbot, kiosk) -> None:  # type: ignore[no-untyped-def]
    c, _ = kiosk
    assert c.idle.start_button.hasFocus() or c.widget().focusWidget() is c.idle.start_button
    qtbot.keyClick(c.idle.start_button, Qt.Key.Key_Return)
    assert c.current == "basket"


def test_attendant_needs_the_pin_and_shows_health_without_personal_data(qtbot, kiosk) -> None:  # type: ignore[no-untyped-def]
    c, _ = kiosk
    c.idle.attendant_button.click()
    assert c.current == "attendant_pin"
    for d in "1111":
        c.attendant_pin.keypad.press(d)
    c.attendant_pin.keypad.submit_button.click()
    assert c.current == "attendant_pin"
    assert c.attendant_pin.notice.text() == "Wrong PIN"
    # A claim typed by a shopper never reaches the attendant's error list.
    c._log_error("claim: TransportError")
    for d in c.settings.attendant_pin:
        c.attendant_pin.keypad.press(d)
    c.attendant_pin.keypad.submit_button.click()
    assert c.current == "attendant"
    # ("unreachable" contains "reachable": wait for the exact answer of the health check.)
    qtbot.waitUntil(
        lambda: c.attendant.backend_health.text() == "Backend: reachable", timeout=10000
    )
    errors = [c.attendant.errors.item(i).text() for i in range(c.attendant.errors.count())]
    assert any("wrong PIN" in e for e in errors)
    assert not [e for e in errors if re.search(r"\d{7,}", e)]  # no phone numbers
    # The till's thresholds are shown, and a change applies to the next shopper.
    port = c.worker._port
    assert c.attendant.threshold_spins["liveness_challenges"].value() == 3
    # Only within the model's bounds (3..5): fewer challenges would weaken liveness.
    c.attendant.threshold_spins["liveness_challenges"].setValue(2)
    assert c.attendant.threshold_spins["liveness_challenges"].value() == 3
    c.attendant.threshold_spins["liveness_challenges"].setValue(4)
    c.attendant.apply_button.click()
    qtbot.waitUntil(lambda: port.till.config.liveness_challenges == 4, timeout=5000)
    c.attendant.exit_button.click()
    assert c.current == "idle"


def _to_claim_screen(c: KioskController, pos: DemoPos) -> None:
    pos.scan("4011")
    QApplication.processEvents()
    c.basket_screen.pay_button.click()
    c.choice.face_button.click()
    assert c.current == "claim"


def test_a_number_that_is_not_a_phone_number_asks_again(qtbot, kiosk, eval_dir) -> None:  # type: ignore[no-untyped-def]
    from facepay import open_source

    c, pos = kiosk
    c.open_camera = lambda: open_source(eval_dir / "video" / "single_face.mp4")
    _to_claim_screen(c, pos)
    for d in "0000000":  # national prefix then zeros: "+49000000" is not E.164
        c.claim.keypad.press(d)
    c.claim.keypad.submit_button.click()
    qtbot.waitUntil(lambda: c.current == "claim" and c.claim.notice.isVisible(), timeout=5000)
    assert "does not look right" in c.claim.notice.text()
    assert c.claim.keypad.digits() == ""


def test_a_scanned_loyalty_card_starts_the_capture_and_no_camera_offers_the_card(  # type: ignore[no-untyped-def]
    qtbot, kiosk
) -> None:
    from kiosk_app.flow import Claim, ClaimKind, OutcomeKind

    c, pos = kiosk
    _to_claim_screen(c, pos)
    c.claim.loyalty_button.click()
    assert "loyalty card" in c.claim.scan_prompt.text()
    c.bridge.scan_claim(Claim(kind=ClaimKind.LOYALTY_CARD, value="LOY-4711-0815"))
    # This kiosk has no camera: the shopper is told so and offered the card at once.
    qtbot.waitUntil(lambda: c.current == "result", timeout=5000)
    assert c.result.outcome is not None
    assert c.result.outcome.kind is OutcomeKind.CAMERA_LOST
    assert c.result.card_button.isVisible()
    assert any("no_camera" in e for e in c.errors)

"""The controller on a real sandbox: language and RTL everywhere, inactivity, attendant.

No camera is needed here; the flows with clips are in test_kiosk_flows.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QApplication, QPushButton

from facepay.testing import Sandbox, signed_by_sandbox
from kiosk_app.controller import KioskController, KioskSettings
from kiosk_app.demo.pos import DemoPos
from kiosk_app.i18n import Language
from kiosk_app.model import LoginPolicy, StaffDirectory, StaffLogin

STAFF_PIN = "482913"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


pytestmark = pytest.mark.slow


def _staff(**login: Any) -> StaffLogin:
    directory = StaffDirectory()
    directory.add("ana", STAFF_PIN)
    return StaffLogin(directory, **login)


@pytest.fixture
def kiosk(start_kiosk) -> Iterator[tuple[KioskController, DemoPos]]:  # type: ignore[no-untyped-def]
    settings = KioskSettings()
    settings.timeouts["basket"] = 0.4
    with start_kiosk(staff=_staff(clock=FakeClock()), settings=settings) as started:
        yield started


def test_arabic_mirrors_every_screen_and_english_restores(qtbot, kiosk) -> None:  # type: ignore[no-untyped-def]
    c, _ = kiosk
    c.idle.language_buttons[Language.AR].click()
    assert c.machine.language == "ar"
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
        c.stack.setCurrentWidget(c.screens[name])
        QApplication.processEvents()
        screen = c.screens[name]
        for b in screen.findChildren(QPushButton):
            if b.isVisibleTo(screen):
                assert b.accessibleName(), (name, b.objectName())
                assert b.height() >= 64, (name, b.objectName(), b.height())


def test_inactivity_goes_back_to_idle_and_forgets_the_basket(qtbot, kiosk) -> None:  # type: ignore[no-untyped-def]
    c, pos = kiosk
    # The warning is on screen only between two real timers (0.4 s apart at most): record
    # it as shown rather than poll for it, which a busy machine could step over.
    shown: list[str] = []
    show_notice = c.basket_screen.show_notice

    def recorded(text: str) -> None:
        shown.append(text)
        show_notice(text)

    c.basket_screen.show_notice = recorded  # type: ignore[method-assign]
    pos.scan("4011")
    QApplication.processEvents()
    assert c.current == "basket"
    assert c.basket_screen.table.rowCount() == 1
    qtbot.waitUntil(lambda: c.current == "idle", timeout=10_000)
    assert [t for t in shown if "Still there?" in t]
    assert c.machine.sale.lines == ()
    assert c.basket_screen.table.rowCount() == 0
    assert pos.quantities == {}
    # #13: the unpaid basket did not vanish silently: staff are alerted.
    (alert,) = c.machine.queue.open
    assert alert.kind.value == "abandoned_basket"
    assert alert.amount_text == "EUR 1.19"


def test_keyboard_alone_reaches_the_basket(qtbot, kiosk) -> None:  # type: ignore[no-untyped-def]
    c, _ = kiosk
    assert c.idle.start_button.hasFocus() or c.widget().focusWidget() is c.idle.start_button
    qtbot.keyClick(c.idle.start_button, Qt.Key.Key_Return)
    assert c.current == "basket"


def test_staff_sign_in_backs_off_and_shows_health_without_personal_data(qtbot, kiosk) -> None:  # type: ignore[no-untyped-def]
    c, _ = kiosk
    clock = c.machine.staff._clock
    c.idle.attendant_button.click()
    assert c.current == "attendant_pin"
    c.attendant_pin.staff_id_edit.setText("ana")
    for d in "111111":
        c.attendant_pin.keypad.press(d)
    c.attendant_pin.keypad.submit_button.click()
    assert c.current == "attendant_pin"
    assert "Wrong staff ID or PIN" in c.attendant_pin.notice.text()
    # During the back-off even the right PIN is refused (it is not even checked).
    c.attendant_pin.staff_id_edit.setText("ana")
    for d in STAFF_PIN:
        c.attendant_pin.keypad.press(d)
    c.attendant_pin.keypad.submit_button.click()
    assert c.current == "attendant_pin"
    clock.now += LoginPolicy().first_delay_s
    c.attendant_pin.staff_id_edit.setText("ana")
    for d in STAFF_PIN:
        c.attendant_pin.keypad.press(d)
    c.attendant_pin.keypad.submit_button.click()
    assert c.current == "attendant"
    # ("unreachable" contains "reachable": wait for the exact answer of the health check.)
    qtbot.waitUntil(
        lambda: c.attendant.backend_health.text() == "Backend: reachable", timeout=10000
    )
    errors = [c.attendant.errors.item(i).text() for i in range(c.attendant.errors.count())]
    assert any("sign-in refused" in e for e in errors)
    assert not [e for e in errors if re.search(r"\d{7,}", e)]  # no phone numbers
    # Staff settings are clamped: the challenge count cannot go below the shipped 3.
    port = c.worker.port
    assert c.attendant.threshold_spins["liveness_challenges"].value() == 3
    # Only within the model's bounds (3..5): fewer challenges would weaken liveness.
    c.attendant.threshold_spins["liveness_challenges"].setValue(2)
    assert c.attendant.threshold_spins["liveness_challenges"].value() == 3
    c.attendant.threshold_spins["liveness_challenges"].setValue(4)
    c.attendant.apply_button.click()
    qtbot.waitUntil(lambda: port.till.config.liveness_challenges == 4, timeout=5000)
    actions = [a.action.value for a in c.machine.audit.lines]
    assert actions[:3] == ["sign_in_refused", "sign_in_refused", "sign_in"]
    assert "change_setting" in actions
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
    from facepay import Claim, ClaimKind
    from kiosk_app.model import OutcomeKind

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


class LaneLocked(httpx.HTTPTransport):
    """The backend's answer once a lane has had 5 failed face attempts: 429 on every new
    session, with the lockout's remaining seconds (docs/protocol.md, "Errors")."""

    def __init__(self) -> None:
        super().__init__()
        self.locked = False
        self.sandbox: Sandbox | None = None

    def bind_sandbox(self, sandbox: Sandbox) -> None:
        """The backend whose answer this stands for: it is signed with that backend's
        answer key (docs/protocol.md, "Signed answers"), as the backend signs a lockout."""
        self.sandbox = sandbox

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.locked and request.url.path == "/v1/sessions":
            assert self.sandbox is not None
            body = {"error": {"code": "device_locked", "message": "locked", "retry_after": 280}}
            answer = httpx.Response(429, json=body, headers={"Retry-After": "280"}, request=request)
            return signed_by_sandbox(self.sandbox, answer)
        return super().handle_request(request)


def test_a_locked_lane_pauses_face_pay_hides_it_and_staff_unlock_it(  # type: ignore[no-untyped-def]
    qtbot, start_kiosk, eval_dir
) -> None:
    """#13: every shopper on the lane got "Payment declined" and a Try again that could not
    work; staff saw only RateLimitedError."""
    from facepay import open_source
    from kiosk_app.model import OutcomeKind, RequestKind

    transport = LaneLocked()
    with start_kiosk(
        staff=_staff(),
        open_camera=lambda: open_source(eval_dir / "video" / "single_face.mp4"),
        transport=transport,
    ) as (c, pos):
        transport.locked = True
        _to_claim_screen(c, pos)
        for d in "015112345678":
            c.claim.keypad.press(d)
        c.claim.keypad.submit_button.click()
        qtbot.waitUntil(lambda: c.current == "result", timeout=10_000)
        outcome = c.result.outcome
        assert outcome is not None
        assert outcome.kind is OutcomeKind.LANE_PAUSED
        assert "Face pay is paused at this till" in c.result.message.text()
        assert "Nothing was charged" in c.result.message.text()
        assert "declined" not in c.result.title.text().lower()
        assert not c.result.retry_button.isVisible()
        assert c.result.card_button.isVisible()
        assert [r.kind for r in c.machine.queue.open] == [RequestKind.LANE_PAUSED]
        # Back to the choice: the face option is hidden, the card stays.
        c.result.back_button.click()
        assert c.current == "choice"
        assert not c.choice.face_button.isVisible()
        assert c.choice.card_button.isVisible()
        # Staff see the lock and unlock the lane.
        c.choice.call_button.click()
        c.machine.staff_requested()
        c.attendant_pin.staff_id_edit.setText("ana")
        for d in STAFF_PIN:
            c.attendant_pin.keypad.press(d)
        c.attendant_pin.keypad.submit_button.click()
        assert c.current == "attendant"
        shown = [c.attendant.errors.item(i).text() for i in range(c.attendant.errors.count())]
        assert any("lane_paused" in e for e in shown)
        transport.locked = False
        c.machine.unlock_lane()
        assert not c.machine.lane_paused
        c.attendant.exit_button.click()
        assert c.current == "choice"
        assert c.choice.face_button.isVisible()

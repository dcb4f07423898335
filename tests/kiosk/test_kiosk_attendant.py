"""The attendant's screens: the staff member's own language, real widgets (no raw config
keys, no 3-decimal spin boxes), and one button per thing staff are asked to do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QApplication, QDoubleSpinBox, QLabel, QSpinBox

from kiosk_app.app import apply_theme
from kiosk_app.controller import KioskController
from kiosk_app.demo.pos import DemoPos
from kiosk_app.i18n import Language, Translator
from kiosk_app.model import (
    SETTING_BOUNDS,
    AttendantRequest,
    RequestKind,
    StaffDirectory,
    StaffLogin,
)
from kiosk_app.screens import AttendantPinScreen, AttendantScreen


@pytest.fixture
def themed(qapp: QApplication) -> QApplication:
    apply_theme(qapp)
    return qapp


def test_staff_read_their_own_language_not_the_shoppers(themed: QApplication) -> None:
    shopper = Translator(Language.AR)
    screen = AttendantScreen(shopper)
    screen.retranslate()
    screen.set_staff_language(Language.EN)
    assert screen.title.text() == "Attendant"
    assert screen.layoutDirection() is Qt.LayoutDirection.LeftToRight
    assert shopper.language is Language.AR  # the shopper's screens keep theirs
    assert screen.language_buttons[Language.EN].isChecked()
    screen.set_staff_language(Language.ZH)
    assert screen.title.text() == "店员模式"
    screen.reset()  # signed out: the next staff member starts in the till's language
    assert screen.title.text() == "وضع الموظف"


def test_settings_are_named_whole_numbers_within_bounds(themed: QApplication) -> None:
    screen = AttendantScreen(Translator())
    screen.show_settings(
        ["0"],
        "0",
        "https://pay.example",
        {"liveness_challenges": 9.0, "match_threshold": 0.612, "capture_timeout_s": 20.0},
    )
    assert not screen.findChildren(QDoubleSpinBox)
    assert set(screen.threshold_spins) == set(SETTING_BOUNDS)  # nothing else is adjustable
    for name, spin in screen.threshold_spins.items():
        assert isinstance(spin, QSpinBox)
        low, high = SETTING_BOUNDS[name]
        assert (spin.minimum(), spin.maximum()) == (int(low), int(high))
        assert "_" not in spin.accessibleName()
    assert screen.threshold_spins["liveness_challenges"].value() == 5  # clamped, not 9
    assert screen.thresholds()["capture_timeout_s"] == 20.0
    texts = [w.text() for w in screen.findChildren(QLabel)]
    assert not [t for t in texts if "match_threshold" in t or "liveness_challenges" in t]
    assert "Liveness checks per payment" in texts


def test_each_request_has_the_button_that_resolves_it(qtbot, themed: QApplication) -> None:  # type: ignore[no-untyped-def]
    screen = AttendantScreen(Translator())
    qtbot.addWidget(screen)
    screen.show_queue(
        [
            AttendantRequest(request_id=1, kind=RequestKind.CALLED, raised_at=0.0),
            AttendantRequest(request_id=2, kind=RequestKind.AGE_CHECK, raised_at=0.0, sku="77"),
            AttendantRequest(
                request_id=3,
                kind=RequestKind.ABANDONED_BASKET,
                raised_at=0.0,
                item_count=4,
                amount_text="EUR 9.87",
            ),
            AttendantRequest(request_id=4, kind=RequestKind.LANE_PAUSED, raised_at=0.0),
            AttendantRequest(
                request_id=5, kind=RequestKind.PAYMENT_UNKNOWN, raised_at=0.0, amount_text="EUR 1"
            ),
        ]
    )
    assert screen.request_rows[3][0].text() == "Unpaid basket left: 4 items, EUR 9.87"
    assert screen.request_rows[2][1].text() == "Approve age"
    emitted = []
    screen.request_action.connect(lambda rid, action: emitted.append((rid, action)))
    for _, button in screen.request_rows.values():
        button.click()
    assert emitted == [
        (1, "done"),
        (2, "approve_age"),
        (3, "done"),
        (4, "unlock"),
        (5, "settle"),
    ]
    assert screen.first_focus() is screen.request_rows[1][1]


def test_lane_unlock_void_and_reprint(qtbot, themed: QApplication) -> None:  # type: ignore[no-untyped-def]
    screen = AttendantScreen(Translator())
    qtbot.addWidget(screen)
    screen.show()
    screen.show_lane(False)
    assert not screen.unlock_button.isVisible()
    screen.show_lane(True)
    assert screen.unlock_button.isVisible()
    assert screen.lane_label.text() == "Face pay: paused"
    with qtbot.waitSignal(screen.unlock_requested, timeout=1000):
        screen.unlock_button.click()
    screen.show_sale([("4011", "Bananas 1 kg", 2), ("77", "Red wine 0.75 l", 1)])
    screen.show_queue(
        [AttendantRequest(request_id=9, kind=RequestKind.AGE_CHECK, raised_at=0.0, sku="77")]
    )
    assert screen.request_rows[9][0].text() == "Age check needed: Red wine 0.75 l"
    with qtbot.waitSignal(screen.void_requested, timeout=1000) as voided:
        screen.void_buttons["77"].click()
    assert voided.args == ["77"]
    with qtbot.waitSignal(screen.reprint_requested, timeout=1000):
        screen.reprint_button.click()


def test_staff_sign_in_takes_an_id_and_a_pin(qtbot, themed: QApplication) -> None:  # type: ignore[no-untyped-def]
    screen = AttendantPinScreen(Translator())
    qtbot.addWidget(screen)
    screen.retranslate()
    emitted = []
    screen.sign_in_requested.connect(lambda sid, pin: emitted.append((sid, pin)))
    for d in "135790":
        screen.keypad.press(d)
    screen.keypad.submit_button.click()
    assert emitted == []  # no staff id: nothing is tried (and nothing counts as a failure)
    screen.staff_id_edit.setText("ana")
    screen.keypad.submit_button.click()
    assert emitted == [("ana", "135790")]
    assert screen.keypad.display.text() == "••••••"


# -- on the real kiosk: the model's queue, drawn and resolved from the attendant screen ----

WINE = "3258431210013"  # the demo catalogue's age-restricted item
STAFF_PIN = "582047"


@pytest.fixture
def kiosk(start_kiosk) -> Iterator[tuple[KioskController, DemoPos]]:  # type: ignore[no-untyped-def]
    directory = StaffDirectory()
    directory.add("ana", STAFF_PIN)
    with start_kiosk(staff=StaffLogin(directory)) as started:
        yield started


@pytest.mark.slow
def test_staff_resolve_the_queue_from_the_attendant_screen(qtbot, kiosk) -> None:  # type: ignore[no-untyped-def]
    c, pos = kiosk
    pos.scan("4011")
    pos.scan(WINE)
    qtbot.waitUntil(lambda: c.current == "basket", timeout=5000)
    c.basket_screen.call_button.click()  # the shopper calls for help
    c.machine.staff_requested()  # staff arrive (the idle screen's Staff button)
    assert c.current == "attendant_pin"
    c.attendant_pin.staff_id_edit.setText("ana")
    for d in STAFF_PIN:
        c.attendant_pin.keypad.press(d)
    c.attendant_pin.keypad.submit_button.click()
    qtbot.waitUntil(lambda: c.current == "attendant", timeout=5000)
    rows = c.attendant.request_rows
    texts = {rid: text.text() for rid, (text, _) in rows.items()}
    assert "A shopper called for help" in texts.values()
    age = next(rid for rid, t in texts.items() if t.startswith("Age check needed"))
    assert texts[age] == "Age check needed: Red wine 0.75 l"
    rows[age][1].click()  # Approve age
    qtbot.waitUntil(
        lambda: all(not t.text().startswith("Age check") for t, _ in rows.values()),
        timeout=5000,
    )
    assert c.machine.sale.age_approved
    assert set(c.attendant.void_buttons) == {"4011", WINE}
    c.attendant.void_buttons[WINE].click()
    qtbot.waitUntil(lambda: set(c.attendant.void_buttons) == {"4011"}, timeout=5000)
    called = next(rid for rid, (t, _) in rows.items() if t.text() == "A shopper called for help")
    rows[called][1].click()  # Done
    qtbot.waitUntil(lambda: not c.machine.queue.open, timeout=5000)
    assert c.attendant.no_requests.isVisibleTo(c.attendant)
    actions = [a.action.value for a in c.machine.audit.lines]
    assert {"approve_age", "void_line", "dismiss_alert"} <= set(actions)

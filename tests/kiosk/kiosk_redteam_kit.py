"""What the kiosk red-team tests (``test_redteam_kiosk_*.py``) share: a whole kiosk over
its real ``TillAdapter``, a real ``facepay.Till`` and the real sandbox over HTTP, with
every receipt channel (printer, e-mail, SMS) recording what it was handed. The doubles sit
at the camera (synthetic faces, as in ``test_kiosk_pin.py``: seconds, not minutes), the
card reader and the mail and SMS gateways, which are the till's edges.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import numpy.typing as npt
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QApplication, QWidget

import facepay.testing as kit
from facepay import BasketLine, Frame
from kiosk_app.adapter import TillAdapter
from kiosk_app.app import apply_theme
from kiosk_app.controller import KioskController
from kiosk_app.model import (
    EmailReceipt,
    FilePrinter,
    PrintedReceipt,
    Sale,
    SmsReceipt,
    StaffAudit,
    StaffDirectory,
    StaffLogin,
    StoreProfile,
)
from kiosk_app.pos import PosBridge
from kiosk_app.workers import CameraPlayback

PIN = "3851"
PHONE = "015112345678"  # a German mobile number, national form
EMAIL = "shopper.one@example.org"
STAFF_ID, STAFF_PIN = "ana", "482913"
STORE = StoreProfile(
    store_name="test store", currency="EUR", operator="the test sandbox", retention_days=1095
)
PERSON = kit.face(61)


class SyntheticCamera:
    """A camera in front of one synthetic shopper (the frames name their face vector)."""

    def __init__(self, faces: kit.SyntheticFaces, vector: npt.NDArray[np.float32]) -> None:
        self._frames = faces.camera("kiosk-camera", vector)

    def frames(self) -> Iterator[Frame]:
        yield from self._frames

    def close(self) -> None:
        pass


@dataclass
class Gateways:
    """The retailer's mail and SMS gateways: what each was handed."""

    mails: list[tuple[str, str, str]] = field(default_factory=list)
    texts: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Lane:
    """One kiosk and everything around it."""

    c: KioskController
    sandbox: kit.Sandbox
    printer: FilePrinter
    gateways: Gateways
    port: TillAdapter
    card_requests: list[str]


def open_lane(
    qapp: QApplication,
    sandbox: kit.Sandbox,
    receipts: Path,
    *,
    audit: StaffAudit | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Lane:
    apply_theme(qapp)
    faces = kit.SyntheticFaces()
    network = {"transport": transport} if transport is not None else {}
    till = kit.connect_till(sandbox, **faces.till_parts(), **network)
    port = TillAdapter(till, store=STORE, base_url=sandbox.base_url)
    printer = FilePrinter(receipts)
    gateways = Gateways()
    directory = StaffDirectory()
    directory.add(STAFF_ID, STAFF_PIN)
    bridge = PosBridge()
    card_requests: list[str] = []
    bridge.card_payment_requested.connect(lambda sale_id, _basket: card_requests.append(sale_id))
    c = KioskController(
        port=port,
        open_camera=lambda: SyntheticCamera(faces, PERSON),
        bridge=bridge,
        staff=StaffLogin(directory),
        audit=audit,
        receipt_channels=[
            PrintedReceipt(printer),
            EmailReceipt(lambda to, subject, body: gateways.mails.append((to, subject, body))),
            SmsReceipt(lambda to, text: gateways.texts.append((to, text))),
        ],
        playback=CameraPlayback(pace=False, loop=True, lockstep=True),
        card_reader=lambda: "tok_visa_4242",
    )
    c.widget().resize(1024, 768)
    c.widget().show()
    return Lane(c, sandbox, printer, gateways, port, card_requests)


def close_lane(qapp: QApplication, lane: Lane) -> None:
    lane.c.shutdown()
    lane.port.close()
    qapp.setLayoutDirection(Qt.LayoutDirection.LeftToRight)
    gc.collect()


def type_digits(keypad_screen: object, digits: str) -> None:
    for d in digits:
        keypad_screen.keypad.press(d)  # type: ignore[attr-defined]


def enroll(qtbot: object, c: KioskController, *, phone: str = PHONE, pin: str = PIN) -> None:
    """Consent, phone, card, the PIN twice, the camera: on the enrollment's last screen."""
    c.idle.join_button.click()
    c.consent.agree_box.setChecked(True)
    c.consent.agree_button.click()
    type_digits(c.enroll_phone, phone)
    c.enroll_phone.keypad.submit_button.click()
    c.enroll_card.tap_button.click()
    c.enroll_card.continue_button.click()
    for _ in range(2):
        type_digits(c.enroll_pin, pin)
        c.enroll_pin.keypad.submit_button.click()
    qtbot.waitUntil(lambda: c.current in ("enroll_done", "result"), timeout=30_000)  # type: ignore[attr-defined]
    assert c.current == "enroll_done", c.result.outcome


BANANAS = BasketLine(sku="4011", description="Bananas 1 kg", quantity=2, unit_price_minor=119)


def push_sale(qtbot: object, c: KioskController, sale_id: str, *lines: BasketLine) -> None:
    c.bridge.push_basket(Sale(sale_id=sale_id, currency="EUR", lines=lines or (BANANAS,)))
    qtbot.waitUntil(lambda: c.current == "basket", timeout=5_000)  # type: ignore[attr-defined]


def pay_by_face(qtbot: object, c: KioskController, *, phone: str = PHONE) -> str:
    """Pay, face, the phone number: wait for how it ended (result or step-up)."""
    c.basket_screen.pay_button.click()
    c.choice.face_button.click()
    if c.current == "claim":
        type_digits(c.claim, phone)
        c.claim.keypad.submit_button.click()
    qtbot.waitUntil(lambda: c.current in ("result", "step_up"), timeout=30_000)  # type: ignore[attr-defined]
    return c.current


def approvals(sandbox: kit.Sandbox) -> int:
    return len(kit.rows(sandbox, "SELECT status FROM authorizations WHERE status = 'approved'"))


def names(text: str, digits: str) -> bool:
    """``digits`` appear in ``text`` as a value of their own (a port number, a hex id or a
    duration that happens to contain them does not count)."""
    return re.search(rf"(?<![0-9A-Za-z.]){re.escape(digits)}(?![0-9A-Za-z])", text) is not None


def every_text(widget: QWidget) -> list[str]:
    """Every text any widget of the kiosk holds, shown or hidden: a label's or a button's
    text, a line edit's, a list's or a table's items, accessible names and descriptions,
    tool tips. What the next shopper could read on the glass, or a screen reader speak,
    or that is one screen change away from the glass."""
    from PyQt6.QtWidgets import QListWidget, QTableWidget

    texts = []
    for w in [widget, *widget.findChildren(QWidget)]:
        texts += [w.accessibleName(), w.accessibleDescription(), w.toolTip()]
        text = getattr(w, "text", None)
        if callable(text):
            value = text()
            if isinstance(value, str):
                texts.append(value)
        if isinstance(w, QListWidget):
            texts += [w.item(i).text() for i in range(w.count())]  # type: ignore[union-attr]
        if isinstance(w, QTableWidget):
            for row in range(w.rowCount()):
                for col in range(w.columnCount()):
                    item = w.item(row, col)
                    if item is not None:
                        texts.append(item.text())
    return [t for t in texts if t]


def held_anywhere(c: KioskController, secret: str) -> list[str]:
    """The texts (and keypads' own digit buffers) of every screen that hold ``secret``."""
    found = [t for t in every_text(c.widget()) if secret in t]
    for screen in c.screens.values():
        for name in ("keypad", "phone_keypad"):
            pad = getattr(screen, name, None)
            if pad is not None and secret in pad.digits():
                found.append(f"{screen.name}.{name}.digits()")
        board = getattr(screen, "email_keyboard", None)
        if board is not None and secret in board.text():
            found.append(f"{screen.name}.email_keyboard.text()")
    return found

"""Red team at the kiosk: long and hostile input, and an answer with hostile text.

A till's keyboard (or a barcode scanner that types like one) pastes 10,000 characters,
right-to-left overrides, emoji and NUL into the fields; the answer to a payment (from a
rogue backend, a proxy the till trusts, or the POS's card terminal) names the payment
method with markup, a newline and a made-up receipt line, or 10,000 characters. Qt draws
a label's text as rich text when it looks like HTML (``Qt.TextFormat.AutoText``): each
test reads what the screen actually shows and how it is laid out.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kiosk_redteam_kit import (
    BANANAS,
    STAFF_ID,
    Lane,
    close_lane,
    enroll,
    open_lane,
    pay_by_face,
    push_sale,
)
from PyQt6.QtCore import QEvent, Qt
from PyQt6.QtGui import (
    QFont,
    QGuiApplication,
    QInputMethodEvent,
    QKeyEvent,
    QKeySequence,
    QTextLayout,
    QTextOption,
)
from PyQt6.QtWidgets import QApplication, QLabel, QWidget

import facepay.testing as kit
from facepay import PaymentStatus, Receipt
from kiosk_app.controller import KioskController
from kiosk_app.i18n import Language, Translator
from kiosk_app.model import OutcomeKind, PrivacyReceipt
from kiosk_app.model._outcome import MASKED_METHOD_LIMIT, outcome_from_receipt
from kiosk_app.model._sale import Sale
from kiosk_app.screens import ResultScreen
from kiosk_app.widgets import AddressKeyboard, Keypad

HOSTILE = [
    "9" * 10_000,
    "\u202e4321",  # right-to-left override: "4321" drawn as "1234"
    "1\u00002\x003",  # NUL
    "\U0001f600\U0001f4b3",  # emoji
    "\u0663\u0665",  # Arabic-Indic 3, 5
    "\uff13",  # full-width 3
    "\u00b2\u2460",  # superscript two, circled one: "digits" that are not decimal
]


def type_text(widget: QWidget, text: str) -> None:
    """A keyboard (or a scanner acting as one) sends ``text`` as one key event."""
    for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
        QApplication.sendEvent(
            widget, QKeyEvent(kind, Qt.Key.Key_unknown, Qt.KeyboardModifier.NoModifier, text)
        )


def commit(widget: QWidget, text: str) -> None:
    """An input method (an on-screen or a Chinese keyboard) commits ``text``."""
    event = QInputMethodEvent()
    event.setCommitString(text)
    QApplication.sendEvent(widget, event)


def paste(widget: QWidget, text: str) -> None:
    clipboard = QGuiApplication.clipboard()
    assert clipboard is not None
    clipboard.setText(text)
    widget.setFocus()
    key = QKeySequence(QKeySequence.StandardKey.Paste)[0]
    for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
        QApplication.sendEvent(widget, QKeyEvent(kind, key.key(), key.keyboardModifiers(), "\x16"))


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_the_phone_and_pin_keypads_hold_ascii_digits_only_and_never_more_than_they_take(
    qapp: QApplication, text: str
) -> None:
    pad = Keypad(max_digits=15, reveal_last=2)
    type_text(pad.display, text)
    commit(pad.display, text)
    paste(pad.display, text)
    for ch in text[:40]:  # and key by key
        type_text(pad.display, ch)
    assert len(pad.digits()) <= 15
    assert set(pad.digits()) <= set("0123456789"), ascii(pad.digits())
    assert set(pad.display.text()) <= set("0123456789\u2022")
    # Another script's decimal digits are the same digits; ², ① and the rest are nothing.
    typed = Keypad(max_digits=15)
    for ch in text[:20]:
        type_text(typed.display, ch)
    expected = {"\u0663\u0665": "35", "\uff13": "3", "1\u00002\x003": "123"}.get(text)
    if expected is not None:
        assert typed.digits() == expected
    committed = Keypad(max_digits=15)
    commit(committed.display, text)
    assert committed.digits() == "".join(str(int(ch)) for ch in text[:15] if ch.isdecimal()), ascii(
        text[:20]
    )


@pytest.mark.parametrize("text", [*HOSTILE, "a" * 10_000 + "@example.org"], ids=range(8))
def test_the_email_keyboard_holds_an_address_of_its_own_characters_and_bounded(
    qapp: QApplication, text: str
) -> None:
    board = AddressKeyboard()
    type_text(board.display, text)
    commit(board.display, text)
    paste(board.display, text)
    for ch in text[:300]:
        type_text(board.display, ch)
    assert len(board.text()) <= AddressKeyboard.MAX_LENGTH
    assert set(board.text()) <= AddressKeyboard.CHARACTERS
    assert board.display.text() == board.text()


@pytest.fixture
def sandbox() -> Iterator[kit.Sandbox]:
    with kit.Sandbox() as sb:
        yield sb


@pytest.fixture
def lane(qapp: QApplication, sandbox: kit.Sandbox, tmp_path: Path) -> Iterator[Lane]:
    made = open_lane(qapp, sandbox, tmp_path / "receipts")
    yield made
    close_lane(qapp, made)


def test_a_staff_id_pasted_with_a_forged_line_leaves_one_plain_audit_line(  # type: ignore[no-untyped-def]
    qtbot, lane: Lane, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    c = lane.c
    c.idle.attendant_button.click()
    edit = c.attendant_pin.staff_id_edit
    paste(edit, "x" * 10_000)
    assert len(edit.text()) <= 32
    edit.setText("mallory\n12:00 staff ana: sign_in\u202e\x00")
    for d in "000000":
        c.attendant_pin.keypad.press(d)
    c.attendant_pin.keypad.submit_button.click()
    assert c.current == "attendant_pin"  # refused
    refused = [r.getMessage() for r in caplog.records if "sign_in_refused" in r.getMessage()]
    assert len(refused) == 1
    for hidden in ("\n", "\u202e", "\x00"):
        assert hidden not in refused[0]
    assert c.machine.audit.lines[-1].staff_id.startswith("mallory")
    assert len(c.machine.audit.lines[-1].staff_id) <= 32
    assert STAFF_ID not in refused[0].split(":", 1)[0]


MARKUP = '<img src="file:///etc/passwd"><h1 style="font-size:200px">PAID 0.01</h1>'
FORGED_LINE = "Visa 4242\nPrivacy code: 000000 (call 0800-FAKE to confirm)"
LONG = "Visa " + "\u2022" * 10_000 + " 4242"


def approved(masked: str) -> Receipt:
    return Receipt(
        status=PaymentStatus.APPROVED,
        amount_minor=238,
        currency="EUR",
        basket_reference="SALE-HOSTILE-1",
        authorization_id="auth_1",
        idempotency_key="idem-hostile-1",
        receipt_id="rcpt_1",
        masked_payment_method=masked,
    )


def labels_showing(widget: QWidget, needle: str) -> list[QLabel]:
    return [w for w in widget.findChildren(QLabel) if needle in w.text()]


@pytest.mark.parametrize("masked", [MARKUP, FORGED_LINE, LONG], ids=["markup", "line", "long"])
def test_a_card_named_with_markup_a_new_line_or_10000_characters_is_one_plain_bounded_line(
    qapp: QApplication, masked: str
) -> None:
    sale = Sale(sale_id="SALE-HOSTILE-1", currency="EUR", lines=(BANANAS,))
    outcome = outcome_from_receipt(approved(masked), sale)
    assert outcome.kind is OutcomeKind.APPROVED
    assert len(outcome.masked_method) <= MASKED_METHOD_LIMIT
    assert "\n" not in outcome.masked_method
    screen = ResultScreen(Translator())
    screen.resize(1024, 768)
    screen.show_outcome(outcome, card_offered=False)
    screen.show()
    shown = screen.method_label
    assert shown.textFormat() is Qt.TextFormat.PlainText
    if masked is MARKUP:
        assert "<img" in shown.text()  # read as the characters it is, not drawn
    # Laid out inside the screen: the line is not wider than the 1024 px it is shown on.
    assert screen.minimumSizeHint().width() <= 1024
    assert shown.geometry().right() <= screen.width()
    # The printed receipt: the forged line is not a line of its own.
    receipt = PrivacyReceipt.of(outcome, sale_id=sale.sale_id, language=Translator().language)
    assert not any(line.startswith("Privacy code: 000000") for line in receipt.lines())
    assert len(max(receipt.lines(), key=len)) <= 80


def test_a_card_terminal_naming_the_card_with_markup_shows_it_as_text(  # type: ignore[no-untyped-def]
    qtbot, lane: Lane
) -> None:
    c: KioskController = lane.c
    push_sale(qtbot, c, "SALE-HOSTILE-2")
    c.basket_screen.pay_button.click()
    c.choice.card_button.click()
    assert lane.card_requests == ["SALE-HOSTILE-2"]
    c.bridge.report_card_result("SALE-HOSTILE-2", True, MARKUP + "\n" + LONG)
    qtbot.waitUntil(lambda: c.current == "result", timeout=5_000)
    assert c.result.method_label.isVisible()
    assert len(c.result.method_label.text()) < 120
    assert c.widget().minimumSizeHint().width() <= 1024


def test_every_label_of_every_screen_draws_plain_text(lane: Lane) -> None:
    """Whatever reaches a label (an answer, the POS, a translation) is never rich text."""
    rich = [
        f"{screen.name}.{w.objectName() or type(w).__name__}"
        for screen in lane.c.screens.values()
        for w in screen.findChildren(QLabel)
        if w.textFormat() is not Qt.TextFormat.PlainText
    ]
    assert rich == []


class RogueAnswers(httpx.BaseTransport):
    """The network to the backend in an attacker's hands: every request reaches the real
    backend, and every payment's answer is replaced by an error whose code, message and
    request id are markup, 10,000 characters long."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        response.read()
        if not request.url.path.startswith("/v1/authorizations"):
            return response
        body = {
            "code": MARKUP,
            "message": MARKUP * 150,
            "request_id": "<b>" + "x" * 10_000,
        }
        return httpx.Response(
            409, json=body, headers={"X-Request-Id": MARKUP, "X-FacePay-Protocol": "1"}
        )

    def close(self) -> None:
        self._inner.close()


def test_an_error_answer_with_markup_reaches_neither_the_shopper_nor_the_attendant(  # type: ignore[no-untyped-def]
    qtbot, qapp: QApplication, sandbox: kit.Sandbox, tmp_path: Path
) -> None:
    lane = open_lane(qapp, sandbox, tmp_path / "receipts", transport=RogueAnswers())
    try:
        c = lane.c
        enroll(qtbot, c)
        c.enroll_done.done_button.click()
        push_sale(qtbot, c, "SALE-HOSTILE-3")
        assert pay_by_face(qtbot, c) == "result"
        # The backend charged; the answer is not one: "not confirmed yet", no card.
        assert c.result.outcome is not None
        assert c.result.outcome.kind is OutcomeKind.PAYMENT_UNKNOWN
        assert not c.result.card_button.isVisible()
        shown = " ".join(w.text() for w in c.result.findChildren(QLabel))
        assert "img" not in shown
        assert "x" * 50 not in shown
        # The attendant's list of recent errors: codes only, one short line each.
        errors = list(c.errors)
        assert errors
        for line in errors:
            assert "<" not in line
            assert len(line) < 120
    finally:
        close_lane(qapp, lane)


def _reads_left_to_right(line: str, value: str, direction: Qt.LayoutDirection) -> bool:
    """Qt lays ``line`` out in ``direction`` (as the list or the receipt shows it): does
    ``value`` read left to right in one piece?"""
    option = QTextOption()
    option.setTextDirection(direction)
    layout = QTextLayout(line, QFont())
    layout.setTextOption(option)
    layout.beginLayout()
    row = layout.createLine()
    row.setLineWidth(100_000)
    layout.endLayout()
    start = line.index(value)
    xs = [float(row.cursorToX(start + i)[0]) for i in range(1, len(value))]
    return xs == sorted(xs)


def test_a_product_name_with_a_right_to_left_override_cannot_reverse_the_amount(
    qapp: QApplication,
) -> None:
    """Before: a POS product named "Evil\\u202e" turned "EUR 2.38" after it into "83.2 RUE"
    on the result screen and on an English receipt."""
    from facepay import BasketLine

    evil = BasketLine(sku="666", description="Evil\u202e kg", quantity=2, unit_price_minor=119)
    sale = Sale(sale_id="SALE-HOSTILE-4", currency="EUR", lines=(evil,))
    outcome = outcome_from_receipt(approved("Visa 4242"), sale)
    screen = ResultScreen(Translator())
    screen.show_outcome(outcome)
    first = screen.receipt.item(0)
    assert first is not None
    assert _reads_left_to_right(first.text(), "EUR 2.38", screen.receipt.layoutDirection())
    for language in Language:
        receipt = PrivacyReceipt.of(outcome, sale_id=sale.sale_id, language=language)
        line = next(line for line in receipt.lines() if "Evil" in line)
        direction = (
            Qt.LayoutDirection.RightToLeft if language.rtl else Qt.LayoutDirection.LeftToRight
        )
        assert _reads_left_to_right(line, "2.38", direction), (language, ascii(line))

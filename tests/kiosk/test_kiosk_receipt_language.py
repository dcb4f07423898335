"""The receipt speaks the shopper's language on every channel the kiosk has.

Printed, e-mailed and texted receipts said "Total:", "Paid with:" and "Your privacy code:"
in English to a shopper who had chosen Chinese or Arabic: the model's own English
``screen_lines`` went straight to the printer. The receipt is now worded from the
catalogue in the language the shopper chose, with the amounts formatted as the screen
formats them, and an Arabic receipt is laid out right to left with its amounts, card and
ids still reading left to right (checked with Qt's own bidirectional layout).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from PyQt6.QtGui import QFont, QTextLayout
from PyQt6.QtWidgets import QApplication
from test_kiosk_model import Lane, receipt

from facepay import EnrollmentResult, format_money
from kiosk_app.i18n import Language, Translator
from kiosk_app.model import (
    ChannelKind,
    EmailReceipt,
    Outcome,
    OutcomeKind,
    PrivacyReceipt,
    Screen,
    SmsReceipt,
)

# What the shopper must read, in each language (the amounts as the screen shows them).
EXPECTED = {
    Language.EN: ("Total: EUR 9.87", "Paid with: Visa •••• 4242", "Your privacy code: PC-SECRET-9"),
    Language.ZH: ("合计：EUR 9.87", "付款方式：Visa •••• 4242", "您的隐私代码：PC-SECRET-9"),
    Language.AR: ("المجموع:", "الدفع عبر:", "رمز الخصوصية:"),
}
_ENGLISH_LABELS = re.compile(r"Total|Paid with|Receipt|privacy code|Keep it private|face-pay")


def _paid_and_sent(tmp_path: Path, language: Language, kind: ChannelKind) -> tuple[str, str]:
    """Pay by face in ``language`` and send the receipt on ``kind``: (subject, text)."""
    lane = Lane(tmp_path)
    mails: list[tuple[str, str, str]] = []
    texts: list[tuple[str, str]] = []
    lane.m.channels[ChannelKind.EMAIL] = EmailReceipt(lambda *a: mails.append(a))
    lane.m.channels[ChannelKind.SMS] = SmsReceipt(lambda *a: texts.append(a))
    lane.m.set_language(language.value)
    lane.to_camera()
    lane.port.answers.append(receipt())
    lane.fx.face_answers()
    lane.m.done()
    assert lane.m.screen is Screen.RECEIPT
    address = {ChannelKind.EMAIL: "ana@shop.example", ChannelKind.SMS: "+4915112345678"}
    lane.m.send_receipt(kind, address.get(kind, ""))
    assert lane.notices()[-1] == "receipt.sent"
    if kind is ChannelKind.EMAIL:
        ((to, subject, body),) = mails
        assert to == "ana@shop.example"
        return subject, body
    if kind is ChannelKind.SMS:
        ((number, body),) = texts
        assert number == "+4915112345678"
        return "", body
    (printed,) = lane.printer.printed
    return "", printed.read_text(encoding="utf-8")


@pytest.mark.parametrize("kind", list(ChannelKind), ids=lambda k: k.value)
@pytest.mark.parametrize("language", list(Language), ids=lambda x: x.value)
def test_every_channel_sends_the_receipt_in_the_shoppers_language(
    tmp_path: Path, language: Language, kind: ChannelKind
) -> None:
    subject, text = _paid_and_sent(tmp_path, language, kind)
    plain = re.sub("[\u200f\u2066\u2068\u2069]", "", text)  # the directional marks
    for expected in EXPECTED[language]:
        assert expected in plain
    # The amounts exactly as the screen formats them (facepay.format_money).
    assert format_money(987, "EUR") in plain
    assert format_money(238, "EUR") in plain  # 2 x Bananas 1 kg
    assert "Visa •••• 4242" in plain
    assert "https://shop.example/privacy" in plain
    if language is not Language.EN:
        assert _ENGLISH_LABELS.findall(plain) == []
    if kind is ChannelKind.EMAIL:
        assert subject == Translator(language)("slip.subject")
        assert subject != "Your receipt" or language is Language.EN


def test_a_reprint_is_in_the_shoppers_language_without_the_code(tmp_path: Path) -> None:
    lane = Lane(tmp_path)
    lane.m.set_language("zh")
    lane.to_camera()
    lane.port.answers.append(receipt())
    lane.fx.face_answers()
    lane.m.done()
    lane.m.send_receipt(ChannelKind.PRINTED)
    lane.staff_in()
    lane.m.reprint()
    first, again = (p.read_text(encoding="utf-8") for p in lane.printer.printed)
    assert "PC-SECRET-9" in first
    assert "PC-SECRET-9" not in again
    assert "合计：EUR 9.87" in again


def _reads_right_to_left(line: str, values: list[str]) -> None:
    """Qt lays ``line`` out as a paragraph: its logical start is on the right (a
    right-to-left paragraph), and each value reads left to right in one piece."""
    layout = QTextLayout(line, QFont())
    layout.beginLayout()
    row = layout.createLine()
    row.setLineWidth(100_000)
    layout.endLayout()

    def x(i: int) -> float:
        return float(row.cursorToX(i)[0])

    assert x(0) > x(len(line)), f"laid out left to right: {line!r}"
    for value in values:
        start = line.index(value)
        xs = [x(start + i) for i in range(1, len(value))]  # inside it: no run boundary
        assert xs == sorted(xs), f"{value!r} does not read left to right in {line!r}"


def test_an_arabic_receipt_reads_right_to_left_with_its_amounts_left_to_right(
    qapp: QApplication, tmp_path: Path
) -> None:
    _, text = _paid_and_sent(tmp_path, Language.AR, ChannelKind.PRINTED)
    lines = [line for line in text.splitlines() if line]
    values = [
        "EUR 9.87",
        "EUR 2.38",
        "EUR 7.49",
        "Visa •••• 4242",
        "rcpt-1",
        "PC-SECRET-9",
        "https://shop.example/privacy",
        "Bananas 1 kg",
    ]
    assert len(lines) == 9  # two items, total, card, receipt number, the code's four lines
    for line in lines:
        _reads_right_to_left(line, [v for v in values if v in line])
    # The item line opens with its quantity, not a product name in another script.
    assert lines[0].startswith("\u200f2 ×")


def test_an_enrollment_receipt_holds_only_the_code_in_the_shoppers_language() -> None:
    enrolled = EnrollmentResult(
        shopper_id="s-1",
        privacy_code="PC-ENROL-1",
        masked_payment_method="Mastercard •••• 4444",
        enrolled_at=datetime.now(timezone.utc),
        retention_days=1095,
    )
    o = Outcome(kind=OutcomeKind.ENROLLED, enrollment=enrolled)
    r = PrivacyReceipt.of(o, sale_id="", language=Language.ZH)
    tr = Translator(Language.ZH)
    assert r.lines() == (
        tr("slip.privacy_code", code="PC-ENROL-1"),
        tr("slip.privacy_use"),
        tr("slip.privacy_page"),
        tr("slip.keep_private"),
    )

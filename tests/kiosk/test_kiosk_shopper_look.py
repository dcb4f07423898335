"""What the screenshots showed (scripts/screenshots.py under xvfb-run, every screen at
1024x768 and 1280x1024 in English, Chinese and Arabic, looked at one by one), each as a
test that would have caught it."""

from __future__ import annotations

import pytest
from PyQt6.QtGui import QColor, QFont, QTextLayout, QTextOption
from PyQt6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QCheckBox,
    QStyle,
    QStyleOptionButton,
)

from kiosk_app.app import apply_theme
from kiosk_app.i18n import Language, Translator
from kiosk_app.model import ChannelKind, OutcomeKind, StaffDirectory, StaffLogin
from kiosk_app.screens import ChoiceScreen, PrivacyScreen, ResultScreen
from kiosk_app.ui.gallery import SCREEN_TYPES
from kiosk_app.widgets import AMBER, RED, BigButton

RECEIPT_ID = "rcpt_7QK2M9XW4B"


def test_the_arabic_receipt_number_reads_from_the_right_label_first(qapp: QApplication) -> None:
    """Before: the result's receipt list is left to right (the POS's item lines), so
    "رقم الإيصال rcpt_..." was laid out label first on the left; read from the right, as
    Arabic is, the line began with the id."""
    tr = Translator(Language.AR)
    screen = ResultScreen(tr)
    screen.show_result(
        OutcomeKind.APPROVED,
        amount_text="EUR 2.38",
        lines=["2 x Bananas 1 kg  EUR 2.38"],
        receipt_id=RECEIPT_ID,
    )
    item = screen.receipt.item(screen.receipt.count() - 1)
    assert item is not None
    text = item.text()
    label = tr("result.receipt_number", number="").strip()
    # Laid out as the list lays it out: a paragraph in the list's own direction.
    option = QTextOption()
    option.setTextDirection(screen.receipt.layoutDirection())
    layout = QTextLayout(text, QFont())
    layout.setTextOption(option)
    layout.beginLayout()
    row = layout.createLine()
    row.setLineWidth(100_000)
    layout.endLayout()

    def x(i: int) -> float:
        return float(row.cursorToX(i)[0])

    # Inside each run (a run's edge is where two runs meet: one x for both).
    label_at, id_at = text.index(label) + 2, text.index(RECEIPT_ID) + 2
    assert x(label_at) > x(id_at), "the label must stand to the right of the id"
    ids = [x(id_at + i) for i in range(len(RECEIPT_ID) - 2)]
    assert ids == sorted(ids)  # the id itself reads left to right
    # (control) The item lines keep their left-to-right order, quantity first.
    first = screen.receipt.item(0)
    assert first is not None
    assert first.text().startswith("2 x Bananas")


@pytest.mark.parametrize("language", list(Language), ids=lambda x: x.value)
def test_every_pay_by_card_button_carries_the_card_icon(
    qapp: QApplication, language: Language
) -> None:
    """Before: the step-up screen's "Pay by card" was the one without its icon."""
    tr = Translator(language)
    words = {tr("result.try_card"), tr("choice.card")}
    found = []
    for screen_type in SCREEN_TYPES.values():
        screen = screen_type(tr)
        screen.retranslate()
        for b in screen.findChildren(BigButton):
            if b.text() in words:
                found.append(screen.name)
                assert not b.icon().isNull(), f"{screen.name}.{b.objectName()}"
    assert {"choice", "result", "step_up"} <= set(found)


def test_with_face_pay_paused_the_card_is_drawn_as_the_primary_action(
    qapp: QApplication,
) -> None:
    """Before: with face pay hidden the card stayed a grey secondary button beside an
    empty space."""
    apply_theme(qapp)
    screen = ChoiceScreen(Translator())
    screen.resize(1024, 768)
    screen.show_amount("EUR 35.66", False, lane_paused=True)
    screen.show()
    qapp.processEvents()
    card = screen.card_button
    assert card.property("role") == "primary"
    yellow = QColor("#FFC20E")
    assert card.grab().toImage().pixelColor(12, card.height() // 2) == yellow
    # Face pay back: the card is the second choice again, beside the primary face button.
    screen.show_amount("EUR 35.66", True)
    qapp.processEvents()
    assert card.property("role") != "primary"
    assert card.grab().toImage().pixelColor(12, card.height() // 2) != yellow
    assert screen.face_button.grab().toImage().pixelColor(12, 20) == yellow


def test_with_the_payment_service_down_the_card_is_the_primary_action_not_a_grey_face(
    qapp: QApplication,
) -> None:
    """Before: "Face pay is not available right now" over a greyed "Pay with my face"
    still outlined in the primary yellow, and a grey "Pay by card"."""
    apply_theme(qapp)
    screen = ChoiceScreen(Translator())
    screen.resize(1024, 768)
    screen.show_amount("EUR 35.66", False)
    screen.show()
    qapp.processEvents()
    yellow = QColor("#FFC20E")
    assert screen.card_button.grab().toImage().pixelColor(12, 20) == yellow
    face = screen.face_button.grab().toImage()
    border = [face.pixelColor(x, face.height() // 2) for x in range(6)]
    assert yellow not in border


def _inked(image_colours: list[QColor]) -> list[QColor]:
    return [c for c in image_colours if c.alpha() > 200]


@pytest.mark.parametrize("language", list(Language))
def test_a_payment_not_confirmed_yet_is_not_drawn_as_a_failure(
    qapp: QApplication, language: Language
) -> None:
    """Before: "Payment not confirmed yet ... please wait here, a member of staff will
    check it" stood under the same red cross as a declined payment, which reads "failed,
    walk away" to a shopper whose money may have moved. It is an amber clock now; a
    declined payment keeps its red cross (the control)."""
    apply_theme(qapp)
    tr = Translator(language)

    def icon_colours(kind: OutcomeKind) -> list[QColor]:
        screen = ResultScreen(tr)
        screen.show_result(kind, amount_text="EUR 2.38")
        image = screen.icon.pixmap().toImage()
        return _inked(
            [image.pixelColor(x, y) for x in range(image.width()) for y in range(image.height())]
        )

    unknown = icon_colours(OutcomeKind.PAYMENT_UNKNOWN)
    declined = icon_colours(OutcomeKind.DECLINED)
    assert unknown
    assert declined
    red = QColor(RED)
    amber = QColor(AMBER)

    def near(c: QColor, target: QColor) -> bool:
        return all(
            abs(a - b) < 40 for a, b in zip(c.getRgb()[:3], target.getRgb()[:3], strict=True)
        )

    assert not any(near(c, red) for c in unknown)
    assert all(near(c, amber) for c in unknown)
    assert all(near(c, red) for c in declined)


@pytest.mark.parametrize("channel", [ChannelKind.EMAIL, ChannelKind.SMS])
@pytest.mark.parametrize("language", list(Language))
def test_the_address_step_has_one_primary_action(
    qapp: QApplication, language: Language, channel: ChannelKind
) -> None:
    """Before: typing an e-mail address or a mobile number for the privacy code, Send
    and the full-width "No thanks" under it were both drawn in the primary yellow."""
    apply_theme(qapp)
    screen = PrivacyScreen(Translator(language))
    screen.offer()
    screen.resize(1024, 768)
    screen.show()
    screen.channel_buttons[channel].click()

    def primaries() -> list[str]:
        return [
            b.objectName() or b.text()
            for b in screen.findChildren(QAbstractButton)
            if b.isVisible() and b.property("role") == "primary"
        ]

    assert len(primaries()) == 1, primaries()
    assert "receipt_done" not in primaries()
    # Once the code is sent, "Done" is the one way on, and drawn so.
    screen.show_sent(channel)
    assert primaries() == ["receipt_done"]
    screen.close()


@pytest.mark.parametrize("language", list(Language))
def test_the_ticked_consent_box_shows_a_tick(qapp: QApplication, language: Language) -> None:
    """Before: ticking "I have read this and I agree" filled the box yellow and drew
    nothing in it, a yellow square that reads as "ticked" only to someone who sees the
    colour and saw the box empty before."""
    apply_theme(qapp)
    screen = SCREEN_TYPES["consent"](Translator(language))
    screen.resize(1024, 768)
    screen.show()
    box = screen.findChild(QCheckBox, "consent_box")
    assert box is not None
    option = QStyleOptionButton()
    box.initStyleOption(option)
    style = box.style()
    assert style is not None
    area = style.subElementRect(QStyle.SubElement.SE_CheckBoxIndicator, option, box)
    inner = area.adjusted(6, 6, -6, -6)  # inside the border

    def dark_inside() -> int:
        qapp.processEvents()
        image = box.grab().toImage()
        return sum(
            1
            for x in range(inner.left(), inner.right() + 1)
            for y in range(inner.top(), inner.bottom() + 1)
            if image.pixelColor(x, y).lightness() < 60
        )

    box.setChecked(False)
    empty = dark_inside()  # an empty box is dark inside: the control
    box.setChecked(True)
    image = box.grab().toImage()
    centre = image.pixelColor(inner.center().x() - inner.width() // 4, inner.top() + 2)
    assert centre.red() > 200, "the ticked box is filled with the theme's yellow"
    ticked = dark_inside()
    assert 0 < ticked < empty // 2, (ticked, empty)  # a drawn tick, not an empty box
    screen.close()


def test_no_card_reader_during_enrollment_says_so_not_pay_by_card(  # type: ignore[no-untyped-def]
    start_kiosk,
) -> None:
    """Before: "Link a card" with no card reader said "Something went wrong. Nothing was
    charged. Please pay by card or ask staff." to a shopper setting up face pay: nothing
    was being paid, and the card reader it sent them to was what had failed."""
    directory = StaffDirectory()
    directory.add("ana", "246813")
    with start_kiosk(staff=StaffLogin(directory)) as (c, _pos):
        for language in Language:
            c.set_language(language)
            c.link_card()
            text = c.enroll_card.notice.text()
            tr = Translator(language)
            assert text == tr("enroll.no_card_reader")
            assert text != tr("result.error")
        assert "pay by card" not in Translator(Language.EN)("enroll.no_card_reader").lower()

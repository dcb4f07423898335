"""Words a shopper or attendant reads in Chinese or Arabic are Chinese or Arabic.

Looking at the screenshots in every language found English on two screens whose words do
not come from the catalogue: the approved result's receipt list ("Total: ", "Paid with: ",
"Receipt: ", the model's own labels) and the attendant's time settings (" s").
"""

from __future__ import annotations

import re

import pytest
from PyQt6.QtWidgets import QApplication

from facepay import BasketLine, PaymentStatus, Receipt
from kiosk_app.app import apply_theme
from kiosk_app.i18n import Language, Translator
from kiosk_app.model import AttendantRequest, RequestKind, Sale, outcome_from_receipt
from kiosk_app.screens import AttendantScreen, ResultScreen
from kiosk_app.ui.gallery import SCREEN_TYPES, VARIANTS, stage
from kiosk_app.widgets import AddressKeyboard

SALE = Sale(
    sale_id="sale-1",
    lines=(BasketLine(sku="4011", description="Bananas 1 kg", quantity=2, unit_price_minor=119),),
    currency="EUR",
)
RECEIPT = Receipt(
    status=PaymentStatus.APPROVED,
    amount_minor=238,
    currency="EUR",
    basket_reference="sale-1",
    authorization_id="auth-1",
    idempotency_key="key-1",
    receipt_id="rcpt-1",
    masked_payment_method="Visa •••• 4242",
    privacy_code="PC-SECRET-9",
)
# English that may stand in any language: the POS's product names and money, a card's
# brand, ids, and the few names that are the same everywhere.
_PRODUCTS = "Bananas kg Coffee beans g Wholegrain bread Free range eggs x Sparkling water l Red"
_NAMES = "wine EUR Visa Mastercard PIN QR facepay sandbox https pay example English"
_CODES = "camera source_exhausted"  # the attendant's error list holds codes (docs/kiosk.md)
_ALLOWED = frozenset(f"{_PRODUCTS} {_NAMES} {_CODES}".split(" "))


@pytest.fixture
def themed(qapp: QApplication) -> QApplication:
    apply_theme(qapp)
    return qapp


def _english_words(text: str) -> list[str]:
    text = re.sub(r"rcpt[-_]\S+", "", text)  # a receipt number is an id, not a word
    return [w for w in re.findall(r"[A-Za-z][A-Za-z_]*", text) if w not in _ALLOWED]


@pytest.mark.parametrize("language", [Language.ZH, Language.AR], ids=lambda x: x.value)
def test_the_approved_receipt_list_speaks_the_shoppers_language(
    qtbot, themed: QApplication, language: Language
) -> None:  # type: ignore[no-untyped-def]
    screen = ResultScreen(Translator(language))
    qtbot.addWidget(screen)
    screen.show_outcome(outcome_from_receipt(RECEIPT, SALE))
    shown = [screen.receipt.item(i).text() for i in range(screen.receipt.count())]  # type: ignore[union-attr]
    # (The product name is an isolate: its direction controls end with it.)
    assert shown[0] == "2 x \u2068Bananas 1 kg\u2069  EUR 2.38"
    # (An Arabic line is a right-to-left isolate in the left-to-right list.)
    number = shown[-1].removeprefix("\u2067").removesuffix("\u2069")
    assert number == Translator(language)("result.receipt_number", number="rcpt-1")
    assert [line for line in shown if _english_words(line)] == []
    assert "PC-SECRET-9" not in " ".join(shown)


@pytest.mark.parametrize("language", [Language.ZH, Language.AR], ids=lambda x: x.value)
def test_the_attendants_time_settings_name_their_unit_in_the_staff_language(
    qtbot, themed: QApplication, language: Language
) -> None:  # type: ignore[no-untyped-def]
    screen = AttendantScreen(Translator(language))
    qtbot.addWidget(screen)
    screen.show_settings([], "0", "https://pay.example", {"capture_timeout_s": 20})
    suffix = screen.threshold_spins["capture_timeout_s"].suffix()
    assert suffix.strip() == Translator(language)("common.seconds_unit") != "s"
    screen.set_staff_language(Language.EN)
    assert screen.threshold_spins["capture_timeout_s"].suffix() == " s"


@pytest.mark.parametrize("language", [Language.ZH, Language.AR], ids=lambda x: x.value)
def test_no_staged_state_shows_english_outside_names_and_money(
    qtbot, themed: QApplication, language: Language
) -> None:  # type: ignore[no-untyped-def]
    """Every visible label, button, list and table cell of every gallery state."""
    from PyQt6.QtWidgets import QAbstractButton, QLabel, QListWidget, QTableWidget

    found = set()
    states = [(name, "", None) for name in SCREEN_TYPES]
    states += [(n, v, c) for n, changes in VARIANTS.items() for v, c in changes.items()]
    for name, variant, change in states:
        screen = stage(SCREEN_TYPES[name](Translator(language)))
        qtbot.addWidget(screen)
        if change is not None:
            change(screen)
        texts = []
        # The e-mail keyboard's keycaps are the letters of an address, not English words.
        keycaps = {b for k in screen.findChildren(AddressKeyboard) for b in k.key_buttons.values()}
        for w in screen.findChildren(QLabel) + screen.findChildren(QAbstractButton):
            if w.isVisibleTo(screen) and w not in keycaps:
                texts.append(w.text())
        for lst in screen.findChildren(QListWidget):
            if lst.isVisibleTo(screen):
                texts += [lst.item(i).text() for i in range(lst.count())]  # type: ignore[union-attr]
        for table in screen.findChildren(QTableWidget):
            if table.isVisibleTo(screen):
                for r in range(table.rowCount()):
                    for c in range(table.columnCount()):
                        item = table.item(r, c)
                        texts.append(item.text() if item is not None else "")
        for text in texts:
            for word in _english_words(text):
                found.add(f"{name}{'-' + variant if variant else ''}: {word!r} in {text!r}")
    assert not sorted(found), sorted(found)


def test_the_attendant_request_names_the_product_not_english_glue() -> None:
    """The checker above sees English: it is not blind."""
    assert _english_words("Total: EUR 2.38") == ["Total"]
    assert _english_words("2 x Bananas 1 kg  EUR 2.38") == []
    assert AttendantRequest(request_id=1, kind=RequestKind.CALLED, raised_at=0.0).kind.value


def test_arabic_quotes_with_arabic_quotation_marks() -> None:
    """ASCII quotes around an Arabic phrase were drawn at the wrong ends of the line."""
    from kiosk_app.i18n import CATALOGUES

    assert [k for k, v in CATALOGUES[Language.AR].items() if '"' in v] == []


@pytest.mark.parametrize("language", list(Language), ids=lambda x: x.value)
def test_a_linked_card_is_not_asked_for_again(
    qtbot, themed: QApplication, language: Language
) -> None:  # type: ignore[no-untyped-def]
    """After the card was read the enrollment screen still said "Tap your card on the
    reader" above "Card linked: Mastercard •••• 4444"."""
    from kiosk_app.screens import EnrollCardScreen

    screen = EnrollCardScreen(Translator(language))
    qtbot.addWidget(screen)
    screen.show()
    assert screen.prompt.isVisible()
    screen.show_linked("Mastercard •••• 4444")
    assert not screen.prompt.isVisible()
    assert screen.linked_label.isVisible()
    screen.reset()
    assert screen.prompt.isVisible()


def test_the_attendants_error_codes_read_left_to_right_in_arabic(
    qtbot, themed: QApplication
) -> None:  # type: ignore[no-untyped-def]
    from PyQt6.QtCore import Qt

    screen = AttendantScreen(Translator(Language.AR))
    qtbot.addWidget(screen)
    screen.setLayoutDirection(Qt.LayoutDirection.RightToLeft)
    screen.show_health(None, False, ["12:01:02  camera: source_exhausted"])
    assert screen.errors.layoutDirection() is Qt.LayoutDirection.LeftToRight
    assert screen.basket_list.layoutDirection() is Qt.LayoutDirection.LeftToRight

"""Icons are drawn by the kiosk, not taken from a font: a till's fonts vary, and the card
emoji drew as an empty box on a stock Debian till."""

from __future__ import annotations

import pytest
from PyQt6.QtWidgets import QAbstractButton, QApplication, QLabel

from kiosk_app.app import apply_theme
from kiosk_app.i18n import CATALOGUES, Language, Translator
from kiosk_app.screens import SCREEN_NAMES
from kiosk_app.ui.gallery import SCREEN_TYPES, stage
from kiosk_app.ui.icons import ICON_NAMES, icon_pixmap


def _symbol(ch: str) -> bool:
    # Arrows, technical symbols, dingbats and every emoji block: glyphs many fonts lack.
    return 0x2190 <= ord(ch) <= 0x2BFF or ord(ch) >= 0x1F000


@pytest.mark.parametrize("name", ICON_NAMES)
def test_every_icon_draws_something_in_its_colour(qapp: QApplication, name: str) -> None:
    image = icon_pixmap(name, 48, "#FFC20E").toImage()
    inked = [
        image.pixelColor(x, y)
        for x in range(image.width())
        for y in range(image.height())
        if image.pixelColor(x, y).alpha() > 200
    ]
    assert len(inked) > 48, name  # more than a dot: a drawn shape
    assert all(c.red() > 200 and c.blue() < 80 for c in inked), name  # amber, not a default


@pytest.mark.parametrize("language", list(Language))
def test_no_screen_text_relies_on_a_symbol_glyph(qapp: QApplication, language: Language) -> None:
    apply_theme(qapp)
    for key, text in CATALOGUES[language].items():
        assert not any(_symbol(ch) for ch in text), key
    for name in SCREEN_NAMES:
        screen = stage(SCREEN_TYPES[name](Translator(language)))
        for w in [*screen.findChildren(QAbstractButton), *screen.findChildren(QLabel)]:
            assert not any(_symbol(ch) for ch in w.text()), (name, w.objectName(), w.text())
        for button in ("card_tap", "enroll_tap", "pay_card", "pay_face", "back"):
            for b in screen.findChildren(QAbstractButton, button):
                assert not b.icon().isNull(), (name, button)

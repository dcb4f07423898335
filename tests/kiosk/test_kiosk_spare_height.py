"""On a display taller than the smallest, the spare height goes to the screen's body, never
to its words.

Looking at the screenshots at 1280x1024 found the enrollment's phone-number screen with its
title pushed down and a notice box four lines tall around one line of text: its keys had
stopped growing and nothing else in the body could take the height.
"""

from __future__ import annotations

import pytest
from PyQt6.QtWidgets import QApplication

from kiosk_app.app import apply_theme
from kiosk_app.i18n import Language, Translator
from kiosk_app.screens import SCREEN_NAMES
from kiosk_app.ui.gallery import DISPLAY_SIZES, SCREEN_TYPES, stage


@pytest.fixture
def themed(qapp: QApplication) -> QApplication:
    apply_theme(qapp)
    return qapp


@pytest.mark.parametrize("size", DISPLAY_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_a_notice_and_the_title_keep_their_own_height(
    qtbot, themed: QApplication, size: tuple[int, int]
) -> None:  # type: ignore[no-untyped-def]
    stretched = []
    for name in SCREEN_NAMES:
        screen = stage(SCREEN_TYPES[name](Translator(Language.EN)))
        qtbot.addWidget(screen)
        screen.show_notice("A member of staff is on the way.")
        screen.resize(*size)
        screen.show()
        QApplication.processEvents()
        notice, title = screen.notice, screen.title
        wanted = notice.heightForWidth(notice.width()) + 8
        if not screen.notice_in_header and notice.isVisible() and notice.height() > wanted:
            stretched.append(f"{name}: notice {notice.height()} px")
        # The header row is as tall as its buttons (70 px) when the title is one line.
        if title.isVisible() and title.height() > max(title.heightForWidth(title.width()), 70) + 8:
            stretched.append(f"{name}: title {title.height()} px")
        screen.close()
    assert not stretched

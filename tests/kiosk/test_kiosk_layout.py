"""Every screen at every supported display size in every language: nothing outside the
window, nothing overlapping, no clipped text.

The checks use Qt's own measures (size hints, ``heightForWidth``, ``QFontMetrics``) on the
real theme and fonts, so a label that would be cut on a till is cut here too.
"""

from __future__ import annotations

import itertools

import pytest
from PyQt6.QtCore import QPoint, QRect, Qt
from PyQt6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QApplication,
    QCheckBox,
    QComboBox,
    QLabel,
    QLineEdit,
    QProgressBar,
    QStackedWidget,
    QWidget,
)

from kiosk_app.app import apply_theme
from kiosk_app.i18n import Language, Translator
from kiosk_app.screens import SCREEN_NAMES
from kiosk_app.ui.gallery import DISPLAY_SIZES, SCREEN_TYPES, VARIANTS, stage
from kiosk_app.widgets import CameraView, ChallengeIcon

# Widgets a shopper reads or touches. Their Qt internals (a table's viewport, a combo's
# arrow) are checked by Qt, not here.
_LEAVES = (
    QLabel,
    QAbstractButton,
    QLineEdit,
    QComboBox,
    QProgressBar,
    QStackedWidget,
    QAbstractScrollArea,
    CameraView,
    ChallengeIcon,
)


def _leaves(window: QWidget) -> list[QWidget]:
    out = []
    for w in window.findChildren(QWidget):
        if not isinstance(w, _LEAVES) or not w.isVisibleTo(window):
            continue
        if w.width() <= 0 or w.height() <= 0:
            continue
        # Inside a scroll area the content scrolls: the scroll area itself is the leaf.
        parent = w.parentWidget()
        inside_scroll = False
        while parent is not None and parent is not window:
            if isinstance(parent, (QAbstractScrollArea, QComboBox)):
                inside_scroll = True
                break
            parent = parent.parentWidget()
        if not inside_scroll:
            out.append(w)
    return out


def _rect(w: QWidget, window: QWidget) -> QRect:
    return QRect(w.mapTo(window, QPoint(0, 0)), w.size())


def _breakable_anywhere(word: str) -> bool:
    # Chinese and Japanese break between any two characters; no space is needed.
    return any(ord(ch) >= 0x2E80 for ch in word)


def _clipped(w: QWidget) -> str:
    if isinstance(w, QLabel) and w.text():
        inner = w.contentsRect()
        if w.wordWrap():
            need = w.heightForWidth(w.width())
            if need > w.height():
                return f"needs {need} px high, has {w.height()}"
            words = [x for x in w.text().split() if not _breakable_anywhere(x)]
            widest = max((w.fontMetrics().horizontalAdvance(x) for x in words), default=0)
            if widest > inner.width():
                return f"a word needs {widest} px, has {inner.width()}"
        else:
            need = w.fontMetrics().horizontalAdvance(w.text())
            if need > inner.width():
                return f"needs {need} px wide, has {inner.width()}"
    if isinstance(w, (QAbstractButton, QCheckBox)) and w.text():
        hint = w.sizeHint()
        if hint.width() > w.width() or hint.height() > w.height():
            return f"needs {hint.width()}x{hint.height()}, has {w.width()}x{w.height()}"
    return ""


def layout_problems(window: QWidget) -> list[str]:
    problems = []
    bounds = window.rect()
    leaves = _leaves(window)
    for w in leaves:
        r = _rect(w, window)
        name = f"{type(w).__name__}({w.objectName() or getattr(w, 'text', lambda: '')()})"
        if not bounds.contains(r):
            problems.append(f"{name} outside the window: {r} not in {bounds}")
        why = _clipped(w)
        if why:
            problems.append(f"{name} clipped: {why}")
    for a, b in itertools.combinations(leaves, 2):
        if a.isAncestorOf(b) or b.isAncestorOf(a):
            continue
        if _rect(a, window).intersects(_rect(b, window)):
            first, second = (f"{type(w).__name__}({w.objectName()})" for w in (a, b))
            problems.append(f"{first} overlaps {second}")
    return problems


@pytest.fixture
def themed(qapp: QApplication) -> QApplication:
    apply_theme(qapp)
    return qapp


@pytest.mark.parametrize("language", list(Language), ids=lambda x: x.value)
@pytest.mark.parametrize("size", DISPLAY_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_every_screen_fits_the_display(
    qtbot, themed: QApplication, size: tuple[int, int], language: Language
) -> None:  # type: ignore[no-untyped-def]
    width, height = size
    direction = Qt.LayoutDirection.RightToLeft if language.rtl else Qt.LayoutDirection.LeftToRight
    problems = []
    for name in SCREEN_NAMES:
        screen = SCREEN_TYPES[name](Translator(language))
        qtbot.addWidget(screen)
        screen.setLayoutDirection(direction)
        stage(screen)
        screen.resize(width, height)
        screen.show()
        QApplication.processEvents()
        if (screen.width(), screen.height()) != (width, height):
            problems.append(f"{name}: needs at least {screen.width()}x{screen.height()}")
        problems += [f"{name}: {p}" for p in layout_problems(screen)]
        screen.close()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("language", list(Language), ids=lambda x: x.value)
@pytest.mark.parametrize("size", DISPLAY_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_every_second_state_fits_the_display(
    qtbot, themed: QApplication, size: tuple[int, int], language: Language
) -> None:  # type: ignore[no-untyped-def]
    """The states a screen changes into (a refused PIN's message, the PIN asked again, the
    PIN step-up, a payment settled as not charged ...) fit as the first ones do."""
    width, height = size
    direction = Qt.LayoutDirection.RightToLeft if language.rtl else Qt.LayoutDirection.LeftToRight
    problems = []
    for name, changes in VARIANTS.items():
        for variant, change in changes.items():
            screen = SCREEN_TYPES[name](Translator(language))
            qtbot.addWidget(screen)
            screen.setLayoutDirection(direction)
            stage(screen)
            change(screen)
            screen.resize(width, height)
            screen.show()
            QApplication.processEvents()
            if (screen.width(), screen.height()) != (width, height):
                problems.append(f"{name}-{variant}: needs {screen.width()}x{screen.height()}")
            problems += [f"{name}-{variant}: {p}" for p in layout_problems(screen)]
            screen.close()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("language", list(Language), ids=lambda x: x.value)
def test_the_consent_needs_no_scrolling_on_the_smallest_display(
    qtbot, themed: QApplication, language: Language
) -> None:  # type: ignore[no-untyped-def]
    """What is kept, where, how long and how to delete are all on the glass at once: a
    shopper should not have to find a scroll bar to read how to delete their data."""
    from PyQt6.QtWidgets import QScrollArea

    screen = SCREEN_TYPES["consent"](Translator(language))
    qtbot.addWidget(screen)
    stage(screen)
    screen.resize(*min(DISPLAY_SIZES))
    screen.show()
    QApplication.processEvents()
    (scroll,) = screen.findChildren(QScrollArea)
    assert scroll.verticalScrollBar().maximum() == 0


def test_the_checker_sees_a_clipped_label_and_an_overlap(qtbot, themed: QApplication) -> None:  # type: ignore[no-untyped-def]
    window = QWidget()
    qtbot.addWidget(window)
    window.resize(300, 200)
    cut = QLabel("A label far too long for the eighty pixels it was given", window)
    cut.setGeometry(0, 0, 80, 30)
    under = QLabel("x", window)
    under.setGeometry(10, 10, 40, 20)
    outside = QLabel("y", window)
    outside.setGeometry(280, 190, 60, 30)
    window.show()
    problems = "\n".join(layout_problems(window))
    assert "clipped" in problems
    assert "overlaps" in problems
    assert "outside the window" in problems


def test_all_screens_stacked_fit_the_smallest_display(qtbot, themed: QApplication) -> None:  # type: ignore[no-untyped-def]
    """The kiosk's window is a stack of every screen: it is as tall as its tallest one, so
    one screen that needs 905 px pushed Pay and Cancel off a 1280x800 display."""
    stack = QStackedWidget()
    qtbot.addWidget(stack)
    for language in Language:
        for name in SCREEN_NAMES:
            stack.addWidget(stage(SCREEN_TYPES[name](Translator(language))))
    need = stack.minimumSizeHint()
    width, height = min(DISPLAY_SIZES)
    assert need.width() <= width, need
    assert need.height() <= height, need

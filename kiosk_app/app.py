"""Qt application setup shared by the entry point, the tests and the screenshot script."""

from __future__ import annotations

import sys
from importlib import resources

from PyQt6.QtCore import QMessageLogContext, QtMsgType, qFormatLogMessage, qInstallMessageHandler
from PyQt6.QtGui import QFont, QGuiApplication
from PyQt6.QtWidgets import QApplication, QWidget

__all__ = [
    "HARMLESS_QT_MESSAGES",
    "apply_theme",
    "load_stylesheet",
    "quiet_harmless_qt_messages",
    "show_on_display",
]

# Qt messages that tell nobody anything they can act on, by their exact text (Qt logs them
# in its default category, so a logging rule could only silence every warning with them).
# The offscreen platform (CI, the screenshot script, the bench) has no window manager to
# hand a window's size hints to, and says so for every frameless window shown.
HARMLESS_QT_MESSAGES = frozenset({"This plugin does not support propagateSizeHints()"})


def load_stylesheet() -> str:
    return resources.files("kiosk_app").joinpath("theme.qss").read_text(encoding="utf-8")


def apply_theme(app: QApplication) -> None:
    """High-contrast theme and a font family list that covers Latin, Chinese and Arabic."""
    font = QFont()
    font.setFamilies(["DejaVu Sans", "Noto Sans", "Noto Sans CJK SC", "Droid Sans Fallback"])
    font.setPointSize(14)
    app.setFont(font)
    app.setStyleSheet(load_stylesheet())


def _qt_message(kind: QtMsgType, context: QMessageLogContext, message: str | None) -> None:
    if message is None or message in HARMLESS_QT_MESSAGES:
        return
    sys.stderr.write(qFormatLogMessage(kind, context, message) + "\n")


def quiet_harmless_qt_messages() -> None:
    """Drop :data:`HARMLESS_QT_MESSAGES`; every other Qt message reaches stderr as Qt's
    own handler would print it (a script calls this once; ``-v`` shows everything)."""
    qInstallMessageHandler(_qt_message)


def show_on_display(window: QWidget, *, fullscreen: bool, window_size: tuple[int, int]) -> None:
    """Full screen on the display the till has, with or without a window manager.

    ``showFullScreen`` alone asks the window manager; a till often runs none (X with only
    the kiosk), and the window then opened at its size hint (853x923 on a 1280x1024
    panel, labels cut). So the window is first given the whole screen's geometry.
    """
    screen = window.screen() or QGuiApplication.primaryScreen()
    if fullscreen and screen is not None:
        window.setGeometry(screen.geometry())
        window.showFullScreen()
        return
    window.resize(*window_size)
    window.show()

"""Qt application setup shared by the entry point, the tests and the screenshot script."""

from __future__ import annotations

from importlib import resources

from PyQt6.QtGui import QFont, QGuiApplication
from PyQt6.QtWidgets import QApplication, QWidget

__all__ = ["apply_theme", "load_stylesheet", "show_on_display"]


def load_stylesheet() -> str:
    return resources.files("kiosk_app").joinpath("theme.qss").read_text(encoding="utf-8")


def apply_theme(app: QApplication) -> None:
    """High-contrast theme and a font family list that covers Latin, Chinese and Arabic."""
    font = QFont()
    font.setFamilies(["DejaVu Sans", "Noto Sans", "Noto Sans CJK SC", "Droid Sans Fallback"])
    font.setPointSize(14)
    app.setFont(font)
    app.setStyleSheet(load_stylesheet())


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

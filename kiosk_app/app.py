"""Qt application setup shared by the entry point, the tests and the screenshot script."""

from __future__ import annotations

from importlib import resources

from PyQt6.QtGui import QFont
from PyQt6.QtWidgets import QApplication

__all__ = ["apply_theme", "load_stylesheet"]


def load_stylesheet() -> str:
    return resources.files("kiosk_app").joinpath("theme.qss").read_text(encoding="utf-8")


def apply_theme(app: QApplication) -> None:
    """High-contrast theme and a font family list that covers Latin, Chinese and Arabic."""
    font = QFont()
    font.setFamilies(["DejaVu Sans", "Noto Sans", "Noto Sans CJK SC", "Droid Sans Fallback"])
    font.setPointSize(14)
    app.setFont(font)
    app.setStyleSheet(load_stylesheet())

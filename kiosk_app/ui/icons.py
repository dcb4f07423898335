"""Icons drawn with QPainter, so they look the same on every till whatever fonts it has.

An emoji or a symbol glyph depends on the fonts installed: on a stock Debian till the card
emoji drew as an empty box. These are line drawings in the theme's colours, made at the
size asked for and cached per (name, size, colour).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from PyQt6.QtCore import QPointF, QRectF, Qt
from PyQt6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap

__all__ = ["ICON_NAMES", "draw_icon", "icon", "icon_pixmap"]


def _card(p: QPainter, s: float) -> None:
    body = QRectF(s * 0.1, s * 0.22, s * 0.8, s * 0.56)
    p.drawRoundedRect(body, s * 0.07, s * 0.07)
    p.drawLine(QPointF(s * 0.1, s * 0.38), QPointF(s * 0.9, s * 0.38))
    p.drawLine(QPointF(s * 0.2, s * 0.62), QPointF(s * 0.45, s * 0.62))


def _back(p: QPainter, s: float) -> None:
    p.drawLine(QPointF(s * 0.2, s * 0.5), QPointF(s * 0.82, s * 0.5))
    p.drawLine(QPointF(s * 0.2, s * 0.5), QPointF(s * 0.45, s * 0.25))
    p.drawLine(QPointF(s * 0.2, s * 0.5), QPointF(s * 0.45, s * 0.75))


def _forward(p: QPainter, s: float) -> None:
    # Back in a right-to-left language points right.
    p.translate(s, 0)
    p.scale(-1, 1)
    _back(p, s)


def _backspace(p: QPainter, s: float) -> None:
    path = QPainterPath()
    path.moveTo(s * 0.08, s * 0.5)
    path.lineTo(s * 0.32, s * 0.22)
    path.lineTo(s * 0.9, s * 0.22)
    path.lineTo(s * 0.9, s * 0.78)
    path.lineTo(s * 0.32, s * 0.78)
    path.closeSubpath()
    p.drawPath(path)
    p.drawLine(QPointF(s * 0.48, s * 0.36), QPointF(s * 0.74, s * 0.64))
    p.drawLine(QPointF(s * 0.74, s * 0.36), QPointF(s * 0.48, s * 0.64))


def _attendant(p: QPainter, s: float) -> None:
    # A person with a hand raised: "call someone over".
    p.drawEllipse(QPointF(s * 0.36, s * 0.26), s * 0.13, s * 0.13)
    body = QPainterPath()
    body.moveTo(s * 0.1, s * 0.92)
    body.cubicTo(s * 0.1, s * 0.5, s * 0.62, s * 0.5, s * 0.62, s * 0.92)
    p.drawPath(body)
    p.drawLine(QPointF(s * 0.56, s * 0.6), QPointF(s * 0.8, s * 0.28))
    p.drawLine(QPointF(s * 0.8, s * 0.28), QPointF(s * 0.8, s * 0.1))


def _tick(p: QPainter, s: float) -> None:
    p.drawLine(QPointF(s * 0.16, s * 0.52), QPointF(s * 0.4, s * 0.76))
    p.drawLine(QPointF(s * 0.4, s * 0.76), QPointF(s * 0.86, s * 0.24))


def _cross(p: QPainter, s: float) -> None:
    p.drawLine(QPointF(s * 0.22, s * 0.22), QPointF(s * 0.78, s * 0.78))
    p.drawLine(QPointF(s * 0.78, s * 0.22), QPointF(s * 0.22, s * 0.78))


def _face(p: QPainter, s: float) -> None:
    p.drawEllipse(QRectF(s * 0.22, s * 0.1, s * 0.56, s * 0.8))
    p.drawPoint(QPointF(s * 0.4, s * 0.4))
    p.drawPoint(QPointF(s * 0.6, s * 0.4))
    p.drawArc(QRectF(s * 0.38, s * 0.5, s * 0.24, s * 0.2), 200 * 16, 140 * 16)


def _printer(p: QPainter, s: float) -> None:
    p.drawRect(QRectF(s * 0.28, s * 0.12, s * 0.44, s * 0.24))
    p.drawRoundedRect(QRectF(s * 0.1, s * 0.36, s * 0.8, s * 0.34), s * 0.05, s * 0.05)
    p.drawRect(QRectF(s * 0.28, s * 0.58, s * 0.44, s * 0.3))


def _mail(p: QPainter, s: float) -> None:
    p.drawRect(QRectF(s * 0.1, s * 0.24, s * 0.8, s * 0.52))
    p.drawLine(QPointF(s * 0.1, s * 0.24), QPointF(s * 0.5, s * 0.54))
    p.drawLine(QPointF(s * 0.9, s * 0.24), QPointF(s * 0.5, s * 0.54))


def _phone(p: QPainter, s: float) -> None:
    p.drawRoundedRect(QRectF(s * 0.3, s * 0.08, s * 0.4, s * 0.84), s * 0.06, s * 0.06)
    p.drawLine(QPointF(s * 0.44, s * 0.8), QPointF(s * 0.56, s * 0.8))


def _lock(p: QPainter, s: float) -> None:
    p.drawRoundedRect(QRectF(s * 0.2, s * 0.44, s * 0.6, s * 0.46), s * 0.05, s * 0.05)
    p.drawArc(QRectF(s * 0.3, s * 0.12, s * 0.4, s * 0.64), 0, 180 * 16)


def _wait(p: QPainter, s: float) -> None:
    # A clock at ten past: "not known yet, wait", neither a tick nor a cross.
    p.drawEllipse(QRectF(s * 0.14, s * 0.14, s * 0.72, s * 0.72))
    p.drawLine(QPointF(s * 0.5, s * 0.5), QPointF(s * 0.5, s * 0.27))
    p.drawLine(QPointF(s * 0.5, s * 0.5), QPointF(s * 0.66, s * 0.6))


_PAINTERS: dict[str, Callable[[QPainter, float], None]] = {
    "attendant": _attendant,
    "back": _back,
    "backspace": _backspace,
    "card": _card,
    "cross": _cross,
    "face": _face,
    "forward": _forward,
    "lock": _lock,
    "mail": _mail,
    "phone": _phone,
    "printer": _printer,
    "tick": _tick,
    "wait": _wait,
}
ICON_NAMES: tuple[str, ...] = tuple(sorted(_PAINTERS))


def draw_icon(p: QPainter, name: str, size: float, colour: QColor) -> None:
    """Draw icon ``name`` into a ``size`` x ``size`` square at the painter's origin."""
    p.save()
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    pen = QPen(colour, max(2.0, size / 12))
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    p.setPen(pen)
    p.setBrush(Qt.BrushStyle.NoBrush)
    _PAINTERS[name](p, size)
    p.restore()


@cache
def icon_pixmap(name: str, size: int = 48, colour: str = "#FFFFFF") -> QPixmap:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    p = QPainter(pixmap)
    draw_icon(p, name, float(size), QColor(colour))
    p.end()
    return pixmap


def icon(name: str, size: int = 48, colour: str = "#FFFFFF") -> QIcon:
    result = QIcon(icon_pixmap(name, size, colour))
    # The disabled look comes from the theme's grey, not Qt's automatic washed-out copy.
    result.addPixmap(icon_pixmap(name, size, "#9AA4AE"), QIcon.Mode.Disabled)
    return result

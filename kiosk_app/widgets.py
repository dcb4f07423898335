"""Reusable kiosk widgets: big buttons, a number keypad, an e-mail keyboard, the camera view
with its oval guide, and the liveness challenge icon.

Everything here is drawn by Qt from plain data; nothing keeps a frame longer than the one
currently on screen, and :meth:`CameraView.clear` drops even that.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable

from PyQt6.QtCore import QPointF, QRectF, QSize, Qt, pyqtSignal
from PyQt6.QtGui import (
    QColor,
    QImage,
    QInputMethodEvent,
    QKeyEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QPixmap,
)
from PyQt6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QStyle,
    QStyleOptionButton,
    QVBoxLayout,
    QWidget,
)

from facepay import QualityConfig
from kiosk_app.i18n import Translator
from kiosk_app.ui.icons import draw_icon, icon

__all__ = [
    "AddressKeyboard",
    "BigButton",
    "CameraView",
    "ChallengeIcon",
    "Keypad",
    "TickBox",
    "label",
    "plain_label",
]

AMBER = QColor("#FFC20E")
GREEN = QColor("#3DDC84")
WHITE = QColor("#FFFFFF")
RED = QColor("#FF6B6B")

# What the keypads hold: the ASCII digits the till and the backend expect.
_ASCII_DIGITS = frozenset("0123456789")
# An input method's commit is a word or a phrase, not a paste: beyond an address's length
# the rest is not read at all.
_MOST_TYPED_AT_ONCE = 256


class TickBox(QCheckBox):
    """A check box whose ticked state shows a tick, not only a colour.

    The theme fills a ticked box yellow; on its own that was a yellow square, which a
    shopper who does not see the colour (or who never saw the box empty) cannot read as
    "ticked". The tick is drawn over the theme's box in the background colour.
    """

    def paintEvent(self, event: QPaintEvent | None) -> None:  # noqa: N802 (Qt API)
        super().paintEvent(event)
        if not self.isChecked():
            return
        option = QStyleOptionButton()
        self.initStyleOption(option)
        style = self.style()
        if style is None:
            return
        box = style.subElementRect(QStyle.SubElement.SE_CheckBoxIndicator, option, self)
        side = float(min(box.width(), box.height()))
        p = QPainter(self)
        p.translate(box.x() + (box.width() - side) / 2, box.y() + (box.height() - side) / 2)
        draw_icon(p, "tick", side, QColor("#101418"))
        p.end()


def plain_label() -> QLabel:
    """A label that shows its text as it is: Qt's default (``AutoText``) draws a text that
    looks like HTML as rich text, so an answer's ``<img src=...>`` or ``<h1>`` would be
    rendered, and could load a file, instead of read."""
    widget = QLabel()
    widget.setTextFormat(Qt.TextFormat.PlainText)
    return widget


def label(object_name: str = "", *, wrap: bool = True, center: bool = True) -> QLabel:
    """A label styled by the theme through its object name (title, subtitle, prompt ...)."""
    widget = plain_label()
    if object_name:
        widget.setObjectName(object_name)
    widget.setWordWrap(wrap)
    if center:
        widget.setAlignment(Qt.AlignmentFlag.AlignCenter)
    return widget


class BigButton(QPushButton):
    """A touch-sized button whose accessible name follows its visible text."""

    def __init__(self, role: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        if role:
            self.setProperty("role", role)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setAutoDefault(True)

    def set_label(self, text: str, accessible: str | None = None) -> None:
        self.setText(text)
        self.setAccessibleName(accessible or text)

    def keyPressEvent(self, event: QKeyEvent | None) -> None:  # noqa: N802 (Qt API)
        # Enter/Return press the focused button too (Qt only binds Space by default).
        if event is not None and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.click()
            return
        super().keyPressEvent(event)


class _KeyDisplay(QLineEdit):
    """A keypad's display: the keys a till's keyboard presses on it go to the keypad first
    (``on_key`` returns True for a key it took or dropped); the rest (Tab, Escape...) are
    the line edit's. An override, not an event filter on the display: a filter is called
    for the display's focus and hide events while its keypad is being destroyed, which
    crashed the interpreter in a test's teardown."""

    def __init__(self, on_key: Callable[[QKeyEvent], bool], on_text: Callable[[str], None]) -> None:
        super().__init__()
        self._on_key = on_key
        self._on_text = on_text

    def keyPressEvent(self, event: QKeyEvent | None) -> None:  # noqa: N802 (Qt API)
        if event is not None and self._on_key(event):
            return
        super().keyPressEvent(event)

    def inputMethodEvent(self, event: QInputMethodEvent | None) -> None:  # noqa: N802 (Qt API)
        # An input method (a virtual keyboard, a Chinese one) commits text straight into a
        # line edit, read-only or not: the display then showed what it committed (emoji,
        # a 10,000-character string) beside digits it did not hold. Its text is typed,
        # character by character, through the keypad's own rules instead.
        if event is not None:
            self._on_text(event.commitString())
            event.accept()


class _KeyboardTypesIn:
    """A till's keyboard, if it has one, types into an on-screen keypad. A key
    :meth:`typed_key` takes is pressed on the keypad; Backspace, Delete and Enter are its
    backspace, clear and submit keys; Tab, Escape and the rest go on to the display and the
    screen; other printable characters are dropped."""

    def typed_key(self, text: str) -> str | None:
        raise NotImplementedError

    def press(self, key: str) -> None:
        raise NotImplementedError

    def backspace(self) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        raise NotImplementedError

    def _submit(self) -> None:
        raise NotImplementedError

    def text_typed(self, text: str) -> None:
        """Text an input method committed: each character a key would press is pressed."""
        for ch in text[:_MOST_TYPED_AT_ONCE]:
            pressed = self.typed_key(ch)
            if pressed is not None:
                self.press(pressed)

    def key_pressed(self, event: QKeyEvent) -> bool:
        """Handle a key pressed on the display; True when it is taken (or dropped)."""
        key, text = event.key(), event.text()
        pressed = self.typed_key(text)
        if pressed is not None:
            self.press(pressed)
        elif key == Qt.Key.Key_Backspace:
            self.backspace()
        elif key == Qt.Key.Key_Delete:
            self.reset()
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._submit()
        else:
            return bool(text) and text.isprintable()
        return True


class Keypad(_KeyboardTypesIn, QWidget):
    """A phone-style keypad with its own display. Typing on a keyboard works too.

    The display never shows what was typed in full: the screen is shared, and the shopper
    behind sees it too. ``reveal_last`` digits stay readable so the shopper can check the
    end of what they typed (2 for a phone number, 0 for a PIN or step-up digits).
    ``submitted`` carries the digits when the shopper presses the submit button or Enter.
    """

    submitted = pyqtSignal(str)
    changed = pyqtSignal(str)

    def __init__(
        self,
        *,
        max_digits: int = 15,
        reveal_last: int = 2,
        submit_below: bool = True,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._max = max_digits
        self._min = 1
        self._reveal = reveal_last
        self._digits = ""
        self.display = _KeyDisplay(self.key_pressed, self.text_typed)
        self.display.setObjectName("keypad_display")
        self.display.setAlignment(Qt.AlignmentFlag.AlignCenter)
        # Read-only: the digits live here, the display only ever holds the masked form.
        self.display.setReadOnly(True)
        self.display.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.display.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)
        self.display.setLayoutDirection(Qt.LayoutDirection.LeftToRight)  # digits read LTR
        grid = QGridLayout()
        grid.setSpacing(10)
        self.digit_buttons: dict[str, BigButton] = {}
        for i, d in enumerate("123456789"):
            b = BigButton("key")
            b.setText(d)
            b.clicked.connect(lambda _=False, d=d: self.press(d))
            grid.addWidget(b, i // 3, i % 3)
            self.digit_buttons[d] = b
        self.clear_button = BigButton("key")
        self.clear_button.setObjectName("keypad_clear")
        self.clear_button.clicked.connect(self.reset)
        zero = BigButton("key")
        zero.setText("0")
        zero.clicked.connect(lambda: self.press("0"))
        self.digit_buttons["0"] = zero
        self.delete_button = BigButton("key")
        self.delete_button.setIcon(icon("backspace", 40))
        self.delete_button.setIconSize(QSize(40, 40))
        self.delete_button.clicked.connect(self.backspace)
        grid.addWidget(self.clear_button, 3, 0)
        grid.addWidget(zero, 3, 1)
        grid.addWidget(self.delete_button, 3, 2)
        # A screen short of height (1024x768) puts the submit button beside the keys.
        self.submit_button = BigButton("primary")
        self.submit_button.setObjectName("keypad_submit")
        self.submit_button.clicked.connect(self._submit)
        self.submit_button.setEnabled(False)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.display)
        keys = QWidget()
        keys.setLayout(grid)
        keys.setLayoutDirection(Qt.LayoutDirection.LeftToRight)  # 1-2-3 stays left to right
        box.addWidget(keys)
        if submit_below:
            box.addWidget(self.submit_button)

    def retranslate(self, tr: Translator, submit_text: str) -> None:
        for d, b in self.digit_buttons.items():
            b.setAccessibleName(tr("common.digit", digit=d))
        self.clear_button.set_label(tr("common.clear"))
        self.delete_button.setAccessibleName(tr("common.delete"))
        self.delete_button.setToolTip(tr("common.delete"))
        self.submit_button.set_label(submit_text)
        self.display.setAccessibleName(tr("common.keypad"))

    def set_maximum(self, digits: int) -> None:
        self._max = digits

    def set_minimum(self, digits: int) -> None:
        self._min = max(1, digits)
        self._set(self._digits)

    def set_reveal_last(self, count: int) -> None:
        self._reveal = max(0, count)
        self._set(self._digits)

    def press(self, digit: str) -> None:
        if digit in _ASCII_DIGITS and len(digit) == 1 and len(self._digits) < self._max:
            self._set(self._digits + digit)

    def backspace(self) -> None:
        self._set(self._digits[:-1])

    def digits(self) -> str:
        return self._digits

    def reset(self) -> None:
        self._set("")

    def masked(self) -> str:
        """What the display shows: dots, then the last ``reveal_last`` digits."""
        n = len(self._digits)
        shown = min(self._reveal, n)
        return "\u2022" * (n - shown) + (self._digits[n - shown :] if shown else "")

    def typed_key(self, text: str) -> str | None:
        """A keyboard's digit is pressed as a key, a decimal digit of another script (an
        Arabic keyboard's ٣, a full-width ３) as the same digit; letters, and characters
        Python calls digits that are not decimal ones (², ①), are dropped."""
        if len(text) != 1 or not text.isdecimal():
            return None
        return str(unicodedata.decimal(text))

    def _set(self, digits: str) -> None:
        self._digits = digits
        self.display.setText(self.masked())
        self.submit_button.setEnabled(len(digits) >= self._min)
        self.changed.emit(digits)

    def _submit(self) -> None:
        if len(self._digits) >= self._min:
            self.submitted.emit(self._digits)


class AddressKeyboard(_KeyboardTypesIn, QWidget):
    """An on-screen keyboard for an e-mail address: a till has no keyboard of its own.

    Letters, digits and the characters an address needs (``@ . - _ +``), a backspace and a
    clear key, in the same big keys as :class:`Keypad`. The keys keep one left-to-right
    order in every language (an address is typed left to right, also on a mirrored Arabic
    screen), and so does the display. Unlike the phone keypad the display shows the whole
    address: a receipt sent to a mistyped address is lost, so the shopper must be able to
    check every character (an address is not a secret the way a PIN is; the screen clears
    it when the shopper leaves). A keyboard, if the till has one, types into it too.
    """

    changed = pyqtSignal(str)
    submitted = pyqtSignal(str)

    ROWS = ("1234567890", "qwertyuiop@", "asdfghjkl.-", "zxcvbnm_+")
    CHARACTERS = frozenset("".join(ROWS))
    MAX_LENGTH = 254  # RFC 5321's longest forward path, less its angle brackets

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._text = ""
        self.display = _KeyDisplay(self.key_pressed, self.text_typed)
        self.display.setObjectName("keyboard_display")
        self.display.setReadOnly(True)
        self.display.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.display.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)
        self.display.setLayoutDirection(Qt.LayoutDirection.LeftToRight)  # addresses read LTR
        self.display.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        # Send sits beside the address, not under the keys: four rows of keys leave no
        # height for another row on a 1024x768 display.
        self.submit_button = BigButton("primary")
        self.submit_button.setObjectName("keyboard_submit")
        self.submit_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.submit_button.clicked.connect(self._submit)
        self.submit_button.setEnabled(False)
        grid = QGridLayout()
        grid.setSpacing(6)
        self.key_buttons: dict[str, BigButton] = {}
        for row, row_keys in enumerate(self.ROWS):
            for col, key in enumerate(row_keys):
                b = BigButton("letter")
                b.setText(key)
                b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
                b.clicked.connect(lambda _=False, k=key: self.press(k))
                grid.addWidget(b, row, col)
                self.key_buttons[key] = b
        self.delete_button = BigButton("letter")
        self.delete_button.setObjectName("keyboard_delete")
        self.delete_button.setIcon(icon("backspace", 36))
        self.delete_button.setIconSize(QSize(36, 36))
        self.delete_button.clicked.connect(self.backspace)
        grid.addWidget(self.delete_button, 0, len(self.ROWS[0]))
        self.clear_button = BigButton("letter")
        self.clear_button.setObjectName("keyboard_clear")
        self.clear_button.clicked.connect(self.reset)
        last = len(self.ROWS[-1])
        grid.addWidget(self.clear_button, len(self.ROWS) - 1, last, 1, 11 - last)
        keys = QWidget()
        keys.setLayout(grid)
        keys.setLayoutDirection(Qt.LayoutDirection.LeftToRight)  # q-w-e stays left to right
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(8)
        entry = QHBoxLayout()
        entry.addWidget(self.display, 1)
        entry.addWidget(self.submit_button)
        box.addLayout(entry)
        box.addWidget(keys)

    def retranslate(self, tr: Translator, submit_text: str) -> None:
        self.submit_button.set_label(submit_text)
        for key, b in self.key_buttons.items():
            b.setAccessibleName(tr("common.key", char=key))
        self.delete_button.setAccessibleName(tr("common.delete"))
        self.delete_button.setToolTip(tr("common.delete"))
        self.clear_button.set_label(tr("common.clear"))
        self.display.setAccessibleName(tr("privacy.address.email"))

    def press(self, key: str) -> None:
        if key in self.CHARACTERS and len(self._text) < self.MAX_LENGTH:
            self._set(self._text + key)

    def backspace(self) -> None:
        self._set(self._text[:-1])

    def reset(self) -> None:
        self._set("")

    def text(self) -> str:
        return self._text

    def typed_key(self, text: str) -> str | None:
        """A keyboard's letter, digit or address character is pressed as that key (lower
        case); other characters are dropped."""
        text = text.lower()
        return text if len(text) == 1 and text in self.CHARACTERS else None

    def looks_like_an_address(self) -> bool:
        """Something before and after one ``@``: the mail gateway judges the rest."""
        local, at, domain = self._text.partition("@")
        return bool(local and at and domain and "@" not in domain)

    def _set(self, text: str) -> None:
        self._text = text
        self.display.setText(text)
        self.submit_button.setEnabled(self.looks_like_an_address())
        self.changed.emit(text)

    def _submit(self) -> None:
        if self.looks_like_an_address():
            self.submitted.emit(self._text)


# The frame shape assumed before the first frame arrives (most till cameras are 16:9).
_DEFAULT_ASPECT = 16 / 9


class CameraView(QWidget):
    """The live preview, mirrored like a mirror, with the oval the face must be in.

    The whole frame is shown (letterboxed, never cropped): a cropped preview hid an
    off-centre face half out of view while the camera still saw it. The oval is drawn in
    the frame's own coordinates where facepay's quality gate accepts a face's centre
    (``QualityConfig.max_centre_offset`` of half the frame each way), so a face inside
    the oval is never refused for placement, and a face the gate accepts is never shown
    beside it. White while looking, amber while the shopper must adjust, green when good.
    """

    def __init__(
        self, parent: QWidget | None = None, *, max_centre_offset: float | None = None
    ) -> None:
        super().__init__(parent)
        if max_centre_offset is None:
            max_centre_offset = QualityConfig().max_centre_offset or 1.0
        self._centre_offset = max_centre_offset
        self._image: QImage | None = None
        self._state = "looking"
        self.setMinimumSize(QSize(480, 360))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAccessibleName("camera preview")
        self.frames_shown = 0
        self._overlay_pixmap: QPixmap | None = None
        self._overlay_key: tuple[int, int, str, int, int] | None = None

    def show_image(self, image: QImage) -> None:
        self._image = image
        self.frames_shown += 1
        self.update()

    def image(self) -> QImage | None:
        """The frame on screen (to carry it from one camera screen to the next)."""
        return self._image

    def set_max_centre_offset(self, offset: float) -> None:
        """The till's ``QualityConfig.max_centre_offset``: where the gate accepts a face."""
        self._centre_offset = offset
        self._overlay_key = None
        self.update()

    def image_rect(self) -> QRectF:
        """Where the whole frame is drawn: as large as fits, centred, never cropped."""
        w, h = float(self.width()), float(self.height())
        img = self._image
        aspect = img.width() / img.height() if img is not None and img.height() else _DEFAULT_ASPECT
        tw, th = (w, w / aspect) if w / h < aspect else (h * aspect, h)
        return QRectF((w - tw) / 2, (h - th) / 2, tw, th)

    def set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.update()

    @property
    def state(self) -> str:
        return self._state

    def clear(self) -> None:
        """Forget the last frame (called on every exit from a camera screen)."""
        self._image = None
        self.update()

    def has_image(self) -> bool:
        return self._image is not None

    def oval_rect(self) -> QRectF:
        """The ellipse inscribed in the gate's accepted box for the face centre."""
        frame = self.image_rect()
        ow, oh = frame.width() * self._centre_offset, frame.height() * self._centre_offset
        c = frame.center()
        return QRectF(c.x() - ow / 2, c.y() - oh / 2, ow, oh)

    def paintEvent(self, event: QPaintEvent | None) -> None:  # noqa: N802 (Qt API)
        # Runs for every camera frame on the UI thread: the frame is drawn unscaled-smooth
        # (fast transform) and the dimmed surround + oval come from a cached pixmap, so a
        # paint costs a blit and a scale instead of a path subtraction per frame.
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#000000"))
        if self._image is not None and not self._image.isNull():
            img = self._image
            target = self.image_rect()
            p.save()
            # Mirror horizontally: shoppers expect a selfie view (move left, image moves left).
            p.translate(self.width(), 0)
            p.scale(-1, 1)
            p.drawImage(target, img)
            p.restore()
        p.drawPixmap(0, 0, self._overlay())
        p.end()

    def _overlay(self) -> QPixmap:
        frame = self.image_rect()
        key = (
            self.width(),
            self.height(),
            self._state,
            round(frame.width()),
            round(frame.height()),
        )
        if self._overlay_key != key or self._overlay_pixmap is None:
            pixmap = QPixmap(self.size())
            pixmap.fill(Qt.GlobalColor.transparent)
            p = QPainter(pixmap)
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            oval = self.oval_rect()
            dim = QPainterPath()
            dim.addRect(QRectF(self.rect()))
            hole = QPainterPath()
            hole.addEllipse(oval)
            p.fillPath(dim.subtracted(hole), QColor(0, 0, 0, 150))
            colour = {"good": GREEN, "adjust": AMBER, "error": RED}.get(self._state, WHITE)
            p.setPen(QPen(colour, 8))
            p.drawEllipse(oval)
            p.end()
            self._overlay_pixmap, self._overlay_key = pixmap, key
        return self._overlay_pixmap


class ChallengeIcon(QWidget):
    """A simple drawn face showing what to do: blink, turn, look up/down, nod, smile.

    Drawn, not an emoji, so it looks the same on every till's fonts. Directions are the
    shopper's own (the preview is mirrored, so "your left" points to the screen's left).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._challenge = ""
        self.setMinimumSize(QSize(160, 160))
        self.setAccessibleName("challenge icon")

    def set_challenge(self, challenge: str) -> None:
        self._challenge = challenge
        self.update()

    def paintEvent(self, event: QPaintEvent | None) -> None:  # noqa: N802 (Qt API)
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        s = min(self.width(), self.height()) * 0.8
        cx, cy = self.width() / 2, self.height() / 2
        head = QRectF(cx - s * 0.32, cy - s * 0.4, s * 0.64, s * 0.8)
        p.setPen(QPen(WHITE, max(3.0, s / 30)))
        p.drawEllipse(head)
        c = self._challenge
        # The features move the way the head should: a glance at the icon says where.
        shift_x = {"turn_left": -1, "turn_right": 1}.get(c, 0) * s * 0.09
        shift_y = {"look_up": -1, "look_down": 1}.get(c, 0) * s * 0.07
        cx, cy = cx + shift_x, cy + shift_y
        ey = cy - s * 0.1
        for ex in (cx - s * 0.12, cx + s * 0.12):
            if c == "blink":
                p.drawLine(QPointF(ex - s * 0.06, ey), QPointF(ex + s * 0.06, ey))
            else:
                p.setBrush(WHITE)
                p.drawEllipse(QPointF(ex, ey), s * 0.03, s * 0.03)
                p.setBrush(Qt.BrushStyle.NoBrush)
        mouth = QRectF(cx - s * 0.12, cy + s * 0.08, s * 0.24, s * 0.14)
        if c == "smile":
            p.drawArc(mouth, 200 * 16, 140 * 16)
        elif c == "open_mouth":
            p.drawEllipse(QRectF(cx - s * 0.06, cy + s * 0.12, s * 0.12, s * 0.14))
        else:
            p.drawLine(QPointF(cx - s * 0.08, cy + s * 0.18), QPointF(cx + s * 0.08, cy + s * 0.18))
        cx, cy = cx - shift_x, cy - shift_y
        p.setPen(QPen(AMBER, max(4.0, s / 22)))
        arrows = {
            "turn_left": [(-1, 0)],
            "turn_right": [(1, 0)],
            "look_up": [(0, -1)],
            "look_down": [(0, 1)],
            "nod": [(0, -1), (0, 1)],
        }.get(c, [])
        for dx, dy in arrows:
            self._arrow(p, cx, cy, dx, dy, s)
        p.end()

    @staticmethod
    def _arrow(p: QPainter, cx: float, cy: float, dx: int, dy: int, s: float) -> None:
        start = QPointF(cx + dx * s * 0.4, cy + dy * s * 0.46)
        end = QPointF(cx + dx * s * 0.62, cy + dy * s * 0.62)
        if dx == 0:
            start = QPointF(cx + s * 0.42, cy + dy * s * 0.05)
            end = QPointF(cx + s * 0.42, cy + dy * s * 0.42)
        p.drawLine(start, end)
        angle = math.atan2(end.y() - start.y(), end.x() - start.x())
        for side in (-1, 1):
            a = angle + math.pi + side * math.radians(35)
            p.drawLine(
                end, QPointF(end.x() + math.cos(a) * s * 0.1, end.y() + math.sin(a) * s * 0.1)
            )

"""Every screen the shopper (or the attendant) sees. Screens hold widgets and words only.

A screen never calls the checkout flow: its buttons are connected by the controller, and
the controller pushes plain data in (``show_*`` methods). ``retranslate()`` sets every
visible text and accessible name from the current language, so switching language or
layout direction never needs the screen to be rebuilt.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from PyQt6.QtCore import QSize, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QImage, QKeyEvent
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from facepay import CheckoutState, FrameFeedback, QualityReason, format_money
from kiosk_app.i18n import Language, Translator, retention_period
from kiosk_app.model import (
    SETTING_BOUNDS,
    AttendantRequest,
    ChannelKind,
    Outcome,
    OutcomeKind,
    RequestKind,
    Sale,
)
from kiosk_app.ui.icons import icon, icon_pixmap
from kiosk_app.widgets import (
    AMBER,
    GREEN,
    RED,
    AddressKeyboard,
    BigButton,
    CameraView,
    ChallengeIcon,
    Keypad,
    TickBox,
    label,
    plain_label,
)

__all__ = [
    "SCREEN_NAMES",
    "AttendantPinScreen",
    "AttendantScreen",
    "BasketScreen",
    "CaptureScreen",
    "CardScreen",
    "ChoiceScreen",
    "ClaimScreen",
    "ConfirmCancelScreen",
    "ConsentScreen",
    "EnrollCardScreen",
    "EnrollDoneScreen",
    "EnrollPhoneScreen",
    "EnrollPinScreen",
    "IdleScreen",
    "LivenessScreen",
    "PrivacyScreen",
    "ProcessingScreen",
    "ResultScreen",
    "Screen",
    "StepUpScreen",
    "not_clear_message_key",
    "quality_prompt_key",
]

# Unicode's right-to-left isolate and its end (UAX #9).
_RLI, _PDI = "\u2067", "\u2069"

# A shopper's facepay PIN is 4 digits, like a card PIN (facepay.Till.check_pin).
PIN_DIGITS = 4

# The order in which quality problems are worth telling the shopper about: the first
# reason they can fix that blocks everything after it. One prompt at a time, never a list.
_PROMPT_PRIORITY: tuple[QualityReason, ...] = (
    QualityReason.MULTIPLE_FACES,
    QualityReason.NO_FACE,
    QualityReason.SUNGLASSES,
    QualityReason.OCCLUDED,
    QualityReason.TOO_DARK,
    QualityReason.TOO_BRIGHT,
    QualityReason.LOW_CONTRAST,
    QualityReason.FACE_CUT_OFF,
    QualityReason.FACE_TOO_SMALL,
    QualityReason.FACE_TOO_LARGE,
    QualityReason.FACE_NOT_CENTERED,
    QualityReason.YAW,
    QualityReason.PITCH,
    QualityReason.ROLL,
    QualityReason.EYES_CLOSED,
    QualityReason.BLURRY,
)


def quality_prompt_key(reasons: Sequence[QualityReason]) -> str:
    """The one catalogue id to show for a frame's quality reasons."""
    for reason in _PROMPT_PRIORITY:
        if reason in reasons:
            return f"quality.{reason.value}"
    for reason in reasons:  # a reason added to facepay after this list was written
        return f"quality.{reason.value}"
    return "capture.hold_still"


class Screen(QWidget):
    """Base: a header (Back, the title, Call staff), a body the subclass fills, and a footer
    with the cancel button.

    The buttons only emit: the model decides where Back goes (``kiosk_app.model.BACK``),
    whether Cancel asks first, and who hears the call for staff.
    """

    name = "screen"
    cancellable = True
    has_back = True  # the model's BACK table says where it goes from each screen
    calls_attendant = True  # a shopper can call for help from any screen
    # A screen whose body fills the height of a 1024x768 display (the keys, the camera
    # preview): a notice (a refused PIN, "Still there?", "A member of staff is on the way")
    # takes the subtitle's place instead of pushing the body and Cancel off the screen.
    notice_replaces_subtitle = False
    # A screen whose body must stay whole on the glass (the consent's four points): a notice
    # stands in the header in the title's place, so it takes no height at all.
    notice_in_header = False

    def __init__(self, tr: Translator) -> None:
        super().__init__()
        self.tr_ = tr
        self.setObjectName(f"screen_{self.name}")
        self.title = label("title")
        self.subtitle = label("subtitle")
        self.notice = label("notice")
        self.notice.hide()
        self.body = QVBoxLayout()
        self.back_button = BigButton("nav")
        self.back_button.setObjectName("back")
        self.back_button.setIcon(icon("back", 32))
        self.back_button.setIconSize(QSize(32, 32))
        self.call_button = BigButton("nav")
        self.call_button.setObjectName("call_attendant")
        self.call_button.setIcon(icon("attendant", 32))
        self.call_button.setIconSize(QSize(32, 32))
        self.back_button.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        self.call_button.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        header = QHBoxLayout()
        header.setSpacing(16)
        header.addWidget(self.back_button, 0, Qt.AlignmentFlag.AlignTop)
        header.addWidget(self.title, 1)
        if self.notice_in_header:
            header.addWidget(self.notice, 1)
        header.addWidget(self.call_button, 0, Qt.AlignmentFlag.AlignTop)
        self.cancel_button = BigButton("danger")
        self.cancel_button.setObjectName("cancel")
        self.footer = QHBoxLayout()
        self.footer.addWidget(self.cancel_button)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(32, 24, 32, 24)
        outer.setSpacing(16)
        outer.addLayout(header)
        outer.addWidget(self.subtitle)
        if not self.notice_in_header:
            outer.addWidget(self.notice)
        outer.addLayout(self.body, 1)
        outer.addLayout(self.footer)
        self.cancel_button.setVisible(self.cancellable)
        self.back_button.setVisible(self.has_back)
        self.call_button.setVisible(self.calls_attendant)
        # The screen itself can hold the focus, so a screen with nothing to press first
        # (capture, processing) never leaves it on Cancel for Enter to press by accident.
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)

    def keyPressEvent(self, event: QKeyEvent | None) -> None:  # noqa: N802 (Qt API)
        # Escape is Back, as on every other screen a keyboard user knows.
        if event is not None and event.key() == Qt.Key.Key_Escape:
            if self.back_button.isVisibleTo(self) and self.back_button.isEnabled():
                self.back_button.click()
            event.accept()
            return
        super().keyPressEvent(event)

    def refocus(self) -> None:
        """Put the focus where :meth:`first_focus` says (after a screen change, or when the
        focused button was hidden: Qt would hand the focus to the next one, often Cancel)."""
        target = self.first_focus() or self
        target.setFocus(Qt.FocusReason.OtherFocusReason)

    def retranslate(self) -> None:
        t = self.tr_
        self.cancel_button.set_label(t("common.cancel"))
        self.back_button.set_label(t("common.back"))
        self.back_button.setIcon(icon("forward" if t.language.rtl else "back", 32))
        self.call_button.set_label(t("common.call_attendant"))
        self.setAccessibleName(self.title.text())

    def show_notice(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.setAccessibleName(text)
        self.notice.setVisible(bool(text))
        if self.notice_replaces_subtitle:
            self.subtitle.setVisible(not text and bool(self.subtitle.text()))
        if self.notice_in_header:
            self.title.setVisible(not text)

    def first_focus(self) -> QWidget | None:
        """The widget Enter should act on when the screen appears; never Cancel."""
        return None

    def reset(self) -> None:
        """Forget everything shown for the last shopper."""
        self.show_notice("")


class IdleScreen(Screen):
    name = "idle"
    cancellable = False
    has_back = False
    language_chosen = pyqtSignal(object)

    def __init__(self, tr: Translator) -> None:
        super().__init__(tr)
        self.start_button = BigButton("primary")
        self.start_button.setObjectName("start")
        self.start_button.setMinimumHeight(120)
        self.join_button = BigButton()
        self.join_button.setObjectName("join")
        self.language_label = label("subtitle")
        langs = QHBoxLayout()
        self.language_buttons: dict[Language, BigButton] = {}
        for lang in Language:
            b = BigButton("lang")
            b.setCheckable(True)
            b.setObjectName(f"lang_{lang.value}")
            b.clicked.connect(lambda _=False, lang=lang: self.language_chosen.emit(lang))
            self.language_buttons[lang] = b
            langs.addWidget(b)
        self.attendant_button = BigButton()
        self.attendant_button.setObjectName("attendant")
        self.attendant_button.setSizePolicy(
            self.attendant_button.sizePolicy().horizontalPolicy().Fixed,
            self.attendant_button.sizePolicy().verticalPolicy(),
        )
        self.body.addStretch(1)
        self.body.addWidget(self.start_button)
        self.body.addWidget(self.join_button)
        self.body.addStretch(1)
        self.body.addWidget(self.language_label)
        self.body.addLayout(langs)
        self.footer.addStretch(1)
        self.footer.addWidget(self.attendant_button)

    def retranslate(self) -> None:
        t = self.tr_
        self.title.setText(t("idle.title"))
        self.subtitle.setText(t("idle.subtitle"))
        self.start_button.set_label(t("idle.start"))
        self.join_button.set_label(t("idle.join"))
        self.language_label.setText(t("idle.language"))
        self.attendant_button.set_label(t("idle.attendant"))
        for lang, b in self.language_buttons.items():
            b.set_label(lang.native_name, f"{t('idle.language')}: {lang.native_name}")
            b.setChecked(lang is t.language)
        super().retranslate()

    def first_focus(self) -> QWidget | None:
        return self.start_button


class BasketScreen(Screen):
    name = "basket"
    product_scanned = pyqtSignal(str)
    remove_requested = pyqtSignal(str)

    def __init__(self, tr: Translator) -> None:
        super().__init__(tr)
        self.table = QTableWidget(0, 3)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)  # type: ignore[union-attr]
        header = self.table.horizontalHeader()
        assert header is not None
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.empty_label = label("subtitle")
        self.total_label = label("amount")
        self.count_label = label("fineprint")
        self.pay_button = BigButton("primary")
        self.pay_button.setObjectName("pay")
        self.remove_button = BigButton()
        self.remove_button.setObjectName("remove")
        self.remove_button.clicked.connect(self._remove_selected)
        left = QVBoxLayout()
        left.addWidget(self.table, 1)
        left.addWidget(self.empty_label)
        left.addWidget(self.count_label)
        left.addWidget(self.total_label)
        # The demo scanner: a product list standing in for the barcode scanner.
        self.scanner_label = label("fineprint")
        self.scanner_box = QWidget()
        scanner = QVBoxLayout(self.scanner_box)
        scanner.setContentsMargins(0, 0, 0, 0)
        scanner.addWidget(self.scanner_label)
        # However many products the demo catalogue has, the column scrolls instead of
        # pushing Pay and Cancel off a 1024x768 display.
        products = QWidget()
        self.products_layout = QVBoxLayout(products)
        self.products_layout.setContentsMargins(0, 0, 0, 0)
        self.products_layout.addStretch(1)
        products_scroll = QScrollArea()
        products_scroll.setObjectName("scanner_products")
        products_scroll.setWidget(products)
        products_scroll.setWidgetResizable(True)
        products_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        products_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scanner.addWidget(products_scroll, 1)
        self.product_buttons: dict[str, BigButton] = {}
        self._product_names: dict[str, str] = {}
        self.scanner_box.hide()
        row = QHBoxLayout()
        row.addLayout(left, 3)
        row.addWidget(self.scanner_box, 2)
        self.body.addLayout(row)
        self.footer.addWidget(self.remove_button)
        self.footer.addWidget(self.pay_button, 2)
        self._basket: Sale | None = None

    def set_products(self, products: Sequence[tuple[str, str, str]]) -> None:
        """``(sku, name, price text)`` for the demo scanner; empty hides it."""
        for b in self.product_buttons.values():
            b.setParent(None)
        self.product_buttons.clear()
        for sku, name, price in products:
            b = BigButton("product")
            b.setObjectName(f"product_{sku}")
            # The demo's stand-in for a barcode scanner: a scanner takes no keyboard focus,
            # and a focused product button turned every Enter into another scan.
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.setText(f"{name}\n{price}")  # two lines: fits the scanner column at 1024 px
            b.clicked.connect(lambda _=False, sku=sku: self.product_scanned.emit(sku))
            self.products_layout.insertWidget(self.products_layout.count() - 1, b)
            self.product_buttons[sku] = b
            self._product_names[sku] = name
        self.scanner_box.setVisible(bool(products))
        self.retranslate()

    def show_basket(self, basket: Sale) -> None:
        self._basket = basket
        self.table.setRowCount(len(basket.lines))
        for row, line in enumerate(basket.lines):
            name = QTableWidgetItem(line.description)
            name.setData(Qt.ItemDataRole.UserRole, line.sku)
            qty = QTableWidgetItem(str(line.quantity))
            qty.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            price = QTableWidgetItem(format_money(line.total_minor, basket.currency))
            for col, item in enumerate((name, qty, price)):
                self.table.setItem(row, col, item)
        if basket.lines:
            self.table.scrollToBottom()
        self.retranslate()
        if self.isVisible() and not self.pay_button.hasFocus():
            self.refocus()

    def _remove_selected(self) -> None:
        row = self.table.currentRow()
        if row < 0:
            row = self.table.rowCount() - 1
        item = self.table.item(row, 0) if row >= 0 else None
        if item is not None:
            self.remove_requested.emit(str(item.data(Qt.ItemDataRole.UserRole)))

    def retranslate(self) -> None:
        t = self.tr_
        self.title.setText(t("basket.title"))
        self.subtitle.hide()
        self.table.setHorizontalHeaderLabels(
            [t("basket.col_item"), t("basket.col_qty"), t("basket.col_price")]
        )
        self.table.setAccessibleName(t("basket.title"))
        b = self._basket
        total = b.amount_text if b else ""
        has_items = bool(b and b.lines)
        self.empty_label.setText(t("basket.empty"))
        self.empty_label.setVisible(not has_items)
        self.total_label.setText(t("basket.total", amount=total) if has_items else "")
        self.count_label.setText(t("basket.items", count=b.item_count) if b and has_items else "")
        self.pay_button.set_label(
            t("basket.pay", amount=total) if has_items else t("basket.pay", amount="")
        )
        self.pay_button.setEnabled(has_items)
        self.remove_button.set_label(t("basket.remove"))
        self.remove_button.setEnabled(has_items)
        self.scanner_label.setText(t("basket.scanner"))
        for sku, button in self.product_buttons.items():
            button.setAccessibleName(t("basket.scan_item", name=self._product_names[sku]))
        super().retranslate()

    def first_focus(self) -> QWidget | None:
        return self.pay_button if self.pay_button.isEnabled() else self.table

    def reset(self) -> None:
        super().reset()
        self._basket = None
        self.table.setRowCount(0)
        self.retranslate()


class ChoiceScreen(Screen):
    name = "choice"

    def __init__(self, tr: Translator) -> None:
        super().__init__(tr)
        self.amount_label = label("amount")
        self.face_button = BigButton("primary")
        self.face_button.setObjectName("pay_face")
        self.face_button.setIcon(icon("face", 48, "#101418"))
        self.face_button.setIconSize(QSize(48, 48))
        self.face_button.setMinimumHeight(110)
        self.card_button = BigButton()
        self.card_button.setObjectName("pay_card")
        self.card_button.setIcon(icon("card", 48))
        self.card_button.setIconSize(QSize(48, 48))
        self.card_button.setMinimumHeight(110)
        self.enroll_button = BigButton()
        self.enroll_button.setObjectName("enroll")
        self.body.addWidget(self.amount_label)
        self.body.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.face_button)
        row.addWidget(self.card_button)
        self.body.addLayout(row)
        self.body.addWidget(self.enroll_button)
        self.body.addStretch(1)
        self._amount = ""
        self._notice_key = ""

    def show_amount(self, amount: str, face_available: bool, *, lane_paused: bool = False) -> None:
        """``lane_paused``: the backend paused face pay at this till (too many failed
        attempts): the face options are hidden, not greyed, and the screen says why."""
        self._amount = amount
        self._notice_key = (
            "choice.lane_paused"
            if lane_paused
            else ("" if face_available else "choice.face_unavailable")
        )
        self.face_button.setVisible(not lane_paused)
        self.enroll_button.setVisible(not lane_paused)
        # Without face pay (paused, or the service down) the card is the one way on: it is
        # drawn as the primary action (it stayed grey beside an empty space, or beside a
        # greyed face button still outlined in the primary yellow).
        face = face_available and not lane_paused
        _set_primary(self.card_button, "card", 48, primary=not face)
        _set_primary(self.face_button, "face", 48, primary=face)
        self.face_button.setEnabled(face_available and not lane_paused)
        self.enroll_button.setEnabled(face_available and not lane_paused)
        self.retranslate()

    def retranslate(self) -> None:
        t = self.tr_
        self.title.setText(t("choice.title"))
        self.subtitle.hide()
        self.amount_label.setText(t("choice.amount", amount=self._amount))
        self.face_button.set_label(t("choice.face"))
        self.card_button.set_label(t("choice.card"))
        self.enroll_button.set_label(t("choice.enroll"))
        self.show_notice(t(self._notice_key) if self._notice_key else "")
        super().retranslate()

    def first_focus(self) -> QWidget | None:
        face = self.face_button
        return face if face.isVisibleTo(self) and face.isEnabled() else self.card_button


def _set_primary(button: BigButton, icon_name: str | None, size: int = 0, *, primary: bool) -> None:
    """Draw ``button`` as the screen's primary action (the theme's yellow) or not."""
    if (button.property("role") == "primary") == primary:
        return
    button.setProperty("role", "primary" if primary else "")
    if icon_name is not None:
        button.setIcon(icon(icon_name, size, "#101418") if primary else icon(icon_name, size))
    style = button.style()
    if style is not None:  # the theme's rules follow a property only when re-polished
        style.unpolish(button)
        style.polish(button)


class _KeypadScreen(Screen):
    """A screen built around the number keypad (claim, step-up, enrollment phone, PIN)."""

    submit_key = "common.continue"
    notice_replaces_subtitle = True  # the keys fill the height of a 1024x768 display

    def __init__(self, tr: Translator, *, max_digits: int = 15) -> None:
        super().__init__(tr)
        # Keys on one side, the submit button and the screen's other choices on the other:
        # stacked, the two do not fit the height of a 1024x768 or 1280x800 display.
        self.keypad = Keypad(max_digits=max_digits, submit_below=False)
        self.keypad.setMaximumWidth(560)
        self.side = QVBoxLayout()
        self.side.setSpacing(16)
        self.side.addWidget(self.keypad.submit_button)
        row = QHBoxLayout()
        row.setSpacing(32)
        row.addWidget(self.keypad, 1)
        row.addLayout(self.side, 1)
        self.body.addLayout(row, 1)

    def retranslate(self) -> None:
        self.keypad.retranslate(self.tr_, self.tr_(self.submit_key))
        super().retranslate()

    def first_focus(self) -> QWidget | None:
        return self.keypad.display

    def reset(self) -> None:
        super().reset()
        self.keypad.reset()


class ClaimScreen(_KeypadScreen):
    name = "claim"

    def __init__(self, tr: Translator) -> None:
        super().__init__(tr)
        self.loyalty_button = BigButton()
        self.loyalty_button.setObjectName("claim_loyalty")
        self.qr_button = BigButton()
        self.qr_button.setObjectName("claim_qr")
        self.scan_prompt = label("prompt")
        self.side.addStretch(1)
        self.side.addWidget(self.loyalty_button)
        self.side.addWidget(self.qr_button)
        self.side.addWidget(self.scan_prompt)
        self.side.addStretch(1)
        self._scan_key = ""
        self.loyalty_button.clicked.connect(lambda: self._await_scan("claim.loyalty_prompt"))
        self.qr_button.clicked.connect(lambda: self._await_scan("claim.qr_prompt"))

    def _await_scan(self, key: str) -> None:
        self._scan_key = key
        self.scan_prompt.setText(self.tr_(key))

    def retranslate(self) -> None:
        t = self.tr_
        self.title.setText(t("claim.title"))
        self.subtitle.setText(t("claim.subtitle"))
        self.loyalty_button.set_label(t("claim.loyalty"))
        self.qr_button.set_label(t("claim.app_qr"))
        self.scan_prompt.setText(t(self._scan_key) if self._scan_key else "")
        super().retranslate()
        self.keypad.display.setAccessibleName(t("claim.phone"))

    def reset(self) -> None:
        super().reset()
        self._scan_key = ""
        self.scan_prompt.setText("")


class CaptureScreen(Screen):
    """Live preview + the oval + one prompt from the quality reason codes."""

    name = "capture"
    notice_replaces_subtitle = True  # the preview fills the height of a 1024x768 display

    def __init__(self, tr: Translator) -> None:
        super().__init__(tr)
        self.camera = CameraView()
        self.prompt = label("prompt")
        self.prompt.setAccessibleName("prompt")
        self.body.addWidget(self.camera, 1)
        self.body.addWidget(self.prompt)
        self._prompt_key = "capture.looking"

    def show_progress(self, progress: FrameFeedback) -> None:
        if progress.reasons:
            self._prompt_key = quality_prompt_key(progress.reasons)
            self.camera.set_state("looking" if progress.face_box is None else "adjust")
        else:
            self._prompt_key = "capture.hold_still"
            self.camera.set_state("good")
        self._apply_prompt()

    def camera_lost(self) -> None:
        self._prompt_key = "capture.camera_lost"
        self.camera.clear()
        self.camera.set_state("error")
        self._apply_prompt()

    def _apply_prompt(self) -> None:
        text = self.tr_(self._prompt_key)
        self.prompt.setText(text)
        self.prompt.setAccessibleDescription(text)

    @property
    def prompt_key(self) -> str:
        return self._prompt_key

    def retranslate(self) -> None:
        t = self.tr_
        self.title.setText(t("capture.title"))
        self.subtitle.setText(t("capture.subtitle"))
        self._apply_prompt()
        super().retranslate()

    def reset(self) -> None:
        super().reset()
        self.camera.clear()
        self.camera.set_state("looking")
        self._prompt_key = "capture.looking"
        self._apply_prompt()


_LIVENESS_KEYS = {
    "blink",
    "turn_left",
    "turn_right",
    "look_up",
    "look_down",
    "nod",
    "smile",
    "open_mouth",
    "hold_still",
}


def liveness_prompt_key(challenge: str | None) -> str:
    """``"turn_left"`` -> ``"liveness.turn_left"``; unknown codes get a generic prompt."""
    code = (challenge or "").lower()
    for known in _LIVENESS_KEYS:
        if code == known or code.endswith("." + known) or code.endswith(":" + known):
            return f"liveness.{known}"
    aliases = {
        "yaw_left": "turn_left",
        "yaw_right": "turn_right",
        "head_left": "turn_left",
        "head_right": "turn_right",
        "pitch_up": "look_up",
        "pitch_down": "look_down",
    }
    if code in aliases:
        return f"liveness.{aliases[code]}"
    return "liveness.follow"


class LivenessScreen(Screen):
    """The challenge with a drawn icon, a countdown and a progress bar, beside the preview.

    The first prompt shows from the first frame: :meth:`start` is given the first
    challenge (and the capture screen's last frame, so the preview never goes black), and
    the countdown runs on its own between frames from the flow's ``seconds_left`` (a frame
    every 100 ms or every second: the number still counts down once a second).
    """

    name = "liveness"

    def __init__(self, tr: Translator, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(tr)
        self._clock = clock
        self.camera = CameraView()
        self.icon = ChallengeIcon()
        self.prompt = label("prompt")
        self.countdown = label("amount")
        self.step_label = label("fineprint")
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setTextVisible(False)
        side = QVBoxLayout()
        side.addStretch(1)
        side.addWidget(self.icon, 2)
        side.addWidget(self.prompt)
        side.addWidget(self.countdown)
        side.addWidget(self.step_label)
        side.addWidget(self.progress_bar)
        side.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.camera, 3)
        row.addLayout(side, 2)
        self.body.addLayout(row, 1)
        self._progress = FrameFeedback(state=CheckoutState.LIVENESS, frame_index=0)
        self._deadline: float | None = None
        self.ticker = QTimer(self)
        self.ticker.setInterval(250)
        self.ticker.timeout.connect(self.tick)

    def start(
        self,
        challenge: str | None,
        *,
        challenge_count: int = 0,
        seconds: float = 0.0,
        last_frame: QImage | None = None,
    ) -> None:
        """The liveness step begins: prompt, step and countdown before the first frame."""
        self.show_progress(
            FrameFeedback(
                state=CheckoutState.LIVENESS,
                frame_index=0,
                challenge=challenge,
                challenge_count=challenge_count,
                seconds_left=seconds,
            )
        )
        if last_frame is not None and not self.camera.has_image():
            self.camera.show_image(last_frame)

    def show_progress(self, progress: FrameFeedback) -> None:
        self._progress = progress
        self._deadline = (
            self._clock() + progress.seconds_left if progress.seconds_left > 0 else None
        )
        self.camera.set_state("adjust" if progress.reasons else "good")
        self.retranslate()
        if self._deadline is not None and not self.ticker.isActive():
            self.ticker.start()

    def seconds_left(self) -> int:
        """Whole seconds left on the current challenge, as shown (0 when none is running)."""
        if self._deadline is None:
            return 0
        return max(0, math.ceil(self._deadline - self._clock() - 1e-6))

    def tick(self) -> None:
        self._show_countdown()
        if self._deadline is None or self.seconds_left() == 0:
            self.ticker.stop()

    def _show_countdown(self) -> None:
        left = self.seconds_left()
        self.countdown.setText(self.tr_("liveness.seconds_left", seconds=left) if left else "")
        self.countdown.setVisible(bool(left))

    def retranslate(self) -> None:
        t = self.tr_
        p = self._progress
        self.title.setText(t("liveness.title"))
        self.subtitle.hide()
        # Until the flow names a challenge the shopper is asked to hold still: never a
        # generic "Follow the prompt" with no prompt to follow.
        key = liveness_prompt_key(p.challenge) if p.challenge else "liveness.hold_still"
        if p.reasons and p.face_box is None:
            key = quality_prompt_key(p.reasons)
        self.prompt.setText(t(key))
        self.prompt.setAccessibleDescription(t(key))
        self.icon.set_challenge(key.split(".", 1)[1] if key.startswith("liveness.") else "")
        self.icon.setAccessibleName(t(key))
        self._show_countdown()
        self.step_label.setText(
            t("liveness.step", current=p.challenge_index + 1, total=p.challenge_count)
            if p.challenge_count
            else ""
        )
        self.progress_bar.setValue(round(100 * min(max(p.progress, 0.0), 1.0)))
        self.progress_bar.setAccessibleName(t("liveness.title"))
        super().retranslate()

    @property
    def prompt_key(self) -> str:
        return liveness_prompt_key(self._progress.challenge)

    def reset(self) -> None:
        super().reset()
        self.ticker.stop()
        self.camera.clear()
        self._progress = FrameFeedback(state=CheckoutState.LIVENESS, frame_index=0)
        self._deadline = None
        self.retranslate()


class ProcessingScreen(Screen):
    name = "processing"
    cancellable = False  # the template is on its way: the answer is waited for, never dropped
    has_back = False

    def __init__(self, tr: Translator) -> None:
        super().__init__(tr)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setTextVisible(False)
        self.body.addStretch(1)
        self.body.addWidget(self.busy)
        self.body.addStretch(1)

    def retranslate(self) -> None:
        self.title.setText(self.tr_("processing.title"))
        self.subtitle.setText(self.tr_("processing.subtitle"))
        self.busy.setAccessibleName(self.tr_("processing.title"))
        super().retranslate()


# One plain message per way a payment can end. Face failures never say "declined": that
# is a bank's word, kept for the one case where the card issuer said no. Every message of
# an attempt that took no money ends with "Nothing was charged" (checked in the tests).
_RESULT_MESSAGES: dict[OutcomeKind, str] = {
    OutcomeKind.DECLINED: "result.declined_hint",
    OutcomeKind.NOT_ENROLLED: "result.not_enrolled",
    OutcomeKind.NOT_RECOGNISED: "result.not_recognised",
    OutcomeKind.TOO_SLOW: "result.liveness_slow",
    OutcomeKind.FACE_LOST: "result.face_lost",
    OutcomeKind.FACE_NOT_CLEAR: "result.face_not_clear",
    OutcomeKind.FACE_COVERED: "result.face_covered",
    OutcomeKind.LIVENESS_FAILED: "result.liveness_failed",
    OutcomeKind.SHOPPER_LOCKED: "result.shopper_locked",
    OutcomeKind.LANE_PAUSED: "result.lane_paused",
    OutcomeKind.BACKEND_DOWN: "result.backend_down",
    OutcomeKind.CAMERA_LOST: "capture.camera_lost",
    OutcomeKind.PAYMENT_UNKNOWN: "result.unknown",
    OutcomeKind.NOT_CHARGED: "result.not_charged",
}
_RESULT_TITLES: dict[OutcomeKind, str] = {
    OutcomeKind.APPROVED: "result.approved",
    # An enrollment, not a payment: the shopper learns face pay is not set up yet.
    OutcomeKind.FACE_NOT_CLEAR: "result.not_set_up_title",
    OutcomeKind.DECLINED: "result.declined",
    OutcomeKind.LANE_PAUSED: "result.lane_paused_title",
    OutcomeKind.PAYMENT_UNKNOWN: "result.unknown_title",
    OutcomeKind.NOT_CHARGED: "result.not_charged_title",
}


# FACE_NOT_CLEAR: what the shopper can change before the next try, by facepay's quality
# reason. The first reason here among the enrollment's (most frequent first) picks the
# words; placement and pose reasons are left out on purpose: the capture screen prompts
# for them live, and a liveness head turn makes yaw frames that are no one's mistake.
_NOT_CLEAR_MESSAGES: dict[QualityReason, str] = {
    QualityReason.EYES_CLOSED: "result.face_not_clear_eyes",
    QualityReason.OCCLUDED: "result.face_not_clear_covered",
    QualityReason.SUNGLASSES: "result.face_not_clear_sunglasses",
    QualityReason.TOO_DARK: "result.face_not_clear_dark",
    QualityReason.LOW_CONTRAST: "result.face_not_clear_dark",
}


def not_clear_message_key(reasons: Sequence[QualityReason]) -> str:
    """The message for an enrollment refused as FACE_NOT_CLEAR, from its quality reasons."""
    for reason in reasons:
        key = _NOT_CLEAR_MESSAGES.get(reason)
        if key is not None:
            return key
    return "result.face_not_clear"


class ResultScreen(Screen):
    """Approved (amount, masked method, receipt lines) or one plain failure message with
    what the shopper can do next (card, try again, check again)."""

    name = "result"

    def __init__(self, tr: Translator) -> None:
        super().__init__(tr)
        self.icon = plain_label()
        self.icon.setObjectName("icon")
        self.icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.amount_label = label("amount")
        self.method_label = label("subtitle")
        self.receipt = QListWidget()
        self.receipt.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.receipt.setMaximumHeight(260)
        # Receipt lines are the POS's own text (product names, amounts): keep them in their
        # own direction, or "2 x Bananas" would print as "x Bananas 2" in Arabic.
        self.receipt.setLayoutDirection(Qt.LayoutDirection.LeftToRight)
        self.message = label("subtitle")
        self.card_button = BigButton("primary")
        self.card_button.setObjectName("result_card")
        self.card_button.setIcon(icon("card", 36, "#101418"))
        self.card_button.setIconSize(QSize(36, 36))
        self.retry_button = BigButton()
        self.retry_button.setObjectName("result_retry")
        self.done_button = BigButton("primary")
        self.done_button.setObjectName("result_done")
        self.message.setObjectName("message")
        self.body.addWidget(self.icon)
        self.body.addWidget(self.amount_label)
        self.body.addWidget(self.method_label)
        self.body.addWidget(self.message)
        self.body.addWidget(self.receipt, 3)
        self.body.addStretch(1)
        self._spacer_index = self.body.count() - 1
        self.footer.addWidget(self.retry_button)
        self.footer.addWidget(self.card_button, 2)
        self.footer.addWidget(self.done_button, 2)
        self.kind: OutcomeKind | None = None
        self._amount = ""
        self._method = ""
        self._lines: tuple[str, ...] = ()
        self._by_card = False
        self._quality: tuple[QualityReason, ...] = ()
        self._card_offered = True
        self._enrolling = False
        self._receipt_id = ""
        self.outcome: Outcome | None = None

    def show_result(
        self,
        kind: OutcomeKind,
        *,
        amount_text: str = "",
        masked_method: str = "",
        lines: Sequence[str] = (),
        by_card: bool = False,
        quality_reasons: Sequence[QualityReason] = (),
        card_offered: bool = True,
        enrolling: bool = False,
        receipt_id: str = "",
    ) -> None:
        """Show how the payment ended (``kind`` picks the words; the rest is the receipt).

        ``quality_reasons``: why an enrollment's face was not clear (FACE_NOT_CLEAR);
        ``card_offered``: False when there is nothing to pay by card (an enrollment
        started from the idle screen), so no button does nothing; ``enrolling``: the
        attempt was an enrollment, so a failure says face pay is not set up (not that a
        payment failed)."""
        self.kind = kind
        self._amount, self._method = amount_text, masked_method
        self._lines, self._by_card = tuple(lines), by_card
        self._quality, self._card_offered = tuple(quality_reasons), card_offered
        self._enrolling = enrolling
        self._receipt_id = receipt_id
        self.retranslate()
        if self.isVisible():
            self.refocus()

    def show_outcome(
        self, outcome: Outcome, *, card_offered: bool = True, enrolling: bool = False
    ) -> None:
        """Draw the model's outcome: its kind picks the words, its screen lines the receipt
        (never the privacy code)."""
        self.show_result(
            outcome.kind,
            amount_text=outcome.amount_text,
            masked_method=outcome.masked_method,
            # The item lines; the amount, method and receipt number lines are worded
            # here in the shopper's language (the printed receipt words its own:
            # kiosk_app.model.PrivacyReceipt).
            lines=outcome.item_lines,
            receipt_id=outcome.receipt_id,
            by_card=outcome.by_card,
            quality_reasons=outcome.quality_reasons,
            card_offered=card_offered,
            enrolling=enrolling,
        )
        self.outcome = outcome

    def retranslate(self) -> None:
        t = self.tr_
        kind = self.kind or OutcomeKind.ERROR
        ok = kind is OutcomeKind.APPROVED
        # The message says it all; an empty subtitle still took a line, and a notice
        # ("Still there?") then pushed the buttons off a 1024x768 display in Chinese.
        self.subtitle.hide()
        if kind is OutcomeKind.PAYMENT_UNKNOWN:
            # Not a failure: the money may have moved, and the shopper is asked to wait.
            # A red cross beside "please wait here" read as "declined, walk away".
            self.icon.setPixmap(icon_pixmap("wait", 96, AMBER.name()))
        else:
            self.icon.setPixmap(
                icon_pixmap("tick" if ok else "cross", 96, (GREEN if ok else RED).name())
            )
        title = _RESULT_TITLES.get(kind, "result.failed_title")
        if self._enrolling and title == "result.failed_title":
            title = "result.not_set_up_title"
        if ok and self._by_card:
            title = "result.card_approved"
        self.title.setText(t(title))
        self.icon.setAccessibleName(t(title))
        if ok:
            self.amount_label.setText(t("result.paid", amount=self._amount))
            self.method_label.setText(
                t("result.method", method=self._method) if self._method else ""
            )
            self.message.setText(t("result.thanks"))
            self.receipt.clear()
            self.receipt.addItems(list(self._lines))
            if self._receipt_id:
                number = t("result.receipt_number", number=self._receipt_id)
                if t.language.rtl:
                    # The list is left to right (the POS's item lines), which laid "رقم
                    # الإيصال rcpt_..." out label first on the left: read from the right it
                    # began with the id. A right-to-left isolate, on the right.
                    item = QListWidgetItem(f"{_RLI}{number}{_PDI}")
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                    self.receipt.addItem(item)
                else:
                    self.receipt.addItem(number)
            self.receipt.setAccessibleName(t("result.receipt"))
        else:
            self.amount_label.setText("")
            self.method_label.setText("")
            key = _RESULT_MESSAGES.get(kind, "result.error")
            if kind is OutcomeKind.FACE_NOT_CLEAR:
                key = not_clear_message_key(self._quality)
            self.message.setText(t(key))
            self.receipt.clear()
        self.message.setAccessibleName(self.message.text())
        self.amount_label.setVisible(ok)
        self.method_label.setVisible(ok and bool(self.method_label.text()))
        self.receipt.setVisible(ok and self.receipt.count() > 0)
        # A receipt takes all the spare height (at 1024x768 its last line, the receipt
        # number, was behind a scroll bar); without one the message stays at the top.
        self.body.setStretch(self._spacer_index, 0 if self.receipt.isVisibleTo(self) else 1)
        unknown = kind is OutcomeKind.PAYMENT_UNKNOWN
        # Money may have moved: a card now could charge twice, so only "check again".
        self.card_button.setVisible(not ok and kind.card_is_safe and self._card_offered)
        self.retry_button.setVisible(not ok and (kind.can_retry_face or unknown))
        self.done_button.setVisible(ok)
        self.cancel_button.setVisible(not ok)
        self.back_button.setVisible(not ok and not unknown)
        self.card_button.set_label(t("result.try_card"))
        self.retry_button.set_label(t("result.check_again" if unknown else "result.try_again"))
        self.done_button.set_label(t("common.continue"))
        super().retranslate()

    def first_focus(self) -> QWidget | None:
        for b in (self.done_button, self.card_button, self.retry_button):
            if b.isVisibleTo(self):
                return b
        return None

    def reset(self) -> None:
        super().reset()
        self.kind = None
        self.outcome = None
        self._lines = ()
        self._quality = ()
        self._card_offered = True
        self._enrolling = False
        self._receipt_id = ""
        self._amount = self._method = ""
        self._by_card = False
        self.receipt.clear()
        # Hidden is not forgotten: the last shopper's amount and card stayed in these
        # labels until the next result was drawn over them.
        for text in (self.amount_label, self.method_label, self.message):
            text.clear()
            text.setAccessibleName("")


class ConfirmCancelScreen(Screen):
    """Cancel asks first: one tap used to drop a whole basket."""

    name = "confirm_cancel"
    cancellable = False  # its own two answers stand in for Cancel

    def __init__(self, tr: Translator) -> None:
        super().__init__(tr)
        self.keep_button = BigButton("primary")
        self.keep_button.setObjectName("cancel_keep")
        self.keep_button.setMinimumHeight(110)
        self.drop_button = BigButton("danger")
        self.drop_button.setObjectName("cancel_drop")
        self.drop_button.setMinimumHeight(110)
        self.body.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.drop_button, 1)
        row.addWidget(self.keep_button, 1)
        self.body.addLayout(row)
        self.body.addStretch(1)
        self._count = 0
        self._amount = ""

    def ask(self, item_count: int, amount_text: str) -> None:
        self._count, self._amount = item_count, amount_text
        self.retranslate()

    def retranslate(self) -> None:
        t = self.tr_
        self.title.setText(t("cancel.confirm_title"))
        self.subtitle.setText(t("cancel.confirm_body", count=self._count, amount=self._amount))
        self.keep_button.set_label(t("cancel.keep"))
        self.drop_button.set_label(t("cancel.drop"))
        super().retranslate()

    def first_focus(self) -> QWidget | None:
        # Enter or a stray tap keeps the basket: dropping it takes a deliberate choice.
        return self.keep_button


class CardScreen(Screen):
    """Card fallback: the card reader is the POS's; the sandbox simulates a tap."""

    name = "card"

    def __init__(self, tr: Translator) -> None:
        super().__init__(tr)
        self.prompt = label("prompt")
        self.amount_label = label("amount")
        self.tap_button = BigButton("primary")
        self.tap_button.setObjectName("card_tap")
        self.tap_button.setIcon(icon("card", 48, "#101418"))
        self.tap_button.setIconSize(QSize(48, 48))
        self.tap_button.setMinimumHeight(110)
        self.body.addWidget(self.amount_label)
        self.body.addStretch(1)
        self.body.addWidget(self.prompt)
        self.body.addWidget(self.tap_button)
        self.body.addStretch(1)
        self._amount = ""

    def show_amount(self, amount: str) -> None:
        self._amount = amount
        self.tap_button.setEnabled(True)
        self.retranslate()

    def retranslate(self) -> None:
        t = self.tr_
        self.title.setText(t("result.card_title"))
        self.subtitle.hide()
        self.amount_label.setText(t("choice.amount", amount=self._amount))
        self.prompt.setText(t("result.card_prompt"))
        self.tap_button.set_label(t("result.card_title"), t("result.card_prompt"))
        super().retranslate()

    def first_focus(self) -> QWidget | None:
        return self.tap_button


class StepUpScreen(_KeypadScreen):
    name = "step_up"

    def __init__(self, tr: Translator) -> None:
        super().__init__(tr, max_digits=8)
        self.keypad.set_reveal_last(0)  # the step-up digits are the secret being checked
        self.card_button = BigButton()
        self.card_button.setObjectName("stepup_card")
        # The card's icon, as on every other "Pay by card" button.
        self.card_button.setIcon(icon("card", 36))
        self.card_button.setIconSize(QSize(36, 36))
        self.side.addStretch(1)
        self.side.addWidget(self.card_button)
        self.side.addStretch(1)
        self._digits = 4
        self._pin = False

    def ask(self, digits: int, *, pin: bool = False) -> None:
        """Ask for the phone's last ``digits`` digits, or (``pin``) the facepay PIN."""
        self._digits = PIN_DIGITS if pin else digits
        self._pin = pin
        self.keypad.set_minimum(self._digits)
        self.keypad.set_maximum(self._digits)
        self.retranslate()

    def retranslate(self) -> None:
        t = self.tr_
        self.title.setText(t("stepup.title"))
        ask = t("stepup.pin_subtitle") if self._pin else t("stepup.subtitle", digits=self._digits)
        self.subtitle.setText(ask)
        self.card_button.set_label(t("result.try_card"))
        super().retranslate()
        self.keypad.display.setAccessibleName(ask)


# The ways a privacy code can reach the shopper, in the order offered. The code unlocks
# export, withdraw and delete together with the phone number, so it never appears on the
# shared screen: the till hands it to the channel the shopper picks (a printer, e-mail or
# SMS adapter behind one interface, ``kiosk_app.model.ReceiptChannel``) and says where it went.
RECEIPT_CHANNELS: tuple[ChannelKind, ...] = (
    ChannelKind.PRINTED,
    ChannelKind.EMAIL,
    ChannelKind.SMS,
)
_CHANNEL_ICONS = {
    ChannelKind.PRINTED: "printer",
    ChannelKind.EMAIL: "mail",
    ChannelKind.SMS: "phone",
}


class PrivacyScreen(Screen):
    """The privacy code: offered on a channel the shopper picks, never drawn on the glass.

    ``channel_chosen(kind, address)`` carries a :class:`ChannelKind` and, for e-mail or SMS,
    the address the shopper typed (a phone number is masked as typed, like on the claim).
    """

    name = "receipt"
    cancellable = False
    channel_chosen = pyqtSignal(object, str)

    def __init__(self, tr: Translator) -> None:
        super().__init__(tr)
        self.kept_label = label("subtitle")
        self.sent_label = label("prompt")
        self.channel_buttons: dict[ChannelKind, BigButton] = {}
        row = QHBoxLayout()
        for channel in RECEIPT_CHANNELS:
            b = BigButton()
            b.setObjectName(f"receipt_{channel.value}")
            b.setIcon(icon(_CHANNEL_ICONS[channel], 40))
            b.setIconSize(QSize(40, 40))
            b.clicked.connect(lambda _=False, c=channel: self._choose(c))
            row.addWidget(b)
            self.channel_buttons[channel] = b
        # The address step (e-mail or SMS only).
        self.address_label = label("prompt")
        # A till has no keyboard: the address is typed on the screen's own.
        self.email_keyboard = AddressKeyboard()
        self.email_keyboard.setObjectName("receipt_email")
        self.email_keyboard.submitted.connect(lambda to: self._send(ChannelKind.EMAIL, to))
        self.phone_keypad = Keypad(max_digits=15, submit_below=False)
        self.phone_keypad.setMaximumWidth(480)
        self.phone_keypad.submitted.connect(lambda digits: self._send(ChannelKind.SMS, digits))
        self.send_button = BigButton("primary")
        self.send_button.setObjectName("receipt_send")
        self.send_button.clicked.connect(self._send_typed)
        address = QHBoxLayout()
        address.addWidget(self.phone_keypad, 1)
        side = QVBoxLayout()
        side.addWidget(self.address_label)
        side.addWidget(self.email_keyboard)
        side.addWidget(self.send_button)
        side.addStretch(1)
        address.addLayout(side, 1)
        self.body.addStretch(1)
        self.body.addLayout(row)
        self.body.addLayout(address)
        self.body.addWidget(self.sent_label)
        self.body.addWidget(self.kept_label)
        self.body.addStretch(1)
        self.done_button = BigButton("primary")
        self.done_button.setObjectName("receipt_done")
        self.footer.addWidget(self.done_button)
        self._channels: tuple[ChannelKind, ...] = RECEIPT_CHANNELS
        self._asking: ChannelKind | None = None
        self._sent: ChannelKind | None = None
        self._title_key = "privacy.title"

    def offer(
        self, channels: Sequence[ChannelKind] = RECEIPT_CHANNELS, title_key: str = "privacy.title"
    ) -> None:
        """Ask how the shopper wants their code; ``channels`` are the till's adapters."""
        self._channels = tuple(c for c in RECEIPT_CHANNELS if c in channels)
        self._asking = self._sent = None
        self._title_key = title_key
        self.email_keyboard.reset()
        self.phone_keypad.reset()
        self.retranslate()

    def show_sent(self, channel: ChannelKind) -> None:
        """The channel took the code: say where it went (never what it is)."""
        self._sent, self._asking = channel, None
        self.email_keyboard.reset()
        self.phone_keypad.reset()
        self.retranslate()
        if self.isVisible():
            self.refocus()

    def _choose(self, channel: ChannelKind) -> None:
        if self._sent is not None:
            return
        if channel.needs_address:
            self._asking = channel
            self.retranslate()
            self.refocus()
            return
        self._send(channel, "")

    def _send_typed(self) -> None:
        if self._asking is ChannelKind.SMS:
            self.phone_keypad.submit_button.click()

    def _send(self, channel: ChannelKind, address: str) -> None:
        if self._sent is None:
            self.channel_chosen.emit(channel, address)

    def retranslate(self) -> None:
        t = self.tr_
        sent, asking = self._sent, self._asking
        choosing = sent is None and asking is None
        self.title.setText(t(self._title_key))
        self.subtitle.setText(t("privacy.body"))
        self.subtitle.setVisible(choosing)
        for channel, b in self.channel_buttons.items():
            b.set_label(t(f"privacy.channel.{channel.value}"))
            b.setVisible(choosing and channel in self._channels)
        self.address_label.setText(t(f"privacy.address.{asking.value}") if asking else "")
        self.address_label.setVisible(asking is not None)
        self.email_keyboard.setVisible(asking is ChannelKind.EMAIL)
        self.email_keyboard.retranslate(t, t("privacy.send"))
        self.phone_keypad.setVisible(asking is ChannelKind.SMS)
        self.phone_keypad.retranslate(t, t("privacy.send"))
        self.phone_keypad.display.setAccessibleName(t("privacy.address.sms"))
        self.send_button.set_label(t("privacy.send"))
        # E-mail has its Send beside the address it sends to.
        self.send_button.setVisible(asking is ChannelKind.SMS)
        self.sent_label.setText(t(f"privacy.sent.{sent.value}") if sent else "")
        self.sent_label.setVisible(sent is not None)
        self.kept_label.setText(t("privacy.nothing_kept"))
        self.done_button.set_label(t("common.done") if sent else t("privacy.skip"))
        # While an address is typed, Send is the one primary action; a second yellow
        # "No thanks" under the keyboard drew the eye away from it.
        _set_primary(self.done_button, None, primary=asking is None)
        super().retranslate()

    def first_focus(self) -> QWidget | None:
        if self._sent is not None:
            return self.done_button
        if self._asking is ChannelKind.EMAIL:
            return self.email_keyboard.display
        if self._asking is ChannelKind.SMS:
            return self.phone_keypad.display
        for channel in self._channels:
            return self.channel_buttons[channel]
        return self.done_button

    def reset(self) -> None:
        super().reset()
        self._sent = self._asking = None
        self._channels = RECEIPT_CHANNELS
        self.email_keyboard.reset()
        self.phone_keypad.reset()
        self.retranslate()


class ConsentScreen(Screen):
    """Plain-language consent. Nothing happens until the shopper ticks AND presses agree."""

    name = "consent"
    # "Still there?" or "A member of staff is on the way" scrolled "How to delete" out of
    # sight on a 1024x768 display in English.
    notice_in_header = True

    def __init__(self, tr: Translator) -> None:
        super().__init__(tr)
        self.points = [label("consent", center=False) for _ in range(4)]
        text = QWidget()
        col = QVBoxLayout(text)
        # 18 px between the points keeps all four on one 1024x768 screen, the PIN and the
        # refreshed template included: a shopper should not have to find a scroll bar to
        # read how to delete.
        col.setSpacing(18)
        for p in self.points:
            col.addWidget(p)
        col.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(text)
        scroll.setWidgetResizable(True)
        self.body.addWidget(scroll, 1)
        self.agree_box = TickBox()
        self.agree_box.setObjectName("consent_box")
        self.body.addWidget(self.agree_box)
        self.agree_button = BigButton("primary")
        self.agree_button.setObjectName("consent_agree")
        self.agree_button.setEnabled(False)
        self.decline_button = BigButton()
        self.decline_button.setObjectName("consent_decline")
        self.agree_box.toggled.connect(self.agree_button.setEnabled)
        self.footer.addWidget(self.decline_button, 1)
        self.footer.addWidget(self.agree_button, 2)
        self._operator = ""
        self._days = 0

    def show_terms(self, operator: str, retention_days: int) -> None:
        self._operator, self._days = operator, retention_days
        self.agree_box.setChecked(False)
        self.retranslate()

    def retranslate(self) -> None:
        t = self.tr_
        self.title.setText(t("enroll.consent_title"))
        self.subtitle.hide()
        texts = [
            t("enroll.consent_what"),
            t("enroll.consent_where", operator=self._operator),
            t("enroll.consent_how_long", period=retention_period(t, self._days)),
            t("enroll.consent_delete"),
        ]
        for p, text in zip(self.points, texts, strict=True):
            p.setText("•  " + text)
            p.setAccessibleName(text)
        self.agree_box.setText(t("enroll.consent_agree"))
        self.agree_box.setAccessibleName(t("enroll.consent_agree"))
        self.agree_button.set_label(t("enroll.agree"))
        self.decline_button.set_label(t("enroll.decline"))
        super().retranslate()

    def first_focus(self) -> QWidget | None:
        return self.agree_box

    def reset(self) -> None:
        super().reset()
        self.agree_box.setChecked(False)


class EnrollPhoneScreen(_KeypadScreen):
    name = "enroll_phone"

    def __init__(self, tr: Translator) -> None:
        super().__init__(tr)
        # The side column's room to grow: without it the keys stopped growing on a
        # 1280x1024 display and the spare height went to the title and the notice (a
        # notice box four lines tall for one line of text).
        self.side.addStretch(1)

    def retranslate(self) -> None:
        t = self.tr_
        self.title.setText(t("enroll.phone_title"))
        self.subtitle.setText(t("enroll.phone_subtitle"))
        super().retranslate()
        self.keypad.display.setAccessibleName(t("claim.phone"))


class EnrollPinScreen(_KeypadScreen):
    """The shopper's 4-digit PIN, typed twice and drawn as dots only; or Skip, which says
    what going without one means. The digits go to the model on submit; the screen keeps
    none (the keypad is cleared at once)."""

    name = "enroll_pin"

    def __init__(self, tr: Translator) -> None:
        super().__init__(tr, max_digits=PIN_DIGITS)
        self.keypad.set_reveal_last(0)  # a secret: dots only, never a digit
        self.keypad.set_minimum(PIN_DIGITS)
        self.skip_button = BigButton()
        self.skip_button.setObjectName("enroll_pin_skip")
        self.skip_hint = label("prompt")
        self.skip_hint.setObjectName("enroll_pin_skip_hint")
        self.side.addStretch(1)
        self.side.addWidget(self.skip_hint)
        self.side.addWidget(self.skip_button)
        self.side.addStretch(1)
        self.confirming = False

    def ask(self, *, confirm: bool) -> None:
        """The PIN (``confirm`` False) or the same PIN again (True)."""
        self.confirming = confirm
        self.keypad.reset()
        self.retranslate()
        if self.isVisible():
            self.refocus()

    def retranslate(self) -> None:
        t = self.tr_
        again = self.confirming
        self.title.setText(t("enroll.pin_again_title" if again else "enroll.pin_title"))
        self.subtitle.setText(t("enroll.pin_again_subtitle" if again else "enroll.pin_subtitle"))
        self.skip_hint.setText(t("enroll.pin_skip_hint"))
        self.skip_button.set_label(t("enroll.pin_skip"), t("enroll.pin_skip_hint"))
        super().retranslate()
        self.keypad.display.setAccessibleName(self.title.text())

    def reset(self) -> None:
        super().reset()
        self.confirming = False
        self.retranslate()


class EnrollCardScreen(Screen):
    name = "enroll_card"

    def __init__(self, tr: Translator) -> None:
        super().__init__(tr)
        self.prompt = label("prompt")
        self.linked_label = label("subtitle")
        self.tap_button = BigButton("primary")
        self.tap_button.setObjectName("enroll_tap")
        self.tap_button.setIcon(icon("card", 48, "#101418"))
        self.tap_button.setIconSize(QSize(48, 48))
        self.tap_button.setMinimumHeight(110)
        self.continue_button = BigButton("primary")
        self.continue_button.setObjectName("enroll_card_continue")
        self.body.addStretch(1)
        self.body.addWidget(self.prompt)
        self.body.addWidget(self.tap_button)
        self.body.addWidget(self.linked_label)
        self.body.addStretch(1)
        self.footer.addWidget(self.continue_button, 2)
        self._method = ""

    def show_linked(self, masked_method: str) -> None:
        self._method = masked_method
        self.retranslate()
        if self.isVisible():
            # The tap button just disappeared: Qt would pass the focus on to Cancel, and
            # the next Enter abandoned the enrollment.
            self.refocus()

    def retranslate(self) -> None:
        t = self.tr_
        self.title.setText(t("enroll.card_title"))
        self.subtitle.hide()
        self.prompt.setText(t("enroll.card_prompt"))
        # Once the card is linked the screen says so; "Tap your card" would ask again.
        self.prompt.setVisible(not self._method)
        self.tap_button.set_label(t("enroll.card_title"), t("enroll.card_prompt"))
        self.tap_button.setVisible(not self._method)
        self.linked_label.setText(
            t("enroll.card_linked", method=self._method) if self._method else ""
        )
        self.continue_button.set_label(t("common.continue"))
        self.continue_button.setEnabled(bool(self._method))
        super().retranslate()

    def first_focus(self) -> QWidget | None:
        return self.tap_button if not self._method else self.continue_button

    def reset(self) -> None:
        super().reset()
        self._method = ""
        self.tap_button.setEnabled(True)
        self.retranslate()


class EnrollDoneScreen(PrivacyScreen):
    name = "enroll_done"

    def retranslate(self) -> None:
        super().retranslate()
        self.title.setText(self.tr_("enroll.done_title"))
        if self._sent is None:
            self.subtitle.setText(self.tr_("enroll.done_body") + "\n" + self.tr_("privacy.body"))
        self.setAccessibleName(self.title.text())


class AttendantPinScreen(_KeypadScreen):
    """Staff sign-in: a staff ID and a PIN (each member of staff has their own)."""

    name = "attendant_pin"
    calls_attendant = False  # staff are the ones at the till here
    sign_in_requested = pyqtSignal(str, str)  # staff id, PIN

    def __init__(self, tr: Translator) -> None:
        super().__init__(tr, max_digits=12)
        self.keypad.set_reveal_last(0)
        self.staff_id_label = label("subtitle")
        self.staff_id_edit = QLineEdit()
        self.staff_id_edit.setObjectName("staff_id")
        self.staff_id_edit.setLayoutDirection(Qt.LayoutDirection.LeftToRight)
        self.staff_id_edit.setMaxLength(32)
        self.staff_id_edit.returnPressed.connect(self.keypad.display.setFocus)
        self.side.insertWidget(0, self.staff_id_label)
        self.side.insertWidget(1, self.staff_id_edit)
        self.side.addStretch(1)
        self.keypad.submitted.connect(self._submit)

    def _submit(self, pin: str) -> None:
        staff_id = self.staff_id_edit.text().strip()
        if staff_id:
            self.sign_in_requested.emit(staff_id, pin)

    def retranslate(self) -> None:
        t = self.tr_
        self.title.setText(t("attendant.sign_in_title"))
        self.subtitle.hide()
        self.staff_id_label.setText(t("attendant.staff_id"))
        self.staff_id_edit.setAccessibleName(t("attendant.staff_id"))
        super().retranslate()
        self.keypad.display.setAccessibleName(t("attendant.pin_title"))

    def first_focus(self) -> QWidget | None:
        return self.keypad.display if self.staff_id_edit.text() else self.staff_id_edit

    def reset(self) -> None:
        super().reset()
        self.staff_id_edit.clear()


# What each kind of request asks staff to do, and the action that resolves it.
_REQUEST_ACTIONS: dict[RequestKind, str] = {
    RequestKind.CALLED: "done",
    RequestKind.AGE_CHECK: "approve_age",
    RequestKind.ABANDONED_BASKET: "done",
    RequestKind.LANE_PAUSED: "unlock",
    RequestKind.PAYMENT_UNKNOWN: "settle",
}


class AttendantScreen(Screen):
    """Staff only, in the staff member's own language: what needs attention at this till
    (each request with the button that resolves it), the basket with a void per line,
    the lane's face-pay state with an unlock, reprint, health, and the few settings the
    till may change (whole numbers within the model's SETTING_BOUNDS, named in words)."""

    name = "attendant"
    cancellable = False
    calls_attendant = False
    request_action = pyqtSignal(
        int, str
    )  # request id, "done" | "approve_age" | "unlock" | "settle"
    void_requested = pyqtSignal(str)  # sku
    unlock_requested = pyqtSignal()
    reprint_requested = pyqtSignal()
    staff_language_chosen = pyqtSignal(object)  # Language

    def __init__(self, tr: Translator) -> None:
        # The staff member's language is theirs once they pick it (until they sign out);
        # until then the screen speaks the till's current language.
        self.shopper_tr = tr
        self.staff_tr = Translator(tr.language)
        self._staff_choice: Language | None = None
        super().__init__(self.staff_tr)
        self.requests_label = label("subtitle", center=False)
        # Any number of requests fits: they scroll, oldest first.
        requests_widget = QWidget()
        self.requests_box = QVBoxLayout(requests_widget)
        self.requests_box.setContentsMargins(0, 0, 0, 0)
        self.requests_box.addStretch(1)
        self.requests_scroll = QScrollArea()
        self.requests_scroll.setObjectName("attendant_requests")
        self.requests_scroll.setWidget(requests_widget)
        self.requests_scroll.setWidgetResizable(True)
        # One request row (a 70 px button) and the scroll bar: with more, a staff notice
        # ("Not charged: ...") pushed the footer off a 1024x768 or 1280x800 display.
        self.requests_scroll.setMinimumHeight(80)
        self.request_rows: dict[int, tuple[QLabel, BigButton]] = {}
        self.no_requests = label("fineprint", center=False)
        self.lane_label = label("subtitle", center=False)
        self.unlock_button = BigButton("nav")
        self.unlock_button.setObjectName("attendant_unlock")
        self.unlock_button.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        self.unlock_button.setIcon(icon("lock", 32))
        self.unlock_button.setIconSize(QSize(32, 32))
        self.unlock_button.clicked.connect(self.unlock_requested)
        self.basket_label = label("subtitle", center=False)
        self.basket_list = QTableWidget(0, 3)
        self.basket_list.setObjectName("attendant_basket")
        self.basket_list.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.basket_list.verticalHeader().setVisible(False)  # type: ignore[union-attr]
        self.basket_list.horizontalHeader().setVisible(False)  # type: ignore[union-attr]
        header = self.basket_list.horizontalHeader()
        assert header is not None
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.basket_list.setLayoutDirection(Qt.LayoutDirection.LeftToRight)
        self.basket_list.setMinimumHeight(90)
        self.void_buttons: dict[str, QPushButton] = {}
        self.reprint_button = BigButton("nav")
        self.reprint_button.setObjectName("attendant_reprint")
        self.reprint_button.setIcon(icon("printer", 32))
        self.reprint_button.setIconSize(QSize(32, 32))
        self.reprint_button.clicked.connect(self.reprint_requested)
        # Settings: only what the model allows, as whole numbers inside its bounds.
        self.settings_label = label("subtitle", center=False)
        self.settings_form = QFormLayout()
        self.threshold_spins: dict[str, QSpinBox] = {}
        self._setting_labels: dict[str, QLabel] = {}
        self.camera_box = QComboBox()
        self.camera_box.setEditable(True)
        self.camera_box.setObjectName("attendant_camera")
        self.camera_label = plain_label()
        self.settings_form.addRow(self.camera_label, self.camera_box)
        self.camera_health = label("fineprint", center=False)
        self.backend_health = label("fineprint", center=False)
        self.errors = QListWidget()
        self.errors.setObjectName("attendant_errors")
        # "12:01:02  camera: source_exhausted" is a time and a code: in Arabic the list
        # put the time after the code.
        self.errors.setLayoutDirection(Qt.LayoutDirection.LeftToRight)
        self.errors.setMinimumHeight(48)
        self.language_buttons: dict[Language, BigButton] = {}
        langs = QHBoxLayout()
        for lang in Language:
            b = BigButton("nav")
            b.setCheckable(True)
            b.setObjectName(f"staff_lang_{lang.value}")
            b.setProperty("compact", True)
            b.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)
            b.clicked.connect(lambda _=False, lang=lang: self.set_staff_language(lang))
            self.language_buttons[lang] = b
            langs.addWidget(b)
        left = QVBoxLayout()
        left.addWidget(self.requests_label)
        left.addWidget(self.no_requests)
        left.addWidget(self.requests_scroll, 3)
        lane = QHBoxLayout()
        lane.addWidget(self.lane_label, 1)
        lane.addWidget(self.unlock_button)
        left.addLayout(lane)
        left.addWidget(self.basket_label)
        left.addWidget(self.basket_list, 2)
        # Settings and health scroll inside their column: they never push the footer off.
        details = QWidget()
        details_box = QVBoxLayout(details)
        details_box.setContentsMargins(0, 0, 0, 0)
        details_box.addWidget(self.settings_label)
        details_box.addLayout(self.settings_form)
        details_box.addWidget(self.camera_health)
        details_box.addWidget(self.backend_health)
        details_box.addWidget(self.errors, 1)
        details_scroll = QScrollArea()
        details_scroll.setObjectName("attendant_details")
        details_scroll.setWidget(details)
        details_scroll.setWidgetResizable(True)
        details_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        right = QVBoxLayout()
        right.addLayout(langs)
        right.addWidget(details_scroll, 1)
        row = QHBoxLayout()
        row.setSpacing(32)
        row.addLayout(left, 3)
        row.addLayout(right, 2)
        self.body.addLayout(row, 1)
        self.apply_button = BigButton("primary")
        self.apply_button.setObjectName("attendant_apply")
        self.exit_button = BigButton()
        self.exit_button.setObjectName("attendant_exit")
        self.footer.addWidget(self.exit_button)
        self.footer.addWidget(self.reprint_button)
        self.footer.addWidget(self.apply_button)
        self._requests: tuple[AttendantRequest, ...] = ()
        self._lane_paused = False
        self._camera_ok: tuple[str, float] | None = None
        self._backend_ok = False
        self._lines: list[tuple[str, str, int]] = []
        self._age_restricted: frozenset[str] = frozenset()

    # -- what the model says -------------------------------------------------------------
    def set_staff_language(self, language: Language) -> None:
        self._staff_choice = language
        self.staff_tr.language = language
        self.setLayoutDirection(
            Qt.LayoutDirection.RightToLeft if language.rtl else Qt.LayoutDirection.LeftToRight
        )
        self.retranslate()
        self.staff_language_chosen.emit(language)

    def show_queue(self, requests: Sequence[AttendantRequest]) -> None:
        """The open requests, oldest first, each with the button that resolves it."""
        self._requests = tuple(requests)
        for text, button in self.request_rows.values():
            text.setParent(None)
            button.setParent(None)
        self.request_rows.clear()
        for r in self._requests:
            text = label("fineprint", center=False)
            button = BigButton("nav")
            button.setObjectName(f"request_{r.request_id}")
            button.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
            action = _REQUEST_ACTIONS.get(r.kind, "done")
            button.clicked.connect(
                lambda _=False, rid=r.request_id, a=action: self.request_action.emit(rid, a)
            )
            row = QHBoxLayout()
            row.addWidget(text, 1)
            row.addWidget(button)
            self.requests_box.insertLayout(self.requests_box.count() - 1, row)
            self.request_rows[r.request_id] = (text, button)
        self.retranslate()

    def show_lane(self, paused: bool) -> None:
        self._lane_paused = paused
        self.retranslate()

    def show_sale(
        self, lines: Sequence[tuple[str, str, int]], age_restricted: Iterable[str] = ()
    ) -> None:
        """``(sku, description, quantity)`` per basket line, each with a void button;
        ``age_restricted`` are the SKUs an age check is about (named in its request)."""
        self._lines = list(lines)
        self._age_restricted = frozenset(age_restricted)
        self.basket_list.setRowCount(len(self._lines))
        self.void_buttons.clear()
        for row, (sku, name, qty) in enumerate(self._lines):
            self.basket_list.setItem(row, 0, QTableWidgetItem(name))
            count = QTableWidgetItem(str(qty))
            count.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            self.basket_list.setItem(row, 1, count)
            void = QPushButton()
            void.setObjectName(f"void_{sku}")
            void.setProperty("role", "cell")
            void.clicked.connect(lambda _=False, sku=sku: self.void_requested.emit(sku))
            self.basket_list.setCellWidget(row, 2, void)
            self.void_buttons[sku] = void
        self.basket_list.resizeRowsToContents()
        self.retranslate()

    def show_settings(
        self,
        cameras: Sequence[str],
        camera: str,
        backend_url: str,
        settings: Mapping[str, float],
    ) -> None:
        """Only the settings the model lets a till change (``SETTING_BOUNDS``); raw
        thresholds and anything else stay out of the till's UI."""
        self.camera_box.clear()
        self.camera_box.addItems(list(dict.fromkeys([camera, *cameras])))
        self.camera_box.setCurrentText(camera)
        self._backend_url = backend_url
        for name in list(self.threshold_spins):
            self.settings_form.removeRow(self._setting_labels.pop(name))
        self.threshold_spins.clear()
        for name, (low, high) in SETTING_BOUNDS.items():
            spin = QSpinBox()
            spin.setObjectName(f"setting_{name}")
            spin.setRange(int(low), int(high))
            value = settings.get(name, low)
            spin.setValue(round(min(high, max(low, value))))
            text = plain_label()
            text.setWordWrap(True)
            self.settings_form.addRow(text, spin)
            self.threshold_spins[name] = spin
            self._setting_labels[name] = text
        self.retranslate()

    def show_health(
        self, camera: tuple[str, float] | None, backend_ok: bool, errors: Sequence[str]
    ) -> None:
        self._camera_ok, self._backend_ok = camera, backend_ok
        self.errors.clear()
        self.errors.addItems(list(errors) or [self.tr_("attendant.no_errors")])
        self.retranslate()

    def thresholds(self) -> dict[str, float]:
        """The settings as the attendant left them (the model clamps them again)."""
        return {name: float(spin.value()) for name, spin in self.threshold_spins.items()}

    def retranslate(self) -> None:
        t = self.tr_
        if self._staff_choice is None:
            t.language = self.shopper_tr.language
        self.title.setText(t("attendant.title"))
        self.subtitle.hide()
        self.requests_label.setText(t("attendant.requests"))
        names = {sku: name for sku, name, _ in self._lines}
        restricted = ", ".join(n for sku, n in names.items() if sku in self._age_restricted)
        for r in self._requests:
            text, button = self.request_rows[r.request_id]
            text.setText(
                t(
                    f"attendant.request.{r.kind.value}",
                    # the product's name when it is on the till, never a bare SKU if known
                    item=names.get(r.sku, r.sku) if r.sku else restricted,
                    count=r.item_count,
                    amount=r.amount_text,
                )
            )
            action = _REQUEST_ACTIONS.get(r.kind, "done")
            button.set_label(t(f"attendant.action.{action}"))
        self.no_requests.setText(t("attendant.no_requests"))
        self.no_requests.setVisible(not self._requests)
        self.requests_scroll.setVisible(bool(self._requests))
        self.lane_label.setText(
            t("attendant.lane_paused") if self._lane_paused else t("attendant.lane_open")
        )
        self.unlock_button.set_label(t("attendant.action.unlock"))
        self.unlock_button.setVisible(self._lane_paused)
        self.basket_label.setText(t("attendant.basket"))
        self.basket_list.setAccessibleName(t("attendant.basket"))
        for sku, void in self.void_buttons.items():
            void.setText(t("attendant.void"))
            void.setAccessibleName(f"{t('attendant.void')}: {sku}")
        self.reprint_button.set_label(t("attendant.reprint"))
        self.settings_label.setText(t("attendant.settings"))
        self.camera_label.setText(t("attendant.camera"))
        self.camera_box.setAccessibleName(t("attendant.camera"))
        for name, text in self._setting_labels.items():
            text.setText(t(f"attendant.setting.{name}"))
            if name.endswith("_s"):
                self.threshold_spins[name].setSuffix(" " + t("common.seconds_unit"))
            self.threshold_spins[name].setAccessibleName(t(f"attendant.setting.{name}"))
        cam = self._camera_ok
        self.camera_health.setText(
            t("attendant.camera_ok", name=cam[0], fps=f"{cam[1]:.0f}")
            if cam
            else t("attendant.camera_down")
        )
        self.backend_health.setText(
            t("attendant.backend_ok") if self._backend_ok else t("attendant.backend_down")
        )
        self.errors.setAccessibleName(t("attendant.errors"))
        for lang, b in self.language_buttons.items():
            b.set_label(lang.native_name, f"{t('idle.language')}: {lang.native_name}")
            b.setChecked(lang is t.language)
        self.apply_button.set_label(t("attendant.apply"))
        self.exit_button.set_label(t("attendant.exit"))
        super().retranslate()

    def first_focus(self) -> QWidget | None:
        for _, button in self.request_rows.values():
            return button
        return self.exit_button

    def reset(self) -> None:
        """Signed out: the next staff member starts in the till's language again."""
        super().reset()
        if self._staff_choice is not None:
            self._staff_choice = None
            parent = self.parentWidget()
            self.setLayoutDirection(
                parent.layoutDirection() if parent is not None else self.layoutDirection()
            )
            self.setAttribute(Qt.WidgetAttribute.WA_SetLayoutDirection, False)
            self.retranslate()


SCREEN_NAMES = (
    "idle",
    "basket",
    "choice",
    "claim",
    "capture",
    "liveness",
    "processing",
    "result",
    "step_up",
    "card",
    "receipt",
    "consent",
    "enroll_phone",
    "enroll_card",
    "enroll_pin",
    "enroll_done",
    "confirm_cancel",
    "attendant_pin",
    "attendant",
)

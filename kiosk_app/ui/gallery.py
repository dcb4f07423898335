"""Every screen in a state a shopper or an attendant would see, for layout checks and screenshots.

``tests/kiosk/test_kiosk_layout.py`` stages each screen at every supported display size in
every language and looks for widgets outside the window, overlapping or with clipped text;
``scripts/screenshots.py`` stages the same states on the real kiosk. The contents are the
longest realistic ones (a full basket, a long receipt, a failure message), because those are
the ones that break a layout.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from PyQt6.QtCore import QRectF, Qt
from PyQt6.QtGui import QColor, QImage, QLinearGradient, QPainter

from facepay import BasketLine, CheckoutState, FrameFeedback, QualityReason
from kiosk_app.model import AttendantRequest, ChannelKind, OutcomeKind, RequestKind, Sale
from kiosk_app.screens import (
    SCREEN_NAMES,
    AttendantPinScreen,
    AttendantScreen,
    BasketScreen,
    CaptureScreen,
    CardScreen,
    ChoiceScreen,
    ClaimScreen,
    ConfirmCancelScreen,
    ConsentScreen,
    EnrollCardScreen,
    EnrollDoneScreen,
    EnrollPhoneScreen,
    EnrollPinScreen,
    IdleScreen,
    LivenessScreen,
    PrivacyScreen,
    ProcessingScreen,
    ResultScreen,
    Screen,
    StepUpScreen,
    not_clear_message_key,
)

__all__ = [
    "DISPLAY_SIZES",
    "SCREEN_TYPES",
    "STATES",
    "TIMED_SCREENS",
    "VARIANTS",
    "stage",
    "stand_in_preview",
]

# The displays a self-checkout is sold with: 4:3 and 5:4 panels, a 16:10 and a 16:9 one.
DISPLAY_SIZES: tuple[tuple[int, int], ...] = ((1024, 768), (1280, 800), (1280, 1024), (1920, 1080))

SCREEN_TYPES: Mapping[str, type[Screen]] = {
    "idle": IdleScreen,
    "basket": BasketScreen,
    "choice": ChoiceScreen,
    "claim": ClaimScreen,
    "capture": CaptureScreen,
    "liveness": LivenessScreen,
    "processing": ProcessingScreen,
    "result": ResultScreen,
    "step_up": StepUpScreen,
    "card": CardScreen,
    "receipt": PrivacyScreen,
    "consent": ConsentScreen,
    "enroll_phone": EnrollPhoneScreen,
    "enroll_card": EnrollCardScreen,
    "enroll_pin": EnrollPinScreen,
    "enroll_done": EnrollDoneScreen,
    "confirm_cancel": ConfirmCancelScreen,
    "attendant_pin": AttendantPinScreen,
    "attendant": AttendantScreen,
}
assert tuple(SCREEN_TYPES) == SCREEN_NAMES

PRODUCTS = (
    ("4011", "Bananas 1 kg", "EUR 1.19"),
    ("5000112637922", "Sparkling water 1.5 l", "EUR 0.89"),
    ("4006381333931", "Wholegrain bread", "EUR 2.49"),
    ("8712100837516", "Free-range eggs x6", "EUR 2.99"),
    ("5057172236511", "Coffee beans 500 g", "EUR 7.49"),
    ("3258431210013", "Red wine 0.75 l", "EUR 8.99"),
)
BASKET = Sale(
    sale_id="gallery-sale",
    lines=tuple(
        BasketLine(sku=sku, description=name, quantity=quantity, unit_price_minor=price)
        for sku, name, quantity, price in (
            ("4011", "Bananas 1 kg", 2, 119),
            ("5057172236511", "Coffee beans 500 g", 1, 749),
            ("4006381333931", "Wholegrain bread", 1, 249),
            ("8712100837516", "Free-range eggs x6", 3, 299),
            ("5000112637922", "Sparkling water 1.5 l", 6, 89),
            ("3258431210013", "Red wine 0.75 l", 1, 899),  # age-restricted
        )
    ),
    currency="EUR",
)
RECEIPT_LINES = (
    "2 x Bananas 1 kg  EUR 2.38",
    "1 x Coffee beans 500 g  EUR 7.49",
    "1 x Wholegrain bread  EUR 2.49",
    "3 x Free-range eggs x6  EUR 8.97",
    "6 x Sparkling water 1.5 l  EUR 5.34",
    "1 x Red wine 0.75 l  EUR 8.99",
)


def stand_in_preview(width: int = 640, height: int = 360) -> QImage:
    """A drawn 'camera image': a room, a head and shoulders where a shopper would be.

    Screenshots never show a frame of the evaluation clips: those must not be copied into
    the repository, and a screenshot of one would be a copy.
    """
    image = QImage(width, height, QImage.Format.Format_RGB888)
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    wall = QLinearGradient(0, 0, 0, height)
    wall.setColorAt(0, QColor("#8D8A83"))
    wall.setColorAt(1, QColor("#5E5B55"))
    p.fillRect(0, 0, width, height, wall)
    p.fillRect(
        int(width * 0.08),
        int(height * 0.1),
        int(width * 0.22),
        int(height * 0.9),
        QColor("#A9A49A"),
    )
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor("#2B2B30"))
    p.drawEllipse(QRectF(width * 0.28, height * 0.78, width * 0.44, height * 0.5))
    p.setBrush(QColor("#C99B7E"))
    p.drawRect(QRectF(width * 0.46, height * 0.62, width * 0.08, height * 0.2))
    p.drawEllipse(QRectF(width * 0.41, height * 0.2, width * 0.18, height * 0.48))
    p.setBrush(QColor("#3A2A22"))
    p.drawChord(QRectF(width * 0.405, height * 0.16, width * 0.19, height * 0.3), 0, 180 * 16)
    p.end()
    return image


def _idle(s: Screen, preview: QImage) -> None:
    assert isinstance(s, IdleScreen)


def _basket(s: Screen, preview: QImage) -> None:
    assert isinstance(s, BasketScreen)
    s.set_products(PRODUCTS)
    s.show_basket(BASKET)


def _choice(s: Screen, preview: QImage) -> None:
    assert isinstance(s, ChoiceScreen)
    s.show_amount(BASKET.amount_text, True)


def _claim(s: Screen, preview: QImage) -> None:
    assert isinstance(s, ClaimScreen)
    for d in "015112345678":
        s.keypad.press(d)


def _capture(s: Screen, preview: QImage) -> None:
    assert isinstance(s, CaptureScreen)
    s.camera.show_image(preview)
    s.show_progress(
        FrameFeedback(
            state=CheckoutState.CAPTURING,
            frame_index=0,
            reasons=(QualityReason.TOO_BRIGHT,),
            face_box=(0.4, 0.2, 0.2, 0.4),
        )
    )


def _liveness(s: Screen, preview: QImage) -> None:
    assert isinstance(s, LivenessScreen)
    s.camera.show_image(preview)
    s.show_progress(
        FrameFeedback(
            state=CheckoutState.LIVENESS,
            frame_index=0,
            challenge="turn_left",
            challenge_index=0,
            challenge_count=2,
            seconds_left=4.2,
            progress=0.35,
            face_box=(0.4, 0.2, 0.2, 0.4),
        )
    )


def _result(s: Screen, preview: QImage) -> None:
    assert isinstance(s, ResultScreen)
    s.show_result(
        OutcomeKind.APPROVED,
        amount_text=BASKET.amount_text,
        masked_method="Visa •••• 4242",
        lines=RECEIPT_LINES,
        receipt_id="rcpt_7QK2M9XW4B",
    )


def _step_up(s: Screen, preview: QImage) -> None:
    assert isinstance(s, StepUpScreen)
    s.ask(4)
    s.keypad.press("1")


def _card(s: Screen, preview: QImage) -> None:
    assert isinstance(s, CardScreen)
    s.show_amount(BASKET.amount_text)


def _privacy(s: Screen, preview: QImage) -> None:
    assert isinstance(s, PrivacyScreen)
    s.offer()


def _consent(s: Screen, preview: QImage) -> None:
    assert isinstance(s, ConsentScreen)
    s.show_terms("facepay sandbox", 1095)


def _enroll_phone(s: Screen, preview: QImage) -> None:
    assert isinstance(s, EnrollPhoneScreen)
    for d in "0151123":
        s.keypad.press(d)


def _enroll_card(s: Screen, preview: QImage) -> None:
    assert isinstance(s, EnrollCardScreen)
    s.show_linked("Mastercard •••• 4444")


def _enroll_pin(s: Screen, preview: QImage) -> None:
    assert isinstance(s, EnrollPinScreen)
    s.ask(confirm=False)
    for d in "38":
        s.keypad.press(d)


def _enroll_done(s: Screen, preview: QImage) -> None:
    assert isinstance(s, EnrollDoneScreen)
    s.offer()


def _confirm_cancel(s: Screen, preview: QImage) -> None:
    assert isinstance(s, ConfirmCancelScreen)
    s.ask(BASKET.item_count, BASKET.amount_text)


def _attendant_pin(s: Screen, preview: QImage) -> None:
    assert isinstance(s, AttendantPinScreen)
    s.keypad.press("1")


def _attendant(s: Screen, preview: QImage) -> None:
    assert isinstance(s, AttendantScreen)
    s.show_settings(["0", "1"], "0", "https://pay.example", {"liveness_challenges": 3.0})
    s.show_health(("0", 29.7), True, ["12:01:02  camera: source_exhausted"])
    s.show_lane(True)
    s.show_sale([(line.sku, line.description, line.quantity) for line in BASKET.lines])
    s.show_queue(
        [
            AttendantRequest(request_id=1, kind=RequestKind.CALLED, raised_at=0.0),
            AttendantRequest(
                request_id=2, kind=RequestKind.AGE_CHECK, raised_at=1.0, sku="3258431210013"
            ),
            AttendantRequest(
                request_id=3,
                kind=RequestKind.ABANDONED_BASKET,
                raised_at=2.0,
                item_count=BASKET.item_count,
                amount_text=BASKET.amount_text,
            ),
        ]
    )


STATES: Mapping[str, Callable[[Screen, QImage], None]] = {
    "idle": _idle,
    "basket": _basket,
    "choice": _choice,
    "claim": _claim,
    "capture": _capture,
    "liveness": _liveness,
    "result": _result,
    "processing": lambda s, p: None,
    "step_up": _step_up,
    "card": _card,
    "receipt": _privacy,
    "consent": _consent,
    "enroll_phone": _enroll_phone,
    "enroll_card": _enroll_card,
    "enroll_pin": _enroll_pin,
    "enroll_done": _enroll_done,
    "confirm_cancel": _confirm_cancel,
    "attendant_pin": _attendant_pin,
    "attendant": _attendant,
}


def _claim_invalid(s: Screen) -> None:
    assert isinstance(s, ClaimScreen)
    s.keypad.reset()  # the kiosk clears a refused number
    s.show_notice(s.tr_("claim.invalid"))


def _pin_refused(s: Screen) -> None:
    assert isinstance(s, EnrollPinScreen)
    s.ask(confirm=False)
    s.show_notice(s.tr_("enroll.pin_trivial"))


def _pin_again(s: Screen) -> None:
    assert isinstance(s, EnrollPinScreen)
    s.ask(confirm=True)
    s.keypad.press("3")


def _step_up_pin(s: Screen) -> None:
    assert isinstance(s, StepUpScreen)
    s.ask(4, pin=True)
    s.keypad.reset()
    s.keypad.press("3")


def _result_kind(kind: OutcomeKind) -> Callable[[Screen], None]:
    def show(s: Screen) -> None:
        assert isinstance(s, ResultScreen)
        s.show_result(kind)

    return show


def _not_clear(reason: QualityReason) -> Callable[[Screen], None]:
    def show(s: Screen) -> None:
        assert isinstance(s, ResultScreen)
        # Enrolling from the idle screen: no sale, so no card to pay by.
        s.show_result(OutcomeKind.FACE_NOT_CLEAR, quality_reasons=(reason,), card_offered=False)

    return show


def _choice_lane_paused(s: Screen) -> None:
    assert isinstance(s, ChoiceScreen)
    s.show_amount(BASKET.amount_text, True, lane_paused=True)


def _notice(key: str, **values: object) -> Callable[[Screen], None]:
    """A model ``Notice`` (or the controller's inactivity warning) on a staged screen."""

    def show(s: Screen) -> None:
        s.show_notice(s.tr_(key, **values))

    return show


def _capture_prompt(*reasons: QualityReason, face: bool = True) -> Callable[[Screen], None]:
    def show(s: Screen) -> None:
        assert isinstance(s, CaptureScreen)
        s.show_progress(
            FrameFeedback(
                state=CheckoutState.CAPTURING,
                frame_index=0,
                reasons=reasons,
                face_box=(0.4, 0.2, 0.2, 0.4) if face else None,
            )
        )

    return show


def _camera_lost(s: Screen) -> None:
    assert isinstance(s, CaptureScreen)
    s.camera_lost()


def _challenge(challenge: str | None, *reasons: QualityReason) -> Callable[[Screen], None]:
    def show(s: Screen) -> None:
        assert isinstance(s, LivenessScreen)
        s.show_progress(
            FrameFeedback(
                state=CheckoutState.LIVENESS,
                frame_index=0,
                challenge=challenge,
                challenge_index=1 if challenge else 0,
                challenge_count=3 if challenge else 0,
                seconds_left=3.0 if challenge else 0.0,
                progress=0.5 if challenge else 0.0,
                reasons=reasons,
                face_box=None if reasons else (0.4, 0.2, 0.2, 0.4),
            )
        )

    return show


def _by_card(s: Screen) -> None:
    assert isinstance(s, ResultScreen)
    s.show_result(
        OutcomeKind.APPROVED,
        amount_text=BASKET.amount_text,
        masked_method="Visa •••• 4242",
        lines=RECEIPT_LINES,
        by_card=True,
    )


def _enrolling_failed(s: Screen) -> None:
    assert isinstance(s, ResultScreen)
    s.show_result(OutcomeKind.LIVENESS_FAILED, card_offered=False, enrolling=True)


def _basket_empty(s: Screen) -> None:
    assert isinstance(s, BasketScreen)
    s.reset()


def _face_unavailable(s: Screen) -> None:
    assert isinstance(s, ChoiceScreen)
    s.show_amount(BASKET.amount_text, False)


def _claim_scan(key: str) -> Callable[[Screen], None]:
    def show(s: Screen) -> None:
        assert isinstance(s, ClaimScreen)
        button = s.loyalty_button if key == "claim.loyalty_prompt" else s.qr_button
        button.click()

    return show


def _channel(channel: ChannelKind, sent: bool) -> Callable[[Screen], None]:
    def show(s: Screen) -> None:
        assert isinstance(s, PrivacyScreen)
        if sent:
            s.show_sent(channel)
            return
        s.channel_buttons[channel].click()
        if channel is ChannelKind.EMAIL:
            for key in "shopper@example.com":
                s.email_keyboard.press(key)
        else:
            for d in "015112345":
                s.phone_keypad.press(d)

    return show


def _consent_ticked(s: Screen) -> None:
    assert isinstance(s, ConsentScreen)
    s.agree_box.setChecked(True)


def _enroll_phone_invalid(s: Screen) -> None:
    assert isinstance(s, EnrollPhoneScreen)
    s.keypad.reset()
    s.show_notice(s.tr_("claim.invalid"))


def _card_unlinked(s: Screen) -> None:
    assert isinstance(s, EnrollCardScreen)
    s.reset()


def _no_card_reader(s: Screen) -> None:
    # What the controller shows when "Link a card" finds no card reader.
    _card_unlinked(s)
    s.show_notice(s.tr_("enroll.no_card_reader"))


def _pin_mismatch(s: Screen) -> None:
    assert isinstance(s, EnrollPinScreen)
    s.ask(confirm=False)
    s.show_notice(s.tr_("enroll.pin_mismatch"))


def _staff_id(s: Screen) -> None:
    assert isinstance(s, AttendantPinScreen)
    s.staff_id_edit.setText("0042")


def _attendant_quiet(s: Screen) -> None:
    assert isinstance(s, AttendantScreen)
    s.show_queue([])
    s.show_lane(False)
    s.show_sale([])
    s.show_health(None, False, [])


def _attendant_unknown(s: Screen) -> None:
    assert isinstance(s, AttendantScreen)
    s.show_queue(
        [
            AttendantRequest(
                request_id=4,
                kind=RequestKind.PAYMENT_UNKNOWN,
                raised_at=3.0,
                amount_text=BASKET.amount_text,
            ),
            AttendantRequest(request_id=5, kind=RequestKind.LANE_PAUSED, raised_at=4.0),
        ]
    )
    s.show_notice(s.tr_("attendant.still_unknown"))


# Every other state a screen can be in, listed from the code that puts it there: each
# quality prompt (``quality_prompt_key``) and liveness prompt (``facepay.LivenessChallenge``)
# on the camera screens, each way an attempt ends (``OutcomeKind``) on the result screen,
# every ``Notice`` the model emits on the screen it lands on, and the controller's
# inactivity warning. The layout test checks each of them as it checks the states above;
# ``tests/kiosk/test_kiosk_gallery_coverage.py`` checks that none is missing.
_OUTCOMES = tuple(
    k
    for k in OutcomeKind
    if k
    not in (
        OutcomeKind.APPROVED,  # the staged state
        OutcomeKind.ENROLLED,  # enroll_done
        OutcomeKind.STEP_UP,  # step_up
        OutcomeKind.CLAIM_NEEDED,  # claim-needed
        OutcomeKind.CANCELLED,  # no screen: back to where the shopper was
        OutcomeKind.FACE_NOT_CLEAR,  # by quality reason below
    )
)
_PROMPTS = tuple(dict.fromkeys(QualityReason))


def _own_not_clear_words() -> tuple[QualityReason, ...]:
    """Reasons whose FACE_NOT_CLEAR message none of the named variants below shows."""
    shown = {
        not_clear_message_key((r,))
        for r in (
            QualityReason.EYES_CLOSED,
            QualityReason.OCCLUDED,
            QualityReason.SUNGLASSES,
            QualityReason.TOO_DARK,
            QualityReason.BLURRY,
        )
    }
    out = []
    for reason in QualityReason:
        key = not_clear_message_key((reason,))
        if key not in shown:
            shown.add(key)
            out.append(reason)
    return tuple(out)


_CHALLENGES = ("blink", "turn_left", "turn_right", "look_up", "open_mouth", "smile")

# The screens the controller warns on before an inactivity timeout
# (``KioskSettings.timeouts``; the coverage test keeps the two lists equal).
TIMED_SCREENS: tuple[str, ...] = (
    "basket",
    "choice",
    "claim",
    "capture",
    "liveness",
    "result",
    "step_up",
    "card",
    "receipt",
    "confirm_cancel",
    "consent",
    "enroll_phone",
    "enroll_card",
    "enroll_pin",
    "enroll_done",
    "attendant_pin",
    "attendant",
)

_VARIANTS: dict[str, dict[str, Callable[[Screen], None]]] = {
    # Consent declined: the shopper is back where they started enrolling, told nothing was kept.
    "idle": {"enroll-declined": _notice("enroll.declined")},
    "basket": {
        "empty": _basket_empty,
        "age-check": _notice("basket.age_check_waiting"),
    },
    "choice": {
        "lane-paused": _choice_lane_paused,
        "face-unavailable": _face_unavailable,
        "lane-paused-notice": _notice("result.lane_paused"),
        "enroll-declined": _notice("enroll.declined"),
    },
    "claim": {
        "invalid": _claim_invalid,
        "needed": _notice("claim.needed"),
        "loyalty": _claim_scan("claim.loyalty_prompt"),
        "qr": _claim_scan("claim.qr_prompt"),
    },
    "capture": {
        "looking": _capture_prompt(QualityReason.NO_FACE, face=False),
        "hold-still": _capture_prompt(),
        **{
            f"prompt-{reason.value.replace('_', '-')}": _capture_prompt(reason)
            for reason in _PROMPTS
        },
        "camera-lost": _camera_lost,
    },
    "liveness": {
        "hold-still": _challenge(None),
        **{f"challenge-{c.replace('_', '-')}": _challenge(c) for c in _CHALLENGES},
        "face-lost": _challenge("blink", QualityReason.NO_FACE),
    },
    "result": {
        "by-card": _by_card,
        **{kind.value.replace("_", "-"): _result_kind(kind) for kind in _OUTCOMES},
        # An enrollment refused for its frames, in each of the shopper's words for why.
        "face-not-clear": _not_clear(QualityReason.EYES_CLOSED),
        "face-not-clear-covered": _not_clear(QualityReason.OCCLUDED),
        "face-not-clear-sunglasses": _not_clear(QualityReason.SUNGLASSES),
        "face-not-clear-dark": _not_clear(QualityReason.TOO_DARK),
        "face-not-clear-other": _not_clear(QualityReason.BLURRY),
        # A reason given its own words later (a hand over the face ...) is staged too.
        **{
            f"face-not-clear-{reason.value.replace('_', '-')}": _not_clear(reason)
            for reason in _own_not_clear_words()
        },
        "enrolling-failed": _enrolling_failed,
    },
    "step_up": {
        "pin": _step_up_pin,
    },
    "card": {"declined": _notice("card.declined")},
    "receipt": {
        "email": _channel(ChannelKind.EMAIL, sent=False),
        "sms": _channel(ChannelKind.SMS, sent=False),
        **{f"sent-{c.value}": _channel(c, sent=True) for c in ChannelKind},
        "failed": _notice("receipt.failed"),
    },
    "consent": {"ticked": _consent_ticked},
    "enroll_phone": {"invalid": _enroll_phone_invalid},
    "enroll_card": {
        "tap": _card_unlinked,
        "read": _notice("enroll.card_read"),
        "error": _no_card_reader,
    },
    "enroll_pin": {"refused": _pin_refused, "again": _pin_again, "mismatch": _pin_mismatch},
    "enroll_done": {"sent": _channel(ChannelKind.PRINTED, sent=True)},
    "attendant_pin": {
        "staff-id": _staff_id,
        "wrong": _notice("attendant.pin_wrong", seconds=5),
        "locked": _notice("attendant.locked", seconds=300),
    },
    "attendant": {
        "quiet": _attendant_quiet,
        "payment-unknown": _attendant_unknown,
        "not-charged": _notice("attendant.not_charged"),
    },
}
for _name, _type in SCREEN_TYPES.items():
    _extra = _VARIANTS.setdefault(_name, {})
    if _name in TIMED_SCREENS:
        _extra["still-there"] = _notice("common.timeout_warning", seconds=10)
    if _type.calls_attendant:
        # "Call staff" is on every shopper screen: its answer lands on the screen it was pressed on.
        _extra["called"] = _notice("attendant.called")
VARIANTS: Mapping[str, Mapping[str, Callable[[Screen], None]]] = {
    name: changes for name, changes in _VARIANTS.items() if changes
}


def stage(screen: Screen, preview: QImage | None = None) -> Screen:
    """Fill ``screen`` with its representative contents (in its translator's language)."""
    STATES[screen.name](screen, preview if preview is not None else stand_in_preview())
    screen.retranslate()
    return screen

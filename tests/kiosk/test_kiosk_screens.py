"""Screens on their own: prompts, RTL layout, accessible names, touch sizes, keyboard use."""

from __future__ import annotations

import math

import pytest
from PyQt6.QtCore import QRectF, Qt
from PyQt6.QtWidgets import QApplication, QLabel, QPushButton, QWidget

from facepay import CheckoutState, FrameFeedback, QualityConfig, QualityReason
from kiosk_app.app import apply_theme
from kiosk_app.i18n import CATALOGUES, Language, Translator, retention_period
from kiosk_app.model import ChannelKind, Outcome, OutcomeKind
from kiosk_app.screens import (
    SCREEN_NAMES,
    AttendantPinScreen,
    BasketScreen,
    CaptureScreen,
    ChoiceScreen,
    ClaimScreen,
    ConfirmCancelScreen,
    ConsentScreen,
    EnrollCardScreen,
    EnrollPhoneScreen,
    IdleScreen,
    LivenessScreen,
    PrivacyScreen,
    ResultScreen,
    StepUpScreen,
    liveness_prompt_key,
    quality_prompt_key,
)
from kiosk_app.ui.gallery import BASKET, PRODUCTS, SCREEN_TYPES, stage, stand_in_preview
from kiosk_app.widgets import CameraView, Keypad


@pytest.fixture
def themed(qapp: QApplication) -> QApplication:
    apply_theme(qapp)
    return qapp


def test_one_prompt_at_a_time_most_useful_first() -> None:
    assert quality_prompt_key([QualityReason.FACE_TOO_SMALL]) == "quality.face_too_small"
    assert (
        quality_prompt_key([QualityReason.BLURRY, QualityReason.MULTIPLE_FACES])
        == "quality.multiple_faces"
    )
    assert (
        quality_prompt_key([QualityReason.FACE_TOO_SMALL, QualityReason.SUNGLASSES])
        == "quality.sunglasses"
    )
    assert quality_prompt_key([QualityReason.TOO_DARK, QualityReason.YAW]) == "quality.too_dark"
    assert quality_prompt_key([]) == "capture.hold_still"


def test_liveness_codes_map_to_prompts() -> None:
    assert liveness_prompt_key("blink") == "liveness.blink"
    assert liveness_prompt_key("turn_left") == "liveness.turn_left"
    assert liveness_prompt_key("something_new") == "liveness.follow"
    assert liveness_prompt_key(None) == "liveness.follow"


def test_capture_prompt_follows_reasons_in_the_current_language(themed: QApplication) -> None:
    tr = Translator(Language.EN)
    screen = CaptureScreen(tr)
    screen.retranslate()
    screen.show_progress(
        FrameFeedback(
            state=CheckoutState.CAPTURING,
            frame_index=0,
            reasons=(QualityReason.FACE_TOO_SMALL,),
            face_box=(0, 0, 1, 1),
        )
    )
    assert screen.prompt.text() == "Move closer"
    assert screen.camera.state == "adjust"
    screen.show_progress(
        FrameFeedback(
            state=CheckoutState.CAPTURING, frame_index=0, reasons=(QualityReason.MULTIPLE_FACES,)
        )
    )
    assert screen.prompt.text() == "One person at a time, please"
    tr.language = Language.ZH
    screen.retranslate()
    assert screen.prompt.text() == "请一次一人"
    screen.show_progress(
        FrameFeedback(state=CheckoutState.CAPTURING, frame_index=0, face_box=(0.3, 0.2, 0.3, 0.4))
    )
    assert screen.camera.state == "good"


def test_liveness_screen_shows_countdown_step_and_progress(themed: QApplication) -> None:
    screen = LivenessScreen(Translator())
    screen.show_progress(
        FrameFeedback(
            state=CheckoutState.LIVENESS,
            frame_index=0,
            challenge="blink",
            challenge_index=1,
            challenge_count=3,
            seconds_left=2.2,
            progress=0.5,
        )
    )
    assert screen.prompt.text() == "Blink"
    assert screen.countdown.text() == "3 s"
    assert screen.step_label.text() == "Step 2 of 3"
    assert screen.progress_bar.value() == 50
    assert screen.icon.accessibleName() == "Blink"


def _buttons(widget: QWidget) -> list[QPushButton]:
    return [b for b in widget.findChildren(QPushButton) if b.isVisibleTo(widget)]


@pytest.mark.parametrize("language", list(Language))
def test_every_button_is_named_big_and_focusable(themed: QApplication, language: Language) -> None:
    tr = Translator(language)
    screens = [IdleScreen(tr), ConsentScreen(tr), StepUpScreen(tr), ResultScreen(tr)]
    for screen in screens:
        screen.resize(1280, 800)
        screen.retranslate()
        screen.show()
        QApplication.processEvents()
        for b in _buttons(screen):
            assert b.accessibleName(), (screen.name, b.objectName(), b.text())
            assert b.height() >= 64, (screen.name, b.objectName(), b.height())
            assert b.focusPolicy() & Qt.FocusPolicy.TabFocus
        screen.close()


def test_rtl_mirrors_the_layout(themed: QApplication) -> None:
    tr = Translator(Language.AR)
    screen = IdleScreen(tr)
    screen.retranslate()
    screen.resize(1280, 800)
    screen.setLayoutDirection(Qt.LayoutDirection.RightToLeft)
    screen.show()
    QApplication.processEvents()
    en, ar = screen.language_buttons[Language.EN], screen.language_buttons[Language.AR]
    assert en.x() > ar.x()  # the first language button sits on the right in Arabic
    screen.setLayoutDirection(Qt.LayoutDirection.LeftToRight)
    QApplication.processEvents()
    assert en.x() < ar.x()
    screen.close()


def test_keypad_is_keyboard_operable(qtbot, themed: QApplication) -> None:  # type: ignore[no-untyped-def]
    keypad = Keypad(max_digits=6)
    qtbot.addWidget(keypad)
    keypad.retranslate(Translator(), "Continue")
    keypad.set_minimum(4)
    keypad.show()
    keypad.display.setFocus()
    qtbot.keyClicks(keypad.display, "12ab3")
    assert keypad.digits() == "123"  # letters refused by the validator
    assert not keypad.submit_button.isEnabled()
    keypad.press("4")
    with qtbot.waitSignal(keypad.submitted, timeout=1000) as blocker:
        qtbot.keyClick(keypad.display, Qt.Key.Key_Return)
    assert blocker.args == ["1234"]
    keypad.press("5")
    keypad.press("6")
    keypad.press("7")
    assert keypad.digits() == "123456"  # max_digits
    assert keypad.digit_buttons["7"].accessibleName() == "Digit 7"


def test_consent_needs_an_active_tick(qtbot, themed: QApplication) -> None:  # type: ignore[no-untyped-def]
    screen = ConsentScreen(Translator())
    qtbot.addWidget(screen)
    screen.show_terms("facepay sandbox", 1095)
    assert not screen.agree_button.isEnabled()
    assert "3 years" in screen.points[2].text()
    screen.show()
    screen.agree_box.setFocus()
    qtbot.keyClick(screen.agree_box, Qt.Key.Key_Space)  # keyboard users can agree too
    assert screen.agree_button.isEnabled()
    screen.reset()
    assert not screen.agree_box.isChecked()
    assert not screen.agree_button.isEnabled()


def test_failure_results_offer_card_and_never_say_charged(themed: QApplication) -> None:
    screen = ResultScreen(Translator())
    screen.show_outcome(Outcome(kind=OutcomeKind.BACKEND_DOWN, staff_code="TransportError"))
    screen.show()
    assert screen.card_button.isVisible()
    assert "Nothing was charged" in screen.message.text()
    assert not screen.done_button.isVisible()
    screen.show_outcome(
        Outcome(
            kind=OutcomeKind.APPROVED,
            amount_minor=1234,
            currency="EUR",
            masked_method="Visa •••• 4242",
            charged=True,
        )
    )
    assert screen.amount_label.text() == "Paid EUR 12.34"
    assert "Visa •••• 4242" in screen.method_label.text()
    assert not screen.card_button.isVisible()
    screen.close()


def test_a_slow_answer_is_told_so_and_attack_evidence_is_not(themed: QApplication) -> None:
    screen = ResultScreen(Translator())
    screen.show_outcome(Outcome(kind=OutcomeKind.TOO_SLOW))
    assert "as soon as it is shown" in screen.message.text()
    assert "Nothing was charged" in screen.message.text()
    screen.show_outcome(Outcome(kind=OutcomeKind.LIVENESS_FAILED))
    # An attacker learns nothing about which signal refused them.
    assert screen.message.text() == "We could not complete the check. Nothing was charged."
    screen.close()


def _texts(widget: QWidget) -> list[str]:
    out = []
    for w in [widget, *widget.findChildren(QWidget)]:
        out += [w.accessibleName(), w.accessibleDescription()]
        text = getattr(w, "text", None)
        if callable(text):
            out.append(str(text()))
    return [t for t in out if t]


@pytest.mark.parametrize("screen_type", [ClaimScreen, EnrollPhoneScreen])
def test_phone_number_is_masked_as_typed(qtbot, themed: QApplication, screen_type) -> None:  # type: ignore[no-untyped-def]
    screen = screen_type(Translator())
    qtbot.addWidget(screen)
    screen.retranslate()
    screen.show()
    screen.keypad.display.setFocus()
    for d in "0151":
        screen.keypad.press(d)
    qtbot.keyClicks(screen.keypad.display, "2345x6")  # from a keyboard as well
    assert screen.keypad.digits() == "015123456"
    assert screen.keypad.display.text() == "•••••••56"
    # No prefix of the number longer than the visible tail is anywhere on the glass.
    assert not [t for t in _texts(screen) if "0151" in t or "123" in t]
    qtbot.keyClick(screen.keypad.display, Qt.Key.Key_Backspace)
    assert screen.keypad.display.text() == "••••••45"
    with qtbot.waitSignal(screen.keypad.submitted, timeout=1000) as blocker:
        qtbot.keyClick(screen.keypad.display, Qt.Key.Key_Return)
    assert blocker.args == ["01512345"]


def test_pin_and_step_up_digits_show_no_digit(qtbot, themed: QApplication) -> None:  # type: ignore[no-untyped-def]
    for screen in (StepUpScreen(Translator()), AttendantPinScreen(Translator())):
        qtbot.addWidget(screen)
        screen.retranslate()
        for d in "4321":
            screen.keypad.press(d)
        assert screen.keypad.display.text() == "••••"
        assert not [t for t in _texts(screen) if "4321" in t or "21" in t]


@pytest.mark.parametrize("language", list(Language))
def test_privacy_code_is_offered_on_a_channel_never_shown(
    qtbot, themed: QApplication, language: Language
) -> None:  # type: ignore[no-untyped-def]
    screen = PrivacyScreen(Translator(language))
    qtbot.addWidget(screen)
    screen.offer()
    screen.show()
    assert not screen.findChildren(QLabel, "code")
    shown = [b for b in screen.channel_buttons.values() if b.isVisible()]
    assert len(shown) == 3
    assert all(b.accessibleName() and not b.icon().isNull() for b in shown)
    # The screen says why the code is not here.
    assert screen.subtitle.text() == CATALOGUES[language]["privacy.body"]
    with qtbot.waitSignal(screen.channel_chosen, timeout=1000) as chosen:
        screen.channel_buttons[ChannelKind.PRINTED].click()
    assert chosen.args == [ChannelKind.PRINTED, ""]
    screen.show_sent(ChannelKind.PRINTED)
    assert screen.sent_label.text() == CATALOGUES[language]["privacy.sent.printed"]
    assert not any(b.isVisible() for b in screen.channel_buttons.values())
    assert screen.first_focus() is screen.done_button


def test_sms_receipt_asks_for_the_number_masked(qtbot, themed: QApplication) -> None:  # type: ignore[no-untyped-def]
    screen = PrivacyScreen(Translator())
    qtbot.addWidget(screen)
    screen.offer()
    screen.show()
    screen.channel_buttons[ChannelKind.SMS].click()
    assert screen.phone_keypad.isVisible()
    assert screen.first_focus() is screen.phone_keypad.display
    for d in "01511234567":
        screen.phone_keypad.press(d)
    assert screen.phone_keypad.display.text().endswith("•67")
    with qtbot.waitSignal(screen.channel_chosen, timeout=1000) as chosen:
        screen.send_button.click()
    assert chosen.args == [ChannelKind.SMS, "01511234567"]
    screen.offer(channels=[ChannelKind.PRINTED])  # a till with only a printer
    assert [c for c, b in screen.channel_buttons.items() if b.isVisible()] == [ChannelKind.PRINTED]


@pytest.mark.parametrize("language", list(Language))
def test_no_screen_says_the_face_never_leaves_the_till(language: Language) -> None:
    catalogue = CATALOGUES[language]
    # A sealed template does go to the payment service: the texts say so, not the opposite.
    assert "never leaves" not in catalogue["idle.subtitle"]
    assert "不会离开本收银台。" not in catalogue["idle.subtitle"]
    assert "لا تغادر هذا الجهاز أبدًا" not in catalogue["idle.subtitle"]
    for key in ("idle.subtitle", "enroll.consent_where"):
        assert any(word in catalogue[key] for word in ("template", "模板", "قالب")), key


def test_consent_lists_phone_hash_digits_and_card_token(themed: QApplication) -> None:
    screen = ConsentScreen(Translator())
    screen.show_terms("facepay sandbox", 1095)
    what = screen.points[0].text()
    for words in ("hash", "phone number", "last 4 digits", "token for your card"):
        assert words in what, words
    assert "3 years" in screen.points[2].text()
    assert "1095" not in screen.points[2].text()
    screen.show_terms("facepay sandbox", 30)
    assert "30 days" in screen.points[2].text()
    screen.show_terms("facepay sandbox", 365)
    assert "1 year " in screen.points[2].text()
    tr = Translator(Language.ZH)
    assert retention_period(tr, 1095) == "3 年"
    assert retention_period(Translator(Language.AR), 1095) == "3 سنوات"


_NOTHING_CHARGED = {
    Language.EN: "Nothing was charged",
    Language.ZH: "未扣款",
    Language.AR: "لم يُخصم أي مبلغ",
}
_FACE_FAILURES = (
    OutcomeKind.NOT_ENROLLED,
    OutcomeKind.NOT_RECOGNISED,
    OutcomeKind.TOO_SLOW,
    OutcomeKind.FACE_LOST,
    OutcomeKind.FACE_NOT_CLEAR,
    OutcomeKind.LANE_PAUSED,
    OutcomeKind.LIVENESS_FAILED,
    OutcomeKind.SHOPPER_LOCKED,
)


@pytest.mark.parametrize("language", list(Language))
def test_each_face_failure_has_its_own_plain_message(
    themed: QApplication, language: Language
) -> None:
    tr = Translator(language)
    screen = ResultScreen(tr)
    messages = {}
    for kind in _FACE_FAILURES:
        screen.show_result(kind)
        # "Payment declined" is a bank's word: never for a face that was not matched.
        assert screen.title.text() != tr("result.declined"), kind
        assert _NOTHING_CHARGED[language] in screen.message.text(), kind
        assert screen.card_button.isVisibleTo(screen), kind
        messages[kind] = screen.message.text()
    assert len(set(messages.values())) == len(messages)
    screen.show_result(OutcomeKind.LANE_PAUSED)
    assert screen.message.text().startswith(tr("choice.lane_paused").rstrip("。."))
    assert not screen.retry_button.isVisibleTo(screen)  # a retry cannot work while paused
    screen.show_result(OutcomeKind.NOT_RECOGNISED)
    assert screen.retry_button.isVisibleTo(screen)
    assert screen.back_button.isVisibleTo(screen)
    screen.show_result(OutcomeKind.DECLINED)  # the card issuer said no: a bank's word
    assert screen.title.text() == tr("result.declined")


def test_lane_paused_hides_the_face_option_and_says_why(themed: QApplication) -> None:
    screen = ChoiceScreen(Translator())
    screen.show_amount("EUR 9.87", True)
    assert screen.face_button.isVisibleTo(screen)
    screen.show_amount("EUR 9.87", True, lane_paused=True)
    assert not screen.face_button.isVisibleTo(screen)
    assert not screen.enroll_button.isVisibleTo(screen)
    assert screen.notice.text() == "Face pay is paused at this till, please pay by card."
    assert screen.first_focus() is screen.card_button
    screen.tr_.language = Language.ZH
    screen.retranslate()
    assert screen.notice.text() == "本收银台的刷脸支付已暂停，请刷卡付款。"


@pytest.mark.parametrize("language", list(Language))
def test_every_shopper_screen_has_back_and_call_staff(
    themed: QApplication, language: Language
) -> None:
    no_back = {"idle", "processing"}
    staff = {"attendant_pin", "attendant"}
    for name in SCREEN_NAMES:
        screen = stage(SCREEN_TYPES[name](Translator(language)))
        back, call = screen.back_button, screen.call_button
        paid = name == "result"  # staged as approved: the sale is paid, nothing to go back to
        assert back.isVisibleTo(screen) is (name not in no_back and not paid), name
        assert call.isVisibleTo(screen) is (name not in staff), name
        if back.isVisibleTo(screen):
            assert back.text() == CATALOGUES[language]["common.back"]
            assert not back.icon().isNull()
        if call.isVisibleTo(screen):
            assert call.text() == CATALOGUES[language]["common.call_attendant"]


def test_cancel_asks_before_dropping_the_basket(qtbot, themed: QApplication) -> None:  # type: ignore[no-untyped-def]
    screen = ConfirmCancelScreen(Translator())
    qtbot.addWidget(screen)
    screen.ask(13, "EUR 26.67")
    screen.show()
    assert "13 items, EUR 26.67" in screen.subtitle.text()
    assert "Nothing was charged" in screen.subtitle.text()
    assert screen.first_focus() is screen.keep_button  # Enter keeps the basket
    assert not screen.cancel_button.isVisibleTo(screen)
    assert screen.keep_button.isVisible()
    assert screen.drop_button.isVisible()


def _shown(qtbot, screen):  # type: ignore[no-untyped-def]
    qtbot.addWidget(screen)
    screen.resize(1280, 800)
    screen.show()
    screen.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is screen, timeout=2000)
    return screen


@pytest.mark.parametrize("name", SCREEN_NAMES)
def test_focus_after_a_screen_change_is_never_cancel(qtbot, themed: QApplication, name) -> None:  # type: ignore[no-untyped-def]
    screen = _shown(qtbot, stage(SCREEN_TYPES[name](Translator())))
    screen.cancel_button.setFocus()  # where Qt left it when the last focused widget went away
    screen.refocus()
    focused = QApplication.focusWidget()
    assert focused is not None
    assert focused is not screen.cancel_button
    assert focused is screen or screen.isAncestorOf(focused)


def test_escape_goes_back(qtbot, themed: QApplication) -> None:  # type: ignore[no-untyped-def]
    screen = _shown(qtbot, stage(ClaimScreen(Translator())))
    screen.refocus()
    assert QApplication.focusWidget() is screen.keypad.display
    with qtbot.waitSignal(screen.back_button.clicked, timeout=1000):
        qtbot.keyClick(screen.keypad.display, Qt.Key.Key_Escape)
    idle = _shown(qtbot, IdleScreen(Translator()))  # nowhere to go back to: nothing happens
    with qtbot.assertNotEmitted(idle.back_button.clicked):
        qtbot.keyClick(idle, Qt.Key.Key_Escape)


def test_enter_after_linking_a_card_continues_not_cancels(qtbot, themed: QApplication) -> None:  # type: ignore[no-untyped-def]
    screen = _shown(qtbot, EnrollCardScreen(Translator()))
    screen.reset()
    screen.refocus()
    assert QApplication.focusWidget() is screen.tap_button
    screen.show_linked("Visa •••• 4242")  # the tap button hides itself
    assert QApplication.focusWidget() is screen.continue_button
    with (
        qtbot.assertNotEmitted(screen.cancel_button.clicked),
        qtbot.waitSignal(screen.continue_button.clicked, timeout=1000),
    ):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)


def test_enter_on_the_basket_does_not_scan_again(qtbot, themed: QApplication) -> None:  # type: ignore[no-untyped-def]
    screen = _shown(qtbot, BasketScreen(Translator()))
    screen.set_products(PRODUCTS)
    scans: list[str] = []
    screen.product_scanned.connect(scans.append)
    qtbot.mouseClick(screen.product_buttons["4011"], Qt.MouseButton.LeftButton)
    assert scans == ["4011"]
    screen.show_basket(BASKET)
    focused = QApplication.focusWidget()
    assert focused is screen.pay_button
    with qtbot.waitSignal(screen.pay_button.clicked, timeout=1000):
        qtbot.keyClick(focused, Qt.Key.Key_Return)
    assert scans == ["4011"]


def test_liveness_prompt_and_preview_from_the_first_moment(themed: QApplication) -> None:
    screen = LivenessScreen(Translator())
    screen.reset()
    assert screen.prompt.text() != "Follow the prompt"
    assert not screen.countdown.isVisibleTo(screen)  # never "0 s"
    screen.start("turn_left", challenge_count=2, seconds=5.0, last_frame=stand_in_preview())
    assert screen.prompt.text() == "Turn your head to your left"
    assert screen.countdown.text() == "5 s"
    assert screen.step_label.text() == "Step 1 of 2"
    assert screen.camera.has_image()  # the capture's last frame, not a black box


def test_liveness_countdown_counts_between_frames(themed: QApplication) -> None:
    now = [100.0]
    screen = LivenessScreen(Translator(), clock=lambda: now[0])
    screen.show_progress(
        FrameFeedback(
            state=CheckoutState.LIVENESS, frame_index=0, challenge="blink", seconds_left=3.0
        )
    )
    assert screen.countdown.text() == "3 s"
    assert screen.ticker.isActive()
    shown = []
    for t in (100.5, 101.2, 102.4, 103.1):
        now[0] = t
        screen.tick()
        shown.append(screen.countdown.text())
    assert shown == ["3 s", "2 s", "1 s", ""]
    assert not screen.ticker.isActive()


def test_preview_shows_the_whole_frame(themed: QApplication) -> None:
    view = CameraView()
    view.resize(800, 600)
    view.show_image(stand_in_preview(640, 360))
    frame = view.image_rect()
    assert QRectF(view.rect()).contains(frame)  # nothing of the frame is cut off
    assert frame.width() == 800
    assert abs(frame.width() / frame.height() - 640 / 360) < 1e-6
    view.resize(600, 800)
    assert QRectF(view.rect()).contains(view.image_rect())


@pytest.mark.parametrize("offset", [0.7, 0.4])
def test_oval_is_where_the_quality_gate_accepts_the_face_centre(
    themed: QApplication, offset: float
) -> None:
    view = CameraView(max_centre_offset=offset)
    view.resize(900, 700)
    view.show_image(stand_in_preview(640, 360))
    frame, oval = view.image_rect(), view.oval_rect()
    assert frame.contains(oval)

    def gate_offset(x: float, y: float) -> float:
        # facepay.vision's placement check, in the frame's own pixels.
        fx = (x - frame.left()) / frame.width() * 640
        fy = (y - frame.top()) / frame.height() * 360
        return max(abs(fx - 320) / 320, abs(fy - 180) / 180)

    c = oval.center()
    for i in range(36):  # every point on the oval is a centre the gate accepts
        a = math.radians(i * 10)
        x = c.x() + math.cos(a) * oval.width() / 2
        y = c.y() + math.sin(a) * oval.height() / 2
        assert gate_offset(x, y) <= offset + 1e-6
    # ... and the oval reaches the gate's limit left/right and top/bottom: not a token oval.
    assert gate_offset(oval.left(), c.y()) == pytest.approx(offset)
    assert gate_offset(c.x(), oval.top()) == pytest.approx(offset)
    assert QualityConfig().max_centre_offset == 0.7  # the default the kiosk draws

"""An enrollment refused because the face was not clear (FailureReason.FACE_NOT_CLEAR), as
the shopper meets it: the words say what to change (by facepay's typed quality reasons,
through a table, never a parsed string), that face pay is not set up, that nothing was
saved or charged, in every language; and no button that does nothing.

The last test drives a whole kiosk to the refusal: the real till, models and sandbox, and a
real clip (eyes shut behind a hand, WolfgangLanger_Pexels.mp4 3-6 s, as
tests/eval/test_till_visits_enrollment.py uses it) as the camera.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PyQt6.QtWidgets import QApplication

from facepay import (
    CheckoutState,
    FailureReason,
    Frame,
    NotEnrolledError,
    QualityReason,
    Sandbox,
)
from facepay.testing import ClipCamera
from kiosk_app.app import apply_theme
from kiosk_app.controller import KioskController
from kiosk_app.demo import DemoCardReader, connect_demo_till
from kiosk_app.demo.pos import DemoPos
from kiosk_app.i18n import CATALOGUES, Language, Translator
from kiosk_app.model import (
    AttemptEnd,
    OutcomeKind,
    StaffDirectory,
    StaffLogin,
    outcome_from_end,
    outcome_from_error,
)
from kiosk_app.pos import PosBridge
from kiosk_app.screens import ResultScreen, not_clear_message_key
from kiosk_app.workers import CameraPlayback

Q = QualityReason

# What every one of these messages must tell the shopper, per language.
_NOT_SAVED = {
    Language.EN: "Your face was not saved",
    Language.ZH: "您的面部信息未保存",
    Language.AR: "لم نحفظ أي بيانات عن وجهك",
}
_NOTHING_CHARGED = {
    Language.EN: "Nothing was charged",
    Language.ZH: "未扣款",
    Language.AR: "لم يُخصم أي مبلغ",
}
# The one thing to change, in the shopper's words, for the reasons the kiosk can name.
_WHAT_TO_DO = {
    Q.EYES_CLOSED: {
        Language.EN: "keep your eyes open",
        Language.ZH: "睁开眼睛",
        Language.AR: "عينيك مفتوحتين",
    },
    Q.OCCLUDED: {Language.EN: "keep your hands", Language.ZH: "让手", Language.AR: "إبعاد يديك"},
    Q.SUNGLASSES: {
        Language.EN: "take off your sunglasses",
        Language.ZH: "摘下太阳镜",
        Language.AR: "خلع النظارة الشمسية",
    },
    Q.TOO_DARK: {
        Language.EN: "move into the light",
        Language.ZH: "明亮的地方",
        Language.AR: "أكثر إضاءة",
    },
}


@pytest.fixture
def themed(qapp: QApplication) -> QApplication:
    apply_theme(qapp)
    return qapp


@pytest.mark.parametrize(
    ("reasons", "key"),
    [
        ((Q.EYES_CLOSED,), "result.face_not_clear_eyes"),
        ((Q.OCCLUDED, Q.EYES_CLOSED), "result.face_not_clear_covered"),
        ((Q.SUNGLASSES,), "result.face_not_clear_sunglasses"),
        ((Q.TOO_DARK,), "result.face_not_clear_dark"),
        ((Q.LOW_CONTRAST,), "result.face_not_clear_dark"),
        # Most frequent first, but a head turn (the liveness challenge) or a placement the
        # capture screen already prompted for is not what made the face unclear.
        ((Q.YAW, Q.FACE_NOT_CENTERED, Q.EYES_CLOSED, Q.TOO_DARK), "result.face_not_clear_eyes"),
        ((Q.BLURRY, Q.PITCH), "result.face_not_clear"),
        ((), "result.face_not_clear"),
    ],
)
def test_the_first_reason_the_shopper_can_change_picks_the_words(
    reasons: tuple[QualityReason, ...], key: str
) -> None:
    assert not_clear_message_key(reasons) == key


@pytest.mark.parametrize("language", list(Language), ids=lambda x: x.value)
def test_each_reason_says_what_to_do_that_nothing_was_kept_and_that_setup_failed(
    themed: QApplication, language: Language
) -> None:
    tr = Translator(language)
    screen = ResultScreen(tr)
    seen = {}
    for reasons in [(q,) for q in _WHAT_TO_DO] + [(Q.BLURRY,)]:
        screen.show_result(OutcomeKind.FACE_NOT_CLEAR, quality_reasons=reasons)
        text = screen.message.text()
        assert _NOT_SAVED[language] in text, reasons
        assert _NOTHING_CHARGED[language] in text, reasons
        if reasons[0] in _WHAT_TO_DO:
            assert _WHAT_TO_DO[reasons[0]][language] in text, reasons
        # An enrollment, not a payment: never "Face payment not completed".
        assert screen.title.text() == tr("result.not_set_up_title") != tr("result.failed_title")
        assert screen.retry_button.isVisibleTo(screen)
        seen[reasons] = text
    assert len(set(seen.values())) == len(seen)  # one message per reason
    # Every message in this language's own words (no English left in zh or ar).
    for key in (not_clear_message_key((q,)) for q in _WHAT_TO_DO):
        assert key in CATALOGUES[language]
        if language is not Language.EN:
            assert CATALOGUES[language][key] != CATALOGUES[Language.EN][key]


def test_no_card_button_when_there_is_nothing_to_pay(themed: QApplication) -> None:
    screen = ResultScreen(Translator())
    screen.show_result(OutcomeKind.FACE_NOT_CLEAR, quality_reasons=(Q.EYES_CLOSED,))
    assert screen.card_button.isVisibleTo(screen)  # enrolling with a basket: card is offered
    screen.show_result(
        OutcomeKind.FACE_NOT_CLEAR, quality_reasons=(Q.EYES_CLOSED,), card_offered=False
    )
    assert not screen.card_button.isVisibleTo(screen)
    assert screen.retry_button.isVisibleTo(screen)
    screen.retranslate()  # a language switch must not bring the dead button back
    assert not screen.card_button.isVisibleTo(screen)


@pytest.mark.parametrize("language", list(Language), ids=lambda x: x.value)
def test_any_failed_enrollment_says_face_pay_is_not_set_up(
    themed: QApplication, language: Language
) -> None:
    """A shopper who was setting up face pay never reads "Face payment not completed"."""
    tr = Translator(language)
    screen = ResultScreen(tr)
    for kind in (OutcomeKind.TOO_SLOW, OutcomeKind.FACE_LOST, OutcomeKind.LIVENESS_FAILED):
        screen.show_result(kind, enrolling=True)
        assert screen.title.text() == tr("result.not_set_up_title"), kind
        screen.show_result(kind)  # the same ending of a payment
        assert screen.title.text() == tr("result.failed_title"), kind
    # A specific title still wins: the lane is paused whatever the shopper was doing.
    screen.show_result(OutcomeKind.LANE_PAUSED, enrolling=True)
    assert screen.title.text() == tr("result.lane_paused_title")


def test_the_typed_reasons_travel_from_facepay_to_the_outcome() -> None:
    """The refusal reaches the kiosk two ways (the flow's end state, or the typed error);
    both keep facepay's quality reasons, as types, for the screen."""
    end = AttemptEnd(reason=FailureReason.FACE_NOT_CLEAR, quality_reasons=(Q.OCCLUDED, Q.YAW))
    outcome = outcome_from_end(end)
    assert outcome.kind is OutcomeKind.FACE_NOT_CLEAR
    assert outcome.quality_reasons == (Q.OCCLUDED, Q.YAW)
    assert outcome.staff_code == "face_not_clear:occluded,yaw"  # codes only, no data
    error = NotEnrolledError(
        "no clear frames",
        state=CheckoutState.FAILED,
        reason=FailureReason.FACE_NOT_CLEAR,
        quality_reasons=(Q.EYES_CLOSED,),
    )
    assert outcome_from_error(error, answer_lost=False).quality_reasons == (Q.EYES_CLOSED,)
    # Quality reasons belong to FACE_NOT_CLEAR only: another ending does not carry them.
    other = outcome_from_end(
        AttemptEnd(reason=FailureReason.NO_GOOD_FRAME, quality_reasons=(Q.EYES_CLOSED,))
    )
    assert other.kind is OutcomeKind.FACE_LOST
    assert other.quality_reasons == ()


class _Segment:
    """A part of a clip as the kiosk's camera; its clock is the till's (the clip's time),
    so the till's timeouts mean recorded seconds on a busy machine too."""

    def __init__(self, path: Path, start_s: float, end_s: float) -> None:
        self.clip = ClipCamera(path, start_s=start_s)
        self.end_s = end_s

    @property
    def device_name(self) -> str:
        return self.clip.device_name

    def frames(self) -> Iterator[Frame]:
        for frame in self.clip.frames():
            if frame.timestamp >= self.end_s:
                return
            yield frame

    def close(self) -> None:
        pass


def _shoppers(sandbox: Sandbox) -> int:
    with sandbox.backend.db.transaction(readonly=True) as tx:
        row = tx.one("SELECT COUNT(*) FROM shoppers", ())
    return 0 if row is None else int(row[0])


@pytest.mark.slow
@pytest.mark.eval
def test_a_kiosk_enrolling_shut_eyes_says_so_in_every_language_and_keeps_nothing(
    qtbot: Any, themed: QApplication, eval_dir: Path, models: dict[str, Any]
) -> None:
    segment = _Segment(eval_dir / "video" / "WolfgangLanger_Pexels.mp4", 3.0, 6.0)
    directory = StaffDirectory()
    directory.add("ana", "482913")
    with Sandbox() as sandbox:
        port = connect_demo_till(sandbox, challenges=("blink",), clock=segment.clip.now, **models)
        bridge = PosBridge()
        pos = DemoPos(bridge)
        c = KioskController(
            port=port,
            open_camera=lambda: segment,
            bridge=bridge,
            staff=StaffLogin(directory),
            # Every frame of the clip is analysed, however busy the machine.
            playback=CameraPlayback(lockstep=True),
            on_demo_scan=pos.scan,
            on_demo_card=pos.approve_card,
            card_reader=DemoCardReader().tap,
        )
        try:
            c.widget().resize(1024, 768)
            c.widget().show()
            c.idle.language_buttons[Language.AR].click()  # the shopper's language
            c.idle.join_button.click()
            c.consent.agree_box.setChecked(True)
            c.consent.agree_button.click()
            for d in "015112345678":
                c.enroll_phone.keypad.press(d)
            c.enroll_phone.keypad.submit_button.click()
            c.enroll_card.tap_button.click()
            qtbot.waitUntil(lambda: c.enroll_card.continue_button.isEnabled(), timeout=10_000)
            c.enroll_card.continue_button.click()
            c.enroll_pin.skip_button.click()
            assert c.current == "capture"
            qtbot.waitUntil(lambda: c.current == "result", timeout=120_000)

            outcome = c.result.outcome
            assert outcome is not None
            assert outcome.kind is OutcomeKind.FACE_NOT_CLEAR, outcome.staff_code
            assert outcome.quality_reasons[0] is Q.EYES_CLOSED
            assert _shoppers(sandbox) == 0  # nothing stored
            assert not outcome.charged
            for language in (Language.AR, Language.ZH, Language.EN):
                c.set_language(language)
                tr = Translator(language)
                assert c.result.title.text() == tr("result.not_set_up_title")
                text = c.result.message.text()
                assert text == tr("result.face_not_clear_eyes")
                assert _WHAT_TO_DO[Q.EYES_CLOSED][language] in text
                assert _NOT_SAVED[language] in text
                assert _NOTHING_CHARGED[language] in text
                # Enrolling from the idle screen: no basket, so no card button to press.
                assert not c.result.card_button.isVisibleTo(c.result)
                assert c.result.retry_button.isVisibleTo(c.result)
            # Try again starts the enrollment again at the PIN (the till kept no copy).
            c.result.retry_button.click()
            assert c.current == "enroll_pin"
        finally:
            c.shutdown()
            port.close()

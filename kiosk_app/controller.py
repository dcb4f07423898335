"""The Qt side of the kiosk: draws :class:`~kiosk_app.model.KioskMachine` and feeds it input.

The controller decides nothing about money or navigation: the machine does. It owns the
Qt pieces the machine needs (:class:`~kiosk_app.model.KioskEffects`): the flow worker
thread that makes every till call, the camera thread, the POS bridge and the inactivity
timers; it turns the machine's events into screen updates and the screens' buttons into
machine calls.

Privacy: every way back to idle goes through the machine's reset, which stops the camera,
empties the frame mailbox, asks the till to drop its frames and templates, and the
controller clears every preview from the screens.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import ctypes.util
import gc
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from PyQt6.QtCore import QEvent, QObject, Qt, QThread, QTimer, pyqtSignal
from PyQt6.QtGui import QGuiApplication, QKeyEvent, QMouseEvent
from PyQt6.QtWidgets import QApplication, QStackedWidget, QWidget

from facepay import Claim, FrameFeedback, OrderAlreadyPaidError
from kiosk_app.i18n import Language, Translator
from kiosk_app.model import (
    BackendHealth,
    ChannelKind,
    CheckoutPort,
    KioskEvent,
    KioskMachine,
    LaneChanged,
    LanguageChanged,
    Notice,
    Outcome,
    OutcomeKind,
    OutcomeShown,
    PinPrompt,
    ProgressShown,
    QueueChanged,
    ReceiptChannel,
    Sale,
    SaleChanged,
    ScreenChanged,
    StaffAudit,
    StaffLogin,
)
from kiosk_app.model import (
    Screen as ScreenId,
)
from kiosk_app.pos import PosBridge
from kiosk_app.screens import (
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
)
from kiosk_app.workers import (
    CameraPlayback,
    CameraWorker,
    FlowWorker,
    FrameMailbox,
    FrameSourceLike,
)

__all__ = ["WARNING_LEAD_S", "KioskController", "KioskSettings"]

T = TypeVar("T")

# Seconds of warning ("Still there?") before an inactivity timeout returns to idle.
WARNING_LEAD_S = 10.0

logger = logging.getLogger(__name__)

_FACE_SCREENS = (ScreenId.CAPTURE, ScreenId.LIVENESS)
_PRESS_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space)


@dataclass(slots=True, kw_only=True)
class KioskSettings:
    """Kiosk behaviour. Timeouts are seconds of no touch/key/face before going back to idle."""

    camera: str = ""  # what --camera said (index or path), shown to the attendant
    cameras: Sequence[str] = ()
    backend_url: str = ""
    timeouts: dict[str, float] = field(
        default_factory=lambda: {
            "basket": 180.0,
            "choice": 60.0,
            "claim": 60.0,
            "capture": 30.0,
            "liveness": 30.0,
            "result": 20.0,
            "step_up": 60.0,
            "card": 90.0,
            "receipt": 30.0,
            "confirm_cancel": 30.0,
            "consent": 120.0,
            "enroll_phone": 60.0,
            "enroll_card": 60.0,
            "enroll_pin": 60.0,
            "enroll_done": 30.0,
            "attendant_pin": 30.0,
            "attendant": 120.0,
        }
    )


class KioskController(QObject):
    screen_changed = pyqtSignal(str)
    camera_changed = pyqtSignal(str)  # the attendant picked another camera
    # UI thread -> FlowWorker (queued): never call the worker's methods directly.
    _call = pyqtSignal(int, object)
    _start_feeding = pyqtSignal(int, object)
    _stop_feeding = pyqtSignal()

    def __init__(
        self,
        *,
        port: CheckoutPort,
        open_camera: Callable[[], FrameSourceLike] | None,
        bridge: PosBridge,
        staff: StaffLogin,
        audit: StaffAudit | None = None,
        receipt_channels: Iterable[ReceiptChannel] = (),
        settings: KioskSettings | None = None,
        playback: CameraPlayback | None = None,
        translator: Translator | None = None,
        demo_products: Sequence[tuple[str, str, str]] = (),
        on_demo_scan: Callable[[str], None] | None = None,
        on_demo_card: Callable[[str], None] | None = None,
        card_reader: Callable[[], str] | None = None,
        camera_opener: Callable[[str | int], FrameSourceLike] | None = None,
    ) -> None:
        super().__init__()
        self.camera_opener = camera_opener
        self.settings = settings or KioskSettings()
        self.playback = playback or CameraPlayback()
        self.translate = translator or Translator()
        self.bridge = bridge
        self.open_camera = open_camera
        self._on_demo_card = on_demo_card
        self._card_reader = card_reader
        self.mailbox = FrameMailbox()
        self.errors: collections.deque[str] = collections.deque(maxlen=50)
        self.camera: CameraWorker | None = None
        self.camera_fps = 0.0
        self.analysis_seconds: collections.deque[float] = collections.deque(maxlen=100)
        # For docs/performance.md: when the face first passed the quality gate, when the
        # sealed template left, and how long from the former to an approval.
        self.face_in_oval_at: float | None = None
        self.processing_at: float | None = None
        self.approved_at: float | None = None
        self.last_approval_latency: float | None = None
        self._old_cameras: list[CameraWorker] = []
        self._jobs: dict[int, Callable[[Any], None]] = {}
        self._last_feedback: FrameFeedback | None = None
        self._job_ids = itertools.count(1)

        # -- the flow worker on its own thread
        self.flow_thread = QThread()
        self.flow_thread.setObjectName("facepay-flow")
        self.worker = FlowWorker(port, self.mailbox)
        self.worker.moveToThread(self.flow_thread)
        self._call.connect(self.worker.call)
        self._start_feeding.connect(self.worker.start_feeding)
        self._stop_feeding.connect(self.worker.stop_feeding)
        self.worker.feedback.connect(self._on_feedback)
        self.worker.processing.connect(self._on_processing)
        self.worker.outcome.connect(self._on_outcome)
        self.worker.result.connect(self._on_result)
        self.worker.failed.connect(self._on_failed)
        self.worker.analysed.connect(self.analysis_seconds.append)
        self.flow_thread.start()

        # -- the model
        self.machine = KioskMachine(
            effects=self,
            store=port.store_profile(),
            staff=staff,
            audit=audit,
            receipt_channels=receipt_channels,
            default_language=self.translate.language.value,
        )
        self.machine.subscribe(self._on_event)

        # -- screens
        self.stack = QStackedWidget()
        self.stack.setObjectName("kiosk")
        t = self.translate
        self.idle = IdleScreen(t)
        self.basket_screen = BasketScreen(t)
        self.choice = ChoiceScreen(t)
        self.claim = ClaimScreen(t)
        self.capture = CaptureScreen(t)
        self.liveness = LivenessScreen(t)
        self.processing = ProcessingScreen(t)
        self.result = ResultScreen(t)
        self.step_up = StepUpScreen(t)
        self.card = CardScreen(t)
        self.privacy = PrivacyScreen(t)  # the receipt channel for the privacy code
        self.confirm = ConfirmCancelScreen(t)
        self.consent = ConsentScreen(t)
        self.enroll_phone = EnrollPhoneScreen(t)
        self.enroll_card = EnrollCardScreen(t)
        self.enroll_pin = EnrollPinScreen(t)
        self.enroll_done = EnrollDoneScreen(t)
        self.attendant_pin = AttendantPinScreen(t)
        self.attendant = AttendantScreen(t)
        self.screens: dict[str, Screen] = {}
        for s in (
            self.idle,
            self.basket_screen,
            self.choice,
            self.claim,
            self.capture,
            self.liveness,
            self.processing,
            self.result,
            self.step_up,
            self.card,
            self.privacy,
            self.confirm,
            self.consent,
            self.enroll_phone,
            self.enroll_card,
            self.enroll_pin,
            self.enroll_done,
            self.attendant_pin,
            self.attendant,
        ):
            self.screens[s.name] = s
            self.stack.addWidget(s)
            s.cancel_button.clicked.connect(self.machine.cancel)
            s.back_button.clicked.connect(self.machine.back)
            s.call_button.clicked.connect(self.machine.call_attendant)
        missing = {s.value for s in ScreenId} - set(self.screens)
        if missing:
            raise RuntimeError(f"no widget for screens {sorted(missing)}")
        self.basket_screen.set_products(demo_products)

        # -- wiring: screens -> model
        m = self.machine
        self.idle.start_button.clicked.connect(m.start)
        self.idle.join_button.clicked.connect(m.join)
        self.idle.language_chosen.connect(lambda lang: m.set_language(lang.value))
        self.idle.attendant_button.clicked.connect(m.staff_requested)
        if on_demo_scan is not None:
            self.basket_screen.product_scanned.connect(on_demo_scan)
        self.basket_screen.remove_requested.connect(
            lambda sku: self.bridge.basket_edit_requested.emit(sku, -1)
        )
        self.basket_screen.pay_button.clicked.connect(m.pay)
        self.choice.face_button.clicked.connect(m.choose_face)
        self.choice.card_button.clicked.connect(m.choose_card)
        self.choice.enroll_button.clicked.connect(m.join)
        self.claim.keypad.submitted.connect(m.give_phone)
        self.result.card_button.clicked.connect(m.choose_card)
        self.result.retry_button.clicked.connect(m.retry)
        self.result.done_button.clicked.connect(m.done)
        self.step_up.keypad.submitted.connect(self._submit_step_up)
        self.step_up.card_button.clicked.connect(m.choose_card)
        self.card.tap_button.clicked.connect(self.tap_card)
        self.privacy.channel_chosen.connect(m.send_receipt)
        self.privacy.done_button.clicked.connect(m.done)
        self.enroll_done.channel_chosen.connect(m.send_receipt)
        self.confirm.keep_button.clicked.connect(m.keep_shopping)
        self.confirm.drop_button.clicked.connect(m.confirm_cancel)
        self.consent.agree_button.clicked.connect(self._consent_given)
        self.consent.decline_button.clicked.connect(m.consent_declined)
        self.enroll_phone.keypad.submitted.connect(m.enroll_phone)
        self.enroll_card.tap_button.clicked.connect(self.link_card)
        self.enroll_card.continue_button.clicked.connect(m.card_confirmed)
        self.enroll_pin.keypad.submitted.connect(self._submit_pin)
        self.enroll_pin.skip_button.clicked.connect(m.skip_pin)
        self.enroll_done.done_button.clicked.connect(m.done)
        self.attendant_pin.sign_in_requested.connect(self._sign_in)
        self.attendant.exit_button.clicked.connect(m.staff_sign_out)
        self.attendant.apply_button.clicked.connect(self._apply_attendant)
        self.attendant.request_action.connect(self._on_request_action)
        self.attendant.void_requested.connect(m.void_line)
        self.attendant.unlock_requested.connect(m.unlock_lane)
        self.attendant.reprint_requested.connect(m.reprint)

        # -- wiring: POS -> model
        bridge.basket_changed.connect(lambda _sid, sale: m.sale_updated(sale))
        bridge.claim_scanned.connect(self._on_claim_scanned)
        bridge.card_result.connect(m.card_result)

        # -- inactivity
        self.idle_timer = QTimer(self)
        self.idle_timer.setSingleShot(True)
        self.idle_timer.timeout.connect(self._on_inactive)
        self.warn_timer = QTimer(self)
        self.warn_timer.setSingleShot(True)
        self.warn_timer.timeout.connect(self._warn_inactive)
        self._warned: Screen | None = None
        # The last press let through (its event time, ms) and whether the screen changed
        # since: a second tap of the same gesture is dropped (_second_tap).
        self._last_press_at: int | None = None
        self._screen_changed_since_press = False
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)

        self._apply_language(self.translate.language)
        self._show(ScreenId.IDLE)
        m.refresh()

    # ------------------------------------------------------------------ reading state
    @property
    def current(self) -> str:
        return self.machine.screen.value

    @property
    def backend(self) -> BackendHealth | None:
        return self.machine.backend

    def widget(self) -> QWidget:
        return self.stack

    # ------------------------------------------------------------------ KioskEffects
    def run(self, job: Callable[[CheckoutPort], T], done: Callable[[T], None]) -> None:
        job_id = next(self._job_ids)
        self._jobs[job_id] = done
        self._call.emit(job_id, job)

    def start_camera(self, attempt: int, sale: Sale | None) -> None:
        self.face_in_oval_at = None
        self._stop_camera()
        if self.open_camera is None:
            self._camera_failed("no_camera")
            return
        cam = CameraWorker(self.open_camera, self.mailbox, playback=self.playback)
        cam.preview_ready.connect(self._on_preview)
        cam.frame_available.connect(self.worker.on_frame)
        cam.camera_failed.connect(self._camera_failed)
        cam.fps_measured.connect(self._on_fps)
        self.camera = cam
        self._start_feeding.emit(attempt, sale)
        cam.start()

    def stop_camera(self) -> None:
        self._stop_feeding.emit()
        self._stop_camera()

    def request_card_payment(self, sale: Sale) -> None:
        self.card.show_amount(sale.amount_text)
        self.bridge.card_payment_requested.emit(sale.sale_id, sale)

    def sale_completed(self, sale_id: str, outcome: Outcome) -> None:
        self.bridge.sale_completed.emit(sale_id, outcome)

    def void_line(self, sale_id: str, sku: str) -> None:
        self.bridge.line_void_requested.emit(sale_id, sku)

    def configure(self, settings: Mapping[str, float]) -> None:
        safe = dict(settings)
        self.run(lambda p: p.configure(safe), _ignore)

    def recover_journal(self) -> None:
        """At start, before the first sale: the till's journal (payments left unanswered
        by a crash) into the machine, each charged sale paid, each unknown one a
        "Check payment" in the attendant queue (``KioskMachine.restore``)."""
        self.run(lambda p: p.recover(), self.machine.restore)

    def end_sale(self) -> None:
        self.bridge.session_reset.emit()

    # ------------------------------------------------------------------ worker answers
    def _on_result(self, job_id: int, value: object) -> None:
        done = self._jobs.pop(job_id, None)
        if done is not None:
            done(value)

    def _on_failed(self, job_id: int, code: str) -> None:
        self._jobs.pop(job_id, None)
        self._log_error(f"till call failed: {code}")
        m = self.machine
        if m.screen in (*_FACE_SCREENS, ScreenId.PROCESSING):
            # A sale the till knows paid (or may be) refuses a new attempt: never the card.
            paid = code == OrderAlreadyPaidError.__name__
            kind = OutcomeKind.PAYMENT_UNKNOWN if paid else OutcomeKind.ERROR
            m.on_outcome(m.attempt, Outcome(kind=kind, staff_code=code))

    def _on_feedback(self, attempt: int, feedback: FrameFeedback) -> None:
        if attempt != self.machine.attempt:
            return
        self._last_feedback = feedback
        if feedback.face_box is not None:
            self.touch()  # someone is in front of the camera
        if self.face_in_oval_at is None and (
            feedback.state.value == "liveness" or not feedback.reasons
        ):
            self.face_in_oval_at = time.monotonic()
        self.machine.on_feedback(attempt, feedback)

    def _on_processing(self, attempt: int) -> None:
        if attempt == self.machine.attempt:
            self.processing_at = time.monotonic()
        self.machine.on_processing(attempt)

    def _on_outcome(self, attempt: int, outcome: Outcome) -> None:
        if (
            attempt == self.machine.attempt
            and self.face_in_oval_at is not None
            and outcome.kind in (OutcomeKind.APPROVED, OutcomeKind.ENROLLED)
        ):
            self.approved_at = time.monotonic()
            self.last_approval_latency = self.approved_at - self.face_in_oval_at
        self.machine.on_outcome(attempt, outcome)

    # ------------------------------------------------------------------ model events
    def _on_event(self, event: KioskEvent) -> None:
        if isinstance(event, ScreenChanged):
            self._show(event.screen)
        elif isinstance(event, Notice):
            text = self.translate(event.key, **event.params) if event.key else ""
            if event.key == "claim.invalid":
                for screen in (self.claim, self.enroll_phone):
                    screen.keypad.reset()  # the number was refused: type it again
            if event.key == "receipt.sent":
                # Say where the receipt went (never what the code is).
                sent = self.screens[self.current]
                if isinstance(sent, PrivacyScreen):
                    sent.show_sent(ChannelKind(event.params["channel"]))
                return
            self.screens[self.current].show_notice(text)
        elif isinstance(event, PinPrompt):
            self.enroll_pin.ask(confirm=event.confirm)
        elif isinstance(event, OutcomeShown):
            self._show_outcome(event.outcome)
        elif isinstance(event, ProgressShown):
            fb = event.feedback
            if self.machine.screen is ScreenId.LIVENESS:
                self.liveness.show_progress(fb)
            elif self.machine.screen is ScreenId.CAPTURE:
                self.capture.show_progress(fb)
        elif isinstance(event, SaleChanged):
            self.basket_screen.show_basket(event.sale)
            if self.machine.screen is ScreenId.ATTENDANT:
                self._show_attendant_work()
            self.touch()  # scanning is the shopper being here too
        elif isinstance(event, LaneChanged):
            self._log_error("lane paused by the backend" if event.paused else "lane unlocked")
            if self.machine.screen is ScreenId.ATTENDANT:
                self._show_attendant_work()
        elif isinstance(event, QueueChanged):
            if self.machine.screen is ScreenId.ATTENDANT:
                self._show_attendant_work()
        elif isinstance(event, LanguageChanged):
            self._apply_language(Language(event.language))

    def _show_outcome(self, outcome: Outcome) -> None:
        if outcome.staff_code:
            self._log_error(f"{outcome.kind.value}: {outcome.staff_code}")
        if outcome.kind is OutcomeKind.ENROLLED:
            # The privacy code goes on the receipt the shopper picks, never on this screen.
            self.enroll_done.offer(self.machine.receipt_channels)
        else:
            # A card payment needs a sale to pay: an enrollment from the idle screen has none.
            m = self.machine
            self.result.show_outcome(
                outcome, card_offered=m.card_is_safe(), enrolling=m.enrolling()
            )

    def _show(self, screen_id: ScreenId) -> None:
        m = self.machine
        screen = self.screens[screen_id.value]
        if screen_id not in _FACE_SCREENS:
            self.capture.camera.clear()
            self.liveness.camera.clear()
        if screen_id is ScreenId.IDLE:
            for s in self.screens.values():
                s.reset()
            self.face_in_oval_at = None
            # Between shoppers: hand the last attempt's frames back to the system.
            QTimer.singleShot(0, release_freed_memory)
        elif screen_id is ScreenId.CHOICE:
            # A paused lane hides face pay (and its enrollment) and says why.
            self.choice.show_amount(
                m.sale.amount_text, m.face_is_offered(), lane_paused=m.lane_paused
            )
        elif screen_id is ScreenId.CLAIM:
            self.claim.reset()
            self.claim.keypad.set_minimum(m.store.min_claim_digits)
        elif screen_id is ScreenId.CAPTURE:
            self.capture.reset()
            self.liveness.reset()
        elif screen_id is ScreenId.LIVENESS:
            # The prompt and the last frame from the first moment: never a black preview
            # with "Follow the prompt" while the next frame is analysed.
            fb = self._last_feedback
            self.liveness.start(
                fb.challenge if fb else None,
                challenge_count=fb.challenge_count if fb else 0,
                seconds=fb.seconds_left if fb else 0.0,
                last_frame=self.capture.camera.image(),
            )
        elif screen_id is ScreenId.RECEIPT:
            self.privacy.offer(m.receipt_channels)
        elif screen_id is ScreenId.CONFIRM_CANCEL:
            self.confirm.ask(m.sale.item_count, m.sale.amount_text)
        elif screen_id is ScreenId.STEP_UP:
            self.step_up.reset()
            asks_pin = m.outcome is not None and m.outcome.asks_pin
            self.step_up.ask(m.store.step_up_digits, pin=asks_pin)
        elif screen_id is ScreenId.CARD:
            self.card.show_amount(m.sale.amount_text)
        elif screen_id is ScreenId.CONSENT:
            self.consent.show_terms(m.store.operator, m.store.retention_days)
        elif screen_id is ScreenId.ENROLL_PHONE:
            self.enroll_phone.reset()
            self.enroll_phone.keypad.set_minimum(max(m.store.min_claim_digits, 6))
        elif screen_id is ScreenId.ENROLL_CARD:
            self.enroll_card.reset()
            if m.card_token:  # back from the PIN: the card is still linked
                self.enroll_card.show_linked(self.translate("enroll.card_read"))
        elif screen_id is ScreenId.ENROLL_PIN:
            self.enroll_pin.reset()
        elif screen_id is ScreenId.STAFF_SIGN_IN:
            self.attendant_pin.reset()
            self.attendant_pin.staff_id_edit.clear()
        elif screen_id is ScreenId.ATTENDANT:
            backend = m.backend
            self.attendant.show_settings(
                self.settings.cameras,
                self.settings.camera,
                self.settings.backend_url,
                dict(backend.settings) if backend else {},
            )
            self._show_attendant_health()
            self._show_attendant_work()
            self.run(lambda p: p.health(), self._on_health)
        if self.stack.currentWidget() is not screen:
            self._screen_changed_since_press = True
        self.stack.setCurrentWidget(screen)
        screen.refocus()
        self.touch()
        self.screen_changed.emit(screen_id.value)
        logger.debug("screen %s", screen_id.value)

    # ------------------------------------------------------------------ inputs
    def _submit_step_up(self, digits: str) -> None:
        self.step_up.keypad.reset()
        self.machine.answer_step_up(digits)

    def _submit_pin(self, digits: str) -> None:
        # The keypad forgets the digits before the model sees them: nothing on the screen
        # holds the PIN (the model hands it to the till, or keeps the first entry only
        # while it is typed again).
        self.enroll_pin.keypad.reset()
        self.machine.enter_pin(digits)

    def _on_claim_scanned(self, claim: Claim) -> None:
        self.machine.give_claim(claim)

    def _consent_given(self) -> None:
        if self.consent.agree_box.isChecked():  # a keyboard user cannot skip the box
            self.machine.consent_given()

    def tap_card(self) -> None:
        """Demo only: the simulated terminal approves (a real POS reports its terminal)."""
        self.card.tap_button.setEnabled(False)
        if self._on_demo_card is not None:
            self._on_demo_card(self.machine.sale.sale_id)

    def link_card(self) -> None:
        """The card reader tokenises the shopper's card for enrollment (a token only)."""
        if self._card_reader is None:
            # Not "pay by card": nothing is being paid, and the reader is what failed.
            self.enroll_card.show_notice(self.translate("enroll.no_card_reader"))
            return
        self.enroll_card.tap_button.setEnabled(False)
        self.machine.card_linked(self._card_reader())
        self.enroll_card.show_linked(self.translate("enroll.card_read"))

    def _sign_in(self, staff_id: str, pin: str) -> None:
        self.attendant_pin.keypad.reset()
        self.machine.staff_sign_in(staff_id, pin)
        if self.machine.screen is ScreenId.STAFF_SIGN_IN:
            self._log_error("attendant: sign-in refused")

    def _on_request_action(self, request_id: int, action: str) -> None:
        """One button per attendant request: the model checks the staff member and audits."""
        m = self.machine
        request = next((r for r in m.queue.open if r.request_id == request_id), None)
        if request is None:
            return
        if action == "approve_age":
            m.approve_age()
        elif action == "unlock":
            m.unlock_lane()
        elif action == "settle":
            m.settle_payment(request.sale_id)
        else:
            m.dismiss(request_id)

    def _show_attendant_work(self) -> None:
        """The attendant screen's queue, lane state and basket, from the model."""
        m = self.machine
        self.attendant.show_queue(m.queue.open)
        self.attendant.show_lane(m.lane_paused)
        self.attendant.show_sale(
            [(line.sku, line.description, line.quantity) for line in m.sale.lines],
            m.sale.age_restricted,
        )

    def _apply_attendant(self) -> None:
        self.settings.camera = self.attendant.camera_box.currentText()
        self.machine.change_settings(self.attendant.thresholds())
        self._use_camera(self.settings.camera)
        self.run(lambda p: p.health(), self._on_health)

    def _on_health(self, health: BackendHealth) -> None:
        self.machine.backend = health
        if self.machine.screen is ScreenId.ATTENDANT and not self.attendant.threshold_spins:
            # Opened before the till's first answer: show its settings now (never over
            # values the attendant may be editing).
            self.attendant.show_settings(
                self.settings.cameras,
                self.settings.camera,
                self.settings.backend_url,
                dict(health.settings),
            )
        self._show_attendant_health()

    def _use_camera(self, spec_text: str) -> None:
        """The attendant picked a camera (index or path): used from the next shopper on."""
        opener = self.camera_opener
        if opener is None or not spec_text:
            return
        spec: str | int = int(spec_text) if spec_text.isdigit() else spec_text
        self.open_camera = lambda: opener(spec)
        self.camera_changed.emit(spec_text)

    def _show_attendant_health(self) -> None:
        cam = (self.settings.camera or "-", self.camera_fps) if self.open_camera else None
        backend = self.machine.backend
        self.attendant.show_health(
            cam, bool(backend and backend.reachable), list(reversed(self.errors))
        )

    # ------------------------------------------------------------------ camera
    def _stop_camera(self) -> None:
        cam, self.camera = self.camera, None
        if cam is not None:
            for sig in (
                cam.preview_ready,
                cam.frame_available,
                cam.camera_failed,
                cam.fps_measured,
            ):
                with contextlib.suppress(TypeError):
                    sig.disconnect()
            cam.stop()
            if not cam.wait(3000):
                logger.warning("camera thread did not stop in 3 s")
                self._old_cameras.append(cam)  # keep it alive until it does
        self.mailbox.clear()

    def _on_preview(self) -> None:
        cam = self.camera
        image = cam.take_preview() if cam is not None else None
        if image is None:
            return  # already drew the newest one
        if self.machine.screen is ScreenId.CAPTURE:
            self.capture.camera.show_image(image)
        elif self.machine.screen is ScreenId.LIVENESS:
            self.liveness.camera.show_image(image)

    def _on_fps(self, fps: float) -> None:
        self.camera_fps = fps

    def _camera_failed(self, code: str) -> None:
        self._log_error(f"camera: {code}")
        m = self.machine
        if m.screen not in _FACE_SCREENS:
            return
        self.stop_camera()
        self.run(lambda p: p.cancel(), _ignore)
        self.capture.camera_lost()
        m.on_outcome(m.attempt, Outcome(kind=OutcomeKind.CAMERA_LOST, staff_code=code))

    # ------------------------------------------------------------------ inactivity
    def touch(self) -> None:
        """The shopper is here: restart the current screen's inactivity timeout."""
        if self._warned is not None:
            self._warned.show_notice("")
            self._warned = None
        timeout = self.settings.timeouts.get(self.current)
        if timeout:
            self.idle_timer.start(int(timeout * 1000))
            # Warn before giving up on someone who may only be reading slowly.
            lead = min(WARNING_LEAD_S, timeout / 3)
            self.warn_timer.start(int((timeout - lead) * 1000))
        else:
            self.idle_timer.stop()
            self.warn_timer.stop()

    def _warn_inactive(self) -> None:
        screen = self.screens[self.current]
        left = max(1, round(self.idle_timer.remainingTime() / 1000))
        screen.show_notice(self.translate("common.timeout_warning", seconds=left))
        self._warned = screen

    def eventFilter(self, obj: QObject | None, event: QEvent | None) -> bool:  # noqa: N802 (Qt API)
        if event is None:
            return False
        kind = event.type()
        if kind in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonDblClick):
            if isinstance(event, QMouseEvent) and self._second_tap(event):
                return True
            self.touch()
        elif kind in (QEvent.Type.KeyPress, QEvent.Type.TouchBegin):
            if isinstance(event, QKeyEvent) and event.isAutoRepeat() and event.key() in _PRESS_KEYS:
                # A held Enter or Space is one press, not one per screen it reaches.
                return True
            self.touch()
        return False

    def _second_tap(self, event: QMouseEvent) -> bool:
        """A press within the double-tap interval of the press that changed the screen is
        that gesture's second tap: it must not land on whatever the new screen has there (a
        double tap on "I agree" pressed the phone screen's Cancel, one on "Pay" the choice
        screen's Cancel, one on "Pay with my face" typed a digit). Both times are the
        events' own (the platform's clock), so a slow machine cannot turn two taps into
        one."""
        stamp = event.timestamp()
        last, changed = self._last_press_at, self._screen_changed_since_press
        hints = QGuiApplication.styleHints()
        interval = hints.mouseDoubleClickInterval() if hints is not None else 400
        if changed and last is not None and 0 <= stamp - last < interval:
            logger.debug("a second tap right after a screen change was dropped")
            return True
        if event.type() is QEvent.Type.MouseButtonPress:
            self._last_press_at = stamp
            self._screen_changed_since_press = False
        return False

    def _on_inactive(self) -> None:
        logger.info("inactive on %s: back to idle", self.current)
        self.machine.timeout()

    # ------------------------------------------------------------------ language
    def _apply_language(self, language: Language) -> None:
        self.translate.language = language
        app = QApplication.instance()
        direction = (
            Qt.LayoutDirection.RightToLeft if language.rtl else Qt.LayoutDirection.LeftToRight
        )
        if isinstance(app, QApplication):
            app.setLayoutDirection(direction)
        self.stack.setLayoutDirection(direction)
        for s in self.screens.values() if hasattr(self, "screens") else ():
            s.retranslate()

    def set_language(self, language: Language) -> None:
        self.machine.set_language(language.value)

    def _log_error(self, text: str) -> None:
        # Codes and screen names only: never a phone number, a claim, a template or a face.
        self.errors.append(f"{time.strftime('%H:%M:%S')}  {text}")

    # ------------------------------------------------------------------ shutdown
    def shutdown(self) -> None:
        self.idle_timer.stop()
        self.warn_timer.stop()
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
        self.stop_camera()
        self._call.emit(0, lambda p: p.cancel())
        self.flow_thread.quit()
        self.flow_thread.wait(5000)
        for cam in self._old_cameras:
            cam.wait(3000)


def _ignore(_: object) -> None:
    return None


def _load_malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None
    return trim


_MALLOC_TRIM = _load_malloc_trim()


def release_freed_memory() -> None:
    """Collect, then return freed heap pages to the system (glibc's ``malloc_trim``).

    Each attempt decodes hundreds of camera frames on three threads (camera, analysis,
    the embedded sandbox), and glibc keeps the freed pages in per-thread arenas: measured
    with ``scripts/kiosk_bench.py`` under Xvfb on the 2-core box, the resident size grew
    from 610 MB after 3 payments to 763 MB after 40 without this.
    """
    gc.collect()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)

"""The kiosk controller: which screen is showing, and what each button and signal does.

It is the only object that knows both the screens and the workers. It runs on the UI thread,
never blocks, and reaches the checkout flow only through :class:`~kiosk_app.workers.FlowWorker`
signals. Each face attempt has a number; cancelling bumps it so late answers are ignored.

Privacy: every way back to idle (cancel, timeout, done) goes through :meth:`reset_to_idle`,
which stops the camera, empties the frame mailbox, asks the flow to drop its frames and
templates, and clears every preview and code from the screens.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from PyQt6.QtCore import QEvent, QObject, Qt, QThread, QTimer, pyqtSignal
from PyQt6.QtWidgets import QApplication, QStackedWidget, QWidget

from kiosk_app.flow import (
    BackendHealth,
    BasketSnapshot,
    CheckoutPort,
    Claim,
    ClaimKind,
    FaceProgress,
    Outcome,
    OutcomeKind,
    StoreProfile,
    format_money,
    receipt_lines,
)
from kiosk_app.i18n import Language, Translator
from kiosk_app.model import ChannelKind
from kiosk_app.pos import PosBridge
from kiosk_app.screens import (
    AttendantPinScreen,
    AttendantScreen,
    BasketScreen,
    CaptureScreen,
    CardScreen,
    ChoiceScreen,
    ClaimScreen,
    ConsentScreen,
    EnrollCardScreen,
    EnrollDoneScreen,
    EnrollPhoneScreen,
    IdleScreen,
    LivenessScreen,
    MessageScreen,
    PrivacyScreen,
    ProcessingScreen,
    ResultScreen,
    Screen,
    StepUpScreen,
)
from kiosk_app.workers import CameraWorker, FlowWorker, FrameMailbox, FrameSourceLike

__all__ = ["WARNING_LEAD_S", "KioskController", "KioskSettings"]

# Seconds of warning ("Still there?") before an inactivity timeout returns to idle.
WARNING_LEAD_S = 10.0

logger = logging.getLogger(__name__)


@dataclass(slots=True, kw_only=True)
class KioskSettings:
    """Kiosk behaviour. Timeouts are seconds of no touch/key/face before going back to idle."""

    camera: str = ""  # what --camera said (index or path), shown to the attendant
    cameras: Sequence[str] = ()
    backend_url: str = ""
    attendant_pin: str = "2468"  # change it: FACEPAY_KIOSK_PIN or --pin
    loop_camera: bool = False  # demo clips loop so the demo never "loses" its camera
    pace_camera: bool = True
    lockstep_camera: bool = False  # tests only: analyse every frame of a recorded clip
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
            "consent": 120.0,
            "enroll_phone": 60.0,
            "enroll_card": 60.0,
            "enroll_done": 30.0,
            "message": 10.0,
            "attendant_pin": 30.0,
            "attendant": 120.0,
        }
    )


class KioskController(QObject):
    screen_changed = pyqtSignal(str)
    camera_changed = pyqtSignal(str)  # the attendant picked another camera
    # The shopper picked a channel for their privacy code: (channel, code, url). The code
    # never goes on the shared screen; the receipt channel adapter delivers it.
    privacy_code_requested = pyqtSignal(str, str, str)
    # UI thread -> FlowWorker (queued): never call the worker's methods directly.
    _call = pyqtSignal(int, str, object)
    _start_feeding = pyqtSignal(int)
    _stop_feeding = pyqtSignal()

    def __init__(
        self,
        *,
        port: CheckoutPort,
        open_camera: Callable[[], FrameSourceLike] | None,
        bridge: PosBridge,
        settings: KioskSettings | None = None,
        translator: Translator | None = None,
        demo_products: Sequence[tuple[str, str, str]] = (),
        on_demo_scan: Callable[[str], None] | None = None,
        on_demo_card: Callable[[str], None] | None = None,
        camera_opener: Callable[[str | int], FrameSourceLike] | None = None,
    ) -> None:
        super().__init__()
        self.camera_opener = camera_opener
        self.settings = settings or KioskSettings()
        self.translate = translator or Translator()
        self.bridge = bridge
        self.open_camera = open_camera
        self._on_demo_card = on_demo_card
        self.mailbox = FrameMailbox()
        self.attempt = 0
        self.mode = "pay"  # or "enroll"
        self.store: StoreProfile | None = None
        self.backend: BackendHealth | None = None
        self.basket = BasketSnapshot(lines=(), currency="")
        self.sale_id = bridge.sale_id
        self.paid_sales: set[str] = set()
        self.attempt_sales: dict[int, str] = {}
        self.card_requested: set[str] = set()
        # Sales whose face authorization was sent but never answered (not even on
        # reconcile): no card until the backend says what happened.
        self.unsettled_sales: set[str] = set()
        self.errors: collections.deque[str] = collections.deque(maxlen=50)
        self.enroll_claim: Claim | None = None
        self.enroll_token = ""
        self._privacy_code: tuple[str, str] | None = None
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
        self.privacy = PrivacyScreen(t)
        self.consent = ConsentScreen(t)
        self.enroll_phone = EnrollPhoneScreen(t)
        self.enroll_card = EnrollCardScreen(t)
        self.enroll_done = EnrollDoneScreen(t)
        self.message = MessageScreen(t)
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
            self.consent,
            self.enroll_phone,
            self.enroll_card,
            self.enroll_done,
            self.message,
            self.attendant_pin,
            self.attendant,
        ):
            self.screens[s.name] = s
            self.stack.addWidget(s)
            s.cancel_button.clicked.connect(self.cancel)
        self.basket_screen.set_products(demo_products)

        # -- wiring: screens -> controller
        self.idle.start_button.clicked.connect(lambda: self.go("basket"))
        self.idle.join_button.clicked.connect(self.start_enrollment)
        self.idle.language_chosen.connect(self.set_language)
        self.idle.attendant_button.clicked.connect(self._open_attendant_pin)
        if on_demo_scan is not None:
            self.basket_screen.product_scanned.connect(on_demo_scan)
        self.basket_screen.remove_requested.connect(
            lambda sku: self.bridge.basket_edit_requested.emit(sku, -1)
        )
        self.basket_screen.pay_button.clicked.connect(self.show_payment_choice)
        self.choice.face_button.clicked.connect(self.choose_face)
        self.choice.card_button.clicked.connect(self.choose_card)
        self.choice.enroll_button.clicked.connect(self.start_enrollment)
        self.claim.keypad.submitted.connect(
            lambda d: self.begin_face(Claim(kind=ClaimKind.PHONE, value=d))
        )
        self.result.card_button.clicked.connect(self.choose_card)
        self.result.retry_button.clicked.connect(self._retry)
        self.result.done_button.clicked.connect(self._after_result)
        self.step_up.keypad.submitted.connect(self.submit_step_up)
        self.step_up.card_button.clicked.connect(self.choose_card)
        self.card.tap_button.clicked.connect(self.tap_card)
        self.privacy.done_button.clicked.connect(self.reset_to_idle)
        self.privacy.channel_chosen.connect(self._send_privacy_code)
        self.enroll_done.channel_chosen.connect(self._send_privacy_code)
        self.consent.agree_button.clicked.connect(self.consent_given)
        self.consent.decline_button.clicked.connect(self.consent_declined)
        self.enroll_phone.keypad.submitted.connect(self.enroll_phone_entered)
        self.enroll_card.tap_button.clicked.connect(self.link_card)
        self.enroll_card.continue_button.clicked.connect(self.begin_enrollment_capture)
        self.enroll_done.done_button.clicked.connect(self._after_enrollment)
        self.message.ok_button.clicked.connect(self._after_message)
        self.attendant_pin.keypad.submitted.connect(self._check_pin)
        self.attendant.exit_button.clicked.connect(self.reset_to_idle)
        self.attendant.apply_button.clicked.connect(self._apply_attendant)

        # -- wiring: POS -> controller
        bridge.basket_changed.connect(self._on_basket)
        bridge.claim_scanned.connect(self._on_claim_scanned)
        bridge.card_result.connect(self._on_card_result)

        # -- the flow worker on its own thread
        self.flow_thread = QThread()
        self.flow_thread.setObjectName("facepay-flow")
        self.worker = FlowWorker(port, self.mailbox)
        self.worker.moveToThread(self.flow_thread)
        self._call.connect(self.worker.call)
        self._start_feeding.connect(self.worker.start_feeding)
        self._stop_feeding.connect(self.worker.stop_feeding)
        self.worker.progress.connect(self._on_progress)
        self.worker.processing.connect(self._on_processing)
        self.worker.outcome.connect(self._on_outcome)
        self.worker.result.connect(self._on_result)
        self.worker.failed.connect(self._on_failed)
        self.worker.analysed.connect(self.analysis_seconds.append)
        self.flow_thread.start()

        # -- inactivity
        self.idle_timer = QTimer(self)
        self.idle_timer.setSingleShot(True)
        self.idle_timer.timeout.connect(self._on_inactive)
        self.warn_timer = QTimer(self)
        self.warn_timer.setSingleShot(True)
        self.warn_timer.timeout.connect(self._warn_inactive)
        self._warned: Screen | None = None
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)

        self.retranslate()
        self.go("idle")
        self.refresh_store()

    # ------------------------------------------------------------------ navigation
    @property
    def current(self) -> str:
        w = self.stack.currentWidget()
        return w.name if isinstance(w, Screen) else ""

    def go(self, name: str) -> None:
        screen = self.screens[name]
        if self.current in ("capture", "liveness") and name not in ("capture", "liveness"):
            self.capture.camera.clear()
            self.liveness.camera.clear()
        self.stack.setCurrentWidget(screen)
        screen.refocus()
        self.touch()
        self.screen_changed.emit(name)
        logger.debug("screen %s", name)

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
        if event is not None and event.type() in (
            QEvent.Type.MouseButtonPress,
            QEvent.Type.KeyPress,
            QEvent.Type.TouchBegin,
        ):
            self.touch()
        return False

    def _on_inactive(self) -> None:
        logger.info("inactive on %s: back to idle", self.current)
        self.reset_to_idle()

    def cancel(self) -> None:
        """The cancel button on any screen. A paid sale stays paid; everything else is dropped."""
        self.reset_to_idle()

    def reset_to_idle(self) -> None:
        self.attempt += 1  # late answers from the old attempt are ignored from now on
        self._stop_camera()
        self._stop_feeding.emit()
        self.mailbox.clear()
        self._call.emit(self.attempt, "cancel", lambda p: p.cancel())
        self.enroll_claim = None
        self.enroll_token = ""
        self._privacy_code = None
        self.mode = "pay"
        self.face_in_oval_at = None
        for s in self.screens.values():
            s.reset()
        self.bridge.session_reset.emit()
        self.sale_id = self.bridge.sale_id
        self.basket = BasketSnapshot(lines=(), currency=self.basket.currency)
        self.go("idle")
        self.refresh_store()

    # ------------------------------------------------------------------ language
    def set_language(self, language: Language) -> None:
        self.translate.language = language
        app = QApplication.instance()
        direction = (
            Qt.LayoutDirection.RightToLeft if language.rtl else Qt.LayoutDirection.LeftToRight
        )
        if isinstance(app, QApplication):
            app.setLayoutDirection(direction)
        self.stack.setLayoutDirection(direction)
        self.retranslate()
        self._call.emit(self.attempt, "language", lambda p: _set_language(p, language))

    def retranslate(self) -> None:
        for s in self.screens.values():
            s.retranslate()

    # ------------------------------------------------------------------ backend
    def refresh_store(self) -> None:
        self._call.emit(self.attempt, "store", lambda p: (p.store_profile(), p.health()))

    def _on_result(self, attempt: int, tag: str, value: Any) -> None:
        if tag == "store":
            self.store, self.backend = value
            if not self.basket.currency and self.store is not None:
                self.basket = BasketSnapshot(lines=(), currency=self.store.currency)
            return
        if tag == "health":
            self.backend = value
            if self.current == "attendant" and not self.attendant.threshold_spins:
                # Opened before the till's first answer: show its thresholds now (never
                # over values the attendant may be editing).
                self.attendant.show_settings(
                    self.settings.cameras,
                    self.settings.camera,
                    self.settings.backend_url,
                    dict(value.thresholds),
                )
            self._show_attendant_health()
            return
        if attempt != self.attempt:
            return
        if tag == "reconcile":
            settled: list[Outcome] = list(value)
            if settled:
                self.unsettled_sales.discard(self.sale_id)
                self._on_outcome(attempt, settled[0])
            return
        if tag == "link_card":
            self.enroll_token, masked = value
            self.enroll_card.show_linked(masked)

    def _on_failed(self, attempt: int, tag: str, code: str) -> None:
        self._log_error(f"{tag}: {code}")
        if tag in ("store", "health"):
            self.backend = BackendHealth(
                reachable=False, url=self.settings.backend_url, detail=code
            )
            if tag == "health":
                self._show_attendant_health()
            return
        if attempt != self.attempt or tag == "cancel":
            return
        if tag == "begin" and code == "InvalidClaimError":
            self.attempt += 1
            self._stop_camera()
            self._stop_feeding.emit()
            screen = self.enroll_phone if self.mode == "enroll" else self.claim
            screen.reset()
            screen.show_notice(self.translate("claim.invalid"))
            self.go(screen.name)
            return
        kind = OutcomeKind.BACKEND_DOWN if _is_transport(code) else OutcomeKind.ERROR
        self._on_outcome(attempt, Outcome(kind=kind, detail=code))

    # ------------------------------------------------------------------ basket and choice
    def _on_basket(self, sale_id: str, snapshot: BasketSnapshot) -> None:
        if sale_id in self.paid_sales:
            return
        self.sale_id = sale_id
        self.basket = snapshot
        self.basket_screen.show_basket(snapshot)
        self.touch()  # scanning is the shopper being here too
        if self.current == "idle" and snapshot.lines:
            self.go("basket")  # scanning the first item starts the session

    def amount_text(self) -> str:
        b = self.basket
        return format_money(b.total_minor, b.currency, b.minor_digits)

    def show_payment_choice(self) -> None:
        if not self.basket.lines:
            return
        self.mode = "pay"
        face_ok = self.backend is None or self.backend.reachable
        self.choice.show_amount(self.amount_text(), face_ok)
        self.go("choice")

    def choose_face(self) -> None:
        self.mode = "pay"
        store = self.store
        if store is not None and store.claimless_allowed:
            self.begin_face(None)
            return
        self.claim.reset()
        if store is not None:
            self.claim.keypad.set_minimum(store.min_claim_digits)
        self.go("claim")

    def _on_claim_scanned(self, claim: Claim) -> None:
        if self.current == "claim":
            self.begin_face(claim)

    # ------------------------------------------------------------------ face capture
    def begin_face(self, claim: Claim | None) -> None:
        self.attempt += 1
        attempt = self.attempt
        self.attempt_sales[attempt] = self.sale_id
        basket = self.basket
        if self.mode == "enroll":
            assert self.enroll_claim is not None
            eclaim, token = self.enroll_claim, self.enroll_token
            self._call.emit(attempt, "begin", lambda p: p.begin_enrollment(eclaim, token))
        else:
            self._call.emit(attempt, "begin", lambda p: p.begin_payment(basket, claim))
        self.capture.reset()
        self.liveness.reset()
        self.face_in_oval_at = None
        self.go("capture")
        self._start_camera()
        self._start_feeding.emit(attempt)

    def _start_camera(self) -> None:
        self._stop_camera()
        if self.open_camera is None:
            self._on_camera_failed("no_camera")
            return
        cam = CameraWorker(
            self.open_camera,
            self.mailbox,
            pace=self.settings.pace_camera,
            loop=self.settings.loop_camera,
            lockstep=self.settings.lockstep_camera,
        )
        cam.preview_ready.connect(self._on_preview)
        cam.frame_available.connect(self.worker.on_frame)
        cam.camera_failed.connect(self._on_camera_failed)
        cam.fps_measured.connect(self._on_fps)
        self.camera = cam
        cam.start()

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
        if self.current == "capture":
            self.capture.camera.show_image(image)
        elif self.current == "liveness":
            self.liveness.camera.show_image(image)

    def _on_fps(self, fps: float) -> None:
        self.camera_fps = fps

    def _on_camera_failed(self, code: str) -> None:
        self._log_error(f"camera: {code}")
        if self.current not in ("capture", "liveness"):
            return
        self.attempt += 1
        self._stop_feeding.emit()
        self._stop_camera()
        self._call.emit(self.attempt, "cancel", lambda p: p.cancel())
        self.capture.camera_lost()
        self.result.show_outcome(Outcome(kind=OutcomeKind.CAMERA_LOST, detail=code))
        self.go("result")

    def _on_progress(self, attempt: int, progress: FaceProgress) -> None:
        if attempt != self.attempt:
            return
        if progress.face_box is not None:
            self.touch()  # someone is in front of the camera
        if progress.phase == "liveness":
            if self.face_in_oval_at is None:
                self.face_in_oval_at = time.monotonic()
            if self.current != "liveness":
                # The prompt and the last frame from the first moment: never a black
                # preview with "Follow the prompt" while the next frame is analysed.
                self.liveness.start(
                    progress.challenge,
                    challenge_count=progress.challenge_count,
                    seconds=progress.seconds_left,
                    last_frame=self.capture.camera.image(),
                )
                self.go("liveness")
            self.liveness.show_progress(progress)
        elif self.current == "capture":
            if not progress.reasons and self.face_in_oval_at is None:
                self.face_in_oval_at = time.monotonic()
            self.capture.show_progress(progress)

    def _on_processing(self, attempt: int) -> None:
        if attempt != self.attempt:
            return
        self.processing_at = time.monotonic()
        self._stop_camera()
        self.go("processing")

    # ------------------------------------------------------------------ outcomes
    def _on_outcome(self, attempt: int, outcome: Outcome) -> None:
        if attempt != self.attempt:
            if outcome.charged:
                # Money moved for an attempt the shopper already left: never hide it.
                self._log_error("late approval after cancel")
                sale = self.attempt_sales.get(attempt, self.sale_id)
                self.paid_sales.add(sale)
                self.bridge.sale_completed.emit(sale, outcome)
            return
        # This attempt has its answer: anything else it says from now on is stale.
        self.attempt += 1
        self.attempt_sales[self.attempt] = self.sale_id
        self._stop_camera()
        self._stop_feeding.emit()
        if self.face_in_oval_at is not None and outcome.kind in (
            OutcomeKind.APPROVED,
            OutcomeKind.ENROLLED,
        ):
            self.last_approval_latency = time.monotonic() - self.face_in_oval_at
            self.approved_at = time.monotonic()
        kind = outcome.kind
        if kind is OutcomeKind.STEP_UP:
            self.step_up.reset()
            self.step_up.ask(
                outcome.step_up_digits or (self.store.step_up_digits if self.store else 4)
            )
            self.go("step_up")
            return
        if kind is OutcomeKind.ENROLLED:
            self._privacy_code = (outcome.privacy_code, outcome.privacy_url)
            self.enroll_done.offer()
            self.go("enroll_done")
            return
        if kind is OutcomeKind.CANCELLED:
            self.reset_to_idle()
            return
        if kind is OutcomeKind.CLAIM_NEEDED:
            self.claim.reset()
            self.claim.show_notice(self.translate("claim.needed"))
            self.go("claim")
            return
        if kind is OutcomeKind.PAYMENT_UNKNOWN:
            self.unsettled_sales.add(self.sale_id)
        if kind is OutcomeKind.APPROVED:
            self.paid_sales.add(self.sale_id)
            self.bridge.sale_completed.emit(self.sale_id, outcome)
        elif outcome.detail:
            self._log_error(f"{kind.value}: {outcome.detail}")
        self.result.show_outcome(outcome)
        self.go("result")

    def _retry(self) -> None:
        o = self.result.outcome
        if o is not None and o.kind is OutcomeKind.PAYMENT_UNKNOWN:
            self._call.emit(self.attempt, "reconcile", lambda p: _reconcile(p))
        else:
            self.choose_face()

    def _after_result(self) -> None:
        o = self.result.outcome
        if o is not None and o.kind is OutcomeKind.APPROVED and o.privacy_code:
            self._privacy_code = (o.privacy_code, o.privacy_url)
            self.privacy.offer()
            self.go("receipt")
        else:
            self.reset_to_idle()

    def _send_privacy_code(self, channel: ChannelKind, address: str = "") -> None:
        if self._privacy_code is None:
            return
        code, url = self._privacy_code
        self.privacy_code_requested.emit(channel.value, code, url)
        screen = self.screens[self.current]
        if isinstance(screen, PrivacyScreen):
            screen.show_sent(channel)
            focus = screen.first_focus()
            if focus is not None:
                focus.setFocus()

    def submit_step_up(self, digits: str) -> None:
        attempt = self.attempt
        self.step_up.keypad.reset()
        self._call.emit(attempt, "step_up", lambda p: p.answer_step_up(digits))
        self.go("processing")

    # ------------------------------------------------------------------ card fallback
    def choose_card(self) -> None:
        if self.sale_id in self.paid_sales or self.sale_id in self.unsettled_sales:
            return  # paid, or maybe paid: a second payment could charge twice
        self.attempt += 1
        self._stop_camera()
        self._stop_feeding.emit()
        self._call.emit(self.attempt, "cancel", lambda p: p.cancel())
        self.card.show_amount(self.amount_text())
        self.go("card")
        if self.sale_id not in self.card_requested:
            self.card_requested.add(self.sale_id)
            self.bridge.card_payment_requested.emit(self.sale_id, self.basket)

    def tap_card(self) -> None:
        """Demo only: the simulated terminal approves (a real POS reports its terminal)."""
        self.card.tap_button.setEnabled(False)
        if self._on_demo_card is not None:
            self._on_demo_card(self.sale_id)

    def _on_card_result(self, sale_id: str, approved: bool, masked_method: str) -> None:
        if sale_id != self.sale_id or self.current != "card":
            return
        if approved:
            if sale_id in self.paid_sales or sale_id in self.unsettled_sales:
                return
            outcome = Outcome(
                kind=OutcomeKind.APPROVED,
                amount_minor=self.basket.total_minor,
                currency=self.basket.currency,
                minor_digits=self.basket.minor_digits,
                masked_method=masked_method,
                receipt_lines=receipt_lines(self.basket),
                charged=True,
                detail="card",
            )
            self._on_outcome(self.attempt, outcome)
        else:
            self.card.tap_button.setEnabled(True)
            self.card.show_notice(self.translate("result.declined"))

    # ------------------------------------------------------------------ enrollment
    def start_enrollment(self) -> None:
        self.mode = "enroll"
        store = self.store
        self.consent.show_terms(
            store.operator if store else "facepay sandbox", store.retention_days if store else 365
        )
        self.go("consent")

    def consent_given(self) -> None:
        if not self.consent.agree_box.isChecked():
            return  # the button is disabled until ticked; a keyboard user cannot skip it
        self.enroll_phone.reset()
        if self.store is not None:
            self.enroll_phone.keypad.set_minimum(max(self.store.min_claim_digits, 6))
        self.go("enroll_phone")

    def consent_declined(self) -> None:
        # Nothing was sent or kept: consent comes before any call to the flow or camera.
        self.mode = "pay"
        self.consent.reset()
        self.message.show_message("enroll.declined")
        self.go("message")

    def _after_message(self) -> None:
        if self.basket.lines:
            self.show_payment_choice()
        else:
            self.reset_to_idle()

    def enroll_phone_entered(self, digits: str) -> None:
        self.enroll_claim = Claim(kind=ClaimKind.PHONE, value=digits)
        self.enroll_card.reset()
        self.go("enroll_card")

    def link_card(self) -> None:
        self.enroll_card.tap_button.setEnabled(False)
        self._call.emit(self.attempt, "link_card", lambda p: p.link_card())

    def begin_enrollment_capture(self) -> None:
        if self.enroll_claim is None or not self.enroll_token:
            return
        self.mode = "enroll"
        self.begin_face(None)

    def _after_enrollment(self) -> None:
        self.mode = "pay"
        self.enroll_claim = None
        self.enroll_token = ""
        if self.basket.lines:
            self.show_payment_choice()
        else:
            self.reset_to_idle()

    # ------------------------------------------------------------------ attendant
    def _open_attendant_pin(self) -> None:
        self.attendant_pin.reset()
        self.go("attendant_pin")

    def _check_pin(self, pin: str) -> None:
        self.attendant_pin.keypad.reset()
        if pin != self.settings.attendant_pin:
            self._log_error("attendant: wrong PIN")
            self.attendant_pin.show_notice(self.translate("attendant.pin_wrong"))
            return
        thresholds = dict(self.backend.thresholds) if self.backend else {}
        self.attendant.show_settings(
            self.settings.cameras, self.settings.camera, self.settings.backend_url, thresholds
        )
        self._show_attendant_health()
        self.go("attendant")
        self._call.emit(self.attempt, "health", lambda p: p.health())

    def _show_attendant_health(self) -> None:
        cam = (self.settings.camera or "-", self.camera_fps) if self.open_camera else None
        self.attendant.show_health(
            cam, bool(self.backend and self.backend.reachable), list(reversed(self.errors))
        )

    def _apply_attendant(self) -> None:
        self.settings.camera = self.attendant.camera_box.currentText()
        thresholds = self.attendant.thresholds()
        url = self.settings.backend_url
        self._call.emit(self.attempt, "configure", lambda p: _configure(p, url, thresholds))
        self._use_camera(self.settings.camera)
        self._call.emit(self.attempt, "health", lambda p: p.health())

    def _use_camera(self, spec_text: str) -> None:
        """The attendant picked a camera (index or path): used from the next shopper on."""
        opener = self.camera_opener
        if opener is None or not spec_text:
            return
        spec: str | int = int(spec_text) if spec_text.isdigit() else spec_text
        self.open_camera = lambda: opener(spec)
        self.camera_changed.emit(spec_text)

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
        self._stop_camera()
        self._stop_feeding.emit()
        self._call.emit(self.attempt, "cancel", lambda p: p.cancel())
        self.flow_thread.quit()
        self.flow_thread.wait(5000)
        for cam in self._old_cameras:
            cam.wait(3000)

    def widget(self) -> QWidget:
        return self.stack


def _configure(port: CheckoutPort, url: str, thresholds: dict[str, float]) -> None:
    configure = getattr(port, "configure", None)
    if callable(configure):
        configure(backend_url=url, thresholds=thresholds)


def _set_language(port: CheckoutPort, language: Language) -> None:
    # The consent record names the language the shopper read it in.
    set_language = getattr(port, "set_language", None)
    if callable(set_language):
        set_language(language)


def _reconcile(port: CheckoutPort) -> list[Outcome]:
    settle = getattr(port, "reconcile_pending", None)
    return list(settle()) if callable(settle) else []


def _is_transport(code: str) -> bool:
    return code in ("TransportError", "ServerError", "ConnectError", "TimeoutException")

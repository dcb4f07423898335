"""The kiosk as a declarative screen machine, Qt-free.

:class:`KioskMachine` holds everything that decides money or what the shopper sees: the
sale, the current face attempt, which sales are paid, which payments were sent without an
answer (no card for those until settled), the lane pause, the attendant queue and the
signed-in staff member. Widgets only draw it (they subscribe with :meth:`subscribe`) and
send it the shopper's and staff's inputs (its public methods). Everything slow (vision,
the network) runs through :class:`KioskEffects.run` on the till's worker thread, whose
answers come back to :meth:`on_feedback`, :meth:`on_processing` and :meth:`on_outcome`
tagged with an attempt number: a late answer for an attempt the shopper left is ignored,
except that money taken is never hidden.

:attr:`KioskMachine.TRANSITIONS` reads like the spec: ``(event, from screens, to screen,
guard)``. The first transition whose guard holds wins; an event with none is ignored (a
stray tap must not crash a till). The table is checked when the module is imported.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar

from facepay import (
    Claim,
    ClaimKind,
    FacePayError,
    FrameFeedback,
    Till,
    WeakPinError,
    phone_to_e164,
)
from kiosk_app.i18n import Language
from kiosk_app.model._attendant import AttendantQueue, AttendantRequest, RequestKind
from kiosk_app.model._outcome import (
    Outcome,
    OutcomeKind,
    outcome_from_error,
    reconcile_outcome,
    settle,
    shown_method,
)
from kiosk_app.model._port import BackendHealth, CheckoutPort, StoreProfile
from kiosk_app.model._receipts import ChannelKind, PrivacyReceipt, ReceiptChannel
from kiosk_app.model._sale import Sale
from kiosk_app.model._staff import (
    LoginRefusedError,
    StaffAction,
    StaffAudit,
    StaffLogin,
    clamp_settings,
)
from kiosk_app.model._text import one_line

__all__ = [
    "DEFAULT_LANE_PAUSE_S",
    "InvalidClaimError",
    "KioskEffects",
    "KioskEvent",
    "KioskMachine",
    "LaneChanged",
    "Mode",
    "Notice",
    "OutcomeShown",
    "PinPrompt",
    "ProgressShown",
    "QueueChanged",
    "SaleChanged",
    "Screen",
    "ScreenChanged",
    "StaffChanged",
    "phone_claim",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# When the backend rate-limits the lane without saying for how long (no Retry-After): its
# default device lockout (facepay.config.ServerConfig.device_lockout_s) is 300 s.
DEFAULT_LANE_PAUSE_S = 300.0

# Attempt numbers remembered to credit a late approval to its sale (a lane starts a few
# attempts a minute; an answer is late by seconds, at most the client's timeouts).
_ATTEMPTS_KEPT = 500
_LANGUAGES = frozenset(lang.value for lang in Language)


class Screen(str, enum.Enum):
    IDLE = "idle"
    BASKET = "basket"
    CHOICE = "choice"
    CLAIM = "claim"
    CAPTURE = "capture"
    LIVENESS = "liveness"
    PROCESSING = "processing"
    STEP_UP = "step_up"
    RESULT = "result"
    CARD = "card"
    RECEIPT = "receipt"  # the shopper picks a receipt channel for the privacy code
    CONFIRM_CANCEL = "confirm_cancel"
    CONSENT = "consent"
    ENROLL_PHONE = "enroll_phone"
    ENROLL_CARD = "enroll_card"
    ENROLL_PIN = "enroll_pin"  # the shopper's 4-digit PIN for the grey zone, or skip
    ENROLL_DONE = "enroll_done"
    STAFF_SIGN_IN = "attendant_pin"
    ATTENDANT = "attendant"


class Mode(str, enum.Enum):
    PAY = "pay"
    ENROLL = "enroll"


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class ScreenChanged:
    screen: Screen
    previous: Screen


@dataclass(frozen=True, slots=True)
class Notice:
    """A line for the current screen, as an i18n key and its parameters ("" clears it)."""

    key: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PinPrompt:
    """The PIN screen asks for the PIN (``confirm`` False) or for it again (True)."""

    confirm: bool


@dataclass(frozen=True, slots=True)
class OutcomeShown:
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class ProgressShown:
    feedback: FrameFeedback


@dataclass(frozen=True, slots=True)
class SaleChanged:
    sale: Sale


@dataclass(frozen=True, slots=True)
class LaneChanged:
    paused: bool


@dataclass(frozen=True, slots=True)
class QueueChanged:
    requests: tuple[AttendantRequest, ...]


@dataclass(frozen=True, slots=True)
class StaffChanged:
    staff_id: str  # "" when signed out


@dataclass(frozen=True, slots=True)
class LanguageChanged:
    language: str


KioskEvent = (
    ScreenChanged
    | Notice
    | PinPrompt
    | OutcomeShown
    | ProgressShown
    | SaleChanged
    | LaneChanged
    | QueueChanged
    | StaffChanged
    | LanguageChanged
)


class KioskEffects(Protocol):
    """What the machine asks the outside world to do (Qt workers, the POS, a test)."""

    def run(self, job: Callable[[CheckoutPort], T], done: Callable[[T], None]) -> None:
        """Run ``job(port)`` on the till's worker thread; call ``done`` on the UI thread."""

    def start_camera(self, attempt: int, sale: Sale | None) -> None:
        """Start feeding frames: the worker calls :func:`kiosk_app.model.process_frame`
        and answers ``on_feedback`` / ``on_processing`` / ``on_outcome`` with ``attempt``."""

    def stop_camera(self) -> None: ...

    def request_card_payment(self, sale: Sale) -> None: ...

    def sale_completed(self, sale_id: str, outcome: Outcome) -> None: ...

    def void_line(self, sale_id: str, sku: str) -> None: ...

    def configure(self, settings: Mapping[str, float]) -> None:
        """Apply staff settings (already clamped) to the till from the next shopper on."""

    def end_sale(self) -> None:
        """The POS closes or drops this sale and opens the next one."""


# --------------------------------------------------------------------------- claims


class InvalidClaimError(FacePayError):
    """What the shopper typed is not a phone number."""


def phone_claim(digits: str, country_code: str) -> Claim:
    """Keypad digits -> a phone ``Claim``, by facepay's ``phone_to_e164`` (the privacy page
    reads numbers with the same function)."""
    try:
        return Claim(kind=ClaimKind.PHONE, value=phone_to_e164(digits, country_code))
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        # No value in the message: it is personal data and this may be logged. (The
        # cause is kept for a debugger; pydantic's own message does not quote the input.)
        raise InvalidClaimError("that is not a phone number") from exc


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True, slots=True)
class Transition:
    event: str
    sources: frozenset[Screen]
    target: Screen | None  # None: back to the screen saved in ``return_to``
    guard: str = ""


def _t(
    event: str, sources: Iterable[Screen] | Screen, target: Screen | None, guard: str = ""
) -> Transition:
    src = frozenset([sources]) if isinstance(sources, Screen) else frozenset(sources)
    return Transition(event, src, target, guard)


S = Screen
_FACE = {S.CAPTURE, S.LIVENESS}
_SHOPPING = {S.BASKET, S.CHOICE, S.CLAIM, S.CAPTURE, S.LIVENESS, S.STEP_UP, S.RESULT, S.CARD}
_ENROLLING = {S.CONSENT, S.ENROLL_PHONE, S.ENROLL_CARD, S.ENROLL_PIN}
_ANY = frozenset(Screen)

# Where "Back" goes from each screen (issue #13: Back on every screen). Processing has none:
# the payment is in flight and leaving would not stop it.
BACK: dict[Screen, Screen | None] = {
    S.BASKET: S.IDLE,
    S.CHOICE: S.BASKET,
    S.CLAIM: S.CHOICE,
    S.CAPTURE: S.CLAIM,
    S.LIVENESS: S.CLAIM,
    S.STEP_UP: S.CHOICE,
    S.RESULT: S.CHOICE,
    S.CARD: S.CHOICE,
    S.RECEIPT: S.RESULT,
    S.CONFIRM_CANCEL: None,
    S.CONSENT: None,
    S.ENROLL_PHONE: S.CONSENT,
    S.ENROLL_CARD: S.ENROLL_PHONE,
    S.ENROLL_PIN: S.ENROLL_CARD,
    S.ENROLL_DONE: None,
    S.STAFF_SIGN_IN: None,
    S.ATTENDANT: None,
}


class KioskMachine:
    TRANSITIONS: tuple[Transition, ...] = (
        _t("start", S.IDLE, S.BASKET),
        _t("pay", S.BASKET, S.CHOICE, guard="sale_is_payable"),
        _t("face", {S.CHOICE, S.RESULT}, S.CAPTURE, guard="claimless_face"),
        _t("face", {S.CHOICE, S.RESULT}, S.CLAIM, guard="face_is_offered"),
        _t("claim_given", S.CLAIM, S.CAPTURE),
        # A failed enrollment starts again at the PIN: the till was handed it and the kiosk
        # kept no copy.
        _t("retry", S.RESULT, S.ENROLL_PIN, guard="enrolling"),
        _t("retry", S.RESULT, S.CAPTURE, guard="claim_is_kept"),
        _t("retry", S.RESULT, S.CLAIM, guard="face_is_offered"),
        _t("liveness", S.CAPTURE, S.LIVENESS),
        _t("processing", {*_FACE, S.STEP_UP}, S.PROCESSING),
        _t("step_up", S.PROCESSING, S.STEP_UP),
        _t("claim_needed", S.PROCESSING, S.CLAIM),
        _t("enrolled", {*_FACE, S.PROCESSING}, S.ENROLL_DONE),
        _t("outcome", {*_FACE, S.PROCESSING, S.STEP_UP, S.CLAIM, S.CARD, S.RESULT}, S.RESULT),
        _t("card", {S.CHOICE, S.RESULT, S.STEP_UP, S.CLAIM}, S.CARD, guard="card_is_safe"),
        _t("receipt", S.RESULT, S.RECEIPT, guard="has_privacy_code"),
        _t("done", {S.RESULT, S.RECEIPT}, S.IDLE, guard="sale_is_settled"),
        _t("done", {S.RESULT, S.RECEIPT, S.ENROLL_DONE}, S.CHOICE, guard="sale_is_payable"),
        _t("done", {S.RESULT, S.RECEIPT, S.ENROLL_DONE}, S.IDLE),
        _t("cancel", _SHOPPING | _ENROLLING | {S.RECEIPT}, S.CONFIRM_CANCEL, guard="sale_unpaid"),
        _t("cancel", _SHOPPING | _ENROLLING | {S.RECEIPT, S.ENROLL_DONE}, S.IDLE),
        _t("cancel_confirmed", S.CONFIRM_CANCEL, S.IDLE),
        _t("keep_shopping", S.CONFIRM_CANCEL, None),
        _t("timeout", _ANY - {S.IDLE, S.PROCESSING}, S.IDLE),
        _t("join", {S.IDLE, S.CHOICE, S.RESULT}, S.CONSENT),
        _t("consent_given", S.CONSENT, S.ENROLL_PHONE),
        _t("consent_declined", S.CONSENT, None),
        _t("enroll_phone", S.ENROLL_PHONE, S.ENROLL_CARD),
        _t("card_confirmed", S.ENROLL_CARD, S.ENROLL_PIN, guard="card_is_linked"),
        _t("pin_decided", S.ENROLL_PIN, S.CAPTURE, guard="card_is_linked"),
        _t("staff", _ANY - {S.STAFF_SIGN_IN, S.ATTENDANT, S.PROCESSING}, S.STAFF_SIGN_IN),
        _t("staff_in", S.STAFF_SIGN_IN, S.ATTENDANT),
        _t("staff_out", {S.STAFF_SIGN_IN, S.ATTENDANT}, None),
        # Back goes where the screen's BACK entry says (passed as the target).
        _t("back", frozenset(s for s, to in BACK.items() if to is not None), None),
    )

    def __init__(
        self,
        *,
        effects: KioskEffects,
        store: StoreProfile,
        staff: StaffLogin,
        audit: StaffAudit | None = None,
        receipt_channels: Iterable[ReceiptChannel] = (),
        country_code: str = "49",
        default_language: str = "en",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.effects = effects
        self.store = store
        self.staff = staff
        self.audit = audit or StaffAudit()
        self.channels: dict[ChannelKind, ReceiptChannel] = {c.kind: c for c in receipt_channels}
        self.country_code = country_code
        self.default_language = default_language
        self.language = default_language
        self.clock = clock
        self.queue = AttendantQueue(clock)
        self.screen = Screen.IDLE
        self.return_to = Screen.IDLE
        self.mode = Mode.PAY
        self.sale = Sale(sale_id="", currency=store.currency)
        self.attempt = 0
        self.attempt_sales: dict[int, str] = {}
        self.claim: Claim | None = None  # kept for "Try again" (never logged)
        self.enroll_claim: Claim | None = None
        self.card_token = ""
        # The PIN's first entry, held only while the shopper types it again (never logged:
        # the machine has no repr and no log line names it); dropped when they leave.
        self._pin_first: str | None = None
        self.outcome: Outcome | None = None
        self.paid_sales: set[str] = set()
        self.unsettled_sales: set[str] = set()
        self.card_requested: set[str] = set()
        self.lane_paused_until: float | None = None
        self.backend: BackendHealth | None = None
        self.signed_in = ""
        self.last_receipt: PrivacyReceipt | None = None
        self._listeners: list[Callable[[KioskEvent], None]] = []

    # ------------------------------------------------------------------ observing
    def subscribe(self, listener: Callable[[KioskEvent], None]) -> None:
        self._listeners.append(listener)

    def _emit(self, event: KioskEvent) -> None:
        for listener in list(self._listeners):
            listener(event)

    # ------------------------------------------------------------------ guards
    def sale_is_payable(self) -> bool:
        return (
            not self.sale.is_empty
            and not self.sale.needs_age_check
            and self.sale.sale_id not in self.paid_sales
            and self.sale.sale_id not in self.unsettled_sales
        )

    def sale_is_settled(self) -> bool:
        return self.sale.sale_id in self.paid_sales

    def sale_unpaid(self) -> bool:
        return not self.sale.is_empty and self.sale.sale_id not in self.paid_sales

    @property
    def lane_paused(self) -> bool:
        until = self.lane_paused_until
        return until is not None and self.clock() < until

    def face_is_offered(self) -> bool:
        """Face pay is shown: the lane is not paused and the backend was reachable."""
        reachable = self.backend is None or self.backend.reachable
        return not self.lane_paused and reachable and self.sale_is_payable_or_enrolling()

    def sale_is_payable_or_enrolling(self) -> bool:
        return self.mode is Mode.ENROLL or self.sale_is_payable()

    def claimless_face(self) -> bool:
        return self.face_is_offered() and self.store.claimless_allowed

    def claim_is_kept(self) -> bool:
        return self.face_is_offered() and (self.claim is not None or self.store.claimless_allowed)

    def card_is_safe(self) -> bool:
        sid = self.sale.sale_id
        return (
            not self.sale.is_empty
            and not self.sale.needs_age_check
            and sid not in self.paid_sales
            and sid not in self.unsettled_sales
        )

    def has_privacy_code(self) -> bool:
        return bool(self.outcome and self.outcome.privacy_code and self.channels)

    @property
    def receipt_channels(self) -> tuple[ChannelKind, ...]:
        """The channels this till can deliver a receipt on (offer only these)."""
        return tuple(self.channels)

    def card_is_linked(self) -> bool:
        return bool(self.card_token and self.enroll_claim is not None)

    def enrolling(self) -> bool:
        return self.mode is Mode.ENROLL and self.card_is_linked()

    @property
    def pin_confirming(self) -> bool:
        """The PIN screen waits for the PIN a second time."""
        return self._pin_first is not None

    # ------------------------------------------------------------------ the table
    def can(self, event: str) -> bool:
        return self._choose(event) is not None

    def _choose(self, event: str) -> Transition | None:
        for tr in self.TRANSITIONS:
            if (
                tr.event == event
                and self.screen in tr.sources
                and (not tr.guard or getattr(self, tr.guard)())
            ):
                return tr
        return None

    def _fire(self, event: str, *, target: Screen | None = None) -> bool:
        tr = self._choose(event)
        if tr is None:
            logger.debug("%s ignored on %s", event, self.screen.value)
            return False
        to = target or tr.target or self.return_to
        self._show(to)
        return True

    def _show(self, to: Screen) -> None:
        previous, self.screen = self.screen, to
        if previous in _FACE and to not in _FACE:
            self.effects.stop_camera()
        if previous is Screen.ENROLL_PIN or to is Screen.ENROLL_PIN:
            self._pin_first = None
        if to is Screen.IDLE:
            self._reset()
        self._emit(ScreenChanged(to, previous))

    def _remember(self) -> None:
        """Save where Keep shopping / sign-out return to. Leaving the camera or the step-up
        ends that attempt (its frames are dropped); the way back is the claim screen, which
        still holds the phone number."""
        if self.screen in (*_FACE, Screen.STEP_UP):
            self._drop_attempt()
            self.return_to = Screen.CLAIM if self.mode is Mode.PAY else Screen.ENROLL_PIN
        elif self.screen not in (Screen.CONFIRM_CANCEL, Screen.STAFF_SIGN_IN, Screen.ATTENDANT):
            self.return_to = self.screen

    def _drop_attempt(self) -> None:
        self.attempt += 1
        self.effects.stop_camera()
        self.effects.run(lambda p: p.cancel(), _ignore)

    # ------------------------------------------------------------------ the POS
    def sale_updated(self, sale: Sale) -> None:
        """The POS's basket changed (scan, void, price override)."""
        if sale.sale_id in self.paid_sales:
            return
        self.sale = sale
        if sale.needs_age_check:
            self.queue.raise_request(
                RequestKind.AGE_CHECK, sale_id=sale.sale_id, item_count=sale.item_count
            )
            self._emit(QueueChanged(self.queue.open))
        self._emit(SaleChanged(sale))
        if self.screen is Screen.IDLE and not sale.is_empty:
            self._fire("start")

    def start(self) -> None:
        self._fire("start")

    # ------------------------------------------------------------------ paying
    def pay(self) -> None:
        if self.sale.needs_age_check:
            self._emit(Notice("basket.age_check_waiting"))
            return
        self.mode = Mode.PAY
        self._fire("pay")

    def choose_face(self) -> None:
        self.mode = Mode.PAY
        if self.lane_paused:
            self._emit(Notice("result.lane_paused"))
            return
        claimless = self.claimless_face()
        if self._fire("face") and claimless:
            self._begin_attempt(None)

    def give_phone(self, digits: str) -> None:
        """The shopper typed their phone number on the claim screen."""
        try:
            claim = phone_claim(digits, self.country_code)
        except InvalidClaimError:
            self._emit(Notice("claim.invalid"))
            return
        self.give_claim(claim)

    def give_claim(self, claim: Claim) -> None:
        """A phone number typed, or a loyalty card / app QR scanned, on the claim screen."""
        if self.screen is not Screen.CLAIM:
            return
        self.claim = claim
        if self._fire("claim_given"):
            self._begin_attempt(claim)

    def retry(self) -> None:
        """ "Try again": the same phone number, straight back to the camera."""
        o = self.outcome
        if o is not None and o.kind is OutcomeKind.PAYMENT_UNKNOWN:
            self._reconcile()
            return
        if self.screen is Screen.RESULT and self.claim_is_kept() and not self.enrolling():
            if self._fire("retry"):
                self._begin_attempt(self.claim)
            return
        self._fire("retry")

    def _begin_attempt(self, claim: Claim | None, *, pin: str | None = None) -> None:
        """Open an attempt. ``pin`` (an enrollment's) goes into the job that hands it to the
        till and nowhere else: the machine keeps no copy."""
        self.attempt += 1
        attempt = self.attempt
        self.attempt_sales[attempt] = self.sale.sale_id
        # A late answer can only come for a recent attempt: keep the last few hundred.
        for old in [a for a in self.attempt_sales if a < attempt - _ATTEMPTS_KEPT]:
            del self.attempt_sales[old]
        self.outcome = None
        if self.mode is Mode.ENROLL:
            eclaim, token, locale = self.enroll_claim, self.card_token, self.language
            assert eclaim is not None

            def job(p: CheckoutPort) -> Outcome | None:
                try:
                    p.begin_enrollment(eclaim, token, locale, pin=pin)
                except FacePayError as exc:
                    return outcome_from_error(exc, answer_lost=False)
                return None

            sale = None
        else:
            sale = self.sale
            basket = sale.basket()

            def job(p: CheckoutPort) -> Outcome | None:
                try:
                    p.begin_payment(basket, claim)
                except FacePayError as exc:
                    return outcome_from_error(exc, answer_lost=False)
                return None

        def begun(answer: Outcome | None) -> None:
            if answer is not None:
                self.on_outcome(attempt, answer)

        self.effects.run(job, begun)
        if self.attempt == attempt:  # (a synchronous runner may have answered already)
            self.effects.start_camera(attempt, sale)

    # ------------------------------------------------------------------ worker answers
    def on_feedback(self, attempt: int, feedback: FrameFeedback) -> None:
        if attempt != self.attempt:
            return
        if feedback.state.value == "liveness" and self.screen is Screen.CAPTURE:
            self._fire("liveness")
        if self.screen in _FACE:
            self._emit(ProgressShown(feedback))

    def on_processing(self, attempt: int) -> None:
        if attempt != self.attempt:
            return
        self.effects.stop_camera()
        self._fire("processing")

    def on_outcome(self, attempt: int, outcome: Outcome) -> None:
        sale_id = self.attempt_sales.get(attempt, self.sale.sale_id)
        if attempt != self.attempt:
            if outcome.charged:
                # Money moved for an attempt the shopper already left: never hide it.
                self.paid_sales.add(sale_id)
                self.effects.sale_completed(sale_id, outcome)
            return
        self.attempt += 1  # this attempt has its answer: anything later is stale
        self.attempt_sales[self.attempt] = self.sale.sale_id
        self.effects.stop_camera()
        kind = outcome.kind
        if kind is OutcomeKind.CANCELLED:
            return
        self.outcome = outcome
        if kind is OutcomeKind.STEP_UP:
            self._fire("step_up")
            return
        if kind is OutcomeKind.CLAIM_NEEDED:
            self.claim = None
            self._fire("claim_needed")
            self._emit(Notice("claim.needed"))
            return
        if kind is OutcomeKind.ENROLLED:
            self._fire("enrolled")
            self._emit(OutcomeShown(outcome))
            return
        if kind is OutcomeKind.LANE_PAUSED:
            self._pause_lane(outcome.retry_after_s)
        elif kind is OutcomeKind.PAYMENT_UNKNOWN:
            self.unsettled_sales.add(sale_id)
            self.queue.raise_request(
                RequestKind.PAYMENT_UNKNOWN, sale_id=sale_id, amount_text=self.sale.amount_text
            )
            self._emit(QueueChanged(self.queue.open))
        elif kind is OutcomeKind.APPROVED:
            self.paid_sales.add(sale_id)
            self.unsettled_sales.discard(sale_id)
            self.queue.resolve_kind(RequestKind.PAYMENT_UNKNOWN, sale_id)
            self.effects.sale_completed(sale_id, outcome)
        if outcome.staff_code:
            logger.info("attempt ended: %s (%s)", kind.value, outcome.staff_code)
        self._fire("outcome")
        self._emit(OutcomeShown(outcome))

    def _pause_lane(self, retry_after_s: float | None) -> None:
        self.lane_paused_until = self.clock() + (retry_after_s or DEFAULT_LANE_PAUSE_S)
        self.queue.raise_request(RequestKind.LANE_PAUSED)
        self._emit(LaneChanged(True))
        self._emit(QueueChanged(self.queue.open))

    def answer_step_up(self, digits: str) -> None:
        if self.screen is not Screen.STEP_UP:
            return
        attempt, sale = self.attempt, self.sale

        def job(p: CheckoutPort) -> Outcome:
            return settle(
                lambda: p.answer_step_up(digits), sale, lambda: p.answer_lost(sale.sale_id)
            )

        self._fire("processing")
        self.effects.run(job, lambda o: self.on_outcome(attempt, o))

    def _reconcile(self) -> None:
        """ "Check again": ask the till what became of the sale's unanswered payment."""
        attempt, sale = self.attempt, self.sale

        def job(p: CheckoutPort) -> Outcome:
            return reconcile_outcome(lambda: p.reconcile(sale.sale_id), sale)

        def reconciled(outcome: Outcome) -> None:
            if outcome.kind is not OutcomeKind.PAYMENT_UNKNOWN and not outcome.charged:
                self._settled_not_charged(sale.sale_id)
            self.on_outcome(attempt, outcome)

        self.effects.run(job, reconciled)

    def _settled_not_charged(self, sale_id: str) -> None:
        """The backend answered for good that the lost payment took nothing (a decline, or
        a refusal of the re-sent request): the sale may be paid another way."""
        self.unsettled_sales.discard(sale_id)
        self.queue.resolve_kind(RequestKind.PAYMENT_UNKNOWN, sale_id)
        self._emit(QueueChanged(self.queue.open))

    # ------------------------------------------------------------------ card
    def choose_card(self) -> None:
        if not self.can("card"):
            return  # paid, or maybe paid: a second payment could charge twice
        self._drop_attempt()
        self._fire("card")
        if self.sale.sale_id not in self.card_requested:
            self.card_requested.add(self.sale.sale_id)
            self.effects.request_card_payment(self.sale)

    def card_result(self, sale_id: str, approved: bool, masked_method: str = "") -> None:
        """The POS's card terminal answered."""
        if sale_id != self.sale.sale_id or self.screen is not Screen.CARD:
            return
        if not approved:
            self.card_requested.discard(sale_id)
            self._emit(Notice("card.declined"))
            return
        outcome = Outcome(
            kind=OutcomeKind.APPROVED,
            amount_minor=self.sale.total_minor,
            currency=self.sale.currency,
            masked_method=shown_method(masked_method),
            by_card=True,
            charged=True,
        )
        self.on_outcome(self.attempt, outcome)

    # ------------------------------------------------------------------ ending
    def done(self) -> None:
        """Done on the result screen: the receipt channel if there is a privacy code to
        give, else on (the payment choice when the basket is unpaid). The enrollment screen
        offers the channels itself (:meth:`send_receipt` works there too)."""
        if self.screen is Screen.RESULT and self._fire("receipt"):
            return
        if self.screen is Screen.ENROLL_DONE or self.mode is Mode.ENROLL:
            self.mode = Mode.PAY
            self.outcome = None
        self._fire("done")

    def send_receipt(self, kind: ChannelKind, address: str = "") -> None:
        """The shopper chose how to get the receipt with their privacy code. The screen
        stays (it says where the receipt went); Done leaves."""
        channel = self.channels.get(kind)
        o = self.outcome
        if channel is None or o is None:
            return
        if self.screen not in (Screen.RECEIPT, Screen.ENROLL_DONE):
            return
        receipt = PrivacyReceipt.of(
            o,
            sale_id=self.sale.sale_id if o.receipt is not None else "",
            # The shopper's language, in which the screen spoke to them.
            language=Language(self.language) if self.language in _LANGUAGES else Language.EN,
            privacy_url=self.store.privacy_url,
        )
        try:
            channel.send(receipt, address)
        except (ValueError, OSError) as exc:
            logger.warning("receipt channel %s failed: %s", kind.value, type(exc).__name__)
            self._emit(Notice("receipt.failed"))
            return
        # Staff may reprint the sale, never the privacy code.
        self.last_receipt = replace(receipt, privacy_code="")
        self._emit(Notice("receipt.sent", {"channel": kind.value}))

    def back(self) -> None:
        if self.screen is Screen.ENROLL_PIN and self._pin_first is not None:
            # Back from "Enter your PIN again" is the first entry, to choose another PIN.
            self._pin_first = None
            self._emit(Notice(""))
            self._emit(PinPrompt(confirm=False))
            return
        to = BACK.get(self.screen)
        if self.screen in _FACE and self.mode is Mode.ENROLL:
            to = Screen.ENROLL_PIN
        if self.screen is Screen.RESULT and self.enrolling():
            # A failed enrollment: back into it (as Try again), never to a payment choice
            # that may have no basket behind it.
            to = Screen.ENROLL_PIN
        if self.screen in (*_FACE, Screen.STEP_UP):
            self._drop_attempt()
        if self.screen is Screen.CONFIRM_CANCEL:
            self.keep_shopping()
        elif self.screen in (Screen.STAFF_SIGN_IN, Screen.ATTENDANT):
            self.staff_sign_out()
        elif self.screen is Screen.CONSENT:
            self.consent_declined()
        elif self.screen is Screen.ENROLL_DONE:
            self.done()
        elif to is Screen.IDLE and self.sale_unpaid():
            self.cancel()
        elif to is not None:
            self._fire("back", target=to)

    def cancel(self) -> None:
        """Cancel: asks first when it would drop an unpaid basket."""
        if self.can("cancel"):
            self._remember()
            self._fire("cancel")

    def confirm_cancel(self) -> None:
        if self.screen is Screen.CONFIRM_CANCEL:
            self._abandon()
            self._fire("cancel_confirmed")

    def keep_shopping(self) -> None:
        self._fire("keep_shopping")

    def timeout(self) -> None:
        """No touch, key or face for the screen's time: never drops an unpaid basket
        silently; staff are alerted."""
        if self.screen is Screen.PROCESSING:
            return
        self._abandon()
        self._fire("timeout")

    def _abandon(self) -> None:
        if self.sale_unpaid() and self.sale.sale_id not in self.unsettled_sales:
            self.queue.raise_request(
                RequestKind.ABANDONED_BASKET,
                sale_id=self.sale.sale_id,
                amount_text=self.sale.amount_text,
                item_count=self.sale.item_count,
            )
            self._emit(QueueChanged(self.queue.open))

    def _reset(self) -> None:
        self._drop_attempt()
        self.mode = Mode.PAY
        self.claim = None
        self.enroll_claim = None
        self.card_token = ""
        self.outcome = None
        self.return_to = Screen.IDLE
        if self.signed_in:
            self.audit.record(self.signed_in, StaffAction.SIGN_OUT)
            self.signed_in = ""
            self._emit(StaffChanged(""))
        if not self.sale.is_empty or self.sale.sale_id in self.paid_sales:
            self.effects.end_sale()
        self.sale = Sale(sale_id="", currency=self.store.currency)
        self._emit(SaleChanged(self.sale))
        if self.language != self.default_language:
            self.set_language(self.default_language)

    # ------------------------------------------------------------------ language
    def set_language(self, language: str) -> None:
        self.language = language
        self._emit(LanguageChanged(language))

    # ------------------------------------------------------------------ enrollment
    def join(self) -> None:
        self._remember()
        self.mode = Mode.ENROLL
        if not self._fire("join"):
            self.mode = Mode.PAY

    def consent_given(self) -> None:
        self._fire("consent_given")

    def consent_declined(self) -> None:
        # Nothing was sent or kept: consent comes before any call to the flow or camera.
        self.mode = Mode.PAY
        self.enroll_claim = None
        if self._fire("consent_declined"):
            self._emit(Notice("enroll.declined"))

    def enroll_phone(self, digits: str) -> None:
        try:
            self.enroll_claim = phone_claim(digits, self.country_code)
        except InvalidClaimError:
            self._emit(Notice("claim.invalid"))
            return
        self._fire("enroll_phone")

    def card_linked(self, card_token: str) -> None:
        """The card reader tokenised the shopper's card (a token, never a number)."""
        if self.screen is Screen.ENROLL_CARD:
            self.card_token = card_token
            self._emit(Notice("enroll.card_read"))

    def card_confirmed(self) -> None:
        """Continue on the card screen (a card is linked): on to the PIN."""
        self.mode = Mode.ENROLL
        self._fire("card_confirmed")

    def enter_pin(self, digits: str) -> None:
        """The PIN screen's keypad: the PIN, then the same PIN again. A PIN facepay refuses
        (not 4 digits, or one tried first: 0000, 1234, 1212 ...) is refused at once, by
        facepay's own rule, before it is ever asked for again."""
        if self.screen is not Screen.ENROLL_PIN:
            return
        first = self._pin_first
        if first is None:
            try:
                Till.check_pin(digits)
            except WeakPinError:
                self._emit(Notice("enroll.pin_trivial"))
                self._emit(PinPrompt(confirm=False))
                return
            self._pin_first = digits
            self._emit(Notice(""))
            self._emit(PinPrompt(confirm=True))
            return
        self._pin_first = None
        if digits != first:
            self._emit(Notice("enroll.pin_mismatch"))
            self._emit(PinPrompt(confirm=False))
            return
        if self._fire("pin_decided"):
            self._begin_attempt(None, pin=digits)

    def skip_pin(self) -> None:
        """No PIN: a later payment whose face is only a near match is refused (the screen
        says so next to the button)."""
        if self.screen is Screen.ENROLL_PIN and self._fire("pin_decided"):
            self._begin_attempt(None)

    # ------------------------------------------------------------------ staff
    def call_attendant(self) -> None:
        """The shopper's call-attendant button (any screen)."""
        self.queue.raise_request(
            RequestKind.CALLED, sale_id=self.sale.sale_id, amount_text=self.sale.amount_text
        )
        self._emit(QueueChanged(self.queue.open))
        self._emit(Notice("attendant.called"))

    def staff_requested(self) -> None:
        if self.can("staff"):
            self._remember()
            self._fire("staff")

    def staff_sign_in(self, staff_id: str, pin: str) -> None:
        if self.screen is not Screen.STAFF_SIGN_IN:
            return
        try:
            self.signed_in = self.staff.sign_in(staff_id, pin)
        except LoginRefusedError as exc:
            # The id is recorded (it is the staff member's, or a guess); never the PIN.
            self.audit.record(one_line(staff_id, 32), StaffAction.SIGN_IN_REFUSED)
            key = "attendant.locked" if exc.locked else "attendant.pin_wrong"
            self._emit(Notice(key, {"seconds": round(exc.wait_s)}))
            return
        self.audit.record(self.signed_in, StaffAction.SIGN_IN)
        self._emit(StaffChanged(self.signed_in))
        self._fire("staff_in")

    def staff_sign_out(self) -> None:
        if self.signed_in:
            self.audit.record(self.signed_in, StaffAction.SIGN_OUT)
            self.signed_in = ""
            self._emit(StaffChanged(""))
        self._fire("staff_out")

    def _staff_action(self, action: StaffAction, *, sale_id: str = "", subject: str = "") -> bool:
        if not self.signed_in or self.screen is not Screen.ATTENDANT:
            return False
        self.audit.record(self.signed_in, action, sale_id=sale_id, subject=subject)
        return True

    def unlock_lane(self) -> None:
        """Staff resume face pay here. If the backend still refuses the lane, the next
        attempt pauses it again: the backend's lockout is the truth."""
        if not self._staff_action(StaffAction.UNLOCK_LANE):
            return
        self.lane_paused_until = None
        self.queue.resolve_kind(RequestKind.LANE_PAUSED)
        self._emit(LaneChanged(False))
        self._emit(QueueChanged(self.queue.open))

    def void_line(self, sku: str) -> None:
        sid = self.sale.sale_id
        if not self._staff_action(StaffAction.VOID_LINE, sale_id=sid, subject=sku):
            return
        self.effects.void_line(sid, sku)

    def approve_age(self) -> None:
        sid = self.sale.sale_id
        if not self._staff_action(StaffAction.APPROVE_AGE, sale_id=sid):
            return
        self.sale = replace(self.sale, age_approved=True)
        self.queue.resolve_kind(RequestKind.AGE_CHECK, sid)
        self._emit(SaleChanged(self.sale))
        self._emit(QueueChanged(self.queue.open))

    def dismiss(self, request_id: int) -> None:
        req = next((r for r in self.queue.open if r.request_id == request_id), None)
        if req is None or req.kind in (RequestKind.AGE_CHECK, RequestKind.PAYMENT_UNKNOWN):
            return  # those are resolved by approving, or by settling the payment
        if not self._staff_action(
            StaffAction.DISMISS_ALERT, sale_id=req.sale_id, subject=req.kind.value
        ):
            return
        self.queue.resolve(request_id)
        self._emit(QueueChanged(self.queue.open))

    def reprint(self) -> None:
        """Reprint the last sale's receipt (never the shopper's privacy code)."""
        channel = self.channels.get(ChannelKind.PRINTED)
        last = self.last_receipt
        if channel is None or last is None:
            return
        if self._staff_action(StaffAction.REPRINT, sale_id=last.sale_id):
            channel.send(last)

    def restore(self, found: Iterable[tuple[str, str, Outcome]]) -> None:
        """At start, what the till's journal held from before a crash or restart, as
        ``(sale id, amount text, outcome)`` (:meth:`CheckoutPort.recover`): a charged sale
        is settled as paid (the POS is told, no card is ever offered for it), a sale not
        charged is settled, and a sale whose payment is still unknown waits in the
        attendant queue (PAYMENT_UNKNOWN) until staff "Check payment" settles it."""
        for sale_id, amount_text, outcome in found:
            if outcome.charged:
                self.paid_sales.add(sale_id)
                self.unsettled_sales.discard(sale_id)
                self.queue.resolve_kind(RequestKind.PAYMENT_UNKNOWN, sale_id)
                self.effects.sale_completed(sale_id, outcome)
            elif outcome.kind is OutcomeKind.PAYMENT_UNKNOWN and sale_id not in self.paid_sales:
                self.unsettled_sales.add(sale_id)
                self.queue.raise_request(
                    RequestKind.PAYMENT_UNKNOWN, sale_id=sale_id, amount_text=amount_text
                )
            logger.info("journalled payment found at start: %s", outcome.kind.value)
        self._emit(QueueChanged(self.queue.open))

    def settle_payment(self, sale_id: str) -> None:
        """Staff ask the backend what became of a payment whose answer was lost."""
        if not self._staff_action(StaffAction.SETTLE_PAYMENT, sale_id=sale_id):
            return

        sale = self.sale if self.sale.sale_id == sale_id else None

        def job(p: CheckoutPort) -> Outcome:
            return reconcile_outcome(lambda: p.reconcile(sale_id), sale)

        def settled(outcome: Outcome) -> None:
            if outcome.kind is OutcomeKind.PAYMENT_UNKNOWN:
                self._emit(Notice("attendant.still_unknown"))
                return
            if outcome.charged:
                self.paid_sales.add(sale_id)
                self.unsettled_sales.discard(sale_id)
                self.queue.resolve_kind(RequestKind.PAYMENT_UNKNOWN, sale_id)
                self.effects.sale_completed(sale_id, outcome)
                self._emit(QueueChanged(self.queue.open))
            else:
                self._settled_not_charged(sale_id)
                self._emit(Notice("attendant.not_charged"))
            # The shopper waiting at "Payment not confirmed yet" sees the answer when the
            # staff member signs out.
            o = self.outcome
            if sale is not None and o is not None and o.kind is OutcomeKind.PAYMENT_UNKNOWN:
                self.outcome = outcome
                self._emit(OutcomeShown(outcome))

        self.effects.run(job, settled)

    def change_settings(self, changes: Mapping[str, float]) -> dict[str, float]:
        """Staff settings, clamped into :data:`~kiosk_app.model.SETTING_BOUNDS`."""
        if not self.signed_in or self.screen is not Screen.ATTENDANT:
            return {}
        safe = clamp_settings(changes)
        for name in sorted(safe):
            self.audit.record(self.signed_in, StaffAction.CHANGE_SETTING, subject=name)
        if safe:
            self.effects.configure(safe)
        return safe

    # ------------------------------------------------------------------ backend
    def refresh(self) -> None:
        def job(p: CheckoutPort) -> tuple[StoreProfile, BackendHealth]:
            return p.store_profile(), p.health()

        self.effects.run(job, self._refreshed)

    def _refreshed(self, answer: tuple[StoreProfile, BackendHealth]) -> None:
        self.store, self.backend = answer


def _ignore(_: object) -> None:
    return None


def _check_table(machine: type[KioskMachine]) -> None:
    for tr in machine.TRANSITIONS:
        if tr.guard and not callable(getattr(machine, tr.guard, None)):
            raise TypeError(f"transition {tr.event}: no guard named {tr.guard!r}")
        if not tr.sources:
            raise TypeError(f"transition {tr.event}: no source screen")
    for screen in Screen:
        if screen is not Screen.IDLE and screen not in BACK and screen is not Screen.PROCESSING:
            raise TypeError(f"screen {screen.value}: no Back defined")


_check_table(KioskMachine)

"""The headless checkout flow: a declarative state machine with per-state timeouts.

A face payment at a till, as the shopper lives it (``CheckoutSession.TRANSITIONS`` is
this list, and the code)::

    idle        --begin-------------> claim       (no claim yet, and the store needs one)
    idle        --begin-------------> capturing   (claim given with the basket, or claimless)
    claim       --claim_given-------> capturing   (phone number typed, loyalty card scanned)
    capturing   --face_found--------> liveness    [guard face_is_usable: the quality gate passed]
    liveness    --liveness_passed---> processing  [guard verdict_is_live] template fused, sealed
    liveness    --liveness_failed---> failed      (reason LIVENESS_FAILED, or FRAMES_ENDED)
    processing  --approved | declined ----------> approved | declined
    processing  --step_up_asked-----> step_up     (a near tie: last 4 digits of the phone)
    step_up     --step_up_answered--> processing  [guard step_up_is_phone_digits]
    any waiting state --cancel--> cancelled, --time_out--> timed_out, --fail--> failed

Every end without a backend decision carries a :class:`FailureReason` (an enum, never a
string to split); a liveness failure also carries the liveness stage's own
``LivenessReason`` values as a typed tuple (``liveness_reasons``).

The same machine, with ``enrolled`` as its happy end, enrolls a consenting shopper.

The flow composes the stages and nothing else: a frame source (``facepay.capture``), the
frame analyzer (quality gate) and embedder (``facepay.vision``), a liveness session whose
challenge plan comes from the backend session's seed (``facepay.liveness``),
``seal_template`` bound to that session (``facepay.crypto``), and the payment client
(``facepay.client``). It never imports Qt: a UI subscribes to plain-data events
(:class:`StateChanged`, :class:`QualityPrompt`, :class:`LivenessProgressed`,
:class:`CheckoutFinished`) and drives the flow with :meth:`CheckoutSession.feed` from its
camera worker thread.

Privacy rules the flow enforces:

* only a LIVE verdict lets a template be made (guard ``verdict_is_live``);
* the template is fused from the best few quality-ranked frames seen during the live
  session, sealed at once, and every frame and the clear template are dropped right then,
  and on cancel, timeout and failure (:attr:`CheckoutSession.holds_biometric_data`);
* exactly-once payment: one idempotency key per checkout attempt, kept with the exact
  sealed request until an answer arrives, reused by every retry and by
  :meth:`CheckoutSession.reconcile`.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

import httpx

from facepay import wire
from facepay.client import FacePayClient, new_idempotency_key
from facepay.config import CheckoutConfig, ClientConfig
from facepay.crypto import (
    BackendPublicKey,
    DeviceKey,
    ReceiptPublicKey,
    SealingSuite,
    seal_template,
    sign_request,
    verify_receipt,
)
from facepay.errors import (
    BackendError,
    CaptureError,
    CheckoutError,
    CheckoutFailedError,
    InvalidImageError,
    ServerError,
    SessionExpiredError,
    TransportError,
)
from facepay.types import (
    FaceObservation,
    FaceTemplate,
    Frame,
    LivenessVerdict,
    QualityReason,
    QualityReport,
    SealedTemplate,
)

if TYPE_CHECKING:
    # facepay.liveness pulls in OpenCV: imported when a session starts, not with the flow.
    from facepay.liveness import LivenessReason

__all__ = [
    "Basket",
    "BasketLine",
    "CheckoutEvent",
    "CheckoutFinished",
    "CheckoutSession",
    "CheckoutState",
    "DeviceSigner",
    "EnrollmentResult",
    "EnrollmentSession",
    "FailureReason",
    "FlowParts",
    "FrameFeedback",
    "LivenessProgressed",
    "NotEnrolledError",
    "PaymentLedger",
    "PaymentNotTakenError",
    "PaymentStatus",
    "PaymentUnansweredError",
    "PendingAuthorization",
    "QualityPrompt",
    "Receipt",
    "StateChanged",
    "Till",
    "Transition",
    "consent_now",
    "fixed_liveness_plan",
    "format_money",
    "seeded_liveness",
]

logger = logging.getLogger(__name__)


# =========================================================================== plain data


@dataclass(frozen=True, slots=True, kw_only=True)
class BasketLine:
    """One line of a basket: ``quantity`` x ``unit_price_minor`` (minor units, e.g. cents)."""

    sku: str
    description: str
    quantity: int
    unit_price_minor: int

    def __post_init__(self) -> None:
        if isinstance(self.quantity, bool) or not isinstance(self.quantity, int):
            raise CheckoutError(f"basket line {self.sku!r}: quantity must be an integer")
        if self.quantity <= 0:
            raise CheckoutError(f"basket line {self.sku!r}: quantity must be positive")
        if isinstance(self.unit_price_minor, bool) or not isinstance(self.unit_price_minor, int):
            # Floats are refused: 0.1 + 0.2 is not money.
            raise CheckoutError(f"basket line {self.sku!r}: unit price must be integer minor units")
        if self.unit_price_minor < 0:
            raise CheckoutError(f"basket line {self.sku!r}: unit price must not be negative")

    @property
    def total_minor(self) -> int:
        return self.quantity * self.unit_price_minor


_REFERENCE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/#-]{0,63}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Basket:
    """What the POS asks the shopper to pay for.

    ``reference`` is the POS's own order id (it appears in the backend's ledger);
    ``currency`` an ISO 4217 code; amounts are integers in the currency's minor units.
    """

    reference: str
    currency: str
    lines: tuple[BasketLine, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "lines", tuple(self.lines))
        if not _REFERENCE_RE.match(self.reference):
            raise CheckoutError(
                "basket reference must be 1-64 characters A-Z a-z 0-9 . _ : / # - "
                "starting with a letter or digit"
            )
        if self.currency not in wire.CURRENCY_EXPONENTS:
            raise CheckoutError(f"{self.currency!r} is not an ISO 4217 currency in circulation")
        if not self.lines:
            raise CheckoutError("an empty basket cannot be paid")
        if self.total_minor <= 0:
            raise CheckoutError("a basket must total more than zero")

    @property
    def total_minor(self) -> int:
        return sum(line.total_minor for line in self.lines)

    @property
    def minor_digits(self) -> int:
        return wire.CURRENCY_EXPONENTS[self.currency]

    def format_amount(self, amount_minor: int | None = None) -> str:
        return format_money(
            self.total_minor if amount_minor is None else amount_minor, self.currency
        )


def format_money(amount_minor: int, currency: str) -> str:
    """``1999, "EUR"`` -> ``"EUR 19.99"``; ``500, "JPY"`` -> ``"JPY 500"``."""
    digits = wire.CURRENCY_EXPONENTS.get(currency, 2)
    sign = "-" if amount_minor < 0 else ""
    value = abs(amount_minor)
    if not digits:
        return f"{sign}{currency} {value:,}"
    major, minor = divmod(value, 10**digits)
    return f"{sign}{currency} {major:,}.{minor:0{digits}d}"


class PaymentStatus(str, enum.Enum):
    APPROVED = "approved"
    DECLINED = "declined"
    STEP_UP = "step_up"


@dataclass(frozen=True, slots=True, kw_only=True)
class Receipt:
    """The backend's answer to a face payment, for the POS and the shopper.

    ``privacy_code`` is what the shopper uses to see or delete their data (the kiosk shows
    it as a QR code). ``authorization_id`` and ``idempotency_key`` are for reconciliation
    with the backend's ledger.
    """

    status: PaymentStatus
    amount_minor: int
    currency: str
    basket_reference: str
    authorization_id: str
    idempotency_key: str
    receipt_id: str | None = None
    masked_payment_method: str | None = None
    privacy_code: str | None = None
    decline_reason: str | None = None
    step_up: str | None = None

    @property
    def approved(self) -> bool:
        return self.status is PaymentStatus.APPROVED

    @property
    def amount(self) -> str:
        return format_money(self.amount_minor, self.currency)

    def lines(self) -> tuple[str, ...]:
        """The receipt as printable lines (no personal data beyond the masked card)."""
        out = [f"facepay {self.status.value.upper()}", f"Amount: {self.amount}"]
        out.append(f"Order: {self.basket_reference}")
        if self.approved:
            out.append(f"Paid with: {self.masked_payment_method}")
            out.append(f"Receipt: {self.receipt_id}")
            out.append(f"Your privacy code: {self.privacy_code}")
            out.append("Use it with your phone number to see or delete your data.")
        elif self.status is PaymentStatus.DECLINED:
            out.append(f"Declined: {self.decline_reason}")
        else:
            out.append(f"More needed: {self.step_up}")
        out.append(f"Authorization: {self.authorization_id}")
        return tuple(out)

    @classmethod
    def from_wire(cls, answer: wire.AuthorizationResponse, idempotency_key: str) -> Receipt:
        return cls(
            status=PaymentStatus(answer.status.value),
            amount_minor=answer.amount_minor,
            currency=answer.currency,
            basket_reference=answer.basket_reference,
            authorization_id=answer.authorization_id,
            idempotency_key=idempotency_key,
            receipt_id=answer.receipt_id,
            masked_payment_method=answer.masked_payment_method,
            privacy_code=answer.privacy_code,
            decline_reason=answer.decline_reason.value if answer.decline_reason else None,
            step_up=answer.step_up.kind.value if answer.step_up else None,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class EnrollmentResult:
    """A shopper is enrolled. Show them ``privacy_code`` (see/delete their data)."""

    shopper_id: str
    privacy_code: str
    masked_payment_method: str
    enrolled_at: datetime
    retention_days: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingAuthorization:
    """A request that can move money, sent without an answer coming back.

    The payment may or may not have been taken. Keep this and pass it to
    ``Till.reconcile`` (or call :meth:`CheckoutSession.reconcile`) before offering the
    shopper another way to pay: the same key and the same request replay the backend's
    first answer, or get one now. The template in it is sealed to the backend and bound to
    a single-use session: no one else can open it, and it cannot pay twice.
    """

    idempotency_key: str
    # An authorization ...
    request: wire.AuthorizeRequest | None = field(default=None, repr=False)
    # ... or the answer to its phone_last4 step-up.
    step_up_authorization_id: str | None = None
    step_up_phone_last4: str | None = field(default=None, repr=False)
    # The checkout attempt's key, when this is a step-up answer under its own key.
    attempt_key: str | None = None

    def __post_init__(self) -> None:
        if (self.request is None) == (self.step_up_authorization_id is None):
            raise CheckoutError("a pending authorization is a request or a step-up answer")

    @property
    def basket_reference(self) -> str | None:
        return self.request.basket_reference if self.request is not None else None

    @property
    def amount_minor(self) -> int | None:
        return self.request.amount_minor if self.request is not None else None

    def send(self, client: FacePayClient) -> wire.AuthorizationResponse:
        """Send (again) exactly what was sent, under the same key."""
        if self.request is not None:
            return client.reconcile(self.request, idempotency_key=self.idempotency_key)
        assert self.step_up_authorization_id is not None
        assert self.step_up_phone_last4 is not None
        return client.answer_step_up(
            self.step_up_authorization_id,
            self.step_up_phone_last4,
            idempotency_key=self.idempotency_key,
        )


# =========================================================================== events


class CheckoutState(str, enum.Enum):
    IDLE = "idle"
    CLAIM = "claim"
    CAPTURING = "capturing"
    LIVENESS = "liveness"
    PROCESSING = "processing"
    STEP_UP = "step_up"
    APPROVED = "approved"
    DECLINED = "declined"
    ENROLLED = "enrolled"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"

    @property
    def is_final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset(
    {
        CheckoutState.APPROVED,
        CheckoutState.DECLINED,
        CheckoutState.ENROLLED,
        CheckoutState.FAILED,
        CheckoutState.CANCELLED,
        CheckoutState.TIMED_OUT,
    }
)


class FailureReason(str, enum.Enum):
    """Why an attempt ended before the backend decided: nothing was charged.

    A backend decision (a decline, a step-up) is not a failure: the :class:`Receipt` says
    why. When the reason is ``LIVENESS_FAILED`` the liveness stage's own reasons travel
    beside it as a typed tuple (``liveness_reasons``), so no one parses a string.
    """

    CANCELLED = "cancelled"  # cancel() by the POS, the UI or the shopper
    ABANDONED = "abandoned"  # Till.pay/enroll returned while the flow still waited
    # A state ran out of time (CheckoutConfig.<state>_timeout_s); the value names the state.
    CLAIM_TIMEOUT = "claim_timeout"
    CAPTURING_TIMEOUT = "capturing_timeout"
    LIVENESS_TIMEOUT = "liveness_timeout"
    PROCESSING_TIMEOUT = "processing_timeout"
    STEP_UP_TIMEOUT = "step_up_timeout"
    # The liveness verdict was not live (liveness_reasons says which signals refused).
    LIVENESS_FAILED = "liveness_failed"
    # The frames ran out (a clip or image folder ended, the caller stopped iterating)
    # before the face part was done: nothing failed, the check was incomplete.
    FRAMES_ENDED = "frames_ended"
    # The frame source raised a CaptureError: the camera itself failed.
    CAMERA_LOST = "camera_lost"
    # Liveness passed but no frame passed the quality gate to make a template from.
    NO_GOOD_FRAME = "no_good_frame"
    # Embedding, fusing or sealing the template failed (a model or key problem).
    TEMPLATE_FAILED = "template_failed"
    # The backend refused the request (4xx): nothing was stored.
    SESSION_EXPIRED = "session_expired"
    REQUEST_REJECTED = "request_rejected"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def timeout_of(cls, state: CheckoutState) -> FailureReason:
        return cls(f"{state.value}_timeout")


@dataclass(frozen=True, slots=True, kw_only=True)
class StateChanged:
    """The flow moved. ``reason`` is set when it ended without a backend decision."""

    previous: CheckoutState
    state: CheckoutState
    event: str
    reason: FailureReason | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class QualityPrompt:
    """The frame was not good enough: the UI turns ``reasons`` into prompts."""

    reasons: tuple[QualityReason, ...]
    frame_index: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LivenessProgressed:
    challenge: str | None
    challenge_index: int
    challenge_count: int
    seconds_left: float
    progress: float
    frame_index: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckoutFinished:
    """The attempt is over: a ``receipt`` or an ``enrollment``, or a failure ``reason``."""

    state: CheckoutState
    receipt: Receipt | None = None
    enrollment: EnrollmentResult | None = None
    reason: FailureReason | None = None
    liveness_reasons: tuple[LivenessReason, ...] = ()


CheckoutEvent = StateChanged | QualityPrompt | LivenessProgressed | CheckoutFinished


class _NothingTakenError(CheckoutFailedError):
    """The flow ended at ``state`` for ``reason`` before the backend decided."""

    state: CheckoutState
    reason: FailureReason

    def __init__(
        self,
        message: str,
        *,
        state: CheckoutState,
        reason: FailureReason,
        liveness_reasons: tuple[LivenessReason, ...] = (),
    ) -> None:
        super().__init__(message, state=state, reason=reason)
        self.liveness_reasons = liveness_reasons


class PaymentNotTakenError(_NothingTakenError):
    """The payment attempt ended before the backend decided: nothing was charged.

    ``reason`` (a :class:`FailureReason`) says why; ``liveness_reasons`` which liveness
    signals refused when ``reason`` is ``LIVENESS_FAILED``. Offer another way to pay.
    """


class NotEnrolledError(_NothingTakenError):
    """The enrollment ended before the backend stored anything: the shopper is not enrolled."""


_E = TypeVar("_E", bound=_NothingTakenError)


class PaymentUnansweredError(TransportError):
    """A request that can move money was sent and no usable answer came back.

    The payment may or may not have been taken: pass ``pending`` to ``Till.reconcile``
    (or call ``CheckoutSession.reconcile``) before offering any other way to pay. Raised
    for a lost connection, a timeout and a 5xx alike; ``__cause__`` is the error seen.
    """

    def __init__(self, message: str, *, pending: PendingAuthorization, cause: BackendError) -> None:
        super().__init__(message, status=cause.status, code=cause.code, request_id=cause.request_id)
        self.pending = pending


@dataclass(frozen=True, slots=True, kw_only=True)
class FrameFeedback:
    """What one fed frame did, for drawing the next screen.

    ``face_box`` is ``(x, y, w, h)`` as fractions of the frame; ``reasons`` are quality
    reason codes (empty when the frame passed).
    """

    state: CheckoutState
    frame_index: int
    reasons: tuple[QualityReason, ...] = ()
    face_box: tuple[float, float, float, float] | None = None
    challenge: str | None = None
    challenge_index: int = 0
    challenge_count: int = 0
    seconds_left: float = 0.0
    progress: float = 0.0


# =========================================================================== seams


class FrameAnalyzer(Protocol):
    """``facepay.vision.FrameAnalyzer``: face detection and the quality gate in one call."""

    def analyze(self, frame: Frame) -> QualityReport: ...


class Embedder(Protocol):
    """``facepay.vision`` embedders (``DlibResNetEmbedder``, ``OnnxEmbedder``)."""

    @property
    def model_id(self) -> str: ...

    def embed(self, frame: Frame, face: FaceObservation) -> FaceTemplate: ...


class LivenessCheck(Protocol):
    """``facepay.liveness.LivenessSession``: fed every frame, then asked for a verdict."""

    def feed(
        self, frame: Frame, face: FaceObservation | Sequence[FaceObservation] | None
    ) -> Any: ...

    def verdict(self) -> LivenessVerdict: ...


# Builds a liveness session from the backend session's 32-byte seed and the camera's name.
LivenessFactory = Callable[[bytes, str | None], LivenessCheck]
# Fuses several templates of one face into one (``facepay.vision.fuse_templates``).
TemplateFuser = Callable[[Sequence[FaceTemplate]], FaceTemplate]
# Seals a template to the backend key named by the session, bound to the session.
TemplateSealer = Callable[[FaceTemplate, wire.CheckoutSessionInfo], SealedTemplate]


@dataclass(frozen=True, slots=True)
class FlowParts:
    """Everything a session composes, built once per till (models load once)."""

    client: FacePayClient
    analyzer: FrameAnalyzer
    embedder: Embedder
    fuse: TemplateFuser
    liveness: LivenessFactory
    seal: TemplateSealer
    config: CheckoutConfig = field(default_factory=CheckoutConfig)
    clock: Callable[[], float] = time.monotonic


# =========================================================================== the machine


@dataclass(frozen=True, slots=True)
class Transition:
    """``event`` moves the flow from any of ``sources`` to ``target`` if ``guard`` holds.

    ``guard`` names a predicate method of the flow (python-statemachine style), so the
    table reads like the spec and a typo fails when the class is defined.
    """

    event: str
    sources: frozenset[CheckoutState]
    target: CheckoutState
    guard: str | None = None


def _t(
    event: str,
    sources: CheckoutState | Iterable[CheckoutState],
    target: CheckoutState,
    guard: str | None = None,
) -> Transition:
    src = frozenset([sources]) if isinstance(sources, CheckoutState) else frozenset(sources)
    return Transition(event, src, target, guard)


S = CheckoutState
_WAITING = frozenset({S.CLAIM, S.CAPTURING, S.LIVENESS, S.PROCESSING, S.STEP_UP})


class _FaceFlow:
    """The machinery shared by payment and enrollment: table, guards, timeouts, frames."""

    # Subclasses declare these; __init_subclass__ checks them when the class is defined.
    TRANSITIONS: ClassVar[tuple[Transition, ...]]
    # State -> name of the CheckoutConfig field holding its timeout in seconds.
    TIMEOUTS: ClassVar[Mapping[CheckoutState, str]] = {
        S.CLAIM: "claim_timeout_s",
        S.CAPTURING: "capture_timeout_s",
        S.LIVENESS: "liveness_timeout_s",
        S.PROCESSING: "processing_timeout_s",
        S.STEP_UP: "step_up_timeout_s",
    }

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table = getattr(cls, "TRANSITIONS", None)
        if not table:
            raise TypeError(f"{cls.__name__} declares no TRANSITIONS")
        reachable = {S.IDLE}
        for tr in table:
            if tr.guard is not None and not callable(getattr(cls, tr.guard, None)):
                raise TypeError(f"{cls.__name__}: guard {tr.guard!r} is not a method")
            if tr.sources & _FINAL:
                raise TypeError(f"{cls.__name__}: {tr.event!r} leaves a final state")
            reachable.add(tr.target)
        for state in cls.TIMEOUTS:
            if state in _FINAL:
                raise TypeError(f"{cls.__name__}: final state {state.value} has a timeout")
            if not hasattr(CheckoutConfig, cls.TIMEOUTS[state]):
                raise TypeError(f"{cls.__name__}: no CheckoutConfig.{cls.TIMEOUTS[state]}")
        # Every state the flow can wait in must end on its own: a shopper who walks away
        # must never leave frames in memory.
        for state in reachable - _FINAL - {S.IDLE}:
            exits = {tr.event for tr in table if state in tr.sources}
            if state not in cls.TIMEOUTS or not {"time_out", "cancel"} <= exits:
                raise TypeError(f"{cls.__name__}: {state.value} cannot time out and be cancelled")

    def __init__(
        self,
        parts: FlowParts,
        *,
        camera_name: str | None = None,
        on_event: Callable[[CheckoutEvent], None] | None = None,
    ) -> None:
        self._parts = parts
        self._config = parts.config
        self._clock = parts.clock
        self._on_event = on_event
        self._lock = threading.RLock()
        self._state = S.IDLE
        self._entered_at = self._clock()
        self._reason: FailureReason | None = None
        self._liveness_reasons: tuple[LivenessReason, ...] = ()
        self._session: wire.CheckoutSessionInfo | None = None
        self._liveness: LivenessCheck | None = None
        self._verdict: LivenessVerdict | None = None
        self._last_report: QualityReport | None = None
        # Best-first candidates for fusion: a bounded min-heap of (utility, tiebreak, frame, face).
        self._candidates: list[tuple[float, int, Frame, FaceObservation]] = []
        self._tiebreak = itertools.count()
        self._sealed: SealedTemplate | None = None
        self._liveness_seed = b""
        # The camera's name (``FrameSource.device_name``): liveness refuses known virtual
        # cameras (injection). A caller that feeds frames itself passes it; ``run()``
        # fills it in from its source when it was not given.
        self.camera_name = camera_name

    # ---------------------------------------------------------------- state and events

    @property
    def state(self) -> CheckoutState:
        return self._state

    @property
    def reason(self) -> FailureReason | None:
        """Why the flow ended without a backend decision (None while it has not)."""
        return self._reason

    @property
    def liveness_reasons(self) -> tuple[LivenessReason, ...]:
        """The liveness signals that refused, when :attr:`reason` is ``LIVENESS_FAILED``."""
        return self._liveness_reasons

    @property
    def holds_biometric_data(self) -> bool:
        """True while a frame, a face or a clear template of the shopper is in memory."""
        return bool(self._candidates) or self._liveness is not None or self._last_report is not None

    @property
    def seconds_left(self) -> float | None:
        """Seconds before the current state times out (``None`` when it cannot)."""
        name = self.TIMEOUTS.get(self._state)
        if name is None:
            return None
        limit = float(getattr(self._config, name))
        return max(0.0, limit - (self._clock() - self._entered_at))

    def can(self, event: str) -> bool:
        """Would ``event`` be allowed now (guards included)?"""
        return self._choose(event) is not None

    def _emit(self, event: CheckoutEvent) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:  # a UI bug must not break a payment in flight
            logger.exception("checkout event handler failed on %s", type(event).__name__)

    def _choose(self, event: str) -> Transition | None:
        for tr in self.TRANSITIONS:
            if (
                tr.event == event
                and self._state in tr.sources
                and (tr.guard is None or getattr(self, tr.guard)())
            ):
                return tr
        return None

    def _fire(
        self, event: str, reason: FailureReason | None = None, detail: str = ""
    ) -> CheckoutState:
        tr = self._choose(event)
        if tr is None:
            known = any(t.event == event and self._state in t.sources for t in self.TRANSITIONS)
            why = "its guard does not hold" if known else "not allowed"
            raise CheckoutError(f"cannot {event!r} while {self._state.value}: {why}")
        previous, self._state = self._state, tr.target
        self._entered_at = self._clock()
        self._reason = reason
        logger.info(
            "checkout %s -> %s (%s%s%s)",
            previous.value,
            tr.target.value,
            event,
            f": {reason.value}" if reason else "",
            f" {detail}" if detail else "",
        )
        if tr.target in _FINAL or tr.target is S.PROCESSING:
            self._drop_biometrics()
        self._emit(StateChanged(previous=previous, state=tr.target, event=event, reason=reason))
        return tr.target

    def _drop_biometrics(self) -> None:
        self._candidates.clear()
        self._liveness = None
        self._last_report = None

    def check_timeout(self) -> bool:
        """End the current state if it has run out of time. Call it from a UI timer too:
        a shopper who walks away stops feeding frames."""
        with self._lock:
            left = self.seconds_left
            if left is not None and left <= 0.0:
                self._fire("time_out", reason=FailureReason.timeout_of(self._state))
                self._finish()
                return True
            return False

    def cancel(self, reason: FailureReason = FailureReason.CANCELLED) -> None:
        """Abandon the attempt and drop every frame and template. Idempotent."""
        with self._lock:
            if self._state.is_final:
                return
            self._fire("cancel", reason=reason)
            self._finish()

    def _fail(self, reason: FailureReason, detail: str = "") -> None:
        self._fire("fail", reason=reason, detail=detail)
        self._finish()

    def _finish(self) -> None:
        self._emit(
            CheckoutFinished(
                state=self._state, reason=self._reason, liveness_reasons=self._liveness_reasons
            )
        )

    def _nothing_taken(self, error: type[_E], message: str) -> _E:
        """The error that says this attempt ended before the backend decided, and why."""
        # No reason only if the backend decided, and then nothing raises this.
        reason = self._reason or FailureReason.CANCELLED
        return error(
            f"{message}: {reason.value}",
            state=self._state,
            reason=reason,
            liveness_reasons=self._liveness_reasons,
        )

    def _require(self, *states: CheckoutState) -> None:
        if self._state not in states:
            wanted = " or ".join(s.value for s in states)
            raise CheckoutError(f"the flow is {self._state.value}, not {wanted}")

    # ---------------------------------------------------------------- guards

    def face_is_usable(self) -> bool:
        return self._last_report is not None and self._last_report.passed

    def verdict_is_live(self) -> bool:
        return self._verdict is not None and self._verdict.is_live

    def has_fusable_frames(self) -> bool:
        return bool(self._candidates)

    # ---------------------------------------------------------------- frames

    def _open_backend_session(self, purpose: wire.SessionPurpose) -> None:
        # A video-mode analyzer tracks faces across frames: a new shopper starts afresh
        # (and a replayed clip's timestamps start again at 0).
        reset = getattr(self._parts.analyzer, "reset", None)
        if callable(reset):
            reset()
        self._session = self._parts.client.open_session(purpose)
        # The backend's seed decides the challenges, so a recording cannot know them.
        self._liveness_seed = wire.b64decode(self._session.liveness_seed)

    def _start_liveness(self) -> None:
        self._liveness = self._parts.liveness(self._liveness_seed, self.camera_name)

    def feed(self, frame: Frame) -> FrameFeedback:
        """Analyse one camera frame: quality, then liveness; seals once the shopper is live.

        Call it from the camera worker thread for every frame while the state is
        ``capturing`` or ``liveness``. Frames in any other state are ignored (the answer
        says which state the flow is in), so a camera thread need not stop at once.
        """
        with self._lock:
            if self.check_timeout() or self._state not in (S.CAPTURING, S.LIVENESS):
                return FrameFeedback(state=self._state, frame_index=frame.index)
            try:
                report = self._parts.analyzer.analyze(frame)
            except InvalidImageError as exc:
                # One corrupt frame from a flaky camera is skipped, not fatal: the state's
                # timeout ends a camera that sends nothing usable.
                logger.debug("frame %d skipped: %s", frame.index, exc)
                return FrameFeedback(state=self._state, frame_index=frame.index)
            self._last_report = report
            if not report.passed:
                self._emit(QualityPrompt(reasons=report.reasons, frame_index=frame.index))
            if self._state is S.CAPTURING:
                if self.can("face_found"):
                    self._fire("face_found")
                    self._start_liveness()
                    self._keep_candidate(frame, report)
                return self._feedback(frame, report)
            # liveness: every frame goes to the liveness session, good or not (a blink
            # frame fails the eyes-open check and is exactly what liveness needs).
            assert self._liveness is not None
            self._keep_candidate(frame, report)
            # Two people in view is the gate's call (a far background face is not); when it
            # refuses, liveness sees every face, so it reports multiple_faces, not face_lost.
            seen: FaceObservation | Sequence[FaceObservation] | None = report.face
            if QualityReason.MULTIPLE_FACES in report.reasons:
                seen = report.faces
            progress = self._liveness.feed(frame, seen)
            plan = getattr(self._liveness, "plan", None)
            view = _liveness_view(progress, frame.index, len(plan) if plan is not None else 0)
            self._emit(view)
            feedback = self._feedback(frame, report, view)
            if _finished(progress):
                self._conclude_safely()
                return FrameFeedback(state=self._state, frame_index=frame.index)
            return feedback

    def _keep_candidate(self, frame: Frame, report: QualityReport) -> None:
        if not report.passed or report.face is None:
            return
        item = (report.score, next(self._tiebreak), frame, report.face)
        if len(self._candidates) < self._config.candidate_frames:
            heapq.heappush(self._candidates, item)
        elif item[0] > self._candidates[0][0]:
            heapq.heapreplace(self._candidates, item)

    def _feedback(
        self, frame: Frame, report: QualityReport, view: LivenessProgressed | None = None
    ) -> FrameFeedback:
        box = None
        face = report.face
        if face is not None and frame.width and frame.height:
            b = face.box
            box = (
                b.x / frame.width,
                b.y / frame.height,
                b.width / frame.width,
                b.height / frame.height,
            )
        return FrameFeedback(
            state=self._state,
            frame_index=frame.index,
            reasons=report.reasons,
            face_box=box,
            challenge=view.challenge if view else None,
            challenge_index=view.challenge_index if view else 0,
            challenge_count=view.challenge_count if view else 0,
            seconds_left=view.seconds_left if view else 0.0,
            progress=view.progress if view else 0.0,
        )

    def _conclude_safely(self, *, frames_ended: bool = False) -> None:
        try:
            self._conclude_liveness(frames_ended=frames_ended)
        except Exception as exc:
            # A model or key failure must not leave frames behind.
            if not self._state.is_final:
                self._fail(FailureReason.TEMPLATE_FAILED, type(exc).__name__)
            raise

    def _conclude_liveness(self, *, frames_ended: bool = False) -> None:
        assert self._liveness is not None
        self._verdict = self._liveness.verdict()
        if not self.can("liveness_passed"):
            from facepay.liveness import LivenessReason

            self._liveness_reasons = tuple(LivenessReason(r) for r in self._verdict.reasons)
            # A clip that ran out is an incomplete check, not a refusal by a liveness signal.
            ended = frames_ended and self._liveness_reasons == (LivenessReason.CAMERA_STOPPED,)
            reason = FailureReason.FRAMES_ENDED if ended else FailureReason.LIVENESS_FAILED
            self._fire(
                "liveness_failed",
                reason=reason,
                detail=",".join(r.value for r in self._liveness_reasons),
            )
            self._finish()
            return
        if not self.has_fusable_frames():
            self._fail(FailureReason.NO_GOOD_FRAME)
            return
        template = self._fused_template()
        session = self._session
        assert session is not None
        self._sealed = self._parts.seal(template, session)
        del template  # the clear template never outlives this call
        self._fire("liveness_passed")

    def _fused_template(self) -> FaceTemplate:
        best = heapq.nlargest(self._config.fused_frames, self._candidates)
        templates = [self._parts.embedder.embed(frame, face) for _, _, frame, face in best]
        return self._parts.fuse(templates) if len(templates) > 1 else templates[0]

    def _liveness_summary(self) -> wire.LivenessSummary:
        verdict = self._verdict
        assert verdict is not None
        evidence = {
            str(k)[:64]: (v if not isinstance(v, str) else v[:128])
            for k, v in list(verdict.evidence.items())[:32]
        }
        score = evidence.get("score")
        return wire.LivenessSummary(
            decision=verdict.decision.value,
            challenges=tuple(c[:64] for c in verdict.challenges[:8]),
            reasons=tuple(r[:64] for r in verdict.reasons[:16]),
            score=float(score) if isinstance(score, float) and 0.0 <= score <= 1.0 else None,
            evidence={
                k: v for k, v in evidence.items() if not isinstance(v, float) or math.isfinite(v)
            },
        )

    def run(self, source: Iterable[Frame] | Any) -> None:
        """Feed ``source`` (a ``FrameSource`` or any iterable of frames) until the face part
        is over: the flow then is ``processing`` (or a final state)."""
        device_name = getattr(source, "device_name", None)
        if self.camera_name is None and isinstance(device_name, str):
            self.camera_name = device_name
        frames: Iterable[Frame] = source.frames() if hasattr(source, "frames") else source
        try:
            for frame in frames:
                self.feed(frame)
                if self._state not in (S.CAPTURING, S.LIVENESS):
                    return
        except CaptureError as exc:
            with self._lock:
                if not self._state.is_final:
                    self._fail(FailureReason.CAMERA_LOST, type(exc).__name__)
            return
        finally:
            # Release the camera or file now, not when the generator is collected.
            close = getattr(frames, "close", None)
            if callable(close):
                close()
        with self._lock:
            if self._state is S.LIVENESS and self._liveness is not None:
                # The frames ended mid-liveness: the verdict says so (never LIVE).
                stop = getattr(self._liveness, "stop", None)
                if callable(stop):
                    stop()
                self._conclude_safely(frames_ended=True)
            elif self._state in (S.CAPTURING, S.LIVENESS):
                self._fail(FailureReason.FRAMES_ENDED)


def _refusal(exc: BackendError) -> FailureReason:
    """A 4xx from the backend: nothing was stored, nothing charged."""
    if isinstance(exc, SessionExpiredError):
        return FailureReason.SESSION_EXPIRED
    return FailureReason.REQUEST_REJECTED


def _finished(progress: Any) -> bool:
    return bool(getattr(progress, "finished", False))


def _liveness_view(progress: Any, frame_index: int, count: int) -> LivenessProgressed:
    """Read a liveness progress report into plain data for the UI."""
    challenge = getattr(progress, "challenge", None)
    name = getattr(challenge, "value", challenge)
    return LivenessProgressed(
        challenge=str(name) if name is not None else None,
        challenge_index=int(getattr(progress, "challenge_index", 0) or 0),
        challenge_count=count,
        seconds_left=float(getattr(progress, "seconds_left", 0.0) or 0.0),
        progress=float(getattr(progress, "progress", 0.0) or 0.0),
        frame_index=frame_index,
    )


# =========================================================================== payment


class _Ledger(Protocol):
    """Where a session writes what can move money (the till's :class:`PaymentLedger`)."""

    def hold(self, pending: PendingAuthorization, basket_reference: str) -> None:
        """``pending`` was sent and no answer came back: keep it until it is reconciled."""

    def settle(self, pending: PendingAuthorization, receipt: Receipt | None) -> None:
        """``pending`` has its answer (``None``: refused, nothing stored)."""


class CheckoutSession(_FaceFlow):
    """One face-payment attempt for one basket.

    Drive it with :meth:`begin`, then :meth:`give_claim` if asked, :meth:`feed` every
    camera frame (or :meth:`run` a frame source) until the state is ``processing``, then
    :meth:`complete`. A ``step_up`` answer is continued with :meth:`answer_step_up`.
    """

    TRANSITIONS = (
        _t("begin", S.IDLE, S.CLAIM, guard="claim_is_needed"),
        _t("begin", S.IDLE, S.CAPTURING),
        _t("claim_given", S.CLAIM, S.CAPTURING, guard="claim_is_present"),
        _t("face_found", S.CAPTURING, S.LIVENESS, guard="face_is_usable"),
        _t("liveness_passed", S.LIVENESS, S.PROCESSING, guard="verdict_is_live"),
        _t("liveness_failed", S.LIVENESS, S.FAILED),
        _t("approved", S.PROCESSING, S.APPROVED),
        _t("declined", S.PROCESSING, S.DECLINED),
        _t("step_up_asked", S.PROCESSING, S.STEP_UP),
        _t("step_up_answered", S.STEP_UP, S.PROCESSING, guard="step_up_is_phone_digits"),
        _t("fail", _WAITING, S.FAILED),
        _t("cancel", _WAITING | {S.IDLE}, S.CANCELLED),
        _t("time_out", _WAITING, S.TIMED_OUT),
    )

    def __init__(
        self,
        parts: FlowParts,
        basket: Basket,
        *,
        claim: wire.Claim | None = None,
        claimless_allowed: bool = False,
        camera_name: str | None = None,
        ledger: _Ledger | None = None,
        on_event: Callable[[CheckoutEvent], None] | None = None,
    ) -> None:
        super().__init__(parts, camera_name=camera_name, on_event=on_event)
        self.basket = basket
        self._ledger = ledger
        self._claim = claim
        self._claimless_allowed = claimless_allowed
        # One key per checkout attempt, for the attempt's whole life (retries, reconcile).
        self.idempotency_key = new_idempotency_key()
        self._answer: wire.AuthorizationResponse | None = None
        # What was sent and not yet answered (outcome unknown), for reconcile().
        self._pending: PendingAuthorization | None = None
        self._step_up_count = 0
        self.receipt: Receipt | None = None

    # guards
    def claim_is_needed(self) -> bool:
        return self._claim is None and not self._claimless_allowed

    def claim_is_present(self) -> bool:
        return self._claim is not None

    def step_up_is_phone_digits(self) -> bool:
        return (
            self._answer is not None
            and self._answer.step_up is not None
            and self._answer.step_up.kind is wire.StepUpKind.PHONE_LAST4
        )

    @property
    def pending(self) -> PendingAuthorization | None:
        """Set while a request that can move money was sent and no answer came back."""
        return self._pending

    def begin(self) -> CheckoutState:
        """Open the backend session (seed, expiry, sealing key) and start the flow."""
        with self._lock:
            self._require(S.IDLE)
            self._open_backend_session(wire.SessionPurpose.PAY)
            return self._fire("begin")

    def give_claim(self, claim: wire.Claim) -> CheckoutState:
        """The shopper said who they are (phone number, loyalty card)."""
        with self._lock:
            if self.check_timeout():
                return self._state
            self._require(S.CLAIM)
            self._claim = claim
            return self._fire("claim_given")

    def complete(self) -> Receipt:
        """Send the sealed template and wait for the decision (state ``processing``).

        On :class:`~facepay.errors.TransportError` (or a 5xx) the state stays
        ``processing`` and :attr:`pending` holds the exact request and its key for
        :meth:`reconcile`; nothing is lost and nothing can be charged twice.
        """
        with self._lock:
            if self._pending is not None:
                return self.reconcile()
            if self.check_timeout():
                raise self._nothing_taken(PaymentNotTakenError, "the checkout timed out")
            self._require(S.PROCESSING)
            self._pending = PendingAuthorization(
                idempotency_key=self.idempotency_key, request=self._build_request()
            )
            return self._send(self._pending)

    def reconcile(self) -> Receipt:
        """After a lost answer: send the same request under the same key again.

        The backend replays its first answer, or decides now if it never got the request:
        the shopper is charged at most once. Works after a timeout or a cancel too.
        """
        with self._lock:
            if self._pending is None:
                if self.receipt is not None:
                    return self.receipt
                raise CheckoutError("nothing was sent yet: there is nothing to reconcile")
            return self._send(self._pending)

    def answer_step_up(self, phone_last4: str) -> Receipt:
        """The shopper typed the last 4 digits of their phone (state ``step_up``)."""
        with self._lock:
            if self.check_timeout():
                raise self._nothing_taken(PaymentNotTakenError, "the step-up timed out")
            self._require(S.STEP_UP)
            assert self._answer is not None
            auth_id = self._answer.authorization_id
            self._fire("step_up_answered")
            self._step_up_count += 1
            # Its own key (docs/protocol.md), derived from the attempt's so that a retry or
            # a reconcile of this answer reuses it.
            self._pending = PendingAuthorization(
                idempotency_key=f"{self.idempotency_key}-s{self._step_up_count}",
                step_up_authorization_id=auth_id,
                step_up_phone_last4=phone_last4,
                attempt_key=self.idempotency_key,
            )
            return self._send(self._pending)

    def _build_request(self) -> wire.AuthorizeRequest:
        session, sealed = self._session, self._sealed
        if session is None or sealed is None:
            raise CheckoutError("no sealed template: liveness has not passed")
        request = wire.AuthorizeRequest(
            session_id=session.session_id,
            amount_minor=self.basket.total_minor,
            currency=self.basket.currency,
            basket_reference=self.basket.reference,
            sealed_template=wire.SealedTemplateWire.from_sealed(sealed),
            liveness=self._liveness_summary(),
            claim=self._claim,
        )
        self._sealed = None
        return request

    def _send(self, pending: PendingAuthorization) -> Receipt:
        try:
            answer = pending.send(self._parts.client)
        except (TransportError, ServerError) as exc:
            # Outcome unknown: keep ``pending`` (request and key) and stay where we are.
            logger.warning(
                "authorization %s: no answer, reconcile before any other payment",
                pending.idempotency_key,
            )
            if self._ledger is not None:
                self._ledger.hold(pending, self.basket.reference)
            raise PaymentUnansweredError(
                f"no answer to authorization {pending.idempotency_key}: reconcile it",
                pending=pending,
                cause=exc,
            ) from exc
        except BackendError as exc:
            # A 4xx is not an answer: nothing was stored, nothing charged.
            self._pending = None
            if self._ledger is not None:
                self._ledger.settle(pending, None)
            if not self._state.is_final:
                self._fail(_refusal(exc), exc.code or type(exc).__name__)
            raise
        self._pending = None
        self._answer = answer
        receipt = Receipt.from_wire(answer, self.idempotency_key)
        if self._ledger is not None:
            self._ledger.settle(pending, receipt)
        if self._state is S.PROCESSING:
            event = {
                wire.AuthorizationStatus.APPROVED: "approved",
                wire.AuthorizationStatus.DECLINED: "declined",
                wire.AuthorizationStatus.STEP_UP: "step_up_asked",
            }[answer.status]
            self._fire(event, detail=receipt.decline_reason or receipt.step_up or "")
        if receipt.status is not PaymentStatus.STEP_UP:
            self.receipt = receipt
            self._emit(CheckoutFinished(state=self._state, receipt=receipt))
        return receipt

    def pay(self, source: Iterable[Frame] | Any) -> Receipt:
        """Headless: :meth:`begin`, :meth:`run` the source, :meth:`complete`.

        Raises :class:`PaymentNotTakenError` when the attempt ends before the backend
        decided (nothing was charged): its ``reason`` says why, e.g. ``LIVENESS_FAILED``.
        """
        if self._state is S.IDLE:
            self.begin()
        if self._state is S.CLAIM:
            raise CheckoutError("a claim is needed first: call give_claim()")
        self.run(source)
        if self._state is not S.PROCESSING:
            raise self._nothing_taken(PaymentNotTakenError, "no payment")
        return self.complete()


# =========================================================================== enrollment


class EnrollmentSession(_FaceFlow):
    """Enroll a consenting shopper: consent record, payment token, claim, face.

    Declining consent means never creating this session: nothing is sent or kept.
    """

    TRANSITIONS = (
        _t("begin", S.IDLE, S.CAPTURING),
        _t("face_found", S.CAPTURING, S.LIVENESS, guard="face_is_usable"),
        _t("liveness_passed", S.LIVENESS, S.PROCESSING, guard="verdict_is_live"),
        _t("liveness_failed", S.LIVENESS, S.FAILED),
        _t("enrolled", S.PROCESSING, S.ENROLLED),
        _t("fail", _WAITING, S.FAILED),
        _t("cancel", _WAITING | {S.IDLE}, S.CANCELLED),
        _t("time_out", _WAITING, S.TIMED_OUT),
    )

    def __init__(
        self,
        parts: FlowParts,
        *,
        consent: wire.ConsentRecord,
        claim: wire.Claim,
        payment_method_token: str,
        camera_name: str | None = None,
        on_event: Callable[[CheckoutEvent], None] | None = None,
    ) -> None:
        super().__init__(parts, camera_name=camera_name, on_event=on_event)
        if wire.looks_like_card_number(payment_method_token):
            raise CheckoutError("card numbers are never accepted: tokenize the card first")
        self._consent = consent
        self._claim = claim
        self._token = payment_method_token
        self.result: EnrollmentResult | None = None

    def begin(self) -> CheckoutState:
        with self._lock:
            self._require(S.IDLE)
            self._open_backend_session(wire.SessionPurpose.ENROLL)
            return self._fire("begin")

    def complete(self) -> EnrollmentResult:
        """Send the sealed, fused template with the consent record (state ``processing``)."""
        with self._lock:
            if self.check_timeout():
                raise self._nothing_taken(NotEnrolledError, "the enrollment timed out")
            self._require(S.PROCESSING)
            session, sealed = self._session, self._sealed
            if session is None or sealed is None:
                raise CheckoutError("no sealed template: liveness has not passed")
            request = wire.EnrollmentRequest(
                session_id=session.session_id,
                sealed_template=wire.SealedTemplateWire.from_sealed(sealed),
                consent=self._consent,
                payment_method_token=self._token,
                claim=self._claim,
            )
            self._sealed = None
            try:
                answer = self._parts.client.enroll(request)
            except BackendError as exc:
                self._fail(_refusal(exc), exc.code or type(exc).__name__)
                raise
            self.result = EnrollmentResult(
                shopper_id=answer.shopper_id,
                privacy_code=answer.privacy_code,
                masked_payment_method=answer.masked_payment_method,
                enrolled_at=answer.enrolled_at,
                retention_days=answer.retention_days,
            )
            self._fire("enrolled")
            self._emit(CheckoutFinished(state=self._state, enrollment=self.result))
            return self.result

    def enroll(self, source: Iterable[Frame] | Any) -> EnrollmentResult:
        """Headless: :meth:`begin`, :meth:`run` the source, :meth:`complete`."""
        if self._state is S.IDLE:
            self.begin()
        self.run(source)
        if self._state is not S.PROCESSING:
            raise self._nothing_taken(NotEnrolledError, "not enrolled")
        return self.complete()


def consent_now(
    text_version: str, *, retention_days: int = 1095, locale: str = "en"
) -> wire.ConsentRecord:
    """The consent record for a shopper who just accepted ``text_version`` on screen."""
    return wire.ConsentRecord(
        text_version=text_version,
        accepted_at=datetime.now(timezone.utc),
        retention_days=retention_days,
        locale=locale,
    )


# =========================================================================== the till


class DeviceSigner:
    """Signs the client's requests as one registered till (device id + Ed25519 key).

    Adapts :class:`facepay.crypto.DeviceKey` to the client's ``RequestSigner`` seam (the
    client does not import ``facepay.crypto``: stages stay independent).
    """

    def __init__(self, key: DeviceKey, device_id: str) -> None:
        self._key = key
        self.device_id = device_id

    def sign_request(self, method: str, path: str, body: bytes) -> Mapping[str, str]:
        return sign_request(
            self._key, device_id=self.device_id, method=method, target=path, body=body
        )

    def __repr__(self) -> str:
        return f"DeviceSigner(device_id={self.device_id!r})"


# How many approved orders a till remembers to refuse paying one twice (a day of a busy lane).
_APPROVED_MEMORY = 2000


class PaymentLedger:
    """What one till sent that can move money, and what came back: the one list of
    unanswered payments and the one reconcile policy, shared by every session it starts.

    An authorization whose answer was lost is held until it is reconciled, and its order
    cannot be paid again meanwhile (it may have been charged). An approved order is
    remembered (the last ``approved_memory``) so that the same order is never paid twice.
    """

    def __init__(self, *, approved_memory: int = _APPROVED_MEMORY) -> None:
        self._lock = threading.Lock()
        self._memory = approved_memory
        # idempotency key -> (pending, the order it pays), oldest first.
        self._unanswered: dict[str, tuple[PendingAuthorization, str]] = {}
        # order reference -> its approval, oldest first (bounded).
        self._approved: dict[str, Receipt] = {}

    @property
    def unanswered(self) -> tuple[PendingAuthorization, ...]:
        with self._lock:
            return tuple(pending for pending, _ in self._unanswered.values())

    def refuse_if_open(self, basket_reference: str) -> None:
        """Raise :class:`CheckoutError` if this order was paid or may have been."""
        with self._lock:
            paid = self._approved.get(basket_reference)
            if paid is not None:
                raise CheckoutError(
                    f"order {basket_reference!r} was already paid (authorization "
                    f"{paid.authorization_id}, receipt {paid.receipt_id})"
                )
            for pending, reference in self._unanswered.values():
                if reference == basket_reference:
                    raise CheckoutError(
                        f"order {basket_reference!r} has an unanswered authorization "
                        f"({pending.idempotency_key}): reconcile it before paying again"
                    )

    def hold(self, pending: PendingAuthorization, basket_reference: str) -> None:
        with self._lock:
            self._unanswered[pending.idempotency_key] = (pending, basket_reference)

    def settle(self, pending: PendingAuthorization, receipt: Receipt | None) -> None:
        with self._lock:
            self._unanswered.pop(pending.idempotency_key, None)
            if receipt is not None and receipt.approved:
                self._approved.pop(receipt.basket_reference, None)
                self._approved[receipt.basket_reference] = receipt
                while len(self._approved) > self._memory:
                    self._approved.pop(next(iter(self._approved)))


class Till:
    """A checkout lane: what a POS or a kiosk talks to. Hand it a basket, get a receipt.

    Build it once per lane (the face models load once) with :meth:`connect`, then:

    * ``till.pay(basket, camera, claim=...)`` -> :class:`Receipt` (headless, e.g. a POS);
    * ``till.start_checkout(basket, ...)`` -> :class:`CheckoutSession` for a UI that feeds
      camera frames itself and draws the prompts (the kiosk);
    * ``till.enroll(camera, consent=..., claim=..., payment_method_token=...)``;
    * ``till.reconcile(pending)`` after a lost answer; and the shopper's rights:
      :meth:`export_shopper`, :meth:`withdraw_consent`, :meth:`delete_shopper`.

    ``liveness`` builds a liveness session from the backend session's seed. The default
    draws the challenges from that seed (what a real till must do); a demo may pass
    :func:`fixed_liveness_plan` to ask for challenges a recorded clip performs.
    """

    def __init__(
        self,
        client: FacePayClient,
        *,
        analyzer: FrameAnalyzer | None = None,
        embedder: Embedder | None = None,
        fuse: TemplateFuser | None = None,
        liveness: LivenessFactory | None = None,
        config: CheckoutConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        claimless_allowed: bool = False,
    ) -> None:
        self.client = client
        self.config = config if config is not None else CheckoutConfig()
        self.claimless_allowed = claimless_allowed
        if embedder is None:
            embedder = _default_embedder()
        # The till closes what it built (the face mesh graph), not what it was given.
        self._owned: list[Any] = []
        if analyzer is None:
            analyzer = _default_analyzer()
            self._owned.append(analyzer)
        self._parts = FlowParts(
            client=client,
            analyzer=analyzer,
            embedder=embedder,
            fuse=fuse if fuse is not None else _default_fuser(embedder),
            liveness=liveness if liveness is not None else seeded_liveness(self.config),
            seal=self._seal,
            config=self.config,
            clock=clock,
        )
        self._keys: dict[str, BackendPublicKey] = {}
        self.ledger = PaymentLedger()

    @classmethod
    def connect(
        cls,
        base_url: str,
        *,
        device_key: DeviceKey,
        device_id: str,
        client_config: ClientConfig | None = None,
        transport: httpx.BaseTransport | None = None,
        **kwargs: Any,
    ) -> Till:
        """A till for the backend at ``base_url``, signing as ``device_id``."""
        client = FacePayClient(
            base_url,
            signer=DeviceSigner(device_key, device_id),
            config=client_config,
            transport=transport,
        )
        return cls(client, **kwargs)

    def close(self) -> None:
        self.client.close()
        for part in self._owned:
            close = getattr(part, "close", None)
            if callable(close):
                close()
        self._owned.clear()

    def __enter__(self) -> Till:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- sealing

    def _sealing_key(self, key_id: str) -> BackendPublicKey:
        if key_id not in self._keys:
            # Refetch on a miss: after a rotation the session names the new key.
            keyset = self.client.get_keys()
            self._keys = {
                k.key_id: BackendPublicKey(
                    key_id=k.key_id,
                    suite=SealingSuite.parse(k.suite),
                    raw=wire.b64decode(k.public_key),
                )
                for k in keyset.keys
            }
        if key_id not in self._keys:
            raise CheckoutError(f"the backend does not publish sealing key {key_id!r}")
        return self._keys[key_id]

    def _seal(self, template: FaceTemplate, session: wire.CheckoutSessionInfo) -> SealedTemplate:
        return seal_template(
            template, self._sealing_key(session.sealing_key_id), session_id=session.session_id
        )

    # ---------------------------------------------------------------- flows

    def start_checkout(
        self,
        basket: Basket,
        *,
        claim: wire.Claim | None = None,
        camera_name: str | None = None,
        on_event: Callable[[CheckoutEvent], None] | None = None,
    ) -> CheckoutSession:
        """A new payment attempt for ``basket``; call ``begin()`` on it to start.

        ``basket.reference`` is the POS's sale id: it reaches the backend's ledger as
        ``basket_reference``. Refuses an order this till saw approved, or whose answer was
        lost and is not reconciled yet: a POS that sends the same order twice gets an
        error, not a second charge. ``camera_name`` is the camera's device name (a UI
        that feeds frames itself passes it, so liveness refuses a virtual camera).
        """
        self.ledger.refuse_if_open(basket.reference)
        return CheckoutSession(
            self._parts,
            basket,
            claim=claim,
            claimless_allowed=self.claimless_allowed,
            camera_name=camera_name,
            ledger=self.ledger,
            on_event=on_event,
        )

    def start_enrollment(
        self,
        *,
        consent: wire.ConsentRecord,
        claim: wire.Claim,
        payment_method_token: str,
        camera_name: str | None = None,
        on_event: Callable[[CheckoutEvent], None] | None = None,
    ) -> EnrollmentSession:
        """A new enrollment; ``camera_name`` as for :meth:`start_checkout`."""
        return EnrollmentSession(
            self._parts,
            consent=consent,
            claim=claim,
            payment_method_token=payment_method_token,
            camera_name=camera_name,
            on_event=on_event,
        )

    def pay(
        self,
        basket: Basket,
        camera: Iterable[Frame] | Any,
        *,
        claim: wire.Claim | None = None,
        on_event: Callable[[CheckoutEvent], None] | None = None,
    ) -> Receipt:
        """Take a face payment for ``basket`` with frames from ``camera``.

        Returns the backend's answer (approved, declined or step-up). Raises
        :class:`PaymentNotTakenError` when no decision was reached (nothing was charged)
        and :class:`PaymentUnansweredError` when the answer was lost: then its ``pending``
        (also kept in :attr:`unanswered`) must go to :meth:`reconcile` before any other
        payment.
        """
        session = self.start_checkout(basket, claim=claim, on_event=on_event)
        try:
            return session.pay(camera)
        finally:
            if session.pending is None and not session.state.is_final:
                session.cancel(FailureReason.ABANDONED)

    def enroll(
        self,
        camera: Iterable[Frame] | Any,
        *,
        consent: wire.ConsentRecord,
        claim: wire.Claim,
        payment_method_token: str,
        on_event: Callable[[CheckoutEvent], None] | None = None,
    ) -> EnrollmentResult:
        """Enroll a shopper who accepted ``consent``, with frames from ``camera``."""
        session = self.start_enrollment(
            consent=consent,
            claim=claim,
            payment_method_token=payment_method_token,
            on_event=on_event,
        )
        try:
            return session.enroll(camera)
        finally:
            if not session.state.is_final:
                session.cancel(FailureReason.ABANDONED)

    @property
    def unanswered(self) -> tuple[PendingAuthorization, ...]:
        """Payments this till's sessions sent whose answer was lost: reconcile them first."""
        return self.ledger.unanswered

    def reconcile(self, pending: PendingAuthorization) -> Receipt:
        """What happened to an authorization whose answer was lost (charges at most once)."""
        answer = pending.send(self.client)
        receipt = Receipt.from_wire(answer, pending.attempt_key or pending.idempotency_key)
        self.ledger.settle(pending, receipt)
        return receipt

    # ---------------------------------------------------------------- shopper rights

    def export_shopper(self, privacy_code: str, claim: wire.Claim) -> wire.ShopperExport:
        return self.client.export_shopper(privacy_code, claim)

    def withdraw_consent(
        self, privacy_code: str, claim: wire.Claim
    ) -> wire.WithdrawConsentResponse:
        return self.client.withdraw_consent(privacy_code, claim)

    def delete_shopper(self, privacy_code: str, claim: wire.Claim) -> wire.DeletionReceipt:
        """Delete the shopper and return the backend's signed deletion receipt, verified
        against the receipt key the backend publishes (``GET /v1/keys``) before the till
        hands it to the shopper: :class:`InvalidSignatureError` if it does not verify."""
        receipt = self.client.delete_shopper(privacy_code, claim)
        keys = self.client.get_keys()
        verify_receipt(
            receipt.model_dump(mode="json"),
            ReceiptPublicKey(wire.b64decode(keys.receipt_public_key), key_id=keys.receipt_key_id),
        )
        return receipt


# =========================================================================== defaults


def _default_analyzer() -> FrameAnalyzer:
    from facepay.vision import FrameAnalyzer as VisionFrameAnalyzer

    analyzer: FrameAnalyzer = VisionFrameAnalyzer()
    return analyzer


def _default_embedder() -> Embedder:
    from facepay.vision import DlibResNetEmbedder

    embedder: Embedder = DlibResNetEmbedder()
    return embedder


def _default_fuser(embedder: Embedder) -> TemplateFuser:
    fuse = getattr(embedder, "fuse", None)
    if callable(fuse):
        return fuse  # type: ignore[no-any-return]
    from facepay.vision import fuse_templates

    return fuse_templates


def seeded_liveness(config: CheckoutConfig | None = None) -> LivenessFactory:
    """The real till's liveness: challenges drawn from the backend session's seed."""
    count = (config or CheckoutConfig()).liveness_challenges

    def build(seed: bytes, camera_name: str | None) -> LivenessCheck:
        from facepay.liveness import ChallengePlan, LivenessSession

        plan = ChallengePlan.from_seed(seed, count=count)
        session: LivenessCheck = LivenessSession(plan, device_name=camera_name)
        return session

    return build


def fixed_liveness_plan(*challenges: str) -> LivenessFactory:
    """Ask for these challenges whatever the seed says. For demos and tests only.

    A recorded clip cannot answer random prompts, so the examples name the challenges
    their clip performs (``blink`` in ``single_face.mp4``). A
    real till must use :func:`seeded_liveness` (the default): the backend's random seed is
    what stops a pre-recorded video from knowing the challenges. The verdict is still
    computed for real from the frames; nothing is faked.
    """
    if not challenges:
        raise CheckoutError("fixed_liveness_plan needs at least one challenge")

    from facepay.liveness import ChallengePlan, LivenessSession

    plan = ChallengePlan.of(challenges)  # fails now, not mid-checkout, on an unknown name

    def build(seed: bytes, camera_name: str | None) -> LivenessCheck:
        del seed
        session: LivenessCheck = LivenessSession(plan, device_name=camera_name)
        return session

    return build

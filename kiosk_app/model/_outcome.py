"""How a face attempt ended, built from facepay's ``Receipt`` and its typed reasons.

Every screen message is chosen by :class:`OutcomeKind` alone: no screen parses a reason
string. The kinds keep apart what the shopper can act on differently (issue #13): not
enrolled, not recognised, too slow, face lost and lane paused each have their own kind, and
"declined" is kept for the one case that is a bank's word: the issuer declined the card.

The privacy code is carried for the receipt channel (printed, e-mail, SMS) only;
no screen line contains it, so it never reaches the shared screen.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from facepay import (
    BackendError,
    BasketLine,
    CheckoutFailedError,
    CheckoutState,
    EnrollmentResult,
    FacePayError,
    FailureReason,
    Frame,
    FrameFeedback,
    LivenessReason,
    NotEnrolledError,
    OrderAlreadyPaidError,
    PaymentNotTakenError,
    PaymentUnansweredError,
    QualityReason,
    RateLimitedError,
    Receipt,
    ServerError,
    TransportError,
    format_money,
)
from kiosk_app.model._port import AttemptEnd
from kiosk_app.model._sale import Sale
from kiosk_app.model._text import isolated, one_line

__all__ = [
    "MASKED_METHOD_LIMIT",
    "Outcome",
    "OutcomeKind",
    "classify_reason",
    "outcome_from_end",
    "outcome_from_error",
    "outcome_from_reason",
    "outcome_from_receipt",
    "process_frame",
    "reconcile_outcome",
    "settle",
    "shown_method",
]


class OutcomeKind(str, enum.Enum):
    APPROVED = "approved"
    ENROLLED = "enrolled"
    STEP_UP = "step_up"  # a second factor: the phone's last 4 digits, or the facepay PIN
    CLAIM_NEEDED = "claim_needed"  # claimless search over its risk budget: ask who pays
    DECLINED = "declined"  # the card issuer said no (the only "declined")
    NOT_ENROLLED = "not_enrolled"
    NOT_RECOGNISED = "not_recognised"
    TOO_SLOW = "too_slow"
    FACE_LOST = "face_lost"
    FACE_NOT_CLEAR = "face_not_clear"  # enrollment: eyes shut or the face covered, enroll again
    FACE_COVERED = "face_covered"  # payment: a hand over the face on every frame, try again
    LIVENESS_FAILED = "liveness_failed"  # evidence of an attack: one opaque message
    SHOPPER_LOCKED = "shopper_locked"  # too many failures for this shopper's account
    LANE_PAUSED = "lane_paused"  # the backend rate-limited this till
    BACKEND_DOWN = "backend_down"
    CAMERA_LOST = "camera_lost"
    PAYMENT_UNKNOWN = "payment_unknown"  # sent, answer lost: no card until reconciled
    NOT_CHARGED = "not_charged"  # a lost payment, settled by the backend: nothing was taken
    CANCELLED = "cancelled"
    ERROR = "error"

    @property
    def nothing_charged(self) -> bool:
        """The shopper may be told "Nothing was charged"."""
        return self not in (OutcomeKind.APPROVED, OutcomeKind.PAYMENT_UNKNOWN)

    @property
    def card_is_safe(self) -> bool:
        """Paying by card now cannot charge twice."""
        return self not in (OutcomeKind.APPROVED, OutcomeKind.PAYMENT_UNKNOWN)

    @property
    def can_retry_face(self) -> bool:
        return self in _RETRYABLE


_RETRYABLE = frozenset(
    {
        OutcomeKind.NOT_RECOGNISED,
        OutcomeKind.TOO_SLOW,
        OutcomeKind.FACE_LOST,
        OutcomeKind.FACE_NOT_CLEAR,
        OutcomeKind.FACE_COVERED,
        OutcomeKind.LIVENESS_FAILED,
        OutcomeKind.CAMERA_LOST,
        OutcomeKind.ERROR,
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """How one attempt ended. ``charged`` is True only when money was actually taken.

    ``staff_code`` is a short code for the attendant's log: never personal data.
    """

    kind: OutcomeKind
    amount_minor: int = 0
    currency: str = ""
    masked_method: str = ""
    receipt: Receipt | None = field(default=None, repr=False)
    enrollment: EnrollmentResult | None = field(default=None, repr=False)
    liveness_reasons: tuple[LivenessReason, ...] = ()
    # FACE_NOT_CLEAR: why the enrollment's frames were not clear, most frequent first
    # (facepay's own reasons: the screen picks its words from them through a table).
    quality_reasons: tuple[QualityReason, ...] = ()
    items: tuple[BasketLine, ...] = ()  # an approved sale's lines, for the screen and the receipt
    by_card: bool = False
    charged: bool = False
    retry_after_s: float | None = None
    staff_code: str = ""

    @property
    def amount_text(self) -> str:
        return format_money(self.amount_minor, self.currency) if self.currency else ""

    @property
    def privacy_code(self) -> str:
        """For the receipt channel the shopper chose: never for the shared screen."""
        if self.receipt is not None and self.receipt.privacy_code:
            return self.receipt.privacy_code
        if self.enrollment is not None:
            return self.enrollment.privacy_code
        return ""

    @property
    def asks_pin(self) -> bool:
        """A step-up for the shopper's facepay PIN (``Receipt.step_up == "pin"``: the face
        was just short of the match); any other step-up asks for the phone's last digits."""
        return (
            self.kind is OutcomeKind.STEP_UP
            and self.receipt is not None
            and self.receipt.step_up == "pin"
        )

    @property
    def receipt_id(self) -> str:
        return (self.receipt.receipt_id or "") if self.receipt is not None else ""

    @property
    def item_lines(self) -> tuple[str, ...]:
        """The sale's lines for the shared screen (the receipt words its own lines in the
        shopper's language: :class:`~kiosk_app.model.PrivacyReceipt`)."""
        return tuple(
            f"{line.quantity} x {isolated(line.description)}  "
            f"{format_money(line.total_minor, self.currency)}"
            for line in self.items
        )


# A masked card ("Visa •••• 4242") is short; the answer's field is free text, and whoever
# answers (a rogue backend, a proxy the till trusts, a POS's card terminal) chooses it.
MASKED_METHOD_LIMIT = 40


def shown_method(masked: str) -> str:
    """A payment method's masked name as the screen and the receipt may show it: one line
    of at most :data:`MASKED_METHOD_LIMIT` characters."""
    return one_line(masked, MASKED_METHOD_LIMIT)


def outcome_from_receipt(receipt: Receipt, sale: Sale | None = None) -> Outcome:
    common = {"amount_minor": receipt.amount_minor, "currency": receipt.currency}
    if receipt.approved:
        return Outcome(
            kind=OutcomeKind.APPROVED,
            masked_method=shown_method(receipt.masked_payment_method or ""),
            receipt=receipt,
            items=sale.lines if sale is not None else (),
            charged=True,
            **common,  # type: ignore[arg-type]
        )
    if receipt.status.value == "step_up":
        kind = OutcomeKind.CLAIM_NEEDED if receipt.step_up == "claim" else OutcomeKind.STEP_UP
        return Outcome(kind=kind, receipt=receipt, **common)  # type: ignore[arg-type]
    reason = receipt.decline_reason or ""
    kind = _DECLINES.get(reason, OutcomeKind.ERROR)
    return Outcome(kind=kind, receipt=receipt, staff_code=f"declined:{reason}", **common)  # type: ignore[arg-type]


# The backend's decline reasons (docs/protocol.md) as the shopper's outcomes.
_DECLINES: dict[str, OutcomeKind] = {
    "no_match": OutcomeKind.NOT_RECOGNISED,
    "step_up_failed": OutcomeKind.NOT_RECOGNISED,
    "liveness_failed": OutcomeKind.LIVENESS_FAILED,
    "payment_method_declined": OutcomeKind.DECLINED,
    "shopper_locked": OutcomeKind.SHOPPER_LOCKED,
    "consent_withdrawn": OutcomeKind.NOT_ENROLLED,
    "not_enrolled": OutcomeKind.NOT_ENROLLED,
}

# Liveness reasons that only mean "try again, a little slower/closer": anything else (attack
# evidence among it) gets the one opaque LIVENESS_FAILED, which tells an attacker nothing.
_SLOW = frozenset({LivenessReason.CHALLENGE_TIMEOUT, LivenessReason.LATE_RESPONSE})
_LOST = frozenset({LivenessReason.FACE_LOST, LivenessReason.NO_FACE, LivenessReason.MULTIPLE_FACES})
_CAMERA = frozenset({LivenessReason.CAMERA_STOPPED, LivenessReason.CAMERA_STALLED})


_BY_REASON: dict[FailureReason, OutcomeKind] = {
    FailureReason.CANCELLED: OutcomeKind.CANCELLED,
    FailureReason.ABANDONED: OutcomeKind.CANCELLED,
    FailureReason.CLAIM_TIMEOUT: OutcomeKind.TOO_SLOW,
    FailureReason.CAPTURING_TIMEOUT: OutcomeKind.TOO_SLOW,
    FailureReason.LIVENESS_TIMEOUT: OutcomeKind.TOO_SLOW,
    FailureReason.STEP_UP_TIMEOUT: OutcomeKind.TOO_SLOW,
    FailureReason.SESSION_EXPIRED: OutcomeKind.TOO_SLOW,
    # Timed out before the request left: nothing charged, the service was too slow.
    FailureReason.PROCESSING_TIMEOUT: OutcomeKind.BACKEND_DOWN,
    # The kiosk's camera stream ended or failed mid-check.
    FailureReason.FRAMES_ENDED: OutcomeKind.CAMERA_LOST,
    FailureReason.CAMERA_LOST: OutcomeKind.CAMERA_LOST,
    FailureReason.NO_GOOD_FRAME: OutcomeKind.FACE_LOST,
    FailureReason.FACE_NOT_CLEAR: OutcomeKind.FACE_NOT_CLEAR,
    FailureReason.FACE_COVERED: OutcomeKind.FACE_COVERED,
    FailureReason.TEMPLATE_FAILED: OutcomeKind.ERROR,
    FailureReason.REQUEST_REJECTED: OutcomeKind.ERROR,
}


def classify_reason(
    reason: FailureReason | None, liveness: tuple[LivenessReason, ...] = ()
) -> OutcomeKind:
    """facepay's typed failure reason (and, for a liveness failure, the liveness stage's
    reasons) -> the shopper's outcome. Attack evidence anywhere in ``liveness`` gives the
    one opaque LIVENESS_FAILED."""
    if reason is None:
        return OutcomeKind.ERROR
    if reason is not FailureReason.LIVENESS_FAILED:
        return _BY_REASON.get(reason, OutcomeKind.ERROR)
    found = set(liveness)
    if not found or any(r.is_attack_evidence for r in found):
        return OutcomeKind.LIVENESS_FAILED
    if found <= _SLOW:
        return OutcomeKind.TOO_SLOW
    if found <= _LOST | _SLOW:
        return OutcomeKind.FACE_LOST
    if found <= _CAMERA | _SLOW | _LOST:
        return OutcomeKind.CAMERA_LOST
    return OutcomeKind.LIVENESS_FAILED


def outcome_from_reason(
    reason: FailureReason | None,
    liveness: tuple[LivenessReason, ...] = (),
    quality: tuple[QualityReason, ...] = (),
) -> Outcome:
    """The outcome of an attempt that ended before the backend decided. ``quality`` (an
    enrollment refused as FACE_NOT_CLEAR) is kept for the shopper's message."""
    code = reason.value if reason is not None else "unknown"
    if liveness:
        code += ":" + ",".join(r.value for r in liveness)
    kind = classify_reason(reason, liveness)
    quality = quality if kind is OutcomeKind.FACE_NOT_CLEAR else ()
    if quality:
        code += ":" + ",".join(r.value for r in quality)
    return Outcome(kind=kind, liveness_reasons=liveness, quality_reasons=quality, staff_code=code)


def outcome_from_end(end: AttemptEnd) -> Outcome:
    """:meth:`CheckoutPort.end_reason`'s answer -> the outcome."""
    return outcome_from_reason(end.reason, end.liveness_reasons, end.quality_reasons)


def _code(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    return f"{type(exc).__name__}:{code}" if code else type(exc).__name__


def outcome_from_error(exc: BaseException, *, answer_lost: bool) -> Outcome:
    """A facepay error -> the outcome. ``answer_lost``: a request that can move money was
    sent and no answer came back (the till holds it for reconciliation)."""
    if isinstance(exc, OrderAlreadyPaidError):
        # Another payment (another lane, an earlier attempt) paid this sale: a card now
        # would charge it twice. Not this kiosk's approval to show either: staff settle it.
        return Outcome(kind=OutcomeKind.PAYMENT_UNKNOWN, staff_code=_code(exc))
    if isinstance(exc, (TransportError, ServerError)):
        lost = answer_lost or isinstance(exc, PaymentUnansweredError)
        kind = OutcomeKind.PAYMENT_UNKNOWN if lost else OutcomeKind.BACKEND_DOWN
        return Outcome(kind=kind, staff_code=_code(exc))
    if isinstance(exc, RateLimitedError):
        return Outcome(
            kind=OutcomeKind.LANE_PAUSED, retry_after_s=exc.retry_after, staff_code=_code(exc)
        )
    if isinstance(exc, (PaymentNotTakenError, NotEnrolledError)):
        return outcome_from_reason(exc.reason, exc.liveness_reasons, exc.quality_reasons)
    if isinstance(exc, CheckoutFailedError):
        return Outcome(kind=OutcomeKind.ERROR, staff_code=_code(exc))
    if isinstance(exc, BackendError):
        return Outcome(kind=OutcomeKind.ERROR, staff_code=_code(exc))
    if isinstance(exc, FacePayError):
        return Outcome(kind=OutcomeKind.ERROR, staff_code=_code(exc))
    return Outcome(kind=OutcomeKind.ERROR, staff_code=type(exc).__name__)


def settle(
    call: Callable[[], Receipt | EnrollmentResult],
    sale: Sale | None,
    answer_lost: Callable[[], bool],
) -> Outcome:
    """Make one call that may move money and turn whatever happens into an outcome."""
    try:
        answer = call()
    except FacePayError as exc:
        return outcome_from_error(exc, answer_lost=answer_lost())
    if isinstance(answer, EnrollmentResult):
        return Outcome(
            kind=OutcomeKind.ENROLLED,
            masked_method=shown_method(answer.masked_payment_method),
            enrollment=answer,
        )
    return outcome_from_receipt(answer, sale)


def reconcile_outcome(reconcile: Callable[[], Receipt | None], sale: Sale | None) -> Outcome:
    """Ask again what became of a payment whose answer was lost, and say what to show.

    ``reconcile`` is :meth:`CheckoutPort.reconcile`: the backend's answer, or ``None``
    when it refused the re-sent request for good (the till's one reconcile policy: nothing
    was stored under the key and never will be), which is NOT_CHARGED: the shopper may pay
    another way. Any error leaves the payment as it was, PAYMENT_UNKNOWN: the till still
    holds it, it may have been taken, and a card now could charge twice.
    """
    try:
        receipt = reconcile()
    except FacePayError as exc:
        return Outcome(kind=OutcomeKind.PAYMENT_UNKNOWN, staff_code=_code(exc))
    if receipt is None:
        return Outcome(kind=OutcomeKind.NOT_CHARGED, staff_code="reconciled:not_charged")
    return outcome_from_receipt(receipt, sale)


class _Feeding(Protocol):
    def feed(self, frame: Frame) -> FrameFeedback: ...

    def end_reason(self) -> AttemptEnd: ...

    def complete(self) -> Receipt | EnrollmentResult: ...

    def answer_lost(self, sale_id: str) -> bool: ...


def process_frame(
    port: _Feeding, frame: Frame, sale: Sale | None, on_processing: Callable[[], None]
) -> FrameFeedback | Outcome:
    """One camera frame through the till, on the worker thread.

    Returns the feedback to draw, or the outcome when the attempt ended: when capture and
    liveness passed, ``on_processing`` is called and the payment (or enrollment) is sent
    and settled here.
    """
    try:
        feedback = port.feed(frame)
    except FacePayError as exc:
        return outcome_from_error(exc, answer_lost=False)
    if feedback.state is CheckoutState.PROCESSING:
        on_processing()
        sale_id = sale.sale_id if sale is not None else ""
        return settle(port.complete, sale, lambda: bool(sale_id) and port.answer_lost(sale_id))
    if feedback.state.is_final:
        return outcome_from_end(port.end_reason())
    return feedback

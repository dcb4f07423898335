"""What the flow tells a UI: its states, why an attempt failed, and the events it emits."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from facepay.checkout._basket import (
    EnrollmentResult,
    Receipt,
)
from facepay.errors import CheckoutError, CheckoutFailedError
from facepay.types import QualityReason

if TYPE_CHECKING:
    # facepay.liveness pulls in OpenCV: imported when a session starts, not with the flow.
    from facepay.liveness import LivenessReason

__all__ = [
    "CheckoutEvent",
    "CheckoutFinished",
    "CheckoutState",
    "FailureReason",
    "FrameFeedback",
    "LivenessProgressed",
    "NotEnrolledError",
    "NothingTakenError",
    "OrderAlreadyPaidError",
    "PaymentNotTakenError",
    "QualityPrompt",
    "StateChanged",
]


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
    # Enrollment: too few frames passed the quality gate with the eyes open (compared with
    # the shopper's own widest-open frame) and no hand over the face, for the template every
    # later payment is compared with; the error's ``quality_reasons`` say why (eyes_closed,
    # occluded, ...). Nothing was stored: the shopper enrolls again.
    FACE_NOT_CLEAR = "face_not_clear"
    # Payment only: every frame that would have made the template had a hand over the face
    # (``CheckoutConfig.hand_check_payments``; ``quality_reasons`` is ``(occluded,)``).
    # Nothing was sent: the shopper tries again, hands away from the face.
    FACE_COVERED = "face_covered"
    # Embedding, fusing or sealing the template failed (a model or key problem).
    TEMPLATE_FAILED = "template_failed"
    # The backend refused the request (4xx): nothing was stored.
    SESSION_EXPIRED = "session_expired"
    REQUEST_REJECTED = "request_rejected"

    def __str__(self) -> str:
        return self.value

    @property
    def another_attempt_may_pay(self) -> bool:
        """Whether the shopper's "Try again" (a new checkout for the same basket) is worth
        offering: True unless the POS or the shopper ended the attempt (cancelled,
        abandoned), or the payment was sent and its answer not awaited (processing
        timeout: it may be charged, so :meth:`Till.reconcile` comes first)."""
        return self not in _FINAL_FAILURES

    @classmethod
    def timeout_of(cls, state: CheckoutState) -> FailureReason:
        return cls(f"{state.value}_timeout")


_FINAL_FAILURES = frozenset(
    {FailureReason.CANCELLED, FailureReason.ABANDONED, FailureReason.PROCESSING_TIMEOUT}
)


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


class NothingTakenError(CheckoutFailedError):
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
        quality_reasons: tuple[QualityReason, ...] = (),
    ) -> None:
        super().__init__(message, state=state, reason=reason)
        self.liveness_reasons = liveness_reasons
        # FACE_NOT_CLEAR: the quality reasons of the frames that were not clear, most
        # frequent first (a UI's prompt for the next try).
        self.quality_reasons = quality_reasons


class PaymentNotTakenError(NothingTakenError):
    """The payment attempt ended before the backend decided: nothing was charged.

    ``reason`` (a :class:`FailureReason`) says why; ``liveness_reasons`` which liveness
    signals refused when ``reason`` is ``LIVENESS_FAILED``. Offer another way to pay.
    """


class NotEnrolledError(NothingTakenError):
    """The enrollment ended before the backend stored anything: the shopper is not enrolled."""


class OrderAlreadyPaidError(CheckoutError):
    """The order was paid already, by this till or by another lane: take no other payment
    for it, and do not offer the card either. ``authorization_id`` names the payment that
    paid it (None when the backend refused without the till learning which); raised
    before anything is sent when this till remembers the order paid, and when the backend
    refused a payment with ``409 order_already_paid`` (then ``__cause__`` is that
    refusal, and nothing of this attempt was charged)."""

    def __init__(
        self,
        basket_reference: str,
        *,
        authorization_id: str | None,
        receipt_id: str | None = None,
    ) -> None:
        super().__init__(
            f"order {basket_reference!r} was already paid (authorization "
            f"{authorization_id or 'unknown'}, receipt {receipt_id or 'unknown'}): "
            "take no other payment for it"
        )
        self.basket_reference = basket_reference
        self.authorization_id = authorization_id
        self.receipt_id = receipt_id


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

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
    processing  --step_up_asked-----> step_up     (a near tie: last 4 digits of the phone;
                                                   a face just short of the match: the PIN)
    step_up     --step_up_answered--> processing  [guard step_up_takes_digits]
    any waiting state --cancel--> cancelled, --time_out--> timed_out, --fail--> failed

Every end without a backend decision carries a :class:`FailureReason` (an enum, never a
string to split); a liveness failure also carries the liveness stage's own
``LivenessReason`` values as a typed tuple (``liveness_reasons``).

The same machine, with ``enrolled`` as its happy end, enrolls a consenting shopper.

The package's files are its concerns, in the order a checkout meets them:
``_basket`` (money and receipts), ``_events`` (states, failure reasons, what a UI is
told), ``_machine`` (the state table and what each frame does), ``_payment`` and
``_enrollment`` (the two flows), ``_ledger`` (the lane's one payment ledger, and what a
restarted till recovers), ``_journal`` (the ledger's file, which outlives the process),
``_till`` (the lane: its sealer and signer).

The flow composes the stages and nothing else: a frame source (``facepay.capture``), the
frame analyzer (quality gate) and embedder (``facepay.vision``), a liveness session whose
challenge plan comes from the backend session's seed (``facepay.liveness``), the
till's ``SessionSealer`` (``facepay.crypto.seal_template``, bound to that session), and
the payment client (``facepay.client``); each is typed in ``_machine`` as the flow sees it.
It never imports Qt: a UI subscribes to plain-data events
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

from facepay.checkout._basket import (
    Basket,
    BasketLine,
    EnrollmentResult,
    OrderPayment,
    PaymentStatus,
    Receipt,
    format_money,
)
from facepay.checkout._enrollment import EnrollmentSession, consent_now
from facepay.checkout._events import (
    CheckoutEvent,
    CheckoutFinished,
    CheckoutState,
    FailureReason,
    FrameFeedback,
    LivenessProgressed,
    NotEnrolledError,
    OrderAlreadyPaidError,
    PaymentNotTakenError,
    QualityPrompt,
    StateChanged,
)
from facepay.checkout._journal import JournalEntry, JournalError
from facepay.checkout._ledger import PaymentLedger, RecoveredPayment, RecoveryOutcome
from facepay.checkout._machine import (
    FaceFinder,
    FlowParts,
    FrameStream,
    HandCheck,
    LivenessCheck,
    LivenessFactory,
    TemplateFuser,
    TemplateMaker,
    TemplateSealer,
    Transition,
)
from facepay.checkout._payment import (
    CheckoutSession,
    PaymentUnansweredError,
    PendingAuthorization,
)
from facepay.checkout._till import (
    DeviceSigner,
    SessionSealer,
    Till,
    seeded_liveness,
)

# Moved to facepay.testing (a demo and test switch, not the till's); importable here too
# until this session's other branches have merged.

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
    "FaceFinder",
    "FailureReason",
    "FlowParts",
    "FrameFeedback",
    "FrameStream",
    "HandCheck",
    "JournalEntry",
    "JournalError",
    "LivenessCheck",
    "LivenessFactory",
    "LivenessProgressed",
    "NotEnrolledError",
    "OrderAlreadyPaidError",
    "OrderPayment",
    "PaymentLedger",
    "PaymentNotTakenError",
    "PaymentStatus",
    "PaymentUnansweredError",
    "PendingAuthorization",
    "QualityPrompt",
    "Receipt",
    "RecoveredPayment",
    "RecoveryOutcome",
    "SessionSealer",
    "StateChanged",
    "TemplateFuser",
    "TemplateMaker",
    "TemplateSealer",
    "Till",
    "Transition",
    "consent_now",
    "format_money",
    "seeded_liveness",
]

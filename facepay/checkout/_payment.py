"""One face-payment attempt: the authorization it sends, exactly once, and its answer."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from facepay import wire
from facepay.checkout._basket import (
    Basket,
    PaymentStatus,
    Receipt,
)
from facepay.checkout._events import (
    CheckoutEvent,
    CheckoutFinished,
    CheckoutState,
    OrderAlreadyPaidError,
    PaymentNotTakenError,
)
from facepay.checkout._journal import PaidOrder
from facepay.checkout._machine import (
    _WAITING,
    FlowParts,
    FrameStream,
    PinSealer,
    S,
    _FaceFlow,
    _refusal,
    _t,
    forget_keys_if_seal_refused,
)
from facepay.client import FacePayClient, new_idempotency_key
from facepay.errors import (
    BackendError,
    CheckoutError,
    IdempotencyConflictError,
    RateLimitedError,
    RequestRejectedError,
    ServerError,
    TransportError,
    WeakPinError,
)
from facepay.types import Frame, PinRefusal

__all__ = [
    "CheckoutSession",
    "PaymentUnansweredError",
    "PendingAuthorization",
    "settles_as_not_charged",
]

logger = logging.getLogger(__name__)


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
    # ... or the answer to its step-up: the last 4 phone digits, or the PIN as sealed to
    # the backend for this authorization (sent again byte for byte on reconcile).
    step_up_authorization_id: str | None = None
    step_up_phone_last4: str | None = field(default=None, repr=False)
    step_up_sealed_pin: str | None = field(default=None, repr=False)
    # The checkout attempt's key, when this is a step-up answer under its own key.
    attempt_key: str | None = None
    # A step-up answer's order (an authorization carries its own in ``request``): what
    # the backend's answer must name to be this payment's.
    step_up_basket: Basket | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if (self.request is None) == (self.step_up_authorization_id is None):
            raise CheckoutError("a pending authorization is a request or a step-up answer")

    @property
    def basket_reference(self) -> str | None:
        if self.request is not None:
            return self.request.basket_reference
        return self.step_up_basket.reference if self.step_up_basket is not None else None

    @property
    def amount_minor(self) -> int | None:
        if self.request is not None:
            return self.request.amount_minor
        return self.step_up_basket.total_minor if self.step_up_basket is not None else None

    @property
    def currency(self) -> str | None:
        if self.request is not None:
            return self.request.currency
        return self.step_up_basket.currency if self.step_up_basket is not None else None

    def answer_mismatch(self, answer: wire.AuthorizationResponse) -> str | None:
        """Why ``answer`` cannot be the backend's answer to this request (``None``: it
        can be). An answer names the order, amount and currency it decided (a step-up's,
        the authorization it continues) and carries what its status needs: another
        order's approval, an amount or a currency changed on the way, an approval without
        a receipt id, is not this payment's answer, whoever sent it."""
        expected = (self.basket_reference, self.amount_minor, self.currency)
        if (
            None not in expected
            and (
                answer.basket_reference,
                answer.amount_minor,
                answer.currency,
            )
            != expected
        ):
            return "it names another order, amount or currency"
        if (
            self.step_up_authorization_id is not None
            and answer.authorization_id != self.step_up_authorization_id
        ):
            return "it names another authorization"
        status = wire.AuthorizationStatus
        if answer.status is status.APPROVED:
            consistent = answer.receipt_id is not None and answer.decline_reason is None
        elif answer.status is status.DECLINED:
            consistent = answer.decline_reason is not None and answer.receipt_id is None
        else:
            consistent = answer.step_up is not None and answer.receipt_id is None
        return None if consistent else f"{answer.status.value} without the fields that needs"

    def send(self, client: FacePayClient) -> wire.AuthorizationResponse:
        """Send (again) exactly what was sent, under the same key."""
        if self.request is not None:
            return client.reconcile(self.request, idempotency_key=self.idempotency_key)
        assert self.step_up_authorization_id is not None
        answer: str | wire.StepUpRequest
        if self.step_up_sealed_pin is not None:
            answer = wire.StepUpRequest(sealed_pin=self.step_up_sealed_pin)
        else:
            assert self.step_up_phone_last4 is not None
            answer = self.step_up_phone_last4
        return client.answer_step_up(
            self.step_up_authorization_id, answer, idempotency_key=self.idempotency_key
        )


def check_answer(pending: PendingAuthorization, answer: wire.AuthorizationResponse) -> None:
    """Raise :class:`ServerError` (code ``answer_mismatch``, status 200) when ``answer``
    is not ``pending``'s (:meth:`PendingAuthorization.answer_mismatch`). Like a 5xx it
    says nothing of what the backend did: the request may have been charged, so it stays
    pending for reconcile."""
    why = pending.answer_mismatch(answer)
    if why is not None:
        logger.warning(
            "authorization %s: the answer is not this payment's (%s): reconcile it",
            pending.idempotency_key,
            why,
        )
        raise ServerError(
            f"the answer to authorization {pending.idempotency_key} is not its own ({why})",
            status=200,
            code="answer_mismatch",
        )


class PaymentUnansweredError(TransportError):
    """A request that can move money was sent and no usable answer came back.

    The payment may or may not have been taken: pass ``pending`` to ``Till.reconcile``
    (or call ``CheckoutSession.reconcile``) before offering any other way to pay. Raised
    for a lost connection, a timeout and a 5xx alike, and when a re-sent request is
    refused in a way that leaves the first one's outcome open (a 401, 429 or 409: see
    :func:`settles_as_not_charged`); ``__cause__`` is the error seen.
    """

    def __init__(self, message: str, *, pending: PendingAuthorization, cause: BackendError) -> None:
        super().__init__(message, status=cause.status, code=cause.code, request_id=cause.request_id)
        self.pending = pending


def settles_as_not_charged(exc: BackendError) -> bool:
    """The one reconcile policy: does ``exc``, the answer to a request re-sent after its
    first answer was lost, say for good that nothing was charged under its key?

    The backend looks the key up before anything else and replays the answer it stored,
    so a refusal of the request itself (the session is over, used or unknown; no such
    authorization; no step-up pending; a malformed request) means nothing was stored
    under the key, and the same bytes will never be charged: settled, not charged.
    A lost connection or a 5xx says nothing; a refused signature (401/403) and a rate
    limit or lockout (429) come before the look-up or pass with time, and the same
    request could still be charged later; a key conflict (409) says something *was*
    stored. Those keep the payment pending.
    """
    return isinstance(exc, RequestRejectedError) and not isinstance(
        exc, (RateLimitedError, IdempotencyConflictError)
    )


def _four_digits(digits: object) -> bool:
    """Exactly 4 ASCII digits (``"１２３４"`` and ``"12 4"`` are not)."""
    return isinstance(digits, str) and len(digits) == 4 and digits.isascii() and digits.isdigit()


def was_seen_before(exc: BackendError) -> bool:
    """Does ``exc``, the answer to a request's first sending, say the backend had that very
    request (or its key) already? A reused nonce and a key conflict do: each request is
    signed with a fresh nonce under a fresh key, so only a copy sent first (a proxy that
    forwarded it, then sent it again and handed back the second answer) explains them.
    Nothing says the first copy was refused: the payment is pending, not refused."""
    return isinstance(exc, IdempotencyConflictError) or exc.code == wire.ErrorCode.NONCE_REUSED


def is_order_already_paid(exc: BackendError) -> bool:
    """Is ``exc`` the backend's ``409 order_already_paid``: another payment paid this
    order, nothing of this request was stored or charged."""
    return exc.status == 409 and exc.code == wire.ErrorCode.ORDER_ALREADY_PAID.value


def order_paid_by(client: FacePayClient, basket_reference: str) -> PaidOrder:
    """Which approval paid ``basket_reference``, asked by order (one signed GET) after a
    ``409 order_already_paid``; the order is paid either way, so a failed lookup leaves
    only the authorization unnamed."""
    try:
        listed = client.order_authorizations(basket_reference)
    except BackendError as exc:
        logger.warning(
            "order %r is paid; which payment paid it is unknown: %s",
            basket_reference,
            exc.code or type(exc).__name__,
        )
        return PaidOrder(basket_reference=basket_reference, authorization_id=None)
    for answer in listed.authorizations:
        if (
            answer.status is wire.AuthorizationStatus.APPROVED
            and answer.basket_reference == basket_reference
        ):
            return PaidOrder(
                basket_reference=basket_reference,
                authorization_id=answer.authorization_id,
                receipt_id=answer.receipt_id,
            )
    return PaidOrder(basket_reference=basket_reference, authorization_id=None)


def paid_elsewhere(
    client: FacePayClient, ledger: _Ledger | None, basket_reference: str
) -> OrderAlreadyPaidError:
    """After the backend's ``409 order_already_paid``: which approval paid the order
    (:func:`order_paid_by`), recorded in ``ledger`` so the order is refused from now on;
    returns the error to raise (never "use the card")."""
    paid = order_paid_by(client, basket_reference)
    if ledger is not None:
        ledger.paid_elsewhere(paid)
    return OrderAlreadyPaidError(
        paid.basket_reference, authorization_id=paid.authorization_id, receipt_id=paid.receipt_id
    )


class _Ledger(Protocol):
    """Where a session writes what can move money (the till's :class:`PaymentLedger`)."""

    def hold(
        self,
        pending: PendingAuthorization,
        basket_reference: str,
        session: wire.CheckoutSessionInfo | None = None,
    ) -> None:
        """``pending`` was sent (in ``session``) and no answer came back: keep it until
        it is reconciled."""

    def settle(self, pending: PendingAuthorization, receipt: Receipt | None) -> None:
        """``pending`` has its answer (``None``: refused, nothing stored)."""

    def paid_elsewhere(self, paid: PaidOrder) -> None:
        """The backend refused ``pending``'s order as paid by another payment."""


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
        _t("step_up_answered", S.STEP_UP, S.PROCESSING, guard="step_up_takes_digits"),
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
        pin_sealer: PinSealer | None = None,
    ) -> None:
        super().__init__(parts, camera_name=camera_name, on_event=on_event)
        self.basket = basket
        self._pin_sealer = pin_sealer
        self._ledger = ledger
        self._claim = claim
        self._claimless_allowed = claimless_allowed
        # One key per checkout attempt, for the attempt's whole life (retries, reconcile).
        self.idempotency_key = new_idempotency_key()
        self._answer: wire.AuthorizationResponse | None = None
        # What was sent and not yet answered (outcome unknown), for reconcile().
        self._pending: PendingAuthorization | None = None
        # Whether ``_pending`` lost an answer once (it may have been charged).
        self._answer_lost = False
        self._step_up_count = 0
        self.receipt: Receipt | None = None

    # guards
    def claim_is_needed(self) -> bool:
        return self._claim is None and not self._claimless_allowed

    def claim_is_present(self) -> bool:
        return self._claim is not None

    def step_up_takes_digits(self) -> bool:
        return self._step_up_kind() in (wire.StepUpKind.PHONE_LAST4, wire.StepUpKind.PIN)

    def _step_up_kind(self) -> wire.StepUpKind | None:
        if self._answer is None or self._answer.step_up is None:
            return None
        return self._answer.step_up.kind

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

    def answer_step_up(self, digits: str) -> Receipt:
        """The shopper typed 4 digits (state ``step_up``): the last 4 of their phone for a
        ``phone_last4`` step-up, their facepay PIN for a ``pin`` one (``Receipt.step_up``
        says which). A PIN is sealed to the backend for this authorization at once and
        never kept in the clear; 4 digits are the only check made here (a wrong PIN is
        the backend's to count). Raises :class:`WeakPinError` (nothing sent, still
        ``step_up``) when ``digits`` is not 4 digits."""
        with self._lock:
            if self.check_timeout():
                raise self._nothing_taken(PaymentNotTakenError, "the step-up timed out")
            self._require(S.STEP_UP)
            assert self._answer is not None
            if not _four_digits(digits):
                # Before anything moves: the shopper retypes, still in ``step_up``.
                raise WeakPinError(PinRefusal.NOT_FOUR_DIGITS)
            auth_id = self._answer.authorization_id
            phone_last4 = sealed_pin = None
            if self._step_up_kind() is wire.StepUpKind.PIN:
                sealed_pin = self._seal_step_up_pin(digits, auth_id)
            else:
                phone_last4 = digits
            self._fire("step_up_answered")
            self._step_up_count += 1
            # Its own key (docs/protocol.md), derived from the attempt's so that a retry or
            # a reconcile of this answer reuses it.
            self._pending = PendingAuthorization(
                idempotency_key=f"{self.idempotency_key}-s{self._step_up_count}",
                step_up_authorization_id=auth_id,
                step_up_phone_last4=phone_last4,
                step_up_sealed_pin=sealed_pin,
                attempt_key=self.idempotency_key,
                step_up_basket=self.basket,
            )
            return self._send(self._pending)

    def _seal_step_up_pin(self, digits: str, authorization_id: str) -> str:
        if self._pin_sealer is None or self._session is None:
            raise CheckoutError("this session cannot seal a PIN (no till sealer)")
        return self._pin_sealer.seal_step_up_pin(digits, self._session, authorization_id)

    def _report_not_live(self, summary: wire.LivenessSummary) -> None:
        """One bounded try (the client's own retry policy and timeouts): a network fault
        or a refusal is logged and the checkout still ends not_live, never hangs."""
        session = self._session
        if session is None:
            return
        try:
            self._parts.client.report_liveness_refusal(session.session_id, summary)
        except BackendError as exc:
            logger.warning(
                "not_live in session %s not reported to the backend: %s",
                session.session_id,
                exc.code or type(exc).__name__,
            )

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
            check_answer(pending, answer)
        except (TransportError, ServerError) as exc:
            # Outcome unknown: keep ``pending`` (request and key) and stay where we are.
            logger.warning(
                "authorization %s: no usable answer (%s), reconcile before any other payment",
                pending.idempotency_key,
                exc.code or type(exc).__name__,
            )
            self._answer_lost = True
            if self._ledger is not None:
                self._ledger.hold(pending, self.basket.reference, self._session)
            raise PaymentUnansweredError(
                f"no answer to authorization {pending.idempotency_key}: reconcile it",
                pending=pending,
                cause=exc,
            ) from exc
        except BackendError as exc:
            if not self._answer_lost and was_seen_before(exc):
                # This attempt's own signed request (a fresh nonce, a fresh key) had reached
                # the backend before it was refused: someone sent it first, and it may
                # have been charged then.
                self._answer_lost = True
                if self._ledger is not None:
                    self._ledger.hold(pending, self.basket.reference, self._session)
            if self._answer_lost and not settles_as_not_charged(exc):
                # A refusal of the re-sent request says nothing of the first one, which
                # may have been charged: it stays pending (and held) for reconcile().
                raise PaymentUnansweredError(
                    f"still no answer to authorization {pending.idempotency_key}: reconcile it",
                    pending=pending,
                    cause=exc,
                ) from exc
            # A 4xx is not an answer: nothing was stored, nothing charged.
            forget_keys_if_seal_refused(self._parts.sealer, exc)
            self._pending = None
            self._answer_lost = False
            if self._ledger is not None:
                self._ledger.settle(pending, None)
            already_paid = None
            if is_order_already_paid(exc):
                # Another payment paid the order: this till must not offer the card.
                already_paid = paid_elsewhere(
                    self._parts.client, self._ledger, self.basket.reference
                )
            if not self._state.is_final:
                self._fail(_refusal(exc), exc.code or type(exc).__name__)
            if already_paid is not None:
                raise already_paid from exc
            raise
        self._pending = None
        self._answer_lost = False
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

    def pay(self, source: FrameStream | Iterable[Frame]) -> Receipt:
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

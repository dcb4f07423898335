"""What the kiosk needs from facepay, in facepay's own types.

:class:`CheckoutPort` is implemented over ``facepay.Till`` by :mod:`kiosk_app.adapter`
and by a fake in the model's tests. Every call is made from ONE worker thread, so an
implementation needs no locking and the UI thread never blocks on vision or the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from facepay import (
    Basket,
    Claim,
    EnrollmentResult,
    FailureReason,
    Frame,
    FrameFeedback,
    LivenessReason,
    QualityReason,
    Receipt,
)

if TYPE_CHECKING:
    from kiosk_app.model._outcome import Outcome

__all__ = ["AttemptEnd", "BackendHealth", "CheckoutPort", "StoreProfile"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptEnd:
    """Why an attempt ended without a backend decision, in facepay's own types.

    ``liveness_reasons``: the liveness signals that refused (``LIVENESS_FAILED``);
    ``quality_reasons``: why an enrollment's frames were not clear (``FACE_NOT_CLEAR``),
    most frequent first, as ``facepay.EnrollmentSession.quality_reasons`` gives them.
    """

    reason: FailureReason | None
    liveness_reasons: tuple[LivenessReason, ...] = ()
    quality_reasons: tuple[QualityReason, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreProfile:
    """What the store tells the shopper and the consent screen.

    ``privacy_url`` is the retailer's public page where a shopper sees or deletes their
    data (``{code}`` is replaced by nothing: the code travels on the receipt, not the URL).
    """

    store_name: str
    currency: str
    claimless_allowed: bool = False
    operator: str = ""
    retention_days: int = 365
    min_claim_digits: int = 7  # E.164 numbers have at least 7 digits after the country code
    step_up_digits: int = 4
    privacy_url: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class BackendHealth:
    reachable: bool
    url: str
    detail: str = ""
    settings: Mapping[str, float] = field(default_factory=dict)


class CheckoutPort(Protocol):
    """The till as the kiosk drives it. All calls come from one worker thread.

    Errors are facepay's own (``TransportError``, ``RateLimitedError``,
    ``CheckoutFailedError`` ...); :func:`kiosk_app.model.settle` turns them into outcomes.
    """

    def store_profile(self) -> StoreProfile: ...

    def health(self) -> BackendHealth: ...

    def begin_payment(self, basket: Basket, claim: Claim | None) -> None:
        """Open a face-payment attempt; ``basket.reference`` is the POS's sale id."""

    def begin_enrollment(
        self, claim: Claim, card_token: str, locale: str, *, pin: str | None = None
    ) -> None:
        """Open an enrollment: consent was given on screen in ``locale``. ``pin``: the
        shopper's 4-digit PIN for the grey-zone step-up, handed to the till (which seals
        it); an implementation keeps no copy and never logs it."""

    def feed(self, frame: Frame) -> FrameFeedback:
        """Analyse one frame. ``state`` ``processing``: call :meth:`complete`; a final state:
        :meth:`end_reason` says why."""

    def end_reason(self) -> AttemptEnd:
        """Why the attempt ended without a decision, with the liveness stage's reasons
        and (an enrollment's) the quality reasons."""

    def complete(self) -> Receipt | EnrollmentResult:
        """Seal, send and wait for the backend's decision."""

    def answer_step_up(self, digits: str) -> Receipt: ...

    def answer_lost(self, sale_id: str) -> bool:
        """A payment for this sale was sent and its answer never came back."""

    def reconcile(self, sale_id: str) -> Receipt | None:
        """Ask the backend what became of the unanswered payment for this sale (same key,
        same request: it is charged at most once). ``None``: the backend refused the request
        for good, so nothing was charged and the sale may be paid another way; an error:
        still unknown (the till keeps the payment for the next try)."""

    def recover(self) -> tuple[tuple[str, str, Outcome], ...]:
        """At start: what became of the payments the till's journal left unanswered
        before a crash, as ``(sale id, amount text, outcome)``: charged (APPROVED),
        NOT_CHARGED, or PAYMENT_UNKNOWN (:meth:`reconcile` asks again later)."""

    def cancel(self) -> None:
        """Abandon the attempt and drop every frame and template held in memory."""

    def configure(self, settings: Mapping[str, float]) -> None:
        """Staff settings, already clamped (``SETTING_BOUNDS``): the next attempt's."""

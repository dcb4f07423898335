"""What the kiosk needs from the checkout flow, as plain data and one small Protocol.

The screens never see a facepay object: the controller talks to a :class:`CheckoutPort`
(implemented over ``facepay.CheckoutSession`` in :mod:`kiosk_app.facepay_port`) and gets
back the frozen updates below. Every port call is made from ONE worker thread
(:class:`kiosk_app.workers.FlowWorker`), so an implementation needs no locking and the UI
thread never blocks on vision, liveness or the network.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from facepay import Frame, QualityReason

__all__ = [
    "BackendHealth",
    "BasketLine",
    "BasketSnapshot",
    "CheckoutPort",
    "Claim",
    "ClaimKind",
    "FaceProgress",
    "Outcome",
    "OutcomeKind",
    "Processing",
    "StoreProfile",
    "format_money",
    "receipt_lines",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class BasketLine:
    sku: str
    name: str
    quantity: int
    unit_price_minor: int

    @property
    def total_minor(self) -> int:
        return self.quantity * self.unit_price_minor


@dataclass(frozen=True, slots=True, kw_only=True)
class BasketSnapshot:
    """The basket as the POS pushed it. Amounts are integers in minor units (cents)."""

    lines: tuple[BasketLine, ...]
    currency: str
    minor_digits: int = 2

    @property
    def total_minor(self) -> int:
        return sum(line.total_minor for line in self.lines)

    @property
    def item_count(self) -> int:
        return sum(line.quantity for line in self.lines)


def format_money(amount_minor: int, currency: str, minor_digits: int = 2) -> str:
    """``1234, "EUR"`` -> ``"EUR 12.34"``: the ISO code and Western digits read the same in
    every language the kiosk speaks, so one form serves all (as on the POS's receipt)."""
    sign = "-" if amount_minor < 0 else ""
    value = abs(amount_minor)
    if minor_digits:
        major, minor = divmod(value, 10**minor_digits)
        return f"{sign}{currency} {major:,}.{minor:0{minor_digits}d}"
    return f"{sign}{currency} {value:,}"


def receipt_lines(basket: BasketSnapshot) -> tuple[str, ...]:
    """One line per basket line, as printed on the receipt."""
    return tuple(
        f"{line.quantity} x {line.name}  "
        f"{format_money(line.total_minor, basket.currency, basket.minor_digits)}"
        for line in basket.lines
    )


class ClaimKind(str, enum.Enum):
    PHONE = "phone"
    LOYALTY_CARD = "loyalty_card"
    APP_QR = "app_qr"


@dataclass(frozen=True, slots=True, kw_only=True)
class Claim:
    """Who the shopper says they are, narrowing a 1:N search to 1:few. Not a secret."""

    kind: ClaimKind
    value: str = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreProfile:
    """What the backend says about this store and what the consent screen must state."""

    store_name: str
    currency: str
    minor_digits: int = 2
    claimless_allowed: bool = False
    operator: str = "facepay sandbox"
    retention_days: int = 365
    min_claim_digits: int = 7  # E.164 numbers have at least 7 digits after the country code
    step_up_digits: int = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class FaceProgress:
    """One analysed frame during capture or liveness.

    ``face_box`` is ``(x, y, w, h)`` as fractions of the frame, for drawing; ``phase`` is
    ``"capture"`` until the quality gate passes, then ``"liveness"``.
    """

    phase: str
    reasons: tuple[QualityReason, ...] = ()
    face_box: tuple[float, float, float, float] | None = None
    challenge: str | None = None
    challenge_index: int = 0
    challenge_count: int = 0
    seconds_left: float = 0.0
    progress: float = 0.0
    frame_index: int = 0


@dataclass(frozen=True, slots=True)
class Processing:
    """Capture and liveness are done; the sealed template is on its way to the backend."""


class OutcomeKind(str, enum.Enum):
    APPROVED = "approved"
    DECLINED = "declined"
    STEP_UP = "step_up"
    ENROLLED = "enrolled"
    LIVENESS_FAILED = "liveness_failed"
    NOT_RECOGNISED = "not_recognised"
    BACKEND_DOWN = "backend_down"
    CAMERA_LOST = "camera_lost"
    TIMED_OUT = "timed_out"
    CLAIM_NEEDED = "claim_needed"  # claimless search over its risk budget: ask who pays
    PAYMENT_UNKNOWN = "payment_unknown"  # sent, answer lost, reconcile failed: no card!
    CANCELLED = "cancelled"
    ERROR = "error"


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """How an attempt ended. ``charged`` is True only when money was actually taken."""

    kind: OutcomeKind
    amount_minor: int = 0
    currency: str = ""
    minor_digits: int = 2
    masked_method: str = ""
    receipt_lines: tuple[str, ...] = ()
    receipt_id: str = ""
    privacy_code: str = ""
    privacy_url: str = ""
    step_up_digits: int = 0
    charged: bool = False
    detail: str = ""  # a short error code for the attendant log: never personal data


@dataclass(frozen=True, slots=True, kw_only=True)
class BackendHealth:
    reachable: bool
    url: str
    detail: str = ""
    thresholds: Mapping[str, float] = field(default_factory=dict)


@runtime_checkable
class CheckoutPort(Protocol):
    """The checkout flow as the kiosk drives it. All calls come from one worker thread."""

    def store_profile(self) -> StoreProfile: ...

    def begin_payment(self, basket: BasketSnapshot, claim: Claim | None) -> None:
        """Open a face-payment attempt for ``basket`` (idempotent per basket)."""

    def begin_enrollment(self, claim: Claim, card_token: str) -> None:
        """Open an enrollment: consent was given on screen, the card is tokenised."""

    def feed(self, frame: Frame) -> FaceProgress | Processing | Outcome:
        """Analyse one frame; :class:`Processing` once capture and liveness pass, an
        :class:`Outcome` when the attempt ended without a decision (liveness failed ...)."""

    def complete(self) -> Outcome:
        """Seal, send and wait for the backend's decision (after :class:`Processing`)."""

    def answer_step_up(self, digits: str) -> Outcome: ...

    def link_card(self) -> tuple[str, str]:
        """Sandbox card reader: ``(card_token, masked_method)``."""

    def cancel(self) -> None:
        """Abandon the attempt and drop every frame and template held in memory."""

    def health(self) -> BackendHealth: ...

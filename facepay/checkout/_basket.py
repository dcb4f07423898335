"""Money and receipts: the basket a POS asks the shopper to pay for, and what comes back."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from facepay import wire
from facepay.errors import CheckoutError

__all__ = [
    "Basket",
    "BasketLine",
    "EnrollmentResult",
    "OrderPayment",
    "PaymentStatus",
    "Receipt",
    "format_money",
]


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
    # With the shopper's phone number it exports or deletes their data: printed for the
    # shopper (``lines()``), never in a repr a POS might log.
    privacy_code: str | None = field(default=None, repr=False)
    decline_reason: str | None = None
    step_up: str | None = None

    @property
    def approved(self) -> bool:
        return self.status is PaymentStatus.APPROVED

    @property
    def amount(self) -> str:
        return format_money(self.amount_minor, self.currency)

    @property
    def another_attempt_may_pay(self) -> bool:
        """Whether, after this decline, the shopper's "Try again" with the face may be
        approved (:attr:`facepay.wire.DeclineReason.another_attempt_may_pay`; a reason
        this SDK does not know, from a newer backend, counts as yes). False when approved
        or when a step-up is asked (answer it instead)."""
        if self.status is not PaymentStatus.DECLINED:
            return False
        try:
            return wire.DeclineReason(self.decline_reason).another_attempt_may_pay
        except ValueError:
            return True

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
class OrderPayment:
    """One authorization the backend holds for an order (``Till.order_payments``), as it
    stands now: what a POS back from a crash reads before it takes any other payment.

    No privacy code and no shopper: any till of the retailer may ask (another lane too),
    and the privacy code is only ever on the shopper's own receipt.
    """

    authorization_id: str
    status: PaymentStatus
    amount_minor: int
    currency: str
    basket_reference: str
    created_at: datetime
    receipt_id: str | None = None
    decline_reason: str | None = None
    step_up: str | None = None
    step_up_expires_at: datetime | None = None

    @property
    def approved(self) -> bool:
        return self.status is PaymentStatus.APPROVED

    def blocks_another_payment(self, now: datetime | None = None) -> bool:
        """Whether the POS must take no other payment for the order: this one is
        approved (the order is paid), or waits for a phone or PIN step-up that can still
        be answered, so it may yet be. Declined, a ``claim`` step-up (nothing was
        charged: the backend asks for a new payment with a claim) or a step-up past its
        window (the backend answers it no more) do not block.

        ``now`` is the till's time (default: the wall clock, UTC). The window is judged
        with the protocol's clock skew added, since the till's clock may run ahead of
        the backend's by that much."""
        if self.status is PaymentStatus.APPROVED:
            return True
        if self.status is PaymentStatus.DECLINED or self.step_up == wire.StepUpKind.CLAIM.value:
            return False
        if self.step_up_expires_at is None:
            return True  # a window the till cannot judge: wait, never charge twice
        now = now if now is not None else datetime.now(timezone.utc)
        return now <= self.step_up_expires_at + timedelta(seconds=wire.MAX_CLOCK_SKEW_SECONDS)

    @property
    def amount(self) -> str:
        return format_money(self.amount_minor, self.currency)

    @classmethod
    def from_wire(cls, answer: wire.AuthorizationResponse) -> OrderPayment:
        return cls(
            authorization_id=answer.authorization_id,
            status=PaymentStatus(answer.status.value),
            amount_minor=answer.amount_minor,
            currency=answer.currency,
            basket_reference=answer.basket_reference,
            created_at=answer.created_at,
            receipt_id=answer.receipt_id,
            decline_reason=answer.decline_reason.value if answer.decline_reason else None,
            step_up=answer.step_up.kind.value if answer.step_up else None,
            step_up_expires_at=answer.step_up.expires_at if answer.step_up else None,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class EnrollmentResult:
    """A shopper is enrolled. Show them ``privacy_code`` (see/delete their data)."""

    shopper_id: str
    privacy_code: str = field(repr=False)  # as for Receipt.privacy_code
    masked_payment_method: str
    enrolled_at: datetime
    retention_days: int

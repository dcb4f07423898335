"""The sale on the lane: facepay's basket lines under the POS's own sale id.

The kiosk has no money type of its own: lines are ``facepay.BasketLine`` and the amount is
formatted by ``facepay.format_money``. A :class:`Sale` may be empty (the shopper has not
scanned anything yet), which a ``facepay.Basket`` may not, so the basket is built only when
the shopper pays (:meth:`Sale.basket`), with the sale id as its ``reference``: that is the
order id the backend's ledger records and the till's already-paid guard checks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from facepay import Basket, BasketLine, format_money

__all__ = ["Sale"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Sale:
    """One shopper's sale as the POS reports it.

    ``age_restricted`` names the SKUs on it that staff must approve before payment;
    ``age_approved`` is set when they did.
    """

    sale_id: str
    currency: str
    lines: tuple[BasketLine, ...] = ()
    age_restricted: frozenset[str] = frozenset()
    age_approved: bool = False

    @property
    def total_minor(self) -> int:
        return sum(line.total_minor for line in self.lines)

    @property
    def item_count(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def amount_text(self) -> str:
        return format_money(self.total_minor, self.currency)

    @property
    def is_empty(self) -> bool:
        return not self.lines

    @property
    def needs_age_check(self) -> bool:
        on_sale = {line.sku for line in self.lines}
        return bool(on_sale & self.age_restricted) and not self.age_approved

    def basket(self) -> Basket:
        """The facepay basket to pay: the sale id is the order reference."""
        return Basket(reference=self.sale_id, currency=self.currency, lines=self.lines)

    def without_line(self, sku: str) -> Sale:
        return replace(self, lines=tuple(line for line in self.lines if line.sku != sku))

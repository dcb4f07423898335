"""The demo's simulated POS (Qt): the catalogue as the barcode scanner, a card terminal
that approves every tap. A real POS talks to :class:`kiosk_app.pos.PosBridge` itself."""

from __future__ import annotations

import uuid

from PyQt6.QtCore import QObject

from facepay import BasketLine
from kiosk_app.demo._catalogue import DEMO_CATALOGUE, Product
from kiosk_app.model import Outcome, OutcomeKind, Sale
from kiosk_app.pos import PosBridge

__all__ = ["DemoPos"]


class DemoPos(QObject):
    def __init__(
        self,
        bridge: PosBridge,
        *,
        currency: str = "EUR",
        products: tuple[Product, ...] = DEMO_CATALOGUE,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.currency = currency
        self.products = {p.sku: p for p in products}
        self.quantities: dict[str, int] = {}
        self.sale_id = _new_sale_id()
        self.card_requests: list[str] = []
        self.completed: list[tuple[str, Outcome]] = []
        bridge.basket_edit_requested.connect(self.change)
        bridge.line_void_requested.connect(self._void)
        bridge.card_payment_requested.connect(self._on_card_requested)
        bridge.sale_completed.connect(self._on_sale_completed)
        bridge.session_reset.connect(self.clear)

    def sale(self) -> Sale:
        lines = tuple(
            BasketLine(
                sku=sku,
                description=self.products[sku].name,
                quantity=q,
                unit_price_minor=self.products[sku].price_minor,
            )
            for sku, q in self.quantities.items()
            if q > 0
        )
        restricted = frozenset(p.sku for p in self.products.values() if p.age_restricted)
        return Sale(
            sale_id=self.sale_id, currency=self.currency, lines=lines, age_restricted=restricted
        )

    def scan(self, sku: str) -> None:
        self.change(sku, 1)

    def change(self, sku: str, delta: int) -> None:
        if sku not in self.products:
            return
        q = self.quantities.get(sku, 0) + delta
        if q > 0:
            self.quantities[sku] = q
        else:
            self.quantities.pop(sku, None)
        self.bridge.push_basket(self.sale())

    def _void(self, sale_id: str, sku: str) -> None:
        if sale_id == self.sale_id and sku in self.quantities:
            self.change(sku, -self.quantities[sku])

    def clear(self) -> None:
        self.quantities.clear()
        self.sale_id = _new_sale_id()

    def _on_card_requested(self, sale_id: str, sale: Sale) -> None:
        # The shopper "taps" on the card screen: see KioskController.tap_card.
        self.card_requests.append(sale_id)

    def approve_card(self, sale_id: str) -> None:
        self.bridge.report_card_result(sale_id, True, "Visa •••• 4242")

    def _on_sale_completed(self, sale_id: str, outcome: Outcome) -> None:
        if outcome.kind is OutcomeKind.APPROVED:
            self.completed.append((sale_id, outcome))


def _new_sale_id() -> str:
    # The POS's order id: it becomes Basket.reference (1-64 of A-Z a-z 0-9 . _ : / # -).
    return f"demo-{uuid.uuid4().hex[:20]}"

"""The kiosk's integration interface with the till's POS software, and the demo POS.

A retailer's POS owns the basket and the card terminal; the kiosk owns the shopper's screen
and face payment. They meet in :class:`PosBridge`, a ``QObject`` whose methods are safe to
call from any thread (they only emit signals, which Qt queues to the UI thread):

POS -> kiosk
    ``push_basket(snapshot)`` whenever the basket changes (scan, void, price override);
    ``scan_claim(claim)`` when the scanner reads a loyalty card or the app's QR code;
    ``report_card_result(sale_id, approved, masked_method)`` when the card terminal answers.
kiosk -> POS (signals)
    ``card_payment_requested(sale_id, snapshot)``: take a card payment for this sale, once;
    ``sale_completed(sale_id, outcome)``: the sale is paid (face or card), print and close it;
    ``basket_edit_requested(sku, delta)``: the shopper asked to remove an item;
    ``session_reset()``: the kiosk went back to idle (timeout, cancel, done).

:class:`DemoPos` is the simulated till used by ``facepay-kiosk --demo``: a product list that
acts as the barcode scanner and a card terminal that approves every tap.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from PyQt6.QtCore import QObject, pyqtSignal

from kiosk_app.flow import BasketLine, BasketSnapshot, Claim, Outcome, OutcomeKind

__all__ = ["DEMO_PRODUCTS", "DemoPos", "PosBridge", "Product"]


class PosBridge(QObject):
    basket_changed = pyqtSignal(str, object)  # sale_id, BasketSnapshot
    claim_scanned = pyqtSignal(object)  # Claim
    card_result = pyqtSignal(str, bool, str)  # sale_id, approved, masked method
    card_payment_requested = pyqtSignal(str, object)  # sale_id, BasketSnapshot
    sale_completed = pyqtSignal(str, object)  # sale_id, Outcome
    basket_edit_requested = pyqtSignal(str, int)  # sku, delta
    session_reset = pyqtSignal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.sale_id = uuid.uuid4().hex

    # -- called by the POS --------------------------------------------------------------
    def push_basket(self, snapshot: BasketSnapshot, sale_id: str | None = None) -> None:
        if sale_id:
            self.sale_id = sale_id
        self.basket_changed.emit(self.sale_id, snapshot)

    def scan_claim(self, claim: Claim) -> None:
        self.claim_scanned.emit(claim)

    def report_card_result(self, sale_id: str, approved: bool, masked_method: str = "") -> None:
        self.card_result.emit(sale_id, approved, masked_method)

    # -- called by the kiosk ------------------------------------------------------------
    def new_sale(self) -> str:
        self.sale_id = uuid.uuid4().hex
        return self.sale_id


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    name: str
    price_minor: int


DEMO_PRODUCTS: tuple[Product, ...] = (
    Product("4011", "Bananas 1 kg", 119),
    Product("5000112637922", "Sparkling water 1.5 l", 89),
    Product("4006381333931", "Wholegrain bread", 249),
    Product("8712100837516", "Free-range eggs x6", 299),
    Product("5057172236511", "Coffee beans 500 g", 749),
)


class DemoPos(QObject):
    """A simulated till: a product list as the scanner, a card terminal that approves."""

    def __init__(
        self,
        bridge: PosBridge,
        *,
        currency: str = "EUR",
        products: tuple[Product, ...] = DEMO_PRODUCTS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.currency = currency
        self.products = {p.sku: p for p in products}
        self.quantities: dict[str, int] = {}
        self.card_requests: list[str] = []
        self.completed: list[tuple[str, Outcome]] = []
        bridge.basket_edit_requested.connect(self.change)
        bridge.card_payment_requested.connect(self._on_card_requested)
        bridge.sale_completed.connect(self._on_sale_completed)
        bridge.session_reset.connect(self.clear)

    def snapshot(self) -> BasketSnapshot:
        lines = tuple(
            BasketLine(
                sku=sku,
                name=self.products[sku].name,
                quantity=q,
                unit_price_minor=self.products[sku].price_minor,
            )
            for sku, q in self.quantities.items()
            if q > 0
        )
        return BasketSnapshot(lines=lines, currency=self.currency)

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
        self.bridge.push_basket(self.snapshot())

    def clear(self) -> None:
        self.quantities.clear()
        self.bridge.new_sale()

    def _on_card_requested(self, sale_id: str, snapshot: BasketSnapshot) -> None:
        # The shopper "taps" on the card screen: see KioskController.tap_card in demo mode.
        self.card_requests.append(sale_id)

    def approve_card(self, sale_id: str) -> None:
        self.bridge.report_card_result(sale_id, True, "VISA •••• 4242")

    def _on_sale_completed(self, sale_id: str, outcome: Outcome) -> None:
        if outcome.kind is OutcomeKind.APPROVED:
            self.completed.append((sale_id, outcome))

"""The kiosk's integration interface with the till's POS software.

A retailer's POS owns the basket and the card terminal; the kiosk owns the shopper's screen
and face payment. They meet in :class:`PosBridge`, a ``QObject`` whose methods are safe to
call from any thread (they only emit signals, which Qt queues to the UI thread):

POS -> kiosk
    ``push_basket(sale)`` whenever the basket changes (scan, void, price override): a
    :class:`kiosk_app.model.Sale` whose ``sale_id`` is the POS's own order id (it becomes the
    payment's ``Basket.reference`` in the backend's ledger);
    ``scan_claim(claim)`` when the scanner reads a loyalty card or the app's QR code
    (a ``facepay.Claim``);
    ``report_card_result(sale_id, approved, masked_method)`` when the card terminal answers.
kiosk -> POS (signals)
    ``card_payment_requested(sale_id, sale)``: take a card payment for this sale, once;
    ``sale_completed(sale_id, outcome)``: the sale is paid (face or card), print and close it;
    ``basket_edit_requested(sku, delta)``: the shopper asked to remove an item;
    ``line_void_requested(sale_id, sku)``: staff voided a line at the kiosk;
    ``session_reset()``: the kiosk went back to idle: close or park this sale, open the next.

The demo's simulated POS is :class:`kiosk_app.demo.pos.DemoPos`.
"""

from __future__ import annotations

from PyQt6.QtCore import QObject, pyqtSignal

from facepay import Claim
from kiosk_app.model import Sale

__all__ = ["PosBridge"]


class PosBridge(QObject):
    basket_changed = pyqtSignal(str, object)  # sale_id, Sale
    claim_scanned = pyqtSignal(object)  # facepay.Claim
    card_result = pyqtSignal(str, bool, str)  # sale_id, approved, masked method
    card_payment_requested = pyqtSignal(str, object)  # sale_id, Sale
    sale_completed = pyqtSignal(str, object)  # sale_id, Outcome
    basket_edit_requested = pyqtSignal(str, int)  # sku, delta
    line_void_requested = pyqtSignal(str, str)  # sale_id, sku
    session_reset = pyqtSignal()

    # -- called by the POS --------------------------------------------------------------
    def push_basket(self, sale: Sale) -> None:
        self.basket_changed.emit(sale.sale_id, sale)

    def scan_claim(self, claim: Claim) -> None:
        self.claim_scanned.emit(claim)

    def report_card_result(self, sale_id: str, approved: bool, masked_method: str = "") -> None:
        self.card_result.emit(sale_id, approved, masked_method)

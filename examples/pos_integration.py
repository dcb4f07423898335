"""POS integration: a point-of-sale system hands facepay a basket and gets a receipt back.

This is the shape of the code a retailer's POS adds (see docs/integration.md):

1. build one ``Till`` per checkout lane when the POS starts (the face models load once);
2. when the cashier presses "pay by face", turn the POS's own basket into a
   ``facepay.Basket`` (integer minor units) and call ``till.pay(basket, camera, claim=...)``;
3. act on the ``Receipt``: approved, declined or step-up; on ``CheckoutFailedError`` nothing
   was charged, offer the card terminal; on ``PaymentUnansweredError`` the answer was lost:
   reconcile first (``till.reconcile(exc.pending)``) and never charge the card meanwhile;
   on ``OrderAlreadyPaidError`` the order was paid already (at another lane, or before a
   crash): record it paid and take no card; on any other ``BackendError`` the backend
   refused before charging: offer the card.

To run on its own it first enrolls a demo shopper in the embedded sandbox, with a clip as
the camera (the liveness challenge is named explicitly because a recorded clip cannot
follow random prompts; a real till uses the backend's random plan)::

    .venv/bin/python examples/pos_integration.py [CLIP] [--challenge blink] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facepay import (
    BackendError,
    Basket,
    BasketLine,
    CheckoutEvent,
    CheckoutFailedError,
    Claim,
    ClaimKind,
    FacePayError,
    LivenessProgressed,
    OrderAlreadyPaidError,
    PaymentStatus,
    PaymentUnansweredError,
    QualityPrompt,
    Receipt,
    Sandbox,
    StateChanged,
    Till,
    consent_now,
    fixed_liveness_plan,
    open_source,
    quiet_native_logs,
)
from facepay.liveness import LivenessChallenge

HERE = Path(__file__).resolve().parent


# --------------------------------------------------------------------------- the POS's side


@dataclass
class PosItem:
    """How the POS already models a scanned item (prices in cents, as most POS do)."""

    ean: str
    name: str
    qty: int
    price_cents: int


@dataclass
class PosOrder:
    order_id: str
    currency: str
    items: list[PosItem]


def to_basket(order: PosOrder) -> Basket:
    """The one mapping a POS writes: its order -> facepay's Basket (minor units)."""
    return Basket(
        reference=order.order_id,
        currency=order.currency,
        lines=tuple(
            BasketLine(
                sku=i.ean, description=i.name, quantity=i.qty, unit_price_minor=i.price_cents
            )
            for i in order.items
        ),
    )


def show_on_customer_display(event: CheckoutEvent) -> None:
    """A POS without a kiosk UI can still show the prompts on its customer display."""
    if isinstance(event, StateChanged):
        print(f"  [display] {event.state.value}", file=sys.stderr)
    elif isinstance(event, QualityPrompt):
        print(
            f"  [display] please adjust: {', '.join(r.value for r in event.reasons)}",
            file=sys.stderr,
        )
    elif isinstance(event, LivenessProgressed) and event.challenge:
        print(f"  [display] {event.challenge} ({event.progress:.0%})", file=sys.stderr)


def already_paid(order: PosOrder, exc: OrderAlreadyPaidError) -> dict[str, Any]:
    """The order was paid by an earlier payment: the POS records that one, takes no card."""
    return {
        "order": order.order_id,
        "paid": True,
        "already_paid": True,
        "fallback": None,
        "why": "order_already_paid",
        "authorization_id": exc.authorization_id,
        "receipt_id": exc.receipt_id,
    }


def pay_by_face(till: Till, order: PosOrder, camera: Any, phone: str) -> dict[str, Any]:
    """What the POS does when the shopper chooses face pay. Returns the POS's own record."""
    basket = to_basket(order)
    claim = Claim(kind=ClaimKind.PHONE, value=phone)
    try:
        receipt: Receipt = till.pay(basket, camera, claim=claim, on_event=show_on_customer_display)
    except CheckoutFailedError as exc:
        # Ended before the backend decided: nothing charged. Offer the card terminal.
        return {"order": order.order_id, "paid": False, "fallback": "card", "why": exc.reason}
    except OrderAlreadyPaidError as exc:
        # Paid already (another lane, before a crash): NOT the card, the order is paid.
        return already_paid(order, exc)
    except PaymentUnansweredError as exc:
        # The answer was lost (or was not this order's): the payment may have gone
        # through. Reconcile before anything else; the same key can never charge twice.
        try:
            receipt = till.reconcile(exc.pending)
        except OrderAlreadyPaidError as paid:
            # It never arrived, and another payment paid the order meanwhile.
            return already_paid(order, paid)
        except BackendError as again:
            if exc.pending in till.unanswered:
                # Still unknown: no card for this order now. It stays in till.unanswered;
                # reconcile it again later (or ask: till.order_payments(order.order_id)).
                return {"order": order.order_id, "paid": None, "fallback": None, "why": again.code}
            # The backend refused it for good: nothing was charged.
            return {"order": order.order_id, "paid": False, "fallback": "card", "why": again.code}
    except BackendError as exc:
        # Refused before anything was charged (a lockout, a revoked till, the backend down
        # before the payment was sent): offer the card terminal.
        return {"order": order.order_id, "paid": False, "fallback": "card", "why": exc.code}
    if receipt.status is PaymentStatus.APPROVED:
        return {
            "order": order.order_id,
            "paid": True,
            "amount_minor": receipt.amount_minor,
            "currency": receipt.currency,
            "method": receipt.masked_payment_method,
            "receipt_id": receipt.receipt_id,
            "authorization_id": receipt.authorization_id,
            "privacy_code": receipt.privacy_code,
            "receipt_lines": list(receipt.lines()),
        }
    # Declined or step-up: the POS offers the card terminal (a kiosk would ask the
    # shopper for 4 digits on a step-up, the last 4 of their phone or, for step_up "pin",
    # their facepay PIN, and pass them to CheckoutSession.answer_step_up).
    return {
        "order": order.order_id,
        "paid": False,
        "fallback": "card",
        "why": receipt.decline_reason or receipt.step_up,
    }


# --------------------------------------------------------------------------- demo harness


def default_clip() -> Path:
    eval_dir = Path(os.environ.get("FACEPAY_EVAL_DIR", HERE.parent.parent / "shared" / "eval"))
    return eval_dir / "video" / "single_face.mp4"


def demo_order() -> PosOrder:
    return PosOrder(
        order_id="store-7/lane-2/000123",
        currency="EUR",
        items=[
            PosItem(ean="4006381333931", name="Coffee beans 500 g", qty=1, price_cents=899),
            PosItem(ean="4001686301265", name="Oat milk 1 l", qty=2, price_cents=219),
            PosItem(ean="4311501426011", name="Bananas", qty=1, price_cents=149),
        ],
    )


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="a POS pays a basket by face")
    parser.add_argument("clip", nargs="?", type=Path, default=None)
    parser.add_argument(
        "--challenge", action="append", default=None, choices=[c.value for c in LivenessChallenge]
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="also show the native libraries' logs"
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    if argv is None and not args.verbose:
        quiet_native_logs()  # mediapipe's and TensorFlow Lite's log lines only with -v
    clip = args.clip or default_clip()
    if not clip.is_file():
        print(f"no clip at {clip}: pass one, or set FACEPAY_EVAL_DIR", file=sys.stderr)
        return 2
    try:
        with open_source(clip):  # a file that is not a video fails here, before any setup
            pass
    except FacePayError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 2
    phone = "+4930123456789"
    with Sandbox() as sandbox:
        device = sandbox.provision_device(store_id="store-7", lane_id="lane-2")
        with Till.connect(
            sandbox.base_url,
            device_key=device.key,
            device_id=device.device_id,
            liveness=fixed_liveness_plan(*(args.challenge or ["blink"])),
        ) as till:
            # Demo setup: the shopper enrolled earlier (at a kiosk or in the retailer's app).
            with open_source(clip) as camera:
                till.enroll(
                    camera,
                    consent=consent_now("2026-01-en"),
                    claim=Claim(kind=ClaimKind.PHONE, value=phone),
                    payment_method_token="tok_mastercard_5555",
                )
            # The POS side: a basket in, a receipt out.
            with open_source(clip) as camera:
                record = pay_by_face(till, demo_order(), camera, phone)
        record["ledger"] = [
            {
                "id": r["id"],
                "state": r["state"],
                "amount_minor": r["amount_minor"],
                "basket_reference": r["basket_reference"],
            }
            for r in sandbox.ledger()
        ]
    if args.json:
        print(json.dumps(record, indent=2))
    elif record.get("already_paid"):
        print(f"order already paid (authorization {record['authorization_id']}): no card")
    elif record["paid"]:
        print("\n".join(record["receipt_lines"]))
    elif record["paid"] is None:
        print(f"payment unanswered ({record['why']}): reconcile it, do not take the card")
    else:
        print(f"not paid by face ({record['why']}): use the card terminal")
    return 0 if record["paid"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

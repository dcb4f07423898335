"""Quick start: enroll a shopper, then pay with their face. Headless, no camera needed.

A recorded clip stands in for the till's camera, and the reference payment backend runs
in this process on a free loopback port (the embedded sandbox). Run it from the
repository root::

    .venv/bin/python examples/quickstart.py      # plays ../shared/eval/video/single_face.mp4
    .venv/bin/python examples/quickstart.py CLIP.mp4 --challenge blink --json

A note on liveness: a real till asks for challenges drawn at random from the backend's
session seed (``Till``'s default), which is what stops a pre-recorded video; every such
plan holds a head turn, during which the liveness check also measures 3D parallax. This
clip was not recorded in answer to any prompt, so the example asks for the challenge the
clip happens to perform: ``blink`` for single_face.mp4 and d9.mp4. The liveness verdict is
still computed from the frames (a plan without a turn skips the parallax check, and says
so in its evidence).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from facepay import (
    Basket,
    BasketLine,
    CheckoutFailedError,
    Claim,
    ClaimKind,
    FacePayError,
    Sandbox,
    Till,
    consent_now,
    fixed_liveness_plan,
    open_source,
    quiet_native_logs,
)
from facepay.liveness import LivenessChallenge

HERE = Path(__file__).resolve().parent


def default_clip() -> Path:
    eval_dir = Path(os.environ.get("FACEPAY_EVAL_DIR", HERE.parent.parent / "shared" / "eval"))
    return eval_dir / "video" / "single_face.mp4"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "clip",
        nargs="?",
        type=Path,
        default=None,
        help="video file used as the camera (default: single_face.mp4)",
    )
    parser.add_argument(
        "--challenge",
        action="append",
        default=None,
        choices=[c.value for c in LivenessChallenge],
        help="liveness challenge the clip performs (repeatable; default blink)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="also show the native libraries' logs"
    )
    args = parser.parse_args(argv)
    if argv is None and not args.verbose:
        quiet_native_logs()  # mediapipe's and TensorFlow Lite's log lines only with -v
    clip = args.clip or default_clip()
    challenges = args.challenge or ["blink"]
    if not clip.is_file():
        print(f"no clip at {clip}: pass one, or set FACEPAY_EVAL_DIR", file=sys.stderr)
        return 2
    try:
        with open_source(clip):  # a file that is not a video fails here, before any setup
            pass
    except FacePayError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 2

    # The shopper's claim: the phone number they type on the till's keypad.
    claim = Claim(kind=ClaimKind.PHONE, value="+4915112345678")
    basket = Basket(
        reference="quickstart-0001",
        currency="EUR",
        lines=(
            BasketLine(
                sku="4006381333931",
                description="Coffee beans 500 g",
                quantity=1,
                unit_price_minor=899,
            ),
            BasketLine(
                sku="4001686301265", description="Oat milk 1 l", quantity=2, unit_price_minor=219
            ),
        ),
    )

    with Sandbox() as sandbox:
        # Register this "till" with the backend: an Ed25519 key signs every request.
        device = sandbox.provision_device()
        with Till.connect(
            sandbox.base_url,
            device_key=device.key,
            device_id=device.device_id,
            # The till believes only answers signed by the backend's answer key; the
            # embedded sandbox hands its pin over (a real backend's comes out of band).
            client_config=sandbox.client_config(),
            liveness=fixed_liveness_plan(*challenges),
        ) as till:
            try:
                # 1. Enrollment: explicit consent, a card token (never a card number), the
                #    claim, and a template fused from the best live frames, sealed to the
                #    backend. No image leaves this process.
                with open_source(clip) as camera:
                    enrolled = till.enroll(
                        camera,
                        consent=consent_now("2026-01-en"),
                        claim=claim,
                        payment_method_token="tok_visa_4242",
                    )
                # 2. Payment: the same person, a new session, a new live capture.
                with open_source(clip) as camera:
                    receipt = till.pay(basket, camera, claim=claim)
            except CheckoutFailedError as exc:
                print(f"no payment: {exc.reason}", file=sys.stderr)
                return 1
            ledger = sandbox.ledger()

    if args.json:
        print(
            json.dumps(
                {
                    "enrolled": {
                        "shopper_id": enrolled.shopper_id,
                        "masked_payment_method": enrolled.masked_payment_method,
                    },
                    "receipt": {
                        "status": receipt.status.value,
                        "amount_minor": receipt.amount_minor,
                        "currency": receipt.currency,
                        "masked_payment_method": receipt.masked_payment_method,
                        "receipt_id": receipt.receipt_id,
                        "authorization_id": receipt.authorization_id,
                        "privacy_code": receipt.privacy_code,
                    },
                    "ledger": [
                        {"id": r["id"], "state": r["state"], "amount_minor": r["amount_minor"]}
                        for r in ledger
                    ],
                },
                indent=2,
            )
        )
    else:
        print(f"Enrolled {enrolled.masked_payment_method} (privacy code {enrolled.privacy_code})")
        print()
        print("\n".join(receipt.lines()))
    return 0 if receipt.approved else 1


if __name__ == "__main__":
    raise SystemExit(main())

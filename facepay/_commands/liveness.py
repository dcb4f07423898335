"""``facepay liveness --camera SOURCE``: one headless liveness session.

SOURCE is a camera index (0), a device (/dev/video0), a video file or an image folder. A
video is read at its own pace (its timestamps are the session's clock), not in real time,
so a recorded session scores the same on any machine:

    facepay liveness --camera ../shared/eval/video/d12.mp4 --challenges turn_left,turn_right --json
    facepay liveness --camera 0                      # a random plan, on the first camera

Without ``--challenges`` the plan is random: three challenges (``--count``, the same
default as a till's), from ``--seed`` (hex, at least 8 bytes) or fresh random bytes, as at
a till where the backend's session nonce seeds it. Challenge names: blink, turn_left,
turn_right, look_up, open_mouth, smile. **Left and right are the shopper's own**: turn_left
means the shopper turns towards their own left hand (their face moves to the right of an
unmirrored camera image).

Prints {"decision", "challenges", "reasons", "evidence"}; exit status 0 when live, 3 when
not live, 4 when inconclusive, 2 for a mistake in the command (one line on stderr).
Evidence is numbers and flags only: no image, landmark or template is printed or written.
"""

from __future__ import annotations

import argparse
import secrets
from typing import Any

from facepay._commands._numbers import not_negative
from facepay.config import LIVENESS_PLAN_SIZES

__all__ = ["register"]

EXIT = {"live": 0, "not_live": 3, "inconclusive": 4}
# ChallengePlan.from_seed refuses shorter seeds (a session nonce is longer).
MIN_SEED_BYTES = 8


def register(subparsers: Any, group_parser: argparse.ArgumentParser | None) -> None:
    from facepay.cli import add_json_flag
    from facepay.config import CheckoutConfig

    parser = subparsers.add_parser(
        "liveness",
        help="run one liveness session (challenges, parallax, replay/injection checks) "
        "on a camera, video file or image folder",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--camera", required=True, metavar="SOURCE", help="camera index, device, video or folder"
    )
    parser.add_argument(
        "--challenges",
        default=None,
        help="comma-separated plan, e.g. blink,turn_left (default: a random plan)",
    )
    parser.add_argument(
        "--count",
        type=int,
        default=None,
        choices=LIVENESS_PLAN_SIZES,
        help=f"random plan size (default: {CheckoutConfig().liveness_challenges}, or "
        "FACEPAY_CHECKOUT_LIVENESS_CHALLENGES: the size a till draws)",
    )
    parser.add_argument(
        "--seed",
        default=None,
        metavar="HEX",
        help="seed for the random plan, at least 8 bytes as hex (16 hex digits), as the "
        "backend's session nonce is (reproducible)",
    )
    parser.add_argument(
        "--start",
        type=not_negative,
        default=0.0,
        metavar="S",
        help="start the session S seconds in",
    )
    parser.add_argument(
        "--pad-model", default=None, metavar="CARD.json", help="add a passive ONNX PAD model"
    )
    add_json_flag(parser)
    parser.set_defaults(handler=_run)


def _human(payload: dict[str, Any]) -> str:
    lines = [f"decision: {payload['decision']}", f"plan: {', '.join(payload['challenges'])}"]
    if payload["reasons"]:
        lines.append(f"reasons: {', '.join(payload['reasons'])}")
    for k, v in sorted(payload["evidence"].items()):
        lines.append(f"  {k}: {v}")
    return "\n".join(lines)


def _seed(text: str | None) -> bytes:
    from facepay.errors import ConfigurationError

    if text is None:
        return secrets.token_bytes(32)
    try:
        seed = bytes.fromhex(text)
    except ValueError:
        raise ConfigurationError(f"--seed {text!r} is not hex (e.g. 0011223344556677)") from None
    if len(seed) < MIN_SEED_BYTES:
        raise ConfigurationError(
            f"--seed is {len(seed)} bytes; a plan seed is at least {MIN_SEED_BYTES} bytes "
            f"({2 * MIN_SEED_BYTES} hex digits), like the backend's session nonce"
        )
    return seed


def _run(args: argparse.Namespace) -> int:
    from facepay.capture import open_source
    from facepay.cli import emit
    from facepay.config import CheckoutConfig, FaceDetectorConfig, LivenessConfig
    from facepay.errors import FacePayError
    from facepay.eval._liveness import run_session
    from facepay.liveness import ChallengePlan, PadModel, PadModelCard, parse_challenges
    from facepay.vision import FrameAnalyzer

    if args.challenges:
        try:
            plan = parse_challenges(args.challenges)
        except ValueError as exc:
            raise FacePayError(str(exc)) from None
    else:
        count = args.count or CheckoutConfig.from_env().liveness_challenges
        if count not in LIVENESS_PLAN_SIZES:  # only the environment brings others here
            raise FacePayError(
                f"FACEPAY_CHECKOUT_LIVENESS_CHALLENGES: a random plan has 2 to 5 challenges, "
                f"not {count} (or give --count)"
            )
        plan = ChallengePlan.from_seed(_seed(args.seed), count=count)
    pad = (
        PadModel.from_model_card(PadModelCard.from_json(args.pad_model)) if args.pad_model else None
    )
    config = LivenessConfig.from_env()
    with (
        open_source(args.camera) as source,
        FrameAnalyzer(FaceDetectorConfig.from_env()) as analyzer,
    ):
        verdict = run_session(
            source.frames(),
            plan,
            analyzer,
            config=config,
            device_name=source.device_name,
            pad_model=pad,
            start_s=args.start,
        )
    payload = {
        "decision": verdict.decision.value,
        "challenges": list(verdict.challenges),
        "reasons": list(verdict.reasons),
        "evidence": dict(verdict.evidence),
    }
    emit(args, payload, _human)
    return EXIT[verdict.decision.value]

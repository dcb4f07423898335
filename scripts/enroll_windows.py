"""Enroll from every window of a clip through the real till, with and without the hand check.

docs/quality.md, "A hand over the face": what enrollment does on each ``--segment-s``
window of a clip (default 3 s), as ``facepay eval till-visits`` enrolls (the till's own
quality gate, liveness with a fixed one-challenge plan tried in the clip's order,
enrollment rule, fusion and sealing, against an in-process sandbox backend), once with
the till's hand check and once with a stand-in that never sees a hand.

Usage: ``python scripts/enroll_windows.py CLIP [--segment-s 3]`` (a JSON document).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from facepay import Claim, ClaimKind, Till, consent_now
from facepay.checkout import NotEnrolledError
from facepay.errors import BackendError, CheckoutFailedError
from facepay.eval._till_visits import challenges_for, clip_duration_s, clip_segments
from facepay.server import Sandbox
from facepay.testing.clips import ClipCamera, fixed_liveness_plan
from facepay.types import FaceObservation, Frame, HandCoverage
from facepay.vision import DlibResNetEmbedder, FrameAnalyzer


class _Window(ClipCamera):
    def __init__(self, clip: Path, start_s: float, end_s: float) -> None:
        super().__init__(clip, start_s=start_s)
        self.end_s = end_s

    def frames(self) -> Iterator[Frame]:
        for frame in super().frames():
            if frame.timestamp >= self.end_s:
                return
            yield frame


class _NoHand:
    """The till as it was before the hand check."""

    def measure(self, frame: Frame, face: FaceObservation) -> HandCoverage:
        return HandCoverage(fraction=0.0, hands=0, covered=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", type=Path)
    parser.add_argument("--segment-s", type=float, default=3.0)
    args = parser.parse_args(argv)
    segments = clip_segments(args.clip, clip_duration_s(args.clip), args.segment_s)
    out: dict[str, list[dict[str, str]]] = {"with_hand_check": [], "without": []}
    embedder = DlibResNetEmbedder()
    with (
        tempfile.TemporaryDirectory(prefix="facepay-enroll-windows-") as tmp,
        Sandbox(Path(tmp) / "till.db", key_dir=Path(tmp) / "keys") as sandbox,
        FrameAnalyzer() as analyzer,
    ):
        device = sandbox.provision_device()
        settings = (("with_hand_check", None, 2), ("without", _NoHand(), 3))
        for setting, hands, prefix in settings:
            for segment in segments:
                outcome = "not_enrolled"
                for challenge in challenges_for(args.clip.name):
                    camera = _Window(args.clip, segment.start_s, segment.end_s)
                    phone = f"+4915{prefix}{segment.index:03d}{len(out[setting]):05d}"
                    with Till.connect(
                        sandbox.base_url,
                        device_key=device.key,
                        device_id=device.device_id,
                        analyzer=analyzer,
                        embedder=embedder,
                        liveness=fixed_liveness_plan(challenge),
                        clock=camera.now,
                        hands=hands,
                    ) as till:
                        try:
                            till.enroll(
                                camera,
                                consent=consent_now("2026-01-en"),
                                claim=Claim(kind=ClaimKind.PHONE, value=phone),
                                payment_method_token="tok_visa_4242",
                            )
                            outcome = f"enrolled ({challenge})"
                            break
                        except NotEnrolledError as exc:
                            outcome = str(exc.reason)
                            if exc.quality_reasons:
                                outcome += ": " + ",".join(r.value for r in exc.quality_reasons)
                            if exc.reason is not None and exc.reason.value == "liveness_failed":
                                continue
                            break
                        except (CheckoutFailedError, BackendError) as exc:
                            outcome = type(exc).__name__
                            continue
                out[setting].append(
                    {"window": f"{segment.start_s:g}-{segment.end_s:g}s", "outcome": outcome}
                )
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

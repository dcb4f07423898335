"""Measure the hand-over-face check on the eval data (docs/quality.md, "A hand over the face").

Reads the evaluation folder at run time (``$FACEPAY_EVAL_DIR``, default ../shared/eval):

- every still of ``faces/`` and ``pad/live`` that passes the quality gate (image mode):
  a hand flagged on any of them is a false flag (there are no hands in them);
- every frame of each clip in ``video/`` whose face the gate returns (video mode): the
  coverage of each frame and which frames are flagged;
- for each clip, the CPU time of ``measure`` per frame (``time.process_time``, all threads).

Usage: ``python scripts/hand_coverage.py [--per-frame CLIP] [--skip-stills]`` (JSON on stdout).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from facepay import open_source
from facepay.capture import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from facepay.config import QualityConfig
from facepay.vision import FrameAnalyzer, HandCoverageDetector


def _stills(root: Path, hands: HandCoverageDetector) -> dict[str, object]:
    passed = flagged = 0
    flags: list[dict[str, object]] = []
    fractions: list[float] = []
    with FrameAnalyzer(mode="image") as analyzer:
        for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
            with open_source(str(path)) as source:
                for frame in source.frames():
                    report = analyzer.analyze(frame)
                    if not report.passed or report.face is None:
                        continue
                    passed += 1
                    cover = hands.measure(frame, report.face)
                    fractions.append(cover.fraction)
                    if cover.covered:
                        flagged += 1
                        flags.append(
                            {"file": str(path.relative_to(root)), "fraction": cover.fraction}
                        )
    return {
        "passed_gate": passed,
        "flagged": flagged,
        "flags": flags,
        "max_fraction": max(fractions, default=0.0),
        "with_a_hand_on_face": sum(f > 0 for f in fractions),
    }


def _clip(path: Path, hands: HandCoverageDetector, per_frame: bool) -> dict[str, object]:
    frames: list[dict[str, object]] = []
    cpu: list[float] = []
    with open_source(str(path)) as source, FrameAnalyzer(mode="video") as analyzer:
        for frame in source.frames():
            report = analyzer.analyze(frame)
            if report.face is None:
                continue
            start = time.process_time()
            cover = hands.measure(frame, report.face)
            cpu.append(time.process_time() - start)
            frames.append(
                {
                    "t": round(frame.timestamp, 2),
                    "passed_gate": report.passed,
                    "fraction": round(cover.fraction, 3),
                    "hands": cover.hands,
                    "covered": cover.covered,
                }
            )
    flagged = [f for f in frames if f["covered"]]
    times = [float(str(f["t"])) for f in flagged]
    fractions = [float(str(f["fraction"])) for f in flagged]
    out: dict[str, object] = {
        "frames_with_face": len(frames),
        "flagged": len(flagged),
        "flagged_passing_gate": sum(bool(f["passed_gate"]) for f in flagged),
        "flagged_span_s": [min(times), max(times)] if times else None,
        "flagged_fraction_range": [min(fractions), max(fractions)] if fractions else None,
        "cpu_ms_median": round(1000 * float(np.median(cpu)), 1) if cpu else None,
        "cpu_ms_p95": round(1000 * float(np.percentile(cpu, 95)), 1) if cpu else None,
    }
    if per_frame:
        out["frames"] = frames
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-dir", default=os.environ.get("FACEPAY_EVAL_DIR", "../shared/eval"))
    parser.add_argument("--per-frame", action="append", default=[], help="clip name")
    parser.add_argument("--skip-stills", action="store_true")
    args = parser.parse_args(argv)
    root = Path(args.eval_dir)
    config = QualityConfig.from_env()
    result: dict[str, object] = {"max_hand_face_coverage": config.max_hand_face_coverage}
    with HandCoverageDetector(config) as hands:
        if not args.skip_stills:
            for name in ("faces", "pad/live"):
                result[name] = _stills(root / name, hands)
        clips = sorted(p for p in (root / "video").iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        for path in clips:
            result[f"video/{path.name}"] = _clip(path, hands, path.name in args.per_frame)
    json.dump(result, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``facepay eval verify DIR``: verification accuracy of the default embedder.

DIR holds one subfolder per identity (stills). With ``--fused K`` DIR holds video clips
(one person per clip) and templates are fused from K consecutive usable frames, as at a
till; genuine pairs are windows of the same person, impostor pairs windows of different
people. See docs/accuracy.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(subparsers: Any, group_parser: argparse.ArgumentParser | None = None) -> None:
    from facepay.cli import add_json_flag

    parser = subparsers.add_parser(
        "verify",
        help="genuine/impostor pairs, EER and FMR/FNMR at the shipped threshold",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("dir", type=Path, help="folder: <identity>/<images> or video clips")
    add_json_flag(parser)
    parser.add_argument(
        "--fused",
        type=int,
        metavar="K",
        default=None,
        help="DIR holds clips: compare templates fused from K frames (as at a till)",
    )
    parser.add_argument(
        "--same-person",
        action="append",
        default=[],
        metavar="CLIP,CLIP,...",
        help="with --fused: clips that show the same person (repeatable)",
    )
    parser.add_argument(
        "--step", type=int, default=1, help="with --fused: use every STEP-th frame (default 1)"
    )
    parser.add_argument(
        "--identity-pattern",
        metavar="REGEX",
        default=None,
        help="stills sit directly in DIR; the regex's first group of a file name is its identity",
    )
    parser.add_argument(
        "--no-quality-gate",
        action="store_true",
        help="with --fused: keep every confident near-frontal face, not only gate-passed frames",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="report FMR/FNMR at this distance instead of the shipped default",
    )
    parser.add_argument(
        "--closest",
        type=int,
        default=0,
        metavar="N",
        help="also list the N closest impostor pairs (who could be mistaken for whom)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from facepay.cli import emit, progress
    from facepay.config import EmbedderConfig, FaceDetectorConfig, QualityConfig
    from facepay.errors import FacePayError
    from facepay.eval._verify import (
        closest_impostors,
        enroll_clips,
        enroll_stills,
        pair_scores,
        verification_report,
    )
    from facepay.vision import DlibResNetEmbedder, FaceMeshDetector, FrameAnalyzer

    root: Path = args.dir
    if not root.is_dir():
        raise FacePayError(f"{root} is not a folder")
    embedder = DlibResNetEmbedder(EmbedderConfig.from_env())
    threshold = args.threshold if args.threshold is not None else embedder.default_threshold
    detector_config = FaceDetectorConfig.from_env()

    def bar(items: Any, total: int) -> Any:
        return progress(items, total=total, desc="embedding")

    if args.fused is None:
        with FaceMeshDetector(detector_config, mode="image") as detector:
            samples, images, failed = enroll_stills(
                root,
                detector=detector,
                embedder=embedder,
                pattern=args.identity_pattern,
                progress=bar,
            )
    else:
        if args.fused < 1 or args.step < 1:
            raise FacePayError("--fused and --step must be >= 1")
        groups = [tuple(s.strip() for s in g.split(",") if s.strip()) for g in args.same_person]
        samples, images, _clips, failed = enroll_clips(
            root,
            args.fused,
            detector_factory=(
                (lambda: FaceMeshDetector(detector_config, mode="video"))
                if args.no_quality_gate
                else (lambda: FrameAnalyzer(detector_config, QualityConfig.from_env()))
            ),
            embedder=embedder,
            same_person=groups,
            min_score=detector_config.min_detection_confidence,
            step=args.step,
            progress=bar,
        )
    scores = pair_scores(samples, embedder.compare, metric=embedder.metric)
    report: dict[str, Any] = verification_report(
        scores,
        images=images,
        identities=len({s.identity for s in samples}),
        failed_to_enroll=failed,
        threshold=threshold,
    )
    if args.fused is not None:
        report["fused_frames"] = args.fused
    if args.closest > 0:
        report["closest_impostors"] = closest_impostors(samples, scores, args.closest)
    emit(args, report, _human)
    return 0


def _human(r: dict[str, Any]) -> str:
    at = r["at_default_threshold"]
    lines = [
        f"images {r['images']}, identities {r['identities']}, "
        f"failed to enrol {r['failed_to_enroll']}",
        f"pairs: {r['genuine_pairs']} genuine, {r['impostor_pairs']} impostor",
        f"EER {r['eer']}",
        "FNMR at FMR " + ", ".join(f"{k}: {v}" for k, v in r["fnmr_at_fmr"].items()),
        f"at threshold {at['threshold']}: FMR {at['fmr']}, FNMR {at['fnmr']}",
    ]
    for p in r.get("closest_impostors", []):
        lines.append(f"  {p['distance']:.4f}  {p['a']}  <->  {p['b']}")
    return "\n".join(lines)

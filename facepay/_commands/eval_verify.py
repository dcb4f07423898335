"""``facepay eval verify DIR``: verification accuracy of the default embedder.

DIR holds one subfolder per identity (stills). With ``--fused K`` DIR holds video clips
(one person per clip) and templates are fused from K consecutive usable frames, as at a
till; genuine pairs are windows of the same person, impostor pairs windows of different
people. See docs/accuracy.md.

``facepay eval adaptive DIR``: the same templates over time, through the backend's own
code (:mod:`facepay.eval._adaptive`): per identity, enrol from one sample (or
``--views V``), then pay with the others in many seeded random orders, impostors
interleaved; FNMR and FMR at the shipped threshold, how the scores move when the backend
updates templates, and the grey-zone rates (approved on face, step-up, refused) for a
sweep of grey thresholds.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from facepay._commands._numbers import at_least, not_negative

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
    _source_options(parser)
    parser.add_argument(
        "--threshold",
        type=not_negative,
        default=None,
        help="report FMR/FNMR at this distance instead of the shipped default",
    )
    parser.add_argument(
        "--closest",
        type=at_least(0),
        default=0,
        metavar="N",
        help="also list the N closest impostor pairs (who could be mistaken for whom)",
    )
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="also report the threshold the documented calibration rule gives on DIR (the "
        "largest step of 0.005 with FMR <= 1e-3) and the time each template took",
    )
    parser.set_defaults(handler=run)

    adaptive = subparsers.add_parser(
        "adaptive",
        help="enrol once, pay many times in random orders through the backend's own code: "
        "FNMR/FMR with and without template updates, grey-zone step-up rates",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    adaptive.add_argument("dir", type=Path, help="folder: <identity>/<images> or video clips")
    add_json_flag(adaptive)
    _source_options(adaptive)
    adaptive.add_argument(
        "--orders", type=at_least(1), default=20, help="seeded random histories (default 20)"
    )
    adaptive.add_argument("--seed", type=int, default=0, help="seed of the first order")
    adaptive.add_argument(
        "--impostors",
        type=at_least(0),
        default=20,
        metavar="N",
        help="impostor attempts per enrolled identity and order (default 20)",
    )
    adaptive.add_argument(
        "--lookalikes",
        type=at_least(0),
        default=3,
        metavar="N",
        help="of those, the N other people's samples closest to the enrolment, every order "
        "(the poisoning attempts; default 3)",
    )
    adaptive.add_argument(
        "--views",
        type=_ints,
        default=(1,),
        metavar="V,V,...",
        help="enrol from V samples (multi-view enrolment); one condition per value (default 1)",
    )
    adaptive.add_argument(
        "--grey-distances",
        type=_floats,
        default=tuple(round(0.04 + 0.005 * k, 3) for k in range(9)),
        metavar="D,D,...",
        help="grey-zone lower bounds to sweep, as cosine distances (default 0.040-0.080)",
    )
    adaptive.set_defaults(handler=run_adaptive)


def _ints(text: str) -> tuple[int, ...]:
    return tuple(at_least(1)(x) for x in text.split(",") if x.strip())


def _floats(text: str) -> tuple[float, ...]:
    return tuple(not_negative(x) for x in text.split(",") if x.strip())


def _pattern(text: str) -> str:
    try:
        compiled = re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"not a regular expression: {exc}") from None
    if compiled.groups < 1:
        raise argparse.ArgumentTypeError("needs a group, e.g. '^(\\w+)_' (the identity)")
    return text


def _source_options(parser: argparse.ArgumentParser) -> None:
    """Where the templates come from: stills by folder or file name, or clip windows."""
    parser.add_argument(
        "--fused",
        type=at_least(1),
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
        "--step",
        type=at_least(1),
        default=1,
        help="with --fused: use every STEP-th frame (default 1)",
    )
    parser.add_argument(
        "--identity-pattern",
        metavar="REGEX",
        type=_pattern,
        default=None,
        help="stills sit directly in DIR; the regex's first group of a file name is its identity",
    )
    parser.add_argument(
        "--no-quality-gate",
        action="store_true",
        help="with --fused: keep every confident near-frontal face, not only gate-passed frames",
    )


def run(args: argparse.Namespace) -> int:
    from facepay.cli import emit
    from facepay.eval._verify import (
        calibrated_threshold,
        closest_impostors,
        pair_scores,
        verification_report,
    )

    samples, images, failed, timed = _samples(args)
    embedder = timed.embedder
    threshold = args.threshold if args.threshold is not None else embedder.default_threshold
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
    if args.calibrate:
        report["calibration"] = calibrated_threshold(scores)
        report["template"] = _template_costs(timed)
    emit(args, report, _human)
    return 0


def run_adaptive(args: argparse.Namespace) -> int:
    from facepay.cli import emit, progress
    from facepay.crypto import refused_pins
    from facepay.errors import FacePayError
    from facepay.eval._adaptive import adaptive_report, conditions, run_conditions

    if not args.views:
        raise FacePayError("--views needs at least one number of views, e.g. 1,3")
    samples, images, failed, _ = _samples(args)
    chosen = conditions(args.views)

    def bar(items: Any, total: int) -> Any:
        return progress(items, total=total, desc="orders")

    runs = run_conditions(
        samples,
        chosen,
        orders=args.orders,
        seed=args.seed,
        impostors_per_target=args.impostors,
        lookalikes=args.lookalikes,
        progress=bar,
    )
    config = next(iter(chosen.values()))[0]
    # An impostor in the grey zone may try config.pin_failures PINs before the shopper's
    # PIN locks, among the 4-digit PINs the backend lets a shopper set.
    guess = config.pin_failures / (10**4 - len(refused_pins()))
    report = adaptive_report(
        runs,
        config=config,
        samples=samples,
        grey_thresholds=[1.0 - d for d in args.grey_distances],
        pin_guess_probability=guess,
    )
    report.update(
        images=images,
        failed_to_enroll=failed,
        orders=args.orders,
        seed=args.seed,
        fused_frames=args.fused,
        pin_guess_probability=round(guess, 8),
    )
    emit(args, report, _human_adaptive)
    return 0


def _human_adaptive(r: dict[str, Any]) -> str:
    lines = [
        f"samples {r['samples']}, identities {r['identities']}, orders {r['orders']}, "
        f"threshold {r['match_threshold']}"
    ]
    for name, c in r["conditions"].items():
        lines.append(
            f"{name}: FNMR {c['fnmr']} ({c['genuine_attempts']} genuine), "
            f"FMR {c['fmr']} ({c['impostor_attempts']} impostor, "
            f"{c['lookalike_attempts']} look-alike), closest impostor "
            f"{c['closest_impostor_score']}"
        )
        g = r["backend_grey_zone"][name]
        lines.append(
            f"  backend grey zone from {g['grey_threshold']}: PIN asked of "
            f"{g['genuine_asked_pin']} genuine ({g['genuine_approved_after_pin']} approved), "
            f"{g['impostor_asked_pin']} impostor; refused {g['genuine_refused']}"
        )
        for row in r["grey_zone"][name]:
            lines.append(
                f"  grey from distance {row['grey_distance']}: face {row['approved_on_face']}"
                f", step-up {row['step_up']}, refused {row['refused']}, impostor in grey "
                f"{row['impostor_in_grey_zone']}"
            )
    return "\n".join(lines)


def _samples(args: argparse.Namespace) -> tuple[list[Any], int, int, Any]:
    """The templates of DIR (stills, or fused clip windows with ``--fused``), each computed
    once: ``(samples, images or windows, failed to enrol, embedder)``."""
    from facepay.cli import progress
    from facepay.config import EmbedderConfig, FaceDetectorConfig, QualityConfig
    from facepay.errors import FacePayError
    from facepay.eval._verify import enroll_clips, enroll_stills
    from facepay.vision import DlibResNetEmbedder, FaceMeshDetector, FrameAnalyzer

    root: Path = args.dir
    if not root.is_dir():
        raise FacePayError(f"{root} is not a folder")
    embedder = _TimedEmbedder(DlibResNetEmbedder(EmbedderConfig.from_env()))
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
    # An empty folder is a mistake, not a measurement: "FMR 0.0, FNMR 0.0" on nothing
    # would read as a perfect model.
    if images == 0:
        what = "video clips" if args.fused is not None else "images (<identity>/<images>)"
        raise FacePayError(f"no {what} in {root}")
    if not samples:
        raise FacePayError(f"no face could be enrolled from the {images} in {root}")
    return samples, images, failed, embedder


class _TimedEmbedder:
    """The product's embedder, with the wall time of each ``embed`` call kept (the cost
    of a template: chips, inference, averaging; not the face mesh)."""

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder
        self.metric = embedder.metric
        self.model_id = embedder.model_id
        self.seconds: list[float] = []

    def embed(self, frame: Any, face: Any) -> Any:
        import time

        start = time.perf_counter()
        try:
            return self.embedder.embed(frame, face)
        finally:
            self.seconds.append(time.perf_counter() - start)


def _template_costs(timed: _TimedEmbedder) -> dict[str, Any]:
    """The recipe the templates were made with, and how long ``embed`` took per face
    (median and 90th percentile over every call of this run, in milliseconds)."""
    import numpy as np

    config = timed.embedder.config
    ms = np.asarray(timed.seconds, dtype=np.float64) * 1000.0
    return {
        "model_id": timed.model_id,
        "chips_per_face": (1 + config.jitters) * (2 if config.mirror_average else 1),
        "embed_ms_median": round(float(np.median(ms)), 1) if ms.size else None,
        "embed_ms_p90": round(float(np.percentile(ms, 90)), 1) if ms.size else None,
        "faces_timed": int(ms.size),
    }


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
    if r.get("calibration"):
        c = r["calibration"]
        lines.append(
            f"calibration ({c['rule']}): {c['threshold']}, FMR {c['fmr']}, FNMR {c['fnmr']}"
        )
    if r.get("template"):
        t = r["template"]
        lines.append(
            f"templates {t['model_id']}: {t['chips_per_face']} chip(s) per face, "
            f"{t['embed_ms_median']} ms median, {t['embed_ms_p90']} ms p90"
        )
    for p in r.get("closest_impostors", []):
        lines.append(f"  {p['distance']:.4f}  {p['a']}  <->  {p['b']}")
    return "\n".join(lines)

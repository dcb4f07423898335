"""Liveness evaluation commands (ISO/IEC 30107-3 terms; see docs/liveness.md).

``facepay eval pad DIR``: passive-only presentation attack detection. DIR holds ``live/``
and one folder per attack type (``print/``, ``replay/``, ``mask/`` ...), each with images
or clips. Judged at the SDK's shipped operating point (LivenessConfig defaults, never
tuned on the data evaluated); prints {"counts", "bpcer", "apcer", "apcer_max", "acer"}.

``facepay eval sessions MANIFEST``: recorded sessions through the till's own code
(``Till.enroll`` against an in-process sandbox, the clip as the camera and the clock): the
quality gate, the active liveness pipeline, fusion, sealing, the backend. The
manifest (JSON list, or one JSON object per line) names, per session, the clip, the plan
that was shown and the truth: {"clip": "till3/0142.mp4", "challenges": ["blink",
"turn_left"], "label": "live", "start_s": 0, "group": {"glasses": true}}. Relative clip
paths are relative to the manifest. This is how a retailer scores their own tills.

``facepay eval attacks EVAL_DIR``: synthetic attacks built from EVAL_DIR (the shared
evaluation folder), each paid through the till's own code (``Till.pay`` against an
in-process sandbox, the attack as the camera and the clock, its victim enrolled first):
photos tilted by an attacker who reads the till's prompts, real clips replayed off a
simulated screen against the till's random plans, and frozen-frame injection. An attack
is accepted when the payment is approved; ``liveness_by_type`` says how liveness ended.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(subparsers: Any, group_parser: argparse.ArgumentParser | None = None) -> None:
    from facepay.cli import add_json_flag

    pad = subparsers.add_parser(
        "pad",
        help="passive presentation attack detection on live/ and <attack>/ folders: "
        "APCER per attack type, BPCER, ACER",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pad.add_argument("dir", type=Path, help="folder with live/ and one folder per attack type")
    pad.add_argument("--pad-model", default=None, metavar="CARD.json", help="a passive ONNX model")
    pad.add_argument("--details", action="store_true", help="also list every presentation")
    add_json_flag(pad)
    pad.set_defaults(handler=_run_pad)

    sessions = subparsers.add_parser(
        "sessions",
        help="the full active liveness pipeline on recorded sessions (clip + plan shown)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sessions.add_argument("manifest", type=Path, help="JSON list or JSON lines of sessions")
    sessions.add_argument(
        "--start-offsets",
        type=_offsets,
        default=(0,),
        metavar="N,N,...",
        help="replay every session again starting N frames later (e.g. 0,1,2,3) and report "
        "how many decisions change (default 0)",
    )
    sessions.add_argument("--details", action="store_true", help="also list every session")
    add_json_flag(sessions)
    sessions.set_defaults(handler=_run_sessions)

    attacks = subparsers.add_parser(
        "attacks",
        help="synthetic photo, screen-replay and frozen-frame attacks, paid through the till",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    attacks.add_argument("eval_dir", type=Path, help="the shared evaluation folder")
    attacks.add_argument("--photos", type=int, default=12, help="photo attacks to run")
    attacks.add_argument(
        "--plans",
        type=int,
        default=10,
        help="payments (random plans and start points) per replayed clip",
    )
    attacks.add_argument(
        "--sessions",
        type=Path,
        default=None,
        metavar="MANIFEST",
        help="recorded live sessions to replay under their own plans and to inject frozen",
    )
    attacks.add_argument(
        "--seed-offset",
        type=int,
        default=0,
        metavar="N",
        help="shift every random choice (screens, plans, start points, shake): 0 gives the "
        "attacks reported before, another N fresh ones to test a rule designed on others",
    )
    attacks.add_argument(
        "--only",
        type=_kinds,
        default=None,
        metavar="KIND,...",
        help="run only these parts: photo, print, replay, matched (the matched replays and "
        "frozen injections); each attack keeps its seeds, so parts run side by side add up "
        "to the whole run",
    )
    attacks.add_argument(
        "--clips", default=None, metavar="NAME,...", help="replay only these clips (file names)"
    )
    attacks.add_argument("--details", action="store_true", help="also list every attack")
    add_json_flag(attacks)
    attacks.set_defaults(handler=_run_attacks)


def _kinds(text: str) -> tuple[str, ...]:
    from facepay.eval._attack_runs import ATTACK_KINDS

    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    if not kinds or set(kinds) - set(ATTACK_KINDS):
        raise argparse.ArgumentTypeError(f"attack kinds are {', '.join(ATTACK_KINDS)}")
    return kinds


def _offsets(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of frame counts: {text!r}") from None
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError("frame offsets are whole numbers >= 0, e.g. 0,1,2")
    return values


def _frames_of(path: Path) -> Iterator[Any]:
    from facepay.capture import open_source

    with open_source(path) as source:
        yield from source.frames()


def _round(payload: Any) -> Any:
    if isinstance(payload, float):
        return round(payload, 4)
    if isinstance(payload, dict):
        return {k: _round(v) for k, v in payload.items()}
    if isinstance(payload, list):
        return [_round(v) for v in payload]
    return payload


def _human(payload: dict[str, Any]) -> str:
    lines = [f"counts: {payload['counts']}", f"BPCER: {payload['bpcer']}"]
    for k, v in payload.get("apcer", {}).items():
        lines.append(f"APCER[{k}]: {v}")
    lines.append(f"APCER max: {payload.get('apcer_max')}  ACER: {payload.get('acer')}")
    for k, v in payload.get("liveness_by_type", {}).items():
        lines.append(f"liveness[{k}]: {v}")
    for offset, row in payload.get("start_offsets", {}).items():
        lines.append(f"start +{offset} frames: BPCER {row['bpcer']} ({row['counts']})")
    if "decisions_changed" in payload:
        lines.append(f"decisions that change with the start: {payload['decisions_changed']}")
        lines.extend(f"  {line}" for line in payload.get("sessions_changed", []))
    return "\n".join(lines)


def _details(results: Iterable[Any]) -> list[dict[str, Any]]:
    return [
        {
            "label": r.label,
            "item": r.path,
            "accepted": r.accepted,
            "acquired": r.acquired,
            "reasons": list(r.reasons),
            "evidence": r.evidence,
        }
        for r in results
    ]


def _run_pad(args: argparse.Namespace) -> int:
    from facepay.cli import emit, progress
    from facepay.config import FaceDetectorConfig, LivenessConfig
    from facepay.eval._liveness import evaluate_pad_dir
    from facepay.liveness import PadModel, PadModelCard
    from facepay.vision import FrameAnalyzer

    pad = (
        PadModel.from_model_card(PadModelCard.from_json(args.pad_model)) if args.pad_model else None
    )
    det = FaceDetectorConfig.from_env()
    stills = FrameAnalyzer(det, mode="image")

    def finder(video: bool) -> Any:
        return FrameAnalyzer(det, mode="video") if video else stills

    metrics, results = evaluate_pad_dir(
        args.dir,
        finder,
        config=LivenessConfig.from_env(),
        pad_model=pad,
        frames_of=_frames_of,
        progress=lambda items: progress(items, desc="pad"),
    )
    metrics["mode"] = "passive" + ("+pad_model" if pad else "")
    if args.details:
        metrics["details"] = _details(results)
    emit(args, _round(metrics), _human)
    return 0


def _load_manifest(path: Path) -> list[Any]:
    from facepay.errors import FacePayError
    from facepay.eval._liveness import load_sessions_manifest

    try:
        return load_sessions_manifest(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FacePayError(f"cannot read sessions manifest {path}: {exc}") from None


def _run_sessions(args: argparse.Namespace) -> int:
    from facepay.cli import emit, progress
    from facepay.eval._sessions import evaluate_sessions

    metrics, results = evaluate_sessions(
        _load_manifest(args.manifest),
        start_offsets=args.start_offsets,
        progress=lambda items: progress(items, desc="sessions"),
    )
    metrics["mode"] = "active"
    if args.details:
        metrics["details"] = _details(results)
    emit(args, _round(metrics), _human)
    return 0


def _run_attacks(args: argparse.Namespace) -> int:
    from facepay.cli import emit
    from facepay.eval._attack_runs import ATTACK_KINDS, attacks_through_till

    metrics, results = attacks_through_till(
        args.eval_dir,
        photos=args.photos,
        plans_per_clip=args.plans,
        matched_sessions=_load_manifest(args.sessions) if args.sessions else (),
        seed_offset=args.seed_offset,
        kinds=args.only or ATTACK_KINDS,
        clips=args.clips.split(",") if args.clips else None,
    )
    if args.details:
        metrics["details"] = _details(results)
    emit(args, _round(metrics), _human)
    return 0

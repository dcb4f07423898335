"""``facepay eval till-visits``: enroll from one part of a clip, pay from the others, through
the till's own code against an in-process sandbox backend (docs/accuracy.md, "At the till:
enroll from one part of a clip, pay from another").

Every clip in VIDEO_DIR (or the clips given) is cut into SEGMENT_S windows; the first that
enrolls is the shopper's enrollment, every other window pays claiming the shopper's phone
(a PIN step-up answered with the shopper's PIN), then each window of one clip claims another
clip's phone (a PIN step-up answered wrong): impostor_accepted must be 0. A segment with no
person in it, or whose recording holds no answer to any plan (NO_ACTION_SEGMENTS in
facepay/eval/_till_visits.py), is not a shopper paying: it has its own column, outside
the genuine payments, and refused_rate_counting_all counts it too. Two settings run
on the same windows: ``learning`` (enrollment views, adaptive update, PIN) and ``baseline``
(one view, no update, no PIN).

Two readings (--reading, default both; the JSON's "readings"): ``segments``, the camera
stops at the segment's end and each plan is tried on the same frames (its summaries are
also the top-level "settings", its rows "visits"), and ``visits``, a shopper's stay: the
camera runs on from the segment's start to the clip's end (never into the frames the
shopper enrolled with), and an end the kiosk offers "Try again" for is a new attempt on the
running camera, up to --tries (facepay/eval/_till_stays.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from facepay._commands._numbers import at_least

__all__ = ["register"]

_CLIP_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm")


def register(subparsers: Any, group_parser: argparse.ArgumentParser | None = None) -> None:
    from facepay.cli import add_json_flag

    till = subparsers.add_parser(
        "till-visits",
        help="refusals at the till: enroll from one clip segment, pay from the others "
        "(Till.enroll / Till checkout against a sandbox)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    till.add_argument(
        "clips", type=Path, nargs="+", help="a folder of clips (e.g. shared/eval/video) or clips"
    )
    till.add_argument(
        "--segment-s",
        type=_positive,
        default=3.0,
        metavar="S",
        help="segment length in seconds (default 3: one challenge of a liveness plan)",
    )
    till.add_argument(
        "--settings",
        default="learning,baseline",
        metavar="NAME,...",
        help="learning, baseline or both (default both, on the same segments)",
    )
    till.add_argument(
        "--reading",
        default="segments,visits",
        metavar="NAME,...",
        help="segments (the camera stops at the segment's end), visits (it runs on to the "
        "clip's end and the shopper taps 'Try again'), or both (default)",
    )
    till.add_argument(
        "--tries",
        type=at_least(1),
        default=3,
        metavar="N",
        help="visits: attempts per visit before the shopper pays by card (default 3)",
    )
    till.add_argument("--no-impostors", action="store_true", help="skip the impostor visits")
    till.add_argument("--details", action="store_true", help="also list every visit")
    add_json_flag(till)
    till.set_defaults(handler=_run)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def _clips(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in _CLIP_SUFFIXES))
        elif path.is_file():
            out.append(path)
        else:
            raise FileNotFoundError(2, "No such file or directory", str(path))
    return out


def _run(args: argparse.Namespace) -> int:
    from facepay.cli import emit, progress
    from facepay.errors import FacePayError
    from facepay.eval._till_visits import READINGS, SETTINGS, evaluate_till_visits

    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    unknown = [s for s in settings if s not in SETTINGS]
    if not settings or unknown:
        raise FacePayError(f"--settings: one or more of {', '.join(SETTINGS)}")
    readings = [r.strip() for r in args.reading.split(",") if r.strip()]
    if not readings or any(r not in READINGS for r in readings):
        raise FacePayError(f"--reading: one or more of {', '.join(READINGS)}")
    clips = _clips(args.clips)
    if not clips:
        raise FacePayError(f"no clips ({', '.join(_CLIP_SUFFIXES)}) in {args.clips[0]}")
    report = evaluate_till_visits(
        clips,
        segment_s=args.segment_s,
        settings=settings,
        impostors=not args.no_impostors,
        progress=lambda items: progress(items, total=len(clips), desc="clips"),
        readings=readings,
        tries=args.tries,
    )
    if not args.details:
        report.pop("visits")
        if "visits" in report["readings"]:
            report["readings"]["visits"].pop("details")
    emit(args, report, _human)
    return 0


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _human(report: dict[str, Any]) -> str:
    lines = [f"facepay eval till-visits: {report['path']}, segments of {report['segment_s']:g} s"]
    if report["settings"]:
        lines.append("segments (the camera stops at the segment's end):")
    for name, s in report["settings"].items():
        g = s["genuine"]
        n = s["not_payments"]
        lines.append(
            f"{name}: {s['genuine_payments']} genuine payments: {g['approved_on_face']} on face, "
            f"{g['approved_after_pin']} after PIN, refused {_rate(s['refused_rate'])} "
            f"(quality {g['refused_quality']}, liveness {g['refused_liveness']}, "
            f"no_match {g['refused_no_match']}, other {g['refused_other']}); "
            f"not a payment: no person {n['not_a_payment_no_person']}, "
            f"no answer in the recording {n['not_a_payment_no_action']} "
            f"(refused {_rate(s['refused_rate_counting_all'])} counting them); "
            f"not enrolled: {', '.join(s['not_enrolled']) or 'none'}; "
            f"impostors accepted {s['impostor_accepted']} of {s['impostor_payments']}; "
            f"adaptive updates {s['adaptive_updates']}"
        )
        for clip, c in s["per_clip"].items():
            lines.append(
                f"  {clip}: enrolled={c['enrolled']} face={c['approved_on_face']} "
                f"pin={c['approved_after_pin']} quality={c['refused_quality']} "
                f"liveness={c['refused_liveness']} no_match={c['refused_no_match']} "
                f"other={c['refused_other']} no_person={c['not_a_payment_no_person']} "
                f"no_action={c['not_a_payment_no_action']}"
            )
    visits = report.get("readings", {}).get("visits")
    if visits is not None:
        lines.append(f"visits (the camera runs on; up to {visits['tries']} tries):")
        lines.extend(_human_visits(name, v) for name, v in visits["settings"].items())
    return "\n".join(lines)


def _human_visits(name: str, v: dict[str, Any]) -> str:
    g = v["genuine"]
    ends = v["refused_by_end"]
    same = v["same_starts_as_segments"]
    fails = v["backend_failures"]
    seconds = v["seconds_to_approval"]
    return (
        f"{name}: {v['visits']} genuine visits: {g['approved_on_face']} on face, "
        f"{g['approved_after_pin']} after PIN, refused {v['refused']} "
        f"({_rate(v['refused_rate'])}; quality {g['refused_quality']}, liveness "
        f"{g['refused_liveness']}, no_match {g['refused_no_match']}, other "
        f"{g['refused_other']}; camera ended {ends['camera_ended']}, tries used "
        f"{ends['tries_used']}, not retryable {ends['not_retryable']}); on the segment "
        f"reading's starts {same['refused']} of {same['visits']} "
        f"({_rate(same['refused_rate'])}); no person "
        f"{v['not_payments']['not_a_payment_no_person']}; tries {v['tries_used']}; "
        f"seconds to approval median {seconds['median']} max {seconds['max']}; backend "
        f"failures per visit {fails['per_visit']} (lockout at "
        f"{fails['lockout_failures_default']}: {fails['visits_that_would_lock']} would lock); "
        f"impostors accepted {v['impostor_accepted']} of {v['impostor_visits']}"
    )

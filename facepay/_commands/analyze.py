"""``facepay analyze SOURCE``: the headless face pipeline on a video, image folder or camera.

For every frame: find the faces, run the quality gate, and count what the gate said. The
summary answers "would a till get a usable face from this?" without a screen:

    facepay analyze ../shared/eval/video/single_face.mp4
    facepay analyze ../shared/eval/faces/barack_obama --json
    facepay analyze 0 --max-frames 100          # the first camera

No image, landmark or template is printed or written: only counts and measurements.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(subparsers: Any, group_parser: argparse.ArgumentParser | None) -> None:
    from facepay.cli import add_json_flag

    parser = subparsers.add_parser(
        "analyze",
        help="run the face pipeline (detection, landmarks, quality gate) on a video, "
        "an image folder or a camera, and summarise what it found",
        description="Run face detection, landmarks and the quality gate on every frame of "
        "SOURCE and summarise faces found and quality reasons. SOURCE is a video file, an "
        "image file, a folder of images, a camera index (0) or a device (/dev/video0).",
    )
    parser.add_argument("source", help="video file, image file or folder, camera index or device")
    parser.add_argument(
        "--max-frames", type=int, default=None, metavar="N", help="stop after N frames"
    )
    parser.add_argument(
        "--mode",
        choices=("auto", "video", "image"),
        default="auto",
        help="track faces across frames (video) or treat each frame alone (image); "
        "auto: image for folders and still images, video otherwise",
    )
    parser.add_argument(
        "--recursive",
        action="store_true",
        help="for a folder: also read images in its subfolders (e.g. one per identity)",
    )
    parser.add_argument(
        "--per-frame",
        action="store_true",
        help="also list every frame's reasons and main measurements",
    )
    add_json_flag(parser)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    import numpy as np

    from facepay.capture import ImageFolderSource, VideoFileSource, open_source
    from facepay.cli import emit, progress
    from facepay.vision import FrameAnalyzer

    if args.max_frames is not None and args.max_frames < 1:
        from facepay.errors import ConfigurationError

        raise ConfigurationError("--max-frames must be at least 1")
    source = (
        ImageFolderSource(args.source, recursive=True)
        if args.recursive and Path(args.source).is_dir()
        else open_source(args.source)
    )
    mode = args.mode
    if mode == "auto":
        mode = "video" if isinstance(source, VideoFileSource) or _is_camera(source) else "image"
    total: int | None = None
    if isinstance(source, VideoFileSource):
        total = source.frame_count
    elif isinstance(source, ImageFolderSource):
        total = len(source.files)
    else:
        total = 1 if mode == "image" else None
    if args.max_frames is not None:
        total = min(total, args.max_frames) if total is not None else args.max_frames

    reasons: Counter[str] = Counter()
    faces_per_frame: Counter[str] = Counter()
    frames = passed = with_face = 0
    timings: list[float] = []
    best: tuple[float, int, str] | None = None
    per_frame: list[dict[str, Any]] = []
    interrupted = False
    started = time.perf_counter()
    with source, FrameAnalyzer(mode=mode) as analyzer:
        try:
            for frame in progress(source.frames(), total=total, desc="analyze"):
                t0 = time.perf_counter()
                report = analyzer.analyze(frame)
                timings.append((time.perf_counter() - t0) * 1e3)
                frames += 1
                n_faces = int(report.metrics.get("faces", 0))
                faces_per_frame["2+" if n_faces >= 2 else str(n_faces)] += 1
                with_face += n_faces > 0
                passed += report.passed
                reasons.update(r.value for r in report.reasons)
                if report.passed and (best is None or report.score > best[0]):
                    best = (report.score, frame.index, frame.source_id)
                if args.per_frame:
                    per_frame.append(
                        {
                            "index": frame.index,
                            "timestamp": round(frame.timestamp, 3),
                            "name": frame.source_id,
                            "faces": n_faces,
                            "reasons": [r.value for r in report.reasons],
                            "metrics": {
                                k: round(float(v), 3) for k, v in sorted(report.metrics.items())
                            },
                        }
                    )
                if args.max_frames is not None and frames >= args.max_frames:
                    break
        except KeyboardInterrupt:
            interrupted = True  # a camera runs until stopped: still print what was seen
    wall = time.perf_counter() - started
    skipped = getattr(source, "skipped", [])
    summary: dict[str, Any] = {
        "source": source.description,
        "mode": mode,
        "frames": frames,
        "frames_with_face": with_face,
        "frames_passed": passed,
        "pass_rate": round(passed / frames, 4) if frames else 0.0,
        "faces_per_frame": dict(sorted(faces_per_frame.items())),
        "reasons": dict(reasons.most_common()),
        "best_frame": (
            {"index": best[1], "name": best[2], "utility": round(best[0], 4)} if best else None
        ),
        "ms_per_frame": {
            "median": round(float(np.median(timings)), 2) if timings else None,
            "p95": round(float(np.percentile(timings, 95)), 2) if timings else None,
        },
        "wall_s": round(wall, 2),
        "skipped": [{"file": p.name, "reason": why} for p, why in skipped],
        "interrupted": interrupted,
    }
    if args.per_frame:
        summary["per_frame"] = per_frame
    emit(args, summary, _human)
    return 0


def _is_camera(source: object) -> bool:
    from facepay.capture import CameraSource

    return isinstance(source, CameraSource)


def _human(s: dict[str, Any]) -> str:
    lines = [
        f"{s['source']} ({s['mode']} mode): {s['frames']} frames, "
        f"{s['frames_with_face']} with a face, {s['frames_passed']} passed the quality gate "
        f"({100 * s['pass_rate']:.1f}%)",
        "faces per frame: " + ", ".join(f"{k}: {v}" for k, v in s["faces_per_frame"].items()),
    ]
    if s["reasons"]:
        lines.append("reasons (frames):")
        lines.extend(f"  {reason:<18} {count}" for reason, count in s["reasons"].items())
    if s["best_frame"]:
        b = s["best_frame"]
        name = f" ({b['name']})" if b["name"] and not s["source"].startswith("video") else ""
        lines.append(f"best frame: #{b['index']}{name}, utility {b['utility']:.2f}")
    ms = s["ms_per_frame"]
    if ms["median"] is not None:
        lines.append(f"time per frame: median {ms['median']:.1f} ms, p95 {ms['p95']:.1f} ms")
    for item in s["skipped"]:
        lines.append(f"skipped {item['file']}: {item['reason']}")
    if s["interrupted"]:
        lines.append("(interrupted)")
    return "\n".join(lines)

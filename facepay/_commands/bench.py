"""``facepay bench``: per-stage latency of the till's face pipeline on a real clip.

Stages, each timed per frame (wall milliseconds, median and p95, plus the median process
CPU time, which stays meaningful when other jobs share the cores): ``landmarks`` (face detection
+ 478-point mesh), ``quality`` (the quality gate on those faces), ``align`` (the 150x150
dlib chip), ``embed`` (the ResNet on onnxruntime, one thread by default) and ``frame``
(all four, as the till runs them on one frame). Frames are padded (not scaled) to
640x480 so the numbers are per 640x480 frame. ``cold_start`` is measured in a fresh
Python process: import facepay, load the face detector and mesh models, load the embedder
(model cache warm: the one-off dlib-to-ONNX conversion is not part of a till's start).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from facepay._commands._numbers import at_least

__all__ = ["register"]

_DEFAULT_CLIP = "single_face.mp4"

_COLD_START = """
import time
t0 = time.perf_counter()
import facepay
from facepay.vision import DlibResNetEmbedder, FrameAnalyzer
t1 = time.perf_counter()
analyzer = FrameAnalyzer()
t2 = time.perf_counter()
embedder = DlibResNetEmbedder()
t3 = time.perf_counter()
print(f"{(t1 - t0) * 1000:.1f} {(t2 - t1) * 1000:.1f} {(t3 - t2) * 1000:.1f}")
"""


def register(subparsers: Any, group_parser: argparse.ArgumentParser | None = None) -> None:
    from facepay.cli import add_json_flag

    target = group_parser if group_parser is not None else subparsers.add_parser("bench")
    # `facepay bench` itself is the pipeline bench; subcommands (bench backend) add more.
    add_json_flag(target)
    target.add_argument(
        "--clip",
        type=Path,
        default=None,
        help=f"video to run on (default ../shared/eval/video/{_DEFAULT_CLIP})",
    )
    target.add_argument(
        "--frames", type=at_least(1), default=60, help="frames to time (default 60)"
    )
    target.add_argument(
        "--threads",
        type=at_least(1),
        default=None,
        help="onnxruntime threads for embed (default 1)",
    )
    target.set_defaults(handler=run)


def _default_clip() -> Path:
    import os

    env = os.environ.get("FACEPAY_EVAL_DIR")
    base = Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "eval"
    return base / "video" / _DEFAULT_CLIP


def _stats(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"median_ms": float("nan"), "p95_ms": float("nan"), "n": 0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "median_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(p95, 2),
        "n": len(ordered),
    }


def _cpu_stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"cpu_median_ms": float("nan")}
    return {"cpu_median_ms": round(statistics.median(values), 2)}


def _pad_to(image: Any, width: int, height: int) -> Any:
    import numpy as np

    h, w = image.shape[:2]
    if (w, h) == (width, height) or w > width or h > height:
        return image
    out = np.zeros((height, width, 3), dtype=np.uint8)
    y, x = (height - h) // 2, (width - w) // 2
    out[y : y + h, x : x + w] = image
    return out


def run(args: argparse.Namespace) -> int:
    import os

    from facepay.capture import VideoFileSource
    from facepay.cli import emit, progress
    from facepay.config import EmbedderConfig
    from facepay.errors import FacePayError
    from facepay.types import Frame
    from facepay.vision import DlibResNetEmbedder, FrameAnalyzer

    clip: Path = args.clip or _default_clip()
    if not clip.is_file():
        raise FacePayError(f"clip not found: {clip}")
    overrides = {} if args.threads is None else {"intra_op_threads": args.threads}
    embedder = DlibResNetEmbedder(EmbedderConfig.from_env(**overrides))
    analyzer = FrameAnalyzer()
    stages = ("landmarks", "quality", "align", "embed", "frame")
    times: dict[str, list[float]] = {k: [] for k in stages}
    cpu: dict[str, list[float]] = {k: [] for k in stages}
    frames: list[Frame] = []
    with VideoFileSource(clip, max_frames=args.frames + 5) as source:
        for frame in source.frames():
            image = _pad_to(frame.image, 640, 480)
            frames.append(Frame(image=image, timestamp=frame.timestamp, index=frame.index))
    if len(frames) < 6:
        raise FacePayError(f"{clip} has too few frames to time")

    # Wall time is what the shopper waits; process CPU time (all of this process's threads)
    # is what the stage costs, and stays meaningful when other jobs share the cores.
    def now() -> tuple[float, float]:
        return time.perf_counter(), time.process_time()

    for i, frame in enumerate(progress(frames, total=len(frames), desc="bench")):
        t0 = now()
        faces = analyzer.faces(frame)
        t1 = now()
        analyzer.gate.assess(frame, faces)
        t2 = now()
        chip = embedder.chip(frame, faces[0]) if faces else None
        t3 = now()
        if chip is not None:
            embedder.embed_chip(chip)
        t4 = now()
        if i < 5:  # warm-up: first inferences allocate and tune
            continue
        spans = {"landmarks": (t0, t1), "quality": (t1, t2), "frame": (t0, t4)}
        if chip is not None:
            spans |= {"align": (t2, t3), "embed": (t3, t4)}
        for name, (a, b) in spans.items():
            times[name].append((b[0] - a[0]) * 1000)
            cpu[name].append((b[1] - a[1]) * 1000)
    analyzer.detector.close()

    cold = subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
        [sys.executable, "-c", _COLD_START],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "GLOG_minloglevel": "2"},
    )
    try:
        imp_ms, mesh_ms, embed_ms = (float(x) for x in cold.stdout.split()[-3:])
    except ValueError as exc:
        raise FacePayError(f"cold-start probe failed: {cold.stderr[-500:]}") from exc
    try:
        load1, load5, _ = os.getloadavg()
    except OSError:  # pragma: no cover - not on Linux
        load1 = load5 = float("nan")
    payload: dict[str, Any] = {
        "clip": clip.name,
        "frame_size": "640x480",
        "frames": len(times["frame"]),
        "stages": {k: _stats(v) | _cpu_stats(cpu[k]) for k, v in times.items()},
        "cold_start": {
            "import_ms": round(imp_ms, 1),
            "landmarks_load_ms": round(mesh_ms, 1),
            "embedder_load_ms": round(embed_ms, 1),
            "total_ms": round(imp_ms + mesh_ms + embed_ms, 1),
        },
        "embed_threads": embedder.config.intra_op_threads,
        "machine": {"cpus": os.cpu_count(), "load_1m": round(load1, 2), "load_5m": round(load5, 2)},
    }
    emit(args, payload, _human)
    return 0


def _human(p: dict[str, Any]) -> str:
    lines = [f"{p['clip']} ({p['frames']} frames at {p['frame_size']}), load {p['machine']}"]
    for name, s in p["stages"].items():
        lines.append(
            f"  {name:<10} median {s['median_ms']:>7} ms   p95 {s['p95_ms']:>7} ms   "
            f"cpu {s['cpu_median_ms']:>7} ms"
        )
    c = p["cold_start"]
    lines.append(
        f"  cold start {c['total_ms']} ms (import {c['import_ms']}, landmark models "
        f"{c['landmarks_load_ms']}, embedder {c['embedder_load_ms']})"
    )
    return "\n".join(lines)

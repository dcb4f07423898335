"""Signs that the "camera" is not a camera: video injection.

An attacker who cannot fool the lens feeds the SDK a video instead: a virtual camera (OBS,
v4l2loopback, ManyCam ...), a looped or stalled stream, frames with impossible timing. These
checks cost almost nothing and feed the verdict as evidence. They do not stop a skilled
injector who renames the device and re-times the stream (that needs an attested camera,
see docs/liveness.md); they stop the off-the-shelf tools.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from facepay.config import LivenessConfig
from facepay.types import Frame

__all__ = ["InjectionMonitor", "is_virtual_camera"]


def is_virtual_camera(device_name: str | None, config: LivenessConfig | None = None) -> bool:
    """True when ``device_name`` names a known virtual camera (case-insensitive substring)."""
    if not device_name:
        return False
    names = (config or LivenessConfig()).virtual_camera_names
    lowered = device_name.lower()
    return any(n in lowered for n in names)


@dataclass(frozen=True, slots=True)
class InjectionFlags:
    frozen: bool
    timestamp_anomaly: bool
    frame_rate_anomaly: bool
    stalled: bool


class InjectionMonitor:
    """Feed every frame in order; read ``flags`` and ``evidence`` at any time."""

    def __init__(self, config: LivenessConfig | None = None) -> None:
        self._config = config or LivenessConfig()
        self.reset()

    def reset(self) -> None:
        self._prev_thumb: npt.NDArray[np.float32] | None = None
        self._prev_t: float | None = None
        self._first_t: float | None = None
        self._frames = 0
        self._run_start: float | None = None
        self._max_run_s = 0.0
        self._duplicates = 0
        self._backwards = 0
        self._max_gap = 0.0
        self._recent: collections.deque[float] = collections.deque(maxlen=31)
        self._timing_restarted = False

    def feed(self, frame: Frame) -> None:
        t = float(frame.timestamp)
        self._frames += 1
        if self._first_t is None:
            self._first_t = t
        if self._prev_t is not None:
            dt = t - self._prev_t
            if dt <= 0:
                self._backwards += 1
            elif not self._timing_restarted:
                self._max_gap = max(self._max_gap, dt)
        self._timing_restarted = False
        self._recent.append(t)
        thumb = cv2.resize(frame.image, (64, 48), interpolation=cv2.INTER_AREA).astype(np.float32)
        if self._prev_thumb is not None and self._prev_thumb.shape == thumb.shape:
            diff = float(np.mean(np.abs(thumb - self._prev_thumb)))
            if diff <= self._config.frozen_frame_max_diff:
                self._duplicates += 1
                if self._run_start is None:
                    self._run_start = self._prev_t if self._prev_t is not None else t
                self._max_run_s = max(self._max_run_s, t - self._run_start)
            else:
                self._run_start = None
        self._prev_thumb = thumb
        self._prev_t = t

    def restart_timing(self) -> None:
        """Measure frame gaps and the frame rate afresh from the next frame (the frozen
        run, the duplicates and backwards timestamps are kept): the frames a till sees
        before the shopper steps up may come slower, or with a pause while nobody is
        there, and that is no stalled camera."""
        self._max_gap = 0.0
        self._recent.clear()
        self._timing_restarted = True

    @property
    def fps(self) -> float:
        """Frame rate over the last (up to) 30 intervals, from the source's timestamps."""
        if len(self._recent) < 2:
            return 0.0
        span = self._recent[-1] - self._recent[0]
        return (len(self._recent) - 1) / span if span > 0 else float("inf")

    @property
    def flags(self) -> InjectionFlags:
        c = self._config
        fps = self.fps
        enough = len(self._recent) >= 10
        return InjectionFlags(
            frozen=self._max_run_s > c.frozen_run_s,
            timestamp_anomaly=self._backwards > 0,
            frame_rate_anomaly=enough and fps > c.max_fps,
            stalled=self._max_gap > c.max_frame_gap_s or (enough and fps < c.min_fps),
        )

    @property
    def evidence(self) -> dict[str, float | int]:
        fps = self.fps
        return {
            "fps": round(fps, 2) if np.isfinite(fps) else -1.0,
            "frames": self._frames,
            "duplicate_frames": self._duplicates,
            "max_frozen_run_s": round(self._max_run_s, 3),
            "max_frame_gap_s": round(self._max_gap, 3),
            "timestamps_backwards": self._backwards,
        }

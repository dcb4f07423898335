"""Doubles at the camera and the clock: a recorded clip as a till's camera, a clock a test
moves by hand, and a liveness plan fixed to what a clip performs.

A recorded clip cannot answer random prompts, so a test or a demo names the challenges the
clip performs (:func:`fixed_liveness_plan`). A real till must draw them from the backend's
random seed (``facepay.seeded_liveness``, the default): that is what stops a recording
from knowing them. The verdict is still computed for real from the frames.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from facepay.errors import CheckoutError
from facepay.types import Frame

if TYPE_CHECKING:
    from facepay.checkout import LivenessCheck, LivenessFactory

__all__ = ["ClipCamera", "FakeClock", "fixed_liveness_plan"]


class FakeClock:
    """A monotonic clock that moves only when told: ``clock()`` reads it, ``advance(s)``
    moves it. Pass it as a till's ``clock`` to drive per-state timeouts without sleeping."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a monotonic clock does not go back")
        self.now += seconds


class ClipCamera:
    """A recorded clip as a till's camera (a ``FrameStream``), from ``start_s`` plus
    ``skip_frames`` frames. Frames keep the clip's own timestamps.

    :meth:`now` is a clock a till can read: the timestamp of the last frame handed out, so
    a state's timeout means the same number of recorded seconds on an idle machine and on
    a busy one. ``device_name`` is the clip's path (liveness checks it for virtual cameras).
    """

    def __init__(self, path: str | Path, *, start_s: float = 0.0, skip_frames: int = 0) -> None:
        self.path = Path(path)
        self.start_s = start_s
        self.skip_frames = skip_frames
        self._now = start_s

    @property
    def device_name(self) -> str:
        return str(self.path)

    def now(self) -> float:
        return self._now

    def frames(self) -> Iterator[Frame]:
        from facepay.capture import VideoFileSource

        skipped = 0
        with VideoFileSource(self.path) as source:
            for frame in source.frames():
                if frame.timestamp < self.start_s:
                    continue
                if skipped < self.skip_frames:
                    skipped += 1
                    continue
                self._now = frame.timestamp
                yield frame


def fixed_liveness_plan(*challenges: str) -> LivenessFactory:
    """Ask for these challenges whatever the seed says. For demos and tests only.

    The examples name the challenge their clip performs (``blink`` in
    ``single_face.mp4``). Unknown names fail here, not mid-checkout.
    """
    if not challenges:
        raise CheckoutError("fixed_liveness_plan needs at least one challenge")

    from facepay.liveness import ChallengePlan, LivenessSession

    plan = ChallengePlan.of(challenges)

    def build(seed: bytes, camera_name: str | None) -> LivenessCheck:
        del seed
        return LivenessSession(plan, device_name=camera_name)

    return build

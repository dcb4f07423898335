"""The blink answer: eyes seen closed, then open again, judged frame by frame.

Kept apart from the session so the rule can be tested on synthetic eye traces: the
detector reads nothing but the numbers it is fed (time, eye aspect, the session's
open-eye baseline, whether the face kept its shape) and has no clock of its own.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

import numpy as np

__all__ = ["BlinkDetector", "BlinkRule"]


@dataclass(frozen=True)
class BlinkRule:
    """The numbers of the blink rule (``LivenessConfig``'s ``blink_*`` fields).

    ``closed_ratio`` and ``reopen_ratio`` are shares of the session's open-eye baseline.
    A closure can also be judged against the eyes' own level just before it (the median
    of the ``local_window_s`` before the first closed frame), for a shopper whose eyes
    reopen to that level but not as wide as earlier in the session (a glance down at the
    till): it counts only when the eyes, within ``local_close_s`` of the first closed
    frame, fell below ``closed_ratio`` of that local level (a blink is quick and deep; a
    slow droop or noise around a constant is neither), and they then reopen above
    ``reopen_ratio`` of it. ``local_window_s = 0`` turns the local comparison off.
    """

    closed_ratio: float = 0.65
    reopen_ratio: float = 0.75
    local_window_s: float = 0.3
    local_close_s: float = 0.3
    local_min_samples: int = 3


class BlinkDetector:
    """Feed every frame of one challenge; ``feed`` says when the blink is complete.

    Frames fed with ``armed=False`` (before the answer may count) only fill the window of
    recent eye levels; a closure counts from the first armed frame.
    """

    def __init__(self, rule: BlinkRule) -> None:
        self.rule = rule
        self._recent: collections.deque[tuple[float, float]] = collections.deque()
        self._closed_t: float | None = None
        self._local: float | None = None
        self._deep_local = False
        self.reopened_on_local = False

    @property
    def closed_seen(self) -> bool:
        return self._closed_t is not None

    def feed(self, t: float, ear: float, baseline: float, *, shape_kept: bool, armed: bool) -> bool:
        """One frame: eye aspect ``ear``, the session's open-eye ``baseline`` now, and
        whether the face kept its height/width ratio (a tilted photo squashes the eyes
        too: such a frame is never a closed eye). True once the eyes closed and reopened."""
        r = self.rule
        base = max(baseline, 1e-6)
        if self._closed_t is None:
            if armed and shape_kept and ear < r.closed_ratio * base:
                self._closed_t = t
                before = [e for (tt, e) in self._recent if t - tt <= r.local_window_s]
                if r.local_window_s > 0 and len(before) >= r.local_min_samples:
                    self._local = float(np.median(before))
                self._note_depth(t, ear)
            else:
                self._recent.append((t, ear))
                while self._recent and t - self._recent[0][0] > r.local_window_s:
                    self._recent.popleft()
            return False
        if shape_kept:
            self._note_depth(t, ear)
        if ear >= r.reopen_ratio * base:
            return True
        if self._deep_local and self._local is not None and ear >= r.reopen_ratio * self._local:
            self.reopened_on_local = True
            return True
        return False

    def _note_depth(self, t: float, ear: float) -> None:
        r = self.rule
        assert self._closed_t is not None
        if (
            self._local is not None
            and t - self._closed_t <= r.local_close_s
            and ear < r.closed_ratio * self._local
        ):
            self._deep_local = True

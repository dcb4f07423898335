"""The answer to a blink prompt: eyes seen open after the prompt, closed, then open again.

Kept apart from the session so the rule runs on synthetic eye traces in tests: it reads only
the numbers it is fed frame by frame (time, both-eye aspect ratio, the session's open-eye
baseline, whether the face kept its shape, whether the head is steady) and has no clock.

Two references for "open", judged side by side from the prompt on:

- **the session's open-eye baseline** (the rolling 90th percentile): the eyes are open at
  ``reopen_ratio`` x baseline, closed under ``closed_ratio`` x baseline. This is the rule as
  it was before issue 16, frame for frame.
- **a resting level seen after the prompt** (issue 16, d14 at the till): a shopper looking
  down at the till rests her eyes at 0.63-0.68 of the baseline, so under the baseline's
  reopen share she is never "open". The eyes count as resting when, over at least
  ``rest_s`` of frames all after the prompt, they stay within ``rest_spread`` of their
  median and that median is at least ``rest_floor`` x baseline. A closure counts against
  that level when the eyes fall under ``closed_ratio`` x level within ``rest_fall_s`` of
  the last resting frame (a blink is quick; a slow droop is not), and the blink is done
  when they reopen to ``reopen_ratio`` x the same level. ``rest_s = 0`` turns the resting level off.

Why the resting level keeps the arming rule's intent (an action already under way at the
prompt must not count): the whole resting window lies after the prompt and must be steady,
so eyes closing, closed or reopening at the prompt cannot make one; and it spans at least
``rest_s`` (>= the session's 0.2 s minimum reaction time), so no answer through it comes
sooner than a person could react.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

import numpy as np

from facepay.config import LivenessConfig

__all__ = ["BlinkAnswer", "BlinkRule"]


@dataclass(frozen=True, slots=True)
class BlinkRule:
    """The numbers of the blink rule: ``LivenessConfig``'s ``blink_*`` fields (:meth:`of`)."""

    closed_ratio: float
    reopen_ratio: float
    rest_s: float
    rest_spread: float
    rest_floor: float
    rest_fall_s: float

    @classmethod
    def of(cls, config: LivenessConfig) -> BlinkRule:
        return cls(
            closed_ratio=config.blink_closed_ratio,
            reopen_ratio=config.blink_reopen_ratio,
            rest_s=config.blink_rest_s,
            rest_spread=config.blink_rest_spread,
            rest_floor=config.blink_rest_floor,
            rest_fall_s=config.blink_rest_fall_s,
        )


class BlinkAnswer:
    """Feed every frame of one blink challenge after its prompt; ``feed`` returns True on
    the frame that completes the blink.

    ``armed_t`` is the first frame from which a closure may count (eyes open against the
    baseline on a steady head, or the end of the first resting window); ``onset_t`` the
    last open frame before the closure that was taken (the answer's start, for the
    session's late-answer check); ``on_rest_level`` whether the blink was taken against
    the resting level rather than the baseline.
    """

    def __init__(self, rule: BlinkRule) -> None:
        self.rule = rule
        self.armed_t: float | None = None
        self.onset_t: float | None = None
        self.on_rest_level = False
        # Against the baseline.
        self._base_armed = False
        self._base_onset: float | None = None
        self._base_closed = False
        # Against the resting level.
        self._window: collections.deque[tuple[float, float]] = collections.deque()
        self._run_since: float | None = None  # first frame of the unbroken run of usable frames
        self._level: float | None = None
        self._rest_t: float | None = None  # last frame that ended a resting window
        self._rest_closed_level: float | None = None
        self._rest_onset: float | None = None

    @property
    def closed_seen(self) -> bool:
        return self._base_closed or self._rest_closed_level is not None

    def feed(
        self, t: float, ear: float, baseline: float, *, shape_kept: bool, settled: bool
    ) -> bool:
        """One frame after the prompt: eye aspect ``ear``, the session's open-eye
        ``baseline`` now, whether the face kept its height/width ratio (a tilted photo
        squashes the eyes too: such a frame is never a closed eye nor a resting one) and
        whether the head is steady (needed to arm, as for every non-turn challenge)."""
        base = max(baseline, 1e-6)
        if self._by_baseline(t, ear, base, shape_kept=shape_kept, settled=settled):
            self.onset_t = self._base_onset
            return True
        if self.rule.rest_s > 0 and self._by_rest_level(
            t, ear, base, shape_kept=shape_kept, settled=settled
        ):
            self.on_rest_level = True
            # If the eyes had already closed against the baseline, the answer began at the
            # last open frame before that closure.
            onsets = [self._rest_onset]
            if self._base_closed:
                onsets.append(self._base_onset)
            self.onset_t = min(o for o in onsets if o is not None)
            return True
        if self.armed_t is None and (self._base_armed or self._rest_t is not None):
            self.armed_t = t
        return False

    def _by_baseline(
        self, t: float, ear: float, base: float, *, shape_kept: bool, settled: bool
    ) -> bool:
        r = self.rule
        is_open = ear >= r.reopen_ratio * base
        if not self._base_armed:
            if is_open and settled:
                self._base_armed = True
                self._base_onset = t
            return False
        if is_open and not self._base_closed:
            self._base_onset = t
        if ear < r.closed_ratio * base and shape_kept:
            self._base_closed = True
        return self._base_closed and is_open

    def _by_rest_level(
        self, t: float, ear: float, base: float, *, shape_kept: bool, settled: bool
    ) -> bool:
        r = self.rule
        if self._rest_closed_level is not None:
            return ear >= r.reopen_ratio * self._rest_closed_level
        if not shape_kept:
            self._window.clear()
            self._run_since = None
            return False
        level, rest_t = self._level, self._rest_t
        if (
            level is not None
            and rest_t is not None
            and ear < r.closed_ratio * level
            and t - rest_t <= r.rest_fall_s
        ):
            self._rest_closed_level = level
            self._rest_onset = rest_t
            return False
        if self._run_since is None:
            self._run_since = t
        self._window.append((t, ear))
        while self._window and t - self._window[0][0] > r.rest_s + 1e-6:
            self._window.popleft()
        if t - self._run_since < r.rest_s - 1e-6 or len(self._window) < 3 or not settled:
            return False
        ears = [e for _, e in self._window]
        median = float(np.median(ears))
        if median >= r.rest_floor * base and max(ears) - min(ears) <= r.rest_spread * median:
            self._level, self._rest_t = median, t
        return False

"""The blink rule on synthetic eye traces (issue 16: d14's partial reopen at the till).

Each trace is a list of eye aspect ratios at 30 fps fed to ``BlinkDetector`` with the
session's open-eye baseline; the detector has no clock, so the traces are the whole test.
"""

from __future__ import annotations

import numpy as np
import pytest

from facepay.config import ConfigurationError, LivenessConfig
from facepay.liveness._blink import BlinkDetector, BlinkRule

FPS = 30.0
BASELINE = 0.39  # d14's wide-open eyes a second before the prompt


def _run(
    ears: list[float],
    *,
    baseline: float = BASELINE,
    rule: BlinkRule | None = None,
    armed_from: int = 0,
    squashed: frozenset[int] = frozenset(),
) -> tuple[int | None, BlinkDetector]:
    """Feed the trace; the index of the frame that completed the blink (None: never)."""
    det = BlinkDetector(rule or BlinkRule())
    for i, ear in enumerate(ears):
        done = det.feed(i / FPS, ear, baseline, shape_kept=i not in squashed, armed=i >= armed_from)
        if done:
            return i, det
    return None, det


def _d14_like(reopen: float) -> list[float]:
    """Eyes resting at 0.26 (looking down at the till), a quick blink to 0.06, then
    reopening only to ``reopen`` (d14 3-6 s: 0.19-0.26 against a 0.39 baseline)."""
    rest = [0.26, 0.262, 0.258, 0.26, 0.261, 0.259, 0.26, 0.26, 0.262, 0.258, 0.26, 0.26]
    blink = [0.2, 0.12, 0.06, 0.06, 0.08, 0.14]
    return rest + blink + [reopen] * 12


def test_partial_reopen_to_the_level_before_the_closure_is_a_blink() -> None:
    # d14's trace: 0.207 is 0.53 of the session baseline (refused before) but 0.80 of the
    # eyes' own level before the blink.
    done, det = _run(_d14_like(0.207))
    assert done == 18  # the first reopened frame
    assert det.reopened_on_local


def test_reopening_wide_is_still_a_blink_on_the_session_baseline() -> None:
    ears = [0.39] * 12 + [0.2, 0.08, 0.06, 0.15] + [0.36] * 5
    done, det = _run(ears)
    assert done == 16
    assert not det.reopened_on_local


def test_reopening_below_the_local_share_is_not_a_blink() -> None:
    # 0.18 is 0.69 of the 0.26 before the closure: below the 0.75 reopen share.
    assert _run(_d14_like(0.18))[0] is None


def test_eyes_that_never_reopen_are_not_a_blink() -> None:
    ears = [0.26] * 12 + [0.2, 0.12, 0.06] + [0.06] * 60
    assert _run(ears)[0] is None


def test_slow_droop_then_a_small_rise_is_not_a_blink() -> None:
    # Eyes sinking from 0.39 to 0.12 over 2 s (drowsy, or a photo tipped slowly), then
    # rising a little: it falls under 0.65 of the session baseline, but never quickly
    # under 0.65 of the level just before it, so the local comparison does not apply.
    droop = list(np.linspace(0.39, 0.12, 60))
    ears = droop + list(np.linspace(0.12, 0.24, 10)) + [0.24] * 20
    done, det = _run([float(e) for e in ears])
    assert done is None
    assert det.closed_seen  # the session-baseline closure did happen


def test_noise_around_a_low_constant_is_not_a_blink() -> None:
    # Eyes at 0.255 (just above 0.65 x 0.39) with mesh noise: some frames dip under the
    # session's closed share, none is a real closure against the local level.
    rng = np.random.default_rng(16)
    ears = [float(e) for e in 0.255 + rng.normal(0.0, 0.015, 150)]
    done, det = _run(ears)
    assert det.closed_seen
    assert done is None


def test_a_photos_flat_trace_is_not_a_blink() -> None:
    rng = np.random.default_rng(7)
    ears = [float(e) for e in 0.3 + rng.normal(0.0, 0.004, 120)]
    done, det = _run(ears, baseline=0.3)
    assert done is None
    assert not det.closed_seen


def test_a_squashed_closure_does_not_count_against_the_local_level() -> None:
    # A tilted photo squashes eyes and face together: those frames are never a closure.
    ears = _d14_like(0.207)
    assert _run(ears, squashed=frozenset(range(12, 18)))[0] is None


def test_the_local_level_reaches_back_before_arming_but_a_closure_counts_only_after() -> None:
    ears = _d14_like(0.207)
    # Armed just before the blink: the level before it was fed unarmed and still counts.
    assert _run(ears, armed_from=11)[0] == 18
    # A blink over before arming (the session arms only on open eyes) is not an answer.
    assert _run(ears, armed_from=18)[0] is None


def test_local_window_zero_turns_the_local_comparison_off() -> None:
    assert _run(_d14_like(0.207), rule=BlinkRule(local_window_s=0.0))[0] is None


def test_config_rejects_a_negative_local_window() -> None:
    with pytest.raises(ConfigurationError):
        LivenessConfig(blink_local_window_s=-0.1)
    with pytest.raises(ConfigurationError):
        LivenessConfig(blink_local_close_s=-0.1)

"""The blink rule on synthetic eye traces (issue 16: d14's blink from a resting eye level).

Each trace is the both-eye aspect ratio of the frames after the prompt, at 30 fps, fed to
``BlinkAnswer`` with the session's open-eye baseline; the rule has no clock of its own, so
the traces are the whole test.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from facepay.config import ConfigurationError, LivenessConfig
from facepay.liveness._blink import BlinkAnswer, BlinkRule

FPS = 30.0
BASELINE = 0.39  # d14's wide-open eyes in the second before the prompt
_RULE = BlinkRule.of(LivenessConfig())  # the shipped rule

# d14.mp4 from 3.60 s (the frame after the till's prompt in the 3-6 s segment), eye aspect
# per frame from the mesh (`facepay analyze --per-frame`): the prompt comes mid-blink
# (0.06), the eyes rest at 0.226-0.263 looking down at the till (0.58-0.67 of the 0.39
# baseline, under its 0.75 reopen share), then blink again to 0.070 and reopen to 0.256.
D14_AFTER_PROMPT = [
    0.064, 0.061, 0.059, 0.060, 0.150,  # the first blink, under way at the prompt
    0.261, 0.259, 0.253, 0.245, 0.248, 0.248, 0.246, 0.250, 0.262, 0.246, 0.236, 0.226,
    0.263,  # resting, looking down at the till (3.77-4.17 s)
    0.070, 0.256,  # the blink (4.20 s) and the reopening (4.23 s)
]  # fmt: skip
D14_BLINK_DONE = len(D14_AFTER_PROMPT) - 1


def _run(
    ears: list[float],
    *,
    baseline: float = BASELINE,
    rule: BlinkRule | None = None,
    squashed: frozenset[int] = frozenset(),
    unsteady: frozenset[int] = frozenset(),
) -> tuple[int | None, BlinkAnswer]:
    """Feed the trace (frame i at (i + 1) / FPS after the prompt); the index of the frame
    that completed the blink, None if none did."""
    answer = BlinkAnswer(rule or _RULE)
    for i, ear in enumerate(ears):
        t = (i + 1) / FPS
        if answer.feed(t, ear, baseline, shape_kept=i not in squashed, settled=i not in unsteady):
            return i, answer
    return None, answer


def _rest_then_blink(
    level: float, *, reopen_share: float = 1.0, rest_frames: int = 12
) -> list[float]:
    """Eyes resting at ``level`` (mesh noise of +-2 %), a quick blink to 0.06, then
    reopening to ``reopen_share`` of the level and staying there."""
    rest = [level * (1.0 + 0.02 * ((i % 3) - 1)) for i in range(rest_frames)]
    return rest + [0.7 * level, 0.06, 0.06, 0.5 * level] + [reopen_share * level] * 15


def test_the_rule_is_the_configs() -> None:
    c = LivenessConfig(blink_rest_s=0.3, blink_rest_floor=0.4)
    assert BlinkRule.of(c) == BlinkRule(
        closed_ratio=c.blink_closed_ratio,
        reopen_ratio=c.blink_reopen_ratio,
        rest_s=c.blink_rest_s,
        rest_spread=c.blink_rest_spread,
        rest_floor=c.blink_rest_floor,
        rest_fall_s=c.blink_rest_fall_s,
    )


def test_d14s_blink_from_her_resting_level_is_taken() -> None:
    done, answer = _run(D14_AFTER_PROMPT)
    assert done == D14_BLINK_DONE
    assert answer.on_rest_level
    # Armed once 0.2 s of steady eyes were seen after the first blink ended, not before.
    assert answer.armed_t is not None
    assert answer.armed_t == pytest.approx((5 + 7) / FPS)
    # The answer began at the last resting frame before the closure.
    assert answer.onset_t == pytest.approx((D14_BLINK_DONE - 1) / FPS)


def test_without_the_resting_level_d14_is_refused_as_before() -> None:
    # The rule before issue 16: her eyes never reach 0.75 x baseline, so nothing arms.
    done, answer = _run(D14_AFTER_PROMPT, rule=dataclasses.replace(_RULE, rest_s=0.0))
    assert done is None
    assert answer.armed_t is None


def test_a_partial_level_blink_passes_and_a_wide_one_still_passes_on_the_baseline() -> None:
    done, answer = _run(_rest_then_blink(0.25, reopen_share=0.8))
    assert done is not None
    assert answer.on_rest_level
    # Wide-open eyes blink and reopen as always: taken on the baseline, the frame the rule
    # before issue 16 took it, with the same onset.
    wide = [0.39] * 12 + [0.2, 0.06, 0.06, 0.2, 0.36, 0.38]
    done, answer = _run(wide)
    assert done == 16
    assert not answer.on_rest_level
    assert answer.armed_t == pytest.approx(1 / FPS)
    assert answer.onset_t == pytest.approx(12 / FPS)
    assert _run(wide, rule=dataclasses.replace(_RULE, rest_s=0.0))[0] == 16


def test_eyes_that_never_reopen_are_not_a_blink() -> None:
    ears = [0.25] * 12 + [0.15, 0.06] + [0.06] * 90
    done, answer = _run(ears)
    assert done is None
    assert answer.closed_seen


def test_reopening_short_of_the_resting_levels_share_is_not_a_blink() -> None:
    # 0.7 of the level: under the 0.75 reopen share.
    assert _run(_rest_then_blink(0.25, reopen_share=0.7))[0] is None
    assert _run(_rest_then_blink(0.25, reopen_share=0.76))[0] is not None


def test_a_slow_droop_is_not_a_blink() -> None:
    # Eyes resting at 0.25, then sinking to 0.06 over 1.5 s (drowsy, or a photo tipped
    # slowly), then opening quickly to the resting level: the fall is no blink's.
    droop = [float(e) for e in np.linspace(0.25, 0.06, 45)]
    ears = [0.25] * 12 + droop + [0.15, 0.25] + [0.25] * 20
    done, answer = _run(ears)
    assert done is None
    assert not answer.closed_seen


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("sd", [0.01, 0.02])
def test_noise_around_a_constant_is_not_a_blink(seed: int, sd: float) -> None:
    # Mesh noise of up to 8 % around a resting 0.25 (under the baseline's open share, so
    # only the resting level could take it): a resting level is seen, never a closure.
    rng = np.random.default_rng(seed)
    ears = [float(e) for e in 0.25 + rng.normal(0.0, sd, 150)]
    done, answer = _run(ears, baseline=0.45)
    assert done is None
    assert not answer.closed_seen


def test_a_photos_flat_trace_is_not_a_blink() -> None:
    rng = np.random.default_rng(7)
    ears = [float(e) for e in 0.3 + rng.normal(0.0, 0.004, 120)]
    done, answer = _run(ears, baseline=0.3)
    assert done is None
    assert not answer.closed_seen
    assert answer.armed_t is not None  # open and steady: armed, never closed


def test_a_closure_under_way_at_the_prompt_does_not_count() -> None:
    # The eyes are closing, closed or reopening when the prompt comes: however they
    # reopen, that blink began before the prompt, on the baseline or at a resting level.
    for reopen in (0.25, 0.39):
        ears = [0.15, 0.06, 0.06, 0.1, 0.2] + [reopen] * 60
        done, _ = _run(ears)
        assert done is None, reopen
    # Resting before the prompt is not resting after it: a blink 0.13 s after the prompt
    # from a level seen only before it is not taken.
    ears = [0.25] * 4 + [0.15, 0.06, 0.06, 0.25] + [0.25] * 30
    assert _run(ears)[0] is None


def test_eyes_resting_too_low_are_not_an_open_eye() -> None:
    # 0.45 of the baseline: a squint, not a resting open eye; 0.55 is one.
    assert _run(_rest_then_blink(0.45 * BASELINE))[0] is None
    assert _run(_rest_then_blink(0.55 * BASELINE))[0] is not None


def test_an_unsteady_rest_does_not_arm() -> None:
    # Eyes moving by more than 20 % of their level within 0.2 s are no resting level.
    jumpy = [0.22, 0.28] * 8 + [0.15, 0.06, 0.06, 0.25] + [0.25] * 10
    assert _run(jumpy)[0] is None
    # Nor does a rest on a moving head (the session's settled test, as for every challenge).
    assert _run(_rest_then_blink(0.25), unsteady=frozenset(range(40)))[0] is None


def test_squashed_frames_are_neither_a_rest_nor_a_closure() -> None:
    # A tilted photo squashes the eyes and the face together.
    ears = _rest_then_blink(0.25)
    assert _run(ears, squashed=frozenset(range(12, 16)))[0] is None
    assert _run(ears, squashed=frozenset(range(12)))[0] is None


def test_an_earlier_closure_on_the_baseline_keeps_the_earlier_onset() -> None:
    # Open wide (armed on the baseline), eyes dropping to a resting 0.24 (under 0.65 x
    # baseline: a closure on the baseline), then a blink from that rest reopening to it.
    ears = [0.39] * 6 + [0.24] * 10 + [0.06, 0.06, 0.24, 0.24]
    done, answer = _run(ears)
    assert done == 18
    assert answer.on_rest_level
    assert answer.onset_t == pytest.approx(6 / FPS)


@pytest.mark.parametrize(
    "field",
    ["blink_rest_s", "blink_rest_spread", "blink_rest_fall_s"],
)
def test_negative_rest_settings_are_refused(field: str) -> None:
    with pytest.raises(ConfigurationError):
        LivenessConfig(**{field: -0.1})


@pytest.mark.parametrize("floor", [0.0, 1.2])
def test_a_rest_floor_outside_0_1_is_refused(floor: float) -> None:
    with pytest.raises(ConfigurationError):
        LivenessConfig(blink_rest_floor=floor)

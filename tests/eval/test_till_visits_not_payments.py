"""`facepay eval till-visits` keeps the eval honest: a segment that is not a shopper paying
(no person in it, or a recording with no answer to any plan after the prompt) is shown in
its own column, outside the genuine payments, and the refused rate is given both ways."""

from __future__ import annotations

from pathlib import Path

import pytest

from facepay.checkout import CheckoutState, LivenessProgressed, QualityPrompt, StateChanged
from facepay.eval._till_visits import (
    NO_ACTION,
    NO_ACTION_SEGMENTS,
    NO_PERSON,
    NOT_PAYMENTS,
    VisitResult,
    _Watch,
    clip_duration_s,
    clip_segments,
    summarize,
)
from facepay.types import QualityReason

R = QualityReason


def test_a_segment_where_no_frame_shows_a_face_is_no_person() -> None:
    watch = _Watch()
    for i in range(3):
        watch(QualityPrompt(reasons=(R.NO_FACE,), frame_index=i))
    watch(StateChanged(previous=CheckoutState.IDLE, state=CheckoutState.CAPTURING, event="begin"))
    assert not watch.face_seen
    assert not watch.liveness_started
    # A face the gate refused (eyes shut) is a person: the refusal counts.
    watch(QualityPrompt(reasons=(R.EYES_CLOSED,), frame_index=3))
    assert watch.face_seen
    started = _Watch()
    started(
        LivenessProgressed(
            challenge=None,
            challenge_index=0,
            challenge_count=1,
            seconds_left=3.0,
            progress=0.0,
            frame_index=0,
        )
    )
    assert started.face_seen
    assert started.liveness_started


@pytest.mark.eval
def test_the_segments_without_an_answer_are_real_segments_of_the_3_s_cut(eval_dir: Path) -> None:
    """The annotation names segments by clip, start and end: each must be a segment the
    eval actually cuts, or it would silently never apply."""
    for clip, start, end in NO_ACTION_SEGMENTS:
        path = eval_dir / "video" / clip
        cut = {(s.start_s, s.end_s) for s in clip_segments(path, clip_duration_s(path), 3.0)}
        assert (start, end) in cut, (clip, start, end)


def _visit(kind: str, outcome: str, segment: str = "a.mp4#1@3-6s") -> VisitResult:
    return VisitResult("learning", kind, segment, "a.mp4", outcome, "blink", "")


def test_a_segment_that_is_not_a_payment_has_its_own_column_and_both_rates_are_shown() -> None:
    visits = [
        _visit("enroll", "enrolled", "a.mp4#0@0-3s"),
        _visit("genuine", "approved_on_face"),
        _visit("genuine", "approved_on_face"),
        _visit("genuine", "refused_liveness"),
        _visit("genuine", NO_PERSON),
        _visit("genuine", NO_ACTION),
        _visit("impostor", NO_ACTION),
        _visit("impostor", "refused_no_match"),
    ]
    s = summarize(visits)
    assert s["genuine_payments"] == 3  # the two segments that are not payments are outside
    assert s["not_payments"] == {NO_PERSON: 1, NO_ACTION: 1}
    assert s["refused_rate"] == pytest.approx(1 / 3)
    assert s["refused_rate_counting_all"] == pytest.approx(3 / 5)
    assert s["per_clip"]["a.mp4"][NO_PERSON] == 1
    assert s["impostor_payments"] == 1
    assert s["impostor_not_payments"] == {NO_PERSON: 0, NO_ACTION: 1}
    assert set(NOT_PAYMENTS) == {NO_PERSON, NO_ACTION}

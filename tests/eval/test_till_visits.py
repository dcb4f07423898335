"""`facepay eval till-visits` enrolls from one segment of a clip and pays from the others
through the till's own code (Till.enroll, CheckoutSession.pay, answer_step_up) against a
real sandbox; impostor visits claim another clip's phone and must never count as approved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from facepay.cli import main
from facepay.eval._till_visits import (
    APPROVED_FACE,
    APPROVED_PIN,
    OUTCOMES,
    VisitResult,
    challenges_for,
    clip_segments,
    same_person,
    summarize,
)


def test_segments_do_not_overlap_and_a_short_tail_is_dropped() -> None:
    clip = Path("c.mp4")
    segments = clip_segments(clip, 7.3, 3.0)
    assert [(s.start_s, s.end_s) for s in segments] == [(0.0, 3.0), (3.0, 6.0)]
    # A tail of at least two thirds of a window is kept: a short clip is one segment.
    assert [(s.start_s, s.end_s) for s in clip_segments(clip, 2.4, 3.0)] == [(0.0, 2.4)]
    assert [s.index for s in clip_segments(clip, 8.5, 3.0)] == [0, 1, 2]
    with pytest.raises(ValueError, match="positive"):
        clip_segments(clip, 5.0, 0.0)


def test_a_segment_tries_the_clips_own_challenge_first_then_every_other_once() -> None:
    assert challenges_for("d12.mp4")[:2] == ("turn_left", "turn_right")
    assert challenges_for("unknown.mp4")[0] == "blink"
    for clip in ("d12.mp4", "d9.mp4", "unknown.mp4"):
        tried = challenges_for(clip)
        assert sorted(tried) == sorted(set(tried)) == sorted(challenges_for("d3.mp4"))


def test_clips_of_one_man_never_play_impostors_of_each_other() -> None:
    assert same_person("single_face.mp4", "noface_face.mov")
    assert same_person("d3.mp4", "d3.mp4")
    assert not same_person("single_face.mp4", "d12.mp4")


def _visit(kind: str, clip: str, outcome: str, score: float | None = None) -> VisitResult:
    return VisitResult("learning", kind, f"{clip}#0@0-3s", clip, outcome, "blink", "", score)


def test_an_approved_impostor_is_a_false_accept_never_a_genuine_approval() -> None:
    visits = [
        _visit("enroll", "a.mp4", "enrolled"),
        _visit("genuine", "a.mp4", APPROVED_FACE, 0.98),
        _visit("genuine", "a.mp4", APPROVED_PIN, 0.95),
        _visit("genuine", "a.mp4", "refused_no_match", 0.93),
        _visit("genuine", "a.mp4", "refused_quality"),
        _visit("enroll", "b.mp4", "not_enrolled"),
        _visit("impostor", "b.mp4", APPROVED_PIN, 0.945),
        _visit("impostor", "b.mp4", "refused_no_match", 0.9),
    ]
    s = summarize(visits, adaptive_updates=0)
    assert s["genuine_payments"] == 4 == sum(s["genuine"].values())
    assert s["genuine"][APPROVED_FACE] == 1
    assert s["genuine"][APPROVED_PIN] == 1
    assert s["refused_rate"] == pytest.approx(0.5)
    assert s["refused_on_face_rate"] == pytest.approx(0.25)
    assert s["step_up_rate"] == pytest.approx(0.25)
    assert s["no_match_distances"] == [0.07]
    assert s["not_enrolled"] == ["b.mp4"]
    assert s["impostor_payments"] == 2
    assert s["impostor_accepted"] == 1
    assert s["per_clip"]["a.mp4"]["enrolled"] is True


def test_the_text_report_names_every_outcome_and_the_impostors_accepted() -> None:
    from facepay._commands.eval_till import _human

    visits = [
        _visit("enroll", "a.mp4", "enrolled"),
        _visit("genuine", "a.mp4", APPROVED_PIN, 0.95),
        _visit("impostor", "a.mp4", "refused_no_match", 0.9),
    ]
    report = {"path": "Till", "segment_s": 3.0, "settings": {"learning": summarize(visits)}}
    text = _human(report)
    assert "1 genuine payments: 0 on face, 1 after PIN, refused 0.0%" in text
    assert "impostors accepted 0 of 1" in text
    assert "a.mp4: enrolled=True face=0 pin=1" in text


@pytest.mark.eval
@pytest.mark.slow
def test_eval_till_visits_pays_through_the_till_and_accepts_no_impostor(
    eval_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = eval_dir / "video"
    # d12: the strongest head turns (a turn_left plan), two 3 s segments; single_face: one
    # segment, enrolled only, so that d12's segments have someone else's phone to claim.
    code = main(
        [
            "eval",
            "till-visits",
            str(video / "d12.mp4"),
            str(video / "single_face.mp4"),
            "--settings",
            "learning",
            "--reading",
            "segments",
            "--details",
            "--json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["segments"] == {"d12.mp4": 2, "single_face.mp4": 1}
    # The old keys are the segment reading's, under its name too.
    assert out["readings"] == {"segments": {"settings": out["settings"]}}
    s = out["settings"]["learning"]
    assert s["not_enrolled"] == []
    # Every segment but the enrollment's pays once: the outcomes add up to the payments.
    d12 = s["per_clip"]["d12.mp4"]
    assert sum(d12[o] for o in OUTCOMES) == 2 - 1 == s["genuine_payments"]
    assert sum(s["genuine"].values()) == s["genuine_payments"]
    # Each of the three segments claims the other clip's phone once.
    impostors = [v for v in out["visits"] if v["kind"] == "impostor"]
    assert len(impostors) == s["impostor_payments"] == 3
    assert s["impostor_accepted"] == 0
    assert not any(v["outcome"] in (APPROVED_FACE, APPROVED_PIN) for v in impostors)
    # Every impostor reached the backend's decision (a score from its audit line) and was
    # refused there, below the grey zone: d12 and single_face are far apart.
    assert all(v["outcome"] == "refused_no_match" and v["score"] < 0.94 for v in impostors)
    # The till sent more than one view of d12 (it turned its head while enrolling).
    enrolled = next(
        v for v in out["visits"] if v["kind"] == "enroll" and v["outcome"] == "enrolled"
    )
    assert enrolled["detail"].startswith("views=")
    assert int(enrolled["detail"].split("=")[1]) >= 2


@pytest.mark.parametrize("bad", ["--segment-s=0", "--segment-s=x", "--settings=fast"])
def test_a_bad_option_is_a_usage_error(
    bad: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = tmp_path / "none.mp4"
    clip.write_bytes(b"")
    if bad.startswith("--settings"):
        assert main(["eval", "till-visits", str(clip), bad]) == 2
    else:
        with pytest.raises(SystemExit) as exc:
            main(["eval", "till-visits", str(clip), bad])
        assert exc.value.code == 2
    assert bad.split("=")[0] in capsys.readouterr().err

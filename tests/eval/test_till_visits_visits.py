"""`facepay eval till-visits`, the visit reading: a shopper's stay at the till as they live it.

The camera runs on past the segment's end (never into the frames the shopper enrolled
with), and an end after which the kiosk offers "Try again" is a new attempt on the SAME
camera, continuing from the frame after the last one read, up to ``--tries``. Synthetic
cameras pin the camera, the boundary and the loop; the real clips run the product."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from facepay.checkout import FailureReason, PaymentStatus, Receipt
from facepay.cli import main
from facepay.eval._till_stays import (
    CAMERA_ENDED,
    NOT_RETRYABLE,
    TRIES_USED,
    Attempt,
    ShopperVisit,
    VisitCamera,
    run_visit,
    summarize_visits,
    visit_stop_s,
    visit_windows,
)
from facepay.eval._till_visits import (
    APPROVED_FACE,
    APPROVED_PIN,
    NO_PERSON,
    clip_duration_s,
    clip_segments,
)
from facepay.types import Frame


def _frames(n: int, step: float = 0.1) -> list[Frame]:
    image = np.zeros((4, 4, 3), dtype=np.uint8)
    return [Frame(image=image, timestamp=round(i * step, 3), index=i) for i in range(n)]


def _reads(k: int) -> Callable[[VisitCamera, str], list[float]]:
    """An attempt that reads ``k`` frames the way the till does (feed, then close the
    iterator when its state is over) and returns their timestamps."""

    def read(camera: VisitCamera, plan: str) -> list[float]:
        del plan
        frames = camera.frames()
        seen: list[float] = []
        try:
            for frame in frames:
                seen.append(frame.timestamp)
                if len(seen) == k:
                    break
        finally:
            frames.close()
        return seen

    return read


def _attempt(
    reads: int, *, outcome: str = "refused_liveness", reason: str = "liveness_failed"
) -> tuple[Callable[[VisitCamera, str], Attempt], list[tuple[str, list[float]]]]:
    log: list[tuple[str, list[float]]] = []
    read = _reads(reads)

    def attempt(camera: VisitCamera, plan: str) -> Attempt:
        seen = read(camera, plan)
        log.append((plan, seen))
        retryable = reason not in ("cancelled", "processing_timeout")
        first, last = (seen[0], seen[-1]) if seen else (None, None)
        return Attempt(plan, outcome, reason, retryable, first, last)

    return attempt, log


# ------------------------------------------------------------------ the camera that runs on


def test_a_new_attempt_continues_from_the_frame_after_the_last_one_read() -> None:
    camera = VisitCamera(_frames(10), start_s=0.0)
    assert camera.now() == 0.0
    assert _reads(3)(camera, "blink") == [0.0, 0.1, 0.2]
    assert camera.now() == 0.2  # the till's clock: the last frame handed out
    # The till closed its iterator; the next attempt starts at the 4th frame, not the 1st.
    assert _reads(4)(camera, "smile") == [0.3, 0.4, 0.5, 0.6]
    assert camera.frames_read == 7
    assert camera.peek_s() == 0.7  # peeking hands nothing out: the clock stays
    assert camera.now() == 0.6
    assert _reads(99)(camera, "blink") == [0.7, 0.8, 0.9]
    assert camera.ended
    assert _reads(99)(camera, "blink") == []


def test_the_camera_stops_before_its_stop_time_and_releases_the_clip() -> None:
    closed: list[bool] = []

    def clip() -> object:
        try:
            yield from _frames(10)
        finally:
            closed.append(True)

    camera = VisitCamera(clip(), start_s=0.0, stop_s=0.45)  # type: ignore[arg-type]
    assert _reads(99)(camera, "blink") == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert camera.ended
    assert closed == [True]


# ------------------------------------------------------------ the enrollment-frames boundary


def test_a_visit_never_reads_the_frames_its_shopper_enrolled_with() -> None:
    clip = Path("c.mp4")
    segments = clip_segments(clip, 18.0, 3.0)
    assert visit_stop_s(0.0, 9.0) == 9.0
    assert visit_stop_s(12.0, 9.0) is None  # after the enrollment: on to the clip's end
    windows = visit_windows(segments, enrolled_index=3)  # enrolled on 9-12 s
    assert [(s.start_s, stop) for s, stop in windows] == [
        (0.0, 9.0),
        (3.0, 9.0),
        (6.0, 9.0),
        (12.0, None),
        (15.0, None),
    ]
    enrollment = segments[3]
    for segment, stop in windows:
        end = 18.0 if stop is None else stop
        # [start, end) never meets [enrollment.start_s, enrollment.end_s).
        assert end <= enrollment.start_s or segment.start_s >= enrollment.end_s


@pytest.mark.eval
def test_on_a_real_clip_the_camera_stops_at_the_enrollment_segments_start(
    eval_dir: Path,
) -> None:
    clip = eval_dir / "video" / "WolfgangLanger_Pexels.mp4"
    with VisitCamera.of_clip(clip, start_s=3.0, stop_s=9.0) as camera:
        stamps = _reads(10_000)(camera, "blink")
        assert camera.ended
    assert stamps[0] >= 3.0
    assert max(stamps) < 9.0
    assert max(stamps) > 8.9  # it did run past the 3-s segment's end (6 s)
    with VisitCamera.of_clip(clip, start_s=12.0) as camera:
        stamps = _reads(10_000)(camera, "blink")
    assert max(stamps) == pytest.approx(clip_duration_s(clip))


# ------------------------------------------------------------------- tries and retry rules


def test_a_retryable_end_is_tried_again_on_the_running_camera_up_to_the_tries() -> None:
    camera = VisitCamera(_frames(100), start_s=0.0)
    attempt, log = _attempt(reads=5)
    ended, attempts = run_visit(camera, ("turn_left", "blink"), attempt, tries=3)
    assert ended == TRIES_USED
    assert len(attempts) == 3
    # The next plan each time, in order (wrapping round), on frames never read before.
    assert [plan for plan, _ in log] == ["turn_left", "blink", "turn_left"]
    stamps = [t for _, seen in log for t in seen]
    assert stamps == sorted(set(stamps)) == [round(0.1 * i, 3) for i in range(15)]
    assert not camera.ended  # frames were left: it was the tries that ran out
    # One more try is one more attempt.
    attempt, log = _attempt(reads=5)
    ended, attempts = run_visit(
        VisitCamera(_frames(100), start_s=0.0), ("blink",), attempt, tries=4
    )
    assert (ended, len(attempts)) == (TRIES_USED, 4)


def test_a_non_retryable_end_is_not_tried_again() -> None:
    camera = VisitCamera(_frames(100), start_s=0.0)
    attempt, log = _attempt(reads=5, outcome="refused_other", reason="processing_timeout")
    ended, attempts = run_visit(camera, ("blink", "smile"), attempt, tries=3)
    assert ended == NOT_RETRYABLE
    assert len(attempts) == len(log) == 1


def test_the_camera_running_out_ends_the_visit() -> None:
    camera = VisitCamera(_frames(8), start_s=0.0)
    attempt, log = _attempt(reads=5)
    ended, attempts = run_visit(camera, ("blink",), attempt, tries=3)
    assert ended == CAMERA_ENDED
    assert [len(seen) for _, seen in log] == [5, 3]  # the second got what was left
    # A camera with no frame at all: no attempt is made.
    ended, attempts = run_visit(VisitCamera([], start_s=0.0), ("blink",), attempt, tries=3)
    assert (ended, attempts) == (CAMERA_ENDED, ())


def test_an_approval_ends_the_visit_at_once() -> None:
    camera = VisitCamera(_frames(100), start_s=0.0)
    attempt, _ = _attempt(reads=5, outcome=APPROVED_FACE, reason="")
    ended, attempts = run_visit(camera, ("blink",), attempt, tries=3)
    assert (ended, len(attempts), camera.frames_read) == ("approved", 1, 5)
    with pytest.raises(ValueError, match="tries"):
        run_visit(camera, ("blink",), attempt, tries=0)


def test_the_kiosk_offers_try_again_exactly_where_the_sdk_says_another_attempt_may_pay() -> None:
    """The eval retries where the SDK's rule says another attempt may pay
    (``FailureReason``/``Receipt.another_attempt_may_pay``); the kiosk's own tables
    (kiosk_app/model/_outcome.py) offer "Try again" on exactly those ends, for every
    FailureReason, every liveness reason and every decline reason of the protocol."""
    from facepay import LivenessReason, wire
    from kiosk_app.model._outcome import _DECLINES, classify_reason

    for reason in FailureReason:
        assert reason.another_attempt_may_pay == classify_reason(reason).can_retry_face, reason
    for live in LivenessReason:
        kind = classify_reason(FailureReason.LIVENESS_FAILED, (live,))
        assert FailureReason.LIVENESS_FAILED.another_attempt_may_pay == kind.can_retry_face, live
    for decline in wire.DeclineReason:
        assert decline.another_attempt_may_pay == _DECLINES[decline.value].can_retry_face, decline
        receipt = _declined(decline.value)
        assert receipt.another_attempt_may_pay == decline.another_attempt_may_pay, decline
    # A decline reason this SDK does not know (a newer backend) is the kiosk's ERROR: "Try again".
    assert _declined("something_new").another_attempt_may_pay
    assert "something_new" not in _DECLINES


def _declined(reason: str) -> Receipt:
    return Receipt(
        status=PaymentStatus.DECLINED,
        amount_minor=100,
        currency="EUR",
        basket_reference="order-1",
        authorization_id="auth_1",
        idempotency_key="key-1",
        decline_reason=reason,
    )


# ------------------------------------------------------------------------------ the summary


def _visit(
    kind: str, outcome: str, attempts: int, *, failures: int = 0, no_answer: bool = False
) -> ShopperVisit:
    failed = Attempt("blink", "refused_liveness", "liveness_failed", True, 0.0, 1.0)
    tries = (*[failed] * (attempts - 1), Attempt("blink", outcome, "", True, 1.0, 2.5))
    approved = outcome in (APPROVED_FACE, APPROVED_PIN)
    return ShopperVisit(
        setting="learning",
        kind=kind,
        clip="a.mp4",
        start_s=0.0,
        stop_s=None,
        claimed_clip="a.mp4" if kind == "genuine" else "b.mp4",
        outcome=outcome,
        ended="approved" if approved else TRIES_USED,
        attempts=tries,
        seconds_to_approval=2.5 if approved else None,
        backend_failures=failures,
        segment_had_no_answer=no_answer,
    )


def test_an_impostor_accepted_in_any_try_is_a_false_accept_and_failures_are_counted() -> None:
    visits = [
        _visit("genuine", APPROVED_FACE, 1),
        _visit("genuine", APPROVED_PIN, 2, failures=1),
        _visit("genuine", "refused_no_match", 3, failures=5),
        _visit("genuine", "refused_liveness", 3, no_answer=True),
        _visit("genuine", NO_PERSON, 1),
        _visit("impostor", APPROVED_PIN, 3, failures=2),  # accepted on its third try
        _visit("impostor", "refused_no_match", 3, failures=3),
    ]
    s = summarize_visits(visits, lockout_failures=5)
    assert s["visits"] == 4  # the no-person visit is not a shopper paying
    assert s["not_payments"] == {NO_PERSON: 1}
    assert (s["genuine"][APPROVED_FACE], s["genuine"][APPROVED_PIN], s["refused"]) == (1, 1, 2)
    assert s["refused_rate"] == pytest.approx(0.5)
    assert s["refused_by_end"][TRIES_USED] == 2
    assert s["same_starts_as_segments"] == {"visits": 3, "refused": 1, "refused_rate": 1 / 3}
    assert s["tries_used"] == {1: 1, 2: 1, 3: 2}
    assert s["seconds_to_approval"] == {"median": 2.5, "max": 2.5}
    assert s["backend_failures"]["max_per_visit"] == 5
    assert s["backend_failures"]["visits_that_would_lock"] == 1
    assert s["impostor_visits"] == 2
    assert s["impostor_accepted"] == 1
    assert s["impostor_accepted_visits"] == ["a.mp4@0s-end"]


# ------------------------------------------------------------------------- the real clips


@pytest.mark.eval
@pytest.mark.slow
def test_visits_pay_through_the_till_on_a_camera_that_runs_on(
    eval_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = eval_dir / "video"
    code = main(
        [
            "eval",
            "till-visits",
            str(video / "d12.mp4"),
            str(video / "single_face.mp4"),
            "--settings",
            "learning",
            "--reading",
            "visits",
            "--details",
            "--json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert set(out["readings"]) == {"visits"}
    assert out["settings"] == {}  # the segment reading did not run
    reading = out["readings"]["visits"]
    assert reading["tries"] == 3
    s = reading["settings"]["learning"]
    # d12 enrolls on 0-3 s; its one visit starts at 3 s and pays on the face.
    assert s["visits"] == 1
    assert s["genuine"][APPROVED_FACE] == 1
    assert s["impostor_accepted"] == 0
    details = reading["details"]
    genuine = next(v for v in details if v["kind"] == "genuine")
    assert genuine["start_s"] == 3.0
    assert genuine["stop_s"] is None
    assert 0 < genuine["seconds_to_approval"] <= 20.0  # within the till's capture timeout
    impostors = [v for v in details if v["kind"] == "impostor"]
    assert len(impostors) == s["impostor_visits"] == 3
    assert any(v["tries"] > 1 for v in impostors)  # a no-match is tried again
    for visit in impostors:
        assert visit["outcome"] not in (APPROVED_FACE, APPROVED_PIN)
        assert 1 <= visit["tries"] <= 3
        spans = [(a["first_s"], a["last_s"]) for a in visit["attempts"]]
        assert spans[0][0] == pytest.approx(visit["start_s"], abs=0.05)
        for (_, last), (first, _) in itertools.pairwise(spans):
            # The next attempt starts on the frame after the last one read: no rewinding.
            assert last < first < last + 0.05
    # Every no-match the backend decided is in its own lockout counter of the claim.
    for visit in impostors:
        no_match = sum(a["reason"] == "no_match" for a in visit["attempts"])
        assert visit["backend_failures"] >= no_match


@pytest.mark.parametrize("bad", ["--tries=0", "--tries=x", "--reading=fast"])
def test_a_bad_visit_option_is_a_usage_error(
    bad: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = tmp_path / "none.mp4"
    clip.write_bytes(b"")
    if bad.startswith("--reading"):
        assert main(["eval", "till-visits", str(clip), bad]) == 2
    else:
        with pytest.raises(SystemExit) as exc:
            main(["eval", "till-visits", str(clip), bad])
        assert exc.value.code == 2
    assert bad.split("=")[0] in capsys.readouterr().err


def test_the_text_report_gives_the_visit_reading_beside_the_segment_one() -> None:
    from facepay._commands.eval_till import _human

    visits = [
        _visit("genuine", APPROVED_FACE, 2, failures=1),
        _visit("genuine", "refused_liveness", 3),
        _visit("impostor", "refused_no_match", 3, failures=3),
    ]
    report = {
        "path": "Till",
        "segment_s": 3.0,
        "settings": {},
        "readings": {"visits": {"tries": 3, "settings": {"learning": summarize_visits(visits, 5)}}},
    }
    text = _human(report)
    assert "visits (the camera runs on; up to 3 tries):" in text
    assert "learning: 2 genuine visits: 1 on face, 0 after PIN, refused 1 (50.0%;" in text
    assert "tries used 1" in text
    assert "impostors accepted 0 of 1" in text
    assert "segments (the camera stops" not in text  # that reading did not run

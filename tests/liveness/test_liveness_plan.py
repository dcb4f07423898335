"""Challenge plans: seeded, uniform, always with one prompted turn; explicit plans checked."""

from __future__ import annotations

import collections

import pytest

from facepay.liveness import ChallengePlan, LivenessChallenge, parse_challenges


def test_same_seed_gives_the_same_plan() -> None:
    seed = bytes(range(32))
    assert ChallengePlan.from_seed(seed, count=3) == ChallengePlan.from_seed(seed, count=3)


def test_plans_hold_exactly_one_turn_and_no_repeats() -> None:
    for i in range(400):
        plan = ChallengePlan.from_seed(i.to_bytes(16, "big"), count=2 + i % 4)
        assert len(plan) == 2 + i % 4
        assert sum(c.is_turn for c in plan) == 1
        assert len(set(plan.challenges)) == len(plan)


def test_two_challenge_plans_cover_all_sixteen_forms_evenly() -> None:
    counts = collections.Counter(
        ChallengePlan.from_seed(i.to_bytes(8, "big")).names for i in range(3200)
    )
    assert len(counts) == 16
    # 200 expected per form; a biased draw would show far outside this band.
    assert min(counts.values()) > 140
    assert max(counts.values()) < 260


def test_left_and_right_turns_are_equally_likely() -> None:
    turns = collections.Counter(
        next(c for c in ChallengePlan.from_seed(i.to_bytes(8, "big")) if c.is_turn)
        for i in range(2000)
    )
    assert abs(turns[LivenessChallenge.TURN_LEFT] - 1000) < 100


@pytest.mark.parametrize("seed", [b"", b"short", "not-bytes"])
def test_a_weak_or_missing_seed_is_refused(seed: object) -> None:
    with pytest.raises(ValueError, match="seed"):
        ChallengePlan.from_seed(seed, count=2)  # type: ignore[arg-type]


@pytest.mark.parametrize("count", [0, 1, 6])
def test_count_must_be_two_to_five(count: int) -> None:
    with pytest.raises(ValueError, match="count"):
        ChallengePlan.from_seed(b"0123456789abcdef", count=count)


def test_explicit_plans_parse_names_and_reject_unknown_ones() -> None:
    plan = parse_challenges("blink, turn_left")
    assert plan.names == ("blink", "turn_left")
    assert [c.prompt_code for c in plan] == ["liveness.blink", "liveness.turn_left"]
    with pytest.raises(ValueError, match="unknown challenge 'wink'"):
        parse_challenges("blink,wink")
    with pytest.raises(ValueError, match="repeat"):
        ChallengePlan.of(["blink", "blink"])
    with pytest.raises(ValueError, match="1 to 5"):
        ChallengePlan.of([])


@pytest.mark.parametrize("count", [4, 5])
def test_a_store_that_raises_the_count_gets_a_plan_its_backend_accepts(count: int) -> None:
    """The kiosk's staff may raise the count to 5: the till draws that plan and a
    production backend takes it as the seed's plan (before, 4 or 5 broke every payment)."""
    from facepay.checkout import seeded_liveness
    from facepay.config import CheckoutConfig
    from facepay.server._decision import liveness_refusal

    seed = bytes(range(32))
    session = seeded_liveness(CheckoutConfig(liveness_challenges=count))(seed, None)
    assert len(session.plan) == count
    assert sum(c.is_turn for c in session.plan) == 1
    evidence = {"parallax_checked": True, "plan": ",".join(session.plan.names)}
    refusal = liveness_refusal(
        decision="live", challenges=session.plan.names, evidence=evidence, seed=seed, sandbox=False
    )
    assert refusal is None

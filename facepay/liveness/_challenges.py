"""Challenges and challenge plans.

A plan is derived from the backend's session nonce, so a pre-recorded clip cannot know the
order in advance, and the backend can recompute which plan the till showed.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from facepay.config import LIVENESS_PLAN_SIZES

__all__ = ["ChallengePlan", "LivenessChallenge", "parse_challenges"]


class LivenessChallenge(str, enum.Enum):
    """What the shopper is asked to do. Left and right are the **shopper's own**: ``turn_left``
    means the shopper turns towards their own left hand (on a non-mirrored camera image the
    face moves to the image's right; a kiosk that shows a mirrored preview shows it going left).
    """

    BLINK = "blink"
    TURN_LEFT = "turn_left"
    TURN_RIGHT = "turn_right"
    LOOK_UP = "look_up"
    OPEN_MOUTH = "open_mouth"
    SMILE = "smile"

    @property
    def prompt_code(self) -> str:
        """A stable code the UI maps to its own localized text and pictogram."""
        return f"liveness.{self.value}"

    @property
    def is_turn(self) -> bool:
        return self in (LivenessChallenge.TURN_LEFT, LivenessChallenge.TURN_RIGHT)


_TURNS = (LivenessChallenge.TURN_LEFT, LivenessChallenge.TURN_RIGHT)
_OTHERS = (
    LivenessChallenge.BLINK,
    LivenessChallenge.LOOK_UP,
    LivenessChallenge.OPEN_MOUTH,
    LivenessChallenge.SMILE,
    LivenessChallenge.TURN_LEFT,
    LivenessChallenge.TURN_RIGHT,
)


class _SeedStream:
    """Deterministic integers from a seed (SHA-256 in counter mode): same seed, same plan."""

    def __init__(self, seed: bytes) -> None:
        self._seed = seed
        self._counter = 0

    def below(self, n: int) -> int:
        # Rejection sampling keeps the choice uniform.
        limit = (1 << 64) - ((1 << 64) % n)
        while True:
            block = hashlib.sha256(
                b"facepay-liveness-plan\x00" + self._seed + self._counter.to_bytes(8, "big")
            ).digest()
            self._counter += 1
            value = int.from_bytes(block[:8], "big")
            if value < limit:
                return value % n


@dataclass(frozen=True, slots=True)
class ChallengePlan:
    """An ordered list of 1 to 5 distinct challenges (a seed draws 2 to 5)."""

    challenges: tuple[LivenessChallenge, ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.challenges) <= max(LIVENESS_PLAN_SIZES):
            raise ValueError(f"a challenge plan has 1 to {max(LIVENESS_PLAN_SIZES)} challenges")
        if len(set(self.challenges)) != len(self.challenges):
            raise ValueError("a challenge plan does not repeat a challenge")
        for c in self.challenges:
            if not isinstance(c, LivenessChallenge):
                raise TypeError(f"not a LivenessChallenge: {c!r}")

    @classmethod
    def of(cls, challenges: Iterable[LivenessChallenge | str]) -> ChallengePlan:
        """An explicit plan, e.g. ``ChallengePlan.of(["blink", "turn_left"])``."""
        out: list[LivenessChallenge] = []
        for c in challenges:
            try:
                out.append(LivenessChallenge(c))
            except ValueError:
                names = ", ".join(x.value for x in LivenessChallenge)
                raise ValueError(f"unknown challenge {c!r} (known: {names})") from None
        return cls(tuple(out))

    @classmethod
    def from_seed(cls, seed: bytes, count: int = 2) -> ChallengePlan:
        """The plan for a session nonce: ``count`` (2 to 5) distinct challenges.

        Every plan holds exactly one head turn, left or right with equal odds, because the
        3D parallax check needs a prompted turn; the other challenges and the order are drawn
        uniformly. A 2-challenge plan has 16 equally likely forms, a 3-challenge plan 72, so
        a replayed clip that acts on its own schedule rarely matches.
        """
        if not isinstance(seed, bytes | bytearray) or len(seed) < 8:
            raise ValueError("the plan seed must be at least 8 bytes (the backend's session nonce)")
        if count not in LIVENESS_PLAN_SIZES:
            raise ValueError("count must be 2 to 5")
        rng = _SeedStream(bytes(seed))
        turn = _TURNS[rng.below(2)]
        pool = [c for c in _OTHERS if c is not turn and not c.is_turn]
        chosen = [turn]
        for _ in range(count - 1):
            chosen.append(pool.pop(rng.below(len(pool))))
        order: list[LivenessChallenge] = []
        while chosen:
            order.append(chosen.pop(rng.below(len(chosen))))
        return cls(tuple(order))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.value for c in self.challenges)

    def __len__(self) -> int:
        return len(self.challenges)

    def __iter__(self) -> Iterator[LivenessChallenge]:
        return iter(self.challenges)


def parse_challenges(text: str | Sequence[str]) -> ChallengePlan:
    """``"blink,turn_left"`` (the CLI's form) or a list of names -> a plan."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    return ChallengePlan.of(p.strip() for p in parts if p.strip())

"""The backend's decision rules (templates, sessions, lockouts, retention, replays,
liveness), as plain functions.

Each one takes plain data (no database, no clock, no HTTP) and returns a verdict, so a
rule can be read and tested on its own; the modules of facepay.server gather the data
and act on the verdict.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

# The till's own plan derivation, reused (not a second copy): facepay.liveness draws the
# challenges a till asks for from the session's seed, and the backend recomputes them.
from facepay.config import LIVENESS_PLAN_SIZES
from facepay.liveness._challenges import ChallengePlan
from facepay.server._repository import LockoutRow, SessionRow
from facepay.wire import ErrorCode

__all__ = [
    "accepted_models",
    "after_failure",
    "counts_against_claim",
    "in_grey_zone",
    "liveness_refusal",
    "replay_refusal",
    "retention_expired",
    "seconds_locked",
    "session_refusal",
    "template_refusal",
    "within_limit",
]


def accepted_models(entries: tuple[str, ...]) -> dict[str, int]:
    """``ServerConfig.template_models`` ("model_id:dimension" entries) as a mapping."""
    models: dict[str, int] = {}
    for entry in entries:
        model_id, _, dim = entry.rpartition(":")
        models[model_id] = int(dim)
    return models


def template_refusal(
    models: Mapping[str, int], model_id: str, dimension: int, pinned: int | None = None
) -> str | None:
    """Why a template of ``model_id`` and ``dimension`` must be refused, or None.

    Only configured model ids at their configured size pass; ``pinned`` is the size the
    tenant's first enrollment of that model fixed in the database (it wins over a
    configuration changed since, which would split the tenant's gallery)."""
    expected = models.get(model_id)
    if expected is None:
        return "this backend does not accept templates of that model"
    if dimension != expected or (pinned is not None and dimension != pinned):
        return "template has the wrong dimension"
    return None


def counts_against_claim(*, claimed: bool, live: bool) -> bool:
    """Whether a declined payment counts toward locking out its claim.

    Every live attempt under a claim counts, whether or not anyone is enrolled under it:
    counting only faces actually compared made the lock itself an oracle (five faces, then
    ``429`` for an enrolled number and ``no_match`` for a free one). A refusal of the
    liveness does not count: that let a rogue till lock anyone out of face payments
    everywhere with five ``not_live`` attempts and nothing but a phone number (issue 12,
    item 9). Such attempts still count against the device."""
    return claimed and live


def session_refusal(
    session: SessionRow | None, *, device_id: str, purpose: str, now: float
) -> ErrorCode | None:
    """Why a checkout session cannot be used for ``purpose`` by this device, or None.

    Someone else's session, or one opened for the other purpose, is answered as if it
    did not exist; then a used one, then an expired one."""
    if session is None or session.device_id != device_id or session.purpose != purpose:
        return ErrorCode.SESSION_MISMATCH
    if session.used_at is not None:
        return ErrorCode.SESSION_USED
    if now > session.expires_at:
        return ErrorCode.SESSION_EXPIRED
    return None


def after_failure(
    previous: LockoutRow | None,
    *,
    now: float,
    window_s: float,
    failures_to_lock: int,
    lock_seconds: float,
) -> LockoutRow:
    """A subject's lockout state after one more failed attempt.

    Failures count in a window that starts with the first one and lasts ``window_s``;
    the ``failures_to_lock``-th inside it locks the subject for ``lock_seconds`` and
    starts counting afresh (``locked_until`` 0: not locked)."""
    if previous is None or now - previous.window_start > window_s:
        failures, start = 1, now
    else:
        failures, start = previous.failures + 1, previous.window_start
    if failures >= failures_to_lock:
        return LockoutRow(failures=0, window_start=now, locked_until=now + lock_seconds)
    return LockoutRow(failures=failures, window_start=start, locked_until=0.0)


def seconds_locked(locked_until: float | None, now: float) -> float:
    """How long a subject stays locked out (0 or less: it is not)."""
    return (locked_until or 0.0) - now


def retention_expired(*, last_used_at: float, retention_days: int, now: float) -> bool:
    """Whether an enrollment went unused for longer than its retention period."""
    return last_used_at + float(retention_days) * 86400.0 < now


def replay_refusal(*, owner_device: str, device: str, stored_hash: str, request_hash: str) -> bool:
    """Whether a request under a used Idempotency-Key must be refused rather than answered
    with the stored answer: it is, unless the same device sent the same request. Owner
    first, so another device never reaches the comparison of the requests."""
    if not hmac.compare_digest(owner_device.encode(), device.encode()):
        return True
    return not hmac.compare_digest(stored_hash.encode(), request_hash.encode())


def is_sandbox_tenant(sandbox_tenants: tuple[str, ...], tenant_id: str) -> bool:
    return "*" in sandbox_tenants or tenant_id in sandbox_tenants


def liveness_refusal(
    *,
    decision: str,
    challenges: tuple[str, ...],
    evidence: Mapping[str, object],
    seed: bytes,
    sandbox: bool,
) -> str | None:
    """Why the till's liveness summary cannot back a payment, or None.

    The till decides liveness; the backend checks what it can. A decision other than
    ``live`` never pays. For a production (non-sandbox) tenant the summary must also name
    exactly the plan the session's seed derives (``ChallengePlan.from_seed(seed, n)`` for
    the n = 2 to 5 challenges it reports; its evidence ``plan``, if given, must agree)
    and report the 3D head-turn parallax check (``parallax_checked`` true). So a sloppy,
    replaying or demo-configured till (a fixed plan without a turn) cannot pay outside
    the sandbox; a compromised till can still lie, which only the till's own integrity
    prevents."""
    if decision != "live":
        return "not_live"
    if sandbox:
        return None
    if len(challenges) not in LIVENESS_PLAN_SIZES:
        return "plan_not_from_seed"
    expected = ChallengePlan.from_seed(seed, count=len(challenges)).names
    if tuple(challenges) != expected:
        return "plan_not_from_seed"
    stated = evidence.get("plan")
    if stated is not None and stated != ",".join(expected):
        return "plan_not_from_seed"
    if evidence.get("parallax_checked") is not True:
        return "no_3d_check"
    return None


def within_limit(requests_in_window: int, limit: int) -> bool:
    """Whether the request just counted (the n-th of its window) may proceed."""
    return requests_in_window <= limit


def in_grey_zone(
    *,
    best_score: float | None,
    second_score: float | None,
    match_threshold: float,
    grey_threshold: float,
    margin: float,
) -> bool:
    """Whether a face that did not match is near enough to ask its one candidate's PIN.

    The best (exact) similarity is in ``[grey_threshold, match_threshold)`` and, in 1:N,
    ahead of the second best by ``margin`` (``second_score`` None for 1:1 with a claim):
    a PIN then stands in for the missing face evidence of exactly one shopper, never a
    choice between two. Anything below ``grey_threshold`` is a plain decline: a far face
    learns nothing, not even whether its claim has a PIN."""
    if best_score is None or not grey_threshold <= best_score < match_threshold:
        return False
    return second_score is None or best_score - second_score >= margin

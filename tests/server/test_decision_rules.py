"""The backend's rules as plain functions (facepay.server._decision): sessions, lockouts,
retention. No database and no clock: each rule is given the rows and the time."""

from __future__ import annotations

from datetime import timezone

import pytest
from server_helpers import Till

from facepay.server import Sandbox
from facepay.server._decision import (
    after_failure,
    retention_expired,
    seconds_locked,
    session_refusal,
)
from facepay.server._devices import AuthenticatedDevice
from facepay.server._errors import ApiError
from facepay.server._repository import LockoutRow, SessionRow
from facepay.wire import CreateSessionRequest, ErrorCode, SessionPurpose

NOW = 1_800_000_000.0


def _session(**changes: object) -> SessionRow:
    fields: dict[str, object] = {
        "device_id": "dev_a",
        "purpose": "pay",
        "expires_at": NOW + 60.0,
        "used_at": None,
    }
    fields.update(changes)
    return SessionRow(**fields)  # type: ignore[arg-type]


def test_a_session_is_usable_only_by_its_device_for_its_purpose_once_in_time() -> None:
    def refusal(session: SessionRow | None, device: str = "dev_a", now: float = NOW) -> object:
        return session_refusal(session, device_id=device, purpose="pay", now=now)

    assert refusal(_session()) is None
    assert refusal(_session(expires_at=NOW)) is None  # the last instant still counts
    assert refusal(None) is ErrorCode.SESSION_MISMATCH
    assert refusal(_session(device_id=None)) is ErrorCode.SESSION_MISMATCH
    assert refusal(_session(), device="dev_b") is ErrorCode.SESSION_MISMATCH
    assert refusal(_session(purpose="enroll")) is ErrorCode.SESSION_MISMATCH
    assert refusal(_session(used_at=NOW - 1)) is ErrorCode.SESSION_USED
    assert refusal(_session(), now=NOW + 60.5) is ErrorCode.SESSION_EXPIRED
    # Someone else's used or expired session is still "no such session": no oracle.
    assert refusal(_session(used_at=NOW - 1), device="dev_b") is ErrorCode.SESSION_MISMATCH
    assert refusal(_session(), device="dev_b", now=NOW + 999) is ErrorCode.SESSION_MISMATCH


def _fail(previous: LockoutRow | None, now: float) -> LockoutRow:
    return after_failure(previous, now=now, window_s=600.0, failures_to_lock=3, lock_seconds=900.0)


def test_the_third_failure_in_a_window_locks_and_counting_starts_again() -> None:
    first = _fail(None, NOW)
    assert first == LockoutRow(failures=1, window_start=NOW, locked_until=0.0)
    second = _fail(first, NOW + 10)
    assert second == LockoutRow(failures=2, window_start=NOW, locked_until=0.0)
    third = _fail(second, NOW + 20)
    assert third == LockoutRow(failures=0, window_start=NOW + 20, locked_until=NOW + 920)
    assert seconds_locked(third.locked_until, NOW + 20) == 900.0
    assert seconds_locked(third.locked_until, NOW + 920) <= 0
    assert seconds_locked(None, NOW) <= 0
    assert seconds_locked(second.locked_until, NOW) <= 0


def test_failures_outside_the_window_do_not_add_up() -> None:
    old = LockoutRow(failures=2, window_start=NOW, locked_until=0.0)
    assert _fail(old, NOW + 600) == LockoutRow(
        failures=0, window_start=NOW + 600, locked_until=NOW + 1500
    )
    assert _fail(old, NOW + 600.5) == LockoutRow(
        failures=1, window_start=NOW + 600.5, locked_until=0.0
    )


def test_retention_counts_from_the_last_use() -> None:
    day = 86400.0
    assert not retention_expired(last_used_at=NOW, retention_days=30, now=NOW + 30 * day)
    assert retention_expired(last_used_at=NOW, retention_days=30, now=NOW + 30 * day + 1)
    assert retention_expired(last_used_at=NOW, retention_days=0, now=NOW + 1)


def test_the_backend_clock_is_every_parts_clock(sandbox: Sandbox, till: Till) -> None:
    """Tests move time by assigning ``backend.clock``: every part (sessions, lockouts,
    tenants, shopper rights, galleries, answers, enrollments, payments) and the request
    gate read that one clock."""
    backend = sandbox.backend
    assert backend is not None
    real = backend.clock
    device = AuthenticatedDevice(till.device.device_id, "acme", "store", "lane")
    backend.clock = lambda: NOW
    try:
        info = backend.create_session(device, CreateSessionRequest(purpose=SessionPurpose.PAY))
        expected = NOW + backend.config.session_ttl_s
        assert info.expires_at.astimezone(timezone.utc).timestamp() == expected
        for part in (
            backend.gate,
            backend.tenants,
            backend.sessions,
            backend.lockouts,
            backend.shoppers,
            backend.cache,
            backend.answers,
            backend.enrollments,
            backend.payments,
        ):
            assert part.clock() == NOW
        # The same session, checked at the real time and just past its expiry.
        backend.clock = real
        backend.sessions.check(device, info.session_id, SessionPurpose.PAY)
        backend.clock = lambda: expected + 1
        with pytest.raises(ApiError) as refused:
            backend.sessions.check(device, info.session_id, SessionPurpose.PAY)
        assert refused.value.code is ErrorCode.SESSION_EXPIRED
    finally:
        backend.clock = real

"""Issue 12, item 8: the shopper-rights endpoints (export, withdraw consent, delete) take
no signature. Unauthenticated callers wrote without limit (the rate bucket was keyed by
the submitted code, so every new guess got a fresh one, and each wrote lockout rows that
were never purged), and five bad guesses per 15 minutes with a victim's phone number
blocked the victim's own erasure request for as long as the attacker kept going.

Now each source gets ``shopper_rights_per_source`` calls per window, counted in the
database (every worker together), nothing counts against the code or the claim, and
ended windows and stale lockouts are purged by the sweep.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from shoppers_kit import Backends, rows

from facepay.config import ServerConfig
from facepay.server import PaymentBackend, Sandbox
from facepay.server._errors import ApiError
from facepay.testing.protocol_till import PHONE, face
from facepay.wire import Claim, ClaimKind, ErrorCode, ShopperAccessRequest


@pytest.fixture
def enrolled(database_url: str, tmp_path: Path) -> Iterator[tuple[Sandbox, Sandbox, str]]:
    """Two workers on one database, and a shopper's privacy code."""
    backends = Backends(database_url, tmp_path / "keys")
    try:
        first, second = backends.start(), backends.start()
        r = backends.till(first).enroll(face(101))
        assert r.status_code == 201
        yield first, second, str(r.json()["privacy_code"])
    finally:
        backends.close()


def _access(code: str, phone: str = PHONE) -> ShopperAccessRequest:
    return ShopperAccessRequest(privacy_code=code, claim=Claim(kind=ClaimKind.PHONE, value=phone))


def _refused(call: object, code: ErrorCode) -> None:
    with pytest.raises(ApiError) as caught:
        call()  # type: ignore[operator]
    assert caught.value.code is code


def test_guessing_with_a_victims_number_never_blocks_the_victim(
    enrolled: tuple[Sandbox, Sandbox, str],
) -> None:
    first, second, code = enrolled
    assert first.backend is not None
    assert second.backend is not None
    attacker = [first.backend.for_source("203.0.113.7"), second.backend.for_source("203.0.113.7")]
    limit = first.backend.config.shopper_rights_per_source
    for n in range(limit):  # alternating workers: they count together
        guess = f"AAAA-BBBB-{n:04d}"
        _refused(
            lambda g=guess, n=n: attacker[n % 2].delete(_access(g)), ErrorCode.SHOPPER_ACCESS_DENIED
        )
    for worker in attacker:  # the source's window is spent, on either worker
        _refused(lambda w=worker: w.delete(_access("AAAA-BBBB-9999")), ErrorCode.RATE_LIMITED)
    # The victim, from their own phone, erases their data at once.
    receipt = second.backend.for_source("198.51.100.20").delete(_access(code))
    assert "privacy_code" in receipt.erased
    assert rows(first, "SELECT count(*) FROM lockouts") == [(0,)]


def test_unauthenticated_callers_write_a_bounded_number_of_rows(
    enrolled: tuple[Sandbox, Sandbox, str],
) -> None:
    first, _, _ = enrolled
    for n in range(30):  # over HTTP: the source is the peer address
        r = httpx.post(
            f"{first.base_url}/v1/shoppers/export",
            json={"privacy_code": f"ZZZZ-ZZZZ-{n:04d}", "claim": {"kind": "phone", "value": PHONE}},
        )
        assert r.status_code in (403, 429)
    assert rows(first, "SELECT subject, requests FROM request_windows") == [
        ("rights-source:127.0.0.1", 30)
    ]
    assert rows(first, "SELECT count(*) FROM lockouts") == [(0,)]


def test_the_sweep_purges_ended_windows_and_stale_lockouts(
    enrolled: tuple[Sandbox, Sandbox, str],
) -> None:
    first, _, _ = enrolled
    assert first.backend is not None
    now = [1_000_000.0]
    config = ServerConfig()
    backend = PaymentBackend(first.backend.db, first.backend.vault, config, clock=lambda: now[0])
    _refused(
        lambda: backend.for_source("192.0.2.1").export(_access("AAAA-AAAA-AAAA")),
        ErrorCode.SHOPPER_ACCESS_DENIED,
    )
    with backend.db.transaction() as tx:
        backend._record_failure(tx, "device:dev_gone", config.device_lockout_s)
    assert len(rows(first, "SELECT subject FROM request_windows")) == 1
    assert len(rows(first, "SELECT subject FROM lockouts")) == 1
    now[0] += 60.0  # still counting: kept
    backend.sweep()
    assert len(rows(first, "SELECT subject FROM request_windows")) == 1
    assert len(rows(first, "SELECT subject FROM lockouts")) == 1
    now[0] += max(config.shopper_rights_window_s, config.lockout_window_s)
    swept = backend.sweep()
    assert (swept["request_windows"], swept["lockouts"]) == (1, 1)
    assert rows(first, "SELECT count(*) FROM request_windows") == [(0,)]
    assert rows(first, "SELECT count(*) FROM lockouts") == [(0,)]

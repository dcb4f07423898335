"""Red team, operations: deletions, withdrawals, retention and lockouts across several
workers on one database (docs/security.md, "Attacks tried: operations and tenants").
SQLite, then PostgreSQL; "two workers" are two backends on one database and key folder.

- A deletion, a withdrawal or a retention expiry committed by worker 1 while worker 2 was
  in the middle of a payment for the same shopper (its row read, the face matched, the
  acquirer asked): worker 2 approved and charged the deleted shopper and stamped their
  row as used. docs/privacy.md promises that "from the moment the deletion commits no
  process scores that face again"; the approval now commits only if the payer's row still
  holds a template and consent, in the transaction (or the one PostgreSQL statement) that
  writes it, else the payment is declined ``no_match`` and nothing is charged.
- Workers whose clocks disagree by a minute count a till's failures together and each
  honours the lock the other set.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pin_kit import PIN, answer_phone, answer_pin, enroll_with_pin, grey_payment
from requests_kit import replay, send
from shoppers_kit import Backends, rows

from facepay.config import ServerConfig
from facepay.server import Sandbox
from facepay.server._sandbox import SandboxAcquirer
from facepay.testing import FakeClock
from facepay.testing.protocol_till import PHONE, ProtocolTill, face, same_face
from facepay.wire import Claim, ClaimKind, ShopperAccessRequest

OTHER = "+15550006161"


@pytest.fixture
def backends(database_url: str, tmp_path: Path) -> Iterator[Backends]:
    b = Backends(database_url, tmp_path / "keys")
    try:
        yield b
    finally:
        b.close()


class _MeanwhileAcquirer(SandboxAcquirer):
    """Worker 2's acquirer: before it answers, ``meanwhile`` runs (another worker's
    deletion committing while this payment is in flight)."""

    def __init__(self, meanwhile: Callable[[], None]) -> None:
        super().__init__()
        self.meanwhile = meanwhile

    def authorize(
        self, payment_token: str, *, amount_minor: int, currency: str, reference: str
    ) -> str | None:
        self.meanwhile()
        return super().authorize(
            payment_token, amount_minor=amount_minor, currency=currency, reference=reference
        )


def _access(code: str) -> ShopperAccessRequest:
    return ShopperAccessRequest(privacy_code=code, claim=Claim(kind=ClaimKind.PHONE, value=PHONE))


def _sweep(worker: Sandbox) -> None:
    assert worker.backend is not None
    assert worker.backend.sweep()["retention_expired"] == 1


@pytest.mark.parametrize("how", ["delete", "withdraw", "retention"])
@pytest.mark.parametrize("claimed", [True, False], ids=["claim", "claimless"])
def test_a_shopper_erased_by_one_worker_mid_payment_is_not_charged_by_another(
    backends: Backends, how: str, claimed: bool
) -> None:
    config = ServerConfig(risk_budget=1.0)  # claimless 1:N runs for a small gallery
    first, second = backends.start(config), backends.start(config)
    assert first.backend is not None
    assert second.backend is not None
    r = backends.till(first).enroll(face(401))
    assert r.status_code == 201, r.text
    shopper_id, code = str(r.json()["shopper_id"]), str(r.json()["privacy_code"])
    till = backends.till(second)
    # Worker 2 has the face in its gallery already (a payment before the attack).
    warm = till.authorize(till.pay_body(same_face(face(401), 1), phone=None))
    assert warm.json()["status"] == "approved", warm.text
    if how == "retention":  # unused for longer than its retention period, as far as rows go
        rows(second, "UPDATE shoppers SET last_used_at = ?", (1.0,))
    used_before = rows(second, "SELECT last_used_at FROM shoppers")

    rights = first.backend.for_source("198.51.100.9")
    erase: dict[str, Callable[[], Any]] = {
        "delete": lambda: rights.delete(_access(code)),
        "withdraw": lambda: rights.withdraw_consent(_access(code)),
        "retention": lambda: _sweep(first),
    }
    acquirer = _MeanwhileAcquirer(erase[how])
    second.backend.acquirer = acquirer
    paid = till.authorize(till.pay_body(same_face(face(401), 2), phone=PHONE if claimed else None))

    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "declined", paid.text
    assert paid.json()["decline_reason"] == "no_match"
    assert paid.json()["privacy_code"] is None
    approved = "SELECT count(*) FROM authorizations WHERE shopper_id = ? AND status = 'approved'"
    assert rows(second, approved, (shopper_id,)) == [(1,)]  # the warm-up payment only
    assert rows(second, "SELECT last_used_at FROM shoppers") == used_before
    audit = "SELECT details_json FROM audit_log WHERE subject_id = ?"
    [(line,)] = rows(second, audit, (paid.json()["authorization_id"],))
    assert shopper_id not in line
    assert json.loads(line)["payer_gone"] is True
    # The acquirer had held the money before the erasure was seen: the hold is released.
    assert [h.state for h in acquirer.holds()] == ["voided"]
    assert "best_score" not in json.loads(line)
    # And from then on, on either worker, with or without the claim: declined.
    for worker in (first, second):
        again = backends.till(worker)
        for phone in (PHONE, None):
            r = again.authorize(again.pay_body(same_face(face(401), 3), phone=phone))
            assert r.json()["status"] == "declined", r.text


def test_workers_whose_clocks_disagree_count_and_lock_together(
    database_url: str, tmp_path: Path
) -> None:
    # Worker 1's clock a minute fast, worker 2's a minute slow (the tills sign with the
    # wall clock, inside the 300 s the protocol accepts either way).
    fast, slow = FakeClock(start=time.time() + 60.0), FakeClock(start=time.time() - 60.0)
    config = ServerConfig(device_lockout_s=60.0, shopper_lockout_s=60.0)
    workers = [
        Sandbox(database_url, key_dir=tmp_path / "keys", config=config, clock=clock).start()
        for clock in (fast, slow)
    ]
    tills: list[ProtocolTill] = []
    try:
        device = workers[0].provision_device(tenant_id="acme")
        tills = [ProtocolTill(worker, device) for worker in workers]
        assert tills[0].enroll(face(411)).status_code == 201
        for n in range(4):  # alternating workers: counted together, not locked at 4
            r = tills[n % 2].authorize(tills[n % 2].pay_body(same_face(face(412), n)))
            assert r.json()["decline_reason"] == "no_match", r.text
        fifth = tills[0].authorize(tills[0].pay_body(same_face(face(412), 5)))
        assert fifth.json()["decline_reason"] == "no_match", fifth.text
        for till in tills:  # the lock the fast worker set holds on the slow one too
            r = till.authorize(till.pay_body(same_face(face(411), 6)))
            assert r.status_code == 429, r.text
            assert r.json()["error"]["code"] == "locked_out"
            assert 0 < float(r.headers["Retry-After"]) <= 60 + 120
        # ... and it ends for both once the slow worker's clock has passed it (the tills
        # still sign with the wall clock, 121 s behind both workers now).
        fast.advance(60.0 + 1.0)
        slow.advance(60.0 + 121.0)
        for till in tills:
            r = till.authorize(till.pay_body(same_face(face(411), 7)))
            assert r.status_code == 200, r.text
    finally:
        for till in tills:
            till.close()
        for worker in reversed(workers):
            worker.stop()


@pytest.mark.parametrize("kind", ["pin", "phone_last4"])
def test_a_step_up_answered_after_another_worker_deleted_its_shopper_pays_nothing(
    backends: Backends, kind: str
) -> None:
    config = ServerConfig(risk_budget=1.0)
    first, second = backends.start(config), backends.start(config)
    assert first.backend is not None
    assert second.backend is not None
    enroller, till = backends.till(first), backends.till(second)
    base = face(421)
    if kind == "pin":
        r = enroll_with_pin(enroller, base)
        asked = grey_payment(till, base)
    else:  # two near-identical faces: the backend asks the last 4 digits of the phone
        r = enroller.enroll(base)
        assert enroller.enroll(same_face(base, 1, noise=0.01), phone=OTHER).status_code == 201
        asked = till.authorize(till.pay_body(same_face(base, 2, noise=0.005), phone=None))
    assert r.status_code == 201, r.text
    shopper_id, code = str(r.json()["shopper_id"]), str(r.json()["privacy_code"])
    assert asked.json()["status"] == "step_up", asked.text
    authorization_id = str(asked.json()["authorization_id"])

    rights = first.backend.for_source("198.51.100.9")
    second.backend.acquirer = _MeanwhileAcquirer(lambda: rights.delete(_access(code)))
    if kind == "pin":
        answered = answer_pin(till, authorization_id, PIN)
    else:
        answered = answer_phone(till, authorization_id, PHONE[-4:])

    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "declined", answered.text
    assert answered.json()["privacy_code"] is None
    assert answered.json()["receipt_id"] is None
    approved = "SELECT count(*) FROM authorizations WHERE status = 'approved'"
    assert rows(second, approved) == [(0,)]
    audit = "SELECT details_json FROM audit_log WHERE event = 'step_up' AND subject_id = ?"
    [(line,)] = rows(second, audit, (authorization_id,))
    assert shopper_id not in line
    # The shopper answered right: nothing counted against the till for it.
    device = f"device:{till.device.device_id}"
    assert rows(second, "SELECT failures FROM lockouts WHERE subject = ?", (device,)) in (
        [],
        [(0,)],
    )


def test_a_worker_whose_clock_runs_ahead_cannot_open_a_replay_window_on_another(
    database_url: str, tmp_path: Path
) -> None:
    """A nonce is kept until its timestamp has left the window *of the worker that
    recorded it*; a replica whose clock runs a minute ahead purged it (its sweep, or its
    own purge every minute) a minute early, and in that minute the recorded request played
    to the first worker again was served as new."""
    now = time.time()
    accurate, ahead = FakeClock(start=now), FakeClock(start=now + 60.0)
    workers = [
        Sandbox(database_url, key_dir=tmp_path / "keys", clock=clock).start()
        for clock in (accurate, ahead)
    ]
    till: ProtocolTill | None = None
    try:
        till = ProtocolTill(workers[0], workers[0].provision_device(tenant_id="acme"))
        first, recorded = send(till, "/v1/sessions", {"purpose": "pay"}, timestamp=int(now))
        assert first.status_code == 201, first.text
        # 250 s later: the request's timestamp is still inside the accurate worker's
        # window; the worker a minute ahead runs its sweep.
        accurate.advance(250.0)
        ahead.advance(250.0)
        assert workers[1].backend is not None
        workers[1].backend.sweep()
        sessions = "SELECT count(*) FROM sessions WHERE device_id = ?"
        before = rows(workers[0], sessions, (till.device.device_id,))
        replayed = replay(workers[0].base_url, recorded)
        assert replayed.status_code == 401, replayed.text
        assert replayed.json()["error"]["code"] == "nonce_reused"
        assert rows(workers[0], sessions, (till.device.device_id,)) == before
    finally:
        if till is not None:
            till.close()
        for worker in reversed(workers):
            worker.stop()

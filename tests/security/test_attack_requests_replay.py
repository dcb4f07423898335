"""Issue 12, item 1: a refused request stays replayable, and replays drain the rate limit.

Attacked as the review did, with a recording proxy: every refusal a genuine request can
get after its signature verified (429, clock_skew, idempotency_key_missing, a content
type the backend refuses) is replayed later with the same signed bytes; an already used
request is replayed until the genuine till would be rate limited. On SQLite and
PostgreSQL, with one backend and with two replicas on one database.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from requests_kit import enroll_shopper, ledger_size, replay, send, start

from facepay.config import ServerConfig
from facepay.server import Sandbox
from facepay.testing.protocol_till import ProtocolTill, face, same_face


def _key() -> dict[str, str]:
    return {"Idempotency-Key": f"idem_{uuid.uuid4().hex}"}


def _refill(sandbox: Sandbox) -> None:
    """The till's rate bucket full again (as after a quiet minute), without waiting."""
    assert sandbox.backend is not None
    with sandbox.backend.db.transaction() as tx:
        tx.execute("UPDATE devices SET rate_tokens = NULL, rate_updated_at = NULL")


def test_replaying_a_used_request_costs_the_genuine_till_nothing(
    backend: Sandbox, till: ProtocolTill
) -> None:
    first, recorded = send(till, "/v1/sessions", {"purpose": "pay"})
    assert first.status_code == 201
    burst = ServerConfig().device_rate_burst
    for _ in range(burst + 10):
        again = replay(backend.base_url, recorded)
        assert again.status_code == 401
        assert again.json()["error"]["code"] == "nonce_reused"
    # The genuine till still has its whole burst (less the one request it made).
    for _ in range(burst - 1):
        r, _ = send(till, "/v1/sessions", {"purpose": "pay"})
        assert r.status_code == 201, r.text


def test_a_payment_refused_with_429_cannot_be_replayed_later(
    backend: Sandbox, till: ProtocolTill
) -> None:
    enroll_shopper(till)
    body = till.pay_body(same_face(face(1), 1))
    # The till is at its rate limit when it sends the payment.
    assert backend.backend is not None
    with backend.backend.db.transaction() as tx:
        tx.execute("UPDATE devices SET rate_tokens = 0.0, rate_updated_at = ?", (4e9,))
    refused, recorded = send(till, "/v1/authorizations", body, headers=_key())
    assert refused.status_code == 429
    _refill(backend)
    again = replay(backend.base_url, recorded)
    assert again.status_code == 401, again.text
    assert again.json()["error"]["code"] == "nonce_reused"
    assert ledger_size(backend) == 0


def test_a_payment_signed_by_a_fast_clock_cannot_be_replayed_when_the_clock_catches_up(
    backend: Sandbox, till: ProtocolTill, monkeypatch: pytest.MonkeyPatch
) -> None:
    enroll_shopper(till)
    assert backend.backend is not None
    gate = backend.backend.gate
    now = [gate.clock()]
    monkeypatch.setattr(gate, "clock", lambda: now[0])
    body = till.pay_body(same_face(face(1), 1))
    ahead = int(now[0]) + 600  # the till's clock 600 s fast
    refused, recorded = send(till, "/v1/authorizations", body, headers=_key(), timestamp=ahead)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "clock_skew"
    now[0] += 400  # the timestamp is inside the window now
    again = replay(backend.base_url, recorded)
    assert again.status_code == 401, again.text
    assert again.json()["error"]["code"] == "nonce_reused"
    assert ledger_size(backend) == 0


def test_a_nonce_from_the_future_is_kept_until_its_timestamp_has_passed(
    backend: Sandbox, till: ProtocolTill
) -> None:
    assert backend.backend is not None
    now = int(backend.backend.gate.clock())
    ahead = now + 10_000
    refused, recorded = send(till, "/v1/sessions", {"purpose": "pay"}, timestamp=ahead)
    assert refused.json()["error"]["code"] == "clock_skew"
    nonce = recorded.headers["x-facepay-nonce"]
    with backend.backend.db.transaction() as tx:
        row = tx.one("SELECT expires_at FROM nonces WHERE nonce = ?", (nonce,))
    assert row is not None
    assert row[0] >= ahead + backend.backend.config.max_clock_skew_s
    # The sweep does not forget it either.
    backend.backend.sweep()
    with backend.backend.db.transaction() as tx:
        assert tx.one("SELECT 1 FROM nonces WHERE nonce = ?", (nonce,)) is not None


def test_a_payment_sent_without_its_idempotency_key_cannot_be_replayed_with_one(
    backend: Sandbox, till: ProtocolTill
) -> None:
    enroll_shopper(till)
    refused, recorded = send(till, "/v1/authorizations", till.pay_body(same_face(face(1), 1)))
    assert refused.json()["error"]["code"] == "idempotency_key_missing"
    again = replay(backend.base_url, recorded, change=_key())
    assert again.status_code == 401, again.text
    assert ledger_size(backend) == 0


def test_a_payment_refused_for_its_content_type_cannot_be_replayed_as_json(
    backend: Sandbox, till: ProtocolTill
) -> None:
    enroll_shopper(till)
    body = till.pay_body(same_face(face(1), 1))
    refused, recorded = send(
        till, "/v1/authorizations", body, headers={**_key(), "content-type": "text/plain"}
    )
    assert refused.status_code == 415, refused.text
    again = replay(backend.base_url, recorded, change={"content-type": "application/json"})
    assert again.status_code == 401, again.text
    assert again.json()["error"]["code"] == "nonce_reused"
    assert ledger_size(backend) == 0


def test_a_payment_refused_by_body_validation_cannot_be_replayed(
    backend: Sandbox, till: ProtocolTill
) -> None:
    refused, recorded = send(till, "/v1/authorizations", {"amount_minor": 1}, headers=_key())
    assert refused.status_code == 422
    again = replay(backend.base_url, recorded)
    assert again.json()["error"]["code"] == "nonce_reused"


# ----------------------------------------------------------------- two replicas, one database


@pytest.fixture
def replicas(database_url: str, tmp_path: Path) -> Iterator[tuple[Sandbox, Sandbox]]:
    config = ServerConfig(device_rate_burst=3, device_rate_per_s=0.001)
    first = start(database_url, tmp_path, config)
    second = start(database_url, tmp_path, config)
    try:
        yield first, second
    finally:
        second.stop()
        first.stop()


def test_two_replicas_share_one_nonce_record(replicas: tuple[Sandbox, Sandbox]) -> None:
    first, second = replicas
    till = ProtocolTill(first, first.provision_device(tenant_id="acme"))
    try:
        ok, recorded = send(till, "/v1/sessions", {"purpose": "pay"})
        assert ok.status_code == 201
        again = replay(second.base_url, recorded)
        assert again.json()["error"]["code"] == "nonce_reused"
    finally:
        till.close()


def test_two_replicas_share_one_rate_limit(replicas: tuple[Sandbox, Sandbox]) -> None:
    """Burst 3, next token in ~17 minutes: across both replicas 3 requests pass, not 6."""
    first, second = replicas
    device = first.provision_device(tenant_id="acme")
    tills = [ProtocolTill(first, device), ProtocolTill(second, device)]
    try:
        answers = [tills[i % 2].call("POST", "/v1/sessions", {"purpose": "pay"}) for i in range(8)]
        codes = [r.status_code for r in answers]
        assert codes.count(201) == 3, codes
        assert codes.count(429) == 5, codes
    finally:
        for t in tills:
            t.close()

"""Attacks tried on the PIN's requests (docs/security.md, "Attacks tried: the second
factor"): a recording proxy, a replay, another till, a late answer, a sealed PIN moved to
another authorization, a deletion in between. SQLite, then PostgreSQL."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pin_kit import (
    PIN,
    answer_phone,
    answer_pin,
    enroll_with_pin,
    grey_payment,
    mentions,
    pin_body,
    pin_rows,
)
from requests_kit import replay, send
from shoppers_kit import rows

from facepay.config import ServerConfig
from facepay.server import Sandbox
from facepay.testing import FakeClock
from facepay.testing.protocol_till import PHONE, ProtocolTill, face


@pytest.fixture
def clock() -> FakeClock:
    # The backend's time, from the wall clock's (the till signs with the wall clock).
    return FakeClock(start=time.time())


@pytest.fixture
def sandbox(database_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Sandbox]:
    sb = Sandbox(database_url, key_dir=tmp_path / "keys", clock=clock).start()
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def till(sandbox: Sandbox) -> Iterator[ProtocolTill]:
    t = ProtocolTill(sandbox, sandbox.provision_device(tenant_id="acme"))
    try:
        yield t
    finally:
        t.close()


def _everything_stored(sandbox: Sandbox) -> str:
    """Every row of every table, as text: what a stolen database or backup shows."""
    assert sandbox.backend is not None
    db = sandbox.backend.db
    with db.transaction() as tx:
        if db.dialect == "sqlite":
            tables = [r[0] for r in tx.all("SELECT name FROM sqlite_master WHERE type='table'")]
        else:
            tables = [
                r[0]
                for r in tx.all(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                )
            ]
        out = []
        for table in tables:
            for row in tx.all(f"SELECT * FROM {table}"):
                out.append(" ".join(x.hex() if isinstance(x, bytes) else str(x) for x in row))
    return "\n".join(out)


def test_a_recorded_request_log_and_the_database_never_hold_the_pin(
    sandbox: Sandbox, till: ProtocolTill, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    me = face(401)
    recorded: list[bytes] = []
    sid = till.session("enroll")
    from facepay.crypto import seal_enrollment_pin
    from facepay.wire import b64encode

    body = {
        "session_id": sid,
        "sealed_template": till.seal(me, sid),
        "consent": {"text_version": "2026-01-en", "accepted_at": "2026-11-26T23:00:00Z"},
        "payment_method_token": "tok_visa_4242",
        "claim": {"kind": "phone", "value": PHONE},
        "sealed_pin": b64encode(seal_enrollment_pin(PIN, till.public_key, session_id=sid)),
    }
    enrolled, log = send(till, "/v1/enrollments", body)
    assert enrolled.status_code == 201, enrolled.text
    recorded.append(log.body + json.dumps(log.headers).encode())
    asked = grey_payment(till, me)
    auth_id = asked.json()["authorization_id"]
    answered, log = send(
        till,
        f"/v1/authorizations/{auth_id}/step-up",
        pin_body(till, auth_id, PIN),
        headers={"Idempotency-Key": f"idem_{uuid.uuid4().hex}"},
    )
    assert answered.json()["status"] == "approved", answered.text
    recorded.append(log.body + json.dumps(log.headers).encode())
    for request in recorded:
        assert not mentions(request)
        assert b'"pin"' not in request  # no clear field of that name either
    assert not mentions(_everything_stored(sandbox))
    assert not any(mentions(r.getMessage()) for r in caplog.records)
    export = till.http.post(
        "/v1/shoppers/export",
        json={"privacy_code": enrolled.json()["privacy_code"], "claim": body["claim"]},
    )
    assert export.json()["pin_set"] is True
    assert not mentions(export.text)


def test_a_replayed_step_up_answer_pays_nothing_more(sandbox: Sandbox, till: ProtocolTill) -> None:
    me = face(402)
    assert enroll_with_pin(till, me).status_code == 201
    asked = grey_payment(till, me)
    auth_id = asked.json()["authorization_id"]
    key = f"idem_{uuid.uuid4().hex}"
    body = pin_body(till, auth_id, PIN)
    path = f"/v1/authorizations/{auth_id}/step-up"
    first, log = send(till, path, body, headers={"Idempotency-Key": key})
    assert first.json()["status"] == "approved"
    # The exact bytes again: the nonce was spent.
    again = replay(sandbox.base_url, log)
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "nonce_reused"
    # A proxy that rewrites the key (to pass the bytes off as a new answer): the
    # signature covers the key.
    rewritten = replay(sandbox.base_url, log, change={"Idempotency-Key": "idem_" + "1" * 32})
    assert rewritten.status_code == 401
    # The same answer re-signed under a new key: the step-up is over.
    resent = answer_pin(till, auth_id, PIN)
    assert resent.status_code == 409
    assert resent.json()["error"]["code"] == "step_up_not_pending"
    # The till's own retry (same body, same key, signed afresh): the first answer again.
    retry = till.call("POST", path, body, headers={"Idempotency-Key": key})
    assert retry.status_code == 200, retry.text
    assert retry.json()["receipt_id"] == first.json()["receipt_id"]
    # The same key with another sealing of the PIN is another request: refused.
    other = answer_pin(till, auth_id, PIN, key=key)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_conflict"
    approved = rows(sandbox, "SELECT status FROM authorizations WHERE status = 'approved'")
    assert len(approved) == 1


def test_another_till_cannot_answer_or_learn_the_step_up(
    sandbox: Sandbox, till: ProtocolTill
) -> None:
    me = face(403)
    assert enroll_with_pin(till, me).status_code == 201
    auth_id = grey_payment(till, me).json()["authorization_id"]
    other = ProtocolTill(sandbox, sandbox.provision_device(tenant_id="acme"))
    stranger = ProtocolTill(sandbox, sandbox.provision_device(tenant_id="globex"))
    try:
        for thief in (other, stranger):
            r = answer_pin(thief, auth_id, PIN)
            assert r.status_code == 404, r.text
            assert r.json()["error"]["code"] == "not_found"
    finally:
        other.close()
        stranger.close()
    assert pin_rows(sandbox)[0][1] == 0  # nothing was compared
    # Still pending for its own till, which pays.
    assert answer_pin(till, auth_id, PIN).json()["status"] == "approved"


def test_a_sealed_pin_moved_to_another_authorization_does_not_open(
    sandbox: Sandbox, till: ProtocolTill
) -> None:
    me = face(404)
    assert enroll_with_pin(till, me).status_code == 201
    first = grey_payment(till, me).json()["authorization_id"]
    second = grey_payment(till, me).json()["authorization_id"]
    moved = pin_body(till, first, PIN)
    r = till.call(
        "POST",
        f"/v1/authorizations/{second}/step-up",
        moved,
        headers={"Idempotency-Key": f"idem_{uuid.uuid4().hex}"},
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_failed"
    assert pin_rows(sandbox)[0][1] == 0  # no try counted
    assert answer_pin(till, second, PIN).json()["status"] == "approved"


def test_the_wrong_kind_of_answer_is_refused_and_counts_nothing(
    sandbox: Sandbox, till: ProtocolTill
) -> None:
    me = face(405)
    assert enroll_with_pin(till, me).status_code == 201
    auth_id = grey_payment(till, me).json()["authorization_id"]
    # The phone's last digits are public to anyone who knows the number: never a PIN.
    r = answer_phone(till, auth_id, PHONE[-4:])
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_failed"
    both = till.call(
        "POST",
        f"/v1/authorizations/{auth_id}/step-up",
        {**pin_body(till, auth_id, PIN), "phone_last4": PHONE[-4:]},
        headers={"Idempotency-Key": f"idem_{uuid.uuid4().hex}"},
    )
    assert both.status_code == 422
    assert pin_rows(sandbox)[0][1] == 0
    assert answer_pin(till, auth_id, PIN).json()["status"] == "approved"


def test_a_pin_after_the_step_up_expired_is_refused_uncounted(
    sandbox: Sandbox, till: ProtocolTill, clock: FakeClock
) -> None:
    me = face(406)
    assert enroll_with_pin(till, me).status_code == 201
    auth_id = grey_payment(till, me).json()["authorization_id"]
    clock.advance(ServerConfig().step_up_ttl_s + 1.0)
    r = answer_pin(till, auth_id, PIN)
    assert r.status_code == 410
    assert r.json()["error"]["code"] == "session_expired"
    assert pin_rows(sandbox)[0][1] == 0
    assert rows(sandbox, "SELECT status FROM authorizations")[0][0] == "step_up"


def test_a_pin_for_a_shopper_deleted_meanwhile_pays_nothing(
    sandbox: Sandbox, till: ProtocolTill
) -> None:
    me = face(407)
    enrolled = enroll_with_pin(till, me)
    auth_id = grey_payment(till, me).json()["authorization_id"]
    claim: dict[str, Any] = {"kind": "phone", "value": PHONE}
    deleted = till.http.post(
        "/v1/shoppers/delete",
        json={"privacy_code": enrolled.json()["privacy_code"], "claim": claim},
    )
    assert deleted.status_code == 200, deleted.text
    assert "pin" in deleted.json()["erased"]
    assert pin_rows(sandbox) == []
    r = answer_pin(till, auth_id, PIN)
    assert r.status_code == 200
    assert r.json()["status"] == "declined"
    assert rows(sandbox, "SELECT count(*) FROM authorizations WHERE status = 'approved'") == [(0,)]


def test_the_retention_sweep_shreds_an_unused_shoppers_pin(
    sandbox: Sandbox, till: ProtocolTill, clock: FakeClock
) -> None:
    assert enroll_with_pin(till, face(408)).status_code == 201
    assert len(pin_rows(sandbox)) == 1
    assert sandbox.backend is not None
    clock.advance(ServerConfig().retention_days * 86400.0 + 1.0)
    assert sandbox.backend.sweep()["retention_expired"] == 1
    assert pin_rows(sandbox) == []


def test_a_till_that_skips_the_pin_rules_or_moves_a_sealed_pin_enrolls_nobody(
    sandbox: Sandbox, till: ProtocolTill
) -> None:
    from facepay.crypto import seal_bytes, seal_enrollment_pin
    from facepay.testing.protocol_till import CONSENT
    from facepay.wire import b64encode

    def enroll_sealing(seal: Any) -> Any:
        sid = till.session("enroll")
        body = {
            "session_id": sid,
            "sealed_template": till.seal(face(409), sid),
            "consent": CONSENT,
            "payment_method_token": "tok_visa_4242",
            "claim": {"kind": "phone", "value": PHONE},
            "sealed_pin": b64encode(seal(sid)),
        }
        return till.call("POST", "/v1/enrollments", body)

    context = lambda sid: {"purpose": "enroll", "session_id": sid}  # noqa: E731
    for weak in ("1234", "0000", "1212", "12345"):
        r = enroll_sealing(
            lambda sid, w=weak: seal_bytes(
                w.encode(), till.public_key, label="pin", context=context(sid)
            )
        )
        assert r.status_code == 422, (weak, r.text)
        assert r.json()["error"]["code"] == "validation_failed"
    # A good PIN, but sealed for another enrollment session.
    elsewhere = till.session("enroll")
    r = enroll_sealing(lambda sid: seal_enrollment_pin(PIN, till.public_key, session_id=elsewhere))
    assert r.status_code == 422
    assert rows(sandbox, "SELECT count(*) FROM shoppers") == [(0,)]
    assert pin_rows(sandbox) == []

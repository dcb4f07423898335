"""State that decides money or security, attacked across tenants and replicas.

Promises of docs/protocol.md and security.md that no attack test tried before, on SQLite
and PostgreSQL, with two backends on one database standing in for workers or replicas
(shoppers_kit.Backends):

- "The Idempotency-Key is scoped to the tenant": a till of another retailer that reads a
  key from a recorded request log and sends it gets its own fresh decision, learns nothing
  of the first payment, and changes nothing of it.
- "A lockout is stored in the database, so it ... holds across replicas", with
  "`429 locked_out`, with `retry_after` in the error body and a `Retry-After` header" and
  "nothing is recorded": failures spread over two replicas lock the claim and the device
  on both, and the refused attempts leave no ledger row.
"""

from __future__ import annotations

import uuid

import httpx
from requests_kit import ledger_size
from shoppers_kit import Backends

from facepay.testing.protocol_till import PHONE, face, same_face


def _locked(r: httpx.Response) -> None:
    assert r.status_code == 429, r.text
    error = r.json()["error"]
    assert error["code"] == "locked_out"
    assert error["retry_after"] > 0
    assert int(r.headers["Retry-After"]) >= 1


def test_an_idempotency_key_from_another_tenants_log_reveals_and_changes_nothing(
    backends: Backends,
) -> None:
    sb = backends.start()
    acme = backends.till(sb, tenant_id="acme")
    globex = backends.till(sb, tenant_id="globex")
    assert acme.enroll(face(61)).status_code == 201
    assert globex.enroll(face(62)).status_code == 201
    key = f"idem_{uuid.uuid4().hex}"
    acme_body = acme.pay_body(same_face(face(61), 1))
    first = acme.authorize(acme_body, key=key)
    assert first.json()["status"] == "approved", first.text
    # The recorded key under the other retailer's own payment: a fresh decision of its own.
    theirs = globex.authorize(globex.pay_body(same_face(face(62), 1)), key=key)
    assert theirs.status_code == 200, theirs.text
    assert theirs.headers["Idempotent-Replayed"] == "false"
    assert theirs.json()["authorization_id"] != first.json()["authorization_id"]
    assert theirs.json()["privacy_code"] != first.json()["privacy_code"]
    # The key again at that retailer, now for the first shopper's claim: a conflict with
    # its own earlier use, never the first retailer's answer; under a fresh key no match
    # (a device sees its own tenant's shoppers only).
    probe = globex.authorize(globex.pay_body(same_face(face(61), 2), phone=PHONE), key=key)
    assert probe.status_code == 409, probe.text
    assert probe.json()["error"]["code"] == "idempotency_conflict"
    assert first.json()["authorization_id"] not in probe.text
    fresh = globex.authorize(globex.pay_body(same_face(face(61), 3), phone=PHONE))
    assert fresh.json()["status"] == "declined"
    assert fresh.json()["decline_reason"] == "no_match"
    # The first retailer's retry still gets its one payment.
    again = acme.authorize(acme_body, key=key)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert ledger_size(sb) == 3


def test_a_lockout_reached_through_two_replicas_holds_on_both(backends: Backends) -> None:
    one, two = backends.start(), backends.start()
    genuine = backends.till(one)
    assert genuine.enroll(face(63)).status_code == 201
    # Five impostor tills, alternating replicas, one compared face each: the claim is locked.
    for n in range(5):
        impostor = backends.till((one, two)[n % 2])
        r = impostor.authorize(impostor.pay_body(face(630 + n)))
        assert r.json()["status"] == "declined", r.text
    before = ledger_size(one)
    for sb in (one, two):
        till = backends.till(sb, genuine.device)
        _locked(till.authorize(till.pay_body(same_face(face(63), 1))))
    assert ledger_size(one) == before  # a locked-out attempt records nothing


def test_a_device_locked_through_one_replica_is_locked_on_the_other(backends: Backends) -> None:
    one, two = backends.start(), backends.start()
    owner = backends.till(one)
    assert owner.enroll(face(64)).status_code == 201
    rogue_on_one = backends.till(one)
    rogue_on_two = backends.till(two, rogue_on_one.device)
    # Five failed faces from one device, split over the replicas, each for another claim
    # (so no claim reaches its own limit): the device is locked on both.
    for n in range(5):
        rogue = (rogue_on_one, rogue_on_two)[n % 2]
        r = rogue.authorize(rogue.pay_body(face(640 + n), phone=f"+1555000{n:04d}"))
        assert r.json()["status"] == "declined", r.text
    before = ledger_size(one)
    for rogue in (rogue_on_one, rogue_on_two):
        _locked(rogue.authorize(rogue.pay_body(same_face(face(64), 2))))
    assert ledger_size(one) == before
    # Another till of the tenant is not caught by that device's lock.
    assert owner.authorize(owner.pay_body(same_face(face(64), 3))).json()["status"] == "approved"

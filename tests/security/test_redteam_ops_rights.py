"""Red team, operations: the shopper-rights API attacked with only a phone number, a
recorded request log, and a stolen database read after a deletion (docs/security.md,
"Attacks tried: operations and tenants"). SQLite, then PostgreSQL.

- A deletion "destroys the claim hash" (docs/protocol.md, "Shopper rights"). It did so in
  the shopper's row only: the keyed hash of the phone number stayed in the ``lockouts``
  row a few failed faces under the claim had written, and in the audit line that locked
  it, so whoever holds the database and the lookup key could still test a phone number
  against a deleted shopper. A deletion now removes the claim's lockout row and rewrites
  those audit lines.
- With only a phone number, every refusal of the three calls reads the same whatever the
  number's state (enrolled, never enrolled, withdrawn, deleted, enrolled at another
  retailer); a recorded request played again after the shopper deleted and enrolled
  anew touches nothing of the new enrollment.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from shoppers_kit import Backends, rows

from facepay.config import ServerConfig
from facepay.server import PaymentBackend, Sandbox
from facepay.server._errors import ApiError
from facepay.server._shoppers import claim_hash
from facepay.testing.protocol_till import PHONE, face, same_face
from facepay.wire import Claim, ClaimKind, ShopperAccessRequest

OTHER_PHONE = "+4917099887766"
NEVER_ENROLLED = "+4915500000001"
CALLS = ("export", "withdraw-consent", "delete")


@pytest.fixture
def backends(database_url: str, tmp_path: Path) -> Iterator[Backends]:
    b = Backends(database_url, tmp_path / "keys")
    try:
        yield b
    finally:
        b.close()


def _everything_stored(sandbox: Sandbox) -> str:
    """Every row of every table as text: what a stolen database or backup shows."""
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


def _rights(sandbox: Sandbox, call: str, code: str, phone: str) -> httpx.Response:
    return httpx.post(
        f"{sandbox.base_url}/v1/shoppers/{call}",
        json={"privacy_code": code, "claim": {"kind": "phone", "value": phone}},
        timeout=30.0,
    )


def _access(code: str) -> ShopperAccessRequest:
    return ShopperAccessRequest(privacy_code=code, claim=Claim(kind=ClaimKind.PHONE, value=PHONE))


def _without_request_id(r: httpx.Response) -> tuple[int, Any]:
    body = r.json()
    body["error"].pop("request_id")
    return r.status_code, body


def test_a_deleted_shoppers_phone_leaves_no_keyed_hash_behind(backends: Backends) -> None:
    sb = backends.start()
    till = backends.till(sb)
    enrolled = till.enroll(face(301))
    assert enrolled.status_code == 201, enrolled.text
    code = str(enrolled.json()["privacy_code"])
    # Someone with the phone number and their own face: five compared faces lock the claim
    # (and write its lockout row and a locked_out audit line).
    for n in range(5):
        r = till.authorize(till.pay_body(same_face(face(302), n)))
        assert r.json()["decline_reason"] == "no_match", r.text
    assert sb.backend is not None
    hashed = claim_hash(sb.backend.vault, "acme", Claim(kind=ClaimKind.PHONE, value=PHONE))
    assert hashed in _everything_stored(sb)  # the attack's precondition

    r = _rights(sb, "delete", code, PHONE)
    assert r.status_code == 200, r.text

    stored = _everything_stored(sb)
    assert hashed not in stored
    assert PHONE[1:] not in stored
    count = "SELECT count(*) FROM lockouts WHERE subject LIKE ?"
    assert rows(sb, count, ("claim:%",)) == [(0,)]
    # What the lock protected is gone; the till's own lock stays (it is not the shopper's).
    assert rows(sb, count, ("device:%",)) == [(1,)]
    locks = "SELECT subject_id FROM audit_log WHERE event = 'locked_out' AND subject_id LIKE ?"
    assert rows(sb, locks, ("claim:%",)) == [("claim:erased",)]


def test_every_refusal_reads_the_same_whatever_the_numbers_state(backends: Backends) -> None:
    sb = backends.start()
    acme, other = backends.till(sb), backends.till(sb, tenant_id="other-retailer")
    assert acme.enroll(face(311)).status_code == 201
    withdrawn = acme.enroll(face(312), phone=OTHER_PHONE)
    assert withdrawn.status_code == 201
    assert _rights(sb, "withdraw-consent", withdrawn.json()["privacy_code"], OTHER_PHONE).is_success
    gone = acme.enroll(face(313), phone="+4915511112222")
    assert gone.status_code == 201
    gone_code = str(gone.json()["privacy_code"])
    assert _rights(sb, "delete", gone_code, "+4915511112222").is_success
    elsewhere = other.enroll(face(314), phone=NEVER_ENROLLED)
    assert elsewhere.status_code == 201
    elsewhere_code = str(elsewhere.json()["privacy_code"])

    guesses = {
        "enrolled number, wrong code": ("AAAA-BBBB-CCCC", PHONE),
        "never enrolled here, wrong code": ("AAAA-BBBB-CCCC", "+4915599990000"),
        "withdrawn shopper's number, wrong code": ("AAAA-BBBB-CCCC", OTHER_PHONE),
        "enrolled number, a deleted shopper's code": (gone_code, PHONE),
        "enrolled number, another retailer's shopper's code": (elsewhere_code, PHONE),
    }
    for call in CALLS:
        answers = {name: _without_request_id(_rights(sb, call, *g)) for name, g in guesses.items()}
        assert len({json.dumps(a, sort_keys=True) for a in answers.values()}) == 1, answers
        assert next(iter(answers.values()))[0] == 403
    # The shopper's page, with the enrolled number and with one never enrolled: one page.
    pages = [
        httpx.post(
            f"{sb.base_url}/privacy",
            data={"code": "AAAA-BBBB-CCCC", "phone": phone, "action": "delete"},
            timeout=30.0,
        )
        for phone in (PHONE, "+4915599990000")
    ]
    assert [p.status_code for p in pages] == [403, 403]
    assert pages[0].text == pages[1].text
    # None of those calls changed anything: the enrolled shopper still pays.
    paid = acme.authorize(acme.pay_body(same_face(face(311), 1)))
    assert paid.json()["status"] == "approved", paid.text


def test_a_recorded_rights_request_played_again_touches_nothing_new(backends: Backends) -> None:
    sb = backends.start()
    till = backends.till(sb)
    first = till.enroll(face(321))
    assert first.status_code == 201
    old_code = str(first.json()["privacy_code"])
    log = {call: _rights(sb, call, old_code, PHONE).request for call in ("export", "delete")}
    assert rows(sb, "SELECT count(*) FROM deletion_receipts") == [(1,)]
    # The shopper comes back under the same number: a new enrollment, a new code.
    again = till.enroll(face(321))
    assert again.status_code == 201, again.text
    assert again.json()["privacy_code"] != old_code

    with httpx.Client(timeout=30.0) as http:
        for request in log.values():  # played again from the log, byte for byte
            replayed = http.send(request)
            assert replayed.status_code == 403, replayed.text
            assert replayed.json()["error"]["code"] == "shopper_access_denied"
    assert rows(sb, "SELECT count(*) FROM deletion_receipts") == [(1,)]
    paid = till.authorize(till.pay_body(same_face(face(321), 2)))
    assert paid.json()["status"] == "approved", paid.text
    export = _rights(sb, "export", str(again.json()["privacy_code"]), PHONE)
    assert export.status_code == 200
    assert export.json()["template_stored"] is True


def test_a_withdrawn_shopper_enrolling_again_stores_nothing_until_they_delete(
    backends: Backends,
) -> None:
    """docs/privacy.md: a shopper who withdrew consent and enrolls again under the same
    number gets the answer any taken number gets and nothing is stored; they delete their
    record with their privacy code first."""
    sb = backends.start()
    till = backends.till(sb)
    first = till.enroll(face(331))
    assert first.status_code == 201
    code = str(first.json()["privacy_code"])
    assert _rights(sb, "withdraw-consent", code, PHONE).status_code == 200

    again = till.enroll(face(331))  # their own face, their own number
    assert again.status_code == 201, again.text  # not 409: the withdrawn face is gone
    assert rows(sb, "SELECT count(*) FROM shoppers") == [(1,)]
    assert _rights(sb, "export", str(again.json()["privacy_code"]), PHONE).status_code == 403
    paid = till.authorize(till.pay_body(same_face(face(331), 1)))
    assert paid.json()["status"] == "declined", paid.text

    assert _rights(sb, "delete", code, PHONE).status_code == 200
    fresh = till.enroll(face(331))
    assert fresh.status_code == 201, fresh.text
    assert _rights(sb, "export", str(fresh.json()["privacy_code"]), PHONE).status_code == 200
    paid = till.authorize(till.pay_body(same_face(face(331), 2)))
    assert paid.json()["status"] == "approved", paid.text


def test_a_guesser_with_a_whole_ipv6_network_has_one_budget(backends: Backends) -> None:
    """A home line or a phone gets a whole IPv6 /64: counted per address, a guesser had a
    fresh budget (and wrote a counter row) for every call. Now a /64 is one source, and an
    IPv4-mapped address is its IPv4 one."""
    sb = backends.start(ServerConfig(shopper_rights_per_source=3))
    r = backends.till(sb).enroll(face(341))
    assert r.status_code == 201
    code = str(r.json()["privacy_code"])
    assert sb.backend is not None
    backend = sb.backend

    def guess(source: str) -> str:
        try:
            backend.for_source(source).export(_access("AAAA-BBBB-CCCC"))
        except ApiError as exc:
            return exc.code.value
        return "answered"

    network = [f"2001:db8:7:1::{n:x}" for n in range(1, 5)] + ["2001:db8:7:1:ffff::1"]
    assert [guess(s) for s in network] == ["shopper_access_denied"] * 3 + ["rate_limited"] * 2
    mapped = ["198.51.100.7", "::ffff:198.51.100.7", "::ffff:c633:6407", "198.51.100.7"]
    assert [guess(s) for s in mapped] == ["shopper_access_denied"] * 3 + ["rate_limited"]
    # The victim, on the next /64 (another line), deletes at once.
    receipt = backend.for_source("2001:db8:7:2::1").delete(_access(code))
    assert receipt.shopper_id == r.json()["shopper_id"]
    counted = "SELECT subject FROM request_windows ORDER BY subject"
    assert rows(sb, counted) == [
        ("rights-source:198.51.100.7",),
        ("rights-source:2001:db8:7:1::/64",),
        ("rights-source:2001:db8:7:2::/64",),
    ]


def test_the_claims_lockout_tells_no_till_whether_a_number_is_enrolled(
    backends: Backends,
) -> None:
    """docs/protocol.md: ``no_match`` also for a claim nobody enrolled, "so a till cannot
    probe which phone numbers are enrolled". The lockout told it anyway: five faces under
    an enrolled number were compared and locked the claim, five under a free number were
    not, so a sixth attempt answered ``429`` for an enrolled number and ``no_match`` for a
    free one. Now every live attempt under a claim counts against it, enrolled or not."""
    sb = backends.start()
    assert backends.till(sb).enroll(face(351)).status_code == 201
    answers = {}
    for number in (PHONE, "+4915599990000"):
        prober = backends.till(sb)
        probes = [
            prober.authorize(prober.pay_body(same_face(face(352), n), phone=number))
            for n in range(5)
        ]
        assert [p.json()["decline_reason"] for p in probes] == ["no_match"] * 5
        asker = backends.till(sb)  # a fresh till: the prober's own lock says nothing
        sixth = asker.authorize(asker.pay_body(same_face(face(352), 6), phone=number))
        answers[number] = (sixth.status_code, sixth.json().get("error", sixth.json()).get("code"))
    assert answers[PHONE] == answers["+4915599990000"] == (429, "locked_out"), answers


def test_a_number_nobody_enrolled_leaves_no_keyed_hash_once_its_lock_is_over(
    backends: Backends,
) -> None:
    """Counting every live face under a claim (above) writes a lockout row and, at the
    fifth, a ``locked_out`` audit line for numbers nobody enrolled: pseudonyms of phone
    numbers of people who never agreed to anything. When the sweep forgets such a lock,
    its audit lines forget the hash; an enrolled shopper's stay until they delete."""
    sb = backends.start()
    assert sb.backend is not None
    assert backends.till(sb).enroll(face(361)).status_code == 201
    free = "+4915599990000"
    for number in (PHONE, free):
        prober = backends.till(sb)
        for n in range(5):
            r = prober.authorize(prober.pay_body(same_face(face(362), n), phone=number))
            assert r.json()["decline_reason"] == "no_match", r.text
    hashed = {
        number: claim_hash(sb.backend.vault, "acme", Claim(kind=ClaimKind.PHONE, value=number))
        for number in (PHONE, free)
    }
    assert hashed[free] in _everything_stored(sb)  # the lock's own trace, while it lasts

    later = time.time() + 2 * (sb.backend.config.shopper_lockout_s + 600.0)
    sweeper = PaymentBackend(sb.backend.db, sb.backend.vault, ServerConfig(), clock=lambda: later)
    assert sweeper.sweep()["lockouts"] >= 2
    stored = _everything_stored(sb)
    assert hashed[free] not in stored
    assert free[1:] not in stored
    locks = "SELECT subject_id FROM audit_log WHERE event = 'locked_out' AND subject_id LIKE ?"
    assert set(rows(sb, locks, ("claim:%",))) == {("claim:erased",), (f"claim:{hashed[PHONE]}",)}

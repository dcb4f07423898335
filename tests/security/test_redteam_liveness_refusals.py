"""Red team of ``POST /v1/sessions/{id}/liveness-refusal`` (docs/security.md, "Attacks
tried: liveness refusals") where its own tests stop: a report and a payment for one
session racing through two workers (a compromised till, or one with the device's stolen
key, trying to burn a session the shopper is paying with or to be paid and not counted),
and one report sent through two workers at the same instant. Backends on one database
(tests/conftest.py: SQLite, then PostgreSQL), each one worker or replica."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from shoppers_kit import Backends, rows

from facepay.config import ServerConfig
from facepay.testing.protocol_till import PHONE, ProtocolTill, face, same_face, seeded_liveness

ROUNDS = 6
# Room for every round's refusal and request without the device locking or being rate
# limited (neither is the point here).
CONFIG = ServerConfig(lockout_failures=100, device_rate_per_s=1000.0, device_rate_burst=1000)


def _refusal(till: ProtocolTill, session_id: str, seed: bytes) -> httpx.Response:
    liveness = seeded_liveness(seed, "not_live")
    liveness["reasons"] = ["screen_cue"]
    return till.call("POST", f"/v1/sessions/{session_id}/liveness-refusal", {"liveness": liveness})


def _payment(till: ProtocolTill, session_id: str, seed: bytes, vector: Any) -> httpx.Response:
    body = {
        "session_id": session_id,
        "amount_minor": 500,
        "currency": "EUR",
        "basket_reference": f"pos-race-{session_id[-12:]}",  # an order per round: paid once
        "sealed_template": till.seal(vector, session_id),
        "liveness": seeded_liveness(seed),
        "claim": {"kind": "phone", "value": PHONE},
    }
    return till.authorize(body)


def _device_failures(backends: Backends, till: ProtocolTill) -> int:
    found = rows(
        backends.started[0],
        "SELECT failures FROM lockouts WHERE subject = ?",
        (f"device:{till.device.device_id}",),
    )
    return int(found[0][0]) if found else 0


def test_a_report_racing_the_payment_of_its_session_either_pays_or_counts_never_both(
    backends: Backends,
) -> None:
    a, b = backends.start(CONFIG), backends.start(CONFIG)
    on_a = backends.till(a)
    on_b = backends.till(b, device=on_a.device)
    me = face(960)
    assert on_a.enroll(me).status_code == 201
    paid = refused = 0
    with ThreadPoolExecutor(max_workers=2) as pool:
        for n in range(ROUNDS):
            sid = on_a.session("pay")
            seed = on_a.liveness_seed
            pay = pool.submit(_payment, on_a, sid, seed, same_face(me, n, noise=0.005))
            report = pool.submit(_refusal, on_b, sid, seed)
            p, r = pay.result(), report.result()
            outcomes = {(p.status_code, r.status_code)}
            assert outcomes <= {(200, 410), (410, 200)}, (p.text, r.text)
            if p.status_code == 200:
                assert p.json()["status"] == "approved", p.text
                assert r.json()["error"]["code"] == "session_used"
                paid += 1
            else:
                assert p.json()["error"]["code"] == "session_used"
                assert r.json()["status"] == "recorded"
                refused += 1
            # Reconcile: the session holds a payment exactly when the payment won.
            found = on_b.call("GET", f"/v1/sessions/{sid}/authorization")
            assert found.status_code == (200 if p.status_code == 200 else 404), found.text
    assert paid + refused == ROUNDS
    assert rows(a, "SELECT COUNT(*) FROM authorizations") == [(paid,)]
    assert _device_failures(backends, on_a) == refused
    assert len(rows(a, "SELECT id FROM audit_log WHERE event = 'liveness_refused'")) == refused


def test_one_report_sent_through_two_workers_at_once_counts_once(backends: Backends) -> None:
    a, b = backends.start(CONFIG), backends.start(CONFIG)
    on_a = backends.till(a)
    on_b = backends.till(b, device=on_a.device)
    with ThreadPoolExecutor(max_workers=2) as pool:
        for n in range(ROUNDS):
            sid = on_a.session("pay")
            seed = on_a.liveness_seed
            answers = [
                f.result() for f in [pool.submit(_refusal, t, sid, seed) for t in (on_a, on_b)]
            ]
            assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
            assert sorted(r.json()["replayed"] for r in answers) == [False, True]
            assert _device_failures(backends, on_a) == n + 1
    assert len(rows(a, "SELECT id FROM audit_log WHERE event = 'liveness_refused'")) == ROUNDS

"""Issue 16, "3D evidence in every payment": a till's ``not_live`` reaches the backend.

``POST /v1/sessions/{session_id}/liveness-refusal`` spends the till's payment session and
counts one failure against the device, in the database, never against a shopper. These
tests attack it as docs/security.md says one would: a recorded report played again,
another device's session, a spent or paid session, reports after the lock, a stolen till
with a victim's phone number, and devices spread over two workers or replicas sharing the
database (tests/conftest.py: SQLite, then PostgreSQL).
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from requests_kit import replay, send
from shoppers_kit import Backends, rows

from facepay.config import ServerConfig
from facepay.server import Sandbox
from facepay.testing.protocol_till import PHONE, ProtocolTill, face, same_face, seeded_liveness

LOCK_AT = ServerConfig().lockout_failures


def _path(session_id: str) -> str:
    return f"/v1/sessions/{session_id}/liveness-refusal"


def _summary(till: ProtocolTill, *reasons: str) -> dict[str, Any]:
    """What a genuine till reports: its verdict's numbers and flags (the plan the session's
    seed derives, the refusing signals), never a frame."""
    liveness = seeded_liveness(till.liveness_seed, "not_live")
    liveness["reasons"] = list(reasons or ("screen_cue",))
    return {"liveness": liveness}


def _report(till: ProtocolTill, session_id: str, *reasons: str) -> httpx.Response:
    return till.call("POST", _path(session_id), _summary(till, *reasons))


def _code(r: httpx.Response) -> tuple[int, str]:
    body = r.json()
    return r.status_code, str(body.get("status") or body["error"]["code"])


def _failures(sandbox: Sandbox, subject: str) -> tuple[int, bool]:
    """The subject's failures in its window, and whether it is locked (no row: 0, no)."""
    found = rows(
        sandbox, "SELECT failures, locked_until FROM lockouts WHERE subject = ?", (subject,)
    )
    if not found:
        return 0, False
    failures, until = found[0]
    return int(failures), float(until or 0.0) > 0.0


def _device(till: ProtocolTill) -> str:
    return f"device:{till.device.device_id}"


def _pay(till: ProtocolTill, session_id: str, vector: Any) -> httpx.Response:
    """A live payment in ``session_id`` (already opened by ``till.session()``)."""
    body = {
        "session_id": session_id,
        "amount_minor": 500,
        "currency": "EUR",
        "basket_reference": "pos-refusal",
        "sealed_template": till.seal(vector, session_id),
        "liveness": seeded_liveness(till.liveness_seed),
        "claim": {"kind": "phone", "value": PHONE},
    }
    return till.authorize(body)


def test_a_report_spends_the_session_counts_the_device_once_and_is_audited(
    backends: Backends,
) -> None:
    sb = backends.start()
    genuine = backends.till(sb)
    assert genuine.enroll(face(51)).status_code == 201
    session_id = genuine.session()
    first = _report(genuine, session_id)
    assert first.status_code == 200, first.text
    answer = first.json()
    assert (answer["session_id"], answer["status"], answer["replayed"]) == (
        session_id,
        "recorded",
        False,
    )
    assert _failures(sb, _device(genuine)) == (1, False)
    # The till's retry after a lost answer (signed afresh): the same answer, counted once.
    again = _report(genuine, session_id)
    assert again.status_code == 200, again.text
    assert again.json() == {**answer, "replayed": True}
    assert _failures(sb, _device(genuine)) == (1, False)
    # Another summary on the refused session is no retry: a conflict, nothing counted.
    other = _report(genuine, session_id, "frozen_frames")
    assert _code(other) == (409, "idempotency_conflict")
    assert _failures(sb, _device(genuine)) == (1, False)
    # The session can no longer pay, even with the shopper's own face.
    assert _code(_pay(genuine, session_id, same_face(face(51), 1))) == (410, "session_used")
    # One audit line: the decision and the reasons, nothing of the face.
    (audited,) = rows(
        sb,
        "SELECT device_id, details_json FROM audit_log WHERE event = 'liveness_refused' "
        "AND subject_id = ?",
        (session_id,),
    )
    assert audited[0] == genuine.device.device_id
    assert json.loads(audited[1]) == {
        "decision": "not_live",
        "reasons": ["screen_cue"],
        "challenges": seeded_liveness(genuine.liveness_seed)["challenges"],
    }


def test_only_not_live_is_a_refusal_and_a_claim_cannot_ride_along(backends: Backends) -> None:
    sb = backends.start()
    till = backends.till(sb)
    session_id = till.session()
    for decision in ("inconclusive", "live"):
        body = {"liveness": seeded_liveness(till.liveness_seed, decision)}
        r = till.call("POST", _path(session_id), body)
        assert _code(r) == (422, "validation_failed"), decision
    with_claim = {**_summary(till), "claim": {"kind": "phone", "value": PHONE}}
    assert _code(till.call("POST", _path(session_id), with_claim)) == (422, "validation_failed")
    unsigned = till.call("POST", _path(session_id), _summary(till), sign=False)
    assert _code(unsigned) == (401, "missing_signature")
    assert _failures(sb, _device(till)) == (0, False)
    # None of that spent the session: the till's real report still counts.
    assert _report(till, session_id).status_code == 200


def test_a_recorded_report_played_again_is_refused_and_counts_nothing(backends: Backends) -> None:
    sb = backends.start()
    till = backends.till(sb)
    session_id = till.session()
    answered, recorded = send(till, _path(session_id), _summary(till))
    assert answered.status_code == 200, answered.text
    for _ in range(3):
        assert _code(replay(sb.base_url, recorded)) == (401, "nonce_reused")
    # Re-pointed at a fresh session of the same till: the signature covers the path.
    fresh = till.session()
    moved = recorded.__class__("POST", _path(fresh), recorded.body, recorded.headers)
    assert replay(sb.base_url, moved).status_code == 401
    assert _failures(sb, _device(till)) == (1, False)
    assert rows(sb, "SELECT used_at FROM sessions WHERE session_id = ?", (fresh,)) == [(None,)]


def test_a_report_on_another_devices_session_neither_spends_nor_counts(
    backends: Backends,
) -> None:
    sb = backends.start()
    victim, rogue = backends.till(sb), backends.till(sb)
    assert victim.enroll(face(52)).status_code == 201
    session_id = victim.session()
    rogue.liveness_seed = victim.liveness_seed
    assert _code(_report(rogue, session_id)) == (422, "session_mismatch")
    # An enrollment session is no payment session either, even the till's own.
    enroll_session = victim.session("enroll")
    assert _code(_report(victim, enroll_session)) == (422, "session_mismatch")
    assert _failures(sb, _device(victim)) == (0, False)
    assert _failures(sb, _device(rogue)) == (0, False)
    # The victim's session still pays.
    victim.liveness_seed = rows(
        sb, "SELECT liveness_seed FROM sessions WHERE session_id = ?", (session_id,)
    )[0][0]
    r = _pay(victim, session_id, same_face(face(52), 1))
    assert _code(r) == (200, "approved")


def test_a_paid_or_spent_session_cannot_be_reported(backends: Backends) -> None:
    sb = backends.start()
    till = backends.till(sb)
    assert till.enroll(face(53)).status_code == 201
    paid = till.session()
    assert _code(_pay(till, paid, same_face(face(53), 1))) == (200, "approved")
    assert _code(_report(till, paid)) == (410, "session_used")
    assert _code(_report(till, "ses_no_such_session")) == (422, "session_mismatch")
    assert _failures(sb, _device(till)) == (0, False)
    # The payment stands: its answer in that session is unchanged.
    r = till.call("GET", f"/v1/sessions/{paid}/authorization")
    assert _code(r) == (200, "approved")


def test_an_expired_session_cannot_be_reported(backends: Backends) -> None:
    sb = backends.start()
    till = backends.till(sb)
    session_id = till.session()
    assert sb.backend is not None
    later = time.time() + ServerConfig().session_ttl_s + 60
    # The parts' clock only: the request itself is signed now and authenticated now.
    sb.backend.context.clock = lambda: later
    assert _code(_report(till, session_id)) == (410, "session_expired")
    assert _failures(sb, _device(till)) == (0, False)


def test_the_served_openapi_document_describes_the_report(backends: Backends) -> None:
    sb = backends.start()
    doc = httpx.get(f"{sb.base_url}/openapi.json").json()
    operation = doc["paths"]["/v1/sessions/{session_id}/liveness-refusal"]["post"]
    # Signed like every device request: the four headers, all required.
    (required,) = operation["security"]
    assert set(required) == {
        "FacePayDevice",
        "FacePayTimestamp",
        "FacePayNonce",
        "FacePaySignature",
    }
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith("/LivenessRefusalRequest")
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["$ref"].endswith("/LivenessRefusalResponse")
    assert {"409", "410", "422", "429"} <= set(operation["responses"])
    request = doc["components"]["schemas"]["LivenessRefusalRequest"]
    assert set(request["properties"]) == {"liveness"}
    assert request["additionalProperties"] is False


def test_reports_after_the_lock_are_refused_and_do_not_extend_it(backends: Backends) -> None:
    sb = backends.start()
    till = backends.till(sb)
    for _ in range(LOCK_AT):
        assert _report(till, till.session()).status_code == 200
    assert _failures(sb, _device(till)) == (0, True)
    (until,) = rows(sb, "SELECT locked_until FROM lockouts WHERE subject = ?", (_device(till),))[0]
    late = till.session()
    assert _code(_report(till, late)) == (429, "locked_out")
    assert _code(_pay(till, till.session(), face(54))) == (429, "locked_out")
    assert rows(sb, "SELECT locked_until FROM lockouts WHERE subject = ?", (_device(till),)) == [
        (until,)
    ]
    # Refused before the session was looked at: it was not spent.
    assert rows(sb, "SELECT used_at FROM sessions WHERE session_id = ?", (late,)) == [(None,)]


def test_a_stolen_till_reporting_with_a_phone_number_never_locks_its_shopper(
    backends: Backends,
) -> None:
    first, second = backends.start(), backends.start()
    genuine = backends.till(first)
    assert genuine.enroll(face(55)).status_code == 201
    # Stolen tills of the tenant, on both workers, far more reports than the lock needs,
    # each after trying to name the shopper.
    stolen = [backends.till(sb) for sb in (first, second, second)]
    for n in range(3 * LOCK_AT):
        thief = stolen[n % 3]
        session_id = thief.session()
        named = {**_summary(thief), "claim": {"kind": "phone", "value": PHONE}}
        assert _code(thief.call("POST", _path(session_id), named)) == (422, "validation_failed")
        assert _code(_report(thief, session_id)) in ((200, "recorded"), (429, "locked_out"))
    assert rows(first, "SELECT subject FROM lockouts WHERE subject LIKE ?", ("claim:%",)) == []
    for thief in stolen:
        assert _failures(first, _device(thief))[1]
    # The shopper still pays, through either worker.
    for till in (genuine, backends.till(second, genuine.device)):
        assert _code(till.authorize(till.pay_body(same_face(face(55), 1)))) == (200, "approved")


def test_reports_through_two_workers_lock_the_device_exactly_at_the_limit(
    backends: Backends,
) -> None:
    first, second = backends.start(), backends.start()
    on_first = backends.till(first)
    on_second = backends.till(second, on_first.device)
    subject = _device(on_first)
    for n in range(LOCK_AT - 1):
        till = (on_first, on_second)[n % 2]
        assert _report(till, till.session()).status_code == 200
        assert _failures(first, subject) == (n + 1, False)
    # One short of the limit nothing is locked: each worker still takes a payment's
    # request to its decision ...
    assert _failures(first, subject) == (LOCK_AT - 1, False)
    # ... and the report that reaches the limit, on either worker, locks the device on both.
    last = (on_first, on_second)[(LOCK_AT - 1) % 2]
    assert _code(_report(last, last.session())) == (200, "recorded")
    assert _failures(second, subject) == (0, True)
    for till in (on_first, on_second):
        assert _code(_report(till, till.session())) == (429, "locked_out")
        assert _code(till.authorize(till.pay_body(face(56)))) == (429, "locked_out")

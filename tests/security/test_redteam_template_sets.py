"""Red team of template sets and per-recipe galleries (docs/security.md, "Attacks tried:
template sets"; docs/privacy.md, "A shopper's templates"): an approval replayed or sent
twice through two workers must not teach the set twice; a template named with the other
recipe's model id must never be scored against the shopper's gallery; a deletion must
take every view, adaptive slot and PIN from every worker's galleries of every recipe.
Backends on one database (tests/conftest.py: SQLite, then PostgreSQL), each standing for
one worker or replica, and a raw till that seals any template under any model id."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pin_kit import PIN, at_similarity, pin_rows
from shoppers_kit import Backends, rows

from facepay.config import ServerConfig
from facepay.crypto import seal_enrollment_pin
from facepay.testing.protocol_till import CONSENT, PHONE, ProtocolTill, face
from facepay.testing.synthetic import at_cosine
from facepay.wire import b64encode

PLAIN = "dlib-resnet-v1"
MIRROR = "dlib-resnet-v1+mirror"
# Updates allowed at once (no interval), claimless search allowed, both recipes served.
LEARNING = ServerConfig(adaptive_interval_s=0.0, adaptive_slots=2, risk_budget=1.0)
# The same, with room for the many declines and requests these tests send from one till.
PROBING = ServerConfig(
    adaptive_interval_s=0.0,
    adaptive_slots=2,
    risk_budget=1.0,
    lockout_failures=50,
    device_rate_per_s=1000.0,
    device_rate_burst=1000,
)


def _enroll(till: ProtocolTill, vector: Any, *, model_id: str, more: list[Any]) -> dict[str, Any]:
    sid = till.session("enroll")
    body = {
        "session_id": sid,
        "sealed_template": till.seal(vector, sid, model_id=model_id),
        "more_views": [till.seal(v, sid, model_id=model_id) for v in more],
        "consent": CONSENT,
        "payment_method_token": "tok_visa_4242",
        "claim": {"kind": "phone", "value": PHONE},
        "sealed_pin": b64encode(seal_enrollment_pin(PIN, till.public_key, session_id=sid)),
    }
    r = till.call("POST", "/v1/enrollments", body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _pay_body(
    till: ProtocolTill, vector: Any, *, model_id: str, phone: str | None = PHONE
) -> dict[str, Any]:
    body = till.pay_body(vector, phone=phone)
    body["sealed_template"] = till.seal(vector, body["session_id"], model_id=model_id)
    return body


def _pay(till: ProtocolTill, vector: Any, *, model_id: str, phone: str | None = PHONE) -> Any:
    r = till.authorize(_pay_body(till, vector, model_id=model_id, phone=phone))
    assert r.status_code == 200, r.text
    return r.json()


def _version(till: ProtocolTill, shopper_id: str) -> int:
    [(version,)] = rows(
        till.sandbox, "SELECT template_version FROM shoppers WHERE shopper_id = ?", (shopper_id,)
    )
    return int(version)


def _adapted(till: ProtocolTill) -> list[str]:
    found = rows(
        till.sandbox, "SELECT details_json FROM audit_log WHERE event = 'templates_adapted'"
    )
    return [json.loads(r[0])["authorization_id"] for r in found]


def test_a_replayed_or_duplicated_approval_teaches_the_set_once(backends: Backends) -> None:
    a, b = backends.start(LEARNING), backends.start(LEARNING)
    till_a = backends.till(a)
    till_b = backends.till(b, device=till_a.device)
    me = face(970)
    shopper_id = _enroll(till_a, me, model_id=PLAIN, more=[])["shopper_id"]
    # One clear approval, recorded by a proxy, then sent again under its own key through
    # both workers (a retry after a lost answer, or a replay the backend must absorb).
    body = _pay_body(till_a, at_cosine(me, 0.99, 1), model_id=PLAIN)
    first = till_a.authorize(body, key="idem_teach_once")
    assert first.json()["status"] == "approved", first.text
    assert _version(till_a, shopper_id) == 2
    for till in (till_a, till_b, till_a):
        again = till.authorize(body, key="idem_teach_once")
        assert again.status_code == 200, again.text
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json()["authorization_id"] == first.json()["authorization_id"]
    assert _version(till_a, shopper_id) == 2
    assert _adapted(till_a) == [first.json()["authorization_id"]]
    # The same fresh approval sent at once through both workers: one decision, one update.
    racing = _pay_body(till_a, at_cosine(me, 0.99, 2), model_id=PLAIN)
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(
            pool.map(
                lambda t: t.authorize(racing, key="idem_teach_race"),
                [till_a, till_b, till_a, till_b],
            )
        )
    assert {r.status_code for r in answers} == {200}
    assert len({r.json()["authorization_id"] for r in answers}) == 1
    assert [r.headers["Idempotent-Replayed"] for r in answers].count("false") == 1
    assert _version(till_a, shopper_id) == 3
    assert len(_adapted(till_a)) == 2
    assert rows(a, "SELECT COUNT(*) FROM authorizations")[0][0] == 2


def test_a_template_named_with_the_other_recipe_is_never_scored_against_the_shopper(
    backends: Backends,
) -> None:
    # Enrolled with the mirror recipe; a till names the same vector with the plain id
    # (or the plain gallery exists because someone else enrolled plain).
    a = backends.start(PROBING)
    till = backends.till(a)
    me, other = face(971), face(972)
    _enroll(till, me, model_id=MIRROR, more=[])
    r = till.call(
        "POST",
        "/v1/enrollments",
        {**till.enroll_body(other, phone="+4915199977001")},
    )
    assert r.status_code == 201, r.text
    for phone in (PHONE, None):
        for probe in (at_cosine(me, 0.99, 3), at_similarity(me, 0.95, 4)):
            crossed = _pay(till, probe, model_id=PLAIN, phone=phone)
            assert crossed["status"] == "declined", crossed
            assert crossed["decline_reason"] == "no_match"
    assert [r[1] for r in pin_rows(a)] == [0]
    audits = rows(a, "SELECT details_json FROM audit_log WHERE event = 'authorization'")
    shopper = rows(a, "SELECT shopper_id FROM shoppers WHERE model_id = ?", (MIRROR,))[0][0]
    assert all(shopper not in str(d[0]) for d in audits)
    # (control) The same face under its own recipe pays, with and without the claim.
    for phone in (PHONE, None):
        assert _pay(till, at_cosine(me, 0.99, 5), model_id=MIRROR, phone=phone)["status"] == (
            "approved"
        )


def test_a_deletion_takes_every_view_slot_and_pin_from_every_workers_galleries(
    backends: Backends,
) -> None:
    a, b = backends.start(PROBING), backends.start(PROBING)
    till_a = backends.till(a)
    till_b = backends.till(b, device=till_a.device)
    me = face(973)
    enrolled = _enroll(till_a, me, model_id=MIRROR, more=[at_cosine(me, 0.97, 6)])
    shopper_id = enrolled["shopper_id"]
    # Both adaptive slots taught, through both workers; each worker holds the whole set,
    # and worker B has also been asked with the plain id (its plain gallery exists).
    assert _pay(till_a, at_cosine(me, 0.99, 7), model_id=MIRROR)["status"] == "approved"
    assert _pay(till_b, at_cosine(me, 0.98, 8), model_id=MIRROR)["status"] == "approved"
    assert _pay(till_b, at_cosine(me, 0.99, 9), model_id=PLAIN)["status"] == "declined"
    assert a.backend is not None
    assert b.backend is not None
    held = b.backend.galleries.get("acme", MIRROR)
    assert held is not None
    views = held.views(shopper_id)
    assert views is not None
    assert views.shape[0] == 4
    r = till_a.http.post(
        "/v1/shoppers/delete",
        json={"privacy_code": enrolled["privacy_code"], "claim": {"kind": "phone", "value": PHONE}},
    )
    assert r.status_code == 200, r.text
    assert {"template", "template_data_key", "pin"} <= set(r.json()["erased"])
    assert rows(
        a,
        "SELECT template_sealed, data_key_wrapped FROM shoppers WHERE shopper_id = ?",
        (shopper_id,),
    ) == [(None, None)]
    assert pin_rows(a) == []
    # Worker B, which held the set: every recipe, with and without the claim, declined,
    # no PIN asked, and no score of the face written anywhere after the deletion.
    for model_id in (MIRROR, PLAIN):
        for phone in (PHONE, None):
            for probe in (at_cosine(me, 0.99, 10), at_similarity(me, 0.95, 11)):
                gone = _pay(till_b, probe, model_id=model_id, phone=phone)
                assert gone["status"] == "declined", gone
                assert gone["decline_reason"] == "no_match"
    for gallery_id in (MIRROR, PLAIN):
        for backend in (a.backend, b.backend):
            gallery = backend.galleries.get("acme", gallery_id)
            assert gallery is None or shopper_id not in gallery
    deleted_at = rows(a, "SELECT deleted_at FROM shoppers WHERE shopper_id = ?", (shopper_id,))
    after = rows(
        a,
        "SELECT details_json FROM audit_log WHERE event = 'authorization' AND at >= ?",
        (deleted_at[0][0],),
    )
    assert len(after) == 8
    assert all(shopper_id not in str(d[0]) for d in after)


def test_an_extra_view_of_the_other_recipe_refuses_the_whole_enrollment(
    backends: Backends,
) -> None:
    # Both recipes are served, so each view alone would be accepted: a till mixing them
    # would plant a plain template in a mirror set (or the reverse).
    a = backends.start(LEARNING)
    till = backends.till(a)
    me = face(974)
    for primary, extra in ((MIRROR, PLAIN), (PLAIN, MIRROR)):
        sid = till.session("enroll")
        body = {
            "session_id": sid,
            "sealed_template": till.seal(me, sid, model_id=primary),
            "more_views": [till.seal(at_cosine(me, 0.97, 12), sid, model_id=extra)],
            "consent": CONSENT,
            "payment_method_token": "tok_visa_4242",
            "claim": {"kind": "phone", "value": PHONE},
        }
        r = till.call("POST", "/v1/enrollments", body)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "template_invalid"
    assert rows(a, "SELECT COUNT(*) FROM shoppers") == [(0,)]
    # (control) The same views under one recipe enroll.
    assert _enroll(till, me, model_id=MIRROR, more=[at_cosine(me, 0.97, 12)])["shopper_id"]


def test_retention_expiry_takes_every_view_slot_and_pin_from_every_worker(
    backends: Backends,
) -> None:
    # The retention sweep of one worker (its clock moved past the retention period)
    # shreds a learnt set with its PIN; the other worker, which held the set, declines
    # the face with and without the claim and asks for no PIN.
    a, b = backends.start(PROBING), backends.start(PROBING)
    till_a = backends.till(a)
    till_b = backends.till(b, device=till_a.device)
    me = face(975)
    shopper_id = _enroll(till_a, me, model_id=MIRROR, more=[at_cosine(me, 0.97, 13)])["shopper_id"]
    assert _pay(till_b, at_cosine(me, 0.99, 14), model_id=MIRROR)["status"] == "approved"
    assert _version(till_a, shopper_id) == 2
    assert a.backend is not None
    real = a.backend.clock
    a.backend.clock = lambda: real() + 1100 * 86_400.0  # past the 1,095 days
    try:
        assert a.backend.sweep()["retention_expired"] == 1
    finally:
        a.backend.clock = real
    assert rows(
        a,
        "SELECT template_sealed, data_key_wrapped FROM shoppers WHERE shopper_id = ?",
        (shopper_id,),
    ) == [(None, None)]
    assert pin_rows(a) == []
    for phone in (PHONE, None):
        for probe in (at_cosine(me, 0.99, 15), at_similarity(me, 0.95, 16)):
            gone = _pay(till_b, probe, model_id=MIRROR, phone=phone)
            assert (gone["status"], gone["decline_reason"]) == ("declined", "no_match"), gone
    assert b.backend is not None
    gallery = b.backend.galleries.get("acme", MIRROR)
    assert gallery is None or shopper_id not in gallery

"""Issue 12, item 9: a rogue till locked any shopper out of face payments everywhere with
five ``not_live`` attempts and only their phone number. A failure counts against the
claimed shopper only when a face was compared with theirs; the device is still counted.
"""

from __future__ import annotations

from shoppers_kit import Backends

from facepay.testing.protocol_till import PHONE, ProtocolTill, face, same_face


def _status(r: object) -> tuple[int, str]:
    import httpx

    assert isinstance(r, httpx.Response)
    body = r.json()
    return r.status_code, str(body.get("status") or body["error"]["code"])


def test_not_live_attempts_with_a_phone_number_do_not_lock_its_shopper_out(
    backends: Backends,
) -> None:
    first, second = backends.start(), backends.start()
    genuine = backends.till(first)
    assert genuine.enroll(face(41)).status_code == 201
    # Three rogue tills of the tenant, on both workers, ten not_live attempts in all.
    rogues: list[ProtocolTill] = [backends.till(sb) for sb in (first, second, second)]
    for attempt in range(10):
        rogue = rogues[attempt % 3]
        r = rogue.authorize(rogue.pay_body(face(900 + attempt), phone=PHONE, liveness="not_live"))
        assert _status(r) in ((200, "declined"), (429, "locked_out"))
    # The victim still pays, through either worker.
    for till in (genuine, backends.till(second, genuine.device)):
        assert _status(till.authorize(till.pay_body(same_face(face(41), 1)))) == (200, "approved")
    # The rogue tills themselves are counted: the first made four attempts, the fifth locks.
    locked = rogues[0].authorize(rogues[0].pay_body(face(41), liveness="not_live"))
    assert _status(locked) == (200, "declined")
    assert _status(rogues[0].authorize(rogues[0].pay_body(face(41)))) == (429, "locked_out")


def test_failures_where_a_face_was_compared_still_lock_the_claim(backends: Backends) -> None:
    sb = backends.start()
    genuine = backends.till(sb)
    assert genuine.enroll(face(42)).status_code == 201
    impostors = [backends.till(sb) for _ in range(5)]
    for n, impostor in enumerate(impostors):  # one live attempt each: only the claim reaches 5
        r = impostor.authorize(impostor.pay_body(face(990 + n)))
        assert _status(r) == (200, "declined")
    assert _status(genuine.authorize(genuine.pay_body(same_face(face(42), 1)))) == (
        429,
        "locked_out",
    )

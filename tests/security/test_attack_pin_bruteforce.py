"""Attacks tried: guessing a shopper's PIN (docs/security.md, "Attacks tried: the second
factor"). The attacker has a face near enough to the shopper's to reach the grey zone (a
look-alike) and a till; they guess PINs through every worker or replica at once. SQLite
(workers on one file) and PostgreSQL (replicas), through ``database_url``."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

from pin_kit import PIN, answer_pin, enroll_with_pin, grey_payment, pin_rows
from shoppers_kit import Backends, rows

from facepay.config import ServerConfig
from facepay.crypto import refused_pins
from facepay.testing.protocol_till import face

_NEVER = refused_pins() | {PIN}
WRONG = [p for i in range(10_000) if (p := f"{i:04d}") not in _NEVER]


def test_three_wrong_pins_across_workers_lock_the_pin_everywhere(backends: Backends) -> None:
    a, b = backends.start(), backends.start()
    till_a = backends.till(a)
    till_b = backends.till(b, device=None)
    me = face(301)
    assert enroll_with_pin(till_a, me).status_code == 201
    for guess, till in zip(WRONG[:3], itertools.cycle([till_a, till_b]), strict=False):
        asked = grey_payment(till, me)
        assert asked.json()["status"] == "step_up", asked.text
        assert asked.json()["step_up"]["kind"] == "pin"
        answer = answer_pin(till, asked.json()["authorization_id"], guess)
        assert answer.status_code == 200, answer.text
        assert answer.json()["decline_reason"] == "step_up_failed"
    assert pin_rows(a)[0][1] == 3
    # Locked in every process: the grey zone is a plain decline now, on both...
    for till in (till_a, till_b):
        again = grey_payment(till, me)
        assert again.json()["status"] == "declined", again.text
        assert again.json()["decline_reason"] == "no_match"
    # ... and the shopper's own face still pays on its own.
    assert grey_payment(till_a, me, similarity=0.99).json()["status"] == "approved"
    assert [r[0] for r in rows(a, "SELECT event FROM audit_log WHERE event = 'pin_locked'")] == [
        "pin_locked"
    ]


def test_a_step_up_asked_before_the_lock_cannot_be_answered_after_it(backends: Backends) -> None:
    a, b = backends.start(), backends.start()
    till_a, till_b = backends.till(a), backends.till(b)
    me = face(302)
    assert enroll_with_pin(till_a, me).status_code == 201
    # Five grey-zone step-ups asked first, through both processes, then answered.
    asked = [grey_payment(t, me).json() for t in (till_a, till_b, till_a, till_b, till_a)]
    assert {q["step_up"]["kind"] for q in asked} == {"pin"}
    tills = [till_a, till_b, till_a, till_b, till_a]
    answers = [
        answer_pin(t, q["authorization_id"], g).json()
        for t, q, g in zip(tills[:3], asked[:3], WRONG[3:6], strict=True)
    ]
    assert {x["decline_reason"] for x in answers} == {"step_up_failed"}
    # The right PIN, on a step-up that was pending all along: locked, so not compared.
    late = answer_pin(tills[3], asked[3]["authorization_id"], PIN).json()
    assert late["status"] == "declined"
    assert late["decline_reason"] == "step_up_failed"
    audits = rows(a, "SELECT details_json FROM audit_log WHERE event = 'step_up'")
    assert sum('"pin_try": null' in str(r[0]) for r in audits) == 1


def test_guesses_sent_at_once_through_every_worker_compare_at_most_three(
    backends: Backends,
) -> None:
    a, b = backends.start(), backends.start()
    till_a, till_b = backends.till(a), backends.till(b)
    me = face(303)
    assert enroll_with_pin(till_a, me).status_code == 201
    tills = [till_a, till_b] * 4
    asked = [grey_payment(t, me).json()["authorization_id"] for t in tills]
    # Eight wrong guesses race through both workers (the guesser does not know the PIN).
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(
            pool.map(lambda x: answer_pin(*x).json(), zip(tills, asked, WRONG[10:18], strict=True))
        )
    assert {x["decline_reason"] for x in answers} == {"step_up_failed"}
    compared = [
        r[0]
        for r in rows(a, "SELECT details_json FROM audit_log WHERE event = 'step_up'")
        if '"pin_try": null' not in str(r[0])
    ]
    assert len(compared) == 3
    assert pin_rows(a)[0][1] == 3
    # Locked: even the right PIN is no longer asked for.
    assert grey_payment(till_b, me).json()["decline_reason"] == "no_match"


def test_wrong_pins_count_against_the_guessing_device_too(backends: Backends) -> None:
    # Five wrong step-up answers lock the device (ServerConfig.lockout_failures), whoever
    # the shoppers were: a till cannot spread its guesses over many shoppers' PINs.
    config = ServerConfig(pin_failures=5)
    a = backends.start(config)
    till = backends.till(a)
    people = [(face(310 + i), f"+4915199900{i:03d}") for i in range(3)]
    for person, phone in people:
        assert enroll_with_pin(till, person, phone=phone).status_code == 201
    guesses = iter(WRONG[20:])
    locked = None
    wrong = 0
    for (person, phone), _ in itertools.product(people, range(2)):
        asked = grey_payment(till, person, phone=phone)
        if asked.status_code == 429:
            locked = asked
            break
        assert asked.json()["step_up"]["kind"] == "pin", asked.text
        answered = answer_pin(till, asked.json()["authorization_id"], next(guesses))
        assert answered.json()["decline_reason"] == "step_up_failed", answered.text
        wrong += 1
    assert locked is not None
    assert wrong == ServerConfig().lockout_failures
    assert locked.json()["error"]["code"] == "locked_out"
    # No shopper's PIN was locked by it: each had at most two of the five guesses.
    assert max(r[1] for r in pin_rows(a)) <= 2

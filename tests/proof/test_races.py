"""Races: the same payment sent many times at once is still charged once.

A till that times out and retries while its first request is still being processed, a
proxy that retries behind its back, or two lanes that somehow got the same session: the
requests arrive together, on several backend threads. docs/protocol.md promises that one
commits and the others replay its answer (same key) or are refused (same session, other
key). SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from proof_kit import RawTill, face, rows, same_face

from facepay.config import ServerConfig
from facepay.server import Sandbox

ALICE = face(61)


@pytest.fixture
def race_till(database_url: str, tmp_path: Path) -> Iterator[RawTill]:
    config = ServerConfig(device_rate_per_s=10_000.0, device_rate_burst=10_000)
    sandbox = Sandbox(database_url, key_dir=tmp_path / "keys", config=config).start()
    till = RawTill(sandbox, sandbox.provision_device(tenant_id="acme"))
    try:
        assert till.enroll(ALICE).status_code == 201
        yield till
    finally:
        till.close()
        sandbox.stop()


def _approved(till: RawTill, basket: str) -> list[tuple[object, ...]]:
    return rows(
        till.sandbox,
        "SELECT authorization_id FROM authorizations "
        f"WHERE basket_reference = '{basket}' AND status = 'approved'",
    )


def test_the_same_request_sent_twelve_times_at_once_is_charged_once(race_till: RawTill) -> None:
    body = race_till.pay_body(same_face(ALICE, 1))
    key = f"idem_{uuid.uuid4().hex}"
    with ThreadPoolExecutor(max_workers=12) as pool:
        # Each copy is signed afresh (its own nonce), as a retrying client does.
        answers = list(pool.map(lambda _: race_till.authorize(body, key=key), range(12)))
    assert [a.status_code for a in answers] == [200] * 12
    ids = {a.json()["authorization_id"] for a in answers}
    assert len(ids) == 1
    assert {a.json()["status"] for a in answers} == {"approved"}
    assert sum(a.headers.get("idempotent-replayed") == "false" for a in answers) == 1
    assert len(_approved(race_till, body["basket_reference"])) == 1


def test_one_session_raced_under_different_keys_pays_once(race_till: RawTill) -> None:
    body = race_till.pay_body(same_face(ALICE, 2))
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: race_till.authorize(body), range(8)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(200) == 1, [a.text for a in answers]
    assert all(s == 410 for s in statuses if s != 200)
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 410} == {"session_used"}
    assert len(_approved(race_till, body["basket_reference"])) == 1

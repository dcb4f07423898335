"""Issue 12, item 6: privacy codes were stored in the clear in
``authorizations.response_json`` and ``step_up_answers.response_json``, in database files
created 0644, and deletion left them there although the signed receipt listed them as
erased.

Attacked as a local user or a backup reader would: read the database file's bytes and
the answer columns, and look at the file modes.
"""

from __future__ import annotations

import os
import stat
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from shoppers_kit import Backends, ambiguous_payment, rows

from facepay.config import ServerConfig
from facepay.testing.protocol_till import PHONE, ProtocolTill, face, same_face


@pytest.fixture
def till(database_url: str, tmp_path: Path) -> Iterator[ProtocolTill]:
    backends = Backends(database_url, tmp_path / "keys")
    try:
        yield backends.till(backends.start(ServerConfig(risk_budget=1.0)))
    finally:
        backends.close()


def _variants(code: str) -> list[bytes]:
    return [code.encode(), code.replace("-", "").encode()]


def _stored_answers(till: ProtocolTill) -> str:
    found = rows(till.sandbox, "SELECT response_json FROM authorizations")
    found += rows(till.sandbox, "SELECT response_json FROM step_up_answers")
    return "\n".join(str(r[0]) for r in found)


def _database_bytes(till: ProtocolTill) -> bytes:
    db = till.sandbox.backend.db  # type: ignore[union-attr]
    if db.dialect != "sqlite":
        return b""
    path = Path(db.path)  # type: ignore[attr-defined]
    return b"".join(
        p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists()
    )


def test_privacy_codes_are_not_stored_with_answers_and_replays_still_carry_them(
    till: ProtocolTill,
) -> None:
    # A claimed approval, and an approval after a phone_last4 step-up.
    step_up, last4 = ambiguous_payment(till, 71)
    key = f"idem_{uuid.uuid4().hex}"
    path = f"/v1/authorizations/{step_up['authorization_id']}/step-up"
    answered = till.call("POST", path, {"phone_last4": last4}, headers={"Idempotency-Key": key})
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "approved"
    body = till.pay_body(same_face(face(71), 3, noise=0.005))
    pay_key = f"idem_{uuid.uuid4().hex}"
    paid = till.authorize(body, key=pay_key)
    assert paid.json()["status"] == "approved"
    code = paid.json()["privacy_code"]
    assert code
    assert answered.json()["privacy_code"] == code
    for variant in _variants(code):
        assert variant.decode() not in _stored_answers(till)
        assert variant not in _database_bytes(till)
    # The till that asked still gets the code back on a retry of the same request.
    assert till.authorize(body, key=pay_key).json()["privacy_code"] == code
    retried = till.call("POST", path, {"phone_last4": last4}, headers={"Idempotency-Key": key})
    assert retried.json()["privacy_code"] == code


def test_deletion_erases_privacy_codes_from_stored_answers_and_replays(
    till: ProtocolTill,
) -> None:
    enrolled = till.enroll(face(72))
    code = enrolled.json()["privacy_code"]
    body = till.pay_body(same_face(face(72), 1))
    key = f"idem_{uuid.uuid4().hex}"
    assert till.authorize(body, key=key).json()["privacy_code"] == code
    # An answer written before this fix (the code in the clear) is erased too.
    [(auth_id, text)] = rows(
        till.sandbox, "SELECT authorization_id, response_json FROM authorizations"
    )
    legacy = text.replace('"privacy_code":null', f'"privacy_code":"{code}"')
    assert code in legacy
    rows(
        till.sandbox,
        "UPDATE authorizations SET response_json = ? WHERE authorization_id = ?",
        (legacy, auth_id),
    )
    deleted = till.http.post(
        "/v1/shoppers/delete",
        json={"privacy_code": code, "claim": {"kind": "phone", "value": PHONE}},
    )
    assert deleted.status_code == 200, deleted.text
    assert "privacy_code" in deleted.json()["erased"]
    assert code not in _stored_answers(till)
    # The deletion checkpoints and truncates the WAL; a reader holding a snapshot at that
    # moment holds it back, and the next scrub (the retention sweep's) finishes the job.
    for _ in range(100):
        if not any(v in _database_bytes(till) for v in _variants(code)):
            break
        till.sandbox.backend.db.scrub()  # type: ignore[union-attr]
        time.sleep(0.05)
    for variant in _variants(code):
        assert variant not in _database_bytes(till)
    replay = till.authorize(body, key=key)
    assert replay.status_code == 200
    assert replay.json()["privacy_code"] is None


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_database_files_and_folders_are_owner_only(tmp_path: Path) -> None:
    from facepay.server import open_database

    db = open_database(tmp_path / "fresh" / "shop.db")
    try:
        with db.transaction() as tx:
            tx.execute("DELETE FROM lockouts")
        assert _mode(tmp_path / "fresh") == 0o700
        for name in ("shop.db", "shop.db-wal", "shop.db-shm"):
            assert _mode(tmp_path / "fresh" / name) == 0o600, name
    finally:
        db.close()
    # A file made world-readable by an older version is taken back.
    os.chmod(tmp_path / "fresh" / "shop.db", 0o644)
    db = open_database(tmp_path / "fresh" / "shop.db")
    try:
        assert _mode(tmp_path / "fresh" / "shop.db") == 0o600
    finally:
        db.close()

"""Answers stored for replays under their Idempotency-Key."""

from __future__ import annotations

import dataclasses

from facepay.server._storage import Transaction

__all__ = ["StoredAnswer", "stored_answer"]


@dataclasses.dataclass(frozen=True, slots=True)
class StoredAnswer:
    """An answer kept for replays under its Idempotency-Key, and who asked."""

    request_hash: str
    response_json: str
    device_id: str


_STORED_ANSWER_SQL = {
    "authorizations": (
        "SELECT request_hash, response_json, device_id FROM authorizations "
        "WHERE tenant_id = ? AND idempotency_key = ?"
    ),
    # A step-up belongs to the device whose authorization it answers.
    "step_up_answers": (
        "SELECT s.request_hash, s.response_json, a.device_id FROM step_up_answers s "
        "JOIN authorizations a ON a.authorization_id = s.authorization_id "
        "WHERE s.tenant_id = ? AND s.idempotency_key = ?"
    ),
}


def stored_answer(tx: Transaction, table: str, tenant_id: str, key: str) -> StoredAnswer | None:
    row = tx.one(_STORED_ANSWER_SQL[table], (tenant_id, key))
    if row is None:
        return None
    return StoredAnswer(request_hash=str(row[0]), response_json=str(row[1]), device_id=str(row[2]))

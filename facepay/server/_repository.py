"""SQL of the template, shopper and gallery side of the backend, returning named rows.

Every function takes an open :class:`~facepay.server._storage.Transaction` and returns
small frozen dataclasses, so the service never reads a column by position.
"""

from __future__ import annotations

import dataclasses
import json

from facepay.server._storage import Row, Transaction

__all__ = [
    "ClaimHolder",
    "PurgedCounters",
    "RequestCount",
    "StoredAnswer",
    "StoredTemplate",
    "claim_holder",
    "count_request",
    "erase_privacy_codes",
    "pin_template_model",
    "privacy_code_of_authorization",
    "purge_counters",
    "removed_templates",
    "replace_templates",
    "shred_template",
    "stored_answer",
    "stored_templates",
    "templates_of",
]


@dataclasses.dataclass(frozen=True, slots=True)
class StoredTemplate:
    """One shopper's template set as stored (still encrypted); ``version`` moves on
    with every rewrite (an adaptive update)."""

    shopper_id: str
    tenant_id: str
    model_id: str
    template_dim: int | None
    data_key_wrapped: bytes
    template_sealed: bytes
    pinned_dim: int | None
    version: int = 1
    updated_at: float = 0.0


_TEMPLATE_SELECT = (
    "SELECT s.shopper_id, s.tenant_id, s.model_id, s.template_dim, s.data_key_wrapped, "
    "s.template_sealed, m.template_dim, s.template_version, s.template_updated_at "
    "FROM shoppers s "
    "LEFT JOIN template_models m ON m.tenant_id = s.tenant_id AND m.model_id = s.model_id "
    "WHERE s.template_sealed IS NOT NULL AND s.deleted_at IS NULL"
)


def _template(row: Row) -> StoredTemplate:
    return StoredTemplate(
        shopper_id=str(row[0]),
        tenant_id=str(row[1]),
        model_id=str(row[2]),
        template_dim=None if row[3] is None else int(row[3]),
        data_key_wrapped=bytes(row[4]),
        template_sealed=bytes(row[5]),
        pinned_dim=None if row[6] is None else int(row[6]),
        version=int(row[7]),
        updated_at=float(row[8] or 0.0),
    )


def stored_templates(
    tx: Transaction, *, tenant_id: str | None = None, changed_since: float | None = None
) -> list[StoredTemplate]:
    """Every live template set, or a tenant's enrolled or updated at or after
    ``changed_since``."""
    sql, params = _TEMPLATE_SELECT, list[object]()
    if tenant_id is not None:
        sql += " AND s.tenant_id = ?"
        params.append(tenant_id)
    if changed_since is not None:
        sql += " AND s.template_updated_at >= ?"
        params.append(changed_since)
    return [_template(row) for row in tx.all(sql, params)]


def templates_of(tx: Transaction, shopper_id: str) -> StoredTemplate | None:
    """One shopper's live template set (None once shredded or deleted)."""
    row = tx.one(_TEMPLATE_SELECT + " AND s.shopper_id = ?", (shopper_id,))
    return None if row is None else _template(row)


def replace_templates(
    tx: Transaction,
    shopper_id: str,
    *,
    version: int,
    template_sealed: bytes,
    data_key_wrapped: bytes,
    now: float,
) -> bool:
    """Store a rewritten template set (its own fresh data key, so the old set is
    shredded) if the row still holds ``version`` and is live; False if another process
    rewrote it first or the shopper was deleted meanwhile (nothing is written)."""
    changed = tx.execute(
        "UPDATE shoppers SET template_sealed = ?, data_key_wrapped = ?, "
        "template_version = template_version + 1, template_updated_at = ? "
        "WHERE shopper_id = ? AND template_version = ? AND template_sealed IS NOT NULL "
        "AND deleted_at IS NULL",
        (template_sealed, data_key_wrapped, now, shopper_id, version),
    )
    return changed == 1


def pin_template_model(
    tx: Transaction, tenant_id: str, model_id: str, dimension: int, now: float
) -> int:
    """Pin (tenant, model id) to ``dimension`` unless already pinned; return the pinned
    size. The primary key settles a race: the loser's insert does nothing and it reads
    the winner's size (PostgreSQL waits for the winner's commit first)."""
    tx.execute(
        "INSERT INTO template_models (tenant_id, model_id, template_dim, pinned_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (tenant_id, model_id) DO NOTHING",
        (tenant_id, model_id, dimension, now),
    )
    row = tx.one(
        "SELECT template_dim FROM template_models WHERE tenant_id = ? AND model_id = ?",
        (tenant_id, model_id),
    )
    assert row is not None
    return int(row[0])


def shred_template(tx: Transaction, shopper_id: str, now: float) -> None:
    """Crypto-shredding: the wrapped data key is the only way to the template; with it
    gone the ciphertext is noise, and that goes too. ``template_removed_at`` tells every
    other process's gallery to drop it (see :func:`removed_templates`)."""
    tx.execute(
        "UPDATE shoppers SET data_key_wrapped = NULL, template_sealed = NULL, "
        "template_removed_at = COALESCE(template_removed_at, ?) WHERE shopper_id = ?",
        (now, shopper_id),
    )


def removed_templates(tx: Transaction, *, tenant_id: str, since: float) -> list[str]:
    """Shopper ids of the tenant whose template was shredded at or after ``since``."""
    return [
        str(row[0])
        for row in tx.all(
            "SELECT shopper_id FROM shoppers WHERE tenant_id = ? AND template_removed_at >= ?",
            (tenant_id, since),
        )
    ]


@dataclasses.dataclass(frozen=True, slots=True)
class ClaimHolder:
    """The shopper enrolled under a claim (template fields None once shredded)."""

    shopper_id: str
    model_id: str | None
    data_key_wrapped: bytes | None
    template_sealed: bytes | None


def claim_holder(tx: Transaction, tenant_id: str, claim_hash: str) -> ClaimHolder | None:
    row = tx.one(
        "SELECT shopper_id, model_id, data_key_wrapped, template_sealed FROM shoppers "
        "WHERE tenant_id = ? AND claim_hash = ?",
        (tenant_id, claim_hash),
    )
    if row is None:
        return None
    return ClaimHolder(
        shopper_id=str(row[0]),
        model_id=None if row[1] is None else str(row[1]),
        data_key_wrapped=None if row[2] is None else bytes(row[2]),
        template_sealed=None if row[3] is None else bytes(row[3]),
    )


def privacy_code_of_authorization(tx: Transaction, authorization_id: str) -> bytes | None:
    """The wrapped privacy code of the shopper an authorization paid for, unless deleted."""
    row = tx.one(
        "SELECT s.privacy_code_wrapped FROM authorizations a "
        "JOIN shoppers s ON s.shopper_id = a.shopper_id "
        "WHERE a.authorization_id = ? AND s.deleted_at IS NULL",
        (authorization_id,),
    )
    return None if row is None or row[0] is None else bytes(row[0])


def erase_privacy_codes(tx: Transaction, shopper_id: str) -> int:
    """Rewrite the stored answers of a shopper's authorizations (and their step-ups)
    without a privacy code. Answers are stored without one since migration 4; this
    erases those written before. Returns the rows rewritten."""
    changed = 0
    for table, where in (
        ("authorizations", "shopper_id = ?"),
        (
            "step_up_answers",
            "authorization_id IN (SELECT authorization_id FROM authorizations "
            "WHERE shopper_id = ?)",
        ),
    ):
        found = tx.all(
            f"SELECT idempotency_key, tenant_id, response_json FROM {table} "  # noqa: S608
            f"WHERE {where}",
            (shopper_id,),
        )
        for key, tenant_id, text in found:
            answer = json.loads(text)
            if answer.get("privacy_code") is None:
                continue
            answer["privacy_code"] = None
            changed += tx.execute(
                f"UPDATE {table} SET response_json = ? "  # noqa: S608
                "WHERE tenant_id = ? AND idempotency_key = ?",
                (json.dumps(answer, separators=(",", ":")), tenant_id, key),
            )
    return changed


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


@dataclasses.dataclass(frozen=True, slots=True)
class RequestCount:
    requests: int
    window_start: float


def count_request(tx: Transaction, subject: str, now: float, window_s: float) -> RequestCount:
    """Count one request of ``subject`` in its fixed window (a new window once the last
    one is ``window_s`` old): one row per subject, updated in place, in the database so
    every worker and replica counts together."""
    stale = now - window_s
    tx.execute(
        "INSERT INTO request_windows (subject, requests, window_start) VALUES (?, 1, ?) "
        "ON CONFLICT (subject) DO UPDATE SET "
        "requests = CASE WHEN request_windows.window_start < ? THEN 1 "
        "ELSE request_windows.requests + 1 END, "
        "window_start = CASE WHEN request_windows.window_start < ? THEN excluded.window_start "
        "ELSE request_windows.window_start END",
        (subject, now, stale, stale),
    )
    row = tx.one("SELECT requests, window_start FROM request_windows WHERE subject = ?", (subject,))
    assert row is not None
    return RequestCount(requests=int(row[0]), window_start=float(row[1]))


@dataclasses.dataclass(frozen=True, slots=True)
class PurgedCounters:
    lockouts: int
    request_windows: int


def purge_counters(
    tx: Transaction, *, now: float, lockout_window_s: float, rights_window_s: float
) -> PurgedCounters:
    """Forget lockouts that neither lock nor count any more, and ended request windows."""
    lockouts = tx.execute(
        "DELETE FROM lockouts WHERE locked_until < ? AND window_start < ?",
        (now, now - lockout_window_s),
    )
    windows = tx.execute(
        "DELETE FROM request_windows WHERE window_start < ?", (now - rights_window_s,)
    )
    return PurgedCounters(lockouts=lockouts, request_windows=windows)

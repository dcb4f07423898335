"""Shoppers' template sets: stored sealed, rewritten by an adaptive update, pinned to a
model's size, shredded; and the enrollments the retention sweep reads."""

from __future__ import annotations

import dataclasses

from facepay.server._storage import Row, Transaction

__all__ = [
    "RetainedEnrollment",
    "StoredTemplate",
    "pin_template_model",
    "removed_templates",
    "replace_templates",
    "retained_enrollments",
    "shred_template",
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
class RetainedEnrollment:
    """An enrollment whose template is stored, with what its retention depends on."""

    shopper_id: str
    tenant_id: str
    last_used_at: float
    retention_days: int


def retained_enrollments(tx: Transaction) -> list[RetainedEnrollment]:
    return [
        RetainedEnrollment(
            shopper_id=str(row[0]),
            tenant_id=str(row[1]),
            last_used_at=float(row[2]),
            retention_days=int(row[3]),
        )
        for row in tx.all(
            "SELECT shopper_id, tenant_id, last_used_at, retention_days FROM shoppers "
            "WHERE template_sealed IS NOT NULL AND deleted_at IS NULL"
        )
    ]

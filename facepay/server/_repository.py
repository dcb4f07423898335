"""SQL of the template, shopper and gallery side of the backend, returning named rows.

Every function takes an open :class:`~facepay.server._storage.Transaction` and returns
small frozen dataclasses, so the service never reads a column by position.
"""

from __future__ import annotations

import dataclasses

from facepay.server._storage import Row, Transaction

__all__ = [
    "StoredTemplate",
    "pin_template_model",
    "removed_templates",
    "shred_template",
    "stored_templates",
]


@dataclasses.dataclass(frozen=True, slots=True)
class StoredTemplate:
    """One shopper's sealed template as stored (still encrypted)."""

    shopper_id: str
    tenant_id: str
    model_id: str
    template_dim: int | None
    data_key_wrapped: bytes
    template_sealed: bytes
    pinned_dim: int | None


_TEMPLATE_SELECT = (
    "SELECT s.shopper_id, s.tenant_id, s.model_id, s.template_dim, s.data_key_wrapped, "
    "s.template_sealed, m.template_dim FROM shoppers s "
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
    )


def stored_templates(
    tx: Transaction, *, tenant_id: str | None = None, enrolled_since: float | None = None
) -> list[StoredTemplate]:
    """Every live template, or a tenant's enrolled at or after ``enrolled_since``."""
    sql, params = _TEMPLATE_SELECT, list[object]()
    if tenant_id is not None:
        sql += " AND s.tenant_id = ?"
        params.append(tenant_id)
    if enrolled_since is not None:
        sql += " AND s.enrolled_at >= ?"
        params.append(enrolled_since)
    return [_template(row) for row in tx.all(sql, params)]


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

"""Tenants and their wrapped template-transform key."""

from __future__ import annotations

from facepay.server._storage import Transaction

__all__ = ["insert_tenant", "tenant_created_at", "tenant_transform_key"]


def tenant_created_at(tx: Transaction, tenant_id: str) -> float | None:
    row = tx.one("SELECT created_at FROM tenants WHERE tenant_id = ?", (tenant_id,))
    return None if row is None else float(row[0])


def insert_tenant(
    tx: Transaction, tenant_id: str, transform_key_wrapped: bytes, now: float
) -> None:
    tx.execute(
        "INSERT INTO tenants (tenant_id, transform_key_wrapped, created_at) VALUES (?, ?, ?)",
        (tenant_id, transform_key_wrapped, now),
    )


def tenant_transform_key(tx: Transaction, tenant_id: str) -> bytes | None:
    """A tenant's wrapped template-transform key (written once, with the tenant)."""
    row = tx.one("SELECT transform_key_wrapped FROM tenants WHERE tenant_id = ?", (tenant_id,))
    return None if row is None else bytes(row[0])

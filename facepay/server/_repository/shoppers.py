"""Enrollment: the shopper row written once, and who holds a claim."""

from __future__ import annotations

import dataclasses
from typing import Literal

from facepay.server._storage import Transaction

__all__ = ["ClaimHolder", "NewShopper", "claim_holder", "claim_last4", "insert_shopper"]


@dataclasses.dataclass(frozen=True, slots=True)
class NewShopper:
    """An enrollment as stored: keyed hashes, wrapped secrets and the sealed set only."""

    shopper_id: str
    tenant_id: str
    claim_kind: str
    claim_hash: str
    claim_last4: str | None
    privacy_code_hash: str
    privacy_code_wrapped: bytes
    payment_token: str
    masked_payment_method: str
    consent_json: str
    consent_received_at: float
    retention_days: int
    enrolled_at: float
    last_used_at: float
    model_id: str
    template_dim: int
    data_key_wrapped: bytes
    template_sealed: bytes
    enrolled_by_device: str
    template_updated_at: float


def insert_shopper(tx: Transaction, shopper: NewShopper) -> None:
    fields = dataclasses.fields(shopper)
    tx.execute(
        f"INSERT INTO shoppers ({', '.join(f.name for f in fields)}) "  # noqa: S608 (fixed)
        f"VALUES ({', '.join('?' * len(fields))})",
        tuple(getattr(shopper, f.name) for f in fields),
    )


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


def claim_last4(tx: Transaction, shopper_id: str) -> str | None:
    """The last 4 digits of an undeleted shopper's phone claim (None: none or deleted)."""
    return _claim_field(tx, shopper_id, "claim_last4")


def claim_hash_of(tx: Transaction, shopper_id: str) -> str | None:
    """The keyed hash of an undeleted shopper's claim, the subject of its lockout (None:
    none or deleted)."""
    return _claim_field(tx, shopper_id, "claim_hash")


def _claim_field(
    tx: Transaction, shopper_id: str, column: Literal["claim_last4", "claim_hash"]
) -> str | None:
    row = tx.one(
        f"SELECT {column} FROM shoppers "  # noqa: S608 (a fixed column name)
        "WHERE shopper_id = ? AND deleted_at IS NULL",
        (shopper_id,),
    )
    return None if row is None or row[0] is None else str(row[0])

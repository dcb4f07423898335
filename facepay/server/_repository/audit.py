"""The audit log: one line per decision, never a template, a key or a PIN."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from facepay.server._storage import Transaction

__all__ = ["audit"]


def audit(
    tx: Transaction,
    *,
    at: float,
    tenant_id: str | None,
    device_id: str | None,
    event: str,
    subject_id: str | None,
    details: Mapping[str, Any],
) -> None:
    """One line of the audit log (never a template, a key or a PIN: ids and decisions)."""
    tx.execute(
        "INSERT INTO audit_log (at, tenant_id, device_id, event, subject_id, details_json) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (at, tenant_id, device_id, event, subject_id, json.dumps(details, default=str)),
    )

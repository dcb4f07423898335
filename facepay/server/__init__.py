"""facepay.server: the reference payment backend (sandbox).

A FastAPI app (:func:`create_app`) over :class:`PaymentBackend` (devices, sessions,
enrollment, risk-budgeted matching, idempotent authorizations, shopper rights,
retention), stored in SQLite or PostgreSQL. :class:`Sandbox` runs it in-process on a
free loopback port; ``facepay sandbox serve`` runs it as a server. See docs/protocol.md.
"""

from __future__ import annotations

from facepay.server._app import create_app
from facepay.server._gallery import Gallery, MatchOutcome, MatchResult
from facepay.server._ledger import ledger
from facepay.server._sandbox import ProvisionedDevice, Sandbox, build_backend, default_key_dir
from facepay.server._service import AuthenticatedDevice, PaymentBackend
from facepay.server._storage import Database, open_database
from facepay.server._vault import Vault

__all__ = [
    "AuthenticatedDevice",
    "Database",
    "Gallery",
    "MatchOutcome",
    "MatchResult",
    "PaymentBackend",
    "ProvisionedDevice",
    "Sandbox",
    "Vault",
    "build_backend",
    "create_app",
    "default_key_dir",
    "ledger",
    "open_database",
]

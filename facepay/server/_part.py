"""What every stateful part of the backend shares, given once, and the one way it writes
the audit."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from facepay.config import ServerConfig
from facepay.server import _repository as repository
from facepay.server._gallery import GalleryRegistry
from facepay.server._storage import Database, Transaction
from facepay.server._vault import Vault

__all__ = ["BackendContext", "BackendPart"]


@dataclasses.dataclass(slots=True)
class BackendContext:
    """The database, the vault, the configuration, this process's galleries and the
    backend's clock, one object for all the parts of one :class:`PaymentBackend`.

    The clock is a test's seam: replacing it here (``PaymentBackend.clock = ...``) gives
    every part the new time at once."""

    db: Database
    vault: Vault
    config: ServerConfig
    galleries: GalleryRegistry
    clock: Callable[[], float]


class BackendPart:
    """A part of the backend: reads what it shares with the others from its context, so
    a subclass's ``__init__`` names only what it adds."""

    def __init__(self, context: BackendContext) -> None:
        self.context = context
        self.db = context.db
        self.vault = context.vault
        self.config = context.config
        self.galleries = context.galleries

    def clock(self) -> float:
        """The backend's time now (Unix seconds)."""
        return self.context.clock()

    def _audit(
        self,
        tx: Transaction,
        tenant_id: str | None,
        device_id: str | None,
        event: str,
        subject_id: str | None,
        details: dict[str, Any],
    ) -> None:
        """One audit row at the backend's time (never a template, a PIN or a key)."""
        repository.audit(
            tx,
            at=self.clock(),
            tenant_id=tenant_id,
            device_id=device_id,
            event=event,
            subject_id=subject_id,
            details=details,
        )

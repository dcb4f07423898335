"""What every stateful part of the backend holds, and the one way it writes the audit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from facepay.config import ServerConfig
from facepay.server import _repository as repository
from facepay.server._gallery import GalleryRegistry
from facepay.server._storage import Database, Transaction
from facepay.server._vault import Vault


class BackendPart:
    """The database, the vault, the configuration, this process's galleries and the
    backend's clock (a test's seam: :class:`PaymentBackend` sets it on every part)."""

    def __init__(
        self,
        db: Database,
        vault: Vault,
        config: ServerConfig,
        galleries: GalleryRegistry,
        *,
        clock: Callable[[], float],
    ) -> None:
        self.db = db
        self.vault = vault
        self.config = config
        self.galleries = galleries
        self.clock = clock

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

"""This process's galleries, a cache of the templates in the database, and the way
every template enters them: opened from its sealed form and moved into its tenant's
space (the tenant transform).

The database is the truth: every stored template is loaded at start
(:meth:`GalleryCache.load_all`), and before a claimless 1:N search the tenant's gallery
picks up what other workers and replicas enrolled, rewrote or shredded since it last
looked (:meth:`GalleryCache.sync`). The matching itself is :mod:`._gallery`.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import numpy as np

from facepay.crypto import open_template
from facepay.errors import CryptoError, SealedDataError
from facepay.server import _decision as decision
from facepay.server import _repository as repository
from facepay.server._devices import AuthenticatedDevice
from facepay.server._errors import ApiError
from facepay.server._gallery import normalize
from facepay.server._part import BackendContext, BackendPart
from facepay.types import FaceTemplate
from facepay.wire import ErrorCode, SealedTemplateWire

__all__ = ["GalleryCache"]

logger = logging.getLogger(__name__)


class GalleryCache(BackendPart):
    """Loads, syncs and feeds the galleries of one backend process."""

    def __init__(self, context: BackendContext) -> None:
        super().__init__(context)
        self.models = decision.accepted_models(self.config.template_models)
        self._tenant_keys: dict[str, bytes] = {}
        # Per tenant: enrolment time up to which this process's galleries hold every
        # template (see sync); set for all tenants by load_all.
        self._synced_until: dict[str, float] = {}
        self._loaded_at: float | None = None

    def load_all(self) -> int:
        """Decrypt every stored template into the in-memory galleries; returns the count.

        A row that cannot be loaded (undecryptable, a model id or size this backend does
        not accept, or not the size its tenant's model is pinned to) is logged and
        skipped: one bad row must not keep every tenant from being served."""
        self._loaded_at = self.clock()
        with self.db.transaction(readonly=True) as tx:
            stored = repository.stored_templates(tx)
        loaded = sum(self.load(t) for t in stored)
        # Build each serving tenant's transform now, at start, not inside the first
        # request that needs it (tens of ms for 128-d, on the event loop with SQLite).
        for tenant_id, dimension in sorted(
            {
                (t.tenant_id, self.models.get(t.model_id))
                for t in stored
                if t.model_id in self.models
            }
        ):
            assert dimension is not None
            with contextlib.suppress(ApiError, CryptoError):
                self.transform(tenant_id, np.ones(dimension, dtype=np.float32))
        logger.info("loaded %d templates into the galleries", loaded)
        return loaded

    def sync(self, tenant_id: str) -> None:
        """Before a claimless 1:N search: load the tenant's template sets enrolled or
        rewritten (an adaptive update) through other backend processes since this one
        last looked, and drop those shredded (deleted, withdrawn, expired) through them
        (the database is the truth; the gallery a cache). So a deletion committed
        anywhere takes effect in every worker and replica at its next search: a deleted
        face is never scored again. A matched shopper's row is still read before paying
        (Payments._answer), which covers a deletion that commits between this sync
        and the search."""
        now = self.clock()
        since = self._synced_until.get(tenant_id, self._loaded_at)
        if since is None:
            return  # galleries never loaded (a supervisor): nothing to keep in sync
        # Another replica's clock may run behind ours: look back by the skew we accept.
        floor = since - self.config.max_clock_skew_s
        with self.db.transaction(readonly=True) as tx:
            stored = repository.stored_templates(tx, tenant_id=tenant_id, changed_since=floor)
            removed = repository.removed_templates(tx, tenant_id=tenant_id, since=floor)
        for shopper_id in removed:
            self.galleries.remove(shopper_id)
        for template in stored:
            gallery = self.galleries.get(tenant_id, template.model_id)
            # New, or its set rewritten (an adaptive update through another process).
            if gallery is None or gallery.version(template.shopper_id) != template.version:
                self.load(template)
        self._synced_until[tenant_id] = now

    def load(self, stored: repository.StoredTemplate) -> bool:
        """Decrypt one stored template set into its gallery (every view); False (logged,
        skipped) if it cannot be opened or is not a size its tenant's model accepts."""
        shopper_id = stored.shopper_id
        try:
            opened = self.vault.decrypt_templates(
                stored.template_sealed,
                stored.data_key_wrapped,
                shopper_id=shopper_id,
                tenant_id=stored.tenant_id,
            )
        except CryptoError:
            logger.error("stored template of %s could not be decrypted; skipped", shopper_id)
            return False
        dimension = opened.templates.dimension
        refusal = decision.template_refusal(
            self.models, stored.model_id, dimension, stored.pinned_dim
        )
        gallery = None
        if refusal is None:
            gallery = self.galleries.get(stored.tenant_id, stored.model_id, dimension)
            assert gallery is not None
            if gallery.dimension != dimension:
                refusal = "template has the wrong dimension"
        if gallery is None or refusal is not None:
            logger.error("stored template of %s skipped: %s", shopper_id, refusal)
            return False
        gallery.add(shopper_id, opened.templates.views, version=stored.version)
        return True

    def open_sealed(
        self,
        device: AuthenticatedDevice,
        session_id: str,
        sealed_wire: SealedTemplateWire,
    ) -> FaceTemplate:
        """Open, check and tenant-transform a sealed template (normalized)."""
        if sealed_wire.session_id != session_id:
            raise ApiError(
                ErrorCode.SESSION_MISMATCH,
                "the sealed template names another session",
                fields=("sealed_template.session_id",),
            )
        if self.vault.keyring.find(sealed_wire.key_id) is None:
            raise ApiError(
                ErrorCode.UNKNOWN_KEY_ID,
                "the template is sealed to a key this backend does not hold; refetch /v1/keys",
            )
        try:
            template = open_template(
                sealed_wire.to_sealed(), self.vault.keyring, session_id=session_id
            )
        except SealedDataError:
            raise ApiError(
                ErrorCode.SEALED_TEMPLATE_INVALID, "the sealed template could not be opened"
            ) from None
        vector = np.asarray(template.vector, dtype=np.float32)
        dim = int(vector.shape[0])
        gallery = self.galleries.get(device.tenant_id, template.model_id)
        refusal = decision.template_refusal(
            self.models, template.model_id, dim, None if gallery is None else gallery.dimension
        )
        if refusal is not None:
            raise ApiError(ErrorCode.TEMPLATE_INVALID, refusal)
        try:
            unit = normalize(vector)
        except ValueError:
            raise ApiError(ErrorCode.TEMPLATE_INVALID, "template is zero or not finite") from None
        transformed = self.transform(device.tenant_id, unit)
        return FaceTemplate(
            vector=transformed, model_id=template.model_id, frames_fused=template.frames_fused
        )

    def transform(self, tenant_id: str, vector: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        # A tenant's wrapped transform key is written once, with the tenant, and never
        # updated (a new transform is a new tenant key version): safe to keep in memory.
        wrapped = self._tenant_keys.get(tenant_id)
        if wrapped is None:
            with self.db.transaction(readonly=True) as tx:
                stored = repository.tenant_transform_key(tx, tenant_id)
            if stored is None:
                raise ApiError(ErrorCode.UNKNOWN_DEVICE, "unknown tenant")
            wrapped = self._tenant_keys.setdefault(tenant_id, stored)
        return normalize(self.vault.transform(tenant_id, wrapped, vector))

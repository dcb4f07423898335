"""Tenants and their devices, as the operator manages them: the enrollment tokens, a
tenant's creation, a device's registration and revocation.

The backend's own enrollment token works for every tenant; a tenant's own token
(derived, never stored: :meth:`Tenants.token`) for that tenant only. A process that
only checks tokens holds their SHA-256 digests, never the backend's token itself
(facepay.server._workers). How a signed request is then authenticated is
:mod:`._devices`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timezone

from facepay.crypto import DevicePublicKey
from facepay.errors import CryptoError
from facepay.server import _devices as devices
from facepay.server import _repository as repository
from facepay.server._devices import RequestGate
from facepay.server._errors import ApiError
from facepay.server._part import BackendContext, BackendPart
from facepay.server._storage import Transaction, UniqueViolationError
from facepay.wire import (
    DeviceRegistration,
    DeviceRegistrationRequest,
    DeviceRevocation,
    ErrorCode,
    TenantRegistration,
    b64decode,
)

__all__ = ["Tenants"]


def _iso(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


class Tenants(BackendPart):
    """The operator's side of the backend: tokens, tenants, device keys."""

    def __init__(
        self, context: BackendContext, *, gate: RequestGate, admin_token_sha256: str
    ) -> None:
        super().__init__(context)
        self.gate = gate
        # What check_admin compares with (the hex SHA-256 of the enrollment token).
        self.admin_token_sha256 = admin_token_sha256

    # ------------------------------------------------------------------ tokens

    def check_admin(self, authorization: str | None, tenant_id: str | None = None) -> None:
        """Accept the backend's enrollment token (any tenant), or ``tenant_id``'s own
        token (that tenant only). Compared as SHA-256 digests in constant time."""
        given = (authorization or "").encode("utf-8", "replace")
        token = given[7:] if given.startswith(b"Bearer ") else b""
        digest = hashlib.sha256(token).hexdigest().encode()
        # An empty token is nobody's, even if a backend was somehow given one.
        ok = hmac.compare_digest(digest, self.admin_token_sha256.encode()) and bool(token)
        if tenant_id is not None:
            tenant = hashlib.sha256(self.token(tenant_id).encode()).hexdigest()
            ok = (hmac.compare_digest(digest, tenant.encode()) and bool(token)) or ok
        if not ok:
            raise ApiError(ErrorCode.ADMIN_TOKEN_INVALID, "a valid enrollment token is required")

    def token(self, tenant_id: str) -> str:
        """The enrollment token scoped to one tenant: derived from the backend's keyed
        lookup hash (every process and replica with the key directory can check it; none
        is stored). It cannot be withdrawn on its own (docs/security.md)."""
        return "fpt_" + self.vault.keyed_hash("tenant-enrollment-token", tenant_id)

    # ------------------------------------------------------------------ tenants

    def create(self, tenant_id: str) -> tuple[TenantRegistration, bool]:
        """Create a tenant (idempotent); returns its registration and whether it is new."""
        now = self.clock()
        with self.db.transaction() as tx:
            created_at = repository.tenant_created_at(tx, tenant_id)
            if created_at is None:
                # The stored time is the one answered, now and to every later create.
                self.ensure(tx, tenant_id, at=now)
                repository.audit(
                    tx,
                    at=now,
                    tenant_id=tenant_id,
                    device_id=None,
                    event="tenant_created",
                    subject_id=tenant_id,
                    details={},
                )
        registration = TenantRegistration(
            tenant_id=tenant_id,
            enrollment_token=self.token(tenant_id),
            created_at=_iso(now if created_at is None else created_at),
        )
        return registration, created_at is None

    def ensure(self, tx: Transaction, tenant_id: str, *, at: float | None = None) -> None:
        """Create the tenant inside ``tx`` unless it exists (with its transform key),
        created ``at`` (default: now)."""
        if repository.tenant_created_at(tx, tenant_id) is None:
            repository.insert_tenant(
                tx,
                tenant_id,
                self.vault.new_tenant_key(tenant_id),
                self.clock() if at is None else at,
            )

    # ------------------------------------------------------------------ devices

    def device_tenant(self, device_id: str) -> str | None:
        with self.db.transaction(readonly=True) as tx:
            row = devices.read_device(tx, device_id)
        return None if row is None else row.tenant_id

    def register_device(
        self, req: DeviceRegistrationRequest, *, create_tenant: bool = False
    ) -> DeviceRegistration:
        """Register (or re-register) a device. Its tenant must exist (``POST /v1/tenants``),
        unless ``create_tenant``: the operator's own in-process tools (``Sandbox``,
        ``facepay sandbox provision``) name a tenant to create on purpose."""
        device_id = req.device_id or f"dev_{secrets.token_hex(12)}"
        now = self.clock()
        raw = b64decode(req.public_key)
        try:
            DevicePublicKey.for_registration(raw)
        except CryptoError:
            raise ApiError(
                ErrorCode.VALIDATION_FAILED,
                "not a usable Ed25519 public key (malformed or low order)",
                fields=("public_key",),
            ) from None
        try:
            with self.db.transaction() as tx:
                if create_tenant:
                    self.ensure(tx, req.tenant_id)
                elif repository.tenant_created_at(tx, req.tenant_id) is None:
                    raise ApiError(
                        ErrorCode.NOT_FOUND,
                        "no such tenant: create it first (POST /v1/tenants)",
                        fields=("tenant_id",),
                    )
                replaced = devices.register_device(
                    tx,
                    device_id=device_id,
                    tenant_id=req.tenant_id,
                    store_id=req.store_id,
                    lane_id=req.lane_id,
                    public_key=raw,
                    now=now,
                )
                repository.audit(
                    tx,
                    at=now,
                    tenant_id=req.tenant_id,
                    device_id=device_id,
                    event="device_reregistered" if replaced else "device_registered",
                    subject_id=device_id,
                    details={"store_id": req.store_id, "lane_id": req.lane_id},
                )
        except UniqueViolationError:
            raise ApiError(
                ErrorCode.DEVICE_ALREADY_REGISTERED, "this device id is already registered"
            ) from None
        self.gate.forget(device_id)
        return DeviceRegistration(
            device_id=device_id,
            tenant_id=req.tenant_id,
            store_id=req.store_id,
            lane_id=req.lane_id,
            registered_at=_iso(now),
        )

    def revoke_device(self, device_id: str) -> DeviceRevocation:
        """Refuse ``device_id``'s key from now on, in every process and replica (each one
        reads the row when it authenticates a request); idempotent."""
        now = self.clock()
        with self.db.transaction() as tx:
            row = devices.revoke_device(tx, device_id, now)
            if row is not None:
                repository.audit(
                    tx,
                    at=now,
                    tenant_id=row.tenant_id,
                    device_id=device_id,
                    event="device_revoked",
                    subject_id=device_id,
                    details={},
                )
        if row is None or row.revoked_at is None:
            raise ApiError(ErrorCode.NOT_FOUND, "no such device")
        self.gate.forget(device_id)
        return DeviceRevocation(device_id=device_id, revoked_at=_iso(row.revoked_at))

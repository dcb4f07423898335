"""Checkout sessions: what a till opens before it enrolls or pays, spent by that request.

A session binds one sealed template to one device, one purpose and a short time
(``ServerConfig.session_ttl_s``); its server nonce and liveness seed are fresh random
bytes. Whether a session can still be used is a rule of :mod:`._decision`; spending it
is a conditional update in the same transaction as what it pays for, so a session pays
at most once, whatever the number of workers.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone

from facepay.server import _decision as decision
from facepay.server import _repository as repository
from facepay.server._devices import AuthenticatedDevice
from facepay.server._errors import ApiError
from facepay.server._part import BackendPart
from facepay.server._storage import Transaction
from facepay.wire import (
    CheckoutSessionInfo,
    CreateSessionRequest,
    ErrorCode,
    SessionPurpose,
    b64encode,
)

__all__ = ["CheckoutSessions"]

_REFUSALS = {
    ErrorCode.SESSION_MISMATCH: "no such session for this device and purpose",
    ErrorCode.SESSION_USED: "this session was already used",
    ErrorCode.SESSION_EXPIRED: "this session has expired",
}


class CheckoutSessions(BackendPart):
    """Opens sessions, checks them before use, spends them."""

    def open(self, device: AuthenticatedDevice, req: CreateSessionRequest) -> CheckoutSessionInfo:
        now = self.clock()
        session_id = f"ses_{secrets.token_hex(12)}"
        nonce, seed = secrets.token_bytes(32), secrets.token_bytes(32)
        expires = now + self.config.session_ttl_s
        with self.db.transaction() as tx:
            repository.insert_session(
                tx,
                session_id=session_id,
                device_id=device.device_id,
                tenant_id=device.tenant_id,
                purpose=req.purpose.value,
                server_nonce=nonce,
                liveness_seed=seed,
                created_at=now,
                expires_at=expires,
            )
        return CheckoutSessionInfo(
            session_id=session_id,
            purpose=req.purpose,
            server_nonce=b64encode(nonce),
            liveness_seed=b64encode(seed),
            expires_at=datetime.fromtimestamp(expires, tz=timezone.utc),
            sealing_key_id=self.vault.keyring.current.key_id,
        )

    def check(self, device: AuthenticatedDevice, session_id: str, purpose: SessionPurpose) -> None:
        """Raise unless the session is this device's, for ``purpose``, unused, unexpired."""
        with self.db.transaction(readonly=True) as tx:
            session = repository.read_session(tx, session_id)
        self.refuse_unusable(device, session, purpose)

    def refuse_unusable(
        self,
        device: AuthenticatedDevice,
        session: repository.SessionRow | None,
        purpose: SessionPurpose,
    ) -> None:
        """:meth:`check` on a session row the caller already read."""
        refusal = decision.session_refusal(
            session, device_id=device.device_id, purpose=purpose.value, now=self.clock()
        )
        if refusal is ErrorCode.SESSION_MISMATCH:
            raise ApiError(refusal, _REFUSALS[refusal], fields=("session_id",))
        if refusal is not None:
            raise ApiError(refusal, _REFUSALS[refusal])

    def spend(self, tx: Transaction, session_id: str) -> None:
        """Spend the session inside ``tx``: ``410 session_used`` if it was spent (or
        expired) meanwhile, which rolls back everything the caller wrote in ``tx``."""
        if not repository.spend_session(tx, session_id, self.clock()):
            raise ApiError(ErrorCode.SESSION_USED, "this session was already used or expired")

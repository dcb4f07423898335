"""Liveness refusals: a till says its liveness ended ``not_live`` in a payment session.

Without this report a till facing an attacker stops the payment itself and sends
nothing, so the backend never counts the attempt and the attacker can try without
limit. The report spends the session (it can no longer pay, nor be reported again),
counts one failure against the device in the database (``Lockouts.record_failure``: every
worker and replica counts together), never against a shopper (the report carries no
claim and compares no face, so :func:`._decision.counts_against_claim` is false for it:
a rogue till cannot lock a shopper out with a phone number), and writes the audit line.
The same report sent again (a retry after a lost answer) gets the same answer and counts
nothing more; a different report on a session already refused is a conflict.

Checked in this order, like an authorization: a stored answer first (a retry learns it
even when the device is locked now), then the device's lock, then the session.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

from facepay.server import _decision as decision
from facepay.server import _repository as repository
from facepay.server._devices import AuthenticatedDevice
from facepay.server._errors import ApiError
from facepay.server._lockouts import Lockouts, device_subject
from facepay.server._part import BackendContext, BackendPart
from facepay.server._sessions import CheckoutSessions
from facepay.wire import (
    ErrorCode,
    LivenessRefusalRequest,
    LivenessRefusalResponse,
    SessionPurpose,
)

__all__ = ["LivenessRefusals", "refusal_hash"]


def refusal_hash(session_id: str, req: LivenessRefusalRequest) -> str:
    """What makes two reports the same report: the session and the canonical body."""
    text = json.dumps(
        {"session_id": session_id, **req.model_dump(mode="json")},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _answer(session_id: str, at: float, *, replayed: bool) -> LivenessRefusalResponse:
    return LivenessRefusalResponse(
        session_id=session_id,
        recorded_at=datetime.fromtimestamp(at, tz=timezone.utc),
        replayed=replayed,
    )


class LivenessRefusals(BackendPart):
    """Records a till's ``not_live`` against its device."""

    def __init__(
        self, context: BackendContext, *, sessions: CheckoutSessions, lockouts: Lockouts
    ) -> None:
        super().__init__(context)
        self.sessions = sessions
        self.lockouts = lockouts

    def report(
        self, device: AuthenticatedDevice, session_id: str, req: LivenessRefusalRequest
    ) -> LivenessRefusalResponse:
        if req.liveness.decision != "not_live":
            # Inconclusive (a slow shopper, a camera that stopped) is no attack, and a
            # live verdict is no refusal: only not_live is reported and counted.
            raise ApiError(
                ErrorCode.VALIDATION_FAILED,
                "only a not_live liveness decision is reported",
                fields=("liveness", "decision"),
            )
        subject = device_subject(device.device_id)
        request_hash = refusal_hash(session_id, req)
        with self.db.reads() as tx:
            refusal = repository.read_refusal(tx, session_id)
            locked_until = repository.locked_until(tx, [subject])
        replay = self._replayed(device, session_id, refusal, request_hash)
        if replay is not None:
            return replay
        self.lockouts.refuse_if_locked(locked_until)
        self.sessions.refuse_unusable(
            device, None if refusal is None else refusal.session, SessionPurpose.PAY
        )
        now = self.clock()
        with self.db.transaction() as tx:
            if not repository.spend_session_on_refusal(
                tx, session_id, device.device_id, request_hash, now
            ):
                spent = None
            else:
                self.lockouts.record_failure(tx, subject, self.config.device_lockout_s)
                # No claim travels with a refusal and no face was compared: it never
                # counts against a shopper (decision.counts_against_claim).
                self._audit(
                    tx,
                    device.tenant_id,
                    device.device_id,
                    "liveness_refused",
                    session_id,
                    {
                        "decision": req.liveness.decision,
                        "reasons": list(req.liveness.reasons),
                        "challenges": list(req.liveness.challenges),
                    },
                )
                spent = now
        if spent is None:
            # A concurrent copy of this report (or a payment) spent the session first.
            with self.db.reads() as tx:
                refusal = repository.read_refusal(tx, session_id)
            replay = self._replayed(device, session_id, refusal, request_hash)
            if replay is not None:
                return replay
            raise ApiError(ErrorCode.SESSION_USED, "this session was already used or expired")
        return _answer(session_id, spent, replayed=False)

    @staticmethod
    def _replayed(
        device: AuthenticatedDevice,
        session_id: str,
        refusal: repository.RefusalRow | None,
        request_hash: str,
    ) -> LivenessRefusalResponse | None:
        """The stored answer when this device already reported this very refusal; a 409
        for another report on a session it refused; None when it reported none."""
        if refusal is None or refusal.refused_at is None or refusal.refusal_hash is None:
            return None
        session = refusal.session
        if session.device_id != device.device_id:
            return None  # someone else's session: refused as a mismatch below
        if decision.replay_refusal(
            owner_device=session.device_id,
            device=device.device_id,
            stored_hash=refusal.refusal_hash,
            request_hash=request_hash,
        ):
            raise ApiError(
                ErrorCode.IDEMPOTENCY_CONFLICT,
                "this session's refusal was already reported with another summary",
            )
        return _answer(session_id, refusal.refused_at, replayed=True)

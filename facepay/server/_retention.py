"""Retention and housekeeping (``facepay sandbox sweep``, or a scheduler's call of
:meth:`PaymentBackend.sweep`): enrollments unused past their retention period are
crypto-shredded; expired nonces, sessions and counters are forgotten."""

from __future__ import annotations

from facepay.server import _decision as decision
from facepay.server import _repository as repository
from facepay.server._devices import purge_nonces
from facepay.server._part import BackendContext
from facepay.server._shoppers import shred_enrollment

__all__ = ["sweep"]


def sweep(context: BackendContext) -> dict[str, int]:
    """One pass over the backend's database and galleries at its time; returns how many
    of each kind were removed."""
    db, config, now = context.db, context.config, context.clock()
    with db.transaction() as tx:
        expired = [
            e
            for e in repository.retained_enrollments(tx)
            if decision.retention_expired(
                last_used_at=e.last_used_at, retention_days=e.retention_days, now=now
            )
        ]
        for enrollment in expired:
            shred_enrollment(tx, enrollment.shopper_id, now)
            repository.audit(
                tx,
                at=now,
                tenant_id=enrollment.tenant_id,
                device_id=None,
                event="retention_expired",
                subject_id=enrollment.shopper_id,
                details={},
            )
        nonces = purge_nonces(tx, now, config.max_clock_skew_s)
        sessions = repository.delete_expired_sessions(tx, now - config.session_ttl_s)
        purged = repository.purge_counters(
            tx,
            now=now,
            lockout_window_s=config.lockout_window_s,
            rights_window_s=config.shopper_rights_window_s,
        )
    for enrollment in expired:
        context.galleries.remove(enrollment.shopper_id)
    db.scrub()
    return {
        "retention_expired": len(expired),
        "nonces": nonces,
        "sessions": sessions,
        "lockouts": purged.lockouts,
        "request_windows": purged.request_windows,
    }

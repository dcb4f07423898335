"""Lockouts: failed attempts counted per subject (a device, a claimed shopper), in the
database so every worker and replica counts together.

A subject is a string, ``device:<id>`` or ``claim:<keyed hash>``; the rule that turns
one more failure into a lock is :func:`._decision.after_failure`.
"""

from __future__ import annotations

from collections.abc import Sequence

from facepay.server import _decision as decision
from facepay.server import _repository as repository
from facepay.server._errors import ApiError
from facepay.server._part import BackendPart
from facepay.server._storage import Transaction
from facepay.wire import ErrorCode

__all__ = ["Lockouts", "claim_subject", "device_subject"]


def device_subject(device_id: str) -> str:
    """The lockout subject of a till."""
    return f"device:{device_id}"


def claim_subject(claim_hash: str) -> str:
    """The lockout subject of a claimed shopper (the claim's keyed hash, never the phone)."""
    return repository.CLAIM_SUBJECT_PREFIX + claim_hash


class Lockouts(BackendPart):
    """Records failures and refuses subjects that are locked out."""

    def record_failure(self, tx: Transaction, subject: str, lock_seconds: float) -> None:
        """Count one failed attempt of ``subject`` inside ``tx``; the one that reaches
        ``ServerConfig.lockout_failures`` locks it for ``lock_seconds`` (audited)."""
        now = self.clock()
        state = decision.after_failure(
            repository.read_lockout(tx, subject, for_update=True),
            now=now,
            window_s=self.config.lockout_window_s,
            failures_to_lock=self.config.lockout_failures,
            lock_seconds=lock_seconds,
        )
        if state.locked_until:
            repository.audit(
                tx,
                at=now,
                tenant_id=None,
                device_id=None,
                event="locked_out",
                subject_id=subject,
                details={"seconds": lock_seconds},
            )
        repository.write_lockout(tx, subject, state)

    def check(self, subjects: Sequence[str]) -> None:
        """``429 locked_out`` if any of ``subjects`` is locked out now."""
        with self.db.transaction(readonly=True) as tx:
            until = repository.locked_until(tx, subjects)
        self.refuse_if_locked(until)

    def refuse_if_locked(self, locked_until: float | None) -> None:
        """:meth:`check` on a ``locked_until`` the caller already read."""
        left = decision.seconds_locked(locked_until, self.clock())
        if left > 0:
            raise ApiError(
                ErrorCode.LOCKED_OUT,
                "too many failed attempts; try again later",
                retry_after=round(left, 1),
            )

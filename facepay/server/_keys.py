"""The key set a till fetches (``GET /v1/keys``): the sealing keys it may seal a
template to, the key that signs deletion receipts and every answer, and (while a
rotation of it is prepared) the next such key, endorsed by the current one."""

from __future__ import annotations

from datetime import datetime, timezone

from facepay.server._vault import Vault
from facepay.wire import KeySet, NextAnswerKey, SealingKeyInfo, b64encode

__all__ = ["key_set"]


def key_set(vault: Vault) -> KeySet:
    """The current sealing key, then the retiring ones (still opened until their date)."""
    ring = vault.keyring
    current = ring.current
    keys = [
        SealingKeyInfo(
            key_id=current.key_id,
            suite=current.suite.value,
            public_key=b64encode(current.public_key.raw),
            status="current",
        )
    ]
    for key_id, until in sorted(ring.retired().items()):
        pair = ring.find(key_id)
        if pair is None:
            continue
        keys.append(
            SealingKeyInfo(
                key_id=key_id,
                suite=pair.suite.value,
                public_key=b64encode(pair.public_key.raw),
                status="retiring",
                not_after=datetime.fromtimestamp(until, tz=timezone.utc),
            )
        )
    upcoming = vault.next_answer_key()
    return KeySet(
        current_key_id=current.key_id,
        keys=tuple(keys),
        receipt_key_id=vault.receipt_key_id,
        receipt_public_key=b64encode(vault.receipt_public_key),
        next_answer_key=None
        if upcoming is None
        else NextAnswerKey(public_key=b64encode(upcoming[0]), endorsement=upcoming[1]),
    )

"""Shoppers' PINs in the database (table ``shopper_pins``, migration 6): set, tried, erased.

The PIN itself is never stored, logged or audited: a row holds scrypt of the backend's
keyed hash of (shopper id, PIN) with a per-shopper salt (:func:`facepay.crypto.stretch_pin`)
and the count of wrong PINs in a row. That count lives here, in the database, and a try is
*reserved* (counted) before the PIN is compared, in one conditional UPDATE: N workers or
replicas answering N step-ups at once still compare at most ``limit`` wrong PINs.
"""

from __future__ import annotations

import dataclasses
import hmac
import secrets
from collections.abc import Callable

from facepay.crypto import PIN_HASH_SCHEME, stretch_pin
from facepay.errors import SealedDataError
from facepay.server._errors import ApiError
from facepay.server._storage import Transaction
from facepay.server._vault import Vault
from facepay.wire import ErrorCode, b64decode

__all__ = [
    "StoredPin",
    "erase_pin",
    "has_usable_pin",
    "opened_pin",
    "pin_is_set",
    "pin_matches",
    "reserve_try",
    "reset_failures",
    "store_pin",
    "stretched_pin",
]


@dataclasses.dataclass(frozen=True, slots=True)
class StoredPin:
    """What a shopper's ``shopper_pins`` row holds (never the PIN)."""

    scheme: str
    salt: bytes = dataclasses.field(repr=False)
    pin_hash: bytes = dataclasses.field(repr=False)
    failures: int


def opened_pin(sealed_pin: str, open_sealed: Callable[[bytes], str]) -> str:
    """The PIN in a request's ``sealed_pin`` (unpadded base64url), opened by
    ``open_sealed`` (bound to its enrollment session or its authorization); one opaque
    ``422`` naming ``sealed_pin`` for every way it can fail (bad base64, another session
    or authorization, tampered), at enrollment and at a step-up alike."""
    try:
        return open_sealed(b64decode(sealed_pin))
    except (SealedDataError, ValueError):
        raise ApiError(
            ErrorCode.VALIDATION_FAILED,
            "the sealed PIN could not be opened",
            fields=("sealed_pin",),
        ) from None


def _keyed(vault: Vault, shopper_id: str, pin: str) -> str:
    # The server secret: without the backend's keyed-hash key, a stolen table is 10^4
    # scrypt guesses per shopper against a value that is not derived from the PIN alone.
    return vault.keyed_hash("shopper-pin", f"{shopper_id}\x00{pin}")


def stretched_pin(vault: Vault, shopper_id: str, pin: str) -> tuple[bytes, bytes]:
    """(salt, hash) to store for ``pin``; slow on purpose, so computed outside any
    transaction."""
    salt = secrets.token_bytes(16)
    return salt, stretch_pin(_keyed(vault, shopper_id, pin), salt)


def store_pin(
    tx: Transaction,
    *,
    shopper_id: str,
    tenant_id: str,
    salt: bytes,
    pin_hash: bytes,
    now: float,
) -> None:
    tx.execute(
        "INSERT INTO shopper_pins (shopper_id, tenant_id, scheme, salt, pin_hash, failures, "
        "set_at) VALUES (?, ?, ?, ?, ?, 0, ?)",
        (shopper_id, tenant_id, PIN_HASH_SCHEME, salt, pin_hash, now),
    )


def has_usable_pin(tx: Transaction, shopper_id: str, limit: int) -> bool:
    """Whether ``shopper_id`` can pay now (enrolled, not deleted, consent not withdrawn)
    and set a PIN that is not locked (fewer than ``limit`` wrong PINs in a row)."""
    row = tx.one(
        "SELECT k.failures FROM shopper_pins k JOIN shoppers s ON s.shopper_id = k.shopper_id "
        "WHERE k.shopper_id = ? AND s.deleted_at IS NULL AND s.template_sealed IS NOT NULL "
        "AND s.consent_withdrawn_at IS NULL",
        (shopper_id,),
    )
    return row is not None and int(row[0]) < limit


def pin_is_set(tx: Transaction, shopper_id: str) -> bool:
    return tx.one("SELECT 1 FROM shopper_pins WHERE shopper_id = ?", (shopper_id,)) is not None


def reserve_try(tx: Transaction, shopper_id: str, limit: int) -> StoredPin | None:
    """Count one try against ``shopper_id``'s PIN before it is compared; None when there
    is no PIN or it is locked (``limit`` wrong PINs in a row): then nothing is compared."""
    changed = tx.execute(
        "UPDATE shopper_pins SET failures = failures + 1 WHERE shopper_id = ? AND failures < ?",
        (shopper_id, limit),
    )
    if changed != 1:
        return None
    row = tx.one(
        "SELECT scheme, salt, pin_hash, failures FROM shopper_pins WHERE shopper_id = ?",
        (shopper_id,),
    )
    if row is None:  # pragma: no cover - the row was just updated in this transaction
        return None
    return StoredPin(
        scheme=str(row[0]), salt=bytes(row[1]), pin_hash=bytes(row[2]), failures=int(row[3])
    )


def pin_matches(vault: Vault, stored: StoredPin, shopper_id: str, pin: str) -> bool:
    """Whether ``pin`` is the shopper's (constant-time comparison of the stored forms)."""
    if stored.scheme != PIN_HASH_SCHEME:
        return False
    candidate = stretch_pin(_keyed(vault, shopper_id, pin), stored.salt)
    return hmac.compare_digest(candidate, stored.pin_hash)


def reset_failures(tx: Transaction, shopper_id: str) -> None:
    """A correct PIN: the count of wrong ones in a row starts again (as a card's does)."""
    tx.execute("UPDATE shopper_pins SET failures = 0 WHERE shopper_id = ?", (shopper_id,))


def erase_pin(tx: Transaction, shopper_id: str) -> None:
    """Shred the shopper's PIN hash with their template (deletion, withdrawal, retention)."""
    tx.execute("DELETE FROM shopper_pins WHERE shopper_id = ?", (shopper_id,))

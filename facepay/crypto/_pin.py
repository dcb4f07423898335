"""The shopper's PIN: which ones are refused, how it travels sealed, how the backend keeps it.

A PIN is the second factor of a grey-zone payment (docs/security.md, "Attacks tried: the
second factor"): 4 ASCII digits, like a card PIN. It never travels or rests in the clear:

- the till seals it to the backend's published key with HPKE (:func:`seal_bytes`, label
  ``pin``), bound to the enrollment session (:func:`seal_enrollment_pin`) or to the one
  authorization whose step-up it answers (:func:`seal_step_up_pin`); a sealed PIN opened
  in any other context fails like any other tampering (:class:`SealedDataError`);
- the backend keeps only :func:`stretch_pin` of a keyed hash of it (a server secret, then
  scrypt with a per-shopper salt), never the PIN.

Byte layout of a sealed PIN (docs/crypto.md, checked by a known-answer test)::

    "FPB\\x01" | suite code (1 byte) | key id length (1 byte) | key id | enc | ciphertext

where the HPKE plaintext is the 4 ASCII digits (so every sealed PIN of one suite has the
same length) and the HPKE info is ``encode_context("facepay/sealed-bytes/pin", [version,
key_id, suite, ctx:authorization_id | ctx:session_id, ctx:purpose])``.
"""

from __future__ import annotations

import hashlib
import itertools
import re

from facepay.crypto._sealing import BackendKeyPair, BackendPublicKey, SealingKeyring
from facepay.crypto._sealing import open_bytes as _open_bytes
from facepay.crypto._sealing import seal_bytes as _seal_bytes
from facepay.errors import SealedDataError, WeakPinError
from facepay.types import PinRefusal

__all__ = [
    "PIN_HASH_SCHEME",
    "PIN_LABEL",
    "open_enrollment_pin",
    "open_step_up_pin",
    "pin_refusal",
    "refused_pins",
    "seal_enrollment_pin",
    "seal_step_up_pin",
    "stretch_pin",
]

PIN_LABEL = "pin"
_PIN_RE = re.compile(r"[0-9]{4}")

# scrypt cost: N = 2^14, r = 8, p = 1 (16 MiB, tens of ms on the 2-core server): the
# baseline of RFC 7914 section 2 for interactive logins. It only slows an attacker who
# holds both the database and the backend's keyed-hash secret: 10^4 PINs remain 10^4
# tries, so the secret is what keeps a stolen database from yielding PINs.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 1 << 14, 8, 1
PIN_HASH_SCHEME = "scrypt-n14-r8-p1"


def pin_refusal(pin: str) -> PinRefusal | None:
    """Why ``pin`` may not be a shopper's PIN, or None when it may.

    The refused ones are the patterns an attacker tries first (DataGenetics' analysis of
    3.4 million leaked PINs ranks 1234, 1111, 0000, 1212, 7777 at the top): 114 of the
    10,000, listed by :func:`refused_pins`."""
    if not isinstance(pin, str) or not _PIN_RE.fullmatch(pin):
        return PinRefusal.NOT_FOUR_DIGITS
    digits = [int(c) for c in pin]
    if len(set(digits)) == 1:
        return PinRefusal.REPEATED_DIGIT
    steps = {b - a for a, b in itertools.pairwise(digits)}
    if steps in ({1}, {-1}):
        return PinRefusal.SEQUENCE
    if pin[:2] == pin[2:]:
        return PinRefusal.REPEATED_PAIR
    return None


def refused_pins() -> frozenset[str]:
    """Every 4-digit PIN :func:`pin_refusal` refuses."""
    return frozenset(p for i in range(10_000) if pin_refusal(p := f"{i:04d}") is not None)


def _checked(pin: str) -> bytes:
    refusal = pin_refusal(pin)
    if refusal is not None:
        raise WeakPinError(refusal)
    return pin.encode("ascii")


def seal_enrollment_pin(pin: str, public_key: BackendPublicKey, *, session_id: str) -> bytes:
    """Seal the PIN a shopper chose at enrollment, for the enrollment ``session_id`` only.

    Raises :class:`WeakPinError` (its ``reason`` a :class:`PinRefusal`) for a PIN that
    may not be set: nothing is sealed."""
    return _seal_bytes(
        _checked(pin),
        public_key,
        label=PIN_LABEL,
        context={"purpose": "enroll", "session_id": session_id},
    )


def seal_step_up_pin(pin: str, public_key: BackendPublicKey, *, authorization_id: str) -> bytes:
    """Seal the PIN typed to answer the step-up of ``authorization_id`` (and no other).

    Any 4 digits are sealed: a refused PIN is simply a wrong answer, so the till does not
    tell the shopper (or an attacker) more than the backend does."""
    if not isinstance(pin, str) or not _PIN_RE.fullmatch(pin):
        raise WeakPinError(PinRefusal.NOT_FOUR_DIGITS)
    return _seal_bytes(
        pin.encode("ascii"),
        public_key,
        label=PIN_LABEL,
        context={"purpose": "step_up", "authorization_id": authorization_id},
    )


def _digits(plaintext: bytes) -> str:
    if not _PIN_RE.fullmatch(plaintext.decode("ascii", "replace")):
        raise SealedDataError()
    return plaintext.decode("ascii")


def open_enrollment_pin(
    blob: bytes, keys: SealingKeyring | BackendKeyPair, *, session_id: str
) -> str:
    """The PIN :func:`seal_enrollment_pin` sealed for ``session_id``; any failure (other
    session, key, tampering, not 4 digits) is :class:`SealedDataError`."""
    return _digits(
        _open_bytes(
            blob, keys, label=PIN_LABEL, context={"purpose": "enroll", "session_id": session_id}
        )
    )


def open_step_up_pin(
    blob: bytes, keys: SealingKeyring | BackendKeyPair, *, authorization_id: str
) -> str:
    """The PIN :func:`seal_step_up_pin` sealed for ``authorization_id``; any failure is
    :class:`SealedDataError`."""
    return _digits(
        _open_bytes(
            blob,
            keys,
            label=PIN_LABEL,
            context={"purpose": "step_up", "authorization_id": authorization_id},
        )
    )


def stretch_pin(keyed_pin: str, salt: bytes) -> bytes:
    """The stored form of a PIN: scrypt (:data:`PIN_HASH_SCHEME`) of the backend's keyed
    hash of it (the server secret), with a per-shopper random ``salt``."""
    if len(salt) < 16:
        raise ValueError("a PIN hash needs a salt of 16 bytes or more")
    return hashlib.scrypt(
        keyed_pin.encode("utf-8"),
        salt=salt,
        n=_SCRYPT_N,
        r=_SCRYPT_R,
        p=_SCRYPT_P,
        maxmem=64 * 1024 * 1024,
        dklen=32,
    )

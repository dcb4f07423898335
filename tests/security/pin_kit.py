"""Helpers of the PIN attack suites (test_attack_pin_*.py): faces at a chosen similarity,
and a raw till's enrollment with a sealed PIN and its step-up answers. The database,
backend, till and backends fixtures are in conftest.py."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import numpy as np

from facepay.crypto import seal_enrollment_pin, seal_step_up_pin
from facepay.testing.protocol_till import CONSENT, PHONE, ProtocolTill
from facepay.wire import b64encode

__all__ = [
    "PIN",
    "answer_phone",
    "answer_pin",
    "at_similarity",
    "enroll_with_pin",
    "grey_payment",
    "mentions",
    "pin_rows",
]

PIN = "4071"


def at_similarity(base: Any, similarity: float, seed: int) -> Any:
    """A vector whose cosine similarity with ``base`` is exactly ``similarity`` (the tenant
    transform is orthogonal, so the backend scores this very number)."""
    unit = np.asarray(base, dtype=np.float64)
    unit = unit / np.linalg.norm(unit)
    other = np.random.default_rng(50_000 + seed).standard_normal(unit.shape[0])
    other -= (other @ unit) * unit
    other /= np.linalg.norm(other)
    v = similarity * unit + np.sqrt(1.0 - similarity**2) * other
    return v.astype(np.float32)


def enroll_with_pin(
    till: ProtocolTill, vector: Any, *, phone: str = PHONE, pin: str | None = PIN
) -> httpx.Response:
    sid = till.session("enroll")
    body: dict[str, Any] = {
        "session_id": sid,
        "sealed_template": till.seal(vector, sid),
        "consent": CONSENT,
        "payment_method_token": "tok_visa_4242",
        "claim": {"kind": "phone", "value": phone},
    }
    if pin is not None:
        body["sealed_pin"] = b64encode(seal_enrollment_pin(pin, till.public_key, session_id=sid))
    return till.call("POST", "/v1/enrollments", body)


def grey_payment(
    till: ProtocolTill, vector: Any, *, phone: str | None = PHONE, similarity: float = 0.95
) -> httpx.Response:
    """Pay with a capture of ``vector``'s face at ``similarity`` (default: in the grey zone)."""
    probe = at_similarity(vector, similarity, seed=int(uuid.uuid4().int % 10_000))
    return till.authorize(till.pay_body(probe, phone=phone))


def pin_body(till: ProtocolTill, authorization_id: str, pin: str) -> dict[str, Any]:
    sealed = seal_step_up_pin(pin, till.public_key, authorization_id=authorization_id)
    return {"sealed_pin": b64encode(sealed)}


def answer_pin(
    till: ProtocolTill, authorization_id: str, pin: str, *, key: str | None = None
) -> httpx.Response:
    return till.call(
        "POST",
        f"/v1/authorizations/{authorization_id}/step-up",
        pin_body(till, authorization_id, pin),
        headers={"Idempotency-Key": key or f"idem_{uuid.uuid4().hex}"},
    )


def answer_phone(till: ProtocolTill, authorization_id: str, digits: str) -> httpx.Response:
    return till.call(
        "POST",
        f"/v1/authorizations/{authorization_id}/step-up",
        {"phone_last4": digits},
        headers={"Idempotency-Key": f"idem_{uuid.uuid4().hex}"},
    )


def mentions(text: str | bytes, pin: str = PIN) -> bool:
    """Whether ``pin`` stands in ``text`` as a token of its own (not inside a longer run of
    letters and digits, such as a random id or base64 that happens to hold the digits)."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    return re.search(rf"(?<![0-9A-Za-z]){pin}(?![0-9A-Za-z])", text) is not None


def pin_rows(sandbox: Any) -> list[tuple[Any, ...]]:
    assert sandbox.backend is not None
    with sandbox.backend.db.transaction() as tx:
        return tx.all("SELECT shopper_id, failures FROM shopper_pins ORDER BY shopper_id")

"""A shopper's rights: their export, consent withdrawal and deletion, and the privacy code
that asks for them."""

from __future__ import annotations

import dataclasses
import json

from facepay.server._repository.lockouts import ERASED_CLAIM_SUBJECT
from facepay.server._storage import Transaction

__all__ = [
    "PaymentSummary",
    "ShopperRecord",
    "erase_claim_traces",
    "erase_privacy_codes",
    "erase_shopper",
    "insert_deletion_receipt",
    "payments_of_shopper",
    "privacy_code_of_authorization",
    "shopper_by_privacy_code",
    "withdraw_consent",
]


@dataclasses.dataclass(frozen=True, slots=True)
class ShopperRecord:
    """What a shopper may read about their own enrollment (their export)."""

    shopper_id: str
    tenant_id: str
    claim_hash: str | None
    claim_kind: str
    claim_last4: str | None
    enrolled_at: float
    last_used_at: float
    consent_json: str
    consent_withdrawn_at: float | None
    masked_payment_method: str
    template_stored: bool
    model_id: str | None
    retention_days: int


def shopper_by_privacy_code(tx: Transaction, privacy_code_hash: str) -> ShopperRecord | None:
    """The undeleted shopper holding this (keyed hash of a) privacy code."""
    row = tx.one(
        "SELECT shopper_id, tenant_id, claim_hash, claim_kind, claim_last4, enrolled_at, "
        "last_used_at, consent_json, consent_withdrawn_at, masked_payment_method, "
        "template_sealed IS NOT NULL, model_id, retention_days "
        "FROM shoppers WHERE privacy_code_hash = ? AND deleted_at IS NULL",
        (privacy_code_hash,),
    )
    if row is None:
        return None
    return ShopperRecord(
        shopper_id=str(row[0]),
        tenant_id=str(row[1]),
        claim_hash=None if row[2] is None else str(row[2]),
        claim_kind=str(row[3]),
        claim_last4=None if row[4] is None else str(row[4]),
        enrolled_at=float(row[5]),
        last_used_at=float(row[6]),
        consent_json=str(row[7]),
        consent_withdrawn_at=None if row[8] is None else float(row[8]),
        masked_payment_method=str(row[9]),
        template_stored=bool(row[10]),
        model_id=None if row[11] is None else str(row[11]),
        retention_days=int(row[12]),
    )


@dataclasses.dataclass(frozen=True, slots=True)
class PaymentSummary:
    """One of a shopper's authorizations, as their export lists it."""

    authorization_id: str
    status: str
    amount_minor: int
    currency: str
    created_at: float


def payments_of_shopper(tx: Transaction, shopper_id: str) -> list[PaymentSummary]:
    return [
        PaymentSummary(
            authorization_id=str(row[0]),
            status=str(row[1]),
            amount_minor=int(row[2]),
            currency=str(row[3]),
            created_at=float(row[4]),
        )
        for row in tx.all(
            "SELECT authorization_id, status, amount_minor, currency, created_at "
            "FROM authorizations WHERE shopper_id = ? ORDER BY created_at",
            (shopper_id,),
        )
    ]


def withdraw_consent(tx: Transaction, shopper_id: str, now: float) -> None:
    """Record the withdrawal (the first one's time is kept)."""
    tx.execute(
        "UPDATE shoppers SET consent_withdrawn_at = COALESCE(consent_withdrawn_at, ?) "
        "WHERE shopper_id = ?",
        (now, shopper_id),
    )


def erase_shopper(tx: Transaction, shopper_id: str, now: float) -> None:
    """Erase everything that identifies or charges the shopper; the row stays, marked
    deleted, so the ledger's authorizations still point somewhere."""
    tx.execute(
        "UPDATE shoppers SET claim_hash = NULL, claim_last4 = NULL, "
        "privacy_code_hash = NULL, privacy_code_wrapped = NULL, payment_token = NULL, "
        "masked_payment_method = '', consent_json = '{}', deleted_at = ? "
        "WHERE shopper_id = ?",
        (now, shopper_id),
    )


def erase_claim_traces(tx: Transaction, subject: str) -> None:
    """Forget a deleted shopper's claim wherever its keyed hash is a lockout subject: the
    lockout row goes, and the audit lines that named it (``locked_out``) keep the event
    under :data:`ERASED_CLAIM_SUBJECT`. The hash is a pseudonym of the phone number: with
    the lookup key anyone could test a number against it."""
    tx.execute("DELETE FROM lockouts WHERE subject = ?", (subject,))
    tx.execute(
        "UPDATE audit_log SET subject_id = ? WHERE subject_id = ?",
        (ERASED_CLAIM_SUBJECT, subject),
    )


def insert_deletion_receipt(
    tx: Transaction, receipt_id: str, shopper_id: str, deleted_at: float, receipt_json: str
) -> None:
    tx.execute(
        "INSERT INTO deletion_receipts (receipt_id, shopper_id, deleted_at, receipt_json) "
        "VALUES (?, ?, ?, ?)",
        (receipt_id, shopper_id, deleted_at, receipt_json),
    )


def privacy_code_of_authorization(tx: Transaction, authorization_id: str) -> bytes | None:
    """The wrapped privacy code of the shopper an authorization paid for, unless deleted."""
    row = tx.one(
        "SELECT s.privacy_code_wrapped FROM authorizations a "
        "JOIN shoppers s ON s.shopper_id = a.shopper_id "
        "WHERE a.authorization_id = ? AND s.deleted_at IS NULL",
        (authorization_id,),
    )
    return None if row is None or row[0] is None else bytes(row[0])


def erase_privacy_codes(tx: Transaction, shopper_id: str) -> int:
    """Rewrite the stored answers of a shopper's authorizations (and their step-ups)
    without a privacy code. Answers are stored without one since migration 4; this
    erases those written before. Returns the rows rewritten."""
    changed = 0
    for table, where in (
        ("authorizations", "shopper_id = ?"),
        (
            "step_up_answers",
            "authorization_id IN (SELECT authorization_id FROM authorizations "
            "WHERE shopper_id = ?)",
        ),
    ):
        found = tx.all(
            f"SELECT idempotency_key, tenant_id, response_json FROM {table} "  # noqa: S608
            f"WHERE {where}",
            (shopper_id,),
        )
        for key, tenant_id, text in found:
            answer = json.loads(text)
            if answer.get("privacy_code") is None:
                continue
            answer["privacy_code"] = None
            changed += tx.execute(
                f"UPDATE {table} SET response_json = ? "  # noqa: S608
                "WHERE tenant_id = ? AND idempotency_key = ?",
                (json.dumps(answer, separators=(",", ":")), tenant_id, key),
            )
    return changed

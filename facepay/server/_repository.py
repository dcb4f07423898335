"""The backend's SQL, returning named rows: templates and galleries, tenants, sessions,
lockouts, shoppers and their rights, stored answers, the audit log and the ledger.

Every function takes an open :class:`~facepay.server._storage.Transaction` and returns
small frozen dataclasses, so the code that decides never reads a column by position.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

from facepay.server._storage import Row, Transaction
from facepay.wire import AuthorizationStatus

__all__ = [
    "AuthorizationInputs",
    "AuthorizationRecord",
    "ClaimHolder",
    "LedgerRow",
    "LockoutRow",
    "NewShopper",
    "PayerRow",
    "PaymentSummary",
    "PurgedCounters",
    "RefusalInputs",
    "RequestCount",
    "RetainedEnrollment",
    "SessionRow",
    "ShopperRecord",
    "StepUpRow",
    "StoredAnswer",
    "StoredTemplate",
    "answer_in_session",
    "answer_step_up",
    "audit",
    "authorization_for_step_up",
    "authorization_inputs",
    "claim_holder",
    "claim_last4",
    "commit_authorization_in_one_statement",
    "count_request",
    "delete_expired_nonces",
    "delete_expired_sessions",
    "erase_privacy_codes",
    "erase_shopper",
    "insert_authorization",
    "insert_deletion_receipt",
    "insert_session",
    "insert_shopper",
    "insert_step_up_answer",
    "insert_tenant",
    "ledger_rows",
    "locked_until",
    "locks_sql",
    "mark_used",
    "payer",
    "payments_of_shopper",
    "pin_template_model",
    "privacy_code_of_authorization",
    "purge_counters",
    "read_lockout",
    "read_session",
    "refusal_inputs",
    "removed_templates",
    "replace_templates",
    "retained_enrollments",
    "session_row",
    "shopper_by_privacy_code",
    "shred_template",
    "spend_session",
    "spend_session_on_refusal",
    "stored_answer",
    "stored_templates",
    "templates_of",
    "tenant_created_at",
    "tenant_transform_key",
    "withdraw_consent",
    "write_lockout",
]


@dataclasses.dataclass(frozen=True, slots=True)
class StoredTemplate:
    """One shopper's template set as stored (still encrypted); ``version`` moves on
    with every rewrite (an adaptive update)."""

    shopper_id: str
    tenant_id: str
    model_id: str
    template_dim: int | None
    data_key_wrapped: bytes
    template_sealed: bytes
    pinned_dim: int | None
    version: int = 1
    updated_at: float = 0.0


_TEMPLATE_SELECT = (
    "SELECT s.shopper_id, s.tenant_id, s.model_id, s.template_dim, s.data_key_wrapped, "
    "s.template_sealed, m.template_dim, s.template_version, s.template_updated_at "
    "FROM shoppers s "
    "LEFT JOIN template_models m ON m.tenant_id = s.tenant_id AND m.model_id = s.model_id "
    "WHERE s.template_sealed IS NOT NULL AND s.deleted_at IS NULL"
)


def _template(row: Row) -> StoredTemplate:
    return StoredTemplate(
        shopper_id=str(row[0]),
        tenant_id=str(row[1]),
        model_id=str(row[2]),
        template_dim=None if row[3] is None else int(row[3]),
        data_key_wrapped=bytes(row[4]),
        template_sealed=bytes(row[5]),
        pinned_dim=None if row[6] is None else int(row[6]),
        version=int(row[7]),
        updated_at=float(row[8] or 0.0),
    )


def stored_templates(
    tx: Transaction, *, tenant_id: str | None = None, changed_since: float | None = None
) -> list[StoredTemplate]:
    """Every live template set, or a tenant's enrolled or updated at or after
    ``changed_since``."""
    sql, params = _TEMPLATE_SELECT, list[object]()
    if tenant_id is not None:
        sql += " AND s.tenant_id = ?"
        params.append(tenant_id)
    if changed_since is not None:
        sql += " AND s.template_updated_at >= ?"
        params.append(changed_since)
    return [_template(row) for row in tx.all(sql, params)]


def templates_of(tx: Transaction, shopper_id: str) -> StoredTemplate | None:
    """One shopper's live template set (None once shredded or deleted)."""
    row = tx.one(_TEMPLATE_SELECT + " AND s.shopper_id = ?", (shopper_id,))
    return None if row is None else _template(row)


def replace_templates(
    tx: Transaction,
    shopper_id: str,
    *,
    version: int,
    template_sealed: bytes,
    data_key_wrapped: bytes,
    now: float,
) -> bool:
    """Store a rewritten template set (its own fresh data key, so the old set is
    shredded) if the row still holds ``version`` and is live; False if another process
    rewrote it first or the shopper was deleted meanwhile (nothing is written)."""
    changed = tx.execute(
        "UPDATE shoppers SET template_sealed = ?, data_key_wrapped = ?, "
        "template_version = template_version + 1, template_updated_at = ? "
        "WHERE shopper_id = ? AND template_version = ? AND template_sealed IS NOT NULL "
        "AND deleted_at IS NULL",
        (template_sealed, data_key_wrapped, now, shopper_id, version),
    )
    return changed == 1


def pin_template_model(
    tx: Transaction, tenant_id: str, model_id: str, dimension: int, now: float
) -> int:
    """Pin (tenant, model id) to ``dimension`` unless already pinned; return the pinned
    size. The primary key settles a race: the loser's insert does nothing and it reads
    the winner's size (PostgreSQL waits for the winner's commit first)."""
    tx.execute(
        "INSERT INTO template_models (tenant_id, model_id, template_dim, pinned_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (tenant_id, model_id) DO NOTHING",
        (tenant_id, model_id, dimension, now),
    )
    row = tx.one(
        "SELECT template_dim FROM template_models WHERE tenant_id = ? AND model_id = ?",
        (tenant_id, model_id),
    )
    assert row is not None
    return int(row[0])


def shred_template(tx: Transaction, shopper_id: str, now: float) -> None:
    """Crypto-shredding: the wrapped data key is the only way to the template; with it
    gone the ciphertext is noise, and that goes too. ``template_removed_at`` tells every
    other process's gallery to drop it (see :func:`removed_templates`)."""
    tx.execute(
        "UPDATE shoppers SET data_key_wrapped = NULL, template_sealed = NULL, "
        "template_removed_at = COALESCE(template_removed_at, ?) WHERE shopper_id = ?",
        (now, shopper_id),
    )


def removed_templates(tx: Transaction, *, tenant_id: str, since: float) -> list[str]:
    """Shopper ids of the tenant whose template was shredded at or after ``since``."""
    return [
        str(row[0])
        for row in tx.all(
            "SELECT shopper_id FROM shoppers WHERE tenant_id = ? AND template_removed_at >= ?",
            (tenant_id, since),
        )
    ]


@dataclasses.dataclass(frozen=True, slots=True)
class ClaimHolder:
    """The shopper enrolled under a claim (template fields None once shredded)."""

    shopper_id: str
    model_id: str | None
    data_key_wrapped: bytes | None
    template_sealed: bytes | None


def claim_holder(tx: Transaction, tenant_id: str, claim_hash: str) -> ClaimHolder | None:
    row = tx.one(
        "SELECT shopper_id, model_id, data_key_wrapped, template_sealed FROM shoppers "
        "WHERE tenant_id = ? AND claim_hash = ?",
        (tenant_id, claim_hash),
    )
    if row is None:
        return None
    return ClaimHolder(
        shopper_id=str(row[0]),
        model_id=None if row[1] is None else str(row[1]),
        data_key_wrapped=None if row[2] is None else bytes(row[2]),
        template_sealed=None if row[3] is None else bytes(row[3]),
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


@dataclasses.dataclass(frozen=True, slots=True)
class StoredAnswer:
    """An answer kept for replays under its Idempotency-Key, and who asked."""

    request_hash: str
    response_json: str
    device_id: str


_STORED_ANSWER_SQL = {
    "authorizations": (
        "SELECT request_hash, response_json, device_id FROM authorizations "
        "WHERE tenant_id = ? AND idempotency_key = ?"
    ),
    # A step-up belongs to the device whose authorization it answers.
    "step_up_answers": (
        "SELECT s.request_hash, s.response_json, a.device_id FROM step_up_answers s "
        "JOIN authorizations a ON a.authorization_id = s.authorization_id "
        "WHERE s.tenant_id = ? AND s.idempotency_key = ?"
    ),
}


def stored_answer(tx: Transaction, table: str, tenant_id: str, key: str) -> StoredAnswer | None:
    row = tx.one(_STORED_ANSWER_SQL[table], (tenant_id, key))
    if row is None:
        return None
    return StoredAnswer(request_hash=str(row[0]), response_json=str(row[1]), device_id=str(row[2]))


@dataclasses.dataclass(frozen=True, slots=True)
class RequestCount:
    requests: int
    window_start: float


def count_request(tx: Transaction, subject: str, now: float, window_s: float) -> RequestCount:
    """Count one request of ``subject`` in its fixed window (a new window once the last
    one is ``window_s`` old): one row per subject, updated in place, in the database so
    every worker and replica counts together."""
    stale = now - window_s
    tx.execute(
        "INSERT INTO request_windows (subject, requests, window_start) VALUES (?, 1, ?) "
        "ON CONFLICT (subject) DO UPDATE SET "
        "requests = CASE WHEN request_windows.window_start < ? THEN 1 "
        "ELSE request_windows.requests + 1 END, "
        "window_start = CASE WHEN request_windows.window_start < ? THEN excluded.window_start "
        "ELSE request_windows.window_start END",
        (subject, now, stale, stale),
    )
    row = tx.one("SELECT requests, window_start FROM request_windows WHERE subject = ?", (subject,))
    assert row is not None
    return RequestCount(requests=int(row[0]), window_start=float(row[1]))


@dataclasses.dataclass(frozen=True, slots=True)
class PurgedCounters:
    lockouts: int
    request_windows: int


def purge_counters(
    tx: Transaction, *, now: float, lockout_window_s: float, rights_window_s: float
) -> PurgedCounters:
    """Forget lockouts that neither lock nor count any more, and ended request windows."""
    lockouts = tx.execute(
        "DELETE FROM lockouts WHERE locked_until < ? AND window_start < ?",
        (now, now - lockout_window_s),
    )
    windows = tx.execute(
        "DELETE FROM request_windows WHERE window_start < ?", (now - rights_window_s,)
    )
    return PurgedCounters(lockouts=lockouts, request_windows=windows)


# ---------------------------------------------------------------------- audit log


def audit(
    tx: Transaction,
    *,
    at: float,
    tenant_id: str | None,
    device_id: str | None,
    event: str,
    subject_id: str | None,
    details: Mapping[str, Any],
) -> None:
    """One line of the audit log (never a template, a key or a PIN: ids and decisions)."""
    tx.execute(
        "INSERT INTO audit_log (at, tenant_id, device_id, event, subject_id, details_json) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (at, tenant_id, device_id, event, subject_id, json.dumps(details, default=str)),
    )


# ---------------------------------------------------------------------- tenants


def tenant_created_at(tx: Transaction, tenant_id: str) -> float | None:
    row = tx.one("SELECT created_at FROM tenants WHERE tenant_id = ?", (tenant_id,))
    return None if row is None else float(row[0])


def insert_tenant(
    tx: Transaction, tenant_id: str, transform_key_wrapped: bytes, now: float
) -> None:
    tx.execute(
        "INSERT INTO tenants (tenant_id, transform_key_wrapped, created_at) VALUES (?, ?, ?)",
        (tenant_id, transform_key_wrapped, now),
    )


def tenant_transform_key(tx: Transaction, tenant_id: str) -> bytes | None:
    """A tenant's wrapped template-transform key (written once, with the tenant)."""
    row = tx.one("SELECT transform_key_wrapped FROM tenants WHERE tenant_id = ?", (tenant_id,))
    return None if row is None else bytes(row[0])


# ---------------------------------------------------------------------- sessions


@dataclasses.dataclass(frozen=True, slots=True)
class SessionRow:
    """What decides whether a checkout session can still be used."""

    device_id: str | None
    purpose: str | None
    expires_at: float
    used_at: float | None


def session_row(row: Row) -> SessionRow:
    """A :class:`SessionRow` from the columns ``device_id, purpose, expires_at, used_at``
    (as :func:`read_session` selects them, or a join that selects the same four)."""
    return SessionRow(
        device_id=None if row[0] is None else str(row[0]),
        purpose=None if row[1] is None else str(row[1]),
        expires_at=0.0 if row[2] is None else float(row[2]),
        used_at=None if row[3] is None else float(row[3]),
    )


def read_session(tx: Transaction, session_id: str) -> SessionRow | None:
    row = tx.one(
        "SELECT device_id, purpose, expires_at, used_at FROM sessions WHERE session_id = ?",
        (session_id,),
    )
    return None if row is None else session_row(row)


def insert_session(
    tx: Transaction,
    *,
    session_id: str,
    device_id: str,
    tenant_id: str,
    purpose: str,
    server_nonce: bytes,
    liveness_seed: bytes,
    created_at: float,
    expires_at: float,
) -> None:
    tx.execute(
        "INSERT INTO sessions (session_id, device_id, tenant_id, purpose, server_nonce, "
        "liveness_seed, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            session_id,
            device_id,
            tenant_id,
            purpose,
            server_nonce,
            liveness_seed,
            created_at,
            expires_at,
        ),
    )


def spend_session(tx: Transaction, session_id: str, now: float) -> bool:
    """Mark a session used; False if it was already used or has expired."""
    changed = tx.execute(
        "UPDATE sessions SET used_at = ? WHERE session_id = ? AND used_at IS NULL "
        "AND expires_at >= ?",
        (now, session_id, now),
    )
    return changed == 1


def delete_expired_sessions(tx: Transaction, expired_before: float) -> int:
    return tx.execute("DELETE FROM sessions WHERE expires_at < ?", (expired_before,))


def delete_expired_nonces(tx: Transaction, now: float) -> int:
    return tx.execute("DELETE FROM nonces WHERE expires_at < ?", (now,))


# ---------------------------------------------------------------------- lockouts


@dataclasses.dataclass(frozen=True, slots=True)
class LockoutRow:
    """A subject's failed attempts in its current window, and until when it is locked."""

    failures: int
    window_start: float
    locked_until: float


def read_lockout(tx: Transaction, subject: str) -> LockoutRow | None:
    row = tx.one(
        "SELECT failures, window_start, locked_until FROM lockouts WHERE subject = ?", (subject,)
    )
    if row is None:
        return None
    return LockoutRow(
        failures=int(row[0]), window_start=float(row[1]), locked_until=float(row[2] or 0.0)
    )


def write_lockout(tx: Transaction, subject: str, state: LockoutRow) -> None:
    tx.execute(
        "INSERT INTO lockouts (subject, failures, window_start, locked_until) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (subject) DO UPDATE SET failures = excluded.failures, "
        "window_start = excluded.window_start, locked_until = excluded.locked_until",
        (subject, state.failures, state.window_start, state.locked_until),
    )


def locks_sql(count: int) -> str:
    """The statement (``count`` subjects as parameters) whose one row is the latest
    ``locked_until`` among them (NULL if none is recorded)."""
    marks = ", ".join("?" * count)
    return f"SELECT max(locked_until) AS locked_until FROM lockouts WHERE subject IN ({marks})"  # noqa: S608


def locked_until(tx: Transaction, subjects: Sequence[str]) -> float | None:
    row = tx.one(locks_sql(len(subjects)), subjects)
    return None if row is None or row[0] is None else float(row[0])


# ---------------------------------------------------------------------- shoppers


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


def insert_deletion_receipt(
    tx: Transaction, receipt_id: str, shopper_id: str, deleted_at: float, receipt_json: str
) -> None:
    tx.execute(
        "INSERT INTO deletion_receipts (receipt_id, shopper_id, deleted_at, receipt_json) "
        "VALUES (?, ?, ?, ?)",
        (receipt_id, shopper_id, deleted_at, receipt_json),
    )


@dataclasses.dataclass(frozen=True, slots=True)
class RetainedEnrollment:
    """An enrollment whose template is stored, with what its retention depends on."""

    shopper_id: str
    tenant_id: str
    last_used_at: float
    retention_days: int


def retained_enrollments(tx: Transaction) -> list[RetainedEnrollment]:
    return [
        RetainedEnrollment(
            shopper_id=str(row[0]),
            tenant_id=str(row[1]),
            last_used_at=float(row[2]),
            retention_days=int(row[3]),
        )
        for row in tx.all(
            "SELECT shopper_id, tenant_id, last_used_at, retention_days FROM shoppers "
            "WHERE template_sealed IS NOT NULL AND deleted_at IS NULL"
        )
    ]


# ---------------------------------------------------------------------- the ledger


def answer_in_session(tx: Transaction, session_id: str, device_id: str) -> str | None:
    """The stored answer (JSON) of the authorization a device made in a session."""
    row = tx.one(
        "SELECT response_json FROM authorizations WHERE session_id = ? AND device_id = ?",
        (session_id, device_id),
    )
    return None if row is None else str(row[0])


@dataclasses.dataclass(frozen=True, slots=True)
class LedgerRow:
    """One authorization as the ledger lists it (``facepay sandbox ledger``)."""

    authorization_id: str
    idempotency_key: str
    amount_minor: int
    currency: str
    status: str
    shopper_id: str | None
    decline_reason: str | None
    receipt_id: str | None
    basket_reference: str
    device_id: str
    tenant_id: str
    created_at: float
    updated_at: float


def ledger_rows(tx: Transaction) -> list[LedgerRow]:
    """Every authorization, oldest first."""
    return [
        LedgerRow(
            authorization_id=str(row[0]),
            idempotency_key=str(row[1]),
            amount_minor=int(row[2]),
            currency=str(row[3]),
            status=str(row[4]),
            shopper_id=None if row[5] is None else str(row[5]),
            decline_reason=None if row[6] is None else str(row[6]),
            receipt_id=None if row[7] is None else str(row[7]),
            basket_reference=str(row[8]),
            device_id=str(row[9]),
            tenant_id=str(row[10]),
            created_at=float(row[11]),
            updated_at=float(row[12]),
        )
        for row in tx.all(
            "SELECT authorization_id, idempotency_key, amount_minor, currency, status, "
            "shopper_id, decline_reason, receipt_id, basket_reference, device_id, tenant_id, "
            "created_at, updated_at FROM authorizations ORDER BY created_at, authorization_id"
        )
    ]


# ---------------------------------------------------------------------- the payment path


@dataclasses.dataclass(frozen=True, slots=True)
class PayerRow:
    """What paying needs of a matched shopper (and what loading their set needs)."""

    shopper_id: str
    payment_token: str | None
    masked_payment_method: str
    privacy_code_wrapped: bytes | None
    consent_withdrawn_at: float | None
    model_id: str
    data_key_wrapped: bytes
    template_sealed: bytes
    template_version: int

    def stored_template(self, tenant_id: str) -> StoredTemplate:
        """The shopper's set as :func:`stored_templates` would return it."""
        return StoredTemplate(
            shopper_id=self.shopper_id,
            tenant_id=tenant_id,
            model_id=self.model_id,
            template_dim=None,
            data_key_wrapped=self.data_key_wrapped,
            template_sealed=self.template_sealed,
            pinned_dim=None,
            version=self.template_version,
        )


_PAYER_COLUMNS = (
    "shopper_id",
    "payment_token",
    "masked_payment_method",
    "privacy_code_wrapped",
    "consent_withdrawn_at",
    "model_id",
    "data_key_wrapped",
    "template_sealed",
    "template_version",
)


def _payer(row: Sequence[Any]) -> PayerRow:
    return PayerRow(
        shopper_id=str(row[0]),
        payment_token=None if row[1] is None else str(row[1]),
        masked_payment_method=str(row[2] or ""),
        privacy_code_wrapped=None if row[3] is None else bytes(row[3]),
        consent_withdrawn_at=None if row[4] is None else float(row[4]),
        model_id=str(row[5]),
        data_key_wrapped=bytes(row[6]),
        template_sealed=bytes(row[7]),
        template_version=int(row[8]),
    )


def payer(tx: Transaction, shopper_id: str) -> PayerRow | None:
    """A shopper who can still pay: enrolled, template stored, not deleted."""
    row = tx.one(
        f"SELECT {', '.join(_PAYER_COLUMNS)} FROM shoppers "  # noqa: S608 (fixed names)
        "WHERE shopper_id = ? AND template_sealed IS NOT NULL AND deleted_at IS NULL",
        (shopper_id,),
    )
    return None if row is None else _payer(row)


@dataclasses.dataclass(frozen=True, slots=True)
class AuthorizationInputs:
    """Everything deciding an authorization reads, read at once."""

    stored_answer: StoredAnswer | None
    locked_until: float | None
    session: SessionRow
    liveness_seed: bytes
    payer: PayerRow | None


def authorization_inputs(
    tx: Transaction,
    *,
    tenant_id: str,
    idempotency_key: str,
    lock_subjects: Sequence[str],
    session_id: str,
    claim_hash: str | None,
) -> AuthorizationInputs:
    """The stored answer under the key, the latest lock of the subjects, the session and
    the shopper holding ``claim_hash`` (None: no claimed payer), in ONE statement: a round
    trip each cost more than the reads on PostgreSQL."""
    payer_columns = ", ".join(f"p.{c}" for c in _PAYER_COLUMNS)
    row = tx.one(
        "SELECT a.request_hash, a.response_json, a.device_id, l.locked_until, "  # noqa: S608
        "s.device_id, s.purpose, s.expires_at, s.used_at, s.liveness_seed, "
        f"{payer_columns} "
        "FROM (SELECT 1 AS one) AS base "
        "LEFT JOIN authorizations a ON a.tenant_id = ? AND a.idempotency_key = ? "
        f"LEFT JOIN ({locks_sql(len(lock_subjects))}) AS l ON 1 = 1 "
        "LEFT JOIN sessions s ON s.session_id = ? "
        "LEFT JOIN shoppers p ON p.tenant_id = ? AND p.claim_hash = ? "
        "AND p.template_sealed IS NOT NULL AND p.deleted_at IS NULL",
        (tenant_id, idempotency_key, *lock_subjects, session_id, tenant_id, claim_hash),
    )
    assert row is not None  # the base row is always there
    stored = None
    if row[0] is not None:
        stored = StoredAnswer(
            request_hash=str(row[0]), response_json=str(row[1]), device_id=str(row[2])
        )
    return AuthorizationInputs(
        stored_answer=stored,
        locked_until=None if row[3] is None else float(row[3]),
        session=session_row(row[4:8]),
        liveness_seed=b"" if row[8] is None else bytes(row[8]),
        payer=None if row[9] is None else _payer(row[9:]),
    )


@dataclasses.dataclass(frozen=True, slots=True)
class AuthorizationRecord:
    """One row of the ledger (``authorizations``), as written."""

    authorization_id: str
    tenant_id: str
    device_id: str
    idempotency_key: str
    request_hash: str
    session_id: str
    amount_minor: int
    currency: str
    basket_reference: str
    status: str
    decline_reason: str | None
    shopper_id: str | None
    receipt_id: str | None
    response_json: str
    step_up_candidates: str | None
    step_up_expires_at: float | None
    created_at: float
    updated_at: float

    def values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self))


_AUTHORIZATION_COLUMNS = ", ".join(f.name for f in dataclasses.fields(AuthorizationRecord))


def insert_authorization(tx: Transaction, record: AuthorizationRecord) -> None:
    marks = ", ".join("?" * len(dataclasses.fields(record)))
    tx.execute(
        f"INSERT INTO authorizations ({_AUTHORIZATION_COLUMNS}) VALUES ({marks})",  # noqa: S608
        record.values(),
    )


# PostgreSQL only (SQLite has no data-modifying CTEs). Parameters in a SELECT list carry
# no column type, so each one is cast.
_PG_COMMIT_AUTHORIZATION = (
    "WITH used AS ("  # noqa: S608 (fixed names; every value is a parameter)
    " UPDATE sessions SET used_at = CAST(? AS DOUBLE PRECISION)"
    " WHERE session_id = CAST(? AS TEXT) AND used_at IS NULL"
    " AND expires_at >= CAST(? AS DOUBLE PRECISION) RETURNING session_id),"
    f" authorization_row AS (INSERT INTO authorizations ({_AUTHORIZATION_COLUMNS})"
    " SELECT CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT),"
    " CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS TEXT),"
    " CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT),"
    " CAST(? AS TEXT), CAST(? AS DOUBLE PRECISION), CAST(? AS DOUBLE PRECISION),"
    " CAST(? AS DOUBLE PRECISION) FROM used),"
    " payer AS (UPDATE shoppers SET last_used_at = CAST(? AS DOUBLE PRECISION)"
    " WHERE shopper_id = CAST(? AS TEXT) AND EXISTS (SELECT 1 FROM used)),"
    " audit_row AS (INSERT INTO audit_log"
    " (at, tenant_id, device_id, event, subject_id, details_json)"
    " SELECT CAST(? AS DOUBLE PRECISION), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT),"
    " CAST(? AS TEXT), CAST(? AS TEXT) FROM used)"
    " SELECT count(*) FROM used"
)


def commit_authorization_in_one_statement(
    tx: Transaction,
    record: AuthorizationRecord,
    *,
    now: float,
    paid: str | None,
    details: Mapping[str, Any],
) -> bool:
    """PostgreSQL, on an autocommit connection: the authorization, its session spent,
    the payer's last use and the audit line as one statement (data-modifying CTEs run
    atomically on one snapshot). False, and nothing written, unless the session was
    still unused and unexpired."""
    row = tx.one(
        _PG_COMMIT_AUTHORIZATION,
        (
            now,
            record.session_id,
            now,
            *record.values(),
            now,
            paid,
            now,
            record.tenant_id,
            record.device_id,
            "authorization",
            record.authorization_id,
            json.dumps(details, default=str),
        ),
    )
    return row is not None and row[0] == 1


def mark_used(tx: Transaction, shopper_id: str, now: float) -> None:
    """The shopper just paid: their retention period starts again."""
    tx.execute("UPDATE shoppers SET last_used_at = ? WHERE shopper_id = ?", (now, shopper_id))


@dataclasses.dataclass(frozen=True, slots=True)
class StepUpRow:
    """An authorization as a step-up answer needs it."""

    status: str
    candidates_json: str | None
    expires_at: float | None
    amount_minor: int
    currency: str
    basket_reference: str
    created_at: float
    device_id: str
    response_json: str


def authorization_for_step_up(
    tx: Transaction, authorization_id: str, tenant_id: str
) -> StepUpRow | None:
    row = tx.one(
        "SELECT status, step_up_candidates, step_up_expires_at, amount_minor, currency, "
        "basket_reference, created_at, device_id, response_json FROM authorizations "
        "WHERE authorization_id = ? AND tenant_id = ?",
        (authorization_id, tenant_id),
    )
    if row is None:
        return None
    return StepUpRow(
        status=str(row[0]),
        candidates_json=None if row[1] is None else str(row[1]),
        expires_at=None if row[2] is None else float(row[2]),
        amount_minor=int(row[3]),
        currency=str(row[4]),
        basket_reference=str(row[5]),
        created_at=float(row[6]),
        device_id=str(row[7]),
        response_json=str(row[8]),
    )


def claim_last4(tx: Transaction, shopper_id: str) -> str | None:
    """The last 4 digits of an undeleted shopper's phone claim (None: none or deleted)."""
    row = tx.one(
        "SELECT claim_last4 FROM shoppers WHERE shopper_id = ? AND deleted_at IS NULL",
        (shopper_id,),
    )
    return None if row is None or row[0] is None else str(row[0])


def answer_step_up(
    tx: Transaction,
    authorization_id: str,
    *,
    status: str,
    decline_reason: str | None,
    shopper_id: str | None,
    receipt_id: str | None,
    response_json: str,
    now: float,
) -> bool:
    """Record the step-up's outcome on its authorization; False if it was no longer
    awaiting one (answered meanwhile)."""
    changed = tx.execute(
        "UPDATE authorizations SET status = ?, decline_reason = ?, shopper_id = ?, "
        "receipt_id = ?, response_json = ?, step_up_candidates = NULL, "
        "updated_at = ? WHERE authorization_id = ? AND status = ?",
        (
            status,
            decline_reason,
            shopper_id,
            receipt_id,
            response_json,
            now,
            authorization_id,
            AuthorizationStatus.STEP_UP.value,
        ),
    )
    return changed == 1


def insert_step_up_answer(
    tx: Transaction,
    *,
    tenant_id: str,
    idempotency_key: str,
    request_hash: str,
    authorization_id: str,
    response_json: str,
    now: float,
) -> None:
    tx.execute(
        "INSERT INTO step_up_answers (tenant_id, idempotency_key, request_hash, "
        "authorization_id, response_json, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (tenant_id, idempotency_key, request_hash, authorization_id, response_json, now),
    )


@dataclasses.dataclass(frozen=True, slots=True)
class NewShopper:
    """An enrollment as stored: keyed hashes, wrapped secrets and the sealed set only."""

    shopper_id: str
    tenant_id: str
    claim_kind: str
    claim_hash: str
    claim_last4: str | None
    privacy_code_hash: str
    privacy_code_wrapped: bytes
    payment_token: str
    masked_payment_method: str
    consent_json: str
    consent_received_at: float
    retention_days: int
    enrolled_at: float
    last_used_at: float
    model_id: str
    template_dim: int
    data_key_wrapped: bytes
    template_sealed: bytes
    enrolled_by_device: str
    template_updated_at: float


def insert_shopper(tx: Transaction, shopper: NewShopper) -> None:
    fields = dataclasses.fields(shopper)
    tx.execute(
        f"INSERT INTO shoppers ({', '.join(f.name for f in fields)}) "  # noqa: S608 (fixed)
        f"VALUES ({', '.join('?' * len(fields))})",
        tuple(getattr(shopper, f.name) for f in fields),
    )


# ---------------------------------------------------------------------- liveness refusals
# A till's not_live report on its checkout session (facepay.server._reports): session SQL,
# kept with the sessions' when this module is split.


@dataclasses.dataclass(frozen=True, slots=True)
class RefusalInputs:
    """What a not_live report is decided on: its session (None: no such session), the
    report that spent it if one did, and the device's lock."""

    session: SessionRow | None
    refused_at: float | None
    refusal_hash: str | None
    locked_until: float | None


def refusal_inputs(tx: Transaction, session_id: str, device_subject: str) -> RefusalInputs:
    row = tx.one(
        "SELECT device_id, purpose, expires_at, used_at, refused_at, refusal_hash "
        "FROM sessions WHERE session_id = ?",
        (session_id,),
    )
    until = locked_until(tx, [device_subject])
    if row is None:
        return RefusalInputs(session=None, refused_at=None, refusal_hash=None, locked_until=until)
    return RefusalInputs(
        session=session_row(row),
        refused_at=None if row[4] is None else float(row[4]),
        refusal_hash=None if row[5] is None else str(row[5]),
        locked_until=until,
    )


def spend_session_on_refusal(
    tx: Transaction, session_id: str, device_id: str, request_hash: str, now: float
) -> bool:
    """Spend an unused, unexpired payment session of ``device_id`` on a not_live report;
    False if it was used, refused, expired or is not that device's meanwhile."""
    changed = tx.execute(
        "UPDATE sessions SET used_at = ?, refused_at = ?, refusal_hash = ? "
        "WHERE session_id = ? AND device_id = ? AND purpose = 'pay' AND used_at IS NULL "
        "AND expires_at >= ?",
        (now, now, request_hash, session_id, device_id, now),
    )
    return changed == 1

"""The backend's SQL, returning named rows, one module per table or concern:

- ``tenants``: tenants and their transform key
- ``sessions``: checkout sessions, a till's not_live report spending one (and expired
  device nonces)
- ``lockouts``: failures and locks, request windows
- ``answers``: answers stored for Idempotency-Key replays
- ``templates``: shoppers' sealed template sets, and those the retention sweep reads
- ``shoppers``: enrollment and claims
- ``rights``: a shopper's export, consent withdrawal and deletion
- ``payers``: what deciding an authorization reads, in one statement
- ``ledger``: the authorizations written and listed
- ``step_ups``: the grey zone's PIN answer
- ``audit``: the audit log

Every function takes an open :class:`~facepay.server._storage.Transaction` and returns
small frozen dataclasses, so the code that decides never reads a column by position.
The device gate (``_devices``), the PIN store (``_pins``) and the migrations
(``_storage``) keep their own tables' statements.
"""

from __future__ import annotations

from facepay.server._repository.answers import StoredAnswer, stored_answer
from facepay.server._repository.audit import audit
from facepay.server._repository.ledger import (
    AuthorizationRecord,
    LedgerRow,
    answer_in_session,
    answers_for_order,
    commit_authorization_in_one_statement,
    insert_authorization,
    ledger_rows,
)
from facepay.server._repository.lockouts import (
    CLAIM_SUBJECT_PREFIX,
    LockoutRow,
    PurgedCounters,
    RequestCount,
    count_request,
    locked_until,
    locks_sql,
    purge_counters,
    read_lockout,
    write_lockout,
)
from facepay.server._repository.payers import (
    AuthorizationInputs,
    PayerRow,
    authorization_inputs,
    mark_used,
    paid_by,
    payer,
)
from facepay.server._repository.rights import (
    PaymentSummary,
    ShopperRecord,
    erase_claim_traces,
    erase_privacy_codes,
    erase_shopper,
    insert_deletion_receipt,
    payments_of_shopper,
    privacy_code_of_authorization,
    shopper_by_privacy_code,
    withdraw_consent,
)
from facepay.server._repository.sessions import (
    RefusalRow,
    SessionRow,
    delete_expired_sessions,
    insert_session,
    read_refusal,
    read_session,
    session_row,
    spend_session,
    spend_session_on_refusal,
)
from facepay.server._repository.shoppers import (
    ClaimHolder,
    NewShopper,
    claim_hash_of,
    claim_holder,
    claim_last4,
    insert_shopper,
)
from facepay.server._repository.step_ups import (
    StepUpRow,
    answer_step_up,
    authorization_for_step_up,
    insert_step_up_answer,
)
from facepay.server._repository.templates import (
    RetainedEnrollment,
    StoredTemplate,
    pin_template_model,
    removed_templates,
    replace_templates,
    retained_enrollments,
    shred_template,
    stored_templates,
    templates_of,
)
from facepay.server._repository.tenants import (
    insert_tenant,
    tenant_created_at,
    tenant_transform_key,
)

__all__ = [
    "CLAIM_SUBJECT_PREFIX",
    "AuthorizationInputs",
    "AuthorizationRecord",
    "ClaimHolder",
    "LedgerRow",
    "LockoutRow",
    "NewShopper",
    "PayerRow",
    "PaymentSummary",
    "PurgedCounters",
    "RefusalRow",
    "RequestCount",
    "RetainedEnrollment",
    "SessionRow",
    "ShopperRecord",
    "StepUpRow",
    "StoredAnswer",
    "StoredTemplate",
    "answer_in_session",
    "answer_step_up",
    "answers_for_order",
    "audit",
    "authorization_for_step_up",
    "authorization_inputs",
    "claim_hash_of",
    "claim_holder",
    "claim_last4",
    "commit_authorization_in_one_statement",
    "count_request",
    "delete_expired_sessions",
    "erase_claim_traces",
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
    "paid_by",
    "payer",
    "payments_of_shopper",
    "pin_template_model",
    "privacy_code_of_authorization",
    "purge_counters",
    "read_lockout",
    "read_refusal",
    "read_session",
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

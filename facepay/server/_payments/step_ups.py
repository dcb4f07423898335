"""A step-up answered: the shopper's PIN (the grey zone) or the last 4 digits of their
phone (close candidates) finishes an authorization left open, approved or declined,
once; a retry is answered as the first time."""

from __future__ import annotations

import hmac
import json
from typing import Any

from facepay.crypto import open_step_up_pin
from facepay.server import _pins as pins
from facepay.server import _repository as repository
from facepay.server._answers import StoredAnswers
from facepay.server._devices import AuthenticatedDevice
from facepay.server._errors import ApiError
from facepay.server._lockouts import Lockouts, claim_subject, device_subject
from facepay.server._part import BackendPart
from facepay.server._payments.answer import PaymentAnswers
from facepay.server._payments.recording import (
    PayerGoneError,
    order_already_paid,
    payer_gone_decline,
)
from facepay.server._payments.replays import canonical_hash, stored_answer
from facepay.server._storage import UniqueViolationError
from facepay.wire import (
    AuthorizationResponse,
    AuthorizationStatus,
    DeclineReason,
    ErrorCode,
    StepUpKind,
    StepUpRequest,
)

__all__ = ["StepUps"]


class StepUps(BackendPart):
    """Answers step-ups: the step-up half of :class:`Payments`, which sets what it
    uses."""

    lockouts: Lockouts
    answers: StoredAnswers
    payment_answers: PaymentAnswers

    def step_up(
        self,
        device: AuthenticatedDevice,
        authorization_id: str,
        req: StepUpRequest,
        idempotency_key: str,
    ) -> AuthorizationResponse:
        request_hash = canonical_hash(req) + ":" + authorization_id
        replay = self.answers.find("step_up_answers", device, idempotency_key, request_hash)
        if replay is not None:
            return replay
        self.lockouts.check([device_subject(device.device_id)])
        with self.db.transaction(readonly=True) as tx:
            row = repository.authorization_for_step_up(tx, authorization_id, device.tenant_id)
            paid_by = (
                None
                if row is None
                else repository.paid_by(tx, device.tenant_id, row.basket_reference)
            )
        if row is None or row.device_id != device.device_id:
            raise ApiError(ErrorCode.NOT_FOUND, "no such authorization for this device")
        if row.status != AuthorizationStatus.STEP_UP.value or not row.candidates_json:
            raise ApiError(ErrorCode.STEP_UP_NOT_PENDING, "this authorization awaits no step-up")
        if paid_by is not None:
            # Another authorization of the order was approved meanwhile (another lane):
            # this one stays unanswered and expires; no PIN is tried, nothing is charged.
            raise order_already_paid(paid_by)
        if row.expires_at is None or self.clock() > row.expires_at:
            raise ApiError(ErrorCode.SESSION_EXPIRED, "the step-up window has passed")
        candidates: list[str] = json.loads(row.candidates_json)
        asked = AuthorizationResponse.model_validate_json(row.response_json).step_up
        pin_asked = asked is not None and asked.kind is StepUpKind.PIN
        pin_tries: int | None = None
        pin_right = False
        if pin_asked:
            if req.sealed_pin is None:
                raise ApiError(
                    ErrorCode.VALIDATION_FAILED,
                    "this step-up asks for the shopper's PIN",
                    fields=("sealed_pin",),
                )
            self._refuse_if_shopper_locked(candidates)
            pin_tries, pin_right = self._try_pin(authorization_id, candidates, req.sealed_pin)
            matching = candidates[:1] if pin_right else []
        else:
            if req.phone_last4 is None:
                raise ApiError(
                    ErrorCode.VALIDATION_FAILED,
                    "this step-up asks for the last 4 digits of the phone",
                    fields=("phone_last4",),
                )
            phone_last4 = req.phone_last4
            with self.db.transaction(readonly=True) as tx:
                matching = [
                    c
                    for c in candidates
                    if (last4 := repository.claim_last4(tx, c)) is not None
                    and hmac.compare_digest(last4, phone_last4)
                ]
        shopper_id = matching[0] if len(matching) == 1 else None
        response, hold = self.payment_answers.answer(
            authorization_id=authorization_id,
            req_amount=row.amount_minor,
            currency=row.currency,
            basket=row.basket_reference,
            created=row.created_at,
            shopper_id=shopper_id,
            status=AuthorizationStatus.DECLINED,
            reason=DeclineReason.STEP_UP_FAILED,
            step_up=None,
        )
        now = self.clock()
        try:
            try:
                # Captured once the approval committed, voided if it was refused.
                with self.payment_answers.settled_by(hold):
                    self._commit(
                        device,
                        authorization_id,
                        idempotency_key,
                        request_hash,
                        response,
                        now,
                        shopper_id=shopper_id,
                        candidates=candidates,
                        matching=matching,
                        pin_asked=pin_asked,
                        pin_tries=pin_tries,
                        pin_right=pin_right,
                    )
            except PayerGoneError:
                # Deleted, withdrawn or expired through another worker while this answer
                # was decided: declined, nothing of the shopper answered, and no failure
                # counted against the till (the shopper answered right).
                response = payer_gone_decline(response)
                self._commit(
                    device,
                    authorization_id,
                    idempotency_key,
                    request_hash,
                    response,
                    now,
                    shopper_id=None,
                    candidates=[],
                    matching=[],
                    pin_asked=pin_asked,
                    pin_tries=None,
                    pin_right=False,
                    payer_gone=True,
                )
        except UniqueViolationError:
            replay = self.answers.find("step_up_answers", device, idempotency_key, request_hash)
            if replay is not None:
                return replay
            # Another approval of the order committed first (migration 10's index).
            with self.db.transaction(readonly=True) as tx:
                paid_by = repository.paid_by(tx, device.tenant_id, row.basket_reference)
            if paid_by is not None:
                raise order_already_paid(paid_by) from None
            raise  # pragma: no cover - one of the two unique indexes refused the row
        return response

    def _commit(
        self,
        device: AuthenticatedDevice,
        authorization_id: str,
        idempotency_key: str,
        request_hash: str,
        response: AuthorizationResponse,
        now: float,
        *,
        shopper_id: str | None,
        candidates: list[str],
        matching: list[str],
        pin_asked: bool,
        pin_tries: int | None,
        pin_right: bool,
        payer_gone: bool = False,
    ) -> None:
        """Write the step-up's answer in one transaction; :class:`PayerGoneError` (nothing
        written) if its approval's shopper can no longer be paid."""
        with self.db.transaction() as tx:
            answered = repository.answer_step_up(
                tx,
                authorization_id,
                status=response.status.value,
                decline_reason=response.decline_reason and response.decline_reason.value,
                shopper_id=shopper_id if response.status is AuthorizationStatus.APPROVED else None,
                receipt_id=response.receipt_id,
                response_json=stored_answer(response),
                now=now,
            )
            if not answered:
                raise ApiError(ErrorCode.STEP_UP_NOT_PENDING, "already answered")
            repository.insert_step_up_answer(
                tx,
                tenant_id=device.tenant_id,
                idempotency_key=idempotency_key,
                request_hash=request_hash,
                authorization_id=authorization_id,
                response_json=stored_answer(response),
                now=now,
            )
            if pin_right:
                pins.reset_failures(tx, candidates[0])
            if shopper_id is None and not payer_gone:
                self.lockouts.record_failure(
                    tx, device_subject(device.device_id), self.config.device_lockout_s
                )
            elif (
                shopper_id is not None
                and response.status is AuthorizationStatus.APPROVED
                and not repository.mark_used(tx, shopper_id, now)
            ):
                raise PayerGoneError(shopper_id)
            details: dict[str, Any] = {
                "candidates": candidates,
                "matching": len(matching),
                "decision": response.status.value,
            }
            if payer_gone:
                details["payer_gone"] = True
            if pin_asked:
                # Which try in a row this was (None: the PIN was locked or gone, so
                # nothing was compared). Never the PIN.
                details.update(kind=StepUpKind.PIN.value, pin_try=pin_tries)
                if not pin_right and pin_tries == self.config.pin_failures:
                    self._audit(
                        tx, device.tenant_id, device.device_id, "pin_locked", candidates[0], {}
                    )
            self._audit(
                tx, device.tenant_id, device.device_id, "step_up", authorization_id, details
            )

    def _refuse_if_shopper_locked(self, candidates: list[str]) -> None:
        """``429 locked_out`` while the PIN's shopper is locked out: five faces compared
        with their claim lock the shopper, and a step-up asked before that lock is no way
        round it (tests/security/test_redteam_second_factor.py)."""
        if len(candidates) != 1:
            return
        with self.db.transaction(readonly=True) as tx:
            claim_hash = repository.claim_hash_of(tx, candidates[0])
        if claim_hash is not None:
            self.lockouts.check([claim_subject(claim_hash)])

    def _try_pin(
        self, authorization_id: str, candidates: list[str], sealed_pin: str
    ) -> tuple[int | None, bool]:
        """Open the PIN sealed for this authorization and compare it with its one
        candidate's; returns (wrong PINs in a row counting this try, or None when nothing
        was compared: no PIN, locked, or the shopper deleted; whether it was right).

        The try is counted in the database *before* the comparison (:func:`pins.reserve_try`),
        so workers and replicas answering at once cannot compare more than
        ``pin_failures`` wrong PINs between them. A PIN that cannot be opened is no try:
        422, the step-up stays pending."""
        pin = pins.opened_pin(
            sealed_pin,
            lambda blob: open_step_up_pin(
                blob, self.vault.keyring, authorization_id=authorization_id
            ),
        )
        if len(candidates) != 1:
            return None, False
        with self.db.transaction() as tx:
            stored = pins.reserve_try(tx, candidates[0], self.config.pin_failures)
        if stored is None:
            return None, False
        return stored.failures, pins.pin_matches(self.vault, stored, candidates[0], pin)

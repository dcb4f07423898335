"""``Payments.authorize``: one payment from its request to its answer, each step a call
into the module that holds it (see the package's docstring for the map)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from facepay.server import _repository as repository
from facepay.server import _shoppers as shoppers
from facepay.server._answers import StoredAnswers
from facepay.server._devices import AuthenticatedDevice
from facepay.server._errors import ApiError
from facepay.server._galleries import GalleryCache
from facepay.server._gallery import MatchOutcome
from facepay.server._lockouts import Lockouts, claim_subject, device_subject
from facepay.server._part import BackendContext
from facepay.server._payments.answer import Acquirer, PaymentAnswers, new_id
from facepay.server._payments.learning import TemplateLearning
from facepay.server._payments.matching import FaceMatching
from facepay.server._payments.recording import (
    AuthorizationWriter,
    PayerGoneError,
    order_already_paid,
    payer_gone_decline,
)
from facepay.server._payments.replays import canonical_hash, stored_answer
from facepay.server._payments.step_ups import StepUps
from facepay.server._sessions import CheckoutSessions
from facepay.server._storage import UniqueViolationError
from facepay.wire import (
    AuthorizationResponse,
    AuthorizationStatus,
    AuthorizeRequest,
    DeclineReason,
    ErrorCode,
    SessionPurpose,
)

__all__ = ["Payments"]


class Payments(StepUps):
    """Authorizations, and step-ups (:meth:`step_up`, from
    facepay.server._payments.step_ups)."""

    def __init__(
        self,
        context: BackendContext,
        *,
        sessions: CheckoutSessions,
        lockouts: Lockouts,
        cache: GalleryCache,
        answers: StoredAnswers,
        acquirer: Acquirer,
    ) -> None:
        super().__init__(context)
        self.sessions = sessions
        self.lockouts = lockouts
        self.cache = cache
        self.answers = answers
        self.matching = FaceMatching(context, cache=cache)
        self.payment_answers = PaymentAnswers(context, acquirer=acquirer)
        self.writer = AuthorizationWriter(context, sessions=sessions, lockouts=lockouts)
        self.learning = TemplateLearning(context)

    def authorize(
        self, device: AuthenticatedDevice, req: AuthorizeRequest, idempotency_key: str
    ) -> tuple[AuthorizationResponse, bool]:
        """Decide one payment; returns (answer, replayed).

        The request's nonce was recorded when it was authenticated, before this, so a
        captured request can never be played again, whatever its first outcome was."""
        request_hash = canonical_hash(req)
        try:
            return self._authorize(device, req, idempotency_key, request_hash)
        except ApiError as exc:
            if exc.code is ErrorCode.SESSION_USED:
                # A concurrent retry with the same key consumed the session first: its
                # committed answer is ours too.
                replay = self.answers.find("authorizations", device, idempotency_key, request_hash)
                if replay is not None:
                    return replay, True
            raise

    def _authorize(
        self,
        device: AuthenticatedDevice,
        req: AuthorizeRequest,
        idempotency_key: str,
        request_hash: str,
    ) -> tuple[AuthorizationResponse, bool]:
        claim_hash = (
            shoppers.claim_hash(self.vault, device.tenant_id, req.claim) if req.claim else None
        )
        subjects = [device_subject(device.device_id)]
        if claim_hash is not None:
            subjects.append(claim_subject(claim_hash))
        # Every read the decision needs in one statement (a round trip each cost more than
        # the read on PostgreSQL), outside a transaction: what must still hold at commit
        # is checked again by the write below (session unused, idempotency key unique).
        # Checked in this order: a retry learns its answer even when locked out now.
        paying_claim = claim_hash if req.liveness.decision == "live" else None
        with self.db.reads() as tx:
            inputs = repository.authorization_inputs(
                tx,
                tenant_id=device.tenant_id,
                idempotency_key=idempotency_key,
                lock_subjects=subjects,
                session_id=req.session_id,
                claim_hash=paying_claim,
                basket_reference=req.basket_reference,
            )
        replay = self.answers.replayed(inputs.stored_answer, device, request_hash)
        if replay is not None:
            return replay, True
        self.lockouts.refuse_if_locked(inputs.locked_until)
        self.sessions.refuse_unusable(device, inputs.session, SessionPurpose.PAY)
        # Before anything is opened, matched, charged or spent: a paid order is paid once.
        if inputs.paid_by is not None:
            raise order_already_paid(inputs.paid_by)
        claimed = inputs.payer
        probe = self.cache.open_sealed(device, req.session_id, req.sealed_template)

        now = self.clock()
        authorization_id = new_id("auth")
        face = self.matching.decide(
            device,
            probe,
            liveness=req.liveness,
            liveness_seed=inputs.liveness_seed,
            claim_hash=claim_hash,
            claimed=claimed,
            now=now,
        )
        shopper_id, match, details = face.shopper_id, face.match, face.details
        response, hold = self.payment_answers.answer(
            authorization_id=authorization_id,
            req_amount=req.amount_minor,
            currency=req.currency,
            basket=req.basket_reference,
            created=now,
            shopper_id=shopper_id,
            status=face.status,
            reason=face.reason,
            step_up=face.step_up,
            payer=claimed if claimed is not None and claimed.shopper_id == shopper_id else None,
        )
        details["decision"] = response.status.value
        details["decline_reason"] = response.decline_reason and response.decline_reason.value
        details["shopper_id"] = response.status is AuthorizationStatus.APPROVED and shopper_id
        paid = shopper_id if response.status is AuthorizationStatus.APPROVED else None
        candidates = face.candidates
        record = repository.AuthorizationRecord(
            authorization_id=authorization_id,
            tenant_id=device.tenant_id,
            device_id=device.device_id,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            session_id=req.session_id,
            amount_minor=req.amount_minor,
            currency=req.currency,
            basket_reference=req.basket_reference,
            status=response.status.value,
            decline_reason=response.decline_reason and response.decline_reason.value,
            shopper_id=paid,
            receipt_id=response.receipt_id,
            response_json=stored_answer(response),
            step_up_candidates=json.dumps(list(candidates)) if candidates else None,
            step_up_expires_at=now + self.config.step_up_ttl_s if candidates else None,
            created_at=now,
            updated_at=now,
        )
        # Counted against a claim, enrolled or not, unless the liveness was refused.
        live = face.reason is not DeclineReason.LIVENESS_FAILED
        try:
            try:
                # The acquirer's hold is captured once the approval committed, voided
                # if its write is refused (the order paid by another, the session spent,
                # the payer gone): a payment that loses a race leaves no money held.
                with self.payment_answers.settled_by(hold):
                    self.writer.write(
                        device,
                        record,
                        failure=face.failure,
                        claim_hash=claim_hash,
                        live=live,
                        paid=paid,
                        details=details,
                    )
            except PayerGoneError:
                # Deleted, withdrawn or expired through another worker while this payment
                # was decided: it is declined as if the face had not matched, and nothing
                # of the shopper (receipt, payment method, privacy code) is answered.
                response, record = _payer_gone(response, record, details)
                self.writer.write(
                    device,
                    record,
                    failure=False,
                    claim_hash=claim_hash,
                    live=live,
                    paid=None,
                    details=details,
                )
                return response, False
        except UniqueViolationError:
            # A concurrent request with the same key committed first: answer as it did.
            replay = self.answers.find("authorizations", device, idempotency_key, request_hash)
            if replay is not None:
                return replay, True
            # Or another approval of this order did (another till, lane or worker):
            # nothing of this one was written, its session is not spent.
            self.writer.refuse_if_paid(device.tenant_id, req.basket_reference)
            raise  # pragma: no cover - one of the two unique indexes refused the row
        if paid and match is not None and match.outcome is MatchOutcome.MATCH:
            # Approved on the face alone (a step-up answer never teaches the set).
            self.learning.after_approval(
                device,
                authorization_id,
                paid,
                probe,
                score=match.best_score,
                liveness=req.liveness,
                liveness_seed=inputs.liveness_seed,
            )
        return response, False


def _payer_gone(
    response: AuthorizationResponse,
    record: repository.AuthorizationRecord,
    details: dict[str, Any],
) -> tuple[AuthorizationResponse, repository.AuthorizationRecord]:
    """An approval whose payer went meanwhile, turned into the decline it now is."""
    declined = payer_gone_decline(response)
    # The audit line keeps no score of, nor a pointer to, the shopper who is gone.
    for name in ("best_score", "second_score", "candidates", "candidate_scores"):
        details.pop(name, None)
    details.update(
        decision=declined.status.value,
        decline_reason=DeclineReason.NO_MATCH.value,
        shopper_id=False,
        payer_gone=True,
    )
    rewritten = dataclasses.replace(
        record,
        status=declined.status.value,
        decline_reason=DeclineReason.NO_MATCH.value,
        shopper_id=None,
        receipt_id=None,
        response_json=stored_answer(declined),
    )
    return declined, rewritten

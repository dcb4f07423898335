"""Payments: one authorization decided and written to the ledger, and the step-up that
finishes one left open.

``authorize`` reads what it decides on at once (facepay.server._repository:
``authorization_inputs``): a stored answer under the Idempotency-Key is replayed
(facepay.server._answers); a locked subject or an unusable session is refused
(facepay.server._lockouts, facepay.server._sessions); the sealed probe is opened into the
tenant's space (facepay.server._galleries); liveness and the match decide
(facepay.server._decision, facepay.server._gallery), with a grey zone that asks the one
candidate's PIN; the acquirer charges; then the ledger row, the session spent, the
payer's last use and the audit line are one transaction (one statement on PostgreSQL).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from datetime import datetime, timezone
from typing import Any, Protocol

from facepay.crypto import open_step_up_pin
from facepay.errors import SealedDataError
from facepay.server import _decision as decision
from facepay.server import _pins as pins
from facepay.server import _repository as repository
from facepay.server import _shoppers as shoppers
from facepay.server import _templates as templates
from facepay.server._answers import StoredAnswers
from facepay.server._devices import AuthenticatedDevice
from facepay.server._errors import ApiError
from facepay.server._galleries import GalleryCache
from facepay.server._gallery import Gallery, MatchOutcome, MatchResult
from facepay.server._lockouts import Lockouts
from facepay.server._part import BackendContext, BackendPart
from facepay.server._sessions import CheckoutSessions
from facepay.server._storage import UniqueViolationError
from facepay.types import FaceTemplate
from facepay.wire import (
    AuthorizationResponse,
    AuthorizationStatus,
    AuthorizeRequest,
    DeclineReason,
    ErrorCode,
    SessionPurpose,
    StepUp,
    StepUpKind,
    StepUpRequest,
    b64decode,
)

__all__ = ["Acquirer", "Payments"]

logger = logging.getLogger(__name__)


class Acquirer(Protocol):
    """Who charges the shopper's payment token once the face matched."""

    def approves(self, payment_token: str) -> bool: ...


def _iso(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def _canonical_hash(model: Any) -> str:
    data = model.model_dump(mode="json")
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _stored_answer(response: AuthorizationResponse) -> str:
    """An answer as stored for replays: without the privacy code, a secret that lets
    anyone with the claim read or erase the shopper's data. A replay puts it back from
    the shopper's wrapped copy (facepay.server._answers), so it goes when the shopper is
    deleted."""
    return response.model_copy(update={"privacy_code": None}).model_dump_json()


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class Payments(BackendPart):
    """Authorizations and step-ups."""

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
        self.acquirer = acquirer

    def authorize(
        self, device: AuthenticatedDevice, req: AuthorizeRequest, idempotency_key: str
    ) -> tuple[AuthorizationResponse, bool]:
        """Decide one payment; returns (answer, replayed).

        The request's nonce was recorded when it was authenticated, before this, so a
        captured request can never be played again, whatever its first outcome was."""
        request_hash = _canonical_hash(req)
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
        subjects = [f"device:{device.device_id}"]
        if claim_hash is not None:
            subjects.append(f"claim:{claim_hash}")
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
            )
        replay = self.answers.replayed(inputs.stored_answer, device, request_hash)
        if replay is not None:
            return replay, True
        self.lockouts.refuse_if_locked(inputs.locked_until)
        self.sessions.refuse_unusable(device, inputs.session, SessionPurpose.PAY)
        liveness_seed = inputs.liveness_seed
        claimed = inputs.payer
        probe = self.cache.open_sealed(device, req.session_id, req.sealed_template)

        now = self.clock()
        authorization_id = _new_id("auth")
        status = AuthorizationStatus.DECLINED
        reason: DeclineReason | None = None
        shopper_id: str | None = None
        step_up: StepUp | None = None
        match: MatchResult | None = None
        failure = False
        details: dict[str, Any] = {
            "threshold": self.config.match_threshold,
            "margin": self.config.match_margin,
            "claim": claim_hash is not None,
            "liveness": req.liveness.decision,
            "model_id": probe.model_id,
        }
        gallery = self.galleries.get(device.tenant_id, probe.model_id)
        liveness_refused = decision.liveness_refusal(
            decision=req.liveness.decision,
            challenges=req.liveness.challenges,
            evidence=req.liveness.evidence,
            seed=liveness_seed,
            sandbox=decision.is_sandbox_tenant(self.config.sandbox_tenants, device.tenant_id),
        )
        if liveness_refused is not None:
            details["liveness_refused"] = liveness_refused
            reason, failure = DeclineReason.LIVENESS_FAILED, True
        elif claim_hash is not None:
            if claimed is not None and (
                gallery is None or gallery.version(claimed.shopper_id) != claimed.template_version
            ):
                # Enrolled (or its set updated) through another worker or replica after
                # this one loaded it: the database is the truth, the gallery a cache.
                self.cache.load(claimed.stored_template(device.tenant_id))
                gallery = self.galleries.get(device.tenant_id, probe.model_id)
            if gallery is None or claimed is None:
                match = MatchResult(outcome=MatchOutcome.NO_MATCH)
            else:
                match = gallery.verify(
                    probe.vector,
                    [claimed.shopper_id],
                    threshold=self.config.match_threshold,
                    margin=self.config.match_margin,
                )
        else:
            self.cache.sync(device.tenant_id)
            gallery = self.galleries.get(device.tenant_id, probe.model_id)
            size = len(gallery) if gallery is not None else 0
            details["gallery_size"] = size
            # Every view is a comparison that could falsely match: the risk counts views.
            rows = gallery.row_count if gallery is not None else 0
            expected_false_accepts = rows * self.config.false_match_rate
            details["expected_false_accepts"] = expected_false_accepts
            if expected_false_accepts > self.config.risk_budget:
                match = MatchResult(outcome=MatchOutcome.OVER_BUDGET, gallery_size=size)
            elif gallery is None:
                match = MatchResult(outcome=MatchOutcome.NO_MATCH)
            else:
                match = gallery.search(
                    probe.vector,
                    threshold=self.config.match_threshold,
                    margin=self.config.match_margin,
                )
        candidates: tuple[str, ...] = ()
        grey: str | None = None
        if match is not None and match.outcome is MatchOutcome.NO_MATCH and gallery is not None:
            grey = self._grey_zone_candidate(
                probe, gallery, match, None if claimed is None else claimed.shopper_id
            )
            details["grey_zone_pin"] = grey is not None
        if match is not None:
            details.update(
                outcome=match.outcome.value,
                best_score=None if match.best_score is None else round(match.best_score, 4),
                second_score=None if match.second_score is None else round(match.second_score, 4),
                candidates=list(match.candidates),
                candidate_scores=[round(s, 4) for s in match.candidate_scores],
                # Scores below this are upper bounds from the pruned 1:N search, not
                # exact scores (None: every score above is exact).
                scores_exact_above=None
                if match.exact_above is None
                else round(match.exact_above, 4),
            )
            if match.outcome is MatchOutcome.MATCH:
                shopper_id = match.shopper_id
            elif match.outcome is MatchOutcome.NO_MATCH and grey is not None:
                # Just short of the match, one candidate, who set a PIN: ask for it.
                status = AuthorizationStatus.STEP_UP
                candidates = (grey,)
                step_up = StepUp(
                    kind=StepUpKind.PIN, expires_at=_iso(now + self.config.step_up_ttl_s)
                )
            elif match.outcome is MatchOutcome.NO_MATCH:
                reason, failure = DeclineReason.NO_MATCH, True
            elif match.outcome is MatchOutcome.OVER_BUDGET:
                status = AuthorizationStatus.STEP_UP
                step_up = StepUp(kind=StepUpKind.CLAIM)
            else:
                status = AuthorizationStatus.STEP_UP
                candidates = match.candidates
                step_up = StepUp(
                    kind=StepUpKind.PHONE_LAST4, expires_at=_iso(now + self.config.step_up_ttl_s)
                )
        response = self._answer(
            authorization_id=authorization_id,
            req_amount=req.amount_minor,
            currency=req.currency,
            basket=req.basket_reference,
            created=now,
            shopper_id=shopper_id,
            status=status,
            reason=reason,
            step_up=step_up,
            payer=claimed if claimed is not None and claimed.shopper_id == shopper_id else None,
        )
        details["decision"] = response.status.value
        details["decline_reason"] = response.decline_reason and response.decline_reason.value
        details["shopper_id"] = response.status is AuthorizationStatus.APPROVED and shopper_id
        paid = shopper_id if response.status is AuthorizationStatus.APPROVED else None
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
            response_json=_stored_answer(response),
            step_up_candidates=json.dumps(list(candidates)) if candidates else None,
            step_up_expires_at=now + self.config.step_up_ttl_s if candidates else None,
            created_at=now,
            updated_at=now,
        )
        try:
            if self.db.dialect == "postgres" and not failure:
                self._commit_in_one_statement(record, paid, details)
            else:
                with self.db.transaction() as tx:
                    repository.insert_authorization(tx, record)
                    self.sessions.spend(tx, req.session_id)
                    if failure:
                        self.lockouts.record_failure(
                            tx, f"device:{device.device_id}", self.config.device_lockout_s
                        )
                        if decision.counts_against_claim(
                            claimed=claim_hash is not None,
                            face_compared=match is not None and match.best_score is not None,
                        ):
                            self.lockouts.record_failure(
                                tx, f"claim:{claim_hash}", self.config.shopper_lockout_s
                            )
                    if paid:
                        repository.mark_used(tx, paid, now)
                    self._audit(
                        tx,
                        device.tenant_id,
                        device.device_id,
                        "authorization",
                        authorization_id,
                        details,
                    )
        except UniqueViolationError:
            # A concurrent request with the same key committed first: answer as it did.
            replay = self.answers.find("authorizations", device, idempotency_key, request_hash)
            if replay is None:  # pragma: no cover - the unique index says it exists
                raise
            return replay, True
        if paid and match is not None and match.outcome is MatchOutcome.MATCH:
            # Approved on the face alone (a step-up answer never teaches the set).
            self._learn_from_payment(
                device,
                authorization_id,
                paid,
                probe,
                score=match.best_score,
                strong_liveness=decision.liveness_refusal(
                    decision=req.liveness.decision,
                    challenges=req.liveness.challenges,
                    evidence=req.liveness.evidence,
                    seed=liveness_seed,
                    sandbox=False,
                )
                is None,
            )
        return response, False

    def _grey_zone_candidate(
        self,
        probe: FaceTemplate,
        gallery: Gallery,
        match: MatchResult,
        claimed_id: str | None,
    ) -> str | None:
        """The one shopper whose PIN may stand in for a face just short of the match
        (docs/security.md, "Attacks tried: the second factor"), or None: a plain decline.

        ``match`` is the NO_MATCH at ``match_threshold``; its best score is exact or an
        upper bound, so a best under ``grey_threshold`` ends it here. Claimless, the
        search runs again at ``grey_threshold`` for the exact best and second."""
        config = self.config
        if match.best_score is None or match.best_score < config.grey_threshold:
            return None
        candidate: str
        best: float | None
        second: float | None
        if claimed_id is not None:
            candidate, best, second = claimed_id, match.best_score, None
        else:
            near = gallery.search(
                probe.vector, threshold=config.grey_threshold, margin=config.match_margin
            )
            if near.outcome is not MatchOutcome.MATCH or near.shopper_id is None:
                return None
            candidate, best, second = near.shopper_id, near.best_score, near.second_score
        if not decision.in_grey_zone(
            best_score=best,
            second_score=second,
            match_threshold=config.match_threshold,
            grey_threshold=config.grey_threshold,
            margin=config.match_margin,
        ):
            return None
        with self.db.transaction(readonly=True) as tx:
            usable = pins.has_usable_pin(tx, candidate, config.pin_failures)
        return candidate if usable else None

    def _learn_from_payment(
        self,
        device: AuthenticatedDevice,
        authorization_id: str,
        shopper_id: str,
        probe: FaceTemplate,
        *,
        score: float | None,
        strong_liveness: bool,
    ) -> None:
        """After an approval has committed: fold its template into the shopper's set if
        the rules of :mod:`facepay.server._templates` allow, in one transaction that
        rewrites the set only if nobody else did since it was read (then every other
        process's gallery reloads it by its version). Never fails the payment."""
        policy = self._adaptive_policy
        if not templates.may_adapt(
            approved_on_face=True,
            live=True,
            strong_liveness=strong_liveness,
            score=score,
            policy=policy,
        ):
            return
        now = self.clock()
        try:
            # Read and decide outside any write transaction: most approvals stop at the
            # interval; the write below checks the version it read.
            with self.db.transaction(readonly=True) as tx:
                stored = repository.templates_of(tx, shopper_id)
            if stored is None or now - stored.updated_at < self.config.adaptive_interval_s:
                return
            opened = self.vault.decrypt_templates(
                stored.template_sealed,
                stored.data_key_wrapped,
                shopper_id=shopper_id,
                tenant_id=stored.tenant_id,
            )
            if opened.model_id != probe.model_id:
                return
            outcome = templates.adapt(opened.templates, probe.vector, policy)
            written = False
            with self.db.transaction() as tx:
                if outcome.verdict.changed:
                    sealed, wrapped = self.vault.encrypt_templates(
                        outcome.templates,
                        model_id=opened.model_id,
                        shopper_id=shopper_id,
                        tenant_id=stored.tenant_id,
                    )
                    written = repository.replace_templates(
                        tx,
                        shopper_id,
                        version=stored.version,
                        template_sealed=sealed,
                        data_key_wrapped=wrapped,
                        now=now,
                    )
                    if not written:
                        return  # rewritten or deleted meanwhile: this payment teaches nothing
                self._audit(
                    tx,
                    device.tenant_id,
                    device.device_id,
                    "templates_adapted" if written else "templates_not_adapted",
                    shopper_id,
                    {
                        "authorization_id": authorization_id,
                        "verdict": outcome.verdict.value,
                        "slot": outcome.slot,
                        "views": len(outcome.templates),
                        "updates": list(outcome.templates.updates),
                        "anchor_score": round(outcome.anchor_score, 4),
                    },
                )
        except Exception:
            # The payment stands whatever happens here; the set stays as it was.
            logger.exception("adaptive update after %s failed; set unchanged", authorization_id)
            return
        if written:
            gallery = self.galleries.get(device.tenant_id, probe.model_id)
            if gallery is not None:
                gallery.add(shopper_id, outcome.templates.views, version=stored.version + 1)

    @property
    def _adaptive_policy(self) -> templates.AdaptivePolicy:
        return templates.AdaptivePolicy(
            adaptive_threshold=self.config.adaptive_threshold,
            anchor_threshold=self.config.match_threshold,
            slots=self.config.adaptive_slots,
        )

    def _commit_in_one_statement(
        self,
        record: repository.AuthorizationRecord,
        paid: str | None,
        details: dict[str, Any],
    ) -> None:
        """PostgreSQL: the writes of a fresh authorization that records no failure (the
        authorization, the session spent, the payer's last use, the audit line) as one
        statement: the transaction of the SQLite path in one round trip instead of
        several; nothing is written unless the session was still unused and unexpired."""
        with self.db.reads() as tx:
            # autocommit: the statement is its own transaction
            committed = repository.commit_authorization_in_one_statement(
                tx, record, now=self.clock(), paid=paid, details=details
            )
        if not committed:
            raise ApiError(ErrorCode.SESSION_USED, "this session was already used or expired")

    def _answer(
        self,
        *,
        authorization_id: str,
        req_amount: int,
        currency: str,
        basket: str,
        created: float,
        shopper_id: str | None,
        status: AuthorizationStatus,
        reason: DeclineReason | None,
        step_up: StepUp | None,
        payer: repository.PayerRow | None = None,
    ) -> AuthorizationResponse:
        """The answer for ``shopper_id`` (matched): ``payer`` is its row as
        :meth:`_authorize` reads it for a claim, when the caller already has it."""
        receipt_id = masked = privacy_code = None
        if shopper_id is not None:
            if payer is None:
                # The gallery is a cache: a shopper deleted through another replica can
                # still be in it, so the row decides.
                with self.db.transaction(readonly=True) as tx:
                    payer = repository.payer(tx, shopper_id)
            if payer is None or payer.consent_withdrawn_at is not None:
                status, reason = AuthorizationStatus.DECLINED, DeclineReason.NO_MATCH
            elif not self.acquirer.approves(str(payer.payment_token)):
                status, reason = AuthorizationStatus.DECLINED, DeclineReason.PAYMENT_METHOD_DECLINED
            else:
                status = AuthorizationStatus.APPROVED
                receipt_id = _new_id("rcpt")
                masked = payer.masked_payment_method
                privacy_code = self.vault.unwrap_secret(
                    payer.privacy_code_wrapped or b"", purpose="privacy-code"
                ).decode()
        return AuthorizationResponse(
            authorization_id=authorization_id,
            status=status,
            amount_minor=req_amount,
            currency=currency,
            basket_reference=basket,
            created_at=_iso(created),
            receipt_id=receipt_id,
            masked_payment_method=masked,
            privacy_code=privacy_code,
            decline_reason=reason if status is AuthorizationStatus.DECLINED else None,
            step_up=step_up if status is AuthorizationStatus.STEP_UP else None,
        )

    def step_up(
        self,
        device: AuthenticatedDevice,
        authorization_id: str,
        req: StepUpRequest,
        idempotency_key: str,
    ) -> AuthorizationResponse:
        request_hash = _canonical_hash(req) + ":" + authorization_id
        replay = self.answers.find("step_up_answers", device, idempotency_key, request_hash)
        if replay is not None:
            return replay
        self.lockouts.check([f"device:{device.device_id}"])
        with self.db.transaction(readonly=True) as tx:
            row = repository.authorization_for_step_up(tx, authorization_id, device.tenant_id)
        if row is None or row.device_id != device.device_id:
            raise ApiError(ErrorCode.NOT_FOUND, "no such authorization for this device")
        if row.status != AuthorizationStatus.STEP_UP.value or not row.candidates_json:
            raise ApiError(ErrorCode.STEP_UP_NOT_PENDING, "this authorization awaits no step-up")
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
        response = self._answer(
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
            with self.db.transaction() as tx:
                answered = repository.answer_step_up(
                    tx,
                    authorization_id,
                    status=response.status.value,
                    decline_reason=response.decline_reason and response.decline_reason.value,
                    shopper_id=shopper_id
                    if response.status is AuthorizationStatus.APPROVED
                    else None,
                    receipt_id=response.receipt_id,
                    response_json=_stored_answer(response),
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
                    response_json=_stored_answer(response),
                    now=now,
                )
                if pin_right:
                    pins.reset_failures(tx, candidates[0])
                if shopper_id is None:
                    self.lockouts.record_failure(
                        tx, f"device:{device.device_id}", self.config.device_lockout_s
                    )
                elif response.status is AuthorizationStatus.APPROVED:
                    repository.mark_used(tx, shopper_id, now)
                details: dict[str, Any] = {
                    "candidates": candidates,
                    "matching": len(matching),
                    "decision": response.status.value,
                }
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
        except UniqueViolationError:
            replay = self.answers.find("step_up_answers", device, idempotency_key, request_hash)
            if replay is None:  # pragma: no cover
                raise
            return replay
        return response

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
        try:
            pin = open_step_up_pin(
                b64decode(sealed_pin), self.vault.keyring, authorization_id=authorization_id
            )
        except (SealedDataError, ValueError):
            raise ApiError(
                ErrorCode.VALIDATION_FAILED,
                "the sealed PIN could not be opened",
                fields=("sealed_pin",),
            ) from None
        if len(candidates) != 1:
            return None, False
        with self.db.transaction() as tx:
            stored = pins.reserve_try(tx, candidates[0], self.config.pin_failures)
        if stored is None:
            return None, False
        return stored.failures, pins.pin_matches(self.vault, stored, candidates[0], pin)

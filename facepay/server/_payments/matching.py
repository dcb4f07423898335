"""What liveness and the face decide about a payment, before the payer and the acquirer
have their say: a match, a decline, or a step-up (the phone's last digits among close
candidates, a claim over the risk budget, or the PIN of the one candidate just short of
the match)."""

from __future__ import annotations

import dataclasses
from typing import Any

from facepay.server import _decision as decision
from facepay.server import _pins as pins
from facepay.server import _repository as repository
from facepay.server._devices import AuthenticatedDevice
from facepay.server._galleries import GalleryCache
from facepay.server._gallery import Gallery, MatchOutcome, MatchResult
from facepay.server._part import BackendContext, BackendPart
from facepay.server._payments.answer import iso
from facepay.types import FaceTemplate
from facepay.wire import (
    AuthorizationStatus,
    DeclineReason,
    LivenessSummary,
    StepUp,
    StepUpKind,
)

__all__ = ["FaceDecision", "FaceMatching"]


@dataclasses.dataclass(slots=True)
class FaceDecision:
    """The face's verdict on one authorization.

    ``shopper_id`` is the matched shopper (who still has to be able to pay);
    ``candidates`` are whom a step-up may name; ``failure`` counts against the device
    (and, if a face was compared, the claim); ``details`` start the audit line."""

    status: AuthorizationStatus
    reason: DeclineReason | None
    shopper_id: str | None
    step_up: StepUp | None
    candidates: tuple[str, ...]
    match: MatchResult | None
    failure: bool
    details: dict[str, Any]


class FaceMatching(BackendPart):
    """Decides liveness and the match against this process's galleries."""

    def __init__(self, context: BackendContext, *, cache: GalleryCache) -> None:
        super().__init__(context)
        self.cache = cache

    def decide(
        self,
        device: AuthenticatedDevice,
        probe: FaceTemplate,
        *,
        liveness: LivenessSummary,
        liveness_seed: bytes,
        claim_hash: str | None,
        claimed: repository.PayerRow | None,
        now: float,
    ) -> FaceDecision:
        """``claimed`` is the shopper holding ``claim_hash`` (None: no claim, or nobody
        enrolled under it, or liveness was not ``live`` so the claim was not read)."""
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
            "liveness": liveness.decision,
            "model_id": probe.model_id,
        }
        gallery = self.galleries.get(device.tenant_id, probe.model_id)
        liveness_refused = decision.liveness_refusal(
            decision=liveness.decision,
            challenges=liveness.challenges,
            evidence=liveness.evidence,
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
                    best_view_weight=self.config.best_view_weight,
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
                    best_view_weight=self.config.best_view_weight,
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
                    kind=StepUpKind.PIN, expires_at=iso(now + self.config.step_up_ttl_s)
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
                    kind=StepUpKind.PHONE_LAST4, expires_at=iso(now + self.config.step_up_ttl_s)
                )
        return FaceDecision(
            status=status,
            reason=reason,
            shopper_id=shopper_id,
            step_up=step_up,
            candidates=candidates,
            match=match,
            failure=failure,
            details=details,
        )

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
                probe.vector,
                threshold=config.grey_threshold,
                margin=config.match_margin,
                best_view_weight=config.best_view_weight,
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

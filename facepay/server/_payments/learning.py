"""After an approval on the face alone: the shopper's template set may learn from the
payment's template (the rules are facepay.server._templates'). A step-up answer never
teaches the set, and nothing here can fail the payment, which has committed already."""

from __future__ import annotations

import logging

from facepay.server import _decision as decision
from facepay.server import _repository as repository
from facepay.server import _templates as templates
from facepay.server._devices import AuthenticatedDevice
from facepay.server._part import BackendPart
from facepay.types import FaceTemplate
from facepay.wire import LivenessSummary

__all__ = ["TemplateLearning"]

logger = logging.getLogger(__name__)


class TemplateLearning(BackendPart):
    """Folds an approved payment's template into the payer's set."""

    def after_approval(
        self,
        device: AuthenticatedDevice,
        authorization_id: str,
        shopper_id: str,
        probe: FaceTemplate,
        *,
        score: float | None,
        liveness: LivenessSummary,
        liveness_seed: bytes,
    ) -> None:
        """Fold the payment's template into the shopper's set if the rules of
        :mod:`facepay.server._templates` allow, in one transaction that rewrites the set
        only if nobody else did since it was read (then every other process's gallery
        reloads it by its version). Never fails the payment.

        Strong liveness is judged by the production check whatever the tenant (a sandbox
        tenant's exemption does not count)."""
        strong_liveness = (
            decision.liveness_refusal(
                decision=liveness.decision,
                challenges=liveness.challenges,
                evidence=liveness.evidence,
                seed=liveness_seed,
                sandbox=False,
            )
            is None
        )
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

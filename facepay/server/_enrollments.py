"""Enrollment: a shopper's face, claim, payment token and consent become one stored
enrollment, or nothing is stored.

The session is spent first, whatever happens next. A claim that is already enrolled
gets the answer a new claim gets (nothing stored), so a till cannot probe which phone
numbers are enrolled; only the holder's own face learns ``409 claim_already_enrolled``.
The views the till sends become the shopper's template set (facepay.server._templates),
sealed at rest with its own data key (facepay.server._vault); an optional PIN is stored
stretched (facepay.server._pins).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone

from facepay.crypto import open_enrollment_pin, pin_refusal
from facepay.errors import CryptoError
from facepay.server import _pins as pins
from facepay.server import _repository as repository
from facepay.server import _shoppers as shoppers
from facepay.server import _templates as templates
from facepay.server._devices import AuthenticatedDevice
from facepay.server._errors import ApiError
from facepay.server._galleries import GalleryCache
from facepay.server._part import BackendContext, BackendPart
from facepay.server._sessions import CheckoutSessions
from facepay.server._storage import UniqueViolationError
from facepay.types import FaceTemplate
from facepay.wire import (
    SANDBOX_PAYMENT_TOKENS,
    ClaimKind,
    EnrollmentRequest,
    EnrollmentResponse,
    ErrorCode,
    SessionPurpose,
)

__all__ = ["Enrollments"]

_PRIVACY_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


def _iso(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class Enrollments(BackendPart):
    """Enrolls shoppers into the database and this process's gallery."""

    def __init__(
        self, context: BackendContext, *, sessions: CheckoutSessions, cache: GalleryCache
    ) -> None:
        super().__init__(context)
        self.sessions = sessions
        self.cache = cache

    def enroll(self, device: AuthenticatedDevice, req: EnrollmentRequest) -> EnrollmentResponse:
        """Enroll a shopper. The session is spent first, whatever happens next, and a
        claim that is already enrolled gets the answer a new claim gets (nothing is
        stored): a till cannot probe which phone numbers are enrolled, one per session
        or otherwise. Only a face that matches the enrolled one learns ``409
        claim_already_enrolled`` (the shopper retrying after a lost answer)."""
        self.sessions.check(device, req.session_id, SessionPurpose.ENROLL)
        with self.db.transaction() as tx:
            self.sessions.spend(tx, req.session_id)
        masked = SANDBOX_PAYMENT_TOKENS.get(req.payment_method_token)
        if masked is None:
            raise ApiError(
                ErrorCode.UNKNOWN_PAYMENT_TOKEN,
                "unknown payment method token (sandbox: tok_visa_4242, tok_mastercard_5555, ...)",
                fields=("payment_method_token",),
            )
        template = self.cache.open_sealed(device, req.session_id, req.sealed_template)
        views, dropped = self._views(device, req, template)
        now = self.clock()
        shopper_id = _new_id("shp")
        pin_hash = self._pin(req, shopper_id)
        raw_code = "".join(secrets.choice(_PRIVACY_ALPHABET) for _ in range(12))
        privacy_code = f"{raw_code[:4]}-{raw_code[4:8]}-{raw_code[8:]}"
        sealed, wrapped = self.vault.encrypt_templates(
            views, model_id=template.model_id, shopper_id=shopper_id, tenant_id=device.tenant_id
        )
        last4 = req.claim.value[-4:] if req.claim.kind is ClaimKind.PHONE else None
        consent = req.consent
        # The shorter of what the shopper agreed to and what the operator keeps.
        retention_days = min(consent.retention_days, self.config.retention_days)
        claim_hash = shoppers.claim_hash(self.vault, device.tenant_id, req.claim)
        existing: repository.ClaimHolder | None = None
        try:
            with self.db.transaction() as tx:
                existing = repository.claim_holder(tx, device.tenant_id, claim_hash)
                if existing is not None:
                    raise UniqueViolationError("claim already enrolled")
                pinned = repository.pin_template_model(
                    tx, device.tenant_id, template.model_id, template.dimension, now
                )
                if pinned != template.dimension:
                    raise ApiError(ErrorCode.TEMPLATE_INVALID, "template has the wrong dimension")
                repository.insert_shopper(
                    tx,
                    repository.NewShopper(
                        shopper_id=shopper_id,
                        tenant_id=device.tenant_id,
                        claim_kind=req.claim.kind.value,
                        claim_hash=claim_hash,
                        claim_last4=last4,
                        privacy_code_hash=shoppers.privacy_hash(self.vault, privacy_code),
                        privacy_code_wrapped=self.vault.wrap_secret(
                            privacy_code.encode(), purpose="privacy-code"
                        ),
                        payment_token=req.payment_method_token,
                        masked_payment_method=masked,
                        consent_json=consent.model_dump_json(),
                        consent_received_at=now,
                        retention_days=retention_days,
                        enrolled_at=now,
                        last_used_at=now,
                        model_id=template.model_id,
                        template_dim=template.dimension,
                        data_key_wrapped=wrapped,
                        template_sealed=sealed,
                        enrolled_by_device=device.device_id,
                        template_updated_at=now,
                    ),
                )
                if pin_hash is not None:
                    pins.store_pin(
                        tx,
                        shopper_id=shopper_id,
                        tenant_id=device.tenant_id,
                        salt=pin_hash[0],
                        pin_hash=pin_hash[1],
                        now=now,
                    )
                self._audit(
                    tx,
                    device.tenant_id,
                    device.device_id,
                    "enrolled",
                    shopper_id,
                    {
                        "pin_set": pin_hash is not None,
                        "model_id": template.model_id,
                        "frames_fused": template.frames_fused,
                        "views": len(views),
                        "views_dropped": dropped,
                        "consent_text_version": consent.text_version,
                        "retention_days": retention_days,
                    },
                )
        except UniqueViolationError:
            self._claim_taken(device, claim_hash, existing, template)
        else:
            gallery = self.galleries.get(device.tenant_id, template.model_id, template.dimension)
            assert gallery is not None
            gallery.add(shopper_id, views.views, version=1)
        return EnrollmentResponse(
            shopper_id=shopper_id,
            privacy_code=privacy_code,
            masked_payment_method=masked,
            enrolled_at=_iso(now),
            retention_days=retention_days,
        )

    def _pin(self, req: EnrollmentRequest, shopper_id: str) -> tuple[bytes, bytes] | None:
        """(salt, stored hash) of the PIN sealed in ``req``, or None without one; 422 for
        a PIN that cannot be opened or may not be set (a till that skipped the check)."""
        if req.sealed_pin is None:
            return None
        pin = pins.opened_pin(
            req.sealed_pin,
            lambda blob: open_enrollment_pin(blob, self.vault.keyring, session_id=req.session_id),
        )
        if pin_refusal(pin) is not None:
            raise ApiError(
                ErrorCode.VALIDATION_FAILED,
                "this PIN cannot be used (0000, 1234, 1212 and the like are refused)",
                fields=("sealed_pin",),
            )
        return pins.stretched_pin(self.vault, shopper_id, pin)

    def _views(
        self, device: AuthenticatedDevice, req: EnrollmentRequest, primary: FaceTemplate
    ) -> tuple[templates.TemplateSet, int]:
        """The enrollment's template set: the primary view and the till's other views
        (each sealed to the session like it, of the same model), keeping only views that
        match the primary at the payment threshold; returns (set, views dropped)."""
        others = [
            self.cache.open_sealed(device, req.session_id, sealed) for sealed in req.more_views
        ]
        if any(o.model_id != primary.model_id for o in others):
            raise ApiError(ErrorCode.TEMPLATE_INVALID, "every view must be of one model")
        return templates.enrollment_set(
            [primary.vector, *(o.vector for o in others)],
            agreement=self.config.match_threshold,
        )

    def _claim_taken(
        self,
        device: AuthenticatedDevice,
        claim_hash: str,
        holder: repository.ClaimHolder | None,
        template: FaceTemplate,
    ) -> None:
        """An enrollment under a claim someone holds: audited, nothing stored. Raises 409
        only for the holder's own face; returns (the caller answers as for a new claim)
        for any other."""
        with self.db.transaction(readonly=True) as tx:
            holder = holder or repository.claim_holder(tx, device.tenant_id, claim_hash)
        same_face = False
        if holder is not None and holder.template_sealed is not None:
            try:
                stored = self.vault.decrypt_templates(
                    holder.template_sealed,
                    holder.data_key_wrapped or b"",
                    shopper_id=holder.shopper_id,
                    tenant_id=device.tenant_id,
                )
            except CryptoError:
                stored = None
            # The holder's face by the rule a payment uses (the set score).
            same_face = (
                stored is not None
                and templates.score_set(
                    stored.templates, template.vector, self.config.best_view_weight
                )
                >= self.config.match_threshold
            )
        with self.db.transaction() as tx:
            self._audit(
                tx,
                device.tenant_id,
                device.device_id,
                "enrollment_refused",
                None if holder is None else holder.shopper_id,
                {"reason": "claim_already_enrolled", "same_face": same_face},
            )
        if same_face:
            raise ApiError(ErrorCode.CLAIM_ALREADY_ENROLLED, "this claim is already enrolled")

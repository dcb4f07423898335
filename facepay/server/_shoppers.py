"""A shopper's rights over their enrollment: export, withdraw consent, delete.

No device signs these: the shopper proves who they are with the privacy code they were
given at enrollment and the claim (phone number, ...) they enrolled under. Requests are
limited per source in the database (every worker and replica counts together); nothing
is counted against the code or the claim, so nobody who knows a shopper's phone number
can lock them out of their rights. A template is crypto-shredded (its wrapped data key
and ciphertext dropped) and leaves every process's gallery at its next search.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from datetime import datetime, timezone

from facepay.server import _decision as decision
from facepay.server import _pins as pins
from facepay.server import _repository as repository
from facepay.server._errors import ApiError
from facepay.server._lockouts import claim_subject
from facepay.server._part import BackendPart
from facepay.server._storage import Transaction
from facepay.server._vault import Vault
from facepay.wire import (
    AuthorizationStatus,
    Claim,
    ClaimKind,
    ConsentRecord,
    DeletionReceipt,
    ErrorCode,
    ShopperAccessRequest,
    ShopperAuthorizationSummary,
    ShopperExport,
    WithdrawConsentResponse,
)

__all__ = [
    "ShopperRights",
    "ShopperRightsCalls",
    "claim_hash",
    "privacy_hash",
    "rights_source",
    "shred_enrollment",
]

# What a deletion erases, as its receipt lists it.
_ERASED = (
    "template_data_key",
    "template",
    "claim",
    "privacy_code",
    "payment_method",
    "consent_record",
)


def _iso(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def claim_hash(vault: Vault, tenant_id: str, claim: Claim) -> str:
    """The keyed hash a claim is stored and looked up under (never the claim itself)."""
    return vault.keyed_hash("claim", f"{tenant_id}\x00{claim.kind.value}\x00{claim.value}")


def privacy_hash(vault: Vault, code: str) -> str:
    """The keyed hash of a privacy code, as typed: dashes, spaces and the letters
    Crockford base32 reads as digits (O, I, L) do not matter."""
    normalized = code.upper().replace("-", "").replace(" ", "")
    normalized = normalized.replace("O", "0").replace("I", "1").replace("L", "1")
    return vault.keyed_hash("privacy", normalized)


def rights_source(address: str) -> str:
    """The subject a shopper-rights caller's budget is counted under: its IPv4 address,
    or the /64 network of an IPv6 one. One home line or phone gets a whole /64 (2^64
    addresses), so counting each address would give a guesser a fresh budget per call
    and the database a counter row per call. An IPv4-mapped address counts as the IPv4
    one; anything that is no address (a test's made-up source) counts as given."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def shred_enrollment(tx: Transaction, shopper_id: str, now: float) -> None:
    """Destroy what stands for the shopper's face, inside ``tx``: the template set is
    crypto-shredded (its wrapped data key and ciphertext dropped). The one place for it:
    withdrawal, deletion, the retention sweep and the facade all call this, so whatever
    else must go with the template goes here."""
    repository.shred_template(tx, shopper_id, now)
    # The PIN only ever stood in for this template's face: it goes with it.
    pins.erase_pin(tx, shopper_id)


class ShopperRights(BackendPart):
    """Export, withdrawal and deletion, each after :meth:`access`."""

    def for_source(self, source: str) -> ShopperRightsCalls:
        """The operations for callers from ``source`` (the peer address)."""
        return ShopperRightsCalls(self, source)

    def access(
        self, req: ShopperAccessRequest, source: str = "unknown"
    ) -> repository.ShopperRecord:
        """The shopper a privacy code and claim name, or 403.

        Unauthenticated, so limited per source: ``shopper_rights_per_source`` requests
        per ``shopper_rights_window_s``, then 429 until the window ends. A correct pair
        from any other source always works (a 12-character, 60-bit code makes guessing
        hopeless at this rate)."""
        now = self.clock()
        window = self.config.shopper_rights_window_s
        with self.db.transaction() as tx:
            count = repository.count_request(
                tx, f"rights-source:{rights_source(source)}", now, window
            )
        if not decision.within_limit(count.requests, self.config.shopper_rights_per_source):
            raise ApiError(
                ErrorCode.RATE_LIMITED,
                "too many requests",
                retry_after=round(max(0.0, count.window_start + window - now), 1),
            )
        with self.db.transaction(readonly=True) as tx:
            shopper = repository.shopper_by_privacy_code(
                tx, privacy_hash(self.vault, req.privacy_code)
            )
        ok = shopper is not None and hmac.compare_digest(
            shopper.claim_hash or "", claim_hash(self.vault, shopper.tenant_id, req.claim)
        )
        if not ok or shopper is None:
            raise ApiError(
                ErrorCode.SHOPPER_ACCESS_DENIED, "privacy code and claim do not match an enrollment"
            )
        return shopper

    def export(self, req: ShopperAccessRequest, *, source: str = "unknown") -> ShopperExport:
        shopper = self.access(req, source)
        with self.db.transaction(readonly=True) as tx:
            payments = repository.payments_of_shopper(tx, shopper.shopper_id)
            stored = repository.templates_of(tx, shopper.shopper_id)
            pin_set = pins.pin_is_set(tx, shopper.shopper_id)
        views = None
        if stored is not None:
            views = self.vault.decrypt_templates(
                stored.template_sealed,
                stored.data_key_wrapped,
                shopper_id=shopper.shopper_id,
                tenant_id=stored.tenant_id,
            ).templates
        return ShopperExport(
            shopper_id=shopper.shopper_id,
            enrolled_at=_iso(shopper.enrolled_at),
            last_used_at=_iso(shopper.last_used_at),
            consent=ConsentRecord.model_validate_json(shopper.consent_json),
            consent_withdrawn_at=None
            if shopper.consent_withdrawn_at is None
            else _iso(shopper.consent_withdrawn_at),
            claim_kind=ClaimKind(shopper.claim_kind),
            claim_last4=shopper.claim_last4,
            masked_payment_method=shopper.masked_payment_method,
            template_stored=shopper.template_stored,
            template_model_id=shopper.model_id if shopper.template_stored else None,
            pin_set=pin_set,
            template_enrollment_views=0 if views is None else views.anchors.shape[0],
            template_adaptive_views=0 if views is None else views.adaptive.shape[0],
            template_adaptive_updates=0 if views is None else sum(views.updates),
            retention_expires_at=_iso(shopper.last_used_at + shopper.retention_days * 86400.0),
            authorizations=tuple(
                ShopperAuthorizationSummary(
                    authorization_id=p.authorization_id,
                    status=AuthorizationStatus(p.status),
                    amount_minor=p.amount_minor,
                    currency=p.currency,
                    created_at=_iso(p.created_at),
                )
                for p in payments
            ),
        )

    def withdraw_consent(
        self, req: ShopperAccessRequest, *, source: str = "unknown"
    ) -> WithdrawConsentResponse:
        shopper = self.access(req, source)
        now = self.clock()
        with self.db.transaction() as tx:
            shred_enrollment(tx, shopper.shopper_id, now)
            repository.withdraw_consent(tx, shopper.shopper_id, now)
            repository.audit(
                tx,
                at=now,
                tenant_id=shopper.tenant_id,
                device_id=None,
                event="consent_withdrawn",
                subject_id=shopper.shopper_id,
                details={},
            )
        self.galleries.remove(shopper.shopper_id)
        self.db.scrub()
        withdrawn = shopper.consent_withdrawn_at
        return WithdrawConsentResponse(
            shopper_id=shopper.shopper_id,
            consent_withdrawn_at=_iso(now if withdrawn is None else withdrawn),
            template_destroyed=True,
        )

    def delete(self, req: ShopperAccessRequest, *, source: str = "unknown") -> DeletionReceipt:
        shopper = self.access(req, source)
        shopper_id = shopper.shopper_id
        now = self.clock()
        with self.db.transaction(readonly=True) as tx:
            pin_set = pins.pin_is_set(tx, shopper_id)
        unsigned = DeletionReceipt(
            receipt_id=f"del_{secrets.token_hex(12)}",
            shopper_id=shopper_id,
            deleted_at=_iso(now),
            erased=(*_ERASED, *(("pin",) if pin_set else ())),
            receipt_key_id=self.vault.receipt_key_id,
            signature="",
        )
        receipt = unsigned.model_copy(
            update={"signature": self.vault.sign_receipt(unsigned.model_dump(mode="json"))}
        )
        with self.db.transaction() as tx:
            shred_enrollment(tx, shopper_id, now)
            repository.erase_shopper(tx, shopper_id, now)
            repository.erase_privacy_codes(tx, shopper_id)
            if shopper.claim_hash is not None:
                # The claim's keyed hash is a pseudonym of the phone number: it goes from
                # the lockouts and their audit lines too, not only from the shopper's row.
                repository.erase_claim_traces(tx, claim_subject(shopper.claim_hash))
            repository.insert_deletion_receipt(
                tx, receipt.receipt_id, shopper_id, now, receipt.model_dump_json()
            )
            repository.audit(
                tx,
                at=now,
                tenant_id=shopper.tenant_id,
                device_id=None,
                event="shopper_deleted",
                subject_id=shopper_id,
                details={"receipt": receipt.receipt_id},
            )
        self.galleries.remove(shopper_id)
        self.db.scrub()
        return receipt


class ShopperRightsCalls:
    """A shopper's export, withdrawal and deletion, for callers from one source."""

    def __init__(self, rights: ShopperRights, source: str) -> None:
        self._rights = rights
        self._source = source

    def export(self, req: ShopperAccessRequest) -> ShopperExport:
        return self._rights.export(req, source=self._source)

    def withdraw_consent(self, req: ShopperAccessRequest) -> WithdrawConsentResponse:
        return self._rights.withdraw_consent(req, source=self._source)

    def delete(self, req: ShopperAccessRequest) -> DeletionReceipt:
        return self._rights.delete(req, source=self._source)

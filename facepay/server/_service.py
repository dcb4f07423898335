"""The reference payment backend's entry point, independent of HTTP: a thin facade.

:class:`PaymentBackend` takes validated wire models and an authenticated device and
returns wire models, or raises :class:`ApiError`. The ASGI app (``_app``) only parses,
authenticates and serializes. Each operation is answered by the part that holds its
concern; this class builds the parts and hands each call to one.

A checkout, from the route to the ledger row: ``_app`` (the route) -> ``_middleware``
and ``_devices`` (authentication: signature, nonce, rate) -> ``_sessions`` (the session
opened) -> ``_payments`` (``Payments.authorize`` in ``_payments/authorize``: its inputs
read at once by ``_repository``, a stored answer replayed by ``_answers``, lockouts and
the session checked by ``_lockouts`` and ``_sessions`` with the rules of ``_decision``,
the sealed probe opened by ``_galleries``; then ``_payments/matching`` (liveness and the
match by ``_gallery``), ``_payments/answer`` (the acquirer), ``_payments/recording`` (one
transaction writing the ledger row, spending the session and the audit line) and
``_payments/learning`` (the template set learns from an approval)), read back by
``_ledger``.

The other parts: ``_enrollments`` (a shopper enrolled, or nothing stored), ``_tenants``
(enrollment tokens, tenants, device registration), ``_shoppers`` (export, withdraw
consent, delete), ``_retention`` (the sweep), ``_keys`` (the key set), ``_repository``
(the SQL, returning named rows).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable

from facepay.config import ServerConfig
from facepay.crypto import signed_device_id
from facepay.server._answers import StoredAnswers
from facepay.server._devices import AuthenticatedDevice, RequestGate
from facepay.server._enrollments import Enrollments
from facepay.server._errors import ApiError
from facepay.server._galleries import GalleryCache
from facepay.server._gallery import GalleryRegistry
from facepay.server._keys import key_set
from facepay.server._ledger import answer_in_session, answers_for_order
from facepay.server._lockouts import Lockouts
from facepay.server._part import BackendContext
from facepay.server._payments import Acquirer, Payments
from facepay.server._reports import LivenessRefusals
from facepay.server._retention import sweep
from facepay.server._sessions import CheckoutSessions
from facepay.server._shoppers import ShopperRights, ShopperRightsCalls
from facepay.server._storage import Database, Transaction
from facepay.server._tenants import Tenants
from facepay.server._vault import Vault
from facepay.wire import (
    AuthorizationResponse,
    AuthorizeRequest,
    CheckoutSessionInfo,
    CreateSessionRequest,
    DeletionReceipt,
    DeviceRegistration,
    DeviceRegistrationRequest,
    DeviceRevocation,
    EnrollmentRequest,
    EnrollmentResponse,
    ErrorCode,
    KeySet,
    LivenessRefusalRequest,
    LivenessRefusalResponse,
    OrderAuthorizations,
    ShopperAccessRequest,
    ShopperExport,
    StepUpRequest,
    TenantRegistration,
    WithdrawConsentResponse,
)

__all__ = ["Acquirer", "AuthenticatedDevice", "PaymentBackend"]


class PaymentBackend:
    """The backend's one entry point: devices, sessions, enrollment, authorization,
    shopper rights, retention, each delegated to its part (attributes ``tenants``,
    ``sessions``, ``enrollments``, ``payments``, ``lockouts``, ``shoppers``, ``cache``,
    ``answers``, ``gate``, ``reports``)."""

    def __init__(
        self,
        db: Database,
        vault: Vault,
        config: ServerConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        admin_token: str | None = None,
        acquirer: Acquirer | None = None,
    ) -> None:
        self.db = db
        if acquirer is None:
            # The reference backend charges no real cards: the sandbox's test tokens.
            from facepay.server._sandbox import SandboxAcquirer

            acquirer = SandboxAcquirer()
        self.vault = vault
        self.config = config or ServerConfig()
        self.admin_token = admin_token or self.config.admin_token or secrets.token_urlsafe(24)
        self.galleries = GalleryRegistry()
        # What every part shares, given once; the clock set on it reaches them all.
        self.context = BackendContext(db, vault, self.config, self.galleries, clock)
        # The backend's parts, one concern each; this class is their facade.
        self.gate = RequestGate(
            self.context,
            max_skew_s=self.config.max_clock_skew_s,
            rate_per_s=self.config.device_rate_per_s,
            rate_burst=self.config.device_rate_burst,
        )
        self.tenants = Tenants(
            self.context,
            gate=self.gate,
            # A worker process of `serve --workers N` is given only this digest
            # (facepay.server._workers), never the token.
            admin_token_sha256=hashlib.sha256(self.admin_token.encode()).hexdigest(),
        )
        self.sessions = CheckoutSessions(self.context)
        self.lockouts = Lockouts(self.context)
        self.shoppers = ShopperRights(self.context)
        self.cache = GalleryCache(self.context)
        self.answers = StoredAnswers(self.context)
        self.enrollments = Enrollments(self.context, sessions=self.sessions, cache=self.cache)
        self.payments = Payments(
            self.context,
            sessions=self.sessions,
            lockouts=self.lockouts,
            cache=self.cache,
            answers=self.answers,
            acquirer=acquirer,
        )
        self.reports = LivenessRefusals(
            self.context, sessions=self.sessions, lockouts=self.lockouts
        )

    @property
    def acquirer(self) -> Acquirer:
        """Who charges a matched shopper's payment token (a test's seam too)."""
        return self.payments.payment_answers.acquirer

    @acquirer.setter
    def acquirer(self, acquirer: Acquirer) -> None:
        self.payments.payment_answers.acquirer = acquirer

    @property
    def clock(self) -> Callable[[], float]:
        """The backend's time (Unix seconds): a test's seam, shared by every part."""
        return self.context.clock

    @clock.setter
    def clock(self, clock: Callable[[], float]) -> None:
        self.context.clock = clock

    @property
    def admin_token_sha256(self) -> str:
        """What :meth:`check_admin` compares with: the enrollment token's SHA-256 (hex)."""
        return self.tenants.admin_token_sha256

    @admin_token_sha256.setter
    def admin_token_sha256(self, digest: str) -> None:
        self.tenants.admin_token_sha256 = digest

    # ------------------------------------------------------------------ galleries

    def load_galleries(self) -> int:
        """Decrypt every stored template into the in-memory galleries; returns the count
        (facepay.server._galleries)."""
        return self.cache.load_all()

    def sweep(self) -> dict[str, int]:
        """Retention and housekeeping (facepay.server._retention)."""
        return sweep(self.context)

    # ------------------------------------------------------------------ tenants and devices

    def check_admin(self, authorization: str | None, tenant_id: str | None = None) -> None:
        self.tenants.check_admin(authorization, tenant_id)

    def use_admin_token(self, token: str) -> None:
        """Make ``token`` the backend's enrollment token (``facepay sandbox serve``)."""
        self.admin_token = token
        self.admin_token_sha256 = hashlib.sha256(token.encode()).hexdigest()

    def tenant_token(self, tenant_id: str) -> str:
        return self.tenants.token(tenant_id)

    def create_tenant(self, tenant_id: str) -> tuple[TenantRegistration, bool]:
        return self.tenants.create(tenant_id)

    def device_tenant(self, device_id: str) -> str | None:
        return self.tenants.device_tenant(device_id)

    def register_device(
        self, req: DeviceRegistrationRequest, *, create_tenant: bool = False
    ) -> DeviceRegistration:
        return self.tenants.register_device(req, create_tenant=create_tenant)

    def revoke_device(self, device_id: str) -> DeviceRevocation:
        return self.tenants.revoke_device(device_id)

    def authenticate(
        self,
        *,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
    ) -> AuthenticatedDevice:
        """Check a signed request and record its nonce, before anything else about the
        request is looked at (facepay.server._devices)."""
        device_id = signed_device_id(headers)
        if device_id is None:
            raise ApiError(ErrorCode.MISSING_SIGNATURE, "signed request headers are missing")
        return self.gate.authenticate(
            device_id=device_id, method=method, target=target, headers=headers, body=body
        )

    def key_set(self) -> KeySet:
        return key_set(self.vault)

    # ------------------------------------------------------------------ sessions

    def create_session(
        self, device: AuthenticatedDevice, req: CreateSessionRequest
    ) -> CheckoutSessionInfo:
        return self.sessions.open(device, req)

    def authorization_for_session(
        self, device: AuthenticatedDevice, session_id: str
    ) -> AuthorizationResponse:
        return answer_in_session(self.db, device, session_id)

    def authorizations_for_order(
        self, device: AuthenticatedDevice, basket_reference: str
    ) -> OrderAuthorizations:
        """This tenant's authorizations for one order (facepay.server._ledger)."""
        return answers_for_order(
            self.db, device, basket_reference, limit=self.config.order_payments_listed
        )

    def report_liveness_refusal(
        self, device: AuthenticatedDevice, session_id: str, req: LivenessRefusalRequest
    ) -> LivenessRefusalResponse:
        """A till's not_live in a payment session: spend it, count the device
        (facepay.server._reports)."""
        return self.reports.report(device, session_id, req)

    # ------------------------------------------------------------------ enrollment

    def enroll(self, device: AuthenticatedDevice, req: EnrollmentRequest) -> EnrollmentResponse:
        """Enroll a shopper (facepay.server._enrollments)."""
        return self.enrollments.enroll(device, req)

    # ------------------------------------------------------------------ payments

    def authorize(
        self, device: AuthenticatedDevice, req: AuthorizeRequest, idempotency_key: str
    ) -> tuple[AuthorizationResponse, bool]:
        """Decide one payment; returns (answer, replayed) (facepay.server._payments)."""
        return self.payments.authorize(device, req, idempotency_key)

    def step_up(
        self,
        device: AuthenticatedDevice,
        authorization_id: str,
        req: StepUpRequest,
        idempotency_key: str,
    ) -> AuthorizationResponse:
        """Answer a step-up (facepay.server._payments)."""
        return self.payments.step_up(device, authorization_id, req, idempotency_key)

    def _record_failure(self, tx: Transaction, subject: str, lock_seconds: float) -> None:
        self.lockouts.record_failure(tx, subject, lock_seconds)

    # ------------------------------------------------------------------ shopper rights

    def for_source(self, source: str) -> ShopperRightsCalls:
        """The shopper-rights operations for callers from ``source`` (the peer address)."""
        return self.shoppers.for_source(source)

    def export(self, req: ShopperAccessRequest, *, source: str = "unknown") -> ShopperExport:
        return self.shoppers.export(req, source=source)

    def withdraw_consent(
        self, req: ShopperAccessRequest, *, source: str = "unknown"
    ) -> WithdrawConsentResponse:
        return self.shoppers.withdraw_consent(req, source=source)

    def delete(self, req: ShopperAccessRequest, *, source: str = "unknown") -> DeletionReceipt:
        return self.shoppers.delete(req, source=source)

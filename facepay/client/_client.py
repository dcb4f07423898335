"""The synchronous payment backend client."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from facepay import wire
from facepay._closing import ClosesOnExit
from facepay.client import _calls
from facepay.client._base import (
    BaseClient,
    Call,
    RequestSigner,
    decoded_headers,
    ms_since,
    new_request_id,
)
from facepay.config import ClientConfig
from facepay.errors import BackendError, ServerError

__all__ = ["FacePayClient"]

T = TypeVar("T")


class FacePayClient(BaseClient, ClosesOnExit):
    """Talks to the payment backend over HTTPS, blocking.

    ``transport`` is the seam for tests (``httpx.MockTransport``) and for custom network
    stacks; ``signer`` signs every request as the till's device (``facepay.DeviceKey``).
    Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        signer: RequestSigner | None = None,
        config: ClientConfig | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(
            base_url, signer=signer, config=config, rng=rng, own_transport=transport is not None
        )
        self._sleep = sleep
        self._http = httpx.Client(transport=transport, **self._client_kwargs())

    def send(self, call: Call[T]) -> T:
        """Send ``call``, retrying only where safe; return its parsed answer."""
        request_id = new_request_id()
        attempt = 0
        while True:
            request = self.build_request(call, request_id)
            started = time.perf_counter()
            error: BackendError
            try:
                response = self._receive(call, request, request_id)
            except httpx.TransportError as exc:
                self.log(call, None, request_id, ms_since(started))
                error = self.transport_error(call, exc, request_id)
            except ServerError as exc:  # answer_too_large
                self.log(call, exc.status, request_id, ms_since(started))
                error = exc
            else:
                self.log(call, response.status_code, request_id, ms_since(started))
                try:
                    return self.read_response(call, response, request_id)
                except BackendError as exc:
                    error = exc
            if not self.should_retry(call, attempt, error):
                raise error
            self._sleep(self.backoff_delay(attempt))
            attempt += 1

    def _receive(self, call: Call[Any], request: httpx.Request, request_id: str) -> httpx.Response:
        """Send ``request`` and read its answer, at most ``max_answer_bytes`` of it."""
        response = self._http.send(request, stream=True)
        try:
            if self.declared_too_large(response):
                raise self.answer_too_large(call, response.status_code, request_id)
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > self.config.max_answer_bytes:
                    raise self.answer_too_large(call, response.status_code, request_id)
        finally:
            response.close()
        return httpx.Response(
            response.status_code,
            headers=decoded_headers(response),
            content=bytes(body),
            request=request,
        )

    # -- the protocol (docs/protocol.md) ------------------------------------------------

    def health(self) -> wire.HealthResponse:
        """``GET /v1/health``: is the backend up, and which protocol does it speak."""
        return self.send(_calls.health())

    def get_keys(self) -> wire.KeySet:
        """``GET /v1/keys``: the current template-sealing key (seal to it) and the others."""
        return self.send(_calls.get_keys())

    def create_tenant(self, tenant_id: str, enrollment_token: str) -> wire.TenantRegistration:
        """Create a tenant (idempotent) with the backend's enrollment token; the answer
        carries the tenant's own token, which registers that tenant's devices only."""
        return self.send(_calls.create_tenant(tenant_id, enrollment_token))

    def register_device(
        self, request: wire.DeviceRegistrationRequest, *, enrollment_token: str
    ) -> wire.DeviceRegistration:
        """Register this till's public key once, with the operator's enrollment token."""
        return self.send(_calls.register_device(request, enrollment_token))

    def open_session(
        self, purpose: wire.SessionPurpose | str = wire.SessionPurpose.PAY
    ) -> wire.CheckoutSessionInfo:
        """Open a single-use checkout (``"pay"``) or enrollment (``"enroll"``) session."""
        return self.send(_calls.create_session(wire.SessionPurpose(purpose)))

    def enroll(self, request: wire.EnrollmentRequest) -> wire.EnrollmentResponse:
        """Enroll a consenting shopper: sealed fused template, consent, token and claim.

        Not retried once it may have reached the backend (enrollment has no idempotency
        key); after a :class:`~facepay.errors.TransportError` enroll again in a new
        session: a claim that did get enrolled answers ``409 claim_already_enrolled``.
        """
        return self.send(_calls.enroll(request))

    def authorize(
        self, request: wire.AuthorizeRequest, *, idempotency_key: str
    ) -> wire.AuthorizationResponse:
        """Ask the backend to pay. Retried safely under ``idempotency_key``.

        Use one key per checkout attempt (:func:`new_idempotency_key`) and keep it, with
        the exact ``request``, until you have an answer: if this raises
        :class:`~facepay.errors.TransportError` the payment may or may not have been
        taken, and :meth:`reconcile` with the same key and request tells you which.
        """
        return self.send(_calls.authorize(request, idempotency_key))

    def reconcile(
        self, request: wire.AuthorizeRequest, *, idempotency_key: str
    ) -> wire.AuthorizationResponse:
        """Find out what happened to an authorization whose answer was lost.

        Sends the same request under the same key: the backend replays its stored answer
        (same ``authorization_id``) if it decided, or decides now if it never saw it. Either
        way the shopper is charged at most once. The request must be byte-identical in
        content (keep the sealed template you sent; re-sealing gives different bytes and a
        :class:`~facepay.errors.IdempotencyConflictError`).
        """
        return self.send(_calls.authorize(request, idempotency_key))

    def authorization_for_session(self, session_id: str) -> wire.AuthorizationResponse:
        """Reconcile by session: the authorization this till made in ``session_id``, as it
        stands now (after a step-up too); ``RequestRejectedError`` (404 ``not_found``) if
        that session took no payment. For a till that lost both the answer and its
        idempotency key: the session it opened is enough, and nothing is sent again."""
        return self.send(_calls.authorization_for_session(session_id))

    def order_authorizations(self, basket_reference: str) -> wire.OrderAuthorizations:
        """Reconcile by order: every authorization of this till's tenant for
        ``basket_reference`` (any lane's), oldest first, as each stands now; empty when
        nothing was ever decided for that order. For a POS back from a crash, which
        forgot what it sent: nothing is sent again."""
        return self.send(_calls.order_authorizations(basket_reference))

    def report_liveness_refusal(
        self, session_id: str, liveness: wire.LivenessSummary
    ) -> wire.LivenessRefusalResponse:
        """Report that this till's liveness ended ``not_live`` in payment session
        ``session_id`` (the verdict's summary: numbers and flags, never frames). The
        backend spends the session and counts a failure against this device, never a
        shopper. Idempotent: retried under the client's policy, counted once."""
        return self.send(_calls.report_liveness_refusal(session_id, liveness))

    def answer_step_up(
        self,
        authorization_id: str,
        answer: str | wire.StepUpRequest,
        *,
        idempotency_key: str,
    ) -> wire.AuthorizationResponse:
        """Answer a step-up; returns the same authorization, decided. ``answer`` is the
        last 4 phone digits (``phone_last4``) or the whole request (a ``pin`` step-up's
        ``sealed_pin``, which ``facepay.checkout`` seals: the client holds no keys)."""
        request = (
            answer
            if isinstance(answer, wire.StepUpRequest)
            else wire.StepUpRequest(phone_last4=answer)
        )
        return self.send(_calls.step_up(authorization_id, request, idempotency_key))

    def export_shopper(self, privacy_code: str, claim: wire.Claim) -> wire.ShopperExport:
        """Everything the backend stores about a shopper (never the template itself)."""
        request = wire.ShopperAccessRequest(privacy_code=privacy_code, claim=claim)
        return self.send(_calls.export_shopper(request))

    def withdraw_consent(
        self, privacy_code: str, claim: wire.Claim
    ) -> wire.WithdrawConsentResponse:
        """Stop face payments now: the backend destroys the template and its data key."""
        request = wire.ShopperAccessRequest(privacy_code=privacy_code, claim=claim)
        return self.send(_calls.withdraw_consent(request))

    def delete_shopper(self, privacy_code: str, claim: wire.Claim) -> wire.DeletionReceipt:
        """Delete everything about a shopper; returns a signed deletion receipt."""
        request = wire.ShopperAccessRequest(privacy_code=privacy_code, claim=claim)
        return self.send(_calls.delete_shopper(request))

    def close(self) -> None:
        self._http.close()

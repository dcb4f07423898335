"""The protocol's calls (docs/protocol.md), each described once for both clients.

Each function returns a :class:`~facepay.client._base.Call`; ``FacePayClient`` and
``AsyncFacePayClient`` send it. Request bodies are built from :mod:`facepay.wire` models,
so a body the backend would refuse cannot be built here either.
"""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import quote

from facepay import wire
from facepay.client._base import Call, encode_json

__all__ = [
    "authorization_for_session",
    "authorize",
    "create_session",
    "create_tenant",
    "delete_shopper",
    "enroll",
    "export_shopper",
    "get_keys",
    "health",
    "order_authorizations",
    "register_device",
    "report_liveness_refusal",
    "step_up",
    "withdraw_consent",
]

M = TypeVar("M", bound=wire.WireModel)

_V1 = wire.API_PREFIX


def _reader(model: type[M]) -> Any:
    def parse(payload: Any) -> M:
        return model.model_validate(payload)

    return parse


def _body(model: wire.WireModel) -> bytes:
    return encode_json(model.model_dump(mode="json"))


def _check_key(idempotency_key: str) -> str:
    # docs/protocol.md: 8-128 characters. Checked here so a bad key is a local error,
    # not a 422 after the template was sealed and sent.
    if not isinstance(idempotency_key, str) or not 8 <= len(idempotency_key) <= 128:
        raise ValueError("idempotency_key must be a string of 8 to 128 characters")
    return idempotency_key


def health() -> Call[wire.HealthResponse]:
    return Call(
        method="GET", path=f"{_V1}/health", parse=_reader(wire.HealthResponse), signed=False
    )


def get_keys() -> Call[wire.KeySet]:
    return Call(method="GET", path=f"{_V1}/keys", parse=_reader(wire.KeySet), signed=False)


def register_device(
    request: wire.DeviceRegistrationRequest, enrollment_token: str
) -> Call[wire.DeviceRegistration]:
    # Authenticated by the operator's bearer token, not by the (not yet known) device key.
    # Not retried after it may have arrived: a replay would answer 409 device_already_registered.
    return Call(
        method="POST",
        path=f"{_V1}/devices",
        body=_body(request),
        parse=_reader(wire.DeviceRegistration),
        signed=False,
        bearer_token=enrollment_token,
    )


def create_tenant(tenant_id: str, enrollment_token: str) -> Call[wire.TenantRegistration]:
    # Idempotent at the backend (an existing tenant answers 200 with the same token).
    return Call(
        method="POST",
        path=f"{_V1}/tenants",
        body=_body(wire.TenantRequest(tenant_id=tenant_id)),
        parse=_reader(wire.TenantRegistration),
        signed=False,
        bearer_token=enrollment_token,
    )


def create_session(purpose: wire.SessionPurpose) -> Call[wire.CheckoutSessionInfo]:
    # Not idempotent (each call opens a new session), but an unused session simply
    # expires after 120 s, so it is never retried after it may have arrived either.
    return Call(
        method="POST",
        path=f"{_V1}/sessions",
        body=_body(wire.CreateSessionRequest(purpose=purpose)),
        parse=_reader(wire.CheckoutSessionInfo),
    )


def enroll(request: wire.EnrollmentRequest) -> Call[wire.EnrollmentResponse]:
    return Call(
        method="POST",
        path=f"{_V1}/enrollments",
        body=_body(request),
        parse=_reader(wire.EnrollmentResponse),
    )


def authorize(
    request: wire.AuthorizeRequest, idempotency_key: str
) -> Call[wire.AuthorizationResponse]:
    return Call(
        method="POST",
        path=f"{_V1}/authorizations",
        body=_body(request),
        idempotency_key=_check_key(idempotency_key),
        parse=_reader(wire.AuthorizationResponse),
    )


def authorization_for_session(session_id: str) -> Call[wire.AuthorizationResponse]:
    # A GET: safe to retry whatever happened.
    return Call(
        method="GET",
        path=f"{_V1}/sessions/{quote(session_id, safe='')}/authorization",
        parse=_reader(wire.AuthorizationResponse),
    )


def order_authorizations(basket_reference: str) -> Call[wire.OrderAuthorizations]:
    # A GET: safe to retry whatever happened. A query parameter, since a reference may
    # hold "/" (docs/protocol.md, "Reconcile by order").
    return Call(
        method="GET",
        path=f"{_V1}/authorizations",
        params={"basket_reference": basket_reference},
        parse=_reader(wire.OrderAuthorizations),
    )


def report_liveness_refusal(
    session_id: str, liveness: wire.LivenessSummary
) -> Call[wire.LivenessRefusalResponse]:
    # Idempotent by its session: the same report again is answered as the first was and
    # counted once, so it is retried like a GET.
    return Call(
        method="POST",
        path=f"{_V1}/sessions/{quote(session_id, safe='')}/liveness-refusal",
        body=_body(wire.LivenessRefusalRequest(liveness=liveness)),
        parse=_reader(wire.LivenessRefusalResponse),
        idempotent=True,
    )


def step_up(
    authorization_id: str, request: wire.StepUpRequest, idempotency_key: str
) -> Call[wire.AuthorizationResponse]:
    return Call(
        method="POST",
        path=f"{_V1}/authorizations/{quote(authorization_id, safe='')}/step-up",
        body=_body(request),
        idempotency_key=_check_key(idempotency_key),
        parse=_reader(wire.AuthorizationResponse),
    )


def export_shopper(request: wire.ShopperAccessRequest) -> Call[wire.ShopperExport]:
    # Shopper rights are not device-signed: a shopper may use their own phone.
    return Call(
        method="POST",
        path=f"{_V1}/shoppers/export",
        body=_body(request),
        parse=_reader(wire.ShopperExport),
        signed=False,
    )


def withdraw_consent(request: wire.ShopperAccessRequest) -> Call[wire.WithdrawConsentResponse]:
    return Call(
        method="POST",
        path=f"{_V1}/shoppers/withdraw-consent",
        body=_body(request),
        parse=_reader(wire.WithdrawConsentResponse),
        signed=False,
    )


def delete_shopper(request: wire.ShopperAccessRequest) -> Call[wire.DeletionReceipt]:
    return Call(
        method="POST",
        path=f"{_V1}/shoppers/delete",
        body=_body(request),
        parse=_reader(wire.DeletionReceipt),
        signed=False,
    )

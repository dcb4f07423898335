"""The HTTP face of the reference backend: a FastAPI (ASGI) app served by uvicorn.

Why FastAPI rather than bare Starlette: the protocol's models already are pydantic v2
(``facepay.wire``), and FastAPI turns them into request validation and a served OpenAPI
document (``/openapi.json``) for free; that document is what the fuzzing suite generates
requests from and what a retailer's developer reads. Everything FastAPI would answer on
its own (validation errors, 404, 405) is mapped onto the protocol's typed error body.

One path per route: every request, the checkout's two included, goes through the
protocol middleware and then FastAPI's route (docs/performance.md, "One HTTP path per
route"). The app only parses, authenticates and serializes; :class:`PaymentBackend`
decides. Each step has one place: authentication in the middleware
(facepay.server._middleware), for every signed route, before anything else in the
request is read; validation by FastAPI from the wire models; every refusal mapped to the
error body by facepay.server._errors. Blocking work (database, crypto, matching) runs in
a small thread pool, or on the loop itself for SQLite (``ServerConfig.worker_threads``):
two hops per signed request (authentication, then the operation).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp

from facepay import __version__
from facepay.server._errors import (
    ApiError,
    body_too_large,
    error_body,
    error_headers,
    internal_error,
    status_for,
    validation_error,
)
from facepay.server._middleware import BodyTooLargeError, ProtocolMiddleware, is_signed
from facepay.server._privacy_page import (
    PRIVACY_PAGE_HEADERS,
    privacy_answer,
    privacy_language,
    render_privacy_page,
)
from facepay.server._service import AuthenticatedDevice, PaymentBackend
from facepay.wire import (
    BASKET_REFERENCE_PATTERN,
    HEADER_DEVICE,
    HEADER_IDEMPOTENCY_KEY,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
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
    ErrorResponse,
    HealthResponse,
    KeySet,
    LivenessRefusalRequest,
    LivenessRefusalResponse,
    OrderAuthorizations,
    ShopperAccessRequest,
    ShopperExport,
    StepUpRequest,
    TenantRegistration,
    TenantRequest,
    WireModel,
    WithdrawConsentResponse,
    holds_card_number,
)

__all__ = ["create_app"]

_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_IDEMPOTENCY_RE = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse}
    for status in (400, 401, 403, 404, 409, 410, 413, 415, 422, 429)
}


def _request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", "req_unknown"))


def _error_response(request: Request, error: ApiError) -> Response:
    return Response(
        content=error_body(_request_id(request), error),
        status_code=error.status,
        media_type="application/json",
        headers=dict(error_headers(error)),
    )


def _json(model: WireModel, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        content=model.model_dump_json(),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def _check_json(request: Request) -> None:
    _check_content_type(request.method, request.headers.get("content-type", ""))


async def _require_json(request: Request) -> None:
    """A route dependency: FastAPI solves it before it raises the body's validation
    errors, so a non-JSON content type answers the documented 415, not a 422."""
    _check_json(request)


JsonOnly = Depends(_require_json)


def _check_content_type(method: str, content_type: str) -> None:
    if (
        method in ("POST", "PUT", "PATCH")
        and content_type.split(";")[0].strip().lower() != "application/json"
    ):
        raise ApiError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "send the body as application/json")


async def signed_device(request: Request) -> AuthenticatedDevice:
    """The device :class:`ProtocolMiddleware` authenticated (and whose nonce it recorded)
    before anything else was read from the request."""
    _check_json(request)
    device: AuthenticatedDevice = request.scope["state"]["device"]
    return device


Device = Annotated[AuthenticatedDevice, Depends(signed_device)]


async def _idempotency_key(  # async: FastAPI runs a plain def dependency on a thread
    idempotency_key: Annotated[
        str | None, Header(alias=HEADER_IDEMPOTENCY_KEY, include_in_schema=True)
    ] = None,
) -> str:
    if idempotency_key is None or not _IDEMPOTENCY_RE.match(idempotency_key):
        raise ApiError(
            ErrorCode.IDEMPOTENCY_KEY_MISSING,
            "an Idempotency-Key header (8-128 characters of A-Z a-z 0-9 . _ : -) is required",
        )
    if holds_card_number(idempotency_key):
        # It would be stored in the ledger and printed by `facepay sandbox ledger`.
        raise ApiError(
            ErrorCode.CARD_NUMBER_REJECTED,
            "card numbers are never accepted, in an Idempotency-Key either",
            fields=("Idempotency-Key",),
        )
    return idempotency_key


IdempotencyKey = Annotated[str, Depends(_idempotency_key)]


def create_app(backend: PaymentBackend) -> ASGIApp:
    """The ASGI app for ``backend`` (serve it with uvicorn).

    The outermost layer stamps ``X-Request-Id`` on every response, 500s included; the
    FastAPI app is its ``.fastapi`` attribute.
    """
    app = FastAPI(
        title="facepay reference payment backend (sandbox)",
        version=__version__,
        description=(
            "Protocol v1 between facepay tills and a payment backend. "
            "See docs/protocol.md for signing, idempotency and matching rules."
        ),
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        # One path per route: "/v1/sessions/" is not a second spelling answered with a
        # bodiless 307, it is an unknown path (404 with the protocol's error body).
        redirect_slashes=False,
    )
    app.state.backend = backend
    generated = app.openapi

    def openapi_with_signing() -> dict[str, Any]:
        if app.openapi_schema is None:
            _declare_signing(generated())
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi_with_signing  # type: ignore[method-assign]

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return _error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        return _error_response(request, validation_error(exc.errors()))

    @app.exception_handler(BodyTooLargeError)
    async def _too_large(request: Request, exc: BodyTooLargeError) -> Response:
        return _error_response(request, body_too_large())

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if isinstance(exc.__cause__, BodyTooLargeError):
            # FastAPI wraps errors raised while it reads the body into a 400.
            error = body_too_large()
        elif exc.status_code == 405:
            error = ApiError(ErrorCode.METHOD_NOT_ALLOWED, "method not allowed on this path")
        elif exc.status_code == 404:
            error = ApiError(ErrorCode.NOT_FOUND, "no such endpoint")
        else:
            error = ApiError(ErrorCode.MALFORMED_REQUEST, str(exc.detail)[:200])
        return _error_response(request, error)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        return _error_response(request, internal_error(_request_id(request), exc))

    threads = backend.config.worker_threads
    if threads is None:
        threads = 0 if backend.db.dialect == "sqlite" else 4

    async def _inline(fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)

    def _source(request: Request) -> str:
        """Where an unauthenticated shopper-rights call comes from (its peer address;
        behind a proxy, `facepay sandbox serve --forwarded-allow-ips PROXY` makes it the
        address that proxy appends to X-Forwarded-For)."""
        return request.client.host if request.client is not None else "unknown"

    def _run(fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
        """Run blocking backend work: on the loop itself (``worker_threads`` 0) or on one
        of ``worker_threads`` threads."""
        if threads == 0:
            return _inline(fn, *args)
        return run_in_threadpool(fn, *args)

    def _as_device(
        device: AuthenticatedDevice, fn: Callable[..., Any], *args: Any
    ) -> Awaitable[Any]:
        """Run ``fn(device, *args)`` on one worker call (authentication already recorded
        the request's nonce)."""
        return _run(fn, device, *args)

    @app.get("/v1/health", response_model=HealthResponse, tags=["service"])
    async def health() -> Response:
        from datetime import datetime, timezone

        return _json(
            HealthResponse(server_version=__version__, server_time=datetime.now(timezone.utc))
        )

    # The shopper's page (facepay/server/_privacy_page.py): a form in their language
    # that posts back here and runs the /v1/shoppers/* operations.
    @app.get("/privacy", include_in_schema=False)
    async def privacy_page(request: Request) -> Response:
        q = request.query_params
        lang = privacy_language(q.get("lang"), request.headers.get("accept-language", ""))
        page = render_privacy_page(lang, country=q.get("cc"))
        return HTMLResponse(page, headers=PRIVACY_PAGE_HEADERS)

    @app.post("/privacy", include_in_schema=False)
    async def privacy_form(request: Request) -> Response:
        from urllib.parse import parse_qs

        lang = privacy_language(
            request.query_params.get("lang"), request.headers.get("accept-language", "")
        )
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        status, page = await _run(privacy_answer, backend.for_source(_source(request)), form, lang)
        return HTMLResponse(page, status_code=status, headers=PRIVACY_PAGE_HEADERS)

    @app.get("/v1/keys", response_model=KeySet, tags=["keys"])
    async def keys() -> Response:
        return _json(backend.key_set())

    @app.post(
        "/v1/devices",
        response_model=DeviceRegistration,
        status_code=201,
        responses=_ERROR_RESPONSES,
        tags=["devices"],
        dependencies=[JsonOnly],
    )
    async def register_device(
        body: DeviceRegistrationRequest,
        authorization: Annotated[str | None, Header()] = None,
    ) -> Response:
        backend.check_admin(authorization, body.tenant_id)
        return _json(await _run(backend.register_device, body), 201)

    @app.post(
        "/v1/tenants",
        response_model=TenantRegistration,
        status_code=201,
        responses=_ERROR_RESPONSES,
        tags=["devices"],
        dependencies=[JsonOnly],
    )
    async def create_tenant(
        body: TenantRequest, authorization: Annotated[str | None, Header()] = None
    ) -> Response:
        backend.check_admin(authorization)  # the backend's own token: no tenant's
        registration, created = await _run(backend.create_tenant, body.tenant_id)
        return _json(registration, 201 if created else 200)

    @app.post(
        "/v1/devices/{device_id}/revoke",
        response_model=DeviceRevocation,
        responses=_ERROR_RESPONSES,
        tags=["devices"],
    )
    async def revoke_device(
        device_id: str, authorization: Annotated[str | None, Header()] = None
    ) -> Response:
        tenant = (
            await _run(backend.device_tenant, device_id) if _ID_RE.fullmatch(device_id) else None
        )
        # A tenant's token revokes that tenant's devices; it learns nothing of others'.
        backend.check_admin(authorization, tenant)
        if tenant is None:
            raise ApiError(ErrorCode.NOT_FOUND, "no such device")
        return _json(await _run(backend.revoke_device, device_id))

    @app.post(
        "/v1/sessions",
        response_model=CheckoutSessionInfo,
        status_code=201,
        responses=_ERROR_RESPONSES,
        tags=["checkout"],
    )
    async def create_session(device: Device, body: CreateSessionRequest) -> Response:
        return _json(await _as_device(device, backend.create_session, body), 201)

    @app.get(
        "/v1/sessions/{session_id}/authorization",
        response_model=AuthorizationResponse,
        responses=_ERROR_RESPONSES,
        tags=["checkout"],
    )
    async def session_authorization(device: Device, session_id: str) -> Response:
        if not _ID_RE.fullmatch(session_id):
            raise ApiError(ErrorCode.NOT_FOUND, "no authorization of this device in that session")
        return _json(await _run(backend.authorization_for_session, device, session_id))

    @app.get(
        "/v1/authorizations",
        response_model=OrderAuthorizations,
        responses=_ERROR_RESPONSES,
        tags=["checkout"],
    )
    async def order_authorizations(
        device: Device,
        basket_reference: Annotated[str, Query(pattern=BASKET_REFERENCE_PATTERN)],
    ) -> Response:
        """Reconcile by order: this tenant's authorizations for one basket reference,
        oldest first (empty: nothing was charged for it). A query parameter, not a path
        segment: a reference may hold ``/`` and ``#`` (docs/protocol.md)."""
        return _json(await _run(backend.authorizations_for_order, device, basket_reference))

    @app.post(
        "/v1/sessions/{session_id}/liveness-refusal",
        response_model=LivenessRefusalResponse,
        responses=_ERROR_RESPONSES,
        tags=["checkout"],
    )
    async def liveness_refusal(
        device: Device, session_id: str, body: LivenessRefusalRequest
    ) -> Response:
        """The till's liveness ended not_live in this payment session: the session is
        spent and the device counted toward its lockout (never a shopper). Idempotent:
        the same report again gets the same answer (``replayed``) and counts once."""
        if not _ID_RE.fullmatch(session_id):
            raise ApiError(
                ErrorCode.SESSION_MISMATCH,
                "no such session for this device and purpose",
                fields=("session_id",),
            )
        return _json(await _as_device(device, backend.report_liveness_refusal, session_id, body))

    @app.post(
        "/v1/enrollments",
        response_model=EnrollmentResponse,
        status_code=201,
        responses=_ERROR_RESPONSES,
        tags=["enrollment"],
    )
    async def enroll(device: Device, body: EnrollmentRequest) -> Response:
        return _json(await _as_device(device, backend.enroll, body), 201)

    @app.post(
        "/v1/authorizations",
        response_model=AuthorizationResponse,
        responses=_ERROR_RESPONSES,
        tags=["checkout"],
    )
    async def authorize(
        device: Device, idempotency_key: IdempotencyKey, body: AuthorizeRequest
    ) -> Response:
        answer, replayed = await _as_device(device, backend.authorize, body, idempotency_key)
        return _json(answer, 200, {"Idempotent-Replayed": "true" if replayed else "false"})

    @app.post(
        "/v1/authorizations/{authorization_id}/step-up",
        response_model=AuthorizationResponse,
        responses=_ERROR_RESPONSES,
        tags=["checkout"],
    )
    async def step_up(
        device: Device,
        idempotency_key: IdempotencyKey,
        authorization_id: str,
        body: StepUpRequest,
    ) -> Response:
        if not re.fullmatch(r"[A-Za-z0-9._:-]{1,64}", authorization_id):
            raise ApiError(ErrorCode.NOT_FOUND, "no such authorization")
        return _json(
            await _as_device(device, backend.step_up, authorization_id, body, idempotency_key)
        )

    @app.post(
        "/v1/shoppers/export",
        response_model=ShopperExport,
        responses=_ERROR_RESPONSES,
        tags=["shopper rights"],
        dependencies=[JsonOnly],
    )
    async def export(request: Request, body: ShopperAccessRequest) -> Response:
        return _json(await _run(backend.for_source(_source(request)).export, body))

    @app.post(
        "/v1/shoppers/withdraw-consent",
        response_model=WithdrawConsentResponse,
        responses=_ERROR_RESPONSES,
        tags=["shopper rights"],
        dependencies=[JsonOnly],
    )
    async def withdraw(request: Request, body: ShopperAccessRequest) -> Response:
        return _json(await _run(backend.for_source(_source(request)).withdraw_consent, body))

    @app.post(
        "/v1/shoppers/delete",
        response_model=DeletionReceipt,
        responses=_ERROR_RESPONSES,
        tags=["shopper rights"],
        dependencies=[JsonOnly],
    )
    async def delete(request: Request, body: ShopperAccessRequest) -> Response:
        return _json(await _run(backend.for_source(_source(request)).delete, body))

    return ProtocolMiddleware(
        app, backend.config.max_body_bytes, max(threads, 1), backend=backend, run=_run
    )


_SIGNING = (
    "Ed25519 over the canonical request (docs/protocol.md, 'Signed requests'): the lines "
    "FACEPAY-ED25519-V1, METHOD, target (path and ?query as sent), device id, timestamp, "
    "nonce, lower-case hex SHA-256 of the body, and the Idempotency-Key's value when the "
    "request has one, joined by \\n; the signature is base64url without padding. All four "
    "X-FacePay-* headers are required together."
)
_DEVICE_SCHEMES = {
    "FacePayDevice": (HEADER_DEVICE, "the device id the backend assigned at registration"),
    "FacePayTimestamp": (HEADER_TIMESTAMP, "integer Unix seconds when the request was signed"),
    "FacePayNonce": (HEADER_NONCE, "16 fresh random bytes, base64url without padding"),
    "FacePaySignature": (HEADER_SIGNATURE, _SIGNING),
}


def _declare_signing(schema: dict[str, Any]) -> None:
    """Make the OpenAPI document say what a generated client needs: the device signature
    (four headers, all required) on every signed operation, the enrollment token on the
    operator's operations, ``Idempotency-Key`` required where it is, and the
    ``Idempotent-Replayed`` answer header."""
    schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    for name, (header, description) in _DEVICE_SCHEMES.items():
        schemes[name] = {
            "type": "apiKey",
            "in": "header",
            "name": header,
            "description": description,
        }
    schemes["EnrollmentToken"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "the backend's enrollment token, or a tenant's own (POST /v1/tenants)",
    }
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if is_signed(method.upper(), path):
                operation["security"] = [{name: [] for name in _DEVICE_SCHEMES}]
            elif path.startswith(("/v1/devices", "/v1/tenants")):
                operation["security"] = [{"EnrollmentToken": []}]
            else:
                operation["security"] = []
            for parameter in operation.get("parameters", []):
                if parameter.get("name") == HEADER_IDEMPOTENCY_KEY:
                    parameter["required"] = True
                    parameter["schema"] = {
                        "type": "string",
                        "pattern": _IDEMPOTENCY_RE.pattern,
                        "description": "signed: part of the canonical request",
                    }
            ok = operation.get("responses", {}).get("200")
            if ok is not None and path == "/v1/authorizations":
                ok["headers"] = {
                    "Idempotent-Replayed": {
                        "description": "true when this is the stored answer to an earlier "
                        "request with the same Idempotency-Key and body",
                        "schema": {"type": "string", "enum": ["true", "false"]},
                    }
                }


def status_of(code: ErrorCode) -> int:
    """HTTP status of an error code (for docs and tests)."""
    return status_for(code)

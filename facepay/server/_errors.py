"""The backend's typed refusal, and the one mapping from any refusal to the protocol's
error body (docs/protocol.md, "Errors").

Every way a request can fail ends here: a refusal of the backend (:class:`ApiError`),
FastAPI's validation errors (:func:`validation_error`), an unhandled exception
(:func:`internal_error`: logged with the request id, answered opaquely). The HTTP layer
(``_middleware`` before FastAPI, ``_app``'s exception handlers after) only sends
:func:`error_body` with :func:`error_headers`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from facepay.errors import FacePayError
from facepay.wire import ErrorBody, ErrorCode, ErrorResponse, WireModel, looks_like_card_number

__all__ = [
    "ApiError",
    "body_too_large",
    "error_body",
    "error_headers",
    "internal_error",
    "status_for",
    "validation_error",
]

logger = logging.getLogger(__name__)

_STATUS: dict[ErrorCode, int] = {
    ErrorCode.MALFORMED_REQUEST: 400,
    ErrorCode.MISSING_SIGNATURE: 401,
    ErrorCode.UNKNOWN_DEVICE: 401,
    ErrorCode.BAD_SIGNATURE: 401,
    ErrorCode.CLOCK_SKEW: 401,
    ErrorCode.NONCE_REUSED: 401,
    ErrorCode.ADMIN_TOKEN_INVALID: 401,
    ErrorCode.DEVICE_REVOKED: 403,
    ErrorCode.SHOPPER_ACCESS_DENIED: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.IDEMPOTENCY_CONFLICT: 409,
    ErrorCode.DEVICE_ALREADY_REGISTERED: 409,
    ErrorCode.CLAIM_ALREADY_ENROLLED: 409,
    ErrorCode.STEP_UP_NOT_PENDING: 409,
    ErrorCode.ORDER_ALREADY_PAID: 409,
    ErrorCode.SESSION_EXPIRED: 410,
    ErrorCode.SESSION_USED: 410,
    ErrorCode.BODY_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.VALIDATION_FAILED: 422,
    ErrorCode.CARD_NUMBER_REJECTED: 422,
    ErrorCode.UNKNOWN_PAYMENT_TOKEN: 422,
    ErrorCode.SEALED_TEMPLATE_INVALID: 422,
    ErrorCode.UNKNOWN_KEY_ID: 422,
    ErrorCode.TEMPLATE_INVALID: 422,
    ErrorCode.SESSION_MISMATCH: 422,
    ErrorCode.IDEMPOTENCY_KEY_MISSING: 422,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.LOCKED_OUT: 429,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.UNAVAILABLE: 503,
}


def status_for(code: ErrorCode) -> int:
    return _STATUS[code]


class ApiError(FacePayError):
    """A refusal with its protocol error code (docs/protocol.md, "Errors")."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        retry_after: float | None = None,
        fields: tuple[str, ...] = (),
        authorization_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = _STATUS[code]
        self.retry_after = retry_after
        self.fields = fields
        self.authorization_id = authorization_id


def body_too_large() -> ApiError:
    return ApiError(ErrorCode.BODY_TOO_LARGE, "request body is larger than the backend accepts")


def error_body(request_id: str, error: ApiError) -> bytes:
    """The protocol's error body (JSON) for ``error``, answering request ``request_id``."""
    payload = ErrorResponse(
        error=ErrorBody(
            code=error.code,
            message=error.message,
            request_id=request_id,
            retry_after=error.retry_after,
            fields=error.fields,
            authorization_id=error.authorization_id,
        )
    )
    return payload.model_dump_json().encode()


def error_headers(error: ApiError) -> list[tuple[str, str]]:
    """``Retry-After`` (whole seconds, rounded up) when the refusal says when to retry."""
    if error.retry_after is None:
        return []
    return [("Retry-After", str(max(1, int(error.retry_after + 0.999))))]


def internal_error(request_id: str, exc: Exception) -> ApiError:
    """Log an unhandled error (with its request id, for the operator) and answer the
    client with an opaque 500."""
    logger.error("unhandled error in request %s", request_id, exc_info=exc)
    return ApiError(ErrorCode.INTERNAL_ERROR, "internal error")


def validation_error(errors: Sequence[Any]) -> ApiError:
    """FastAPI's validation errors (``RequestValidationError.errors()``) as the
    protocol's typed error, without echoing what the request sent."""
    kinds = {str(e.get("type", "")) for e in errors}
    if "json_invalid" in kinds or "json_type" in kinds:
        return ApiError(ErrorCode.MALFORMED_REQUEST, "the request body is not valid JSON")
    fields = tuple(sorted({_path(e) for e in errors}))[:20]
    if "card_number" in kinds:
        return ApiError(
            ErrorCode.CARD_NUMBER_REJECTED,
            "card numbers are never accepted; enroll a payment-method token",
            fields=fields,
        )
    if any(str(e.get("loc", ("",))[0]) == "header" for e in errors) and any(
        "idempotency" in str(e.get("loc", "")).lower() for e in errors
    ):
        return ApiError(
            ErrorCode.IDEMPOTENCY_KEY_MISSING,
            "an Idempotency-Key header (8-128 characters) is required",
        )
    messages = "; ".join(f"{_path(e)}: {_message(e)}" for e in errors[:5])
    return ApiError(ErrorCode.VALIDATION_FAILED, messages[:500], fields=fields)


def _field_names() -> frozenset[str]:
    """Every field name of every protocol model (what a 422 may name)."""
    names: set[str] = set()
    todo: list[type[Any]] = [WireModel]
    while todo:
        model = todo.pop()
        todo.extend(model.__subclasses__())
        names.update(getattr(model, "model_fields", {}))
    return frozenset(names)


_FIELD_NAMES = _field_names()


def _path(error: Any) -> str:
    """The JSON path of a validation error as a 422 may show it: the protocol's field
    names and list positions; any other key (an unknown field, a liveness evidence key)
    is the request's own text and shows as ``*``, so that nothing the request sent
    (a card number sent as a key, say) is echoed back."""
    parts = [
        str(p) if isinstance(p, int) or p in _FIELD_NAMES else "*"
        for p in error.get("loc", ())
        if p not in ("body", "header")
    ]
    return ".".join(parts) or "body"


def _message(error: Any) -> str:
    """pydantic's message, unless it could quote the request: then its error type."""
    message = str(error.get("msg", ""))
    given = error.get("input")
    quoted = isinstance(given, str | int | float) and len(str(given)) >= 3 and str(given) in message
    if quoted or looks_like_card_number(message) or str(error.get("type")) == "extra_forbidden":
        return str(error.get("type", "invalid"))
    return message

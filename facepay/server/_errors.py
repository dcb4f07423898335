"""The backend's typed refusal: one exception the HTTP layer turns into an error body."""

from __future__ import annotations

from facepay.errors import FacePayError
from facepay.wire import ErrorCode

__all__ = ["ApiError"]

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
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = _STATUS[code]
        self.retry_after = retry_after
        self.fields = fields

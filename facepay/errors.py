"""Every error facepay raises, in one tree.

Catch :class:`FacePayError` to catch them all. Subclasses carry data (reason codes,
HTTP status, request ids), never a face image, a template or a key.

::

    FacePayError
    ├── ConfigurationError          bad option values, unknown model card fields
    ├── ModelError                  a model file is missing, corrupt or of the wrong shape
    ├── CaptureError                the frame source failed
    │   ├── CameraUnavailableError  no such camera, or it cannot be opened
    │   └── SourceExhaustedError    a video or image folder has no more frames
    ├── InvalidImageError           corrupt, empty, wrong dtype/shape, tiny or huge image
    ├── FaceNotUsableError          no face, several faces, poor quality (carries reasons)
    ├── WeakPinError                a PIN that may not be set: not 4 digits, 1234, 0000 (reason)
    ├── CryptoError                 crypto misuse on our side (bad key material, etc.)
    │   ├── SealedDataError         opening failed; deliberately opaque (no oracle)
    │   ├── InvalidSignatureError   a request or receipt signature does not verify (opaque)
    │   ├── StaleRequestError       signed request outside the clock skew, or nonce reused
    │   └── TemplateFormatError     serialized template bytes malformed (size, NaN, inf)
    ├── BackendError                the payment backend answered with an error
    │   ├── TransportError          no answer (network, timeout): outcome unknown
    │   ├── AuthenticationError     401/403: unknown device, bad signature, skew, replay
    │   ├── RequestRejectedError    other 4xx: malformed or refused request
    │   │   ├── IdempotencyConflictError  409: same key, different body
    │   │   ├── SessionExpiredError       the checkout session is over
    │   │   └── RateLimitedError          429: lockout or rate limit (retry_after)
    │   └── ServerError             5xx
    └── CheckoutError               the checkout flow was used out of order or cancelled
        ├── CheckoutFailedError     the attempt ended before the backend decided: nothing charged
        │   ├── PaymentNotTakenError    (facepay.checkout) a payment; ``reason`` a FailureReason
        │   └── NotEnrolledError        (facepay.checkout) an enrollment; ``reason`` likewise
        ├── OrderAlreadyPaidError   (facepay.checkout) the order was paid: take no other payment
        └── JournalError            (facepay.checkout) the till's journal file cannot be used

    facepay.checkout.PaymentUnansweredError (a TransportError) carries the ``pending``
    authorization to reconcile when a payment's answer was lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from facepay.types import PinRefusal

__all__ = [
    "AuthenticationError",
    "BackendError",
    "CameraUnavailableError",
    "CaptureError",
    "CheckoutError",
    "CheckoutFailedError",
    "ConfigurationError",
    "CryptoError",
    "FaceNotUsableError",
    "FacePayError",
    "IdempotencyConflictError",
    "InvalidImageError",
    "InvalidSignatureError",
    "ModelError",
    "RateLimitedError",
    "RequestRejectedError",
    "SealedDataError",
    "ServerError",
    "SessionExpiredError",
    "SourceExhaustedError",
    "StaleRequestError",
    "TemplateFormatError",
    "TransportError",
    "WeakPinError",
]


class FacePayError(Exception):
    """Base of every error raised by facepay."""


class ConfigurationError(FacePayError, ValueError):
    """An option or a model card has a value facepay cannot use."""


class ModelError(FacePayError):
    """A model file is missing, corrupt, or does not describe the expected network."""


class CaptureError(FacePayError):
    """The frame source failed."""


class CameraUnavailableError(CaptureError):
    """The camera does not exist or cannot be opened."""


class SourceExhaustedError(CaptureError):
    """A finite source (video file, image folder) has no more frames."""


class InvalidImageError(FacePayError, ValueError):
    """An image is corrupt, empty, of the wrong dtype or shape, or absurdly small or large."""


class FaceNotUsableError(FacePayError):
    """No usable face: none, several, or one that fails the quality gate.

    ``reasons`` holds reason codes (strings of :class:`facepay.types.QualityReason`) the
    UI turns into prompts.
    """

    def __init__(self, message: str, reasons: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.reasons: tuple[str, ...] = tuple(reasons)


class WeakPinError(FacePayError, ValueError):
    """A PIN that cannot be a shopper's: not exactly 4 digits, or one an attacker tries
    first (0000, 1234, 1212: ``facepay.crypto.refused_pins``). ``reason`` says which
    (a :class:`facepay.types.PinRefusal`); the PIN itself is never in the message."""

    def __init__(self, reason: PinRefusal) -> None:
        super().__init__(f"this PIN cannot be used: {reason.value}")
        self.reason = reason


class CryptoError(FacePayError):
    """Key material or crypto parameters are unusable."""


class SealedDataError(CryptoError):
    """Sealed data could not be opened or verified.

    Deliberately opaque: wrong key, tampered, truncated, replayed into another session
    and unknown key id all look the same, so an attacker learns nothing from the error.
    """

    def __init__(self) -> None:
        super().__init__("sealed data could not be opened")


class InvalidSignatureError(CryptoError):
    """A device's request signature or a backend receipt signature does not verify.

    Opaque like :class:`SealedDataError`: wrong key, tampered message, malformed
    signature and missing headers all look the same.
    """

    def __init__(self) -> None:
        super().__init__("signature does not verify")


class StaleRequestError(CryptoError):
    """A correctly signed request that is not fresh.

    ``reason`` is ``"clock_skew"`` (timestamp further than the allowed skew from the
    backend's clock) or ``"nonce_reused"`` (a replay). Only raised after the signature
    verified, so telling the device which one leaks nothing to a forger.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class TemplateFormatError(CryptoError, ValueError):
    """Serialized template bytes are malformed: bad header, wrong size, NaN or infinity."""


class BackendError(FacePayError):
    """The payment backend answered with an error, or could not be reached."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.request_id = request_id


class TransportError(BackendError):
    """No answer from the backend (connection refused or reset, timeout).

    The outcome of a non-idempotent call is unknown; authorize calls are safe to
    retry with the same idempotency key, which is how the client reconciles.
    """


class AuthenticationError(BackendError):
    """The backend did not accept the device: unknown, bad signature, skew or replay."""


class RequestRejectedError(BackendError):
    """The backend refused a malformed or disallowed request (4xx)."""


class IdempotencyConflictError(RequestRejectedError):
    """The idempotency key was already used with a different request body (409)."""


class SessionExpiredError(RequestRejectedError):
    """The checkout session has expired or was already used."""


class RateLimitedError(RequestRejectedError):
    """Too many attempts: a rate limit or a lockout (429)."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = 429,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code, request_id=request_id)
        self.retry_after = retry_after


class ServerError(BackendError):
    """The backend failed (5xx)."""


class CheckoutError(FacePayError):
    """The checkout flow was driven out of order, cancelled or timed out."""


class CheckoutFailedError(CheckoutError):
    """The attempt ended before the backend decided, so nothing was charged.

    ``state`` is where the flow ended (``failed``, ``timed_out``, ``cancelled``) and
    ``reason`` why. The checkout flow raises its subclasses, whose ``state`` is a
    ``CheckoutState`` and ``reason`` a ``FailureReason`` (both str-valued enums), with the
    liveness stage's reasons as a typed tuple: never personal data, never a string to split.
    """

    def __init__(self, message: str, *, state: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.state = state
        self.reason = reason

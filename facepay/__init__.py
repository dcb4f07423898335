"""facepay: face-pay checkout for retail point of sale, done with privacy first.

This module is the public API: applications (the kiosk, a retailer's POS) import from
``facepay`` only. Everything else is private and may change.
"""

from __future__ import annotations

from facepay.errors import (
    AuthenticationError,
    BackendError,
    CameraUnavailableError,
    CaptureError,
    CheckoutError,
    ConfigurationError,
    CryptoError,
    FaceNotUsableError,
    FacePayError,
    IdempotencyConflictError,
    InvalidImageError,
    InvalidSignatureError,
    LivenessError,
    ModelError,
    RateLimitedError,
    RequestRejectedError,
    SealedDataError,
    ServerError,
    SessionExpiredError,
    SourceExhaustedError,
    StaleRequestError,
    TemplateFormatError,
    TransportError,
)
from facepay.types import (
    BoundingBox,
    FaceObservation,
    FaceTemplate,
    Frame,
    HeadPose,
    LivenessDecision,
    LivenessVerdict,
    QualityReason,
    QualityReport,
    SealedTemplate,
)

__version__ = "0.1.0"

__all__ = [
    "AuthenticationError",
    "BackendError",
    "BoundingBox",
    "CameraUnavailableError",
    "CaptureError",
    "CheckoutError",
    "ConfigurationError",
    "CryptoError",
    "FaceNotUsableError",
    "FaceObservation",
    "FacePayError",
    "FaceTemplate",
    "Frame",
    "HeadPose",
    "IdempotencyConflictError",
    "InvalidImageError",
    "InvalidSignatureError",
    "LivenessDecision",
    "LivenessError",
    "LivenessVerdict",
    "ModelError",
    "QualityReason",
    "QualityReport",
    "RateLimitedError",
    "RequestRejectedError",
    "SealedDataError",
    "SealedTemplate",
    "ServerError",
    "SessionExpiredError",
    "SourceExhaustedError",
    "StaleRequestError",
    "TemplateFormatError",
    "TransportError",
    "__version__",
]

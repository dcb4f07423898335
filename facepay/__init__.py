"""facepay: face-pay checkout for retail point of sale, done with privacy first.

This module is the public API: applications (the kiosk, a retailer's POS) import from
``facepay`` only. Everything else is private and may change.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

from facepay.errors import (
    AuthenticationError,
    BackendError,
    CameraUnavailableError,
    CaptureError,
    CheckoutError,
    CheckoutFailedError,
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

# The checkout flow, the client and the wire models pull in httpx, pydantic and
# cryptography (about a second on the 2-core till): load them on first use (PEP 562), so
# that ``import facepay`` for the vision pipeline or the CLI stays fast.
_LAZY: dict[str, str] = {
    "AsyncFacePayClient": "facepay.client",
    "BackendPublicKey": "facepay.crypto",
    "Basket": "facepay.checkout",
    "BasketLine": "facepay.checkout",
    "CameraSource": "facepay.capture",
    "CheckoutConfig": "facepay.config",
    "CheckoutEvent": "facepay.checkout",
    "CheckoutFinished": "facepay.checkout",
    "CheckoutSession": "facepay.checkout",
    "CheckoutState": "facepay.checkout",
    "Claim": "facepay.wire",
    "ClaimKind": "facepay.wire",
    "ClientConfig": "facepay.config",
    "ConsentRecord": "facepay.wire",
    "DeviceKey": "facepay.crypto",
    "DevicePublicKey": "facepay.crypto",
    "DeviceSigner": "facepay.checkout",
    "DlibResNetEmbedder": "facepay.vision",
    "Embedder": "facepay.vision",
    "EmbedderConfig": "facepay.config",
    "EnrollmentResult": "facepay.checkout",
    "EnrollmentSession": "facepay.checkout",
    "FaceDetectorConfig": "facepay.config",
    "FaceMeshDetector": "facepay.vision",
    "FacePayClient": "facepay.client",
    "FrameAnalyzer": "facepay.vision",
    "FrameFeedback": "facepay.checkout",
    "FrameSource": "facepay.capture",
    "ImageFolderSource": "facepay.capture",
    "LivenessProgressed": "facepay.checkout",
    "ModelCard": "facepay.vision",
    "OnnxEmbedder": "facepay.vision",
    "PaymentStatus": "facepay.checkout",
    "PendingAuthorization": "facepay.checkout",
    "QualityConfig": "facepay.config",
    "QualityGate": "facepay.vision",
    "QualityPrompt": "facepay.checkout",
    "ReceiptPublicKey": "facepay.crypto",
    "Receipt": "facepay.checkout",
    "Sandbox": "facepay.server",
    "SealingSuite": "facepay.crypto",
    "StateChanged": "facepay.checkout",
    "Till": "facepay.checkout",
    "VideoFileSource": "facepay.capture",
    "consent_now": "facepay.checkout",
    "fixed_liveness_plan": "facepay.checkout",
    "format_money": "facepay.checkout",
    "fuse_templates": "facepay.vision",
    "new_idempotency_key": "facepay.client",
    "open_source": "facepay.capture",
    "seeded_liveness": "facepay.checkout",
    "verify_receipt": "facepay.crypto",
}

if _typing.TYPE_CHECKING:
    from facepay.capture import (
        CameraSource,
        FrameSource,
        ImageFolderSource,
        VideoFileSource,
        open_source,
    )
    from facepay.checkout import (
        Basket,
        BasketLine,
        CheckoutEvent,
        CheckoutFinished,
        CheckoutSession,
        CheckoutState,
        DeviceSigner,
        EnrollmentResult,
        EnrollmentSession,
        FrameFeedback,
        LivenessProgressed,
        PaymentStatus,
        PendingAuthorization,
        QualityPrompt,
        Receipt,
        StateChanged,
        Till,
        consent_now,
        fixed_liveness_plan,
        format_money,
        seeded_liveness,
    )
    from facepay.client import (
        AsyncFacePayClient,
        FacePayClient,
        new_idempotency_key,
    )
    from facepay.config import (
        CheckoutConfig,
        ClientConfig,
        EmbedderConfig,
        FaceDetectorConfig,
        QualityConfig,
    )
    from facepay.crypto import (
        BackendPublicKey,
        DeviceKey,
        DevicePublicKey,
        ReceiptPublicKey,
        SealingSuite,
        verify_receipt,
    )
    from facepay.server import Sandbox
    from facepay.vision import (
        DlibResNetEmbedder,
        Embedder,
        FaceMeshDetector,
        FrameAnalyzer,
        ModelCard,
        OnnxEmbedder,
        QualityGate,
        fuse_templates,
    )
    from facepay.wire import (
        Claim,
        ClaimKind,
        ConsentRecord,
    )


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'facepay' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"

__all__ = [
    "AsyncFacePayClient",
    "AuthenticationError",
    "BackendError",
    "BackendPublicKey",
    "Basket",
    "BasketLine",
    "BoundingBox",
    "CameraSource",
    "CameraUnavailableError",
    "CaptureError",
    "CheckoutConfig",
    "CheckoutError",
    "CheckoutEvent",
    "CheckoutFailedError",
    "CheckoutFinished",
    "CheckoutSession",
    "CheckoutState",
    "Claim",
    "ClaimKind",
    "ClientConfig",
    "ConfigurationError",
    "ConsentRecord",
    "CryptoError",
    "DeviceKey",
    "DevicePublicKey",
    "DeviceSigner",
    "DlibResNetEmbedder",
    "Embedder",
    "EmbedderConfig",
    "EnrollmentResult",
    "EnrollmentSession",
    "FaceDetectorConfig",
    "FaceMeshDetector",
    "FaceNotUsableError",
    "FaceObservation",
    "FacePayClient",
    "FacePayError",
    "FaceTemplate",
    "Frame",
    "FrameAnalyzer",
    "FrameFeedback",
    "FrameSource",
    "HeadPose",
    "IdempotencyConflictError",
    "ImageFolderSource",
    "InvalidImageError",
    "InvalidSignatureError",
    "LivenessDecision",
    "LivenessError",
    "LivenessProgressed",
    "LivenessVerdict",
    "ModelCard",
    "ModelError",
    "OnnxEmbedder",
    "PaymentStatus",
    "PendingAuthorization",
    "QualityConfig",
    "QualityGate",
    "QualityPrompt",
    "QualityReason",
    "QualityReport",
    "RateLimitedError",
    "Receipt",
    "ReceiptPublicKey",
    "RequestRejectedError",
    "Sandbox",
    "SealedDataError",
    "SealedTemplate",
    "SealingSuite",
    "ServerError",
    "SessionExpiredError",
    "SourceExhaustedError",
    "StaleRequestError",
    "StateChanged",
    "TemplateFormatError",
    "Till",
    "TransportError",
    "VideoFileSource",
    "__version__",
    "consent_now",
    "fixed_liveness_plan",
    "format_money",
    "fuse_templates",
    "new_idempotency_key",
    "open_source",
    "seeded_liveness",
    "verify_receipt",
]

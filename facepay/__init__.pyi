# ruff: noqa: I001  (grouped by what an integrator does, not sorted by module)
# The public API of facepay: the names a POS integrator needs (the kiosk is the reference
# integrator, and it may import nothing else), each listed once, here.
#
# This stub is the one list: type checkers read it, and facepay/__init__.py reads it at
# import (lazy_loader.attach_stub) to build __all__ and to load each name on first use, so
# `import facepay` stays fast. Everything else stays importable from its subpackage
# (facepay.vision, facepay.liveness, facepay.capture, facepay.crypto, facepay.client,
# facepay.types, facepay.errors, facepay.config, facepay.wire, facepay.checkout).

# The till and its flows.
from .checkout import Basket as Basket
from .checkout import BasketLine as BasketLine
from .checkout import CheckoutSession as CheckoutSession
from .checkout import CheckoutState as CheckoutState
from .checkout import EnrollmentResult as EnrollmentResult
from .checkout import EnrollmentSession as EnrollmentSession
from .checkout import FailureReason as FailureReason
from .checkout import OrderAlreadyPaidError as OrderAlreadyPaidError
from .checkout import OrderPayment as OrderPayment
from .checkout import PaymentStatus as PaymentStatus
from .checkout import PendingAuthorization as PendingAuthorization
from .checkout import Receipt as Receipt
from .checkout import Till as Till
from .checkout import consent_now as consent_now
from .checkout import format_money as format_money
from .testing import fixed_liveness_plan as fixed_liveness_plan
from .checkout import seeded_liveness as seeded_liveness

# What a UI is told while it feeds frames.
from .checkout import CheckoutEvent as CheckoutEvent
from .checkout import CheckoutFinished as CheckoutFinished
from .checkout import FrameFeedback as FrameFeedback
from .checkout import LivenessProgressed as LivenessProgressed
from .checkout import QualityPrompt as QualityPrompt
from .checkout import StateChanged as StateChanged
from .liveness import LivenessReason as LivenessReason
from .types import QualityReason as QualityReason

# Who the shopper says they are.
from .wire import Claim as Claim
from .wire import ClaimKind as ClaimKind
from .wire import phone_to_e164 as phone_to_e164

# The camera and the face models a till loads once.
from .capture import open_source as open_source
from .types import Frame as Frame
from .vision import DlibResNetEmbedder as DlibResNetEmbedder
from .vision import FrameAnalyzer as FrameAnalyzer

# Native libraries' log noise (absl, TensorFlow Lite) kept off the user's terminal.
from ._native_logs import quiet_native_logs as quiet_native_logs

# Options and the till's key; the sandbox backend for development.
from .config import CheckoutConfig as CheckoutConfig
from .config import ClientConfig as ClientConfig
from .config import QualityConfig as QualityConfig
from .crypto import DeviceKey as DeviceKey
from .server import Sandbox as Sandbox

# Errors a POS acts on (the whole tree is in facepay.errors).
from .checkout import NotEnrolledError as NotEnrolledError
from .checkout import PaymentNotTakenError as PaymentNotTakenError
from .checkout import PaymentUnansweredError as PaymentUnansweredError
from .errors import BackendError as BackendError
from .errors import CameraUnavailableError as CameraUnavailableError
from .errors import CheckoutError as CheckoutError
from .errors import CheckoutFailedError as CheckoutFailedError
from .errors import ConfigurationError as ConfigurationError
from .errors import FacePayError as FacePayError
from .errors import RateLimitedError as RateLimitedError
from .errors import ServerError as ServerError
from .errors import SourceExhaustedError as SourceExhaustedError
from .errors import TransportError as TransportError
from .errors import WeakPinError as WeakPinError

__version__: str
__all__: list[str]

"""Wire models of the facepay protocol, shared by the client and the backend.

Version 1 of the protocol: JSON over HTTPS, every path under ``/v1``. The prose
specification, with the canonical signing string, the error codes and the idempotency
rules, is ``docs/protocol.md``; this module is its executable half. Both ends validate
with these models, so a field the server rejects is a field the client cannot build.

Rules that hold for every model here:

- unknown fields are rejected (``extra="forbid"``): a typo is an error, not a silent no-op;
- amounts are integers in the currency's minor units (``1999`` EUR is 19.99 EUR), never
  floats, and a string or a boolean is not accepted as a number;
- currencies are ISO 4217 alphabetic codes that are in circulation;
- binary values (keys, nonces, ciphertext, signatures) travel as unpadded base64url text;
- no model has a field for a face image, and templates only travel sealed (HPKE).
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import json
import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from facepay.config import MAX_CLOCK_SKEW_S
from facepay.types import SealedTemplate

__all__ = [
    "ANSWER_SCHEME",
    "API_PREFIX",
    "BASKET_REFERENCE_PATTERN",
    "CURRENCY_EXPONENTS",
    "HEADER_ANSWER_KEY",
    "HEADER_ANSWER_NONCE",
    "HEADER_ANSWER_SIGNATURE",
    "HEADER_DEVICE",
    "HEADER_IDEMPOTENCY_KEY",
    "HEADER_NONCE",
    "HEADER_PROTOCOL",
    "HEADER_REQUEST_ID",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "MAX_BODY_BYTES",
    "MAX_CLOCK_SKEW_SECONDS",
    "PROTOCOL_VERSION",
    "SANDBOX_PAYMENT_TOKENS",
    "SIGNATURE_SCHEME",
    "AuthorizationResponse",
    "AuthorizationStatus",
    "AuthorizeRequest",
    "CheckoutSessionInfo",
    "Claim",
    "ClaimKind",
    "ConsentRecord",
    "CreateSessionRequest",
    "DeclineReason",
    "DeletionReceipt",
    "DeviceRegistration",
    "DeviceRegistrationRequest",
    "DeviceRevocation",
    "EnrollmentRequest",
    "EnrollmentResponse",
    "ErrorBody",
    "ErrorCode",
    "ErrorResponse",
    "HealthResponse",
    "KeySet",
    "LivenessRefusalRequest",
    "LivenessRefusalResponse",
    "LivenessSummary",
    "NextAnswerKey",
    "OrderAuthorizations",
    "SealedTemplateWire",
    "SealingKeyInfo",
    "SessionPurpose",
    "ShopperAccessRequest",
    "ShopperAuthorizationSummary",
    "ShopperExport",
    "StepUp",
    "StepUpKind",
    "StepUpRequest",
    "TenantRegistration",
    "TenantRequest",
    "WireModel",
    "WithdrawConsentResponse",
    "b64decode",
    "b64encode",
    "body_sha256",
    "holds_card_number",
    "looks_like_card_number",
    "phone_to_e164",
]

PROTOCOL_VERSION = "1"
API_PREFIX = "/v1"

# Request headers of a signed device request (docs/protocol.md, "Signed requests"). The
# canonical request they sign is built by facepay.crypto.canonical_request /
# sign_request / verify_request (the same names, checked by tests/server).
HEADER_DEVICE = "X-FacePay-Device"
HEADER_TIMESTAMP = "X-FacePay-Timestamp"
HEADER_NONCE = "X-FacePay-Nonce"
HEADER_SIGNATURE = "X-FacePay-Signature"
# Sent by both ends: the protocol version the sender speaks.
HEADER_PROTOCOL = "X-FacePay-Protocol"
# Required on POST /v1/authorizations and on step-up answers (RFC draft
# "The Idempotency-Key HTTP Header Field", as Stripe uses it).
HEADER_IDEMPOTENCY_KEY = "Idempotency-Key"
# On every response; a client may send its own (8..64 safe characters) to correlate logs.
HEADER_REQUEST_ID = "X-Request-Id"

SIGNATURE_SCHEME = "FACEPAY-ED25519-V1"
# Signed answers (docs/protocol.md, "Signed answers"): the backend signs every answer,
# bound to the request's nonce; an unsigned request carries a nonce for its answer only.
ANSWER_SCHEME = "FACEPAY-ANSWER-ED25519-V1"
HEADER_ANSWER_NONCE = "X-FacePay-Answer-Nonce"
HEADER_ANSWER_KEY = "X-FacePay-Answer-Key"
HEADER_ANSWER_SIGNATURE = "X-FacePay-Answer-Signature"
# A signed request whose timestamp is further than this from the server clock is refused
# (the backend's default, ServerConfig.max_clock_skew_s; defined once, in facepay.config).
MAX_CLOCK_SKEW_SECONDS = MAX_CLOCK_SKEW_S
# The largest request body the backend reads. A sealed 512-d float32 template is ~2.2 KiB
# of ciphertext (~3 KiB in base64), ML-KEM adds ~1.1 KiB of encapsulated key: 64 KiB
# leaves ample room and still stops memory-exhaustion uploads at the door.
MAX_BODY_BYTES = 64 * 1024

# ISO 4217 currencies in circulation and their minor-unit exponents. Funds codes and
# precious metals (XAU, XDR, ...) are not payment currencies and are absent on purpose.
_TWO_DECIMAL = [
    "AED",
    "AFN",
    "ALL",
    "AMD",
    "ANG",
    "AOA",
    "ARS",
    "AUD",
    "AWG",
    "AZN",
    "BAM",
    "BBD",
    "BDT",
    "BGN",
    "BMD",
    "BND",
    "BOB",
    "BRL",
    "BSD",
    "BTN",
    "BWP",
    "BYN",
    "BZD",
    "CAD",
    "CDF",
    "CHF",
    "CNY",
    "COP",
    "CRC",
    "CUP",
    "CVE",
    "CZK",
    "DKK",
    "DOP",
    "DZD",
    "EGP",
    "ERN",
    "ETB",
    "EUR",
    "FJD",
    "FKP",
    "GBP",
    "GEL",
    "GHS",
    "GIP",
    "GMD",
    "GTQ",
    "GYD",
    "HKD",
    "HNL",
    "HTG",
    "HUF",
    "IDR",
    "ILS",
    "INR",
    "IRR",
    "JMD",
    "KES",
    "KGS",
    "KHR",
    "KPW",
    "KYD",
    "KZT",
    "LAK",
    "LBP",
    "LKR",
    "LRD",
    "LSL",
    "MAD",
    "MDL",
    "MGA",
    "MKD",
    "MMK",
    "MNT",
    "MOP",
    "MRU",
    "MUR",
    "MVR",
    "MWK",
    "MXN",
    "MYR",
    "MZN",
    "NAD",
    "NGN",
    "NIO",
    "NOK",
    "NPR",
    "NZD",
    "PAB",
    "PEN",
    "PGK",
    "PHP",
    "PKR",
    "PLN",
    "QAR",
    "RON",
    "RSD",
    "RUB",
    "SAR",
    "SBD",
    "SCR",
    "SDG",
    "SEK",
    "SGD",
    "SHP",
    "SLE",
    "SOS",
    "SRD",
    "SSP",
    "STN",
    "SVC",
    "SYP",
    "SZL",
    "THB",
    "TJS",
    "TMT",
    "TOP",
    "TRY",
    "TTD",
    "TWD",
    "TZS",
    "UAH",
    "USD",
    "UYU",
    "UZS",
    "VES",
    "WST",
    "XCD",
    "XCG",
    "YER",
    "ZAR",
    "ZMW",
    "ZWG",
]
_ZERO_DECIMAL = [
    "BIF",
    "CLP",
    "DJF",
    "GNF",
    "ISK",
    "JPY",
    "KMF",
    "KRW",
    "PYG",
    "RWF",
    "UGX",
    "VND",
    "VUV",
    "XAF",
    "XOF",
    "XPF",
]
_THREE_DECIMAL = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"]
CURRENCY_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(_TWO_DECIMAL, 2),
    **dict.fromkeys(_ZERO_DECIMAL, 0),
    **dict.fromkeys(_THREE_DECIMAL, 3),
}

# Sandbox payment-method tokens (like a payment provider's test mode). The backend never
# accepts a card number: a POS tokenizes the card with its acquirer first.
SANDBOX_PAYMENT_TOKENS: dict[str, str] = {
    "tok_visa_4242": "Visa •••• 4242",
    "tok_visa_1881": "Visa •••• 1881",
    "tok_mastercard_5555": "Mastercard •••• 4444",
    "tok_amex_0005": "American Express •••• 0005",
    # Enrolls fine, then every authorization is declined by the (simulated) issuer.
    "tok_chargeDeclined": "Visa •••• 0002",
}


# --------------------------------------------------------------------------- helpers


def b64encode(data: bytes) -> str:
    """Unpadded base64url, the protocol's encoding for every binary value."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes:
    """Inverse of :func:`b64encode`; accepts padding; raises ``ValueError`` on bad input."""
    if not isinstance(text, str) or not _B64URL_RE.fullmatch(text):
        raise ValueError("not base64url text")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url text") from exc


def body_sha256(body: bytes) -> str:
    """Lower-case hex SHA-256 of the raw request body (empty body: hash of b"")."""
    return hashlib.sha256(body).hexdigest()


_PAN_CANDIDATE_RE = re.compile(r"(?:\d[ -]?){12,19}")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def looks_like_card_number(text: str) -> bool:
    """True when ``text`` contains a run of 12-19 digits (spaces or dashes allowed).

    Deliberately broad (Luhn-valid or not): a string that might be a primary account
    number must never be stored or logged by a biometric backend (PCI DSS scope).
    """
    for match in _PAN_CANDIDATE_RE.finditer(text):
        digits = re.sub(r"[ -]", "", match.group(0))
        if 12 <= len(digits) <= 19:
            return True
    return False


# A whole token of 13-19 digits, in groups joined by single spaces or dashes, with no
# letter or digit right before or after it.
_PAN_TOKEN_RE = re.compile(r"(?<![A-Za-z0-9])\d+(?:[ -]\d+)*(?![A-Za-z0-9])")


def holds_card_number(text: str) -> bool:
    """True when ``text`` holds a token that is a payment card number: 13-19 digits
    (ISO/IEC 7812), Luhn-valid, standing on its own, written as one run
    (``order-4111111111111111``) or in groups of 3-6 digits joined by spaces or dashes
    as cards print them (``4111 1111 1111 1111``, ``3782-822463-10005``).

    For free-form references (basket references, idempotency keys, liveness evidence):
    narrower than :func:`looks_like_card_number` so that order numbers and random ids
    are never refused by accident (a digit run inside ``idem_3f5a...`` hex is not a
    token; a UUID's groups are not card groups); a card number typed or scanned into
    such a field is.
    """
    for match in _PAN_TOKEN_RE.finditer(text):
        groups = re.split(r"[ -]", match.group(0))
        digits = "".join(groups)
        card_groups = len(groups) == 1 or all(3 <= len(g) <= 6 for g in groups)
        if card_groups and 13 <= len(digits) <= 19 and _luhn_ok(digits):
            return True
    return False


# A POS's order id (``basket_reference``): what an authorization names and an order's
# lookup asks for.
BASKET_REFERENCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/#-]{0,63}$"


def _check_no_card_token(value: str) -> str:
    if holds_card_number(value):
        raise PydanticCustomError("card_number", "card numbers are never accepted")
    return value


# --------------------------------------------------------------------------- types

_B64URL_RE = re.compile(r"[A-Za-z0-9_-]*={0,2}")
_ID_RE = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"


def _check_b64(value: str) -> str:
    try:
        b64decode(value)
    except ValueError as exc:
        raise PydanticCustomError("base64url", "value is not unpadded base64url") from exc
    return value


Identifier = Annotated[str, Strict(), Field(pattern=_ID_RE)]
"""Tenant, store, lane, device, session ... ids: 1-64 characters, letters, digits ``._:-``."""

Base64Url = Annotated[str, Strict(), AfterValidator(_check_b64)]
MinorUnits = Annotated[int, Strict(), Field(gt=0, le=10**12)]
Timestamp = Annotated[datetime, Field()]
FiniteScore = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


def _check_currency(value: str) -> str:
    if value not in CURRENCY_EXPONENTS:
        raise PydanticCustomError(
            "currency", "not an ISO 4217 currency in circulation: {value}", {"value": value}
        )
    return value


Currency = Annotated[
    str, Strict(), Field(min_length=3, max_length=3), AfterValidator(_check_currency)
]


def _check_no_card_number(value: str) -> str:
    if looks_like_card_number(value):
        # The server maps this error type to the "card_number_rejected" code; the
        # message never echoes the value.
        raise PydanticCustomError("card_number", "card numbers are never accepted; send a token")
    return value


class WireModel(BaseModel):
    """Base of every protocol model: unknown fields rejected, instances immutable; a
    validation error names the field and the rule, never the value (a mistyped phone
    number, an answer's privacy code: a POS logs the error)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, str_max_length=4096, hide_input_in_errors=True
    )


# --------------------------------------------------------------------------- errors


class ErrorCode(str, enum.Enum):
    """Every ``error.code`` the backend sends. The HTTP status is in docs/protocol.md."""

    # 400 / 413 / 415: the request could not be read
    MALFORMED_REQUEST = "malformed_request"
    BODY_TOO_LARGE = "body_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    # 422: well-formed JSON that breaks the schema or a rule
    VALIDATION_FAILED = "validation_failed"
    CARD_NUMBER_REJECTED = "card_number_rejected"
    UNKNOWN_PAYMENT_TOKEN = "unknown_payment_token"  # noqa: S105 (an error code)
    SEALED_TEMPLATE_INVALID = "sealed_template_invalid"
    UNKNOWN_KEY_ID = "unknown_key_id"
    TEMPLATE_INVALID = "template_invalid"
    SESSION_MISMATCH = "session_mismatch"
    CLAIM_ALREADY_ENROLLED = "claim_already_enrolled"
    IDEMPOTENCY_KEY_MISSING = "idempotency_key_missing"
    # 401: the device is not who it says
    MISSING_SIGNATURE = "missing_signature"
    UNKNOWN_DEVICE = "unknown_device"
    BAD_SIGNATURE = "bad_signature"
    CLOCK_SKEW = "clock_skew"
    NONCE_REUSED = "nonce_reused"
    # 401 / 403: operator and shopper credentials
    ADMIN_TOKEN_INVALID = "admin_token_invalid"  # noqa: S105 (an error code)
    SHOPPER_ACCESS_DENIED = "shopper_access_denied"
    DEVICE_REVOKED = "device_revoked"
    # 404 / 405
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    # 409: idempotency and state
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    DEVICE_ALREADY_REGISTERED = "device_already_registered"
    STEP_UP_NOT_PENDING = "step_up_not_pending"
    ORDER_ALREADY_PAID = "order_already_paid"
    # 410: the checkout session is over
    SESSION_EXPIRED = "session_expired"
    SESSION_USED = "session_used"
    # 429
    RATE_LIMITED = "rate_limited"
    LOCKED_OUT = "locked_out"
    # 500 / 503: never on bad input
    INTERNAL_ERROR = "internal_error"
    UNAVAILABLE = "unavailable"


class ErrorBody(WireModel):
    code: ErrorCode
    message: str
    request_id: str
    # Seconds to wait before retrying (429 only).
    retry_after: float | None = None
    # Which fields failed validation (422 only): JSON paths like "amount_minor", never values.
    fields: tuple[str, ...] = ()
    # The authorization that paid the order (409 order_already_paid only).
    authorization_id: str | None = None


class ErrorResponse(WireModel):
    """The body of every non-2xx answer: ``{"error": {"code", "message", "request_id"}}``."""

    error: ErrorBody


# --------------------------------------------------------------------------- devices and keys


class HealthResponse(WireModel):
    status: Literal["ok"] = "ok"
    protocol_version: str = PROTOCOL_VERSION
    server_version: str
    server_time: Timestamp


class DeviceRegistrationRequest(WireModel):
    """``POST /v1/devices`` with ``Authorization: Bearer <enrollment token>``."""

    tenant_id: Identifier
    store_id: Identifier
    lane_id: Identifier
    # Raw 32-byte Ed25519 public key, base64url.
    public_key: Base64Url = Field(max_length=64)
    # Optional: let the operator choose the id; else the server assigns "dev_<random>".
    device_id: Identifier | None = None

    @field_validator("public_key")
    @classmethod
    def _ed25519_size(cls, value: str) -> str:
        if len(b64decode(value)) != 32:
            raise PydanticCustomError("key_size", "an Ed25519 public key is 32 bytes")
        return value


class DeviceRegistration(WireModel):
    device_id: Identifier
    tenant_id: Identifier
    store_id: Identifier
    lane_id: Identifier
    registered_at: Timestamp


class TenantRequest(WireModel):
    """``POST /v1/tenants`` with the backend's enrollment token: create a tenant
    (retailer). Devices register only into a tenant that exists, so a typo is refused."""

    tenant_id: Identifier


class TenantRegistration(WireModel):
    tenant_id: Identifier
    # Registers and revokes devices of this tenant only (``Authorization: Bearer ...``).
    enrollment_token: str
    created_at: Timestamp


class DeviceRevocation(WireModel):
    """``POST /v1/devices/{device_id}/revoke`` with the enrollment token: the device's key
    is refused from now on, in every backend process; it can never be registered again."""

    device_id: Identifier
    revoked_at: Timestamp


class SealingKeyInfo(WireModel):
    """One template-sealing public key the backend accepts."""

    key_id: Identifier
    suite: str = Field(max_length=128)
    public_key: Base64Url = Field(max_length=4096)
    # "current": seal to this one. "retiring": still opened until ``not_after``.
    status: Literal["current", "retiring"]
    not_after: Timestamp | None = None


class NextAnswerKey(WireModel):
    """The answer key the backend will switch to, endorsed by the current one
    (docs/protocol.md, "Signed answers": rotation)."""

    # Raw 32-byte Ed25519 public key (base64url).
    public_key: Base64Url = Field(max_length=64)
    # The current key's signature (base64url) of "FACEPAY-ANSWER-KEY-NEXT-V1\n<public_key>".
    endorsement: Base64Url = Field(max_length=128)


class KeySet(WireModel):
    """``GET /v1/keys``: sealing keys and the key that signs deletion receipts (and every
    answer: docs/protocol.md, "Signed answers")."""

    current_key_id: Identifier
    keys: tuple[SealingKeyInfo, ...]
    receipt_key_id: Identifier
    # Raw 32-byte Ed25519 public key (base64url) verifying DeletionReceipt.signature.
    receipt_public_key: Base64Url = Field(max_length=64)
    # While a rotation of that key is prepared: the next one, endorsed by it.
    next_answer_key: NextAnswerKey | None = None

    def current(self) -> SealingKeyInfo:
        for key in self.keys:
            if key.key_id == self.current_key_id:
                return key
        raise ValueError("key set has no current key")


# --------------------------------------------------------------------------- sessions


class SessionPurpose(str, enum.Enum):
    ENROLL = "enroll"
    PAY = "pay"


class CreateSessionRequest(WireModel):
    """``POST /v1/sessions`` (signed): open a checkout or enrollment session."""

    purpose: SessionPurpose


class CheckoutSessionInfo(WireModel):
    """A session: seal the template to ``sealing_key_id`` with ``session_id`` bound in."""

    session_id: Identifier
    purpose: SessionPurpose
    # 32 random bytes; bound into the HPKE info with the session id.
    server_nonce: Base64Url = Field(max_length=64)
    # 32 random bytes the kiosk derives its liveness challenge plan from.
    liveness_seed: Base64Url = Field(max_length=64)
    expires_at: Timestamp
    sealing_key_id: Identifier


class SealedTemplateWire(WireModel):
    """A :class:`facepay.types.SealedTemplate` on the wire (binary fields base64url)."""

    key_id: Identifier
    suite: str = Field(min_length=1, max_length=128)
    encapsulated_key: Base64Url = Field(min_length=1, max_length=4096)
    ciphertext: Base64Url = Field(min_length=1, max_length=16384)
    session_id: Identifier

    @classmethod
    def from_sealed(cls, sealed: SealedTemplate) -> SealedTemplateWire:
        return cls(
            key_id=sealed.key_id,
            suite=sealed.suite,
            encapsulated_key=b64encode(sealed.encapsulated_key),
            ciphertext=b64encode(sealed.ciphertext),
            session_id=sealed.session_id,
        )

    def to_sealed(self) -> SealedTemplate:
        return SealedTemplate(
            key_id=self.key_id,
            suite=self.suite,
            encapsulated_key=b64decode(self.encapsulated_key),
            ciphertext=b64decode(self.ciphertext),
            session_id=self.session_id,
        )


# --------------------------------------------------------------------------- enrollment


class ClaimKind(str, enum.Enum):
    PHONE = "phone"
    LOYALTY_CARD = "loyalty_card"


_PHONE_RE = re.compile(r"\+[1-9][0-9]{6,14}")


def phone_to_e164(typed: str, country_code: str) -> str:
    """A phone number as a shopper types it -> the E.164 form a phone ``Claim`` holds.

    ``0049 151 ...`` -> ``+49151...``; a national ``0151 ...`` -> ``+<country_code>151...``;
    anything else (``+49 151 ...``, ``49151...``) is taken as international. Spaces,
    dashes and brackets are ignored. The kiosk stores what this returns, and the privacy
    page looks shoppers up by it: one function, so both accept the same numbers.
    """
    d = "".join(ch for ch in typed if ch.isdigit())
    if d.startswith("00"):
        return "+" + d[2:]
    if d.startswith("0"):
        return f"+{country_code.lstrip('+')}{d[1:]}"
    return "+" + d


_LOYALTY_RE = re.compile(r"[A-Za-z0-9-]{4,32}")


class Claim(WireModel):
    """Who the shopper says they are: a phone number (E.164) or a loyalty card number.

    The backend stores only a keyed hash (HMAC-SHA256) of the value, plus the last four
    digits of a phone for step-up.
    """

    kind: ClaimKind
    # Personal data: kept out of repr so a log line or traceback never prints it.
    value: str = Field(min_length=4, max_length=32, repr=False)

    @field_validator("value")
    @classmethod
    def _shape(cls, value: str, info: ValidationInfo) -> str:
        kind = info.data.get("kind")
        if kind is ClaimKind.PHONE and not _PHONE_RE.fullmatch(value):
            raise PydanticCustomError("claim", "a phone claim is E.164: + and 7-15 digits")
        if kind is ClaimKind.LOYALTY_CARD and not _LOYALTY_RE.fullmatch(value):
            raise PydanticCustomError("claim", "a loyalty card is 4-32 letters, digits or -")
        return value


class ConsentRecord(WireModel):
    """The shopper's explicit opt-in, as shown and accepted on the kiosk."""

    # Version id of the consent text the shopper saw (e.g. "2026-01-en").
    text_version: Identifier
    accepted_at: Timestamp
    purpose: Literal["face_payment"] = "face_payment"
    # How long the template may be kept without use; at most 3 years (Illinois BIPA).
    retention_days: Annotated[int, Strict(), Field(ge=1, le=1095)] = 1095
    locale: Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")] = "en"


class EnrollmentRequest(WireModel):
    """``POST /v1/enrollments`` (signed), in a session opened with purpose "enroll"."""

    session_id: Identifier
    # The primary (frontal) view: fused from the best frames of the enrollment.
    sealed_template: SealedTemplateWire
    consent: ConsentRecord
    payment_method_token: Annotated[
        str, Strict(), Field(min_length=1, max_length=64), AfterValidator(_check_no_card_number)
    ]
    claim: Claim
    # Optional: the shopper's 4-digit PIN (grey-zone step-up), sealed by
    # facepay.crypto.seal_enrollment_pin to the session's key and bound to this session
    # (layout: docs/crypto.md). Without it, a face just short of the match is declined.
    sealed_pin: Base64Url | None = Field(default=None, max_length=4096)
    # Up to 4 more views of the same face (the head turns the liveness plan asked for),
    # each fused and sealed to this session like ``sealed_template``. Optional: a till
    # that sends none enrolls one view, as before. The backend keeps the views that
    # match the primary at the payment threshold (docs/protocol.md, "Enrollment").
    more_views: tuple[SealedTemplateWire, ...] = Field(default=(), max_length=4)


class EnrollmentResponse(WireModel):
    shopper_id: Identifier
    # Printed on the enrollment slip and on every receipt: with the claim it lets the
    # shopper export, withdraw or delete their data (docs/protocol.md, "Shopper rights").
    privacy_code: str
    masked_payment_method: str
    enrolled_at: Timestamp
    retention_days: int


# --------------------------------------------------------------------------- authorization


# Free text in liveness evidence: never a card number (it would be stored in the audit).
_EvidenceText64 = Annotated[str, Field(max_length=64), AfterValidator(_check_no_card_token)]


class LivenessSummary(WireModel):
    """What the till's liveness stage concluded: numbers and flags, never frames."""

    decision: Literal["live", "not_live", "inconclusive"]
    challenges: tuple[_EvidenceText64, ...] = Field(default=(), max_length=8)
    reasons: tuple[_EvidenceText64, ...] = Field(default=(), max_length=16)
    score: FiniteScore | None = None
    evidence: dict[
        _EvidenceText64,
        Annotated[float, Field(allow_inf_nan=False)]
        | int
        | bool
        | Annotated[str, Field(max_length=128), AfterValidator(_check_no_card_token)],
    ] = Field(default_factory=dict, max_length=32)


class AuthorizeRequest(WireModel):
    """``POST /v1/authorizations`` (signed, ``Idempotency-Key`` required)."""

    session_id: Identifier
    amount_minor: MinorUnits
    currency: Currency
    # The POS's own reference for the basket (order id): shown in the ledger.
    basket_reference: Annotated[
        str,
        Strict(),
        Field(pattern=BASKET_REFERENCE_PATTERN),
        AfterValidator(_check_no_card_token),
    ]
    sealed_template: SealedTemplateWire
    liveness: LivenessSummary
    # Claim-then-verify (the default): compare only against this claim's templates.
    # Without a claim the backend runs claimless 1:N only within its risk budget.
    claim: Claim | None = None


class LivenessRefusalRequest(WireModel):
    """``POST /v1/sessions/{session_id}/liveness-refusal`` (signed): the till's liveness
    ended ``not_live`` in this payment session. Numbers and flags, never frames; no claim
    (a refusal never counts against a shopper, docs/security.md)."""

    liveness: LivenessSummary


class LivenessRefusalResponse(WireModel):
    """The backend recorded the refusal: the session is spent and the device counted.
    ``replayed``: this is the answer to the same report sent before (counted once)."""

    session_id: Identifier
    status: Literal["recorded"] = "recorded"
    recorded_at: Timestamp
    replayed: bool = False


class AuthorizationStatus(str, enum.Enum):
    APPROVED = "approved"
    DECLINED = "declined"
    STEP_UP = "step_up"


class DeclineReason(str, enum.Enum):
    NO_MATCH = "no_match"
    LIVENESS_FAILED = "liveness_failed"
    PAYMENT_METHOD_DECLINED = "payment_method_declined"
    STEP_UP_FAILED = "step_up_failed"
    SHOPPER_LOCKED = "shopper_locked"
    CONSENT_WITHDRAWN = "consent_withdrawn"

    @property
    def another_attempt_may_pay(self) -> bool:
        """Whether a new attempt with the face may be approved: after a face that did not
        match, a liveness refusal or a failed step-up, yes (the shopper tries again); after
        the card was declined, the shopper was locked or withdrew consent, no (the card)."""
        return self in (
            DeclineReason.NO_MATCH,
            DeclineReason.LIVENESS_FAILED,
            DeclineReason.STEP_UP_FAILED,
        )


class StepUpKind(str, enum.Enum):
    # Best match not clearly ahead of the second: ask the last 4 digits of the phone and
    # answer with POST /v1/authorizations/{id}/step-up.
    PHONE_LAST4 = "phone_last4"
    # Claimless 1:N is over the risk budget: open a new session and authorize again
    # with a claim.
    CLAIM = "claim"
    # The face is just short of the match (the grey zone, ServerConfig.grey_threshold) for
    # one shopper who set a PIN: ask for it ("Enter your facepay PIN") and answer with
    # POST /v1/authorizations/{id}/step-up, the PIN sealed (StepUpRequest.sealed_pin).
    PIN = "pin"


class StepUp(WireModel):
    kind: StepUpKind
    # Until when a phone_last4 or pin step-up can be answered.
    expires_at: Timestamp | None = None


class AuthorizationResponse(WireModel):
    """The answer to an authorization (and to its step-up, and to its replay)."""

    authorization_id: Identifier
    status: AuthorizationStatus
    amount_minor: int
    currency: str
    basket_reference: str
    created_at: Timestamp
    # approved only
    receipt_id: str | None = None
    masked_payment_method: str | None = None
    privacy_code: str | None = None
    # declined only
    decline_reason: DeclineReason | None = None
    # step_up only
    step_up: StepUp | None = None


class OrderAuthorizations(WireModel):
    """``GET /v1/authorizations?basket_reference=...`` (signed): the authorizations of the
    asking device's tenant for one order (basket reference), oldest first, each as it
    stands now (after a step-up too), as reconcile by session answers it: never a
    privacy code, a shopper, a score or a template. Empty: nothing was ever decided
    for that order in this tenant, so nothing was charged.

    At most the backend's cap (``ServerConfig.order_payments_listed``, 50 by default):
    the order's approval and its step-ups still waiting always, then the newest others;
    ``more`` is true when older ones were left out."""

    basket_reference: str
    authorizations: list[AuthorizationResponse]
    more: bool = False


class StepUpRequest(WireModel):
    """``POST /v1/authorizations/{authorization_id}/step-up`` (signed, Idempotency-Key).

    Exactly one answer: ``phone_last4`` for a ``phone_last4`` step-up, ``sealed_pin``
    (facepay.crypto.seal_step_up_pin, bound to this authorization) for a ``pin`` one."""

    phone_last4: Annotated[str, Strict(), Field(pattern=r"^[0-9]{4}$")] | None = None
    sealed_pin: Base64Url | None = Field(default=None, max_length=4096)

    @model_validator(mode="after")
    def _one_answer(self) -> StepUpRequest:
        if (self.phone_last4 is None) == (self.sealed_pin is None):
            raise PydanticCustomError("step_up", "answer with phone_last4 or sealed_pin, not both")
        return self


# --------------------------------------------------------------------------- shopper rights


class ShopperAccessRequest(WireModel):
    """Body of the shopper-rights endpoints: the privacy code plus the enrolled claim."""

    privacy_code: Annotated[str, Strict(), Field(min_length=8, max_length=24, repr=False)]
    claim: Claim


class ShopperAuthorizationSummary(WireModel):
    authorization_id: str
    status: AuthorizationStatus
    amount_minor: int
    currency: str
    created_at: Timestamp


class ShopperExport(WireModel):
    """``POST /v1/shoppers/export``: everything stored about the shopper, in words.

    The template itself is never exported (it is stored only transformed and
    encrypted); ``template_stored`` says whether one exists.
    """

    shopper_id: str
    enrolled_at: Timestamp
    last_used_at: Timestamp | None
    consent: ConsentRecord
    consent_withdrawn_at: Timestamp | None
    claim_kind: ClaimKind
    claim_last4: str | None
    masked_payment_method: str
    template_stored: bool
    template_model_id: str | None
    # Whether a PIN is set (the PIN itself is never stored, only a salted slow hash).
    pin_set: bool = False
    # How many templates the stored set holds: views from enrollment, and views that
    # approved payments taught it (docs/privacy.md); 0 when none is stored.
    template_enrollment_views: int = 0
    template_adaptive_views: int = 0
    # Payments folded into the adaptive views so far (a view's update counts, summed).
    template_adaptive_updates: int = 0
    retention_expires_at: Timestamp
    authorizations: tuple[ShopperAuthorizationSummary, ...]


class WithdrawConsentResponse(WireModel):
    shopper_id: str
    consent_withdrawn_at: Timestamp
    template_destroyed: bool


class DeletionReceipt(WireModel):
    """Signed proof that a shopper's data was deleted (``POST /v1/shoppers/delete``).

    ``signature`` is Ed25519 by ``receipt_key_id`` (public key in ``GET /v1/keys``) over
    :meth:`signed_payload`.
    """

    receipt_id: str
    shopper_id: str
    deleted_at: Timestamp
    # What was destroyed, e.g. ("template_data_key", "template", "claim", "payment_method").
    erased: tuple[str, ...]
    receipt_key_id: str
    signature: Base64Url

    def signed_payload(self) -> bytes:
        """The exact bytes signed: the receipt without its signature, canonical JSON
        (sorted keys, no spaces, ASCII), as ``facepay.crypto.receipt_signing_bytes``
        builds them; verify with ``facepay.crypto.verify_receipt(receipt.model_dump(
        mode="json"), ReceiptPublicKey(raw, key_id=receipt_key_id))``."""
        data = self.model_dump(mode="json", exclude={"signature"})
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode("utf-8")

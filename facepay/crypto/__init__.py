"""facepay.crypto: every cryptographic operation of the SDK and the reference backend.

One safe call per job, no nonce or algorithm to choose, every failure to open or verify
collapsed into one opaque error (:class:`facepay.errors.SealedDataError`,
:class:`facepay.errors.InvalidSignatureError`). Raw primitives live in the private
``_hazmat`` module. See docs/crypto.md.

- Sealing templates to the backend (HPKE, RFC 9180), bound to a checkout session:
  :func:`seal_template` / :func:`open_template`, :class:`BackendKeyPair`,
  :class:`BackendPublicKey`, :class:`SealingKeyring` (rotation with a grace period).
- Device request signing (Ed25519): :class:`DeviceKey`, :func:`sign_request`,
  :func:`verify_request`, :class:`RequestFreshnessGuard`.
- Templates at rest: :class:`TemplateVault` (envelope encryption, one data key per
  record, crypto-shredding, master key rotation by re-wrapping) over a
  :class:`MasterKey` (:class:`FileMasterKey` by default, a KMS in production).
- Cancelable biometrics: :class:`TenantTransform`, a secret orthogonal transform per
  tenant (ISO/IEC 24745 unlinkability and renewability).
- Signed receipts: :class:`ReceiptSigner`, :func:`verify_receipt`.
- Signed answers (the same key under its own domain label): :func:`sign_answer`,
  :func:`verify_answer`, :func:`answer_key_pin`.
- The backend's key custody in one object: :class:`BackendKeyStore` (key directory).
- The shopper's PIN (grey-zone second factor): :func:`pin_refusal`,
  :func:`seal_enrollment_pin` / :func:`seal_step_up_pin` and their openers, and
  :func:`stretch_pin` (the stored form).
- Template serialization: :func:`encode_template` / :func:`decode_template`.
"""

from __future__ import annotations

from facepay.crypto._answers import (
    ANSWER_KEY_HEADER,
    ANSWER_SCHEME,
    ANSWER_SIGNATURE_HEADER,
    answer_key_pin,
    answer_nonce,
    answer_signing_bytes,
    endorse_next_answer_key,
    is_answer_key_pin,
    sign_answer,
    verify_answer,
    verify_next_answer_key,
)
from facepay.crypto._at_rest import (
    EncryptedRecord,
    FileMasterKey,
    KeyedHasher,
    MasterKey,
    TemplateVault,
    wrapped_key_master_id,
)
from facepay.crypto._cancelable import TenantTransform
from facepay.crypto._keystore import BackendKeyStore
from facepay.crypto._pin import (
    PIN_HASH_SCHEME,
    open_enrollment_pin,
    open_step_up_pin,
    pin_refusal,
    refused_pins,
    seal_enrollment_pin,
    seal_step_up_pin,
    stretch_pin,
)
from facepay.crypto._receipts import (
    RECEIPT_SIGNATURE_FIELD,
    ReceiptPublicKey,
    ReceiptSigner,
    receipt_signing_bytes,
    verify_receipt,
)
from facepay.crypto._sealing import (
    DEFAULT_GRACE_SECONDS,
    DEFAULT_SUITE,
    SEALING_PROTOCOL_VERSION,
    BackendKeyPair,
    BackendPublicKey,
    SealingKeyring,
    SealingSuite,
    open_bytes,
    open_template,
    seal_bytes,
    seal_template,
    sealed_template_from_dict,
    sealed_template_to_dict,
)
from facepay.crypto._signing import (
    DEFAULT_MAX_SKEW_SECONDS,
    DEVICE_HEADER,
    NONCE_HEADER,
    SIGNATURE_HEADER,
    SIGNATURE_HEADERS,
    SIGNATURE_SCHEME,
    TIMESTAMP_HEADER,
    DeviceKey,
    DevicePublicKey,
    RequestFreshnessGuard,
    VerifiedRequest,
    canonical_request,
    canonical_target,
    sign_request,
    signed_device_id,
    verify_request,
)
from facepay.crypto._template_codec import (
    MAX_TEMPLATE_DIMENSION,
    decode_template,
    encode_template,
)

__all__ = [
    "ANSWER_KEY_HEADER",
    "ANSWER_SCHEME",
    "ANSWER_SIGNATURE_HEADER",
    "DEFAULT_GRACE_SECONDS",
    "DEFAULT_MAX_SKEW_SECONDS",
    "DEFAULT_SUITE",
    "DEVICE_HEADER",
    "MAX_TEMPLATE_DIMENSION",
    "NONCE_HEADER",
    "PIN_HASH_SCHEME",
    "RECEIPT_SIGNATURE_FIELD",
    "SEALING_PROTOCOL_VERSION",
    "SIGNATURE_HEADER",
    "SIGNATURE_HEADERS",
    "SIGNATURE_SCHEME",
    "TIMESTAMP_HEADER",
    "BackendKeyPair",
    "BackendKeyStore",
    "BackendPublicKey",
    "DeviceKey",
    "DevicePublicKey",
    "EncryptedRecord",
    "FileMasterKey",
    "KeyedHasher",
    "MasterKey",
    "ReceiptPublicKey",
    "ReceiptSigner",
    "RequestFreshnessGuard",
    "SealingKeyring",
    "SealingSuite",
    "TemplateVault",
    "TenantTransform",
    "VerifiedRequest",
    "answer_key_pin",
    "answer_nonce",
    "answer_signing_bytes",
    "canonical_request",
    "canonical_target",
    "decode_template",
    "encode_template",
    "endorse_next_answer_key",
    "is_answer_key_pin",
    "open_bytes",
    "open_enrollment_pin",
    "open_step_up_pin",
    "open_template",
    "pin_refusal",
    "receipt_signing_bytes",
    "refused_pins",
    "seal_bytes",
    "seal_enrollment_pin",
    "seal_step_up_pin",
    "seal_template",
    "sealed_template_from_dict",
    "sealed_template_to_dict",
    "sign_answer",
    "sign_request",
    "signed_device_id",
    "stretch_pin",
    "verify_answer",
    "verify_next_answer_key",
    "verify_receipt",
    "verify_request",
    "wrapped_key_master_id",
]

"""The wire models: strict validation both ends share, and agreement with facepay.crypto."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

import facepay.crypto as crypto
from facepay import wire
from facepay.wire import AuthorizeRequest, Claim, EnrollmentRequest, looks_like_card_number

SEALED = {
    "key_id": "k1",
    "suite": "x25519-hkdf-sha256-chacha20poly1305",
    "encapsulated_key": "AAAA",
    "ciphertext": "AAAA",
    "session_id": "ses_1",
}
AUTH: dict[str, Any] = {
    "session_id": "ses_1",
    "amount_minor": 1999,
    "currency": "EUR",
    "basket_reference": "pos-1",
    "sealed_template": SEALED,
    "liveness": {"decision": "live"},
}


def test_header_names_and_scheme_match_the_signer() -> None:
    assert wire.HEADER_DEVICE == crypto.DEVICE_HEADER
    assert wire.HEADER_TIMESTAMP == crypto.TIMESTAMP_HEADER
    assert wire.HEADER_NONCE == crypto.NONCE_HEADER
    assert wire.HEADER_SIGNATURE == crypto.SIGNATURE_HEADER
    assert wire.SIGNATURE_SCHEME == crypto.SIGNATURE_SCHEME
    assert wire.MAX_CLOCK_SKEW_SECONDS == crypto.DEFAULT_MAX_SKEW_SECONDS


def test_a_valid_authorization_parses_from_json() -> None:
    req = AuthorizeRequest.model_validate_json(json.dumps(AUTH))
    assert req.amount_minor == 1999
    assert req.sealed_template.to_sealed().encapsulated_key == b"\x00\x00\x00"


@pytest.mark.parametrize(
    "change",
    [
        {"amount_minor": "1999"},
        {"amount_minor": 19.99},
        {"amount_minor": True},
        {"amount_minor": 0},
        {"amount_minor": 10**13},
        {"currency": "XAU"},
        {"currency": "EURO"},
        {"basket_reference": "has space"},
        {"session_id": "x" * 65},
        {"sealed_template": dict(SEALED, ciphertext="not base64!")},
        {"liveness": {"decision": "maybe"}},
        {"extra": 1},
    ],
)
def test_malformed_authorizations_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        AuthorizeRequest.model_validate_json(json.dumps(dict(AUTH, **change)))


@pytest.mark.parametrize("currency", ["JPY", "KWD", "CLP", "USD", "CHF"])
def test_currencies_in_circulation_are_accepted(currency: str) -> None:
    AuthorizeRequest.model_validate_json(json.dumps(dict(AUTH, currency=currency)))


@pytest.mark.parametrize(
    ("text", "is_pan"),
    [
        ("4242424242424242", True),
        ("4242 4242 4242 4242", True),
        ("5555-5555-5555-4444", True),
        ("4111111111111112", True),  # Luhn-invalid still refused
        ("tok_visa_4242", False),
        ("tok_mastercard_5555", False),
        ("12345678901", False),
    ],
)
def test_card_numbers_are_recognised(text: str, is_pan: bool) -> None:
    assert looks_like_card_number(text) is is_pan


def test_card_number_in_enrollment_is_its_own_error_type() -> None:
    body = {
        "session_id": "ses_1",
        "sealed_template": SEALED,
        "consent": {"text_version": "v1", "accepted_at": "2026-11-26T23:00:00Z"},
        "payment_method_token": "4242424242424242",
        "claim": {"kind": "phone", "value": "+4915112345678"},
    }
    with pytest.raises(ValidationError) as info:
        EnrollmentRequest.model_validate(body)
    assert [e["type"] for e in info.value.errors()] == ["card_number"]
    assert "4242424242424242" not in str(info.value.errors()[0]["msg"])


def test_claims_are_validated_and_kept_out_of_repr() -> None:
    claim = Claim(kind=wire.ClaimKind.PHONE, value="+4915112345678")
    assert "4915112345678" not in repr(claim)
    for bad in ("015112345678", "+0123456789", "+49 151 1234"):
        with pytest.raises(ValidationError):
            Claim(kind=wire.ClaimKind.PHONE, value=bad)


def test_retention_is_at_most_three_years() -> None:
    wire.ConsentRecord(text_version="v1", accepted_at="2026-01-01T00:00:00Z", retention_days=1095)
    with pytest.raises(ValidationError):
        wire.ConsentRecord(
            text_version="v1", accepted_at="2026-01-01T00:00:00Z", retention_days=1096
        )

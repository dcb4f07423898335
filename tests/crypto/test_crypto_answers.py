"""Signed answers: the bytes, the vector docs/crypto.md publishes (read from the page),
what a verifier refuses, and the domain separation from signed receipts."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from facepay.crypto import (
    ANSWER_KEY_HEADER,
    ANSWER_SIGNATURE_HEADER,
    ReceiptPublicKey,
    ReceiptSigner,
    answer_key_pin,
    answer_nonce,
    answer_signing_bytes,
    endorse_next_answer_key,
    receipt_signing_bytes,
    sign_answer,
    verify_answer,
    verify_next_answer_key,
    verify_receipt,
)
from facepay.crypto._common import b64decode, b64url_nopad
from facepay.errors import CryptoError, InvalidSignatureError

DOC = Path(__file__).resolve().parents[2] / "docs" / "crypto.md"


def _doc_vector() -> dict[str, str]:
    section = DOC.read_text(encoding="utf-8").split("### Signed answer: the bytes", 1)[1]
    block = re.findall(r"```text\n(.*?)```", section, flags=re.S)[1]
    out: dict[str, str] = {}
    for line in block.splitlines():
        name, sep, value = line.partition(":")
        if sep and re.fullmatch(r"answer\.[a-z_0-9]+", name.strip()):
            out[name.strip().removeprefix("answer.")] = value.strip()
    return out


V = _doc_vector()
NONCE = "AAECAwQFBgcICQoLDA0ODw"


def _args() -> dict[str, object]:
    return {
        "method": V["method"],
        "target": V["target"],
        "nonce": V["nonce"],
        "status": int(V["status"]),
        "body": V["body"].encode("utf-8"),
    }


def test_the_published_vector_is_what_the_code_signs_and_verifies() -> None:
    signer = ReceiptSigner(bytes.fromhex(V["private_key_hex"]), key_id="rcpt-00000001")
    assert signer.public_key.to_base64() == V["public_key_b64url"]
    assert answer_key_pin(signer.public_key.raw) == V["pin"]
    assert hashlib.sha256(V["body"].encode()).hexdigest() == V["body_sha256"]
    signed = answer_signing_bytes(**_args())  # type: ignore[arg-type]
    assert signed == V["signed_bytes"].replace("\\n", "\n").encode("utf-8")
    headers = sign_answer(signer, **_args())  # type: ignore[arg-type]
    assert headers == {
        ANSWER_KEY_HEADER: V["public_key_b64url"],
        ANSWER_SIGNATURE_HEADER: V["signature_b64url"],
    }
    # What a till in another language does: verify the published signature as given.
    assert verify_answer(headers, **_args()) == signer.public_key.raw  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("method", "GET"),
        ("target", "/v1/authorizations/auth_1/step-up"),
        ("nonce", "AAECAwQFBgcICQoLDA0OEA"),
        ("status", 402),
        ("body", b'{"status":"declined"}'),
    ],
)
def test_an_answer_is_bound_to_every_line(field: str, value: object) -> None:
    signer = ReceiptSigner.generate()
    headers = sign_answer(signer, **_args())  # type: ignore[arg-type]
    with pytest.raises(InvalidSignatureError):
        verify_answer(headers, **{**_args(), field: value})  # type: ignore[arg-type]


def test_missing_malformed_or_foreign_signatures_and_an_empty_nonce_are_refused() -> None:
    signer = ReceiptSigner.generate()
    headers = sign_answer(signer, **_args())  # type: ignore[arg-type]
    other = sign_answer(ReceiptSigner.generate(), **_args())  # type: ignore[arg-type]
    for bad in (
        {},
        {ANSWER_KEY_HEADER: headers[ANSWER_KEY_HEADER]},
        {ANSWER_SIGNATURE_HEADER: headers[ANSWER_SIGNATURE_HEADER]},
        {**headers, ANSWER_SIGNATURE_HEADER: "not base64!"},
        {**headers, ANSWER_SIGNATURE_HEADER: headers[ANSWER_SIGNATURE_HEADER][:-4]},
        {**headers, ANSWER_KEY_HEADER: b64url_nopad(bytes(31))},
        # A genuine signature under another key, presented as this one's, and vice versa.
        {
            ANSWER_KEY_HEADER: headers[ANSWER_KEY_HEADER],
            **{ANSWER_SIGNATURE_HEADER: other[ANSWER_SIGNATURE_HEADER]},
        },
    ):
        with pytest.raises(InvalidSignatureError):
            verify_answer(bad, **_args())  # type: ignore[arg-type]
    unbound = sign_answer(signer, **{**_args(), "nonce": ""})  # type: ignore[arg-type]
    with pytest.raises(InvalidSignatureError):
        verify_answer(unbound, **{**_args(), "nonce": ""})  # type: ignore[arg-type]
    # The verifier says which key signed; whether it is the backend's is the pin's question.
    assert verify_answer(other, **_args()) != signer.public_key.raw  # type: ignore[arg-type]


def test_the_nonce_an_answer_is_bound_to() -> None:
    signed_nonce = "s" * 22
    assert answer_nonce(signed_nonce, NONCE) == signed_nonce
    assert answer_nonce(None, NONCE) == NONCE
    assert answer_nonce("short", NONCE) == NONCE
    assert answer_nonce("line\nbreak-and-more-text", None) == ""
    assert answer_nonce(None, None) == ""


def test_a_target_or_method_that_could_forge_a_line_is_refused() -> None:
    for field, value in (("target", "/v1/keys\n200"), ("target", "v1/keys"), ("method", "get")):
        with pytest.raises(CryptoError):
            answer_signing_bytes(**{**_args(), field: value})  # type: ignore[arg-type]


def test_answer_signatures_and_receipt_signatures_never_stand_for_each_other() -> None:
    signer = ReceiptSigner.generate()
    receipt = {
        "receipt_id": "del_0123456789abcdef01234567",
        "shopper_id": "shp_0123456789abcdef01234567",
        "deleted_at": "2026-01-01T00:00:00Z",
        "erased": ["template"],
        "receipt_key_id": signer.key_id,
    }
    public = ReceiptPublicKey(signer.public_key.raw, key_id=signer.key_id)
    # The answer path signs only domain-labelled messages: never a receipt's bytes.
    with pytest.raises(CryptoError):
        signer.sign_bytes(receipt_signing_bytes(receipt))
    # And an answer's signature, put in a receipt, does not verify as one.
    headers = sign_answer(signer, **_args())  # type: ignore[arg-type]
    with pytest.raises(InvalidSignatureError):
        verify_receipt({**receipt, "signature": headers[ANSWER_SIGNATURE_HEADER]}, public)
    assert len(b64decode(headers[ANSWER_SIGNATURE_HEADER])) == 64


def test_a_pin_is_the_sha256_of_the_raw_key() -> None:
    raw = ReceiptSigner.generate().public_key.raw
    assert answer_key_pin(raw) == hashlib.sha256(raw).hexdigest()
    with pytest.raises(CryptoError):
        answer_key_pin(raw[:31])


def test_only_the_current_key_endorses_the_next() -> None:
    current, upcoming, stranger = (ReceiptSigner.generate() for _ in range(3))
    endorsement = endorse_next_answer_key(current, upcoming.public_key.raw)
    verify_next_answer_key(current.public_key.raw, upcoming.public_key.raw, endorsement)
    for key, nxt, sig in (
        (stranger.public_key.raw, upcoming.public_key.raw, endorsement),
        (current.public_key.raw, stranger.public_key.raw, endorsement),
        (current.public_key.raw, upcoming.public_key.raw, "AAAA"),
        (current.public_key.raw, upcoming.public_key.raw[:31], endorsement),
        # An answer signature is never an endorsement (another label).
        (
            current.public_key.raw,
            upcoming.public_key.raw,
            sign_answer(current, **_args())[ANSWER_SIGNATURE_HEADER],  # type: ignore[arg-type]
        ),
    ):
        with pytest.raises(InvalidSignatureError):
            verify_next_answer_key(key, nxt, sig)

"""The bytes and test vectors docs/crypto.md publishes for tills in other languages are
the code's: read from the page, checked against facepay.crypto, and the byte rules
re-implemented from the page's words alone and compared on hostile inputs."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from facepay.crypto import (
    BackendKeyPair,
    DeviceKey,
    ReceiptPublicKey,
    ReceiptSigner,
    SealingSuite,
    canonical_request,
    encode_template,
    open_template,
    receipt_signing_bytes,
    seal_template,
    verify_receipt,
)
from facepay.crypto._sealing import _template_info
from facepay.errors import SealedDataError, TemplateFormatError
from facepay.types import FaceTemplate, SealedTemplate
from facepay.wire import DeletionReceipt, b64decode, b64encode

DOC = Path(__file__).resolve().parents[2] / "docs" / "crypto.md"


def _vectors() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("### Test vectors", 1)[1]
    block = re.search(r"```text\n(.*?)```", section, flags=re.S)
    assert block
    out = {}
    for line in block.group(1).splitlines():
        if line.strip():
            name, _, value = line.partition(":")
            out[name.strip()] = value.strip()
    return out


V = _vectors()


def test_the_canonical_request_and_its_signature() -> None:
    key = DeviceKey(bytes.fromhex(V["request.device_private_key_hex"]))
    assert b64encode(key.public_key.raw) == V["request.device_public_key_b64url"]
    canonical = canonical_request(
        method=V["request.method"],
        target=V["request.target"],
        device_id=V["request.device_id"],
        timestamp=int(V["request.timestamp"]),
        nonce=V["request.nonce"],
        body=V["request.body"].encode(),
    )
    assert canonical == V["request.canonical"].replace("\\n", "\n").encode()
    assert not canonical.endswith(b"\n")
    assert b64encode(key.sign(canonical)) == V["request.signature_b64url"]


def _pairs_info(label: str, pairs: list[tuple[str, str]]) -> bytes:
    """The page's words: each string as a 2-byte big-endian length and its UTF-8 bytes."""
    out = b""
    for part in (label, *(s for pair in pairs for s in pair)):
        raw = part.encode()
        out += struct.pack(">H", len(raw)) + raw
    return out


def test_the_hpke_info_is_the_laid_out_pairs() -> None:
    pairs = [
        ("version", "1"),
        ("session_id", V["seal.session_id"]),
        ("key_id", V["seal.key_id"]),
        ("suite", V["seal.suite"]),
        ("tenant_id", ""),
        ("device_id", ""),
    ]
    info = _template_info(
        session_id=V["seal.session_id"],
        key_id=V["seal.key_id"],
        suite=SealingSuite(V["seal.suite"]),
        tenant_id="",
        device_id="",
    )
    assert info.hex() == V["seal.info_hex"]
    assert info == _pairs_info("facepay/sealed-template", pairs)
    assert V["seal.aad_hex"] == ""


def _keypair() -> BackendKeyPair:
    return BackendKeyPair(
        key_id=V["seal.key_id"],
        suite=SealingSuite(V["seal.suite"]),
        private_bytes=bytes.fromhex(V["seal.backend_private_key_hex"]),
    )


def _template() -> FaceTemplate:
    values = np.array([float(x) for x in V["seal.template_values"].split()], dtype=np.float32)
    return FaceTemplate(
        vector=values,
        model_id=V["seal.template_model_id"],
        frames_fused=int(V["seal.template_frames_fused"]),
    )


def test_the_published_sealed_template_opens_to_the_published_template() -> None:
    keys = _keypair()
    assert keys.public_key.raw.hex() == V["seal.backend_public_key_hex"]
    assert encode_template(_template()).hex() == V["seal.plaintext_hex"]
    sealed = SealedTemplate(
        key_id=V["seal.key_id"],
        suite=V["seal.suite"],
        encapsulated_key=bytes.fromhex(V["seal.encapsulated_key_hex"]),
        ciphertext=bytes.fromhex(V["seal.ciphertext_hex"]),
        session_id=V["seal.session_id"],
    )
    opened = open_template(sealed, keys, session_id=V["seal.session_id"])
    assert opened.vector.tolist() == _template().vector.tolist()
    assert (opened.model_id, opened.frames_fused) == (
        V["seal.template_model_id"],
        int(V["seal.template_frames_fused"]),
    )
    # The vector is bound as the page says: another session does not open it.
    with pytest.raises(SealedDataError):
        open_template(sealed, keys, session_id="ses_another0123456789abcdef")
    # And a fresh seal of the same template opens with the same published key.
    again = seal_template(_template(), keys.public_key, session_id=V["seal.session_id"])
    assert len(again.encapsulated_key) == 32
    assert len(again.ciphertext) == len(V["seal.plaintext_hex"]) // 2 + 16
    assert open_template(again, keys, session_id=V["seal.session_id"]).frames_fused == 5


def test_frames_fused_must_be_at_least_one() -> None:
    with pytest.raises(TemplateFormatError):
        encode_template(FaceTemplate(vector=np.ones(4, np.float32), model_id="m", frames_fused=0))


def test_the_receipt_signature_over_the_published_bytes() -> None:
    signer = ReceiptSigner(bytes.fromhex(V["receipt.private_key_hex"]), key_id=V["receipt.key_id"])
    assert b64encode(signer.public_key.raw) == V["receipt.public_key_b64url"]
    signed = V["receipt.signed_bytes"].encode("ascii")
    receipt = json.loads(signed)
    assert receipt_signing_bytes(receipt) == signed
    assert signer.sign(receipt) == V["receipt.signature_b64url"]
    full = {**receipt, "signature": V["receipt.signature_b64url"]}
    verify_receipt(
        full, ReceiptPublicKey(b64decode(V["receipt.public_key_b64url"]), key_id="rcpt-00000001")
    )
    assert DeletionReceipt(**full).signed_payload() == signed


def _escape(text: str) -> str:
    """A string as the page says: \\" and \\\\, \\b \\f \\n \\r \\t, other controls and
    everything above U+007E as lower-case \\uXXXX (surrogate pairs above U+FFFF)."""
    short = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r"}
    short["\t"] = "\\t"
    out = []
    for ch in text:
        if ch in short:
            out.append(short[ch])
        elif ord(ch) < 0x20 or ord(ch) > 0x7E:
            units = ch.encode("utf-16-be")
            out.extend(f"\\u{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _by_the_page(value: Any) -> str:
    if isinstance(value, dict):
        members = (f"{_escape(k)}:{_by_the_page(value[k])}" for k in sorted(value))
        return "{" + ",".join(members) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_by_the_page(v) for v in value) + "]"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    return _escape(value)


def test_the_receipt_bytes_follow_the_pages_rules_on_hostile_values() -> None:
    receipt = {
        "zeta": 'Straße 東京 🙂 \u007f\u0080 a/b "q" back\\slash \x00\x1f\t\n\r\b\f',
        "alpha": {"nested_b": [1, -2, True, False, None], "nested_a": "\u2028"},
        "Upper": 0,
        "receipt_key_id": "rcpt-00000001",
    }
    expected = _by_the_page(receipt).encode("ascii")
    assert receipt_signing_bytes(receipt) == expected
    assert b'"Upper":0' in expected  # upper case sorts before lower case (code points)

"""The shopper's PIN: the refusal rule, sealing bound to one context, the stored form, and
the byte layout and test vector docs/crypto.md publishes (read from the page)."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from facepay.crypto import (
    BackendKeyPair,
    SealingSuite,
    open_bytes,
    open_enrollment_pin,
    open_step_up_pin,
    open_template,
    pin_refusal,
    refused_pins,
    seal_bytes,
    seal_enrollment_pin,
    seal_step_up_pin,
    stretch_pin,
)
from facepay.crypto._sealing import _bytes_info
from facepay.errors import SealedDataError, WeakPinError
from facepay.types import PinRefusal, SealedTemplate

DOC = Path(__file__).resolve().parents[2] / "docs" / "crypto.md"
AUTH = "auth_0123456789abcdef01234567"


def _doc_vectors() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    out: dict[str, str] = {}
    for heading in ("### Test vectors", "### Sealed PIN"):
        section = text.split(heading, 1)[1]
        blocks = re.findall(r"```text\n(.*?)```", section, flags=re.S)
        block = blocks[0] if heading == "### Test vectors" else blocks[-1]
        for line in block.splitlines():
            name, sep, value = line.partition(":")
            if sep and re.fullmatch(r"[a-z_.]+", name.strip()):
                out[name.strip()] = value.strip()
    return out


V = _doc_vectors()


@pytest.fixture(scope="module")
def keys() -> BackendKeyPair:
    return BackendKeyPair.generate()


def test_the_refused_pins_are_the_114_patterns_and_nothing_else() -> None:
    refused = refused_pins()
    assert len(refused) == 114  # 10 repeated + 7 up + 7 down + 90 pairs (docs/security.md)
    for pin in ("0000", "1111", "1234", "4321", "6789", "3210", "1212", "9090", "0101"):
        assert pin in refused
    for pin in ("1235", "4071", "2580", "1004", "1122", "0120", "9875"):
        assert pin_refusal(pin) is None, pin
    assert pin_refusal("1234") is PinRefusal.SEQUENCE
    assert pin_refusal("7777") is PinRefusal.REPEATED_DIGIT
    assert pin_refusal("3434") is PinRefusal.REPEATED_PAIR
    for bad in ("123", "12345", "12a4", "", "١٢٣٤", " 1234"):  # Arabic-Indic digits too
        assert pin_refusal(bad) is PinRefusal.NOT_FOUR_DIGITS, bad


def test_a_refused_pin_is_never_sealed_and_the_error_keeps_it_out(keys: BackendKeyPair) -> None:
    with pytest.raises(WeakPinError) as caught:
        seal_enrollment_pin("2424", keys.public_key, session_id="ses_1")
    assert caught.value.reason is PinRefusal.REPEATED_PAIR
    assert "2424" not in str(caught.value)
    assert "2424" not in repr(caught.value)
    with pytest.raises(WeakPinError):
        seal_step_up_pin("12345", keys.public_key, authorization_id=AUTH)


def test_a_sealed_pin_opens_only_in_its_own_context(keys: BackendKeyPair) -> None:
    blob = seal_step_up_pin("4071", keys.public_key, authorization_id=AUTH)
    assert open_step_up_pin(blob, keys, authorization_id=AUTH) == "4071"
    assert b"4071" not in blob
    with pytest.raises(SealedDataError):
        open_step_up_pin(blob, keys, authorization_id=AUTH + "x")
    with pytest.raises(SealedDataError):
        open_enrollment_pin(blob, keys, session_id=AUTH)
    with pytest.raises(SealedDataError):
        open_step_up_pin(blob, BackendKeyPair.generate(key_id=keys.key_id), authorization_id=AUTH)
    for i in range(len(blob)):
        tampered = bytearray(blob)
        tampered[i] ^= 0x01
        with pytest.raises(SealedDataError):
            open_step_up_pin(bytes(tampered), keys, authorization_id=AUTH)
    enrolled = seal_enrollment_pin("4071", keys.public_key, session_id="ses_1")
    assert open_enrollment_pin(enrolled, keys, session_id="ses_1") == "4071"
    with pytest.raises(SealedDataError):
        open_enrollment_pin(enrolled, keys, session_id="ses_2")
    with pytest.raises(SealedDataError):
        open_step_up_pin(enrolled, keys, authorization_id="ses_1")


def test_a_sealed_pin_is_no_template_and_a_template_no_pin(keys: BackendKeyPair) -> None:
    blob = seal_enrollment_pin("4071", keys.public_key, session_id="ses_1")
    kid_len = blob[5]
    enc_end = 6 + kid_len + 32
    as_template = SealedTemplate(
        key_id=keys.key_id,
        suite=keys.suite.value,
        encapsulated_key=blob[6 + kid_len : enc_end],
        ciphertext=blob[enc_end:],
        session_id="ses_1",
    )
    with pytest.raises(SealedDataError):
        open_template(as_template, keys, session_id="ses_1")
    # Right label and context, but not 4 digits inside: refused like tampering.
    context = {"purpose": "step_up", "authorization_id": AUTH}
    five = seal_bytes(b"40711", keys.public_key, label="pin", context=context)
    assert open_bytes(five, keys, label="pin", context=context) == b"40711"
    with pytest.raises(SealedDataError):
        open_step_up_pin(five, keys, authorization_id=AUTH)


def test_every_sealed_pin_of_a_suite_has_one_length() -> None:
    for suite in (SealingSuite.X25519_CHACHA20POLY1305, SealingSuite.MLKEM768X25519_AES256GCM):
        pair = BackendKeyPair.generate(suite=suite, key_id="seal-1")
        sizes = {
            len(seal_step_up_pin(p, pair.public_key, authorization_id=AUTH))
            for p in ("0000", "4071", "9999")
        }
        enc = 1120 if suite.hybrid else 32
        assert sizes == {4 + 1 + 1 + len("seal-1") + enc + 4 + 16}


def test_the_stored_form_is_slow_salted_and_keyed_elsewhere() -> None:
    salt_a, salt_b = b"\x01" * 16, b"\x02" * 16
    a = stretch_pin("keyed-hash-of-4071", salt_a)
    assert len(a) == 32
    assert a == stretch_pin("keyed-hash-of-4071", salt_a)
    assert a != stretch_pin("keyed-hash-of-4071", salt_b)
    assert a != stretch_pin("keyed-hash-of-4072", salt_a)
    with pytest.raises(ValueError, match="salt"):
        stretch_pin("keyed-hash-of-4071", b"short")


def test_the_documented_pin_vector_opens_to_its_digits() -> None:
    pair = BackendKeyPair(
        key_id=V["seal.key_id"],
        suite=SealingSuite.parse(V["seal.suite"]),
        private_bytes=bytes.fromhex(V["seal.backend_private_key_hex"]),
    )
    blob = bytes.fromhex(V["pin.blob_hex"])
    # The layout of the page: magic, suite code, key id length, key id, enc, ciphertext.
    assert blob[:4] == b"FPB\x01"
    code, kid_len = struct.unpack(">BB", blob[4:6])
    assert code == 1
    assert blob[6 : 6 + kid_len].decode() == V["seal.key_id"]
    assert len(blob) == 6 + kid_len + 32 + 4 + 16
    context = {"purpose": "step_up", "authorization_id": V["pin.authorization_id"]}
    assert _bytes_info("pin", pair.key_id, pair.suite, context).hex() == V["pin.info_hex"]
    digits = open_step_up_pin(blob, pair, authorization_id=V["pin.authorization_id"])
    assert digits == V["pin.digits"]


def test_the_second_factor_section_names_real_tests_and_the_right_numbers() -> None:
    """docs/security.md, "Attacks tried: the second factor": every test it names exists,
    and the numbers of its combined false accept rate are this code's."""
    root = DOC.parents[1]
    text = (root / "docs" / "security.md").read_text(encoding="utf-8")
    section = text.split("## Attacks tried: the second factor", 1)[1].split("\n## ", 1)[0]
    sources = "".join(
        p.read_text(encoding="utf-8")
        for p in [
            *(root / "tests" / "security").glob("test_attack_pin_*.py"),
            *(root / "tests" / "security").glob("test_redteam_*.py"),
            root / "tests" / "server" / "test_grey_zone.py",
        ]
    )
    named = set(re.findall(r"(test_[a-z0-9_]+)`", section))
    assert len(named) >= 15
    for name in named:
        assert f"def {name}(" in sources, name
    allowed = 10_000 - len(refused_pins())
    assert f"{allowed:,}" in section
    assert f"{3 / allowed:.1e}".replace("e-04", "e-4") in section

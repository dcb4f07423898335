"""Published known-answer vectors for the primitives under facepay.crypto.

RFC 9180: cryptography's HPKE API draws the ephemeral key itself (no ikmE/skEm
parameter), so the *sender* side cannot be replayed against the RFC. The recipient side
can: we open the RFC's published ciphertext with the RFC's recipient key through the
exact suite object facepay seals with. The first message of the vector uses
aad "Count-0", which the public single-shot API does not take, so this test uses
cryptography's own ``_decrypt_with_aad`` (the public ``Suite.decrypt`` is the same call
with an empty aad).
"""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.bindings._rust import openssl as rust_openssl
from cryptography.hazmat.primitives.asymmetric import x25519

from facepay.crypto import BackendKeyPair, SealingSuite, _hazmat

# RFC 9180 appendix A.2.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305, base.
A21 = {
    "info": "4f6465206f6e2061204772656369616e2055726e",
    "skRm": "8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb",
    "pkRm": "4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a",
    "skEm": "f4ec9b33b792c372c1d2c2063507b684ef925b8c75a42dbcbf57d63ccd381600",
    "enc": "1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a",
    "pt": "4265617574792069732074727574682c20747275746820626561757479",
    "aad": "436f756e742d30",
    "ct": "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db"
    "21993c62ce81883d2dd1b51a28",
}


def test_rfc9180_a21_key_derivation() -> None:
    kp = BackendKeyPair(
        key_id="rfc9180",
        suite=SealingSuite.X25519_CHACHA20POLY1305,
        private_bytes=bytes.fromhex(A21["skRm"]),
    )
    assert kp.public_key.raw.hex() == A21["pkRm"]
    eph = x25519.X25519PrivateKey.from_private_bytes(bytes.fromhex(A21["skEm"]))
    assert eph.public_key().public_bytes_raw().hex() == A21["enc"]


def test_rfc9180_a21_open_published_ciphertext_with_our_suite() -> None:
    suite = _hazmat.hpke_suite(hybrid=False, aes=False)  # what the default suite seals with
    sk = x25519.X25519PrivateKey.from_private_bytes(bytes.fromhex(A21["skRm"]))
    blob = bytes.fromhex(A21["enc"] + A21["ct"])
    pt = rust_openssl.hpke._decrypt_with_aad(
        suite, blob, sk, info=bytes.fromhex(A21["info"]), aad=bytes.fromhex(A21["aad"])
    )
    assert pt == bytes.fromhex(A21["pt"]) == b"Beauty is truth, truth beauty"


def test_rfc9180_a21_wrong_info_fails() -> None:
    suite = _hazmat.hpke_suite(hybrid=False, aes=False)
    sk = x25519.X25519PrivateKey.from_private_bytes(bytes.fromhex(A21["skRm"]))
    blob = bytes.fromhex(A21["enc"] + A21["ct"])
    with pytest.raises(InvalidTag):
        rust_openssl.hpke._decrypt_with_aad(
            suite, blob, sk, info=b"Ode on a Grecian Urn!", aad=bytes.fromhex(A21["aad"])
        )


def test_rfc8439_chacha20_keystream_a1_vector_1() -> None:
    """RFC 8439 appendix A.1 test vector #1 (all-zero key, nonce and counter): the
    keystream the tenant transform derivation reads."""
    assert _hazmat.chacha20_keystream(bytes(32), 64).hex() == (
        "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7"
        "da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586"
    )


def test_rfc5869_hkdf_sha256_test_case_1() -> None:
    okm = _hazmat.hkdf_sha256(
        b"\x0b" * 22, salt=bytes(range(13)), info=bytes(range(0xF0, 0xFA)), length=42
    )
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )


# Our own golden values (not published vectors): they pin the derivations so that a
# change which would silently break compatibility between SDK/backend versions fails.


def test_golden_tenant_transform() -> None:
    from facepay.crypto import TenantTransform

    m = TenantTransform(b"\x01" * 32, tenant_id="acme", dimension=8)._matrix
    expected_row0 = [
        0.37048278788110345,
        -0.03643433398369311,
        -0.3223571373787077,
        -0.30515767845420444,
        -0.3717769367815639,
        -0.6148193041921737,
        0.06478973762145726,
        -0.3794221037596071,
    ]
    # QR runs in LAPACK: allow last-bit differences between BLAS builds, nothing more.
    assert max(abs(a - b) for a, b in zip(m[0], expected_row0, strict=True)) < 1e-9
    assert abs(m[7, 7] - -0.20001700799684916) < 1e-9


def test_golden_sealing_info() -> None:
    from facepay.crypto._sealing import _template_info

    info = _template_info(
        session_id="ses_1",
        key_id="k1",
        suite=SealingSuite.X25519_CHACHA20POLY1305,
        tenant_id="",
        device_id="",
    )
    assert info == (
        b"\x00\x17facepay/sealed-template"
        b"\x00\x07version\x00\x011"
        b"\x00\nsession_id\x00\x05ses_1"
        b"\x00\x06key_id\x00\x02k1"
        b"\x00\x05suite\x00\x23x25519-hkdf-sha256-chacha20poly1305"
        b"\x00\ttenant_id\x00\x00"
        b"\x00\tdevice_id\x00\x00"
    )

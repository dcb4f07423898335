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

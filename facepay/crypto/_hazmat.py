"""Hazardous materials: the raw primitives behind facepay.crypto.

#########################################################################################
#  This is a "Hazardous Materials" module. Nothing outside ``facepay/crypto`` may import  #
#  it, and nothing in it is safe to call without knowing exactly what you are doing:     #
#  nonces, key sizes, domain separation and error collapsing are the caller's problem.   #
#  Use the safe calls in ``facepay.crypto`` (seal_template/open_template, DeviceKey,      #
#  TemplateVault, TenantTransform, ReceiptSigner) instead.                               #
#########################################################################################

This is the only module in facepay that imports ``cryptography``. Keeping every primitive
here means one file to audit when a primitive, a parameter or the library changes.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, hpke, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, mlkem, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__: list[str] = []  # private: nothing here is part of any public API

HpkePrivateKey = x25519.X25519PrivateKey | hpke.MLKEM768X25519PrivateKey
HpkePublicKey = x25519.X25519PublicKey | hpke.MLKEM768X25519PublicKey

# Exceptions the primitives raise on bad input. Callers catch these (and ValueError /
# TypeError for malformed sizes) and collapse them into one opaque facepay error.
PRIMITIVE_FAILURES: tuple[type[BaseException], ...] = (
    InvalidTag,
    InvalidSignature,
    UnsupportedAlgorithm,
    ValueError,
    TypeError,
    OverflowError,
)

X25519_KEY_LEN = 32
MLKEM768_SEED_LEN = 64
MLKEM768_PUBLIC_LEN = 1184
ED25519_KEY_LEN = 32
ED25519_SIG_LEN = 64
AEAD_KEY_LEN = 32
AEAD_NONCE_LEN = 12


def random_bytes(n: int) -> bytes:
    return os.urandom(n)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


# --------------------------------------------------------------------------- HPKE


def hpke_suite(*, hybrid: bool, aes: bool) -> hpke.Suite:
    kem = hpke.KEM.MLKEM768_X25519 if hybrid else hpke.KEM.X25519
    aead = hpke.AEAD.AES_256_GCM if aes else hpke.AEAD.CHACHA20_POLY1305
    return hpke.Suite(kem, hpke.KDF.HKDF_SHA256, aead)


def hpke_enc_length(*, hybrid: bool) -> int:
    kem = hpke.KEM.MLKEM768_X25519 if hybrid else hpke.KEM.X25519
    return int(kem.enc_length())


def hpke_generate(*, hybrid: bool) -> tuple[HpkePrivateKey, bytes, bytes]:
    """Return (private key object, private key bytes, public key bytes)."""
    if hybrid:
        mk = mlkem.MLKEM768PrivateKey.generate()
        xk = x25519.X25519PrivateKey.generate()
        return hpke_private_from_bytes(mk.private_bytes_raw() + xk.private_bytes_raw(), True)
    k = x25519.X25519PrivateKey.generate()
    return hpke_private_from_bytes(k.private_bytes_raw(), False)


def hpke_private_from_bytes(data: bytes, hybrid: bool) -> tuple[HpkePrivateKey, bytes, bytes]:
    """Private key bytes: X25519 raw scalar (32), or ML-KEM-768 seed (64) + X25519 (32)."""
    if hybrid:
        if len(data) != MLKEM768_SEED_LEN + X25519_KEY_LEN:
            raise ValueError("bad hybrid private key length")
        mk = mlkem.MLKEM768PrivateKey.from_seed_bytes(data[:MLKEM768_SEED_LEN])
        xk = x25519.X25519PrivateKey.from_private_bytes(data[MLKEM768_SEED_LEN:])
        pub = mk.public_key().public_bytes_raw() + xk.public_key().public_bytes_raw()
        return hpke.MLKEM768X25519PrivateKey(mk, xk), bytes(data), pub
    if len(data) != X25519_KEY_LEN:
        raise ValueError("bad X25519 private key length")
    k = x25519.X25519PrivateKey.from_private_bytes(data)
    return k, bytes(data), k.public_key().public_bytes_raw()


def hpke_public_from_bytes(data: bytes, hybrid: bool) -> HpkePublicKey:
    if hybrid:
        if len(data) != MLKEM768_PUBLIC_LEN + X25519_KEY_LEN:
            raise ValueError("bad hybrid public key length")
        return hpke.MLKEM768X25519PublicKey(
            mlkem.MLKEM768PublicKey.from_public_bytes(data[:MLKEM768_PUBLIC_LEN]),
            x25519.X25519PublicKey.from_public_bytes(data[MLKEM768_PUBLIC_LEN:]),
        )
    if len(data) != X25519_KEY_LEN:
        raise ValueError("bad X25519 public key length")
    return x25519.X25519PublicKey.from_public_bytes(data)


def hpke_seal(suite: hpke.Suite, public_key: HpkePublicKey, plaintext: bytes, info: bytes) -> bytes:
    """Single-shot HPKE base mode (RFC 9180 section 6.1): returns ``enc || ct``."""
    return suite.encrypt(plaintext, public_key, info=info)


def hpke_open(
    suite: hpke.Suite, private_key: HpkePrivateKey, enc_and_ct: bytes, info: bytes
) -> bytes:
    return suite.decrypt(enc_and_ct, private_key, info=info)


# --------------------------------------------------------------------------- AEAD


def aead_seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """ChaCha20-Poly1305 with a fresh random 96-bit nonce: returns ``nonce || ct``.

    Random nonces are safe here because every data key encrypts very few messages
    (one template, or one data key under a master key: far below the 2^32 limit).
    """
    nonce = os.urandom(AEAD_NONCE_LEN)
    return nonce + ChaCha20Poly1305(key).encrypt(nonce, plaintext, aad)


def aead_open(key: bytes, blob: bytes, aad: bytes) -> bytes:
    if len(blob) < AEAD_NONCE_LEN + 16:
        raise ValueError("truncated")
    return ChaCha20Poly1305(key).decrypt(blob[:AEAD_NONCE_LEN], blob[AEAD_NONCE_LEN:], aad)


# --------------------------------------------------------------------------- KDF / stream


def hkdf_sha256(ikm: bytes, *, info: bytes, length: int = 32, salt: bytes | None = None) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def chacha20_keystream(key: bytes, length: int) -> bytes:
    """``length`` bytes of ChaCha20 keystream (RFC 8439) under ``key`` with a zero nonce.

    A CSPRNG output for deterministic derivations: each key is used for one stream only.
    """
    nonce = bytes(16)  # cryptography's ChaCha20 takes a 128-bit counter||nonce block
    enc = Cipher(algorithms.ChaCha20(key, nonce), mode=None).encryptor()
    return enc.update(bytes(length)) + enc.finalize()


# --------------------------------------------------------------------------- Ed25519


def ed25519_generate() -> bytes:
    return ed25519.Ed25519PrivateKey.generate().private_bytes_raw()


def ed25519_public(private: bytes) -> bytes:
    return ed25519.Ed25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()


def ed25519_sign(private: bytes, message: bytes) -> bytes:
    return ed25519.Ed25519PrivateKey.from_private_bytes(private).sign(message)


def ed25519_verify(public: bytes, signature: bytes, message: bytes) -> bool:
    """True if ``signature`` is valid; False for any failure (bad key, bad signature)."""
    try:
        key = ed25519.Ed25519PublicKey.from_public_bytes(public)
        key.verify(signature, message)
    except PRIMITIVE_FAILURES:
        return False
    return True


def ed25519_private_to_pem(private: bytes) -> bytes:
    return ed25519.Ed25519PrivateKey.from_private_bytes(private).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def ed25519_private_from_pem(pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ValueError("not an Ed25519 private key")
    return key.private_bytes_raw()

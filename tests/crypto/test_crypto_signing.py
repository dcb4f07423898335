"""Device request signing: canonical form, RFC 8032 vector, tampering, freshness."""

from __future__ import annotations

import base64
import os
import pickle
import stat

import pytest

from facepay.crypto import (
    DEVICE_HEADER,
    NONCE_HEADER,
    SIGNATURE_HEADER,
    SIGNATURE_HEADERS,
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
from facepay.errors import CryptoError, InvalidSignatureError, StaleRequestError

# RFC 8032 section 7.1, TEST 1 (empty message).
RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_rfc8032_test_1() -> None:
    key = DeviceKey(RFC8032_SECRET)
    assert key.public_key.raw == RFC8032_PUBLIC
    assert key.sign(b"") == RFC8032_SIGNATURE


def test_canonical_request_is_exactly_specified() -> None:
    msg = canonical_request(
        method="post",
        target="/v1/authorize?x=1&y=%20",
        device_id="dev_1",
        timestamp=1_800_000_000,
        nonce="AAAAAAAAAAAAAAAAAAAAAA",
        body=b"{}",
    )
    assert msg == (
        b"FACEPAY-ED25519-V1\nPOST\n/v1/authorize?x=1&y=%20\ndev_1\n1800000000\n"
        b"AAAAAAAAAAAAAAAAAAAAAA\n"
        b"44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    )
    assert canonical_target("/v1/x", "") == "/v1/x"
    assert canonical_target("/v1/x", b"a=1") == "/v1/x?a=1"


def test_sign_and_verify_known_signature() -> None:
    key = DeviceKey(RFC8032_SECRET)
    headers = sign_request(
        key,
        device_id="dev_1",
        method="POST",
        target="/v1/x",
        body=b"{}",
        timestamp=1_800_000_000,
        nonce="AAAAAAAAAAAAAAAAAAAAAA",
    )
    assert set(headers) == set(SIGNATURE_HEADERS)
    assert headers[DEVICE_HEADER] == "dev_1"
    assert headers[TIMESTAMP_HEADER] == "1800000000"
    # Ed25519 is deterministic: the same key and request always give the same signature.
    again = sign_request(
        key,
        device_id="dev_1",
        method="POST",
        target="/v1/x",
        body=b"{}",
        timestamp=1_800_000_000,
        nonce="AAAAAAAAAAAAAAAAAAAAAA",
    )
    assert again == headers
    v = verify_request(key.public_key, headers=headers, method="POST", target="/v1/x", body=b"{}")
    assert v == VerifiedRequest(
        device_id="dev_1", timestamp=1_800_000_000, nonce="AAAAAAAAAAAAAAAAAAAAAA"
    )
    # Header names are case-insensitive, as in HTTP.
    lowered = {k.lower(): v for k, v in headers.items()}
    assert (
        verify_request(key.public_key, headers=lowered, method="post", target="/v1/x", body=b"{}")
        == v
    )


def test_fresh_nonce_per_call() -> None:
    key = DeviceKey.generate()
    a = sign_request(key, device_id="d", method="GET", target="/v1/keys")
    b = sign_request(key, device_id="d", method="GET", target="/v1/keys")
    assert a[NONCE_HEADER] != b[NONCE_HEADER]
    assert len(a[NONCE_HEADER]) == 22


def test_every_tampering_is_the_same_opaque_error() -> None:
    key = DeviceKey.generate()
    other = DeviceKey.generate()
    good = {"method": "POST", "target": "/v1/authorize", "body": b'{"amount":100}'}
    headers = sign_request(key, device_id="dev_1", **good)  # type: ignore[arg-type]
    sig = headers[SIGNATURE_HEADER]
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    cases = [
        (key.public_key, headers, {**good, "method": "PUT"}),
        (key.public_key, headers, {**good, "target": "/v1/authorize?x=1"}),
        (key.public_key, headers, {**good, "body": b'{"amount":1000}'}),
        (other.public_key, headers, good),
        (key.public_key, {**headers, DEVICE_HEADER: "dev_2"}, good),
        (
            key.public_key,
            {**headers, TIMESTAMP_HEADER: str(int(headers[TIMESTAMP_HEADER]) + 1)},
            good,
        ),
        (key.public_key, {**headers, NONCE_HEADER: "B" * 22}, good),
        (key.public_key, {**headers, SIGNATURE_HEADER: flipped}, good),
        (key.public_key, {**headers, SIGNATURE_HEADER: "not base64!"}, good),
        (key.public_key, {**headers, SIGNATURE_HEADER: sig + "=="}, good),
        (
            key.public_key,
            {
                **headers,
                SIGNATURE_HEADER: base64.b64encode(base64.urlsafe_b64decode(sig + "==")).decode(),
            },
            good,
        ),
        (key.public_key, {**headers, TIMESTAMP_HEADER: "-5"}, good),
        (key.public_key, {**headers, TIMESTAMP_HEADER: "0" + headers[TIMESTAMP_HEADER]}, good),
        (key.public_key, {**headers, TIMESTAMP_HEADER: headers[TIMESTAMP_HEADER] + ".0"}, good),
        (key.public_key, {k: v for k, v in headers.items() if k != NONCE_HEADER}, good),
        (key.public_key, {}, good),
    ]
    seen = set()
    for pk, h, req in cases:
        with pytest.raises(InvalidSignatureError) as exc:
            verify_request(pk, headers=h, **req)  # type: ignore[arg-type]
        seen.add((type(exc.value), str(exc.value), exc.value.__context__, exc.value.__cause__))
    assert seen == {(InvalidSignatureError, "signature does not verify", None, None)}


def test_freshness_guard_skew_and_replay() -> None:
    clock = FakeClock()
    guard = RequestFreshnessGuard(clock=clock)
    key = DeviceKey.generate()
    headers = sign_request(
        key, device_id="d", method="GET", target="/v1/keys", timestamp=int(clock.now)
    )
    v = verify_request(key.public_key, headers=headers, method="GET", target="/v1/keys")
    guard.check(v)
    with pytest.raises(StaleRequestError) as exc:
        guard.check(v)
    assert exc.value.reason == "nonce_reused"
    # The same nonce from another device is not a replay of this one.
    guard.check(VerifiedRequest(device_id="d2", timestamp=v.timestamp, nonce=v.nonce))
    for delta, ok in ((300, True), (-300, True), (301, False), (-301, False)):
        fresh = VerifiedRequest(
            device_id="d", timestamp=int(clock.now) + delta, nonce=f"n{delta + 1000:015d}x"
        )
        if ok:
            guard.check(fresh)
        else:
            with pytest.raises(StaleRequestError) as exc:
                guard.check(fresh)
            assert exc.value.reason == "clock_skew"
    # Long after, the nonce has aged out of memory but the clock check still refuses it.
    clock.now += 10_000
    with pytest.raises(StaleRequestError) as exc:
        guard.check(v)
    assert exc.value.reason == "clock_skew"


def test_device_key_file(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "device.pem")
    key = DeviceKey.load_or_create(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = DeviceKey.load(path)
    assert again.public_key == key.public_key
    assert DeviceKey.load_or_create(path).public_key == key.public_key
    os.chmod(path, 0o640)
    with pytest.raises(CryptoError):
        DeviceKey.load(path)


def test_public_key_base64_and_device_id_helper() -> None:
    key = DeviceKey.generate()
    pk = DevicePublicKey.from_base64(key.public_key.to_base64())
    assert pk == key.public_key
    with pytest.raises(CryptoError):
        DevicePublicKey.from_base64("AAAA")
    headers = sign_request(key, device_id="kiosk-7", method="GET", target="/")
    assert signed_device_id(headers) == "kiosk-7"
    assert signed_device_id({}) is None
    assert signed_device_id({DEVICE_HEADER: "bad id with spaces"}) is None


def test_reprs_hold_no_secrets() -> None:
    key = DeviceKey(RFC8032_SECRET)
    for obj in (key, key.public_key, RequestFreshnessGuard()):
        text = repr(obj) + str(obj)
        assert RFC8032_SECRET.hex() not in text
        assert RFC8032_PUBLIC.hex() not in text
    assert RFC8032_SECRET not in key.to_pem()  # PEM is base64, never raw hex in logs either
    with pytest.raises(TypeError):
        pickle.dumps(key)


def test_device_key_pem_of_another_kind_is_refused() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    for data in (pem, b"garbage", b""):
        with pytest.raises(CryptoError, match="Ed25519"):
            DeviceKey.from_pem(data)
    key = DeviceKey.generate()
    assert DeviceKey.from_pem(key.to_pem()).public_key == key.public_key

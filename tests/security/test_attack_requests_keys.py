"""Issue 12, item 15: an all-zero (low-order) or malformed Ed25519 device key was accepted
at registration.

Attacked as the review did: the operator's enrollment token registers a device whose
"public key" is all zeros, the identity, another of the eight low-order points (and
non-canonical encodings of them), or 32 bytes that are no curve point. Each is refused
with a typed 422 naming the field, and no device row is written. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import httpx
import pytest

from facepay.crypto import DeviceKey, DevicePublicKey
from facepay.errors import CryptoError
from facepay.server import Sandbox
from facepay.testing.protocol_till import rows
from facepay.wire import b64encode

# The eight points of small order (libsodium's blocklist, from its
# crypto_sign_ed25519 open check) plus the encodings with the sign bit flipped, and
# y = p and y = p + 1 (non-canonical encodings of points of order 2 and 1).
LOW_ORDER = [
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
]
# y = 2 is on no point of the curve (x^2 would be a non-square); so is y = 7.
NOT_ON_CURVE = [
    "0200000000000000000000000000000000000000000000000000000000000000",
    "0700000000000000000000000000000000000000000000000000000000000000",
]


@pytest.mark.parametrize("key_hex", LOW_ORDER + NOT_ON_CURVE)
def test_a_low_order_or_malformed_key_is_refused_at_registration(
    backend: Sandbox, key_hex: str
) -> None:
    r = httpx.post(
        f"{backend.base_url}/v1/devices",
        json={
            "tenant_id": "acme",
            "store_id": "s1",
            "lane_id": "l1",
            "public_key": b64encode(bytes.fromhex(key_hex)),
        },
        headers={"Authorization": f"Bearer {backend.admin_token}"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_failed"
    assert r.json()["error"]["fields"] == ["public_key"]
    assert rows(backend, "SELECT device_id FROM devices") == []
    with pytest.raises(CryptoError):
        DevicePublicKey.for_registration(bytes.fromhex(key_hex))


def test_genuine_keys_still_register(backend: Sandbox) -> None:
    for _ in range(20):
        device = backend.provision_device(DeviceKey.generate(), tenant_id="acme")
        assert device.device_id
    assert len(rows(backend, "SELECT device_id FROM devices")) == 20

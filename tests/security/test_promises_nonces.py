"""protocol.md and crypto.md: ``X-FacePay-Nonce`` is "16-64 characters accepted".

A till written from the docs alone (no facepay.crypto, which refuses to sign such nonces)
signs a canonical request with a nonce of every length around the bounds: 16 and 64 are
served, 15, 65 and a 200-character one (a row-bloating nonce) are ``401
missing_signature`` and record nothing. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator

import httpx
import pytest

from facepay.server import Sandbox
from facepay.testing.protocol_till import ProtocolTill, rows
from facepay.wire import b64encode

BODY = b'{"purpose": "pay"}'


@pytest.fixture
def till(backend: Sandbox) -> Iterator[ProtocolTill]:
    t = ProtocolTill(backend, backend.provision_device(tenant_id="acme"))
    try:
        yield t
    finally:
        t.close()


def _send(till: ProtocolTill, nonce: str) -> httpx.Response:
    timestamp = str(int(time.time()))  # the backend's own clock: inside the 300 s window
    canonical = "\n".join(
        [
            "FACEPAY-ED25519-V1",
            "POST",
            "/v1/sessions",
            till.device.device_id,
            timestamp,
            nonce,
            hashlib.sha256(BODY).hexdigest(),
        ]
    )
    headers = {
        "X-FacePay-Device": till.device.device_id,
        "X-FacePay-Timestamp": timestamp,
        "X-FacePay-Nonce": nonce,
        "X-FacePay-Signature": b64encode(till.device.key.sign(canonical.encode())),
        "content-type": "application/json",
    }
    return till.http.post("/v1/sessions", content=BODY, headers=headers)


@pytest.mark.parametrize("length", [15, 65, 200])
def test_a_nonce_outside_16_to_64_characters_is_refused_and_not_stored(
    till: ProtocolTill, backend: Sandbox, length: int
) -> None:
    nonce = "N" * length
    r = _send(till, nonce)
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "missing_signature"
    assert rows(backend, "SELECT session_id FROM sessions") == []
    assert rows(backend, "SELECT nonce FROM nonces") == []


@pytest.mark.parametrize("length", [16, 64])
def test_a_nonce_of_16_or_64_characters_is_served(till: ProtocolTill, length: int) -> None:
    r = _send(till, "N" * length)
    assert r.status_code == 201, r.text
    replay = _send(till, "N" * length)
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "nonce_reused"

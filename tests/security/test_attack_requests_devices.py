"""Issue 12, item 2: a stolen device key cannot be revoked.

Attacked as the review did: a till's key is stolen; the operator revokes it (API and
``facepay sandbox revoke``) while every backend process has already seen the device; the
thief keeps signing. Then the replaced till comes back under the same id with a new key.
On SQLite and PostgreSQL, with two replicas on one database and with ``serve --workers 2``.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from requests_kit import free_port, serve, start

from facepay.cli import main
from facepay.config import ServerConfig
from facepay.crypto import DeviceKey
from facepay.server import ProvisionedDevice, Sandbox
from facepay.testing.protocol_till import ProtocolTill
from facepay.wire import b64encode


@pytest.fixture
def replicas(database_url: str, tmp_path: Path) -> Iterator[tuple[Sandbox, Sandbox]]:
    config = ServerConfig(admin_token="replicas-admin-token-0123456789")
    first = start(database_url, tmp_path, config)
    second = start(database_url, tmp_path, config)
    try:
        yield first, second
    finally:
        second.stop()
        first.stop()


def _admin(sandbox: Sandbox) -> dict[str, str]:
    return {"Authorization": f"Bearer {sandbox.admin_token}"}


def _code(r: httpx.Response) -> str:
    return str(r.json()["error"]["code"])


def _register(sandbox: Sandbox, key: DeviceKey, device_id: str) -> httpx.Response:
    return httpx.post(
        f"{sandbox.base_url}/v1/devices",
        json={
            "tenant_id": "acme",
            "store_id": "s1",
            "lane_id": "l1",
            "public_key": b64encode(key.public_key.raw),
            "device_id": device_id,
        },
        headers=_admin(sandbox),
    )


def test_a_revoked_key_is_refused_at_once_by_every_replica(
    replicas: tuple[Sandbox, Sandbox],
) -> None:
    first, second = replicas
    device = first.provision_device(tenant_id="acme", device_id="kiosk-7")
    thief = [ProtocolTill(first, device), ProtocolTill(second, device)]
    try:
        # Both replicas have seen (and cached) the device.
        for t in thief:
            assert t.call("POST", "/v1/sessions", {"purpose": "pay"}).status_code == 201
        unauthenticated = httpx.post(f"{first.base_url}/v1/devices/kiosk-7/revoke")
        assert unauthenticated.status_code == 401
        assert _code(unauthenticated) == "admin_token_invalid"
        revoked = httpx.post(f"{second.base_url}/v1/devices/kiosk-7/revoke", headers=_admin(first))
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["device_id"] == "kiosk-7"
        # The very next request, on either replica: no cache keeps the key alive.
        for t in thief:
            r = t.call("POST", "/v1/sessions", {"purpose": "pay"})
            assert r.status_code == 403, r.text
            assert _code(r) == "device_revoked"
        assert (
            httpx.post(
                f"{first.base_url}/v1/devices/nobody/revoke", headers=_admin(first)
            ).status_code
            == 404
        )
    finally:
        for t in thief:
            t.close()


def test_a_replaced_till_registers_again_under_a_new_key(
    replicas: tuple[Sandbox, Sandbox],
) -> None:
    first, second = replicas
    stolen = first.provision_device(tenant_id="acme", device_id="kiosk-8")
    old = ProtocolTill(second, stolen)
    try:
        assert old.call("POST", "/v1/sessions", {"purpose": "pay"}).status_code == 201
        new_key = DeviceKey.generate()
        # Not while the old key is live: the id answers 409.
        assert _register(first, new_key, "kiosk-8").status_code == 409
        assert (
            httpx.post(
                f"{first.base_url}/v1/devices/kiosk-8/revoke", headers=_admin(first)
            ).status_code
            == 200
        )
        again = _register(first, new_key, "kiosk-8")
        assert again.status_code == 201, again.text
        replaced = ProvisionedDevice("kiosk-8", "acme", "s1", "l1", new_key)
        new = ProtocolTill(second, replaced)
        try:
            assert new.call("POST", "/v1/sessions", {"purpose": "pay"}).status_code == 201
        finally:
            new.close()
        # The stolen key stays refused, also under the new registration ...
        r = old.call("POST", "/v1/sessions", {"purpose": "pay"})
        assert r.status_code == 401
        assert _code(r) == "bad_signature"
        # ... and can never be registered again, under any id.
        for device_id in ("kiosk-8", "kiosk-9"):
            refused = _register(first, stolen.key, device_id)
            assert refused.status_code in (409, 422), refused.text
        assert _register(first, stolen.key, "kiosk-9").status_code == 422
    finally:
        old.close()


def test_revoke_command_reaches_every_worker_of_a_running_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``serve --workers 2`` running; ``facepay sandbox revoke`` on its database: the next
    request on any connection, whichever worker takes it, is refused."""
    db = tmp_path / "shop.db"
    key = DeviceKey.generate()
    key_path = tmp_path / "kiosk.pem"
    key.save(key_path)
    assert main(["sandbox", "provision", "--db", str(db), "--device-key", str(key_path),
                 "--tenant", "acme", "--device-id", "kiosk-w", "--json"]) == 0  # fmt: skip
    port = free_port()
    proc = serve(
        db,
        port,
        "--workers",
        "2",
        env={**os.environ, "FACEPAY_SERVER_ADMIN_TOKEN": "revoke-test-token-0123456789"},
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    device = ProvisionedDevice("kiosk-w", "acme", "store-1", "lane-1", key)
    try:

        def fresh_connections(n: int) -> list[int]:
            codes = []
            for _ in range(n):
                till = ProtocolTill.__new__(ProtocolTill)
                till.device = device
                till.http = httpx.Client(base_url=base, timeout=30.0)
                try:
                    codes.append(till.call("POST", "/v1/sessions", {"purpose": "pay"}).status_code)
                finally:
                    till.http.close()
            return codes

        assert fresh_connections(8) == [201] * 8
        capsys.readouterr()
        assert main(["sandbox", "revoke", "--db", str(db), "--device-id", "kiosk-w", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["device_id"] == "kiosk-w"
        assert fresh_connections(12) == [403] * 12
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert main(["sandbox", "revoke", "--db", str(tmp_path / "typo.db"), "--device-id", "x"]) == 2
    assert not (tmp_path / "typo.db").exists()

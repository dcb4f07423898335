"""Issue 12, item 13: the admin (device enrollment) token.

Attacked as the review did: the token was printed to stderr (captured by any log
collector), exported into every worker's environment (readable in /proc by the user,
inherited by every child), and one global token registered devices into any tenant and
silently created tenants on a typo. Now: read it from the operator or from an owner-only
file, give workers only its digest, create tenants explicitly, and scope a tenant's own
token to that tenant. On SQLite and PostgreSQL, and with ``serve --workers 2``.
"""

from __future__ import annotations

import os
import stat
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from requests_kit import free_port, serve, stop

from facepay.crypto import DeviceKey
from facepay.eval._backends import child_pids
from facepay.server import Sandbox
from facepay.testing.protocol_till import rows
from facepay.wire import b64encode


def _device(tenant: str) -> dict[str, str]:
    return {
        "tenant_id": tenant,
        "store_id": "s1",
        "lane_id": "l1",
        "public_key": b64encode(DeviceKey.generate().public_key.raw),
    }


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _serve(db: Path, port: int, workers: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return serve(db, port, "--workers", str(workers), env=env)


def _workers_of(pid: int) -> list[int]:
    """The supervisor's worker processes (started by multiprocessing's spawn; not, say,
    a forked log filter, which is the supervisor's own memory)."""
    workers = []
    for child in child_pids(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline:
            workers.append(child)
    return workers


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "FACEPAY_SERVER_ADMIN_TOKEN"}


def test_the_made_up_token_is_never_printed_and_is_owner_only(tmp_path: Path) -> None:
    db, port = tmp_path / "shop.db", free_port()
    proc = _serve(db, port, 1, _clean_env())
    try:
        token_file = tmp_path / "shop.db.keys" / "enrollment-token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        assert len(token) >= 32
        base = f"http://127.0.0.1:{port}"
        r = httpx.post(f"{base}/v1/tenants", json={"tenant_id": "acme"}, headers=_bearer(token))
        assert r.status_code == 201, r.text
    finally:
        err = stop(proc)
    assert token.encode() not in err
    assert str(token_file).encode() in err  # where to find it, not what it is
    # A restart keeps the operator's token (the file is read again, not replaced).
    proc = _serve(db, port, 1, _clean_env())
    try:
        r = httpx.post(
            f"http://127.0.0.1:{port}/v1/devices", json=_device("acme"), headers=_bearer(token)
        )
        assert r.status_code == 201, r.text
    finally:
        assert token.encode() not in stop(proc)


def test_workers_never_see_the_token(tmp_path: Path) -> None:
    token = "operator-chosen-token-" + os.urandom(8).hex()
    db, port = tmp_path / "shop.db", free_port()
    proc = _serve(db, port, 2, {**_clean_env(), "FACEPAY_SERVER_ADMIN_TOKEN": token})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while len(workers := _workers_of(proc.pid)) < 2:
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.2)
        for pid in workers:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            assert token.encode() not in environ
            assert b"FACEPAY_SERVER_ADMIN_TOKEN" not in environ
        # Generous timeouts: on a loaded machine a worker still importing its modules
        # can hold a request past httpx's 5 s default (a failure seen at load 24).
        r = httpx.post(
            f"{base}/v1/tenants", json={"tenant_id": "acme"}, headers=_bearer(token), timeout=60
        )
        assert r.status_code == 201, r.text
        # Fresh connections, dealt out to both workers: each one checks the token.
        for _ in range(8):
            with httpx.Client(base_url=base, timeout=60) as http:
                ok = http.post("/v1/devices", json=_device("acme"), headers=_bearer(token))
                assert ok.status_code == 201, ok.text
                bad = http.post("/v1/devices", json=_device("acme"), headers=_bearer(token + "x"))
                assert bad.status_code == 401
    finally:
        assert token.encode() not in stop(proc)


def test_a_typo_in_the_tenant_is_refused_not_created(backend: Sandbox) -> None:
    base, token = backend.base_url, backend.admin_token
    assert (
        httpx.post(
            f"{base}/v1/tenants", json={"tenant_id": "acme"}, headers=_bearer(token)
        ).status_code
        == 201
    )
    r = httpx.post(f"{base}/v1/devices", json=_device("acmee"), headers=_bearer(token))
    assert r.status_code == 404, r.text
    assert r.json()["error"]["fields"] == ["tenant_id"]
    assert rows(backend, "SELECT tenant_id FROM tenants") == [("acme",)]
    assert rows(backend, "SELECT device_id FROM devices") == []


def test_a_tenants_token_reaches_that_tenant_only(backend: Sandbox) -> None:
    base, admin = backend.base_url, backend.admin_token
    tokens = {}
    for tenant in ("acme", "globex"):
        r = httpx.post(f"{base}/v1/tenants", json={"tenant_id": tenant}, headers=_bearer(admin))
        assert r.status_code == 201, r.text
        tokens[tenant] = r.json()["enrollment_token"]
    again = httpx.post(f"{base}/v1/tenants", json={"tenant_id": "acme"}, headers=_bearer(admin))
    assert again.status_code == 200  # idempotent, same token
    assert again.json()["enrollment_token"] == tokens["acme"]
    acme = _bearer(tokens["acme"])
    mine = httpx.post(f"{base}/v1/devices", json=_device("acme"), headers=acme)
    assert mine.status_code == 201, mine.text
    theirs = httpx.post(f"{base}/v1/devices", json=_device("globex"), headers=_bearer(admin))
    assert theirs.status_code == 201
    # Not into another tenant, not a new tenant, not another tenant's device.
    assert httpx.post(f"{base}/v1/devices", json=_device("globex"), headers=acme).status_code == 401
    new = httpx.post(f"{base}/v1/tenants", json={"tenant_id": "initech"}, headers=acme)
    assert new.status_code == 401
    other = theirs.json()["device_id"]
    assert httpx.post(f"{base}/v1/devices/{other}/revoke", headers=acme).status_code == 401
    assert httpx.post(f"{base}/v1/devices/nobody/revoke", headers=acme).status_code == 401
    own = mine.json()["device_id"]
    assert httpx.post(f"{base}/v1/devices/{own}/revoke", headers=acme).status_code == 200
    assert rows(backend, "SELECT tenant_id FROM tenants ORDER BY tenant_id") == [
        ("acme",),
        ("globex",),
    ]


def test_the_tenant_command_writes_the_tenants_token_owner_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from facepay.cli import main

    db, keys, out = tmp_path / "shop.db", tmp_path / "keys", tmp_path / "acme.token"
    assert main(["sandbox", "tenant", "--db", str(db), "--keys", str(keys), "--tenant", "acme",
                 "--token-file", str(out)]) == 2  # fmt: skip
    assert not db.exists()  # no database made by a typo'd path
    sandbox = Sandbox(str(db), key_dir=keys).start()
    try:
        assert main(["sandbox", "tenant", "--db", str(db), "--keys", str(keys),
                     "--tenant", "acme", "--token-file", str(out)]) == 0  # fmt: skip
        token = out.read_text().strip()
        assert token not in capsys.readouterr().out
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        r = httpx.post(
            f"{sandbox.base_url}/v1/devices", json=_device("acme"), headers=_bearer(token)
        )
        assert r.status_code == 201, r.text
    finally:
        sandbox.stop()

"""Red team, operations: tenants, their tokens and tills, and the sandbox/production
boundary (docs/security.md, "Attacks tried: operations and tenants"). SQLite, then
PostgreSQL.

- ``facepay sandbox serve`` took the operator's token from wherever it found one and
  used it whatever it was: an empty ``KEYS/enrollment-token`` (a crash between creating
  the file and writing it, a careless ``touch``) or an empty or short
  ``FACEPAY_SERVER_ADMIN_TOKEN`` made the empty token the backend's, and then a request
  with no ``Authorization`` header at all created tenants and registered tills. A token
  of under 16 characters from any source now stops the server before it serves, and an
  empty bearer is never accepted.
- One phone number enrolled at two retailers is two shoppers: neither retailer's till
  matches, locks or reaches the other's, and the rights calls act on one enrollment only.
- A retailer's insider with the tenant's token cannot unlock a locked till by revoking it
  and registering it again, nor take over another retailer's till id.
- A till cannot talk a production tenant into the sandbox's liveness rules.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from requests_kit import free_port, stop
from shoppers_kit import Backends, rows

from facepay.config import ServerConfig
from facepay.crypto import DeviceKey
from facepay.server import ProvisionedDevice, Vault
from facepay.testing.protocol_till import PHONE, ProtocolTill, face, same_face
from facepay.wire import b64encode


@pytest.fixture
def backends(database_url: str, tmp_path: Path) -> Iterator[Backends]:
    b = Backends(database_url, tmp_path / "keys")
    try:
        yield b
    finally:
        b.close()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _device(tenant: str, key: DeviceKey, device_id: str) -> dict[str, str]:
    return {
        "tenant_id": tenant,
        "store_id": "s1",
        "lane_id": "l1",
        "public_key": b64encode(key.public_key.raw),
        "device_id": device_id,
    }


# ------------------------------------------------------------------ the operator's token


def _start_or_refuse(db: Path, keys: Path, env: dict[str, str]) -> tuple[int | None, str]:
    """Start ``facepay sandbox serve``; (its exit code, stderr) if it refuses to start,
    else what a caller with no token at all got from ``POST /v1/tenants`` (exit None)."""
    port = free_port()
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "facepay", "sandbox", "serve", "--db", str(db)),
            *("--keys", str(keys), "--port", str(port)),
        ],
        env=env,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 90  # a start bound, not a measurement
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).raise_for_status()
            except httpx.HTTPError:
                time.sleep(0.2)
                continue
            r = httpx.post(f"http://127.0.0.1:{port}/v1/tenants", json={"tenant_id": "mallory"})
            return None, f"{r.status_code} {r.text}"
        assert proc.poll() is not None, "serve neither started nor stopped"
        return proc.returncode, (proc.stderr.read() if proc.stderr else b"").decode()
    finally:
        if proc.poll() is None:
            stop(proc)


@pytest.mark.parametrize(
    "where", ["empty token file", "blank token file", "empty env token", "short env token"]
)
def test_serve_refuses_an_empty_or_short_operator_token(tmp_path: Path, where: str) -> None:
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEPAY_SERVER_")}
    if where.endswith("token file"):
        token = keys / "enrollment-token"
        token.write_text("" if where.startswith("empty") else " \n")
        token.chmod(0o600)
    else:
        env["FACEPAY_SERVER_ADMIN_TOKEN"] = "" if where.startswith("empty") else "hunter2"
    code, said = _start_or_refuse(tmp_path / "shop.db", keys, env)
    if where == "empty env token":
        # Unset in effect: the server makes (or reads) a strong token of its own.
        assert code is None
        assert said.startswith("401 "), said
        assert (keys / "enrollment-token").read_text().strip() != ""
        return
    assert code is not None, f"served, and a caller with no token got: {said}"
    assert code != 0
    assert "16 characters" in said


def test_an_empty_bearer_is_never_the_operators_token(backends: Backends) -> None:
    sb = backends.start()
    assert sb.backend is not None
    sb.backend.use_admin_token("")  # however a backend came to be given an empty token
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic Og=="}):
        r = httpx.post(f"{sb.base_url}/v1/tenants", json={"tenant_id": "mallory"}, headers=headers)
        assert r.status_code == 401, (headers, r.text)
    assert rows(sb, "SELECT count(*) FROM tenants WHERE tenant_id = 'mallory'") == [(0,)]


# ------------------------------------------------------------------ one number, two retailers


def test_one_phone_number_at_two_retailers_is_two_shoppers(backends: Backends) -> None:
    sb = backends.start(ServerConfig(risk_budget=1.0))  # claimless 1:N runs too
    acme, globex = backends.till(sb, tenant_id="acme"), backends.till(sb, tenant_id="globex")
    attacker = backends.till(sb, tenant_id="acme")
    at_acme, at_globex = acme.enroll(face(501)), globex.enroll(face(502))
    assert at_acme.status_code == 201, at_acme.text
    assert at_globex.status_code == 201, at_globex.text  # the same PHONE, another retailer

    # Globex's shopper's face at acme's tills, with and without the number: nobody.
    r = acme.authorize(acme.pay_body(same_face(face(502), 1), phone=None))
    assert r.json()["decline_reason"] == "no_match", r.text
    r = attacker.authorize(attacker.pay_body(same_face(face(502), 2)))
    assert r.json()["decline_reason"] == "no_match", r.text
    # Five faces compared under the number at acme lock acme's claim, not globex's.
    for n in range(4):
        r = attacker.authorize(attacker.pay_body(same_face(face(503), n)))
        assert r.json()["decline_reason"] == "no_match", r.text
    locked = acme.authorize(acme.pay_body(same_face(face(501), 9)))
    assert locked.status_code == 429, locked.text
    paid = globex.authorize(globex.pay_body(same_face(face(502), 3)))
    assert paid.json()["status"] == "approved", paid.text

    # Globex's code with the number deletes globex's enrollment only.
    code = at_globex.json()["privacy_code"]
    claim = {"kind": "phone", "value": PHONE}
    r = httpx.post(f"{sb.base_url}/v1/shoppers/delete", json={"privacy_code": code, "claim": claim})
    assert r.status_code == 200, r.text
    assert r.json()["shopper_id"] == at_globex.json()["shopper_id"]
    export = httpx.post(
        f"{sb.base_url}/v1/shoppers/export",
        json={"privacy_code": at_acme.json()["privacy_code"], "claim": claim},
    )
    assert export.status_code == 200, export.text
    assert export.json()["template_stored"] is True
    assert export.json()["authorizations"] == []  # globex's payment is not acme's to show
    claimless = acme.authorize(acme.pay_body(same_face(face(501), 10), phone=None))
    assert claimless.json()["status"] == "approved", claimless.text


# ------------------------------------------------------------------ an insider's tills


def _lock(till: ProtocolTill) -> None:
    for n in range(5):
        r = till.authorize(till.pay_body(same_face(face(512), n), phone=None))
        assert r.json()["status"] == "declined", r.text
    r = till.authorize(till.pay_body(face(511), phone=None))
    assert r.status_code == 429, r.text


def test_an_insider_cannot_unlock_a_till_by_registering_it_again(backends: Backends) -> None:
    sb = backends.start(ServerConfig(risk_budget=1.0))
    base = sb.base_url
    tokens = {}
    for tenant in ("acme", "globex"):
        r = httpx.post(
            f"{base}/v1/tenants", json={"tenant_id": tenant}, headers=_bearer(sb.admin_token)
        )
        tokens[tenant] = _bearer(r.json()["enrollment_token"])
    key = DeviceKey.generate()
    r = httpx.post(
        f"{base}/v1/devices", json=_device("acme", key, "lane-1"), headers=tokens["acme"]
    )
    assert r.status_code == 201, r.text
    till = backends.till(sb, ProvisionedDevice("lane-1", "acme", "s1", "l1", key))
    assert till.enroll(face(511)).status_code == 201
    _lock(till)

    # The insider revokes the locked till and registers its id again under a fresh key.
    assert httpx.post(f"{base}/v1/devices/lane-1/revoke", headers=tokens["acme"]).is_success
    fresh = DeviceKey.generate()
    again = httpx.post(
        f"{base}/v1/devices", json=_device("acme", fresh, "lane-1"), headers=tokens["acme"]
    )
    assert again.status_code == 201, again.text
    reborn = backends.till(sb, ProvisionedDevice("lane-1", "acme", "s1", "l1", fresh))
    r = reborn.authorize(reborn.pay_body(face(511), phone=None))
    assert r.status_code == 429, r.text
    assert r.json()["error"]["code"] == "locked_out"

    # What the insider can do: register another till, whose lockout budget is its own
    # (docs/security.md, "Insider at the retailer", "What does not").
    other = DeviceKey.generate()
    r = httpx.post(
        f"{base}/v1/devices", json=_device("acme", other, "lane-2"), headers=tokens["acme"]
    )
    assert r.status_code == 201, r.text
    second = backends.till(sb, ProvisionedDevice("lane-2", "acme", "s1", "l1", other))
    r = second.authorize(second.pay_body(same_face(face(512), 9), phone=None))
    assert r.json()["decline_reason"] == "no_match", r.text

    # Another retailer's insider cannot take over that till id once it is revoked.
    assert httpx.post(f"{base}/v1/devices/lane-1/revoke", headers=tokens["acme"]).is_success
    takeover = httpx.post(
        f"{base}/v1/devices",
        json=_device("globex", DeviceKey.generate(), "lane-1"),
        headers=tokens["globex"],
    )
    assert takeover.status_code == 409, takeover.text
    assert rows(sb, "SELECT tenant_id FROM devices WHERE device_id = 'lane-1'") == [("acme",)]


# ------------------------------------------------------------------ the sandbox boundary


def _sandbox_claims(seed_plan: list[str]) -> dict[str, dict[str, Any]]:
    fixed = {"decision": "live", "challenges": ["open_mouth"], "score": 0.99}
    return {
        "evidence says sandbox": dict(fixed, evidence={"sandbox": True, "mode": "sandbox"}),
        "evidence names a sandbox tenant": dict(fixed, evidence={"tenant_id": "demo"}),
        "3D check as a string": dict(
            fixed, challenges=seed_plan, evidence={"parallax_checked": "true"}
        ),
        "3D check as 1": dict(fixed, challenges=seed_plan, evidence={"parallax_checked": 1}),
    }


def test_a_till_cannot_talk_a_production_tenant_into_the_sandbox(backends: Backends) -> None:
    sb = backends.start(ServerConfig(sandbox_tenants=("demo",)))
    # "Demo" and "demo-2" are tenants of their own, not the sandbox tenant "demo".
    for tenant in ("acme", "Demo", "demo-2"):
        till = backends.till(sb, tenant_id=tenant)
        assert till.enroll(face(521)).status_code == 201
        for name in _sandbox_claims([]):
            body = till.pay_body(same_face(face(521), 2))
            # Built on this session's own plan where the claim needs one.
            body["liveness"] = _sandbox_claims(list(body["liveness"]["challenges"]))[name]
            r = till.authorize(body)
            assert r.status_code == 200, (tenant, name, r.text)
            assert r.json()["decline_reason"] == "liveness_failed", (tenant, name, r.text)
        body = till.pay_body(same_face(face(521), 3))
        body["sandbox"] = True  # a field of its own: refused before anything is decided
        r = till.authorize(body)
        assert r.status_code == 422, r.text
    # (control) the sandbox tenant itself still pays on a demo's fixed plan.
    demo = backends.till(sb, tenant_id="demo")
    assert demo.enroll(face(522)).status_code == 201
    body = demo.pay_body(same_face(face(522), 1))
    body["liveness"] = {"decision": "live", "challenges": ["open_mouth"], "score": 0.99}
    assert demo.authorize(body).json()["status"] == "approved"


# ------------------------------------------------------------------ a stolen database


def test_the_database_with_the_master_key_undoes_the_tenant_transform(
    backends: Backends,
) -> None:
    """The honest limit docs/security.md now states ("Stolen templates", "What does
    not"): it said a template decrypted with the database and the master key "is still
    tenant-transformed, so it does not match at another retailer". The tenant's transform
    secret is in the same database, wrapped by the same master key, so the thief undoes
    the transform too and holds the raw template, which any retailer's backend matches."""
    sb = backends.start()
    till = backends.till(sb)
    raw = face(531)
    r = till.enroll(raw)
    assert r.status_code == 201, r.text
    [(sealed, wrapped, shopper_id)] = rows(
        sb, "SELECT template_sealed, data_key_wrapped, shopper_id FROM shoppers"
    )
    [(secret,)] = rows(sb, "SELECT transform_key_wrapped FROM tenants WHERE tenant_id = 'acme'")
    thief = Vault.open(backends.key_dir)  # a copy of the key folder, master key included
    stored = thief.decrypt_templates(
        bytes(sealed), bytes(wrapped), shopper_id=str(shopper_id), tenant_id="acme"
    ).templates.views[0]
    unit = np.asarray(raw, dtype=np.float64) / np.linalg.norm(raw)

    def cosine(v: Any) -> float:
        v = np.asarray(v, dtype=np.float64)
        return float(v @ unit / np.linalg.norm(v))

    assert abs(cosine(stored)) < 0.5  # transformed: unlinkable to the raw face as stored
    transform = thief.store.tenant_transform("acme", bytes(secret), dimension=unit.shape[0])
    assert cosine(transform.invert_vectors(stored)) > 0.999  # the raw template, recovered

"""The shopper-rights limit "per source address", attacked through headers.

docs/protocol.md and privacy.md: the unsigned shopper-rights calls are limited to
``shopper_rights_per_source`` per source address per window, "so no one can lock a
shopper out of these calls", and "behind a reverse proxy, run the backend so the source is
the shopper's address, not the proxy's".

- A guesser rewrites ``X-Forwarded-For``, ``Forwarded`` and ``X-Real-IP`` on every call to
  get a fresh budget per made-up address: over real HTTP to the in-process backend and to
  ``facepay sandbox serve``, none of them is read (SQLite and PostgreSQL).
- Behind a TLS proxy, every shopper arrives from the proxy's address. ``facepay sandbox
  serve`` trusted no forwarding header and had no way to be told about the proxy, so the
  advice could not be followed: a guesser's 20 calls put every shopper at ``429`` for 15
  minutes. ``serve --forwarded-allow-ips PROXY`` now reads the address the proxy appends
  (and nothing a client wrote before it): the guesser is limited, the victim deletes.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from requests_kit import free_port, serve, start, stop

from facepay.config import ServerConfig
from facepay.server import Sandbox
from facepay.testing.protocol_till import PHONE, ProtocolTill, face

LIMIT = 2
CONFIG = ServerConfig(shopper_rights_per_source=LIMIT)
SPOOFS = [
    {"X-Forwarded-For": "203.0.113.1"},
    {"X-Forwarded-For": "198.51.100.2, 203.0.113.3"},
    {"Forwarded": "for=203.0.113.4"},
    {"X-Real-IP": "203.0.113.5"},
    {"X-Forwarded-For": "::1"},
]


def _guess(n: int) -> dict[str, object]:
    return {"privacy_code": f"AAAA-BBBB-{n:04d}", "claim": {"kind": "phone", "value": PHONE}}


def _enroll(sandbox: Sandbox) -> str:
    till = ProtocolTill(sandbox, sandbox.provision_device(tenant_id="acme"))
    try:
        r = till.enroll(face(71))
        assert r.status_code == 201, r.text
        return str(r.json()["privacy_code"])
    finally:
        till.close()


@pytest.fixture
def backend(database_url: str, tmp_path: Path) -> Iterator[Sandbox]:
    sandbox = start(database_url, tmp_path, CONFIG)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def test_made_up_forwarding_headers_buy_no_fresh_budget(backend: Sandbox) -> None:
    with httpx.Client(base_url=backend.base_url, timeout=30.0) as http:
        for n in range(LIMIT):
            r = http.post("/v1/shoppers/export", json=_guess(n))
            assert r.status_code == 403, r.text
        for n, spoof in enumerate(SPOOFS):
            r = http.post("/v1/shoppers/delete", json=_guess(100 + n), headers=spoof)
            assert r.status_code == 429, (spoof, r.text)
            assert r.json()["error"]["code"] == "rate_limited"


def test_the_privacy_page_and_the_api_draw_on_one_budget(backend: Sandbox) -> None:
    """The shopper's HTML page (POST /privacy) runs the same calls: a guesser who
    alternates it with the JSON endpoints is limited at the same count."""
    with httpx.Client(base_url=backend.base_url, timeout=30.0) as http:
        answers = []
        for n in range(LIMIT + 2):
            if n % 2:
                form = {"code": f"AAAA-BBBB-{n:04d}", "phone": PHONE, "action": "delete"}
                answers.append(http.post("/privacy", data=form).status_code)
            else:
                answers.append(http.post("/v1/shoppers/export", json=_guess(n)).status_code)
        assert answers == [403] * LIMIT + [429, 429], answers


# ------------------------------------------------------------------ facepay sandbox serve


def _serve(db: Path, keys: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "FACEPAY_SERVER_ADMIN_TOKEN"}
    env["FACEPAY_SERVER_SHOPPER_RIGHTS_PER_SOURCE"] = str(LIMIT)
    return serve(db, port, "--keys", str(keys), *extra, env=env)


@pytest.fixture
def shop(tmp_path: Path) -> tuple[Path, Path, str]:
    """A SQLite shop with one enrolled shopper (the victim) and the victim's code."""
    db, keys = tmp_path / "shop.db", tmp_path / "keys"
    sandbox = Sandbox(str(db), key_dir=keys, config=CONFIG).start()
    try:
        return db, keys, _enroll(sandbox)
    finally:
        sandbox.stop()


def test_serve_reads_no_forwarding_header_unless_told_of_a_proxy(
    shop: tuple[Path, Path, str],
) -> None:
    db, keys, _ = shop
    port = free_port()
    proc = _serve(db, keys, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30.0) as http:
            for n in range(LIMIT):
                assert http.post("/v1/shoppers/export", json=_guess(n)).status_code == 403
            for n, spoof in enumerate(SPOOFS):
                r = http.post("/v1/shoppers/export", json=_guess(100 + n), headers=spoof)
                assert r.status_code == 429, (spoof, r.text)
    finally:
        stop(proc)


def test_behind_a_named_proxy_a_guesser_cannot_block_the_victim(
    shop: tuple[Path, Path, str],
) -> None:
    """The proxy (here the test, on 127.0.0.1) appends the address it saw, as nginx's
    ``$proxy_add_x_forwarded_for`` does; whatever the client wrote before it is ignored."""
    db, keys, code = shop
    port = free_port()
    proc = _serve(db, keys, port, "--forwarded-allow-ips", "127.0.0.1")
    guesser = "203.0.113.7"
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30.0) as http:
            for n in range(LIMIT):
                r = http.post(
                    "/v1/shoppers/export", json=_guess(n), headers={"X-Forwarded-For": guesser}
                )
                assert r.status_code == 403, r.text
            for n, made_up in enumerate(("198.51.100.2", "10.0.0.1", "127.0.0.1")):
                forwarded = {"X-Forwarded-For": f"{made_up}, {guesser}"}
                r = http.post("/v1/shoppers/export", json=_guess(10 + n), headers=forwarded)
                assert r.status_code == 429, (made_up, r.text)
            victim = {"privacy_code": code, "claim": {"kind": "phone", "value": PHONE}}
            deleted = http.post(
                "/v1/shoppers/delete", json=victim, headers={"X-Forwarded-For": "198.51.100.9"}
            )
            assert deleted.status_code == 200, deleted.text
            assert deleted.json()["shopper_id"]
    finally:
        stop(proc)

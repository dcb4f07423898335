"""Fixtures shared by every attack suite in this folder: for test_attack_requests*.py and
test_attack_shoppers*.py a backend on ``database_url`` (tests/conftest.py: SQLite, then
a fresh PostgreSQL 15 database) and a raw protocol till provisioned on it; for the till's
side (test_redteam_till_*.py, test_redteam_answers_*.py) a sandbox, synthetic faces, the
answer-rewriting proxy and a real ``Till`` behind it (``proxied_till``; a module names it
``till`` with a one-line fixture of its own).
Helpers that are not fixtures live in requests_kit.py, shoppers_kit.py and till_kit.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from requests_kit import start
from shoppers_kit import Backends
from till_kit import RewritingProxy

import facepay.testing as kit
from facepay.checkout import Till
from facepay.config import ClientConfig
from facepay.server import Sandbox
from facepay.testing.protocol_till import ProtocolTill


@pytest.fixture
def backend(database_url: str, tmp_path: Path) -> Iterator[Sandbox]:
    """One backend with default limits on ``database_url``, keys in ``tmp_path``."""
    sandbox = start(database_url, tmp_path)
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def till(backend: Sandbox) -> Iterator[ProtocolTill]:
    """A raw till of tenant ``acme`` on ``backend``."""
    t = ProtocolTill(backend, backend.provision_device(tenant_id="acme"))
    try:
        yield t
    finally:
        t.close()


@pytest.fixture
def backends(database_url: str, tmp_path: Path) -> Iterator[Backends]:
    """Backends (workers or replicas) started on demand on ``database_url``."""
    b = Backends(database_url, tmp_path / "keys")
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def sandbox(database_url: str, tmp_path: Path) -> Iterator[kit.Sandbox]:
    """A real sandbox over HTTP with the shipped configuration on ``database_url``."""
    with kit.Sandbox(database_url, key_dir=tmp_path / "keys") as sb:
        yield sb


@pytest.fixture
def faces() -> kit.SyntheticFaces:
    return kit.SyntheticFaces()


@pytest.fixture
def proxy() -> RewritingProxy:
    return RewritingProxy()


@pytest.fixture
def proxied_till(
    sandbox: kit.Sandbox, faces: kit.SyntheticFaces, proxy: RewritingProxy
) -> Iterator[Till]:
    """A real till behind the proxy, given the sandbox's answer key pin (``connect_till``
    hands it over), that has not fetched the key set yet and sends each request once (a
    retry would hide what one answer does)."""
    with kit.connect_till(
        sandbox, **faces.till_parts(), transport=proxy, client_config=ClientConfig(max_attempts=1)
    ) as t:
        yield t

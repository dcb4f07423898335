"""Fixtures shared by every attack suite in this folder (test_attack_requests*.py and
test_attack_shoppers*.py): a backend on ``database_url`` (tests/conftest.py: SQLite, then
a fresh PostgreSQL 15 database) and a till provisioned on that backend.
Helpers that are not fixtures live in requests_kit.py and shoppers_kit.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from requests_kit import start
from shoppers_kit import Backends

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

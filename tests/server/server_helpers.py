"""Test helpers for the backend suites: the shared raw protocol-v1 till and synthetic faces
(facepay.testing)."""

from __future__ import annotations

from facepay.server import Sandbox
from facepay.testing import CONSENT, PHONE, ProtocolTill, face, rows, same_face

__all__ = ["CONSENT", "PHONE", "Till", "face", "make_till", "rows", "same_face"]

Till = ProtocolTill


def make_till(sandbox: Sandbox, tenant_id: str = "acme") -> Till:
    return Till(sandbox, sandbox.provision_device(tenant_id=tenant_id))

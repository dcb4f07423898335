"""Helpers for the template, shopper and gallery attack tests (``test_attack_shoppers*.py``):
several backends on one database standing in for ``serve --workers N`` or replicas. The
database fixtures (SQLite, then PostgreSQL) are in conftest.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from facepay.config import ServerConfig
from facepay.server import Sandbox
from facepay.testing.protocol_till import CONSENT, PHONE, ProtocolTill

__all__ = [
    "Backends",
    "enroll_body",
    "rows",
]


class Backends:
    """Backend processes on one database and one key directory, started on demand: each
    is what one worker (SQLite) or one replica (PostgreSQL) is."""

    def __init__(self, database_url: str, key_dir: Path) -> None:
        self.database_url = database_url
        self.key_dir = key_dir
        self.started: list[Sandbox] = []
        self.tills: list[ProtocolTill] = []

    def start(self, config: ServerConfig | None = None) -> Sandbox:
        sb = Sandbox(self.database_url, key_dir=self.key_dir, config=config).start()
        self.started.append(sb)
        return sb

    def till(self, sandbox: Sandbox, device: Any = None, tenant_id: str = "acme") -> ProtocolTill:
        t = ProtocolTill(sandbox, device or sandbox.provision_device(tenant_id=tenant_id))
        self.tills.append(t)
        return t

    def close(self) -> None:
        for t in self.tills:
            t.close()
        for sb in reversed(self.started):
            sb.stop()


def enroll_body(
    till: ProtocolTill, vector: Any, *, phone: str = PHONE, model_id: str = "dlib-resnet-v1"
) -> dict[str, Any]:
    sid = till.session("enroll")
    return {
        "session_id": sid,
        "sealed_template": till.seal(vector, sid, model_id=model_id),
        "consent": CONSENT,
        "payment_method_token": "tok_visa_4242",
        "claim": {"kind": "phone", "value": phone},
    }


def rows(sandbox: Sandbox, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    assert sandbox.backend is not None
    with sandbox.backend.db.transaction() as tx:
        if not sql.lstrip().upper().startswith("SELECT"):
            tx.execute(sql, params)
            return []
        return tx.all(sql, params)


def ambiguous_payment(till: ProtocolTill, seed: int) -> tuple[dict[str, Any], str]:
    """Enroll two near-identical faces (twins) and pay claimless with a third capture:
    the backend asks for a phone_last4 step-up (needs a config with risk_budget=1.0).
    Returns (the step-up answer, the last 4 digits of the first twin's phone)."""
    from facepay.testing.protocol_till import face, same_face

    base = face(seed)
    twin = same_face(base, 1, noise=0.01)
    assert till.enroll(base, phone=PHONE).status_code == 201
    assert till.enroll(twin, phone="+15550006161").status_code == 201
    r = till.authorize(till.pay_body(same_face(base, 2, noise=0.005), phone=None))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "step_up", r.text
    return dict(r.json()), PHONE[-4:]

"""A raw protocol-v1 till: it can send what a well-behaved client would not.

Raw on purpose: it speaks the wire with httpx and facepay.crypto, not through
facepay.client (whose requests are always well formed), so a test can reuse a nonce,
forge a signature, seal a NaN or replay an answer. For a till that behaves, use
:class:`facepay.Till`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import httpx

from facepay.crypto import BackendPublicKey, SealingSuite, seal_template, sign_request
from facepay.liveness import ChallengePlan
from facepay.server import ProvisionedDevice, Sandbox
from facepay.testing.synthetic import MODEL_ID, Vector, face, same_face, template
from facepay.wire import KeySet, SealedTemplateWire, b64decode

__all__ = ["CONSENT", "PHONE", "ProtocolTill", "face", "rows", "same_face", "seeded_liveness"]

PHONE = "+4915112345678"
SANDBOX_CARD = "tok_visa_4242"
CONSENT = {"text_version": "2026-01-en", "accepted_at": "2026-11-26T23:00:00Z"}


def seeded_liveness(seed: bytes, decision: str = "live") -> dict[str, Any]:
    """The liveness summary a genuine till sends: the plan the session's seed derives,
    with its 3D head-turn (parallax) check done."""
    plan = ChallengePlan.from_seed(seed, count=2)
    return {
        "decision": decision,
        "challenges": list(plan.names),
        "score": 0.97,
        "evidence": {"plan": ",".join(plan.names), "parallax_checked": True},
    }


class ProtocolTill:
    """A registered device speaking protocol v1 with raw httpx + facepay.crypto: it can do
    everything a genuine till does and everything an attacker would (reuse a nonce, forge a
    signature, seal a NaN)."""

    def __init__(self, sandbox: Sandbox, device: ProvisionedDevice) -> None:
        self.sandbox = sandbox
        self.device = device
        self.http = httpx.Client(base_url=sandbox.base_url, timeout=30.0)
        self.refresh_keys()

    def refresh_keys(self) -> None:
        keys = KeySet.model_validate_json(self.http.get("/v1/keys").content)
        current = keys.current()
        self.public_key = BackendPublicKey(
            key_id=current.key_id,
            suite=SealingSuite.parse(current.suite),
            raw=b64decode(current.public_key),
        )

    def call(
        self,
        method: str,
        path: str,
        payload: Any = None,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        sign: bool = True,
        timestamp: int | None = None,
        nonce: str | None = None,
    ) -> httpx.Response:
        if body is None:
            body = b"" if payload is None else json.dumps(payload).encode()
        h = {"content-type": "application/json"}
        if sign:
            h.update(
                sign_request(
                    self.device.key,
                    device_id=self.device.device_id,
                    method=method,
                    target=path,
                    body=body,
                    timestamp=timestamp,
                    nonce=nonce,
                    idempotency_key=(headers or {}).get("Idempotency-Key"),
                )
            )
        h.update(headers or {})
        return self.http.request(method, path, content=body, headers=h)

    def session(self, purpose: str = "pay") -> str:
        r = self.call("POST", "/v1/sessions", {"purpose": purpose})
        assert r.status_code == 201, r.text
        self.liveness_seed = b64decode(r.json()["liveness_seed"])
        return str(r.json()["session_id"])

    def seal(
        self,
        vector: Vector,
        session_id: str,
        model_id: str = MODEL_ID,
        public_key: BackendPublicKey | None = None,
    ) -> dict[str, Any]:
        sealed = seal_template(
            template(vector, model_id=model_id),
            public_key or self.public_key,
            session_id=session_id,
        )
        return SealedTemplateWire.from_sealed(sealed).model_dump()

    def enroll_body(
        self,
        vector: Vector,
        phone: str = PHONE,
        token: str = SANDBOX_CARD,
        more_views: Sequence[Vector] = (),
    ) -> dict[str, Any]:
        """An enrollment of ``vector`` (the primary view) and ``more_views`` (other views
        of the face, each sealed to the session; sent only when there are some)."""
        sid = self.session("enroll")
        body: dict[str, Any] = {
            "session_id": sid,
            "sealed_template": self.seal(vector, sid),
            "consent": CONSENT,
            "payment_method_token": token,
            "claim": {"kind": "phone", "value": phone},
        }
        if more_views:
            body["more_views"] = [self.seal(v, sid) for v in more_views]
        return body

    def enroll(
        self,
        vector: Vector,
        phone: str = PHONE,
        token: str = SANDBOX_CARD,
        more_views: Sequence[Vector] = (),
    ) -> httpx.Response:
        return self.call(
            "POST", "/v1/enrollments", self.enroll_body(vector, phone, token, more_views)
        )

    def pay_body(
        self,
        vector: Vector,
        *,
        phone: str | None = PHONE,
        amount: int = 1999,
        liveness: str = "live",
    ) -> dict[str, Any]:
        sid = self.session("pay")
        body: dict[str, Any] = {
            "session_id": sid,
            "amount_minor": amount,
            "currency": "EUR",
            "basket_reference": f"pos-{uuid.uuid4().hex[:8]}",
            "sealed_template": self.seal(vector, sid),
            "liveness": seeded_liveness(self.liveness_seed, liveness),
        }
        if phone is not None:
            body["claim"] = {"kind": "phone", "value": phone}
        return body

    def authorize(self, body: dict[str, Any], key: str | None = None) -> httpx.Response:
        key = key or f"idem_{uuid.uuid4().hex}"
        return self.call("POST", "/v1/authorizations", body, headers={"Idempotency-Key": key})

    def close(self) -> None:
        self.http.close()


def rows(sandbox: Sandbox, sql: str) -> list[tuple[Any, ...]]:
    assert sandbox.backend is not None
    with sandbox.backend.db.transaction() as tx:
        return tx.all(sql)

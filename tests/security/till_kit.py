"""Helpers of the till-side red team suites (test_redteam_till_*.py): a proxy between a
real ``Till`` and a real backend that can rewrite the backend's answers, and the few steps
every such test takes (enroll a synthetic shopper, build a basket, read the backend's
ledger)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt

import facepay
import facepay.testing as kit
from facepay.checkout import Till
from facepay.config import ServerConfig

__all__ = [
    "AUTHORIZE",
    "Rewrite",
    "RewritingProxy",
    "basket",
    "booked",
    "busy_sandbox",
    "enroll",
    "signed_by_backend",
]

Vector = npt.NDArray[np.float32]
AUTHORIZE = "/v1/authorizations"
Rewrite = Callable[[httpx.Request, dict[str, Any] | None], httpx.Response]


class RewritingProxy(httpx.BaseTransport):
    """The network between till and backend, in the attacker's hands. Every request goes to
    the real backend; an authorization's (or a step-up's) answer is kept (``answers``) and
    counted (``delivered``); while ``rewrite`` is set, the answer to a request under
    ``paths`` (default: authorizations and step-ups) is replaced by what it returns, given
    the request and the backend's real answer (``None`` unless a 2xx)."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.rewrite: Rewrite | None = None
        # The paths whose answers ``rewrite`` replaces (by prefix).
        self.paths: tuple[str, ...] = (AUTHORIZE,)
        # False: a request under ``paths`` is answered by ``rewrite`` alone and never
        # reaches the backend.
        self.forward = True
        self.answers: list[dict[str, Any]] = []
        # The bodies of the authorizations that reached the backend, as sent.
        self.sent: list[bytes] = []
        self.delivered = 0
        # The backend's real answers (headers, signature and body) to requests under
        # ``paths``, oldest first: what a proxy records to hand back later.
        self.recorded: list[httpx.Response] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if not self.forward and self.rewrite is not None and path.startswith(self.paths):
            return self.rewrite(request, None)
        response = self._inner.handle_request(request)
        response.read()
        if path.startswith(AUTHORIZE):
            self.delivered += 1
            self.sent.append(request.content)
        if not path.startswith(self.paths):
            return response
        self.recorded.append(response)
        real = response.json() if response.is_success else None
        if real is not None and path.startswith(AUTHORIZE):
            self.answers.append(real)
        if self.rewrite is None:
            return response
        return self.rewrite(request, real)

    def close(self) -> None:
        self._inner.close()


def signed_by_backend(sandbox: kit.Sandbox, response: httpx.Response) -> httpx.Response:
    """``response`` signed with the sandbox's own answer key for the request it answers:
    the backend's genuine answer, for a test of what a till does with one (a lockout
    answered before anything was charged). No attacker holds this key."""
    return kit.signed_by_sandbox(sandbox, response)


def enroll(
    till: Till, faces: kit.SyntheticFaces, seed: int, pin: str | None = None
) -> tuple[Vector, facepay.Claim]:
    person = kit.face(seed)
    claim = facepay.Claim(kind=facepay.ClaimKind.PHONE, value=f"+4915166{seed:06d}")
    till.enroll(
        faces.camera(f"enroll-{seed}", person),
        consent=facepay.consent_now("2026-01-en"),
        claim=claim,
        payment_method_token="tok_visa_4242",
        pin=pin,
    )
    return person, claim


def basket(price_minor: int, currency: str = "EUR") -> facepay.Basket:
    line = facepay.BasketLine(sku="1", description="Tea", quantity=1, unit_price_minor=price_minor)
    return facepay.Basket(
        reference=f"SALE-{uuid.uuid4().hex[:10]}", currency=currency, lines=(line,)
    )


def booked(sandbox: kit.Sandbox, reference: str) -> list[tuple[str, int]]:
    """The backend's ledger rows for one order: (status, amount)."""
    everything = kit.rows(
        sandbox, "SELECT basket_reference, status, amount_minor FROM authorizations"
    )
    return [(str(r[1]), int(r[2])) for r in everything if r[0] == reference]


def busy_sandbox(database_url: str, tmp_path: Path) -> Iterator[kit.Sandbox]:
    """A real sandbox for a till that pays many orders back to back in one test: no rate
    limit in the way (a module's own ``sandbox`` fixture yields from it)."""
    config = ServerConfig(device_rate_per_s=1000.0, device_rate_burst=1000)
    with kit.Sandbox(database_url, key_dir=tmp_path / "keys", config=config) as sb:
        yield sb

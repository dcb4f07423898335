"""Concurrent kiosks against one backend: sustained authorize rate, latency, errors.

``clients`` tills (each a registered device with its own key and connection), all in one
asyncio loop in this process, run checkouts back to back against a backend in *another*
process (``facepay sandbox serve``): open a session, seal a fused template to it,
authorize with a claim. Latency is measured per request at the till, so it includes
loopback HTTP, signing verification, HPKE opening, matching and the database commit.
On a 2-core machine the tills and the backend share the CPU: the numbers are a floor.

This measures the **backend alone**: the "tills" here are raw protocol-v1 clients, not
:class:`facepay.Till` (whose pay/reconcile path ``facepay bench faults|crash`` drives).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from typing import Any

import numpy as np

from facepay import wire
from facepay.checkout import DeviceSigner
from facepay.client import AsyncFacePayClient
from facepay.crypto import BackendPublicKey, SealingSuite, seal_template
from facepay.errors import BackendError
from facepay.eval._reliability import (
    Population,
    RegisteredTill,
    _client_config,
)
from facepay.testing.synthetic import same_face, template

__all__ = ["LoadReport", "run_load"]


@dataclasses.dataclass(slots=True)
class LoadReport:
    clients: int
    duration_s: float = 0.0
    # Authorizations during the warm-up (not in the rates; for CPU-per-checkout figures).
    warmup_authorizations: int = 0
    authorizations: int = 0
    approved: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = dataclasses.field(default_factory=dict)
    authorize_ms: list[float] = dataclasses.field(default_factory=list)
    session_ms: list[float] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        def pct(values: list[float], q: float) -> float | None:
            return round(float(np.percentile(values, q)), 2) if values else None

        attempts = self.authorizations + self.errors
        return {
            "clients": self.clients,
            "duration_s": round(self.duration_s, 2),
            "authorizations": self.authorizations,
            "approved": self.approved,
            "authorize_per_s": round(self.authorizations / self.duration_s, 1)
            if self.duration_s
            else 0.0,
            "checkouts_per_s": round(self.authorizations / self.duration_s, 1)
            if self.duration_s
            else 0.0,
            "authorize_p50_ms": pct(self.authorize_ms, 50),
            "authorize_p99_ms": pct(self.authorize_ms, 99),
            "session_p50_ms": pct(self.session_ms, 50),
            "session_p99_ms": pct(self.session_ms, 99),
            "errors": self.errors,
            "error_rate": round(self.errors / attempts, 5) if attempts else 0.0,
            "error_kinds": self.error_kinds,
        }


async def _till_loop(
    base_url: str,
    till: RegisteredTill,
    population: Population,
    stop_at: float,
    report: LoadReport,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    async with AsyncFacePayClient(
        base_url,
        signer=DeviceSigner(till.key, till.device_id),
        config=_client_config(max_attempts=1),
    ) as client:
        keyset = await client.get_keys()
        keys = {
            k.key_id: BackendPublicKey(
                key_id=k.key_id,
                suite=SealingSuite.parse(k.suite),
                raw=wire.b64decode(k.public_key),
            )
            for k in keyset.keys
        }
        while time.monotonic() < stop_at:
            shopper = population.shoppers[int(rng.integers(len(population.shoppers)))]
            probe = same_face(shopper.vector, int(rng.integers(2**31)))
            try:
                t0 = time.perf_counter()
                info = await client.open_session("pay")
                t1 = time.perf_counter()
                request = wire.AuthorizeRequest(
                    session_id=info.session_id,
                    amount_minor=int(rng.integers(50, 50_000)),
                    currency="EUR",
                    basket_reference=f"load-{uuid.uuid4().hex[:16]}",
                    sealed_template=wire.SealedTemplateWire.from_sealed(
                        seal_template(
                            template(probe),
                            keys[info.sealing_key_id],
                            session_id=info.session_id,
                        )
                    ),
                    liveness=wire.LivenessSummary(decision="live", score=0.97),
                    claim=wire.Claim(kind=wire.ClaimKind.PHONE, value=shopper.phone),
                )
                t2 = time.perf_counter()
                answer = await client.authorize(request, idempotency_key=f"idem_{uuid.uuid4().hex}")
                t3 = time.perf_counter()
            except BackendError as exc:
                report.errors += 1
                kind = f"{exc.status}:{exc.code}"
                report.error_kinds[kind] = report.error_kinds.get(kind, 0) + 1
                continue
            report.session_ms.append((t1 - t0) * 1e3)
            report.authorize_ms.append((t3 - t2) * 1e3)
            report.authorizations += 1
            if answer.status is wire.AuthorizationStatus.APPROVED:
                report.approved += 1


async def _run(
    base_url: str,
    tills: list[RegisteredTill],
    population: Population,
    duration_s: float,
    warmup_s: float,
) -> LoadReport:
    if warmup_s > 0:
        warm = LoadReport(clients=len(tills))
        stop = time.monotonic() + warmup_s
        await asyncio.gather(
            *(
                _till_loop(base_url, t, population, stop, warm, 10_000 + i)
                for i, t in enumerate(tills)
            )
        )
    report = LoadReport(clients=len(tills))
    if warmup_s > 0:
        report.warmup_authorizations = warm.authorizations + warm.errors
    started = time.monotonic()
    stop = started + duration_s
    await asyncio.gather(
        *(_till_loop(base_url, t, population, stop, report, i) for i, t in enumerate(tills))
    )
    report.duration_s = time.monotonic() - started
    return report


def run_load(
    base_url: str,
    tills: list[RegisteredTill],
    population: Population,
    *,
    duration_s: float,
    warmup_s: float = 2.0,
) -> LoadReport:
    """Every till in ``tills`` runs checkouts back to back for ``duration_s``."""
    return asyncio.run(_run(base_url, tills, population, duration_s, warmup_s))

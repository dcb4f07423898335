"""Issue 12, item 14, and issue 16 ("3D evidence in every payment"): the backend trusted
the till's liveness ``decision`` alone, so evidence naming challenges the session's seed
never asked for was accepted, and a demo's fixed plan without a head turn (no parallax,
no 3D check) could pay anywhere.

For a production tenant the backend now recomputes the plan from the session's seed with
the till's own rule (``ChallengePlan.from_seed``) and requires the 3D check; a sandbox
tenant (``ServerConfig.sandbox_tenants``) still accepts a demo's fixed plan.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from shoppers_kit import Backends, rows

from facepay.config import ServerConfig
from facepay.liveness import ChallengePlan
from facepay.testing.protocol_till import ProtocolTill, face, same_face, seeded_liveness


@pytest.fixture
def tills(database_url: str, tmp_path: Path) -> Iterator[tuple[ProtocolTill, ProtocolTill]]:
    """A production tenant's till and a sandbox tenant's, on one backend."""
    backends = Backends(database_url, tmp_path / "keys")
    try:
        sb = backends.start(ServerConfig(sandbox_tenants=("demo",)))
        yield backends.till(sb, tenant_id="acme"), backends.till(sb, tenant_id="demo")
    finally:
        backends.close()


def _pay(till: ProtocolTill, vector: Any, liveness: dict[str, Any] | None) -> dict[str, Any]:
    body = till.pay_body(vector)
    if liveness is not None:
        body["liveness"] = liveness
    r = till.authorize(body)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _other_plan(seed: bytes) -> list[str]:
    """A valid-looking plan with a turn that the seed did not draw."""
    mine = ChallengePlan.from_seed(seed, count=2).names
    for n in range(1000):
        other = ChallengePlan.from_seed(n.to_bytes(8, "big"), count=2).names
        if other != mine:
            return list(other)
    raise AssertionError("unreachable")


def _attacks(seed: bytes) -> dict[str, dict[str, Any]]:
    genuine = seeded_liveness(seed)
    fixed = {"decision": "live", "challenges": ["open_mouth"], "score": 0.99}
    other = _other_plan(seed)
    return {
        "demo fixed plan, no turn": fixed,
        "fixed plan claiming a 3D check": dict(fixed, evidence={"parallax_checked": True}),
        "another session's plan": dict(
            genuine, challenges=other, evidence={"plan": ",".join(other), "parallax_checked": True}
        ),
        "seeded plan, evidence names another": dict(
            genuine, evidence={"plan": ",".join(other), "parallax_checked": True}
        ),
        "seeded plan without the 3D check": dict(genuine, evidence={"parallax_checked": False}),
        "seeded plan, 3D check not reported": dict(genuine, evidence={}),
    }


def test_a_production_tenant_pays_only_on_the_seeded_plan_with_a_3d_check(
    tills: tuple[ProtocolTill, ProtocolTill],
) -> None:
    production, _ = tills
    assert production.enroll(face(91)).status_code == 201
    for n, name in enumerate(_attacks(b"\0" * 32)):
        body = production.pay_body(same_face(face(91), n))
        body["liveness"] = _attacks(production.liveness_seed)[name]
        answer = production.authorize(body).json()
        assert answer["status"] == "declined", name
        assert answer["decline_reason"] == "liveness_failed", name
        if n == 3:  # the device lockout (5 failures) is not what this test is about
            production = ProtocolTill(
                production.sandbox, production.sandbox.provision_device(tenant_id="acme")
            )
    fresh = ProtocolTill(production.sandbox, production.sandbox.provision_device(tenant_id="acme"))
    assert _pay(fresh, same_face(face(91), 99), None)["status"] == "approved"
    refused = rows(
        fresh.sandbox,
        "SELECT details_json FROM audit_log WHERE event = 'authorization' AND details_json LIKE ?",
        ("%liveness_refused%",),
    )
    assert len(refused) == len(_attacks(b"\0" * 32))


def test_a_sandbox_tenant_still_pays_on_a_demo_fixed_plan(
    tills: tuple[ProtocolTill, ProtocolTill],
) -> None:
    _, demo = tills
    assert demo.enroll(face(92)).status_code == 201
    fixed = {"decision": "live", "challenges": ["blink"], "score": 0.97}
    assert _pay(demo, same_face(face(92), 1), fixed)["status"] == "approved"
    not_live = dict(fixed, decision="not_live")
    assert _pay(demo, same_face(face(92), 2), not_live)["decline_reason"] == "liveness_failed"

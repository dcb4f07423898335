"""Every endpoint fuzzed from the OpenAPI document the backend serves: zero 5xx, no crash.

CI size (500 generated requests, positive and negative, signed, unsigned, badly signed
and raw bytes); ``facepay bench fuzz --cases 10000`` is the full run (docs/reliability.md).
"""

from __future__ import annotations

import pytest

from facepay.eval._proof_runs import fuzz_run


@pytest.mark.slow
def test_generated_requests_never_get_a_5xx_and_never_crash_the_backend() -> None:
    result = fuzz_run(cases=500, seed=20261126)
    assert result["ok"], (result["server_errors"], result["transport_errors"])
    assert result["cases"] == 500
    assert result["five_xx"] == 0
    assert result["backend_errors_logged"] == 0
    assert result["healthy_after"]
    # The run reached every operation, and got past authentication into validation and
    # the backend's own checks, not just 401s.
    assert len(result["operations"]) >= 10
    assert set(result["by_operation"]) == set(result["operations"])
    statuses = {int(s) for s in result["statuses"]}
    assert {400, 401, 422} <= statuses
    assert any(200 <= s < 300 for s in statuses)


@pytest.mark.slow
@pytest.mark.postgres
def test_generated_requests_on_postgres(postgres_server: str) -> None:
    result = fuzz_run(cases=150, seed=7, db="postgres", postgres_server=postgres_server)
    assert result["ok"], (result["server_errors"], result["transport_errors"])
    assert result["five_xx"] == 0

"""Exactly-once under network faults (CI size; `facepay bench faults` is the full size).

The fault layer is an httpx transport (the client's public seam); the client, its retry
rules, the backend and its database are real. Then the ledger audit must find no double,
lost or silent charge and no checkout that never learned its outcome.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from facepay.eval._faults import (
    AsyncFaultyTransport,
    FaultKind,
    FaultLog,
    FaultPlan,
    FaultyTransport,
    RecordingTransport,
)
from facepay.eval._proof_runs import fault_run
from facepay.eval._reliability import CheckoutOutcome, CheckoutSpec, audit_ledger


class _Counting(httpx.BaseTransport):
    def __init__(self) -> None:
        self.delivered = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.delivered += 1
        return httpx.Response(200, json={"ok": True}, request=request)


@pytest.mark.parametrize(
    ("kind", "raises", "delivered", "status"),
    [
        (FaultKind.REFUSE, httpx.ConnectError, 0, None),
        (FaultKind.DROP_RESPONSE, httpx.ReadTimeout, 1, None),
        (FaultKind.DUPLICATE, None, 2, 200),
        (FaultKind.UNAVAILABLE, None, 0, 503),
        (FaultKind.BAD_GATEWAY, None, 1, 502),
        (FaultKind.DELAY, None, 1, 200),
    ],
)
def test_each_fault_does_what_it_says(
    kind: FaultKind, raises: type[Exception] | None, delivered: int, status: int | None
) -> None:
    inner = _Counting()
    log = FaultLog()
    transport = FaultyTransport(
        FaultPlan(rate=1.0, kinds=(kind,), max_delay_s=0.01), inner, log=log
    )
    with httpx.Client(transport=transport) as client:
        if raises is not None:
            with pytest.raises(raises):
                client.post("http://backend/v1/x", content=b"{}")
        else:
            assert client.post("http://backend/v1/x", content=b"{}").status_code == status
    assert inner.delivered == delivered
    assert log.summary()["faults"] == {kind.value: 1}


def test_reset_is_sometimes_before_and_sometimes_after_delivery() -> None:
    inner = _Counting()
    transport = FaultyTransport(FaultPlan(rate=1.0, kinds=(FaultKind.RESET,), seed=3), inner)
    with httpx.Client(transport=transport) as client:
        for _ in range(40):
            with pytest.raises(httpx.ReadError):
                client.get("http://backend/v1/health")
    assert 5 < inner.delivered < 35


def test_the_fault_sequence_is_repeatable_from_its_seed() -> None:
    def run(seed: int) -> list[str]:
        transport = FaultyTransport(FaultPlan(rate=0.5, seed=seed, max_delay_s=0.0), _Counting())
        seen = []
        with httpx.Client(transport=transport) as client:
            for _ in range(30):
                try:
                    seen.append(str(client.get("http://b/").status_code))
                except httpx.HTTPError as exc:
                    seen.append(type(exc).__name__)
        return seen

    assert run(7) == run(7)
    assert run(7) != run(8)


async def test_async_transport_injects_the_same_faults() -> None:
    class _AsyncCounting(httpx.AsyncBaseTransport):
        delivered = 0

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            self.delivered += 1
            return httpx.Response(200, request=request)

    inner = _AsyncCounting()
    transport = AsyncFaultyTransport(FaultPlan(rate=1.0, kinds=(FaultKind.DROP_RESPONSE,)), inner)
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post("http://backend/v1/x", content=b"{}")
    assert inner.delivered == 1


def test_recording_transport_keeps_both_bodies() -> None:
    recorder = RecordingTransport(_Counting())
    with httpx.Client(transport=recorder) as client:
        client.post("http://b/v1/x", content=b'{"a": 1}')
    (exchange,) = recorder.exchanges
    assert exchange.request_body == b'{"a": 1}'
    assert exchange.response_body == b'{"ok":true}'


def _outcome(key: str, final: str, auth_id: str | None, basket: str = "b1") -> CheckoutOutcome:
    spec = CheckoutSpec(basket, 0, True, 100, 0)
    return CheckoutOutcome(
        spec, "approved", idempotency_key=key, final=final, authorization_id=auth_id
    )


def _row(key: str, auth_id: str, state: str, basket: str = "b1") -> dict[str, Any]:
    return {
        "id": auth_id,
        "idempotency_key": key,
        "amount_minor": 100,
        "state": state,
        "basket_reference": basket,
    }


def test_the_audit_catches_double_lost_and_silent_charges() -> None:
    # The audit is what the whole suite rests on: show that it can fail.
    clean = audit_ledger([_outcome("k1", "approved", "a1")], [_row("k1", "a1", "approved")])
    assert clean.ok
    lost = audit_ledger([_outcome("k1", "approved", "a1")], [])
    assert lost.lost_charges == 1
    assert not lost.ok
    double = audit_ledger(
        [_outcome("k1", "approved", "a1")],
        [_row("k1", "a1", "approved"), _row("k2", "a2", "approved")],
    )
    assert double.double_charges == 1
    assert not double.ok
    silent = audit_ledger([_outcome("k1", "abandoned", None)], [_row("k1", "a1", "approved")])
    assert silent.silent_charges == 1
    assert not silent.ok
    unresolved = audit_ledger([_outcome("k1", "unresolved", None)], [])
    assert unresolved.unresolved == 1
    assert not unresolved.ok
    wrong = audit_ledger(
        [_outcome("k1", "declined:no_match", "a1")], [_row("k1", "a1", "declined")]
    )
    assert wrong.wrong_decisions == 1


@pytest.mark.slow
def test_checkouts_through_a_faulty_wire_are_charged_exactly_once(
    proof_db: str, proof_postgres_server: str | None
) -> None:
    result = fault_run(
        db=proof_db,
        checkouts=100,
        fault_rate=0.3,
        seed=11,
        tills=3,
        shoppers=20,
        client_attempts=1,  # every lost answer reaches the till, which must reconcile
        postgres_server=proof_postgres_server,
    )
    assert result["ok"], result["problems"]
    assert result["checkouts"] == 100
    assert result["double_charges"] == result["lost_charges"] == result["silent_charges"] == 0
    assert result["unresolved"] == 0
    assert result["wrong_decisions"] == 0
    assert result["unknown_then_reconciled"] > 0
    wire = result["wire"]
    assert 0.2 < wire["fault_share"] < 0.4
    assert set(wire["faults"]) == {k.value for k in FaultKind}
    # A duplicated request (same nonce) is refused as a replay, never charged again.
    assert {k for k in wire["duplicate_statuses"] if k.startswith("POST")} <= {"POST 401"}
    assert not any(int(s) >= 500 for s in wire["backend_statuses"])
    # Every checkout ended approved, declined, or as "not charged" after reconciling.
    assert set(result["outcomes"]) <= {
        "approved",
        "declined:no_match",
        "declined:payment_method_declined",
        "not_charged",
        "abandoned",
    }


@pytest.mark.slow
def test_connections_cut_mid_request_or_mid_answer_charge_exactly_once() -> None:
    # A loopback TCP proxy cuts 15% of relayed chunks part-way: requests arrive with half
    # their headers or body, answers arrive half-written.
    result = fault_run(
        db="sqlite",
        checkouts=60,
        fault_rate=0.0,
        tcp_cut_rate=0.15,
        seed=4,
        tills=3,
        shoppers=15,
        client_attempts=1,
    )
    assert result["ok"], result["problems"]
    assert result["tcp"]["cuts"].get("request", 0) > 0
    assert result["tcp"]["cuts"].get("response", 0) > 0
    assert result["unknown_then_reconciled"] > 0
    assert result["backend_errors_logged"] == 0
    assert result["double_charges"] == result["lost_charges"] == result["silent_charges"] == 0

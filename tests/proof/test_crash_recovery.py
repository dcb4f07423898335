"""SIGKILL the backend process during load and restart it: still exactly once.

The backend is ``facepay sandbox serve`` in a child process (what an operator runs); it
is killed with SIGKILL (no shutdown code runs, transactions die half-way) and started
again on the same database and keys. CI size here; ``facepay bench crash`` is the full
size. A till's client object lives through the outage: no till restart.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from facepay import wire
from facepay.client import FacePayClient
from facepay.errors import TransportError
from facepay.eval._backends import ServerProcess
from facepay.eval._proof_runs import crash_run
from facepay.eval._reliability import (
    SignerFor,
    _client_config,
    _keys,
    _sealed,
    enroll_population,
    register_till,
)


@pytest.mark.slow
def test_sigkilled_backend_loses_and_doubles_no_charge(
    proof_db: str, proof_postgres_server: str | None
) -> None:
    result = crash_run(
        db=proof_db,
        checkouts=60,
        kills=2,
        seed=5,
        tills=3,
        shoppers=10,
        postgres_server=proof_postgres_server,
    )
    assert result["ok"], result["problems"]
    assert result["sigkills"] == 2
    assert result["restarts"] == 2
    assert result["checkouts"] == 60
    assert result["double_charges"] == result["lost_charges"] == result["silent_charges"] == 0
    assert result["unresolved"] == 0
    assert result["wrong_decisions"] == 0


@pytest.mark.slow
def test_a_till_reconciles_an_answer_lost_to_a_crash_without_restarting(tmp_path: Path) -> None:
    server = ServerProcess(
        str(tmp_path / "crash.db"), tmp_path / "keys", log_path=tmp_path / "server.log"
    ).start()
    try:
        till = register_till(server.base_url, server.admin_token)
        population = enroll_population(server.base_url, till, 1, declined_every=0)
        shopper = population.shoppers[0]
        with FacePayClient(
            server.base_url, signer=SignerFor(till), config=_client_config(max_attempts=1)
        ) as client:
            keys = _keys(client)
            info = client.open_session("pay")
            request = wire.AuthorizeRequest(
                session_id=info.session_id,
                amount_minor=4200,
                currency="EUR",
                basket_reference="crash-basket-1",
                sealed_template=_sealed(keys, shopper.vector, info),
                liveness=wire.LivenessSummary(decision="live"),
                claim=wire.Claim(kind=wire.ClaimKind.PHONE, value=shopper.phone),
            )
            first = client.authorize(request, idempotency_key="idem_crash_0001")
            assert first.status.value == "approved"
            server.kill()
            # The answer to a retry is lost: the backend is gone.
            with pytest.raises(TransportError):
                client.reconcile(request, idempotency_key="idem_crash_0001")
            server.start()
            # Same client object, same key and request: the stored answer comes back.
            again = client.reconcile(request, idempotency_key="idem_crash_0001")
            assert again.authorization_id == first.authorization_id
            assert again.status.value == "approved"
    finally:
        server.stop()
    from facepay.server import ledger, open_database

    db = open_database(str(tmp_path / "crash.db"))
    try:
        rows = [r for r in ledger(db) if r["basket_reference"] == "crash-basket-1"]
    finally:
        db.close()
    assert len(rows) == 1
    assert rows[0]["state"] == "approved"

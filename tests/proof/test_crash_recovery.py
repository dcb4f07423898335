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


@pytest.mark.slow
@pytest.mark.eval
def test_a_checkout_lane_survives_its_backend_dying_mid_shift(
    eval_dir: Path, tmp_path: Path
) -> None:
    """The real flow (clip as the camera): enroll, the backend is SIGKILLed, a payment
    attempt fails cleanly with nothing charged, the backend comes back, and the same
    ``Till`` object takes the next payment; no till restart."""
    from facepay import (
        BackendError,
        Basket,
        BasketLine,
        CheckoutFailedError,
        Claim,
        ClaimKind,
        ClientConfig,
        Till,
        consent_now,
        fixed_liveness_plan,
        open_source,
    )

    clip = eval_dir / "video" / "single_face.mp4"
    claim = Claim(kind=ClaimKind.PHONE, value="+4915112345678")

    def basket(ref: str) -> Basket:
        line = BasketLine(sku="1", description="Milk", quantity=1, unit_price_minor=119)
        return Basket(reference=ref, currency="EUR", lines=(line,))

    db = str(tmp_path / "lane.db")
    server = ServerProcess(db, tmp_path / "keys", log_path=tmp_path / "server.log").start()
    try:
        device = register_till(server.base_url, server.admin_token)
        with Till.connect(
            server.base_url,
            device_key=device.key,
            device_id=device.device_id,
            client_config=ClientConfig(verify_tls=False, connect_timeout_s=1.0, max_attempts=2),
            liveness=fixed_liveness_plan("blink"),
        ) as till:
            with open_source(clip) as camera:
                till.enroll(
                    camera,
                    consent=consent_now("2026-01-en"),
                    claim=claim,
                    payment_method_token="tok_visa_4242",
                )
            server.kill()
            with pytest.raises((CheckoutFailedError, BackendError)), open_source(clip) as camera:
                till.pay(basket("lane-down-1"), camera, claim=claim)
            server.start()
            with open_source(clip) as camera:
                receipt = till.pay(basket("lane-up-2"), camera, claim=claim)
            assert receipt.approved, receipt
    finally:
        server.stop()
    from facepay.server import ledger, open_database

    database = open_database(db)
    try:
        entries = ledger(database)
    finally:
        database.close()
    assert [e["state"] for e in entries if e["basket_reference"] == "lane-up-2"] == ["approved"]
    assert [e for e in entries if e["basket_reference"] == "lane-down-1"] == []

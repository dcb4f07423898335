"""SIGKILL the backend process during load and restart it: still exactly once.

The backend is ``facepay sandbox serve`` in a child process (what an operator runs); it
is killed with SIGKILL (no shutdown code runs, transactions die half-way) and started
again on the same database and keys. CI size here; ``facepay bench crash`` is the full
size. A till's client object lives through the outage: no till restart.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from facepay import wire
from facepay.checkout import Basket, BasketLine, Till
from facepay.errors import CheckoutError, TransportError
from facepay.eval._backends import ServerProcess
from facepay.eval._proof_runs import crash_run
from facepay.eval._reliability import _client_config, enroll_population, register_till
from facepay.testing.synthetic import SyntheticFaces


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


class _CrashAfterAuthorize(httpx.BaseTransport):
    """The network seam: delivers the first authorization, then SIGKILLs the backend
    before its answer reaches the till (the answer is lost to the crash)."""

    def __init__(self, server: ServerProcess) -> None:
        self._server = server
        self._inner = httpx.HTTPTransport()
        self.crashed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if (
            not self.crashed
            and request.method == "POST"
            and request.url.path == "/v1/authorizations"
        ):
            response.read()
            self.crashed = True
            self._server.kill()
            raise httpx.ReadError("the backend died before its answer arrived", request=request)
        return response

    def close(self) -> None:
        self._inner.close()


@pytest.mark.slow
def test_a_till_reconciles_an_answer_lost_to_a_crash_without_restarting(tmp_path: Path) -> None:
    server = ServerProcess(
        str(tmp_path / "crash.db"), tmp_path / "keys", log_path=tmp_path / "server.log"
    ).start()
    faces = SyntheticFaces()
    wire_to_backend = _CrashAfterAuthorize(server)
    try:
        device = register_till(server.base_url, server.admin_token)
        shopper = enroll_population(server.base_url, device, 1, declined_every=0).shoppers[0]
        line = BasketLine(sku="1", description="Milk", quantity=1, unit_price_minor=4200)
        basket = Basket(reference="crash-basket-1", currency="EUR", lines=(line,))
        claim = wire.Claim(kind=wire.ClaimKind.PHONE, value=shopper.phone)
        with Till.connect(
            server.base_url,
            device_key=device.key,
            device_id=device.device_id,
            client_config=_client_config(max_attempts=1),
            transport=wire_to_backend,
            analyzer=faces,
            embedder=faces,
            liveness=faces.liveness,
        ) as till:
            with pytest.raises(TransportError):
                till.pay(basket, faces.camera(basket.reference, shopper.vector), claim=claim)
            assert wire_to_backend.crashed
            # The till keeps what it sent; the backend is gone, so asking again fails too.
            (pending,) = till.unanswered
            assert pending.basket_reference == basket.reference
            with pytest.raises(TransportError):
                till.reconcile(pending)
            server.start()
            # Same Till object, same key and request: the stored answer comes back.
            receipt = till.reconcile(pending)
            assert receipt.approved
            assert till.unanswered == ()
            # And the till now refuses to take this order a second time.
            with pytest.raises(CheckoutError):
                till.start_checkout(basket, claim=claim)
    finally:
        server.stop()
    from facepay.server import ledger, open_database

    db = open_database(str(tmp_path / "crash.db"))
    try:
        rows = [r for r in ledger(db) if r["basket_reference"] == "crash-basket-1"]
    finally:
        db.close()
    assert [(r["id"], r["state"]) for r in rows] == [(receipt.authorization_id, "approved")]


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

"""Red team, the till's side: a till killed mid-payment, and two lanes paying one order
(docs/security.md, "Attacks tried: the till's side", the rows on a till that restarts
and an order paid at two lanes).

1. The POS process is killed after the backend charged and before the answer came: the
   answer is dropped on the network, the ``Till`` is discarded without being closed, and
   a new one is built on the same journal file. It refuses the order, ``recover()`` finds
   the charge once, and nothing the POS does then charges again, whichever lane it asks.
2. Two lanes take the same order at the same moment (the shopper walked to lane 2 while
   lane 1 was still deciding, or a POS bug sent the sale to both): against ``facepay
   sandbox serve --workers 2`` on one SQLite file (two processes, the kernel spreading
   connections over them), and two backends on one PostgreSQL database, every order is
   charged once: one approval, the other ``409 order_already_paid``.

The tills, the backend processes and their database are the product; the doubles are the
camera (synthetic faces) and the network that drops an answer.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from requests_kit import free_port, serve, start
from till_kit import RewritingProxy, basket, booked, busy_sandbox, enroll

import facepay
import facepay.testing as kit
from facepay.checkout import OrderAlreadyPaidError, PaymentUnansweredError, Till
from facepay.cli import main
from facepay.config import ClientConfig, ServerConfig
from facepay.crypto import DeviceKey
from facepay.server import ProvisionedDevice
from facepay.testing.protocol_till import ProtocolTill, face, same_face


@pytest.fixture
def sandbox(database_url: str, tmp_path: Path) -> Iterator[kit.Sandbox]:
    yield from busy_sandbox(database_url, tmp_path)


def lose_the_answer(request: httpx.Request, real: dict[str, Any] | None) -> httpx.Response:
    raise httpx.ReadTimeout("the POS was killed before the answer came", request=request)


def till_process(
    device: ProvisionedDevice,
    sandbox: kit.Sandbox,
    faces: kit.SyntheticFaces,
    journal: Path | None,
    transport: httpx.BaseTransport | None = None,
) -> Till:
    return Till.connect(
        sandbox.base_url,
        device_key=device.key,
        device_id=device.device_id,
        transport=transport,
        client_config=ClientConfig(max_attempts=1),
        journal=journal,
        **faces.till_parts(),
    )


def test_a_till_killed_mid_payment_recovers_the_charge_once_from_its_journal(
    sandbox: kit.Sandbox, faces: kit.SyntheticFaces, tmp_path: Path
) -> None:
    lane_1 = sandbox.provision_device(tenant_id="acme", lane_id="lane-1")
    lane_2 = sandbox.provision_device(tenant_id="acme", lane_id="lane-2")
    journal = tmp_path / "lane-1-journal.db"
    sale = basket(1999)
    proxy = RewritingProxy()
    killed = till_process(lane_1, sandbox, faces, journal, proxy)
    person, claim = enroll(killed, faces, 61)
    proxy.rewrite = lose_the_answer
    with pytest.raises(PaymentUnansweredError):
        killed.pay(sale, faces.camera("before", kit.same_face(person, 1)), claim=claim)
    assert proxy.delivered == 1
    assert booked(sandbox, sale.reference) == [("approved", 1999)]
    del killed  # SIGKILL: nothing closed, nothing flushed beyond what was committed

    with till_process(lane_1, sandbox, faces, journal) as restarted:
        camera = faces.camera("retry", kit.same_face(person, 2))
        with pytest.raises(facepay.CheckoutError):  # refused before recovery
            restarted.pay(sale, camera, claim=claim)
        recovered = restarted.recover()
        assert [r.outcome.value for r in recovered] == ["charged"]
        (charge,) = recovered
        assert charge.receipt is not None
        assert charge.receipt.authorization_id == proxy.answers[0]["authorization_id"]
        # The POS, told "charged", tries the card anyway: refused by the till itself ...
        with pytest.raises(OrderAlreadyPaidError):
            restarted.pay(sale, faces.camera("again", kit.same_face(person, 3)), claim=claim)
    # ... and by the backend at another lane that has no journal of it.
    with till_process(lane_2, sandbox, faces, None) as other, pytest.raises(OrderAlreadyPaidError):
        other.pay(sale, faces.camera("lane-2", kit.same_face(person, 4)), claim=claim)
    assert booked(sandbox, sale.reference) == [("approved", 1999)]


def test_two_tills_paying_one_order_at_once_charge_it_once(
    sandbox: kit.Sandbox, faces: kit.SyntheticFaces
) -> None:
    """Two lanes, each a real Till, complete the same order at the same moment."""
    lanes = [sandbox.provision_device(tenant_id="acme", lane_id=f"lane-{n}") for n in (1, 2)]
    tills = [till_process(device, sandbox, faces, None) for device in lanes]
    try:
        person, claim = enroll(tills[0], faces, 62)
        sale = basket(4200)
        sessions = []
        for n, till in enumerate(tills):
            session = till.start_checkout(sale, claim=claim)
            session.begin()
            session.run(faces.camera(f"lane-{n}", kit.same_face(person, n + 1)))
            assert session.state is facepay.CheckoutState.PROCESSING
            sessions.append(session)
        gate = threading.Barrier(2)
        outcomes: list[object] = []

        def complete(session: Any) -> None:
            gate.wait(30)
            try:
                outcomes.append(session.complete())
            except OrderAlreadyPaidError as exc:
                outcomes.append(exc)

        racers = [threading.Thread(target=complete, args=(s,)) for s in sessions]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join(60)
        receipts = [o for o in outcomes if isinstance(o, facepay.Receipt)]
        refusals = [o for o in outcomes if isinstance(o, OrderAlreadyPaidError)]
        assert len(receipts) == 1, outcomes
        assert receipts[0].approved
        assert len(refusals) == 1, outcomes
        assert refusals[0].authorization_id == receipts[0].authorization_id
    finally:
        for till in tills:
            till.close()
    assert booked(sandbox, sale.reference) == [("approved", 4200)]


class _Backend:
    """What a raw protocol till needs of the backend it talks to: its address."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url


def _send(
    till: ProtocolTill, body: dict[str, Any], gate: threading.Barrier, out: list[httpx.Response]
) -> None:
    gate.wait(30)
    out.append(till.authorize(body))


def race_orders(base_urls: list[str], device: ProvisionedDevice, orders: int) -> list[str]:
    """For each of ``orders`` orders, two authorizations sent at once, each by its own
    till on its own connection (to ``base_urls`` in turn); returns every answer's status,
    or its error code."""
    shopper = face(63)
    phone = "+4915163000063"
    enroller = ProtocolTill(_Backend(base_urls[0]), device)  # type: ignore[arg-type]
    try:
        assert enroller.enroll(shopper, phone=phone).status_code == 201
    finally:
        enroller.close()
    codes: list[str] = []
    for n in range(orders):
        reference = f"RACE-{uuid.uuid4().hex[:8]}-{n}"
        tills = [
            ProtocolTill(_Backend(base_urls[k % len(base_urls)]), device)  # type: ignore[arg-type]
            for k in range(2)
        ]
        try:
            bodies = []
            for k, till in enumerate(tills):
                body = till.pay_body(same_face(shopper, 10 * n + k + 1), phone=phone)
                body["basket_reference"] = reference
                bodies.append(body)
            gate = threading.Barrier(2)
            answers: list[httpx.Response] = []
            threads = [
                threading.Thread(target=_send, args=(till, body, gate, answers))
                for till, body in zip(tills, bodies, strict=True)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
        finally:
            for till in tills:
                till.close()
        for r in answers:
            codes.append(r.json()["status"] if r.status_code == 200 else r.json()["error"]["code"])
    return codes


def test_two_worker_processes_charge_each_raced_order_once(tmp_path: Path) -> None:
    """``serve --workers 2`` on one SQLite file: eight orders, each sent twice at once on
    fresh connections; the kernel hands them to either process."""
    db = tmp_path / "shop.db"
    key = DeviceKey.generate()
    key_path = tmp_path / "lane.pem"
    key.save(key_path)
    assert main(["sandbox", "provision", "--db", str(db), "--device-key", str(key_path),
                 "--tenant", "acme", "--device-id", "lane-w", "--json"]) == 0  # fmt: skip
    port = free_port()
    env = {
        **os.environ,
        "FACEPAY_SERVER_DEVICE_RATE_BURST": "1000",
        "FACEPAY_SERVER_DEVICE_RATE_PER_S": "1000",
    }
    proc = serve(db, port, "--workers", "2", env=env, stderr=subprocess.DEVNULL)
    try:
        device = ProvisionedDevice("lane-w", "acme", "store-1", "lane-1", key)
        codes = race_orders([f"http://127.0.0.1:{port}"], device, orders=8)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert sorted(codes) == sorted(["approved", "order_already_paid"] * 8), codes
    rows = _approved_per_order(db)
    assert len(rows) == 8
    assert set(rows.values()) == {1}


def _approved_per_order(db: Path) -> dict[str, int]:
    import sqlite3

    with sqlite3.connect(db) as conn:
        found = conn.execute(
            "SELECT basket_reference, count(*) FROM authorizations"
            " WHERE status = 'approved' AND basket_reference LIKE 'RACE-%'"
            " GROUP BY basket_reference"
        ).fetchall()
    conn.close()
    return {str(r[0]): int(r[1]) for r in found}


def test_two_backends_on_one_postgresql_database_charge_each_raced_order_once(
    postgres_dsn: str, tmp_path: Path
) -> None:
    config = ServerConfig(device_rate_per_s=1000.0, device_rate_burst=1000)
    first = start(postgres_dsn, tmp_path, config)
    second = start(postgres_dsn, tmp_path, config)
    try:
        device = first.provision_device(tenant_id="acme")
        codes = race_orders([first.base_url, second.base_url], device, orders=8)
        assert sorted(codes) == sorted(["approved", "order_already_paid"] * 8), codes
        approved = kit.rows(
            first,
            "SELECT basket_reference, count(*) FROM authorizations WHERE status = 'approved'"
            " GROUP BY basket_reference",
        )
        assert len(approved) == 8
        assert {int(r[1]) for r in approved} == {1}
    finally:
        second.stop()
        first.stop()


def test_the_pos_example_records_an_order_paid_at_another_lane_as_paid_and_takes_no_card(
    sandbox: kit.Sandbox, faces: kit.SyntheticFaces
) -> None:
    """examples/pos_integration.py (what docs/integration.md tells a POS to write): the
    shopper paid at lane 1; lane 2's ``pay_by_face`` for the same order records it paid
    by that payment, with no card fallback, whether the refusal comes at once or on
    the reconcile of a request that never arrived."""
    import importlib.util

    example = Path(__file__).resolve().parents[2] / "examples" / "pos_integration.py"
    spec = importlib.util.spec_from_file_location("pos_integration_orders", example)
    assert spec is not None
    assert spec.loader is not None
    pos = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = pos  # its dataclasses look their module up
    spec.loader.exec_module(pos)

    lane_1 = sandbox.provision_device(tenant_id="acme", lane_id="lane-1")
    lane_2 = sandbox.provision_device(tenant_id="acme", lane_id="lane-2")
    order = pos.demo_order()
    order.order_id = f"store-7/lane-2/{uuid.uuid4().hex[:6]}"
    phone = "+4915166000064"
    with till_process(lane_1, sandbox, faces, None) as first:
        person = kit.face(64)
        first.enroll(
            faces.camera("enroll-64", person),
            consent=facepay.consent_now("2026-01-en"),
            claim=facepay.Claim(kind=facepay.ClaimKind.PHONE, value=phone),
            payment_method_token="tok_visa_4242",
        )
        paid = pos.pay_by_face(
            first, order, faces.camera("lane-1", kit.same_face(person, 1)), phone
        )
        assert paid["paid"] is True
    proxy = RewritingProxy()
    with till_process(lane_2, sandbox, faces, None, proxy) as second:
        at_once = pos.pay_by_face(
            second, order, faces.camera("lane-2", kit.same_face(person, 2)), phone
        )
    assert at_once["paid"] is True
    assert at_once["already_paid"] is True
    assert at_once["fallback"] is None
    assert at_once["authorization_id"] == paid["authorization_id"]

    # Lane 3's request is dropped on its way; its reconcile meets the paid order.
    lane_3 = sandbox.provision_device(tenant_id="acme", lane_id="lane-3")
    dropping = RewritingProxy()
    dropping.forward, dropping.rewrite = False, lose_the_answer
    sent = 0

    def once_then_through(request: httpx.Request, real: dict[str, Any] | None) -> httpx.Response:
        nonlocal sent
        sent += 1
        dropping.forward, dropping.rewrite = True, None
        return lose_the_answer(request, real)

    dropping.rewrite = once_then_through
    with till_process(lane_3, sandbox, faces, None, dropping) as third:
        on_reconcile = pos.pay_by_face(
            third, order, faces.camera("lane-3", kit.same_face(person, 3)), phone
        )
    assert sent == 1
    assert on_reconcile["already_paid"] is True
    assert on_reconcile["fallback"] is None
    assert on_reconcile["authorization_id"] == paid["authorization_id"]
    assert booked(sandbox, order.order_id) == [("approved", paid["amount_minor"])]

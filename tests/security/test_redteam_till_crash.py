"""Red team, the till's side: the POS dies after the backend charged and before the answer
came (docs/security.md, "What this does not stop": "A till that restarts loses its
ledger"; docs/integration.md section 4, "After a crash").

No attacker: a realistic fault. The network delivers the authorization, the backend
decides and charges, the answer is lost (``RewritingProxy`` raises where the answer would
come back), and the POS process dies with the payment in ``till.unanswered``, which lives
in memory only. The restarted POS builds a new ``Till``: it knows nothing of the payment
and would start another checkout for the order. What a POS must do, and what this file
shows is enough: ask the backend ``till.order_payments(reference)`` and take no payment
while one of them is approved or pending. The shopper is charged once.

The till, its client, the backend (a real sandbox over HTTP, SQLite and PostgreSQL) are
the product; the doubles are the face stage (synthetic templates) and the network.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from till_kit import RewritingProxy, basket, booked, busy_sandbox, enroll

import facepay
import facepay.testing as kit
from facepay.checkout import PaymentUnansweredError, Till
from facepay.config import ClientConfig
from facepay.server import ProvisionedDevice


@pytest.fixture
def sandbox(database_url: str, tmp_path: Path) -> Iterator[kit.Sandbox]:
    yield from busy_sandbox(database_url, tmp_path)


def lose_the_answer(request: httpx.Request, real: dict[str, Any] | None) -> httpx.Response:
    # Forwarded and decided by the backend (RewritingProxy forwards first); the answer
    # never reaches the till.
    raise httpx.ReadTimeout("the POS went down before the answer came", request=request)


def till_process(
    device: ProvisionedDevice,
    sandbox: kit.Sandbox,
    faces: kit.SyntheticFaces,
    transport: httpx.BaseTransport | None = None,
) -> Till:
    """One POS process's till, signing as ``device`` (a restart: the same key, new memory)."""
    return Till.connect(
        sandbox.base_url,
        device_key=device.key,
        device_id=device.device_id,
        transport=transport,
        client_config=ClientConfig(max_attempts=1),
        **faces.till_parts(),
    )


def pos_pays(
    till: Till, sale: facepay.Basket, camera: Any, claim: facepay.Claim
) -> facepay.Receipt | None:
    """What integration.md section 4 tells a POS back from a crash to do: ask first, and
    take no payment while the order has one approved or pending."""
    if any(p.blocks_another_payment() for p in till.order_payments(sale.reference)):
        return None
    return till.pay(sale, camera, claim=claim)


def crash_after_the_charge(
    device: ProvisionedDevice,
    sandbox: kit.Sandbox,
    faces: kit.SyntheticFaces,
    sale: facepay.Basket,
    seed: int,
) -> tuple[Any, facepay.Claim]:
    """Enroll, pay ``sale`` with its answer lost, and let the POS process die."""
    proxy = RewritingProxy()
    before = till_process(device, sandbox, faces, transport=proxy)
    person, claim = enroll(before, faces, seed)
    proxy.rewrite = lose_the_answer
    with pytest.raises(PaymentUnansweredError):
        before.pay(sale, faces.camera("before", kit.same_face(person, 1)), claim=claim)
    assert proxy.delivered == 1
    assert len(before.unanswered) == 1
    assert booked(sandbox, sale.reference) == [("approved", sale.total_minor)]
    before.close()  # the process dies: its unanswered ledger with it
    return person, claim


def test_the_restarted_pos_finds_the_charge_and_does_not_charge_twice(
    sandbox: kit.Sandbox, faces: kit.SyntheticFaces
) -> None:
    device = sandbox.provision_device(tenant_id="acme")
    sale = basket(1250)
    person, claim = crash_after_the_charge(device, sandbox, faces, sale, 71)

    with till_process(device, sandbox, faces) as after:
        # The till by itself (no journal) does not know: nothing pending, and a checkout
        # for the order would start (the backend would refuse its approval:
        # test_redteam_till_crash_orders.py; asking first spares the shopper the capture).
        assert after.unanswered == ()
        session = after.start_checkout(sale, claim=claim)
        session.cancel()
        assert booked(sandbox, sale.reference) == [("approved", 1250)]

        # Asking finds the charge; the POS takes no second payment.
        (found,) = after.order_payments(sale.reference)
        assert found.status is facepay.PaymentStatus.APPROVED
        assert found.blocks_another_payment()
        assert (found.amount_minor, found.currency) == (1250, "EUR")
        camera = faces.camera("after", kit.same_face(person, 2))
        assert pos_pays(after, sale, camera, claim) is None
    assert booked(sandbox, sale.reference) == [("approved", 1250)]


def test_the_sale_moved_to_another_lane_is_found_there(
    sandbox: kit.Sandbox, faces: kit.SyntheticFaces
) -> None:
    lane_1 = sandbox.provision_device(tenant_id="acme", lane_id="lane-1")
    lane_2 = sandbox.provision_device(tenant_id="acme", lane_id="lane-2")
    sale = basket(880)
    person, claim = crash_after_the_charge(lane_1, sandbox, faces, sale, 72)

    # Lane 1 stays down; the shopper is walked to lane 2 with the same order.
    with till_process(lane_2, sandbox, faces) as other:
        camera = faces.camera("lane-2", kit.same_face(person, 2))
        assert pos_pays(other, sale, camera, claim) is None
    assert booked(sandbox, sale.reference) == [("approved", 880)]


def test_a_payment_lost_before_it_reached_the_backend_is_paid_once_after_the_crash(
    sandbox: kit.Sandbox, faces: kit.SyntheticFaces
) -> None:
    """The other half of "no charge lost": when the request never arrived, the order has
    no payment, and the restarted POS takes the one it needs."""
    device = sandbox.provision_device(tenant_id="acme")
    sale = basket(640)
    proxy = RewritingProxy()
    before = till_process(device, sandbox, faces, transport=proxy)
    person, claim = enroll(before, faces, 73)
    proxy.forward = False  # dropped on its way: the backend never sees it
    proxy.rewrite = lose_the_answer
    with pytest.raises(PaymentUnansweredError):
        before.pay(sale, faces.camera("before", kit.same_face(person, 1)), claim=claim)
    assert proxy.delivered == 0
    before.close()

    with till_process(device, sandbox, faces) as after:
        assert after.order_payments(sale.reference) == ()
        camera = faces.camera("after", kit.same_face(person, 2))
        receipt = pos_pays(after, sale, camera, claim)
        assert receipt is not None
        assert receipt.status is facepay.PaymentStatus.APPROVED
        assert [p.authorization_id for p in after.order_payments(sale.reference)] == [
            receipt.authorization_id
        ]
    assert booked(sandbox, sale.reference) == [("approved", 640)]

"""The till maps the backend's ``409 order_already_paid`` to a typed error and records the
order as paid (docs/integration.md, "One order, one charge"): a POS must not offer the
card for an order another lane paid. Real tills, a real backend over HTTP (SQLite and
PostgreSQL); the doubles are the camera and, where a request is lost, the network.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_till_journal import LosingNetwork, basket, booked, enroll, till_process

import facepay.testing as kit
from facepay.checkout import OrderAlreadyPaidError, PaymentUnansweredError
from facepay.config import ServerConfig
from facepay.errors import RequestRejectedError

CONFIG = ServerConfig(device_rate_burst=500, device_rate_per_s=500.0)


@pytest.fixture
def sandbox(database_url: str, tmp_path: Path) -> Iterator[kit.Sandbox]:
    with kit.Sandbox(database_url, key_dir=tmp_path / "keys", config=CONFIG) as sb:
        yield sb


@pytest.fixture
def faces() -> kit.SyntheticFaces:
    return kit.SyntheticFaces()


class CountingNetwork(httpx.BaseTransport):
    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.requests = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def test_a_lane_paying_an_order_another_lane_paid_gets_a_typed_refusal_and_remembers_it(
    sandbox: kit.Sandbox, faces: kit.SyntheticFaces, tmp_path: Path
) -> None:
    lane_1 = sandbox.provision_device(tenant_id="acme", lane_id="lane-1")
    lane_2 = sandbox.provision_device(tenant_id="acme", lane_id="lane-2")
    sale = basket("POS-2001", 777)
    with till_process(lane_1, sandbox, faces, None) as first:
        person, claim = enroll(first, faces, 91)
        paid = first.pay(sale, faces.camera("lane-1", kit.same_face(person, 1)), claim=claim)
        assert paid.approved

    network = CountingNetwork()
    journal = tmp_path / "lane-2.db"
    with till_process(lane_2, sandbox, faces, journal, network) as second:
        with pytest.raises(OrderAlreadyPaidError) as refused:
            second.pay(sale, faces.camera("lane-2", kit.same_face(person, 2)), claim=claim)
        assert refused.value.authorization_id == paid.authorization_id
        assert refused.value.receipt_id == paid.receipt_id
        cause = refused.value.__cause__
        assert isinstance(cause, RequestRejectedError)
        assert (cause.status, cause.code) == (409, "order_already_paid")
        assert second.unanswered == ()
        # Remembered: the next attempt is refused before anything is sent.
        sent = network.requests
        with pytest.raises(OrderAlreadyPaidError):
            second.pay(sale, faces.camera("again", kit.same_face(person, 3)), claim=claim)
        assert network.requests == sent
    # And after a restart of lane 2, from its journal.
    with (
        till_process(lane_2, sandbox, faces, journal) as restarted,
        pytest.raises(OrderAlreadyPaidError),
    ):
        restarted.start_checkout(sale, claim=claim)
    assert booked(sandbox, sale.reference) == [("approved", 777)]


def test_a_lost_request_reconciled_after_another_lane_paid_its_order_is_not_charged(
    sandbox: kit.Sandbox, faces: kit.SyntheticFaces
) -> None:
    """Lane 1's request never arrived; the shopper paid the order at lane 2; lane 1's
    reconcile sends its request again and the backend refuses it: lane 1 learns the
    order is paid, its own payment settled as not charged."""
    lane_1 = sandbox.provision_device(tenant_id="acme", lane_id="lane-1")
    lane_2 = sandbox.provision_device(tenant_id="acme", lane_id="lane-2")
    sale = basket("POS-2002", 450)
    network = LosingNetwork()
    with till_process(lane_1, sandbox, faces, None, network) as first:
        person, claim = enroll(first, faces, 92)
        network.lose, network.deliver = True, False
        with pytest.raises(PaymentUnansweredError) as lost:
            first.pay(sale, faces.camera("lane-1", kit.same_face(person, 1)), claim=claim)
        network.lose = False
        with till_process(lane_2, sandbox, faces, None) as second:
            paid = second.pay(sale, faces.camera("lane-2", kit.same_face(person, 2)), claim=claim)
            assert paid.approved
        with pytest.raises(OrderAlreadyPaidError) as refused:
            first.reconcile(lost.value.pending)
        assert refused.value.authorization_id == paid.authorization_id
        assert first.unanswered == ()
        with pytest.raises(OrderAlreadyPaidError):
            first.start_checkout(sale, claim=claim)
    assert booked(sandbox, sale.reference) == [("approved", 450)]

"""The till's reconcile policy against the real sandbox over HTTP: a payment whose answer
was lost stays pending until the backend answers for good. A definitive refusal (the
session is over: nothing was stored under the key, and never will be) settles it as not
charged; a lost connection, a 5xx, a 401 or a 429 keeps it pending, because the payment
may have been taken. The till, its sealing, its ledger and the backend are the product;
the doubles are the uplink (an httpx transport) and the backend's clock."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import numpy as np
import numpy.typing as npt
import pytest

import facepay
import facepay.testing as kit
from facepay.checkout import PaymentUnansweredError, Till
from facepay.config import ClientConfig, ServerConfig
from facepay.errors import (
    AuthenticationError,
    RateLimitedError,
    ServerError,
    SessionExpiredError,
    TransportError,
)

SESSION_TTL_S = 60.0  # well inside the 300 s of clock skew a signed request may have
AUTHORIZE = "/v1/authorizations"
Vector = npt.NDArray[np.float32]


class Uplink(httpx.BaseTransport):
    """The till's network. ``fault`` applies to authorizations only: ``"drop"`` loses the
    request on its way (the backend never sees it), ``"lose_answer"`` delivers it and
    loses the answer, a status code is answered without reaching the payment (signed
    with the backend's own answer key, as the backend signs a rate limit or a refused
    signature: docs/protocol.md, "Signed answers"). ``None``: everything goes through."""

    def __init__(self, sandbox: kit.Sandbox) -> None:
        self._inner = httpx.HTTPTransport()
        self._sandbox = sandbox
        self.fault: str | int | None = None
        self.delivered = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        fault = self.fault if request.url.path == AUTHORIZE else None
        if fault == "drop":
            raise httpx.ReadTimeout("no answer", request=request)
        if isinstance(fault, int):
            body = {"error": {"code": f"proxy_{fault}", "message": "from the network"}}
            return self._signed(httpx.Response(fault, json=body, request=request))
        response = self._inner.handle_request(request)
        response.read()
        if request.url.path == AUTHORIZE:
            self.delivered += 1
        if fault == "lose_answer":
            raise httpx.ReadTimeout("answer lost", request=request)
        return response

    def _signed(self, response: httpx.Response) -> httpx.Response:
        return kit.signed_by_sandbox(self._sandbox, response)

    def close(self) -> None:
        self._inner.close()


@pytest.fixture(scope="module")
def clock() -> kit.FakeClock:
    # The backend's time, starting at the wall clock's (signed requests carry the till's).
    return kit.FakeClock(start=time.time())


@pytest.fixture(scope="module")
def sandbox(clock: kit.FakeClock) -> Iterator[kit.Sandbox]:
    with kit.Sandbox(config=ServerConfig(session_ttl_s=SESSION_TTL_S), clock=clock) as sb:
        yield sb


@pytest.fixture
def faces() -> kit.SyntheticFaces:
    return kit.SyntheticFaces()


@pytest.fixture
def uplink(sandbox: kit.Sandbox) -> Uplink:
    return Uplink(sandbox)


@pytest.fixture
def till(sandbox: kit.Sandbox, faces: kit.SyntheticFaces, uplink: Uplink) -> Iterator[Till]:
    with kit.connect_till(
        sandbox,
        **faces.till_parts(),
        transport=uplink,
        client_config=ClientConfig(max_attempts=1),
    ) as t:
        yield t


def enroll(till: Till, faces: kit.SyntheticFaces, seed: int) -> tuple[Vector, facepay.Claim]:
    person = kit.face(seed)
    claim = facepay.Claim(kind=facepay.ClaimKind.PHONE, value=f"+4915177{seed:06d}")
    till.enroll(
        faces.camera(f"enroll-{seed}", person),
        consent=facepay.consent_now("2026-01-en"),
        claim=claim,
        payment_method_token="tok_visa_4242",
    )
    return person, claim


def basket(reference: str) -> facepay.Basket:
    line = facepay.BasketLine(sku="1", description="Tea", quantity=1, unit_price_minor=432)
    return facepay.Basket(reference=reference, currency="EUR", lines=(line,))


def booked(sandbox: kit.Sandbox, reference: str) -> list[tuple[str, int]]:
    """The backend's ledger rows for one order: (status, amount)."""
    everything = kit.rows(
        sandbox, "SELECT basket_reference, status, amount_minor FROM authorizations"
    )
    return [(str(r[1]), int(r[2])) for r in everything if r[0] == reference]


def test_a_lost_payment_whose_session_ended_settles_as_not_charged_and_only_then(
    sandbox: kit.Sandbox,
    clock: kit.FakeClock,
    faces: kit.SyntheticFaces,
    uplink: Uplink,
    till: Till,
) -> None:
    person, claim = enroll(till, faces, 41)
    sale = basket("SALE-RECON-1")
    uplink.fault = "drop"
    with pytest.raises(PaymentUnansweredError) as err:
        till.pay(sale, faces.camera(sale.reference, kit.same_face(person, 1)), claim=claim)
    pending = err.value.pending
    assert till.unanswered == (pending,)

    # Nothing that says what happened to it: it may have been charged, it stays.
    for fault, error in (
        ("drop", TransportError),
        (503, ServerError),
        (429, RateLimitedError),
        (401, AuthenticationError),
    ):
        uplink.fault = fault
        with pytest.raises(error):
            till.reconcile(pending)
        assert till.unanswered == (pending,), fault
        with pytest.raises(facepay.CheckoutError, match="unanswered"):
            till.start_checkout(sale, claim=claim)
    assert uplink.delivered == 0

    # The backend's answer, once its session is over: it never stored anything under that
    # key and never will. Settled as not charged, and the order can be paid again.
    uplink.fault = None
    clock.advance(SESSION_TTL_S + 1.0)
    with pytest.raises(SessionExpiredError):
        till.reconcile(pending)
    assert till.unanswered == ()
    assert booked(sandbox, sale.reference) == []
    receipt = till.pay(sale, faces.camera(sale.reference, kit.same_face(person, 2)), claim=claim)
    assert receipt.status is facepay.PaymentStatus.APPROVED
    assert booked(sandbox, sale.reference) == [("approved", 432)]


def test_a_refused_resend_keeps_a_payment_that_was_taken_pending_until_its_answer(
    sandbox: kit.Sandbox,
    faces: kit.SyntheticFaces,
    uplink: Uplink,
    till: Till,
) -> None:
    person, claim = enroll(till, faces, 42)
    sale = basket("SALE-RECON-2")
    session = till.start_checkout(sale, claim=claim)
    uplink.fault = "lose_answer"  # the backend charges; the till never hears it
    with pytest.raises(PaymentUnansweredError):
        session.pay(faces.camera(sale.reference, kit.same_face(person, 1)))
    assert booked(sandbox, sale.reference) == [("approved", 432)]
    pending = session.pending
    assert pending is not None

    # A 429 (or a 401) to the re-sent request says nothing of the first one: forgetting
    # it here would let the same order be paid twice.
    for fault in (429, 401):
        uplink.fault = fault
        with pytest.raises(PaymentUnansweredError) as err:
            session.reconcile()
        assert err.value.status == fault
        assert session.pending == pending
        assert till.unanswered == (pending,)
        with pytest.raises(facepay.CheckoutError, match="unanswered"):
            till.start_checkout(sale, claim=claim)

    uplink.fault = None
    receipt = session.reconcile()
    assert receipt.status is facepay.PaymentStatus.APPROVED
    assert till.unanswered == ()
    with pytest.raises(facepay.CheckoutError, match="already paid"):
        till.start_checkout(sale, claim=claim)
    assert booked(sandbox, sale.reference) == [("approved", 432)]

"""Red team, the till's side: a proxy between the till and the backend that rewrites the
backend's ANSWERS (another basket's approval, an amount or currency changed, a redirect, a
body too big to hold), and a stolen till key the operator revoked.

The till (``facepay.Till``: its sealing, ledger and reconcile policy), the client and the
backend (a real sandbox over HTTP, on SQLite and on PostgreSQL) are the product; the
doubles are the face stage (synthetic templates) and the network between them (an httpx
transport that forwards to the backend and rewrites what comes back). The defended
outcome each time: the till never reports ``approved`` for an answer that is not this
basket's, never reports "not charged" for a request the backend may have charged, keeps
the payment pending until the backend's own answer settles it, and the shopper is charged
once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from till_kit import Rewrite, RewritingProxy, basket, booked, busy_sandbox, enroll

import facepay
import facepay.testing as kit
from facepay.checkout import PaymentUnansweredError, Till
from facepay.client import AsyncFacePayClient
from facepay.config import ClientConfig
from facepay.errors import AuthenticationError, ServerError


@pytest.fixture
def sandbox(database_url: str, tmp_path: Path) -> Iterator[kit.Sandbox]:
    yield from busy_sandbox(database_url, tmp_path)


@pytest.fixture
def till(proxied_till: Till) -> Till:
    return proxied_till


def answer_with(body: dict[str, Any], status: int = 200) -> Rewrite:
    def rewrite(request: httpx.Request, real: dict[str, Any] | None) -> httpx.Response:
        return httpx.Response(status, json=body, request=request)

    return rewrite


def changed(**fields: Any) -> Rewrite:
    """The backend's real answer with ``fields`` changed."""

    def rewrite(request: httpx.Request, real: dict[str, Any] | None) -> httpx.Response:
        assert real is not None
        return httpx.Response(200, json={**real, **fields}, request=request)

    return rewrite


def assert_pending_then_reconciled_once(
    till: Till, sandbox: kit.Sandbox, proxy: RewritingProxy, sale: facepay.Basket, pending: Any
) -> facepay.Receipt:
    """The payment stays pending (its order cannot be paid again) until the backend's own
    answer, which is this basket's, one charge."""
    assert till.unanswered == (pending,)
    with pytest.raises(facepay.CheckoutError, match="unanswered"):
        till.start_checkout(sale)
    proxy.rewrite = None
    receipt = till.reconcile(pending)
    assert receipt.approved
    assert (receipt.basket_reference, receipt.amount_minor, receipt.currency) == (
        sale.reference,
        sale.total_minor,
        sale.currency,
    )
    assert till.unanswered == ()
    assert booked(sandbox, sale.reference) == [("approved", sale.total_minor)]
    return receipt


def test_another_baskets_approval_put_in_the_answer_is_never_reported_approved(
    till: Till, faces: kit.SyntheticFaces, proxy: RewritingProxy, sandbox: kit.Sandbox
) -> None:
    person, claim = enroll(till, faces, 61)
    first = basket(432)
    assert till.pay(first, faces.camera("p1", kit.same_face(person, 1)), claim=claim).approved
    recorded = proxy.answers[-1]

    # The same price, another order (the next shopper's tea); then a bigger order. The
    # backend charges each; the till is handed the first order's recorded approval.
    for sale in (basket(432), basket(99_999)):
        proxy.rewrite = answer_with(recorded)
        with pytest.raises(PaymentUnansweredError) as err:
            till.pay(sale, faces.camera(sale.reference, kit.same_face(person, 2)), claim=claim)
        assert err.value.code == "answer_mismatch"
        assert booked(sandbox, sale.reference) == [("approved", sale.total_minor)]
        receipt = assert_pending_then_reconciled_once(till, sandbox, proxy, sale, err.value.pending)
        assert receipt.authorization_id != recorded["authorization_id"]
    assert booked(sandbox, first.reference) == [("approved", 432)]


def test_an_answer_whose_amount_currency_or_fields_were_rewritten_is_not_this_payment(
    till: Till, faces: kit.SyntheticFaces, proxy: RewritingProxy, sandbox: kit.Sandbox
) -> None:
    person, claim = enroll(till, faces, 62)
    rewrites = {
        "one cent": changed(amount_minor=1),
        "negative": changed(amount_minor=-432),
        "another currency": changed(currency="USD"),
        "another order": changed(basket_reference="SALE-OTHER"),
        "approved without a receipt id": changed(receipt_id=None),
        "approved with a decline reason": changed(decline_reason="no_match"),
        "declined without a reason": changed(
            status="declined", receipt_id=None, masked_payment_method=None, privacy_code=None
        ),
        "a step-up of no kind": changed(
            status="step_up", receipt_id=None, masked_payment_method=None, privacy_code=None
        ),
    }
    for i, (name, rewrite) in enumerate(rewrites.items()):
        sale = basket(432 + i)
        proxy.rewrite = rewrite
        with pytest.raises(PaymentUnansweredError) as err:
            till.pay(sale, faces.camera(sale.reference, kit.same_face(person, i)), claim=claim)
        assert err.value.code == "answer_mismatch", name
        assert_pending_then_reconciled_once(till, sandbox, proxy, sale, err.value.pending)


def test_a_step_up_answer_for_another_authorization_is_not_this_payment(
    till: Till, faces: kit.SyntheticFaces, proxy: RewritingProxy, sandbox: kit.Sandbox
) -> None:
    person, claim = enroll(till, faces, 63, pin="4071")
    # A face in the grey zone (cosine 0.95): the backend asks for the PIN.
    unit = person / np.linalg.norm(person)
    other = np.random.default_rng(7).standard_normal(unit.shape[0])
    other -= (other @ unit) * unit
    near = (0.95 * unit + np.sqrt(1 - 0.95**2) * other / np.linalg.norm(other)).astype(np.float32)
    sale = basket(432)
    session = till.start_checkout(sale, claim=claim)
    asked = session.pay(faces.camera(sale.reference, near))
    assert asked.status is facepay.PaymentStatus.STEP_UP

    proxy.rewrite = changed(authorization_id="auth_" + "0" * 24)
    with pytest.raises(PaymentUnansweredError) as err:
        session.answer_step_up("4071")
    assert err.value.code == "answer_mismatch"
    assert session.receipt is None
    assert not session.holds_biometric_data
    assert till.unanswered == (err.value.pending,)
    proxy.rewrite = None
    paid = session.reconcile()
    assert paid.approved
    assert paid.authorization_id == asked.authorization_id
    assert till.unanswered == ()
    assert booked(sandbox, sale.reference) == [("approved", 432)]


def test_a_redirect_or_a_page_instead_of_the_answer_leaves_the_payment_pending(
    till: Till, faces: kit.SyntheticFaces, proxy: RewritingProxy, sandbox: kit.Sandbox
) -> None:
    """Before: a 3xx was read as a refusal (nothing charged) while the backend had charged:
    the POS would then offer the card and the shopper pay twice."""
    person, claim = enroll(till, faces, 64)

    def redirect(status: int) -> Rewrite:
        def rewrite(request: httpx.Request, real: dict[str, Any] | None) -> httpx.Response:
            return httpx.Response(
                status, headers={"Location": "http://portal.test/"}, request=request
            )

        return rewrite

    def portal(request: httpx.Request, real: dict[str, Any] | None) -> httpx.Response:
        return httpx.Response(200, text="<html>Welcome to store wifi</html>", request=request)

    for i, rewrite in enumerate((redirect(302), redirect(307), redirect(308), portal)):
        sale = basket(500 + i)
        proxy.rewrite = rewrite
        with pytest.raises(PaymentUnansweredError) as err:
            till.pay(sale, faces.camera(sale.reference, kit.same_face(person, i)), claim=claim)
        assert isinstance(err.value.__cause__, ServerError)
        assert booked(sandbox, sale.reference) == [("approved", sale.total_minor)]
        assert_pending_then_reconciled_once(till, sandbox, proxy, sale, err.value.pending)


class Flood(httpx.SyncByteStream):
    """A 64 MiB answer body (endless for the till's purposes, finite so that a till
    without a limit fails this test instead of running out of memory); counts what the
    till read of it."""

    def __init__(self) -> None:
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        chunk = b" " * 65_536
        yield b'{"status":"approved","pad":"'
        while self.sent < 64 * 1024 * 1024:
            self.sent += len(chunk)
            yield chunk
        yield b'"}'


def test_an_endless_answer_is_cut_off_and_leaves_the_payment_pending(
    till: Till, faces: kit.SyntheticFaces, proxy: RewritingProxy, sandbox: kit.Sandbox
) -> None:
    """Before: the client read a body of any size into memory (a rogue backend or proxy
    could take the till down with one answer)."""
    person, claim = enroll(till, faces, 65)
    flood = Flood()

    def endless(request: httpx.Request, real: dict[str, Any] | None) -> httpx.Response:
        return httpx.Response(200, stream=flood, request=request)

    sale = basket(777)
    proxy.rewrite = endless
    with pytest.raises(PaymentUnansweredError) as err:
        till.pay(sale, faces.camera(sale.reference, kit.same_face(person, 1)), claim=claim)
    assert err.value.code == "answer_too_large"
    assert flood.sent <= ClientConfig().max_answer_bytes + 65_536
    assert_pending_then_reconciled_once(till, sandbox, proxy, sale, err.value.pending)


def test_a_revoked_till_gets_a_typed_refusal_at_once_and_nothing_is_charged(
    till: Till, faces: kit.SyntheticFaces, proxy: RewritingProxy, sandbox: kit.Sandbox
) -> None:
    """A stolen till whose key the operator revoked, mid-checkout and on the next one."""
    person, claim = enroll(till, faces, 66)
    sale = basket(432)
    session = till.start_checkout(sale, claim=claim)
    session.begin()
    session.run(faces.camera(sale.reference, kit.same_face(person, 1)))
    assert session.state is facepay.CheckoutState.PROCESSING
    device_id = till.client.signer.device_id  # type: ignore[union-attr]
    revoked = httpx.post(
        f"{sandbox.base_url}/v1/devices/{device_id}/revoke",
        headers={"Authorization": f"Bearer {sandbox.admin_token}"},
    )
    assert revoked.status_code == 200, revoked.text

    with pytest.raises(AuthenticationError) as err:
        session.complete()
    assert (err.value.status, err.value.code) == (403, "device_revoked")
    assert session.state is facepay.CheckoutState.FAILED
    assert session.pending is None
    assert till.unanswered == ()
    with pytest.raises(AuthenticationError):
        till.pay(basket(433), faces.camera("again", kit.same_face(person, 2)), claim=claim)
    assert booked(sandbox, sale.reference) == []
    assert json.dumps(kit.rows(sandbox, "SELECT status FROM authorizations")) == "[]"


class AsyncFlood(httpx.AsyncByteStream):
    def __init__(self) -> None:
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunk = b" " * 65_536
        while self.sent < 64 * 1024 * 1024:
            self.sent += len(chunk)
            yield chunk


def test_the_async_client_cuts_off_an_endless_answer_and_reads_a_redirect_as_no_answer() -> None:
    """The same two rules in :class:`facepay.AsyncFacePayClient` (it shares the reading
    rules with the blocking client; only the I/O differs)."""
    flood = AsyncFlood()

    async def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/health":
            return httpx.Response(200, stream=flood, request=request)
        return httpx.Response(307, headers={"Location": "http://portal.test/"}, request=request)

    async def run() -> tuple[ServerError, ServerError]:
        async with AsyncFacePayClient(
            "http://backend.test",
            transport=httpx.MockTransport(answer),
            config=ClientConfig(max_attempts=1),
        ) as client:
            with pytest.raises(ServerError) as too_large:
                await client.health()
            with pytest.raises(ServerError) as redirected:
                await client.get_keys()
        return too_large.value, redirected.value

    too_large, redirected = asyncio.run(run())
    assert too_large.code == "answer_too_large"
    assert flood.sent <= ClientConfig().max_answer_bytes + 65_536
    assert redirected.status == 307


def test_a_copy_sent_first_and_its_nonce_reused_refusal_handed_back_leaves_the_payment_pending(
    till: Till, faces: kit.SyntheticFaces, proxy: RewritingProxy, sandbox: kit.Sandbox
) -> None:
    """The proxy forwards the payment (the backend charges it), sends the same bytes again
    and hands the till the genuine answer to that copy: ``401 nonce_reused``. Before: a
    refusal of a first sending meant "nothing charged", and the POS would take the card."""
    person, claim = enroll(till, faces, 67)
    inner = httpx.HTTPTransport()

    def send_twice(request: httpx.Request, real: dict[str, Any] | None) -> httpx.Response:
        copy = httpx.Request(
            request.method, request.url, headers=request.headers, content=request.content
        )
        second = inner.handle_request(copy)
        second.read()
        return httpx.Response(
            second.status_code, headers=second.headers, content=second.content, request=request
        )

    sale = basket(432)
    proxy.rewrite = send_twice
    try:
        with pytest.raises(PaymentUnansweredError) as err:
            till.pay(sale, faces.camera(sale.reference, kit.same_face(person, 1)), claim=claim)
    finally:
        inner.close()
    assert (err.value.status, err.value.code) == (401, "nonce_reused")
    assert booked(sandbox, sale.reference) == [("approved", 432)]
    assert_pending_then_reconciled_once(till, sandbox, proxy, sale, err.value.pending)

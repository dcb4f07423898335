"""Red team, signed answers: a proxy the till's TLS trusts forges the backend's answers.

Before signed answers (docs/security.md, "Attacks tried: the till's side", what it did
not stop), such a proxy (a ``ca_bundle`` holding its CA, or ``allow_insecure_transport``)
could hand the till a consistent approval for a payment the backend declined, a refusal
for one it charged (the POS then takes the card too), or its own key set. Now every answer
is signed by the backend's answer key, bound to the request (docs/protocol.md, "Signed
answers"), and the till believes only the key it was pinned to: a forged, re-signed or
stripped answer to a payment is ``answer_mismatch`` (pending: reconcile asks the backend
and finds the one charge), to ``GET /v1/keys`` a typed error before anything is sealed.

Real ``Till``, client and sandbox over HTTP (SQLite and PostgreSQL), synthetic faces; the
proxy is ``till_kit.RewritingProxy`` (it forwards to the backend and rewrites answers).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from answers_kit import proxy_signed, stripped
from till_kit import RewritingProxy, basket, booked, busy_sandbox, enroll

import facepay
import facepay.testing as kit
from facepay import wire
from facepay.checkout import PaymentUnansweredError, Till
from facepay.client import AsyncFacePayClient, Call, FacePayClient
from facepay.config import ClientConfig
from facepay.crypto import BackendKeyPair, ReceiptSigner, answer_key_pin, verify_answer
from facepay.errors import InvalidSignatureError, ServerError

KEYS = "/v1/keys"


@pytest.fixture
def sandbox(database_url: str, tmp_path: Path) -> Iterator[kit.Sandbox]:
    yield from busy_sandbox(database_url, tmp_path)


@pytest.fixture
def till(proxied_till: Till) -> Till:
    return proxied_till


ATTACKER = ReceiptSigner.generate()


def approval_of(real: dict[str, Any]) -> dict[str, Any]:
    """A decline turned into an approval that names the same order, amount and currency,
    with every field an approval needs: consistent, so only the signature can tell."""
    return {
        **real,
        "status": "approved",
        "decline_reason": None,
        "receipt_id": "rcpt_0123456789abcdef01234567",
        "masked_payment_method": "visa ****4242",
    }


def test_a_forged_consistent_approval_of_a_declined_payment_is_never_approved(
    till: Till, faces: kit.SyntheticFaces, proxy: RewritingProxy, sandbox: kit.Sandbox
) -> None:
    _, claim = enroll(till, faces, 201)
    stranger = kit.face(9201)
    ways = {
        "unsigned": lambda request, real: httpx.Response(
            200, json=approval_of(real), request=request
        ),
        "signed by the proxy's own key, bound to this request": lambda request, real: proxy_signed(
            request, 200, approval_of(real), ATTACKER
        ),
    }
    for i, (name, rewrite) in enumerate(ways.items()):
        sale = basket(432 + i)
        proxy.rewrite = rewrite
        with pytest.raises(PaymentUnansweredError) as err:
            till.pay(sale, faces.camera(sale.reference, stranger), claim=claim)
        assert err.value.code == "answer_mismatch", name
        assert booked(sandbox, sale.reference) == [("declined", sale.total_minor)], name
        # Pending, not approved: the order cannot be called paid; reconcile asks the backend.
        assert till.unanswered == (err.value.pending,), name
        proxy.rewrite = None
        receipt = till.reconcile(err.value.pending)
        assert not receipt.approved, name
        assert receipt.status is facepay.PaymentStatus.DECLINED, name
        assert till.unanswered == (), name


def test_a_forged_refusal_of_a_charged_payment_stays_pending_and_reconciles_to_one_charge(
    till: Till, faces: kit.SyntheticFaces, proxy: RewritingProxy, sandbox: kit.Sandbox
) -> None:
    person, claim = enroll(till, faces, 202)

    def declined(request: httpx.Request, real: dict[str, Any] | None) -> httpx.Response:
        assert real is not None
        body = {
            **real,
            "status": "declined",
            "decline_reason": "no_match",
            "receipt_id": None,
            "masked_payment_method": None,
            "privacy_code": None,
        }
        return httpx.Response(200, json=body, request=request)

    def error(status: int, code: str) -> Any:
        def rewrite(request: httpx.Request, real: dict[str, Any] | None) -> httpx.Response:
            body = {"error": {"code": code, "message": "refused", "request_id": "req_x"}}
            return httpx.Response(status, json=body, request=request)

        return rewrite

    refusals = {
        "a consistent decline": declined,
        # Before: a refusal of the request itself settled it as "not charged", and the POS
        # took the card as well.
        "410 session_used": error(410, "session_used"),
        "422 validation_failed": error(422, "validation_failed"),
        "a decline signed by the proxy": lambda request, real: proxy_signed(
            request, 410, {"error": {"code": "session_used", "message": "x"}}, ATTACKER
        ),
    }
    for i, (name, rewrite) in enumerate(refusals.items()):
        sale = basket(500 + i)
        proxy.rewrite = rewrite
        with pytest.raises(PaymentUnansweredError) as err:
            till.pay(sale, faces.camera(sale.reference, kit.same_face(person, i)), claim=claim)
        assert err.value.code == "answer_mismatch", name
        pending = err.value.pending
        assert till.unanswered == (pending,), name
        with pytest.raises(facepay.CheckoutError, match="unanswered"):
            till.start_checkout(sale, claim=claim)
        proxy.rewrite = None
        receipt = till.reconcile(pending)
        assert receipt.approved, name
        assert booked(sandbox, sale.reference) == [("approved", sale.total_minor)], name


def test_a_genuine_answer_stripped_of_its_signature_or_with_another_key_is_not_believed(
    till: Till, faces: kit.SyntheticFaces, proxy: RewritingProxy, sandbox: kit.Sandbox
) -> None:
    person, claim = enroll(till, faces, 203)
    attacker_key = ATTACKER.public_key.to_base64()

    def without(request: httpx.Request, real: dict[str, Any] | None) -> httpx.Response:
        return stripped(proxy.recorded[-1], request)

    def other_key(request: httpx.Request, real: dict[str, Any] | None) -> httpx.Response:
        genuine = proxy.recorded[-1]
        headers = {**genuine.headers, wire.HEADER_ANSWER_KEY: attacker_key}
        return httpx.Response(200, headers=headers, content=genuine.content, request=request)

    for i, rewrite in enumerate((without, other_key)):
        sale = basket(600 + i)
        proxy.rewrite = rewrite
        with pytest.raises(PaymentUnansweredError) as err:
            till.pay(sale, faces.camera(sale.reference, kit.same_face(person, i)), claim=claim)
        assert err.value.code == "answer_mismatch"
        proxy.rewrite = None
        assert till.reconcile(err.value.pending).approved
        assert booked(sandbox, sale.reference) == [("approved", sale.total_minor)]


def forged_key_set(
    request: httpx.Request, sandbox: kit.Sandbox, sealing: BackendKeyPair
) -> httpx.Response:
    """The proxy's own key set: its sealing key as the current one and its own receipt
    key, signed with that key for this very request."""
    real = httpx.get(f"{sandbox.base_url}{KEYS}").json()
    body = {
        **real,
        "keys": [
            {**k, "public_key": wire.b64encode(sealing.public_key.raw)}
            if k["key_id"] == real["current_key_id"]
            else k
            for k in real["keys"]
        ],
        "receipt_public_key": wire.b64encode(ATTACKER.public_key.raw),
    }
    return proxy_signed(request, 200, body, ATTACKER)


def test_a_proxys_own_key_set_is_refused_and_nothing_is_sealed_to_it(
    till: Till, faces: kit.SyntheticFaces, proxy: RewritingProxy, sandbox: kit.Sandbox
) -> None:
    with kit.connect_till(sandbox, **faces.till_parts()) as honest:
        person, claim = enroll(honest, faces, 204)
    current = httpx.get(f"{sandbox.base_url}{KEYS}").json()["current_key_id"]
    sealing = BackendKeyPair.generate(key_id=current)

    def own_keys(request: httpx.Request, real: dict[str, Any] | None) -> httpx.Response:
        return forged_key_set(request, sandbox, sealing)

    proxy.paths, proxy.forward, proxy.rewrite = (KEYS,), False, own_keys
    sale = basket(432)
    with pytest.raises(ServerError) as err:
        till.pay(sale, faces.camera(sale.reference, kit.same_face(person, 1)), claim=claim)
    assert err.value.code == "answer_mismatch"
    assert (proxy.sent, till.unanswered) == ([], ())  # nothing sealed, sent or pending
    with pytest.raises(ServerError):
        till.client.get_keys()

    # The proxy gone, the same till pays: sealed to the backend's key.
    proxy.forward, proxy.rewrite = True, None
    assert till.pay(
        sale, faces.camera(sale.reference, kit.same_face(person, 2)), claim=claim
    ).approved
    assert booked(sandbox, sale.reference) == [("approved", 432)]


def test_a_till_without_a_pin_keeps_its_first_answers_key_and_catches_a_later_proxy(
    sandbox: kit.Sandbox, faces: kit.SyntheticFaces, proxy: RewritingProxy
) -> None:
    """No pin: allowed only for a backend on this machine (or a test's transport). The
    till keeps the key of its first signed answer; a proxy that arrives later is caught.
    The limit, stated in docs/security.md: a proxy there from the first answer on is
    the key the till keeps (then the backend's own answers are refused: it fails closed)."""
    device = sandbox.provision_device(tenant_id="demo-retailer", lane_id="lane-9")
    with Till.connect(
        sandbox.base_url,
        device_key=device.key,
        device_id=device.device_id,
        transport=proxy,
        client_config=ClientConfig(max_attempts=1),
        **faces.till_parts(),
    ) as till:
        assert till.client.answer_key_pin is None
        person, claim = enroll(till, faces, 205)
        assert till.client.answer_key_pin == sandbox.answer_key_pin
        proxy.rewrite = lambda request, real: proxy_signed(request, 200, real or {}, ATTACKER)
        sale = basket(432)
        with pytest.raises(PaymentUnansweredError) as err:
            till.pay(sale, faces.camera(sale.reference, kit.same_face(person, 1)), claim=claim)
        assert err.value.code == "answer_mismatch"
        proxy.rewrite = None
        assert till.reconcile(err.value.pending).approved

    # The limit: a proxy present from the first answer on.
    early = RewritingProxy()
    early.paths = (KEYS,)
    early.rewrite = lambda request, real: proxy_signed(request, 200, real or {}, ATTACKER)
    device = sandbox.provision_device(tenant_id="demo-retailer", lane_id="lane-10")
    with Till.connect(
        sandbox.base_url,
        device_key=device.key,
        device_id=device.device_id,
        transport=early,
        client_config=ClientConfig(max_attempts=1),
        **faces.till_parts(),
    ) as late:
        with pytest.raises(ServerError):
            late.client.get_keys()  # its receipt key is not the key that signed it
        assert late.client.answer_key_pin == answer_key_pin(ATTACKER.public_key.raw)
        early.rewrite = None
        with pytest.raises(ServerError) as refused:
            late.client.get_keys()  # the backend's own answer: not believed (fails closed)
        assert refused.value.code == "answer_mismatch"


def test_the_sync_and_async_clients_believe_only_the_pinned_key(sandbox: kit.Sandbox) -> None:
    right = ClientConfig(answer_key_pin=sandbox.answer_key_pin, max_attempts=1)
    wrong = ClientConfig(answer_key_pin=answer_key_pin(ATTACKER.public_key.raw), max_attempts=1)
    with FacePayClient(sandbox.base_url, config=right) as client:
        assert client.get_keys().receipt_public_key
        assert client.health().status
    with FacePayClient(sandbox.base_url, config=wrong) as client:
        with pytest.raises(ServerError) as err:
            client.get_keys()
        assert (err.value.code, err.value.status) == ("answer_mismatch", 200)
        with pytest.raises(ServerError) as missing:
            client.send(Call(method="GET", path="/v1/nowhere", parse=lambda p: p, signed=False))
        assert (missing.value.code, missing.value.status) == ("answer_mismatch", 404)

    class Stripping(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self._inner = httpx.AsyncHTTPTransport()

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await self._inner.handle_async_request(request)
            await response.aread()
            return stripped(response, request)

    async def run() -> tuple[str, str, str]:
        async with AsyncFacePayClient(sandbox.base_url, config=right) as good:
            keys = await good.get_keys()
        async with AsyncFacePayClient(sandbox.base_url, config=wrong) as pinned_elsewhere:
            with pytest.raises(ServerError) as elsewhere:
                await pinned_elsewhere.get_keys()
        async with AsyncFacePayClient(
            sandbox.base_url, config=right, transport=Stripping()
        ) as behind_proxy:
            with pytest.raises(ServerError) as unsigned:
                await behind_proxy.health()
        return keys.current_key_id, str(elsewhere.value.code), str(unsigned.value.code)

    current, elsewhere, unsigned = asyncio.run(run())
    assert current
    assert (elsewhere, unsigned) == ("answer_mismatch", "answer_mismatch")


def test_every_answer_is_signed_for_its_request_errors_included(sandbox: kit.Sandbox) -> None:
    """Each status the backend gives, from FastAPI or refused in the middleware before
    it, to signed and unsigned routes: signed by the pinned key, bound to the nonce sent."""
    nonce = "AAECAwQFBgcICQoLDA0ODw"
    big = b"{" + b" " * (wire.MAX_BODY_BYTES + 1) + b"}"
    asks: list[tuple[str, str, dict[str, str], bytes, int]] = [
        ("GET", "/v1/health", {}, b"", 200),
        ("GET", "/v1/keys?x=1", {}, b"", 200),
        ("GET", "/v1/nowhere", {}, b"", 404),
        ("POST", "/v1/sessions", {}, b"{}", 401),  # a signed route without a signature
        ("POST", "/v1/shoppers/delete", {"Content-Type": "application/json"}, b"{", 400),
        ("POST", "/v1/shoppers/export", {"Content-Type": "application/json"}, big, 413),
        ("GET", "/privacy", {}, b"", 200),  # the shopper's HTML page
    ]
    with httpx.Client(base_url=sandbox.base_url) as http:
        for method, target, headers, body, status in asks:
            response = http.request(
                method,
                target,
                headers={**headers, wire.HEADER_ANSWER_NONCE: nonce},
                content=body,
            )
            assert response.status_code == status, target
            key = verify_answer(
                response.headers,
                method=method,
                target=target,
                nonce=nonce,
                status=status,
                body=response.content,
            )
            assert answer_key_pin(key) == sandbox.answer_key_pin, target
            # Bound to the nonce sent: for another it does not verify.
            with pytest.raises(InvalidSignatureError):
                verify_answer(
                    response.headers,
                    method=method,
                    target=target,
                    nonce="B" * 22,
                    status=status,
                    body=response.content,
                )

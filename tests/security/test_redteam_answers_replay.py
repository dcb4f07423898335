"""Red team, signed answers: genuine answers of the backend, handed back where they do not
belong.

Every answer is signed for one request: its method, its target and its nonce
(docs/protocol.md, "Signed answers"). These attacks hand the till a real, correctly
signed answer of the backend to something else: an old answer to the same order, another
tenant's answer to an order of the same reference and amount, the answer the till's own
request got on another route, an old deletion answer (receipt included), a key set signed
by a key the backend rotated out. Before signed answers, each that named the same order,
amount and currency was believed. Now each is ``answer_mismatch``: a payment stays
pending and reconciles to the backend's own answer, one charge; a deletion is not
confirmed; a key set is not used.

Real ``Till``, client and sandbox over HTTP (SQLite and PostgreSQL where the backend's
state decides), synthetic faces; the proxy is ``till_kit.RewritingProxy``, which keeps the
backend's real answers (``recorded``) with their headers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from answers_kit import handed_back, proxy_signed
from till_kit import RewritingProxy, basket, booked, busy_sandbox, enroll

import facepay
import facepay.testing as kit
from facepay.checkout import PaymentUnansweredError, Till
from facepay.client import FacePayClient
from facepay.config import ClientConfig
from facepay.crypto import ReceiptSigner, answer_key_pin
from facepay.errors import ServerError

KEYS = "/v1/keys"
DELETE = "/v1/shoppers/delete"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sandbox(database_url: str, tmp_path: Path) -> Iterator[kit.Sandbox]:
    yield from busy_sandbox(database_url, tmp_path)


@pytest.fixture
def till(proxied_till: Till) -> Till:
    return proxied_till


def test_an_old_genuine_decline_handed_back_for_a_new_attempt_at_the_order_is_not_believed(
    till: Till, faces: kit.SyntheticFaces, proxy: RewritingProxy, sandbox: kit.Sandbox
) -> None:
    """The order is declined once (a stranger's face), then paid by its shopper; the proxy
    hands back the first, genuine decline. Before: believed (same order, amount and
    currency), so the POS took the card while the backend had charged the face."""
    person, claim = enroll(till, faces, 301)
    sale = basket(432)
    assert not till.pay(sale, faces.camera("stranger", kit.face(9301)), claim=claim).approved
    decline = proxy.recorded[-1]
    assert json.loads(decline.content)["status"] == "declined"

    proxy.rewrite = lambda request, real: handed_back(decline, request)
    with pytest.raises(PaymentUnansweredError) as err:
        till.pay(sale, faces.camera(sale.reference, kit.same_face(person, 1)), claim=claim)
    assert err.value.code == "answer_mismatch"
    assert till.unanswered == (err.value.pending,)
    proxy.rewrite = None
    assert till.reconcile(err.value.pending).approved
    assert booked(sandbox, sale.reference) == [
        ("declined", sale.total_minor),
        ("approved", sale.total_minor),
    ]


def test_another_tenants_genuine_answer_for_the_same_order_reference_is_not_this_tills(
    till: Till, faces: kit.SyntheticFaces, proxy: RewritingProxy, sandbox: kit.Sandbox
) -> None:
    """Another retailer's till pays an order of the same reference and amount (approved,
    genuinely signed); this till's payment is declined and handed that approval."""
    sale = basket(432)
    other_proxy = RewritingProxy()
    with kit.connect_till(
        sandbox, tenant_id="other-retailer", **faces.till_parts(), transport=other_proxy
    ) as other:
        person, claim = enroll(other, faces, 302)
        paid = other.pay(sale, faces.camera("other", kit.same_face(person, 1)), claim=claim)
        assert paid.approved
    approval = other_proxy.recorded[-1]

    _, mine = enroll(till, faces, 303)
    proxy.rewrite = lambda request, real: handed_back(approval, request)
    with pytest.raises(PaymentUnansweredError) as err:
        till.pay(sale, faces.camera("stranger", kit.face(9302)), claim=mine)
    assert err.value.code == "answer_mismatch"
    proxy.rewrite = None
    assert not till.reconcile(err.value.pending).approved
    assert booked(sandbox, sale.reference) == [
        ("approved", sale.total_minor),
        ("declined", sale.total_minor),
    ]


def test_the_tills_own_request_sent_to_another_route_and_that_answer_handed_back(
    till: Till, faces: kit.SyntheticFaces, proxy: RewritingProxy, sandbox: kit.Sandbox
) -> None:
    """The proxy sends the till's signed authorization (its headers, nonce and body) to
    ``POST /v1/sessions`` instead and hands back the backend's genuine, signed answer
    to that: bound to the till's nonce, but to another target."""
    person, claim = enroll(till, faces, 304)
    elsewhere = httpx.HTTPTransport()

    def other_route(request: httpx.Request, real: dict[str, Any] | None) -> httpx.Response:
        moved = httpx.Request(
            request.method,
            request.url.copy_with(path="/v1/sessions"),
            headers=request.headers,
            content=request.content,
        )
        answer = elsewhere.handle_request(moved)
        answer.read()
        return httpx.Response(
            answer.status_code,
            headers=answer.headers.multi_items(),
            content=answer.content,
            request=request,
        )

    proxy.forward, proxy.rewrite = False, other_route
    sale = basket(432)
    with pytest.raises(PaymentUnansweredError) as err:
        till.pay(sale, faces.camera(sale.reference, kit.same_face(person, 1)), claim=claim)
    assert err.value.code == "answer_mismatch"
    assert booked(sandbox, sale.reference) == []  # never reached the authorization route
    proxy.forward, proxy.rewrite = True, None
    assert till.reconcile(err.value.pending).approved
    assert booked(sandbox, sale.reference) == [("approved", 432)]
    elsewhere.close()


def enroll_with_code(till: Till, faces: kit.SyntheticFaces, seed: int) -> tuple[Any, Any, str]:
    person = kit.face(seed)
    claim = facepay.Claim(kind=facepay.ClaimKind.PHONE, value=f"+4915177{seed:06d}")
    result = till.enroll(
        faces.camera(f"enroll-{seed}", person),
        consent=facepay.consent_now("2026-01-en"),
        claim=claim,
        payment_method_token="tok_visa_4242",
    )
    return person, claim, result.privacy_code


def test_an_old_genuine_deletion_answer_handed_back_is_not_believed(
    till: Till, faces: kit.SyntheticFaces, proxy: RewritingProxy
) -> None:
    """A genuine deletion answer recorded minutes ago (another shopper's: its receipt is
    fresh and verifies) handed back for this shopper's deletion. Before: the shopper was
    told their data was gone (docs/security.md said so)."""
    proxy.paths = (DELETE,)
    _, first_claim, first_code = enroll_with_code(till, faces, 305)
    till.delete_shopper(first_code, first_claim)
    recorded = proxy.recorded[-1]
    assert recorded.status_code == 200

    person, claim, code = enroll_with_code(till, faces, 306)
    proxy.forward, proxy.rewrite = False, lambda request, real: handed_back(recorded, request)
    with pytest.raises(ServerError) as err:
        till.delete_shopper(code, claim)
    assert err.value.code == "answer_mismatch"

    # Nothing was deleted and the till did not say it was: the shopper still pays, then
    # deletes for real.
    proxy.forward, proxy.rewrite = True, None
    sale = basket(432)
    assert till.pay(
        sale, faces.camera(sale.reference, kit.same_face(person, 1)), claim=claim
    ).approved
    receipt = till.delete_shopper(code, claim)
    assert receipt.receipt_id != json.loads(recorded.content)["receipt_id"]


def test_a_key_set_signed_by_a_rotated_out_answer_key_is_not_believed(
    tmp_path: Path, faces: kit.SyntheticFaces
) -> None:
    """The backend's answer (receipt) key is rotated; the old private key is later in the
    attacker's hands. A till given the new pin believes no key set the old key signed,
    even bound to its own request; a till still pinned to the old key believes nothing
    the backend says now (it fails closed) until it is given the new pin."""
    db, keys = tmp_path / "backend.db", tmp_path / "keys"
    with kit.Sandbox(db, key_dir=keys) as before:
        old_pin = before.answer_key_pin
    old = ReceiptSigner.load(keys / "receipt-key.json")
    ReceiptSigner.generate(key_id="rcpt-next").save(keys / "receipt-key.json")

    with kit.Sandbox(db, key_dir=keys) as sandbox:
        assert sandbox.answer_key_pin != old_pin
        real = httpx.get(f"{sandbox.base_url}{KEYS}").json()
        forged = {**real, "receipt_public_key": old.public_key.to_base64()}
        proxy = RewritingProxy()
        proxy.paths, proxy.forward = (KEYS,), False
        proxy.rewrite = lambda request, _: proxy_signed(request, 200, forged, old)
        with kit.connect_till(
            sandbox,
            **faces.till_parts(),
            transport=proxy,
            client_config=ClientConfig(max_attempts=1),
        ) as till:
            with pytest.raises(ServerError) as err:
                till.client.get_keys()
            assert err.value.code == "answer_mismatch"
            proxy.forward, proxy.rewrite = True, None
            assert till.client.get_keys().current_key_id == real["current_key_id"]

        stale = ClientConfig(answer_key_pin=old_pin, max_attempts=1)
        with FacePayClient(sandbox.base_url, config=stale) as client:
            with pytest.raises(ServerError) as refused:
                client.get_keys()
            assert refused.value.code == "answer_mismatch"


def test_the_operator_prints_the_pin_a_till_is_given(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    with kit.Sandbox(tmp_path / "backend.db", key_dir=keys) as sandbox:
        pin = sandbox.answer_key_pin
        with FacePayClient(sandbox.base_url, config=ClientConfig(answer_key_pin=pin)) as client:
            keyset = client.get_keys()
    printed = subprocess.run(
        [sys.executable, "-m", "facepay", "sandbox", "keys", "--keys", str(keys), "--json"],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(REPO), "PATH": ""},
    )
    assert json.loads(printed.stdout)["answer_key_pin"] == pin
    assert answer_key_pin(facepay.wire.b64decode(keyset.receipt_public_key)) == pin

"""Red team, the till's side: the POS code a retailer copies (``pay_by_face`` in
examples/pos_integration.py, the shape docs/integration.md tells a POS to write), under a
network that loses or rewrites answers and against a till whose key was revoked.

The defended outcome is the POS's record: ``paid`` True only on an approval of this order;
``fallback: "card"`` only when nothing can have been charged; and when the answer is
still unknown after one reconcile, neither: ``paid`` None, no card, the payment left in
``till.unanswered`` to reconcile later. Before: a second lost answer, or any refusal that
is not a ``CheckoutFailedError`` (a lockout, a revoked till), escaped ``pay_by_face`` as an
exception, which a POS's generic error path answers with "use the card" whether or not
the shopper was charged.

The example's own function with a real ``Till``, client and sandbox over HTTP (SQLite and
PostgreSQL); synthetic faces; the proxy is ``till_kit.RewritingProxy``.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from till_kit import RewritingProxy, signed_by_backend

import facepay
import facepay.testing as kit
from facepay.checkout import Till
from facepay.config import ClientConfig

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pos_integration.py"
PHONE = "+4930123450000"


@pytest.fixture(scope="module")
def pos() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pos_integration_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def till(sandbox: kit.Sandbox, faces: kit.SyntheticFaces, proxy: RewritingProxy) -> Iterator[Till]:
    with kit.connect_till(
        sandbox, **faces.till_parts(), transport=proxy, client_config=ClientConfig(max_attempts=1)
    ) as t:
        t.enroll(
            faces.camera("enroll", kit.face(111)),
            consent=facepay.consent_now("2026-01-en"),
            claim=facepay.Claim(kind=facepay.ClaimKind.PHONE, value=PHONE),
            payment_method_token="tok_visa_4242",
        )
        yield t


def order(pos: ModuleType, order_id: str) -> Any:
    return pos.PosOrder(
        order_id=order_id,
        currency="EUR",
        items=[pos.PosItem(ean="4006381333931", name="Coffee", qty=1, price_cents=899)],
    )


def charged(sandbox: kit.Sandbox, reference: str) -> list[str]:
    rows = kit.rows(sandbox, "SELECT basket_reference, status FROM authorizations")
    return [str(r[1]) for r in rows if r[0] == reference]


def lose_every_answer(request: httpx.Request, real: dict[str, Any] | None) -> httpx.Response:
    raise httpx.ReadTimeout("answer lost", request=request)


def test_an_answer_lost_twice_leaves_the_order_unpaid_and_unknown_never_sent_to_the_card(
    pos: ModuleType,
    till: Till,
    faces: kit.SyntheticFaces,
    proxy: RewritingProxy,
    sandbox: kit.Sandbox,
) -> None:
    sale = order(pos, "store-7/lane-2/000201")
    proxy.rewrite = lose_every_answer
    record = pos.pay_by_face(till, sale, faces.camera("p1", kit.same_face(kit.face(111), 1)), PHONE)
    assert record["paid"] is None
    assert record["fallback"] is None
    assert charged(sandbox, sale.order_id) == ["approved"]  # the shopper was charged
    (pending,) = till.unanswered
    proxy.rewrite = None
    assert till.reconcile(pending).approved
    assert charged(sandbox, sale.order_id) == ["approved"]


def test_an_answer_that_is_not_this_orders_twice_is_unknown_too(
    pos: ModuleType,
    till: Till,
    faces: kit.SyntheticFaces,
    proxy: RewritingProxy,
    sandbox: kit.Sandbox,
) -> None:
    sale = order(pos, "store-7/lane-2/000202")

    def another_order(request: httpx.Request, real: dict[str, Any] | None) -> httpx.Response:
        assert real is not None
        return httpx.Response(200, json={**real, "basket_reference": "OTHER"}, request=request)

    proxy.rewrite = another_order
    record = pos.pay_by_face(till, sale, faces.camera("p2", kit.same_face(kit.face(111), 2)), PHONE)
    assert (record["paid"], record["fallback"]) == (None, None)
    assert charged(sandbox, sale.order_id) == ["approved"]
    assert len(till.unanswered) == 1


def test_a_refusal_before_any_charge_offers_the_card_instead_of_raising(
    pos: ModuleType,
    till: Till,
    faces: kit.SyntheticFaces,
    proxy: RewritingProxy,
    sandbox: kit.Sandbox,
) -> None:
    # A lockout the backend answered before anything was charged (signed with its own
    # answer key: a proxy's unsigned one is no answer at all, test_redteam_answers_*) ...
    def locked(request: httpx.Request, real: dict[str, Any] | None) -> httpx.Response:
        body = {"error": {"code": "locked_out", "message": "wait", "request_id": "r-1"}}
        answer = httpx.Response(429, json=body, headers={"Retry-After": "300"}, request=request)
        return signed_by_backend(sandbox, answer)

    sale = order(pos, "store-7/lane-2/000203")
    proxy.forward, proxy.rewrite = False, locked
    record = pos.pay_by_face(till, sale, faces.camera("p3", kit.same_face(kit.face(111), 3)), PHONE)
    assert (record["paid"], record["fallback"], record["why"]) == (False, "card", "locked_out")
    assert charged(sandbox, sale.order_id) == []
    assert till.unanswered == ()

    # ... and a till whose key the operator revoked.
    proxy.forward, proxy.rewrite = True, None
    device_id = till.client.signer.device_id  # type: ignore[union-attr]
    revoked = httpx.post(
        f"{sandbox.base_url}/v1/devices/{device_id}/revoke",
        headers={"Authorization": f"Bearer {sandbox.admin_token}"},
    )
    assert revoked.status_code == 200
    sale = order(pos, "store-7/lane-2/000204")
    record = pos.pay_by_face(till, sale, faces.camera("p4", kit.same_face(kit.face(111), 4)), PHONE)
    assert (record["paid"], record["fallback"], record["why"]) == (False, "card", "device_revoked")
    assert charged(sandbox, sale.order_id) == []

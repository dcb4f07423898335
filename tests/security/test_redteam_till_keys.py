"""Red team, the till's side: key discovery. The till seals every face to the key that
``GET /v1/keys`` publishes under the id the backend session names, and keeps the key set.

The attack: one forged answer to ``GET /v1/keys`` (a proxy the till's TLS trusts, a
moment of a rogue backend), with the attacker's own public key under the backend's
current key id. Before signed answers, that template was the attacker's, one payment
per forged key set. Now every answer is signed by the backend's answer key, bound to the
request's nonce (docs/protocol.md, "Signed answers"): the forged key set is a
``ServerError`` ``answer_mismatch`` before anything is sealed or sent, and the next
payment fetches the key set again and pays. A malformed key set (no key for the
session, a short key, an unknown suite, a suite that does not fit the bytes, a page that
is not JSON) is a typed error before anything is sealed or sent.

Real ``Till``, client and sandbox over HTTP (SQLite and PostgreSQL), synthetic faces;
the proxy is ``till_kit.RewritingProxy``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from till_kit import RewritingProxy, basket, booked, enroll

import facepay.testing as kit
from facepay import wire
from facepay.checkout import Till
from facepay.config import ClientConfig
from facepay.crypto import BackendKeyPair, open_template
from facepay.errors import FacePayError, SealedDataError, ServerError

KEYS = "/v1/keys"


@pytest.fixture
def till(proxied_till: Till) -> Till:
    return proxied_till


@pytest.fixture
def honest(sandbox: kit.Sandbox, faces: kit.SyntheticFaces) -> Iterator[Till]:
    """Another till of the store, on an honest network: it enrolls the shoppers."""
    with kit.connect_till(sandbox, **faces.till_parts()) as t:
        yield t


def current_key_forged(sandbox: kit.Sandbox) -> tuple[dict[str, Any], BackendKeyPair]:
    """The backend's key set with the attacker's public key under the current key id."""
    real = httpx.get(f"{sandbox.base_url}{KEYS}").json()
    attacker = BackendKeyPair.generate(key_id=real["current_key_id"])
    forged = {
        **real,
        "keys": [
            {**k, "public_key": wire.b64encode(attacker.public_key.raw)}
            if k["key_id"] == real["current_key_id"]
            else k
            for k in real["keys"]
        ],
    }
    return forged, attacker


def key_set_once(proxy: RewritingProxy, body: dict[str, Any] | None) -> None:
    """The next ``GET /v1/keys`` (only that one) is answered with ``body`` (None: a page
    that is not JSON)."""

    def rewrite(request: httpx.Request, real: dict[str, Any] | None) -> httpx.Response:
        proxy.rewrite = None
        if body is None:
            return httpx.Response(200, text="<html>store wifi</html>", request=request)
        return httpx.Response(200, json=body, request=request)

    proxy.paths = (KEYS,)
    proxy.rewrite = rewrite


def sealed_in(body: bytes) -> tuple[wire.SealedTemplateWire, str]:
    request = json.loads(body)
    return wire.SealedTemplateWire.model_validate(request["sealed_template"]), request["session_id"]


def test_a_forged_key_set_is_not_believed_and_no_face_is_sealed_to_it(
    till: Till,
    honest: Till,
    faces: kit.SyntheticFaces,
    proxy: RewritingProxy,
    sandbox: kit.Sandbox,
) -> None:
    person, claim = enroll(honest, faces, 91)
    forged, attacker = current_key_forged(sandbox)
    key_set_once(proxy, forged)

    first = basket(432)
    with pytest.raises(ServerError) as err:
        till.pay(first, faces.camera(first.reference, kit.same_face(person, 1)), claim=claim)
    assert err.value.code == "answer_mismatch"
    # Nothing was sealed to the attacker's key, nothing sent, nothing pending or charged.
    assert (proxy.sent, till.unanswered) == ([], ())
    assert booked(sandbox, first.reference) == []

    # The next payments (the network is honest again) are sealed to the backend's key.
    for i in range(2):
        sale = basket(500 + i)
        paid = till.pay(
            sale, faces.camera(sale.reference, kit.same_face(person, 2 + i)), claim=claim
        )
        assert paid.approved
        sealed, session_id = sealed_in(proxy.sent[-1])
        with pytest.raises(SealedDataError):
            open_template(sealed.to_sealed(), attacker, session_id=session_id)
        assert booked(sandbox, sale.reference) == [("approved", sale.total_minor)]


def test_a_forged_key_set_costs_no_enrollment_either(
    till: Till, faces: kit.SyntheticFaces, proxy: RewritingProxy, sandbox: kit.Sandbox
) -> None:
    forged, _ = current_key_forged(sandbox)
    key_set_once(proxy, forged)
    with pytest.raises(ServerError) as err:
        enroll(till, faces, 92)
    assert err.value.code == "answer_mismatch"
    person, claim = enroll(till, faces, 92)
    sale = basket(432)
    assert till.pay(
        sale, faces.camera(sale.reference, kit.same_face(person, 1)), claim=claim
    ).approved


def test_a_malformed_key_set_is_a_typed_error_before_anything_is_sealed_or_sent(
    honest: Till, faces: kit.SyntheticFaces, sandbox: kit.Sandbox
) -> None:
    person, claim = enroll(honest, faces, 93)
    real = httpx.get(f"{sandbox.base_url}{KEYS}").json()
    key = next(k for k in real["keys"] if k["key_id"] == real["current_key_id"])
    hybrid = "mlkem768x25519-hkdf-sha256-chacha20poly1305"
    variants: dict[str, dict[str, Any] | None] = {
        "no key for the session": {**real, "keys": []},
        "a short key": {**real, "keys": [{**key, "public_key": "AAAA"}]},
        "an unknown suite": {**real, "keys": [{**key, "suite": "rot13"}]},
        "a suite the bytes do not fit": {**real, "keys": [{**key, "suite": hybrid}]},
        "a page": None,
    }
    for i, (name, body) in enumerate(variants.items()):
        proxy = RewritingProxy()
        # A till that starts behind a proxy answering its first key fetch with ``body``.
        with kit.connect_till(
            sandbox,
            **faces.till_parts(),
            transport=proxy,
            client_config=ClientConfig(max_attempts=1),
        ) as till:
            key_set_once(proxy, body)
            sale = basket(600 + i)
            with pytest.raises(FacePayError):
                till.pay(sale, faces.camera(sale.reference, kit.same_face(person, i)), claim=claim)
            assert proxy.delivered == 0, name  # no authorization sent
            assert till.unanswered == (), name
            assert booked(sandbox, sale.reference) == [], name
            # The till is not stuck: the honest key set, then a payment.
            paid = till.pay(
                sale, faces.camera(sale.reference, kit.same_face(person, 10 + i)), claim=claim
            )
            assert paid.approved, name

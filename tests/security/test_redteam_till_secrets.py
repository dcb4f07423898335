"""Red team, the till's side: what a stolen till's logs keep. A POS logs what facepay
raises (``logger.exception``: the message and every chained cause) and runs its own
loggers at DEBUG when something goes wrong; a thief with the disk reads those logs.

The attack: a malformed answer to a payment (a field missing, as from a proxy, a rogue
backend or a buggy one) that still carries the shopper's privacy code, the credential
that, with their phone number, exports or deletes their data. The till (real ``Till``,
real client, real sandbox over HTTP on SQLite and PostgreSQL; the face stage synthetic)
must raise a typed error that leaves the payment pending, and nothing it raises or logs
may hold the privacy code, the sealed template or the PIN it sealed.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

import httpx
import numpy as np
import pytest
from till_kit import RewritingProxy, basket, booked, enroll, signed_by_backend

import facepay
import facepay.testing as kit
from facepay.checkout import PaymentUnansweredError, Till
from facepay.errors import ServerError


@pytest.fixture
def till(proxied_till: Till) -> Till:
    return proxied_till


def logged(error: BaseException) -> str:
    """What ``logger.exception`` writes for ``error``: its traceback with every cause."""
    return "".join(traceback.format_exception(error))


def test_a_malformed_answer_leaves_no_privacy_code_or_sealed_bytes_in_what_the_pos_logs(
    till: Till,
    faces: kit.SyntheticFaces,
    proxy: RewritingProxy,
    sandbox: kit.Sandbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Before: the error's cause was pydantic's, which quotes the whole answer, privacy
    code included."""
    person, claim = enroll(till, faces, 71)
    sale = basket(432)
    seen: dict[str, Any] = {}

    def malformed(request: httpx.Request, real: dict[str, Any] | None) -> httpx.Response:
        assert real is not None
        seen.update(real)
        body = {k: v for k, v in real.items() if k not in ("created_at", "privacy_code")}
        body["privacy_code"] = real["privacy_code"]  # last, where a quoted dict ends
        # Signed as the backend's own (a backend bug): a proxy's is not even read.
        return signed_by_backend(sandbox, httpx.Response(200, json=body, request=request))

    proxy.rewrite = malformed
    caplog.set_level(logging.DEBUG)
    with pytest.raises(PaymentUnansweredError) as err:
        till.pay(sale, faces.camera(sale.reference, kit.same_face(person, 1)), claim=claim)
    assert err.value.code == "bad_response"
    assert isinstance(err.value.__cause__, ServerError)
    assert "created_at: missing" in str(err.value.__cause__)
    code = seen["privacy_code"]
    pending = err.value.pending
    assert pending.request is not None
    sealed = pending.request.sealed_template
    written = logged(err.value) + repr(pending) + caplog.text
    for secret in (code, sealed.ciphertext, sealed.encapsulated_key):
        assert secret not in written

    # The payment was taken; it stays pending until the backend's own answer.
    assert booked(sandbox, sale.reference) == [("approved", 432)]
    assert till.unanswered == (pending,)
    proxy.rewrite = None
    receipt = till.reconcile(pending)
    assert receipt.approved
    assert receipt.privacy_code == code


def test_a_step_up_answer_lost_keeps_the_sealed_pin_out_of_its_error_and_the_logs(
    till: Till,
    faces: kit.SyntheticFaces,
    proxy: RewritingProxy,
    sandbox: kit.Sandbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The PIN a shopper typed is sealed at once; the pending answer a POS keeps and logs
    after a lost reply holds only that seal, and never prints it."""
    pin = "4071"
    person, claim = enroll(till, faces, 72, pin=pin)
    unit = person / np.linalg.norm(person)
    other = np.random.default_rng(8).standard_normal(unit.shape[0])
    other -= (other @ unit) * unit
    near = (0.95 * unit + np.sqrt(1 - 0.95**2) * other / np.linalg.norm(other)).astype(np.float32)
    sale = basket(432)
    session = till.start_checkout(sale, claim=claim)
    assert session.pay(faces.camera(sale.reference, near)).step_up == "pin"

    def lost(request: httpx.Request, real: dict[str, Any] | None) -> httpx.Response:
        raise httpx.ReadTimeout("answer lost", request=request)

    proxy.rewrite = lost
    caplog.set_level(logging.DEBUG)
    with pytest.raises(PaymentUnansweredError) as err:
        session.answer_step_up(pin)
    pending = err.value.pending
    assert pending.step_up_sealed_pin is not None
    written = logged(err.value) + repr(pending) + repr(session) + caplog.text
    assert pending.step_up_sealed_pin not in written
    assert pin not in written
    proxy.rewrite = None
    assert session.reconcile().approved
    assert booked(sandbox, sale.reference) == [("approved", 432)]


def test_the_privacy_code_is_printed_for_the_shopper_and_in_no_repr_a_pos_logs(
    till: Till, faces: kit.SyntheticFaces, caplog: pytest.LogCaptureFixture
) -> None:
    """A POS that logs what it got (``logger.info("%r", receipt)``, an event handler that
    logs every event) kept the shopper's privacy code, which with their phone number
    exports or deletes their data. Before: every ``Receipt``, ``EnrollmentResult`` and
    ``CheckoutFinished`` repr carried it."""
    events: list[facepay.CheckoutEvent] = []
    caplog.set_level(logging.DEBUG)
    person = kit.face(73)
    claim = facepay.Claim(kind=facepay.ClaimKind.PHONE, value="+4915166000073")
    enrolled = till.enroll(
        faces.camera("enroll-73", person),
        consent=facepay.consent_now("2026-01-en"),
        claim=claim,
        payment_method_token="tok_visa_4242",
        on_event=events.append,
    )
    sale = basket(432)
    receipt = till.pay(
        sale,
        faces.camera(sale.reference, kit.same_face(person, 1)),
        claim=claim,
        on_event=events.append,
    )
    assert receipt.approved
    code = enrolled.privacy_code
    assert receipt.privacy_code == code
    assert any(code in line for line in receipt.lines())  # the shopper's printout has it
    logged = repr(enrolled) + repr(receipt) + "".join(repr(e) for e in events) + caplog.text
    assert code not in logged

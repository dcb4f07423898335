"""The payment decision asks an acquirer whether the matched shopper's token is charged;
the sandbox's card rules (``tok_chargeDeclined``) live in ``SandboxAcquirer``, not in the
decision (issue 12, "while here")."""

from __future__ import annotations

import pytest
from server_helpers import Till, face, same_face

from facepay.server._sandbox import SandboxAcquirer


class _DeclinesEverything:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def authorize(
        self, payment_token: str, *, amount_minor: int, currency: str, reference: str
    ) -> str | None:
        self.asked.append(payment_token)
        return None

    def capture(self, hold_id: str) -> None:
        raise AssertionError("a declined payment has no hold to capture")

    def void(self, hold_id: str) -> None:
        raise AssertionError("a declined payment has no hold to void")


def test_the_sandbox_acquirer_declines_only_its_declining_token() -> None:
    acquirer = SandboxAcquirer()
    hold = acquirer.authorize("tok_visa_4242", amount_minor=5, currency="EUR", reference="O-1")
    assert hold is not None
    assert (
        acquirer.authorize("tok_chargeDeclined", amount_minor=5, currency="EUR", reference="O-1")
        is None
    )
    assert [(h.hold_id, h.state) for h in acquirer.holds("O-1")] == [(hold, "authorized")]


def test_a_sandbox_hold_is_captured_or_voided_once() -> None:
    acquirer = SandboxAcquirer(keep=1)
    kept = acquirer.authorize("tok_visa_4242", amount_minor=5, currency="EUR", reference="A")
    voided = acquirer.authorize("tok_visa_4242", amount_minor=7, currency="EUR", reference="B")
    assert kept is not None
    assert voided is not None
    acquirer.capture(kept)
    acquirer.void(voided)
    for settle in (acquirer.capture, acquirer.void):
        with pytest.raises(ValueError, match="not open"):
            settle(voided)
    with pytest.raises(ValueError, match="not open"):
        acquirer.void("hold_unknown")
    assert [(h.reference, h.amount_minor, h.state) for h in acquirer.holds()] == [
        ("A", 5, "captured"),
        ("B", 7, "voided"),
    ]
    # A new hold forgets the oldest settled one beyond `keep`; an open hold is never forgotten.
    opened = acquirer.authorize("tok_visa_4242", amount_minor=9, currency="EUR", reference="C")
    assert [h.reference for h in acquirer.holds()] == ["B", "C"]
    assert [h.state for h in acquirer.holds("C")] == ["authorized"]
    assert opened is not None


def test_an_approval_captures_its_hold_and_a_decline_holds_nothing(till: Till) -> None:
    assert till.sandbox.backend is not None
    network = SandboxAcquirer()
    till.sandbox.backend.acquirer = network
    assert till.enroll(face(2)).status_code == 201
    body = till.pay_body(same_face(face(2), 1), amount=1234)
    paid = till.authorize(body).json()
    assert paid["status"] == "approved"
    [hold] = network.holds(body["basket_reference"])
    assert (hold.amount_minor, hold.currency, hold.state) == (1234, paid["currency"], "captured")
    stranger = till.pay_body(face(902))
    assert till.authorize(stranger).json()["status"] == "declined"
    assert network.holds(stranger["basket_reference"]) == []


def test_the_backend_charges_through_its_acquirer(till: Till) -> None:
    assert till.enroll(face(1)).status_code == 201
    assert till.sandbox.backend is not None
    other = _DeclinesEverything()
    till.sandbox.backend.acquirer = other
    body = till.authorize(till.pay_body(same_face(face(1), 1))).json()
    assert (body["status"], body["decline_reason"]) == ("declined", "payment_method_declined")
    assert other.asked == ["tok_visa_4242"]

"""The payment decision asks an acquirer whether the matched shopper's token is charged;
the sandbox's card rules (``tok_chargeDeclined``) live in ``SandboxAcquirer``, not in the
decision (issue 12, "while here")."""

from __future__ import annotations

from server_helpers import Till, face, same_face

from facepay.server._sandbox import SandboxAcquirer


class _DeclinesEverything:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def approves(self, payment_token: str) -> bool:
        self.asked.append(payment_token)
        return False


def test_the_sandbox_acquirer_declines_only_its_declining_token() -> None:
    acquirer = SandboxAcquirer()
    assert acquirer.approves("tok_visa_4242")
    assert not acquirer.approves("tok_chargeDeclined")


def test_the_backend_charges_through_its_acquirer(till: Till) -> None:
    assert till.enroll(face(1)).status_code == 201
    assert till.sandbox.backend is not None
    other = _DeclinesEverything()
    till.sandbox.backend.acquirer = other
    body = till.authorize(till.pay_body(same_face(face(1), 1))).json()
    assert (body["status"], body["decline_reason"]) == ("declined", "payment_method_declined")
    assert other.asked == ["tok_visa_4242"]

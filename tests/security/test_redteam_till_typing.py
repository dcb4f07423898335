"""Red team, the till's side: what a shopper types at the till, and what a POS then logs.

``CheckoutSession.answer_step_up`` promises a :class:`WeakPinError` (nothing sent, still
``step_up``) for anything but 4 digits. Before: only a ``pin`` step-up was checked; a
``phone_last4`` one moved to ``processing`` first and then failed building the request
with pydantic's ``ValidationError`` (not a facepay error), leaving the checkout stuck with
nothing sent. And every protocol model's validation error quoted the value it refused: a
mistyped phone number, the last 4 digits, went into the POS's logs with the traceback.

Real ``Till`` and client, a real sandbox over HTTP (SQLite and PostgreSQL), synthetic faces;
the proxy (``till_kit.RewritingProxy``) only counts what reaches the backend.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from pathlib import Path

import pydantic
import pytest
from till_kit import RewritingProxy, basket, booked

import facepay
import facepay.testing as kit
from facepay import wire
from facepay.config import ClientConfig, ServerConfig
from facepay.errors import WeakPinError

S = facepay.CheckoutState


@pytest.fixture
def sandbox(database_url: str, tmp_path: Path) -> Iterator[kit.Sandbox]:
    # A generous risk budget lets claimless 1:N run, so two shoppers with one face get a
    # phone_last4 step-up.
    config = ServerConfig(risk_budget=1.0)
    with kit.Sandbox(database_url, key_dir=tmp_path / "keys", config=config) as sb:
        yield sb


def test_a_mistyped_last4_answer_is_a_weak_pin_error_and_sends_nothing(
    sandbox: kit.Sandbox, proxy: RewritingProxy
) -> None:
    faces = kit.SyntheticFaces()
    with kit.connect_till(
        sandbox,
        **faces.till_parts(),
        transport=proxy,
        claimless_allowed=True,
        client_config=ClientConfig(max_attempts=1),
    ) as till:
        twin = kit.face(81)
        for n, token in ((1, "tok_visa_4242"), (2, "tok_amex_0005")):
            till.enroll(
                faces.camera(f"enroll-{n}", kit.same_face(twin, n)),
                consent=facepay.consent_now("2026-01-en"),
                claim=facepay.Claim(kind=facepay.ClaimKind.PHONE, value=f"+49151770000{n:02d}"),
                payment_method_token=token,
            )
        sale = basket(990)
        session = till.start_checkout(sale)
        asked = session.pay(faces.camera(sale.reference, kit.same_face(twin, 3)))
        assert asked.step_up == "phone_last4"
        sent = proxy.delivered
        for typed in ("123", "12345", "12a4", "12 4", "\uff10\uff10\uff10\uff12", ""):
            with pytest.raises(WeakPinError):
                session.answer_step_up(typed)
            assert session.state is S.STEP_UP, typed
            assert session.pending is None
        assert proxy.delivered == sent  # nothing went to the backend
        assert till.unanswered == ()
        paid = session.answer_step_up("0002")
        assert paid.approved
        assert paid.masked_payment_method == "American Express •••• 0005"
        assert booked(sandbox, sale.reference) == [("approved", 990)]


def test_a_refused_phone_number_or_answer_is_not_quoted_in_the_error() -> None:
    """No sandbox needed: the error a POS logs when the SDK refuses what was typed."""
    for build, typed in (
        (lambda v: wire.Claim(kind=wire.ClaimKind.PHONE, value=v), "0151 7700 4242"),
        (lambda v: wire.Claim(kind=wire.ClaimKind.PHONE, value=v), "+491517700424242424242"),
        (lambda v: wire.StepUpRequest(phone_last4=v), "42a2"),
    ):
        with pytest.raises(pydantic.ValidationError) as err:
            build(typed)
        # The message and repr a log line holds (the traceback's source lines are the
        # POS's own code).
        written = "".join(traceback.format_exception_only(err.value)) + repr(err.value)
        assert typed not in written
        assert typed[-4:] not in written
        assert err.value.errors()[0]["loc"]  # the field is still named

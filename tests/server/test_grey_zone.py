"""The grey zone end to end through the SDK (issue 16): a real :class:`facepay.Till`
(synthetic faces at the camera seam) enrolls with a PIN, pays with a face just short of the
match, and answers the ``pin`` step-up with ``CheckoutSession.answer_step_up(digits)``,
against the real sandbox on SQLite and PostgreSQL. Plus the grey-zone rule on its own."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import facepay
from facepay import testing as kit
from facepay.checkout import CheckoutState, PaymentStatus, PaymentUnansweredError, Till
from facepay.config import ClientConfig, ServerConfig
from facepay.errors import ConfigurationError, WeakPinError
from facepay.server._decision import in_grey_zone
from facepay.types import PinRefusal

PIN = "4071"
S = CheckoutState


class Uplink(httpx.BaseTransport):
    """The real network, which loses the answer to the next step-up when told."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.lose_step_up = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        response.read()
        if self.lose_step_up and request.url.path.endswith("/step-up"):
            self.lose_step_up = False
            raise httpx.ReadTimeout("answer lost", request=request)
        return response

    def close(self) -> None:
        self._inner.close()


@pytest.fixture
def sandbox(database_url: str, tmp_path: Path) -> Iterator[kit.Sandbox]:
    with kit.Sandbox(database_url, key_dir=tmp_path / "keys") as sb:
        yield sb


@pytest.fixture
def faces() -> kit.SyntheticFaces:
    return kit.SyntheticFaces()


@pytest.fixture
def uplink() -> Uplink:
    return Uplink()


@pytest.fixture
def till(sandbox: kit.Sandbox, faces: kit.SyntheticFaces, uplink: Uplink) -> Iterator[Till]:
    with kit.connect_till(
        sandbox,
        **faces.till_parts(),
        transport=uplink,
        client_config=ClientConfig(max_attempts=1),
    ) as t:
        yield t


def near(base: Any, similarity: float) -> Any:
    """A capture of ``base``'s face at exactly ``similarity`` (cosine)."""
    unit = np.asarray(base, dtype=np.float64)
    unit /= np.linalg.norm(unit)
    other = np.random.default_rng(int(similarity * 1e6)).standard_normal(unit.shape[0])
    other -= (other @ unit) * unit
    other /= np.linalg.norm(other)
    return (similarity * unit + np.sqrt(1 - similarity**2) * other).astype(np.float32)


def enroll(till: Till, faces: kit.SyntheticFaces, seed: int, pin: str | None) -> tuple[Any, Any]:
    person = kit.face(seed)
    claim = facepay.Claim(kind=facepay.ClaimKind.PHONE, value=f"+4915188{seed:06d}")
    till.enroll(
        faces.camera(f"enroll-{seed}", person),
        consent=facepay.consent_now("2026-01-en"),
        claim=claim,
        payment_method_token="tok_visa_4242",
        pin=pin,
    )
    return person, claim


def basket() -> facepay.Basket:
    line = facepay.BasketLine(sku="1", description="Tea", quantity=1, unit_price_minor=432)
    return facepay.Basket(reference=f"SALE-{uuid.uuid4().hex[:8]}", currency="EUR", lines=(line,))


def grey_checkout(
    till: Till, faces: kit.SyntheticFaces, person: Any, claim: Any, similarity: float = 0.95
) -> tuple[facepay.CheckoutSession, facepay.Receipt]:
    session = till.start_checkout(basket(), claim=claim)
    receipt = session.pay(faces.camera(f"pay-{uuid.uuid4().hex}", near(person, similarity)))
    return session, receipt


def test_a_shopper_with_a_pin_pays_in_the_grey_zone_after_typing_it(
    till: Till, faces: kit.SyntheticFaces, sandbox: kit.Sandbox
) -> None:
    person, claim = enroll(till, faces, 11, PIN)
    session, asked = grey_checkout(till, faces, person, claim)
    assert asked.status is PaymentStatus.STEP_UP
    assert asked.step_up == "pin"
    assert session.state is S.STEP_UP
    paid = session.answer_step_up(PIN)
    assert paid.approved
    assert session.state is S.APPROVED
    assert paid.authorization_id == asked.authorization_id
    approved = kit.rows(sandbox, "SELECT status FROM authorizations WHERE status = 'approved'")
    assert len(approved) == 1


def test_a_wrong_pin_is_declined_and_a_malformed_one_is_not_sent(
    till: Till, faces: kit.SyntheticFaces, sandbox: kit.Sandbox
) -> None:
    person, claim = enroll(till, faces, 12, PIN)
    session, _ = grey_checkout(till, faces, person, claim)
    with pytest.raises(WeakPinError) as typed:
        session.answer_step_up("40a1")
    assert typed.value.reason is PinRefusal.NOT_FOUR_DIGITS
    assert session.state is S.STEP_UP  # nothing sent, nothing counted
    assert kit.rows(sandbox, "SELECT failures FROM shopper_pins") == [(0,)]
    declined = session.answer_step_up("9520")
    assert declined.status is PaymentStatus.DECLINED
    assert declined.decline_reason == "step_up_failed"
    assert session.state is S.DECLINED
    assert kit.rows(sandbox, "SELECT failures FROM shopper_pins") == [(1,)]


def test_without_a_pin_the_grey_zone_is_a_plain_decline_and_a_match_needs_none(
    till: Till, faces: kit.SyntheticFaces
) -> None:
    person, claim = enroll(till, faces, 13, None)
    _, receipt = grey_checkout(till, faces, person, claim)
    assert receipt.status is PaymentStatus.DECLINED
    assert receipt.decline_reason == "no_match"
    pinned, pinned_claim = enroll(till, faces, 14, PIN)
    _, receipt = grey_checkout(till, faces, pinned, pinned_claim, similarity=0.98)
    assert receipt.approved
    assert receipt.step_up is None


def test_a_refused_pin_stops_the_enrollment_before_anything_is_sent(
    till: Till, faces: kit.SyntheticFaces, sandbox: kit.Sandbox
) -> None:
    for pin, why in (("1234", PinRefusal.SEQUENCE), ("0000", PinRefusal.REPEATED_DIGIT)):
        with pytest.raises(WeakPinError) as refused:
            enroll(till, faces, 15, pin)
        assert refused.value.reason is why
        assert pin not in str(refused.value)
    with pytest.raises(WeakPinError):
        Till.check_pin("1212")
    Till.check_pin(PIN)
    assert kit.rows(sandbox, "SELECT count(*) FROM sessions") == [(0,)]
    assert kit.rows(sandbox, "SELECT count(*) FROM shoppers") == [(0,)]


def test_a_pin_answer_whose_reply_was_lost_reconciles_to_one_payment(
    till: Till, faces: kit.SyntheticFaces, uplink: Uplink, sandbox: kit.Sandbox
) -> None:
    person, claim = enroll(till, faces, 16, PIN)
    session, _ = grey_checkout(till, faces, person, claim)
    uplink.lose_step_up = True
    with pytest.raises(PaymentUnansweredError) as lost:
        session.answer_step_up(PIN)
    pending = lost.value.pending
    assert pending.step_up_sealed_pin is not None
    assert PIN not in repr(pending)
    receipt = till.reconcile(pending)
    assert receipt.approved
    assert session.reconcile().approved
    approved = kit.rows(sandbox, "SELECT status FROM authorizations WHERE status = 'approved'")
    assert len(approved) == 1
    assert kit.rows(sandbox, "SELECT failures FROM shopper_pins") == [(0,)]


def test_the_grey_zone_rule() -> None:
    rule = {"match_threshold": 0.96, "grey_threshold": 0.94, "margin": 0.03}
    assert in_grey_zone(best_score=0.94, second_score=None, **rule)
    assert in_grey_zone(best_score=0.9599, second_score=0.5, **rule)
    assert not in_grey_zone(best_score=0.96, second_score=None, **rule)  # a match
    assert not in_grey_zone(best_score=0.9399, second_score=None, **rule)  # too far
    assert not in_grey_zone(best_score=None, second_score=None, **rule)
    assert not in_grey_zone(best_score=0.95, second_score=0.93, **rule)  # no clear lead
    assert in_grey_zone(best_score=0.95, second_score=0.91, **rule)
    off = {**rule, "grey_threshold": 0.96}
    assert not in_grey_zone(best_score=0.95, second_score=None, **off)


def test_the_grey_threshold_must_sit_at_or_below_the_match_threshold() -> None:
    assert ServerConfig().grey_threshold == pytest.approx(0.945)
    assert 1 - ServerConfig().grey_threshold == pytest.approx(0.055)
    with pytest.raises(ConfigurationError):
        ServerConfig(grey_threshold=0.97)
    with pytest.raises(ConfigurationError):
        ServerConfig(pin_failures=0)
    assert ServerConfig(grey_threshold=0.96).grey_threshold == 0.96  # the zone turned off


def test_the_sdk_logs_no_pin_and_keeps_none_after_an_enrollment_ends(
    till: Till, faces: kit.SyntheticFaces, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    person, claim = enroll(till, faces, 17, PIN)
    session, _ = grey_checkout(till, faces, person, claim)
    assert session.answer_step_up(PIN).approved
    assert caplog.records
    # As a token of its own: a random id may hold the digits inside a longer run.
    alone = re.compile(rf"(?<![0-9A-Za-z]){PIN}(?![0-9A-Za-z])")
    assert not any(alone.search(record.getMessage()) for record in caplog.records)
    abandoned = till.start_enrollment(
        consent=facepay.consent_now("2026-01-en"),
        claim=facepay.Claim(kind=facepay.ClaimKind.PHONE, value="+4915188999999"),
        payment_method_token="tok_visa_4242",
        pin=PIN,
    )
    abandoned.cancel()
    assert abandoned._pin is None  # the clear PIN is dropped with the face

"""A payment whose answer was lost, settled by "Check again", through the product.

The kiosk's machine, its ``TillAdapter``, a real ``facepay.Till`` (its ledger and its one
reconcile policy) and the real sandbox over HTTP. The doubles sit at the camera (synthetic
faces, no face models), at the network (an httpx transport that loses the authorization)
and at the backend's clock (to end the checkout session without waiting).

When the backend refuses the re-sent request for good, nothing was charged: the shopper
reads "not charged, please pay another way" and may pay by card; anything less certain
keeps "Payment not confirmed yet" and no card.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TypeVar

import httpx
import numpy as np
import numpy.typing as npt
import pytest
from PyQt6.QtWidgets import QApplication

import facepay
import facepay.testing as kit
from facepay.config import ClientConfig, ServerConfig
from kiosk_app.adapter import TillAdapter
from kiosk_app.app import apply_theme
from kiosk_app.i18n import Language, Translator
from kiosk_app.model import (
    CheckoutPort,
    KioskMachine,
    Notice,
    Outcome,
    OutcomeKind,
    RequestKind,
    Sale,
    Screen,
    StaffDirectory,
    StaffLogin,
    StoreProfile,
    process_frame,
)
from kiosk_app.screens import ResultScreen

T = TypeVar("T")

SESSION_TTL_S = 60.0  # well inside the 300 s of clock skew a signed request may have
AUTHORIZE = "/v1/authorizations"
STAFF_PIN = "482913"
STORE = StoreProfile(store_name="test store", currency="EUR")
LINES = (
    facepay.BasketLine(sku="4011", description="Bananas 1 kg", quantity=2, unit_price_minor=119),
)


class Uplink(httpx.BaseTransport):
    """The till's network: ``drop`` loses authorizations on their way (the backend never
    sees them), ``down`` loses every request."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.drop = False
        self.down = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.down or (self.drop and request.url.path == AUTHORIZE):
            raise httpx.ReadTimeout("no answer", request=request)
        response = self._inner.handle_request(request)
        response.read()
        return response

    def close(self) -> None:
        self._inner.close()


class Effects:
    """The machine's effects, run at once on this thread; the camera is the synthetic one."""

    def __init__(self, port: CheckoutPort, faces: kit.SyntheticFaces) -> None:
        self.port = port
        self.faces = faces
        self.machine: KioskMachine | None = None
        self.camera: tuple[int, Sale | None] | None = None
        self.card_requests: list[str] = []
        self.completed: list[tuple[str, Outcome]] = []

    def run(self, job: Callable[[CheckoutPort], T], done: Callable[[T], None]) -> None:
        done(job(self.port))

    def start_camera(self, attempt: int, sale: Sale | None) -> None:
        self.camera = (attempt, sale)

    def stop_camera(self) -> None:
        self.camera = None

    def request_card_payment(self, sale: Sale) -> None:
        self.card_requests.append(sale.sale_id)

    def sale_completed(self, sale_id: str, outcome: Outcome) -> None:
        self.completed.append((sale_id, outcome))

    def void_line(self, sale_id: str, sku: str) -> None:
        raise AssertionError("not in this test")

    def configure(self, settings: Mapping[str, float]) -> None:
        raise AssertionError("not in this test")

    def end_sale(self) -> None:
        pass

    def show_face(self, name: str, vector: npt.NDArray[np.float32]) -> None:
        """The shopper looks at the camera: frames go through the worker's own path."""
        m = self.machine
        assert m is not None
        assert self.camera is not None
        attempt, sale = self.camera
        for frame in self.faces.camera(name, vector):
            result = process_frame(self.port, frame, sale, lambda: m.on_processing(attempt))
            if isinstance(result, Outcome):
                m.on_outcome(attempt, result)
                return
            m.on_feedback(attempt, result)
        raise AssertionError("the attempt never ended")


@pytest.fixture(scope="module")
def clock() -> kit.FakeClock:
    return kit.FakeClock(start=time.time())


@pytest.fixture(scope="module")
def sandbox(clock: kit.FakeClock) -> Iterator[kit.Sandbox]:
    with kit.Sandbox(config=ServerConfig(session_ttl_s=SESSION_TTL_S), clock=clock) as sb:
        yield sb


class Lane:
    def __init__(self, sandbox: kit.Sandbox, tmp_path: Path, seed: int) -> None:
        self.sandbox = sandbox
        self.faces = kit.SyntheticFaces()
        self.uplink = Uplink()
        self.till = kit.connect_till(
            sandbox,
            **self.faces.till_parts(),
            transport=self.uplink,
            client_config=ClientConfig(max_attempts=1),
        )
        self.person = kit.face(seed)
        self.phone = f"0151770000{seed:02d}"  # one shopper per lane in the shared sandbox
        self.till.enroll(
            self.faces.camera(f"enroll-{seed}", self.person),
            consent=facepay.consent_now("2026-01-en"),
            claim=facepay.Claim(kind=facepay.ClaimKind.PHONE, value="+49" + self.phone[1:]),
            payment_method_token="tok_visa_4242",
        )
        faces = self.faces
        till = self.till
        self.port = TillAdapter(
            self.till,
            store=STORE,
            base_url=sandbox.base_url,
            # What staff settings do (kiosk_app.demo builds it the same way): a new Till
            # on the same client and face stage, with the new config.
            rebuild_till=lambda config: facepay.Till(
                till.client,
                **faces.till_parts(),
                config=config,
            ),
        )
        self.fx = Effects(self.port, self.faces)
        directory = StaffDirectory()
        directory.add("ana", STAFF_PIN)
        self.m = KioskMachine(effects=self.fx, store=STORE, staff=StaffLogin(directory))
        self.fx.machine = self.m
        self.notices: list[str] = []
        self.m.subscribe(lambda e: self.notices.append(e.key) if isinstance(e, Notice) else None)
        self.sale_id = f"SALE-KIOSK-{seed}"

    def pay_and_lose_the_answer(self, *, impostor: bool = False) -> None:
        self.m.sale_updated(Sale(sale_id=self.sale_id, currency="EUR", lines=LINES))
        self.m.pay()
        self.m.choose_face()
        self.m.give_phone(self.phone)
        assert self.m.screen is Screen.CAPTURE
        self.uplink.drop = True
        face = kit.face(9_000) if impostor else kit.same_face(self.person, 1)
        self.fx.show_face(self.sale_id, face)
        self.uplink.drop = False
        assert self.m.screen is Screen.RESULT
        assert self.outcome().kind is OutcomeKind.PAYMENT_UNKNOWN
        self.m.choose_card()  # it may have been charged: no card
        assert self.m.screen is Screen.RESULT
        assert self.fx.card_requests == []

    def outcome(self) -> Outcome:
        assert self.m.outcome is not None
        return self.m.outcome

    def booked(self) -> list[tuple[str, int]]:
        rows = kit.rows(
            self.sandbox, "SELECT basket_reference, status, amount_minor FROM authorizations"
        )
        return [(str(r[1]), int(r[2])) for r in rows if r[0] == self.sale_id]

    def close(self) -> None:
        self.port.close()


@pytest.fixture
def lanes(sandbox: kit.Sandbox, tmp_path: Path) -> Iterator[Callable[[int], Lane]]:
    made: list[Lane] = []

    def make(seed: int) -> Lane:
        lane = Lane(sandbox, tmp_path, seed)
        made.append(lane)
        return lane

    yield make
    for lane in made:
        lane.close()


def test_check_again_after_the_session_ended_says_not_charged_and_offers_the_card(
    lanes: Callable[[int], Lane], clock: kit.FakeClock
) -> None:
    lane = lanes(51)
    lane.pay_and_lose_the_answer()
    assert [r.kind for r in lane.m.queue.open] == [RequestKind.PAYMENT_UNKNOWN]

    # No answer to "Check again" either: still unknown, still no card.
    lane.uplink.down = True
    lane.m.retry()
    lane.uplink.down = False
    assert lane.outcome().kind is OutcomeKind.PAYMENT_UNKNOWN
    assert len(lane.till.unanswered) == 1
    lane.m.choose_card()
    assert lane.fx.card_requests == []

    # The backend's word, once the session is over: nothing was stored under the key.
    clock.advance(SESSION_TTL_S + 1.0)
    lane.m.retry()
    outcome = lane.outcome()
    assert outcome.kind is OutcomeKind.NOT_CHARGED, outcome
    assert outcome.kind.nothing_charged
    assert not outcome.charged
    assert lane.m.screen is Screen.RESULT
    assert lane.till.unanswered == ()
    assert lane.m.queue.open == ()
    assert lane.booked() == []
    assert lane.fx.completed == []
    lane.m.choose_card()
    assert lane.m.screen is Screen.CARD
    assert lane.fx.card_requests == [lane.sale_id]


def test_a_lost_payment_survives_a_staff_settings_change(
    lanes: Callable[[int], Lane], clock: kit.FakeClock
) -> None:
    """Staff change a setting (the till is rebuilt) while a payment waits for its answer:
    Check again still finds it, and the sale is settled, not stuck."""
    lane = lanes(55)
    lane.pay_and_lose_the_answer()
    before = lane.port.till
    lane.port.configure({"liveness_challenges": 4.0})
    assert lane.port.till is not before
    assert lane.port.till.config.liveness_challenges == 4
    assert lane.port.answer_lost(lane.sale_id)
    clock.advance(SESSION_TTL_S + 1.0)
    lane.m.retry()
    assert lane.outcome().kind is OutcomeKind.NOT_CHARGED
    lane.m.choose_card()
    assert lane.fx.card_requests == [lane.sale_id]


def test_staff_check_settles_not_charged_and_the_shopper_sees_it(
    lanes: Callable[[int], Lane], clock: kit.FakeClock
) -> None:
    lane = lanes(52)
    lane.pay_and_lose_the_answer()
    lane.m.staff_requested()
    lane.m.staff_sign_in("ana", STAFF_PIN)
    assert lane.m.screen is Screen.ATTENDANT
    lane.uplink.down = True
    lane.m.settle_payment(lane.sale_id)
    lane.uplink.down = False
    assert lane.notices[-1] == "attendant.still_unknown"
    assert [r.kind for r in lane.m.queue.open] == [RequestKind.PAYMENT_UNKNOWN]

    clock.advance(SESSION_TTL_S + 1.0)
    lane.m.settle_payment(lane.sale_id)
    assert lane.notices[-1] == "attendant.not_charged"
    assert lane.m.queue.open == ()
    assert lane.booked() == []
    lane.m.staff_sign_out()
    assert lane.m.screen is Screen.RESULT
    assert lane.outcome().kind is OutcomeKind.NOT_CHARGED
    lane.m.choose_card()
    assert lane.fx.card_requests == [lane.sale_id]


def test_a_lost_payment_that_was_taken_is_never_called_not_charged(
    lanes: Callable[[int], Lane],
) -> None:
    """Check again within the session: the backend takes the payment it never saw, once."""
    lane = lanes(53)
    lane.pay_and_lose_the_answer()
    lane.m.retry()
    outcome = lane.outcome()
    assert outcome.kind is OutcomeKind.APPROVED, outcome
    assert lane.booked() == [("approved", 238)]
    assert [sid for sid, _ in lane.fx.completed] == [lane.sale_id]
    lane.m.choose_card()
    assert lane.fx.card_requests == []


def test_a_lost_payment_declined_on_check_again_frees_the_card(
    lanes: Callable[[int], Lane],
) -> None:
    """A decline is the backend's word too: nothing was taken, the sale is no longer held."""
    lane = lanes(54)
    lane.pay_and_lose_the_answer(impostor=True)
    lane.m.retry()
    assert lane.outcome().kind is OutcomeKind.NOT_RECOGNISED
    assert lane.m.queue.open == ()
    assert lane.booked() == [("declined", 238)]
    lane.m.choose_card()
    assert lane.fx.card_requests == [lane.sale_id]


@pytest.mark.parametrize("language", list(Language))
def test_the_result_screen_says_not_charged_and_offers_the_card(
    qapp: QApplication, language: Language
) -> None:
    apply_theme(qapp)
    tr = Translator(language)
    screen = ResultScreen(tr)
    screen.show_outcome(Outcome(kind=OutcomeKind.NOT_CHARGED))
    assert screen.title.text() == tr("result.not_charged_title")
    assert screen.message.text() == tr("result.not_charged")
    assert screen.card_button.isVisibleTo(screen)
    assert not screen.retry_button.isVisibleTo(screen)  # "Check again" is over
    assert screen.back_button.isVisibleTo(screen)
    if language is Language.EN:
        assert "nothing was charged" in screen.message.text()
        assert "Please pay another way" in screen.message.text()

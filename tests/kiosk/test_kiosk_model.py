"""The kiosk model without Qt, models or a sandbox: a scripted port at the facepay seam.

Each test names the issue #13 defect it pins down.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest

from facepay import (
    Basket,
    BasketLine,
    CheckoutState,
    Claim,
    EnrollmentResult,
    FailureReason,
    Frame,
    FrameFeedback,
    LivenessReason,
    PaymentNotTakenError,
    PaymentStatus,
    RateLimitedError,
    Receipt,
    TransportError,
)
from kiosk_app.model import (
    BACK,
    AttemptEnd,
    ChannelKind,
    CheckoutPort,
    FilePrinter,
    KioskEvent,
    KioskMachine,
    LoginPolicy,
    Notice,
    Outcome,
    OutcomeKind,
    PinPrompt,
    PrintedReceipt,
    RequestKind,
    Sale,
    Screen,
    StaffAction,
    StaffAudit,
    StaffDirectory,
    StaffLogin,
    StoreProfile,
    classify_reason,
    process_frame,
)

T = TypeVar("T")

PHONE = "015112345678"
STAFF_PIN = "482913"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def receipt(status: str = "approved", *, reference: str = "sale-1", **kw: Any) -> Receipt:
    fields: dict[str, Any] = {
        "status": PaymentStatus(status),
        "amount_minor": 987,
        "currency": "EUR",
        "basket_reference": reference,
        "authorization_id": "auth-1",
        "idempotency_key": "key-1",
    }
    if status == "approved":
        fields.update(
            receipt_id="rcpt-1", masked_payment_method="Visa •••• 4242", privacy_code="PC-SECRET-9"
        )
    fields.update(kw)
    return Receipt(**fields)


class ScriptedPort:
    """The facepay seam, scripted: records what the kiosk asked for."""

    def __init__(self) -> None:
        self.begun: list[tuple[Basket, Claim | None]] = []
        self.enrolments: list[tuple[Claim, str, str]] = []
        self.enrolment_pins: list[str | None] = []
        self.step_up_answers: list[str] = []
        self.begin_error: Exception | None = None
        self.answers: list[Receipt | EnrollmentResult | Exception] = []
        self.unanswered: set[str] = set()
        self.reconciled: list[str] = []
        self.cancels = 0

    def store_profile(self) -> StoreProfile:
        return STORE

    def health(self) -> Any:
        raise NotImplementedError

    def begin_payment(self, basket: Basket, claim: Claim | None) -> None:
        self.begun.append((basket, claim))
        if self.begin_error is not None:
            raise self.begin_error

    def begin_enrollment(
        self, claim: Claim, card_token: str, locale: str, *, pin: str | None = None
    ) -> None:
        self.enrolments.append((claim, card_token, locale))
        self.enrolment_pins.append(pin)

    def feed(self, frame: Frame) -> FrameFeedback:
        return FrameFeedback(state=CheckoutState.PROCESSING, frame_index=frame.index)

    def end_reason(self) -> AttemptEnd:
        return AttemptEnd(reason=None)

    def complete(self) -> Receipt | EnrollmentResult:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            if isinstance(answer, TransportError) and self.begun:
                self.unanswered.add(self.begun[-1][0].reference)
            raise answer
        return answer

    def answer_step_up(self, digits: str) -> Receipt:
        self.step_up_answers.append(digits)
        answer = self.complete()
        assert isinstance(answer, Receipt)
        return answer

    def answer_lost(self, sale_id: str) -> bool:
        return sale_id in self.unanswered

    def reconcile(self, sale_id: str) -> Receipt:
        self.reconciled.append(sale_id)
        self.unanswered.discard(sale_id)
        return receipt(reference=sale_id)

    def cancel(self) -> None:
        self.cancels += 1

    def configure(self, settings: Mapping[str, float]) -> None:
        raise AssertionError("the machine configures through its effects")


class SyncEffects:
    """Runs the port calls at once; records what the POS and the camera were told."""

    def __init__(self, port: ScriptedPort) -> None:
        self.port = port
        self.machine: KioskMachine | None = None
        self.camera_attempt: int | None = None
        self.card_requests: list[str] = []
        self.completed: list[tuple[str, Outcome]] = []
        self.voided: list[tuple[str, str]] = []
        self.ended = 0
        self.settings: list[Mapping[str, float]] = []

    def run(self, job: Callable[[CheckoutPort], T], done: Callable[[T], None]) -> None:
        done(job(self.port))

    def start_camera(self, attempt: int, sale: Sale | None) -> None:
        self.camera_attempt = attempt
        self.camera_sale = sale

    def stop_camera(self) -> None:
        self.camera_attempt = None

    def request_card_payment(self, sale: Sale) -> None:
        self.card_requests.append(sale.sale_id)

    def sale_completed(self, sale_id: str, outcome: Outcome) -> None:
        self.completed.append((sale_id, outcome))

    def void_line(self, sale_id: str, sku: str) -> None:
        self.voided.append((sale_id, sku))

    def configure(self, settings: Mapping[str, float]) -> None:
        self.settings.append(settings)

    def end_sale(self) -> None:
        self.ended += 1

    def face_answers(self) -> None:
        """The camera's frame passes capture and liveness: the worker completes."""
        m = self.machine
        assert m is not None
        assert self.camera_attempt is not None
        attempt = self.camera_attempt
        frame = Frame(image=_IMAGE, timestamp=0.0, index=0)
        result = process_frame(self.port, frame, self.camera_sale, lambda: m.on_processing(attempt))
        assert isinstance(result, Outcome)
        m.on_outcome(attempt, result)


_IMAGE: Any = __import__("numpy").zeros((4, 4, 3), "uint8")

STORE = StoreProfile(
    store_name="test store", currency="EUR", privacy_url="https://shop.example/privacy"
)
LINES = (
    BasketLine(sku="4011", description="Bananas 1 kg", quantity=2, unit_price_minor=119),
    BasketLine(sku="5057", description="Coffee beans", quantity=1, unit_price_minor=749),
)


class Lane:
    def __init__(self, tmp_path: Path, *, store: StoreProfile = STORE) -> None:
        self.clock = FakeClock()
        self.port = ScriptedPort()
        self.fx = SyncEffects(self.port)
        directory = StaffDirectory()
        directory.add("ana", STAFF_PIN)
        self.printer = FilePrinter(tmp_path / "receipts")
        self.audit = StaffAudit(tmp_path / "audit.jsonl", wall_clock=self.clock)
        self.m = KioskMachine(
            effects=self.fx,
            store=store,
            staff=StaffLogin(directory, clock=self.clock),
            audit=self.audit,
            receipt_channels=[PrintedReceipt(self.printer)],
            clock=self.clock,
        )
        self.fx.machine = self.m
        self.events: list[KioskEvent] = []
        self.m.subscribe(self.events.append)

    def scan(
        self, sale_id: str = "sale-1", lines: tuple[BasketLine, ...] = LINES, **kw: Any
    ) -> None:
        self.m.sale_updated(Sale(sale_id=sale_id, currency="EUR", lines=lines, **kw))

    def to_camera(self, expect: Screen = Screen.CAPTURE) -> None:
        self.scan()
        self.m.pay()
        self.m.choose_face()
        assert self.m.screen is Screen.CLAIM
        self.m.give_phone(PHONE)
        assert self.m.screen is expect

    def notices(self) -> list[str]:
        return [e.key for e in self.events if isinstance(e, Notice)]

    def staff_in(self) -> None:
        self.m.staff_requested()
        self.m.staff_sign_in("ana", STAFF_PIN)
        assert self.m.screen is Screen.ATTENDANT


@pytest.fixture
def lane(tmp_path: Path) -> Lane:
    return Lane(tmp_path)


# ---------------------------------------------------------------- one domain model


def test_the_model_imports_no_qt() -> None:
    assert not [m for m in sys.modules if m.startswith("PyQt")] or "kiosk_app.model" in sys.modules
    import subprocess

    code = "import kiosk_app.model, sys; print(any(m.startswith('PyQt') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_pos_sale_id_is_the_basket_reference_the_backend_sees(lane: Lane) -> None:
    """#13: the kiosk invented kiosk-<time>-<n>, so the ledger could not be joined."""
    lane.to_camera()
    basket, claim = lane.port.begun[-1]
    assert basket.reference == "sale-1"
    assert basket.lines == LINES
    assert basket.total_minor == 987
    assert claim is not None
    assert claim.value == "+4915112345678"


def test_approval_is_reported_to_the_pos_once_and_a_card_is_refused(lane: Lane) -> None:
    lane.to_camera()
    lane.port.answers.append(receipt())
    lane.fx.face_answers()
    assert lane.m.screen is Screen.RESULT
    assert lane.m.outcome is not None
    assert lane.m.outcome.kind is OutcomeKind.APPROVED
    assert [sid for sid, _ in lane.fx.completed] == ["sale-1"]
    lane.m.choose_card()
    assert lane.m.screen is Screen.RESULT
    assert lane.fx.card_requests == []


def test_a_lost_answer_blocks_the_card_until_reconciled_and_charges_once(lane: Lane) -> None:
    lane.to_camera()
    lane.port.answers.append(TransportError("answer lost"))
    lane.fx.face_answers()
    assert lane.m.outcome is not None
    assert lane.m.outcome.kind is OutcomeKind.PAYMENT_UNKNOWN
    assert not lane.m.outcome.kind.nothing_charged
    lane.m.choose_card()
    assert lane.m.screen is Screen.RESULT
    assert lane.fx.card_requests == []
    assert [r.kind for r in lane.m.queue.open] == [RequestKind.PAYMENT_UNKNOWN]
    lane.m.retry()  # "Check again": the till's one reconcile path, the same request
    assert lane.port.reconciled == ["sale-1"]
    assert lane.m.outcome is not None
    assert lane.m.outcome.kind is OutcomeKind.APPROVED
    assert [sid for sid, _ in lane.fx.completed] == ["sale-1"]
    assert lane.m.queue.open == ()


def test_a_late_approval_after_the_shopper_left_is_never_hidden(lane: Lane) -> None:
    lane.to_camera()
    attempt = lane.fx.camera_attempt
    assert attempt is not None
    lane.m.back()  # the shopper walked back while the answer was on its way
    late = Outcome(kind=OutcomeKind.APPROVED, amount_minor=987, currency="EUR", charged=True)
    lane.m.on_outcome(attempt, late)
    assert "sale-1" in lane.m.paid_sales
    assert [sid for sid, _ in lane.fx.completed] == ["sale-1"]


L = LivenessReason
F = FailureReason


@pytest.mark.parametrize(
    ("reason", "liveness", "kind"),
    [
        (F.LIVENESS_FAILED, (L.LATE_RESPONSE,), OutcomeKind.TOO_SLOW),
        (F.LIVENESS_FAILED, (L.CHALLENGE_TIMEOUT, L.LATE_RESPONSE), OutcomeKind.TOO_SLOW),
        (F.CAPTURING_TIMEOUT, (), OutcomeKind.TOO_SLOW),
        (F.LIVENESS_FAILED, (L.FACE_LOST,), OutcomeKind.FACE_LOST),
        (F.LIVENESS_FAILED, (L.FACE_LOST, L.LATE_RESPONSE), OutcomeKind.FACE_LOST),
        (F.NO_GOOD_FRAME, (), OutcomeKind.FACE_LOST),
        (F.FACE_NOT_CLEAR, (), OutcomeKind.FACE_NOT_CLEAR),
        (F.LIVENESS_FAILED, (L.SCREEN_CUE,), OutcomeKind.LIVENESS_FAILED),
        (F.LIVENESS_FAILED, (L.LATE_RESPONSE, L.SCREEN_CUE), OutcomeKind.LIVENESS_FAILED),
        (F.LIVENESS_FAILED, (L.FACE_LOST, L.VIRTUAL_CAMERA), OutcomeKind.LIVENESS_FAILED),
        (F.LIVENESS_FAILED, (), OutcomeKind.LIVENESS_FAILED),
        (F.CAMERA_LOST, (), OutcomeKind.CAMERA_LOST),
        (F.FRAMES_ENDED, (), OutcomeKind.CAMERA_LOST),
        (F.TEMPLATE_FAILED, (), OutcomeKind.ERROR),
        (F.CANCELLED, (), OutcomeKind.CANCELLED),
    ],
)
def test_each_failure_has_its_own_kind_and_attack_evidence_stays_opaque(
    reason: FailureReason, liveness: tuple[LivenessReason, ...], kind: OutcomeKind
) -> None:
    """#13: every face failure said "Payment declined", and screens split reason strings."""
    assert classify_reason(reason, liveness) is kind


def test_a_typed_not_taken_error_becomes_its_outcome() -> None:
    from facepay import CheckoutState
    from kiosk_app.model import outcome_from_error

    exc = PaymentNotTakenError(
        "no payment",
        state=CheckoutState.FAILED,
        reason=FailureReason.LIVENESS_FAILED,
        liveness_reasons=(LivenessReason.LATE_RESPONSE,),
    )
    o = outcome_from_error(exc, answer_lost=False)
    assert o.kind is OutcomeKind.TOO_SLOW
    assert o.liveness_reasons == (LivenessReason.LATE_RESPONSE,)
    assert o.kind.nothing_charged


@pytest.mark.parametrize(
    ("decline", "kind"),
    [
        ("no_match", OutcomeKind.NOT_RECOGNISED),
        ("consent_withdrawn", OutcomeKind.NOT_ENROLLED),
        ("payment_method_declined", OutcomeKind.DECLINED),
        ("liveness_failed", OutcomeKind.LIVENESS_FAILED),
    ],
)
def test_backend_declines_map_to_shopper_outcomes(
    lane: Lane, decline: str, kind: OutcomeKind
) -> None:
    lane.to_camera()
    lane.port.answers.append(receipt("declined", decline_reason=decline))
    lane.fx.face_answers()
    assert lane.m.outcome is not None
    assert lane.m.outcome.kind is kind
    assert lane.m.outcome.kind.nothing_charged
    assert not lane.m.outcome.charged


def test_the_privacy_code_never_reaches_the_screen_only_the_chosen_channel(lane: Lane) -> None:
    """#13: the privacy code and its QR were shown on the shared screen after each payment."""
    lane.to_camera()
    lane.port.answers.append(receipt())
    lane.fx.face_answers()
    o = lane.m.outcome
    assert o is not None
    assert o.privacy_code == "PC-SECRET-9"
    assert not [line for line in o.item_lines if "PC-SECRET-9" in line]
    assert o.masked_method == "Visa •••• 4242"
    shown = [e for e in lane.events if not isinstance(e, Notice)]
    assert "PC-SECRET-9" not in repr(shown)
    lane.m.done()
    assert lane.m.screen is Screen.RECEIPT
    lane.m.send_receipt(ChannelKind.PRINTED)
    assert lane.notices()[-1] == "receipt.sent"
    lane.m.done()
    assert lane.m.screen is Screen.IDLE
    (printed,) = lane.printer.printed
    text = printed.read_text()
    assert "PC-SECRET-9" in text
    assert "https://shop.example/privacy" in text
    # Staff can reprint the sale, not the shopper's privacy code.
    lane.staff_in()
    lane.m.reprint()
    assert len(lane.printer.printed) == 2
    assert "PC-SECRET-9" not in lane.printer.printed[1].read_text()
    assert StaffAction.REPRINT in [a.action for a in lane.audit.lines]


def test_enrollment_shows_the_backends_masked_card_and_sends_the_code_by_receipt(
    lane: Lane,
) -> None:
    """#13: the demo Mastercard showed 5555 on the kiosk and 4444 from the backend."""
    from datetime import datetime, timezone

    lane.m.join()
    assert lane.m.screen is Screen.CONSENT
    lane.m.consent_given()
    lane.m.enroll_phone(PHONE)
    assert lane.m.screen is Screen.ENROLL_CARD
    lane.m.card_confirmed()  # no card yet: stays
    assert lane.m.screen is Screen.ENROLL_CARD
    lane.m.card_linked("tok_mastercard_5555")
    lane.m.card_confirmed()
    assert lane.m.screen is Screen.ENROLL_PIN
    lane.m.skip_pin()
    assert lane.m.screen is Screen.CAPTURE
    assert lane.port.enrolment_pins == [None]
    claim, token, locale = lane.port.enrolments[-1]
    assert (claim.value, token, locale) == ("+4915112345678", "tok_mastercard_5555", "en")
    lane.port.answers.append(
        EnrollmentResult(
            shopper_id="s-1",
            privacy_code="PC-ENROL-1",
            masked_payment_method="Mastercard •••• 4444",
            enrolled_at=datetime.now(timezone.utc),
            retention_days=1095,
        )
    )
    lane.fx.face_answers()
    assert lane.m.screen is Screen.ENROLL_DONE
    assert lane.m.outcome is not None
    assert lane.m.outcome.masked_method == "Mastercard •••• 4444"
    lane.m.send_receipt(ChannelKind.PRINTED)  # the enrollment screen offers the channels
    assert "PC-ENROL-1" in lane.printer.printed[0].read_text()
    lane.m.done()
    assert lane.m.screen is Screen.IDLE


# ---------------------------------------------------------------- the shopper's PIN (#16)

PIN = "3851"


def to_pin_screen(lane: Lane) -> None:
    lane.m.join()
    lane.m.consent_given()
    lane.m.enroll_phone(PHONE)
    lane.m.card_linked("tok_visa_4242")
    lane.m.card_confirmed()
    assert lane.m.screen is Screen.ENROLL_PIN
    assert not lane.m.pin_confirming


def pin_prompts(lane: Lane) -> list[bool]:
    return [e.confirm for e in lane.events if isinstance(e, PinPrompt)]


def test_the_pin_is_typed_twice_and_reaches_only_the_till(
    lane: Lane, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    to_pin_screen(lane)
    # facepay's own rule refuses the PINs an attacker tries first, before the second entry.
    for trivial in ("1234", "0000", "1212", "9876"):
        lane.m.enter_pin(trivial)
        assert lane.notices()[-1] == "enroll.pin_trivial"
        assert not lane.m.pin_confirming
        assert lane.m.screen is Screen.ENROLL_PIN
    lane.m.enter_pin(PIN)
    assert lane.m.pin_confirming
    assert pin_prompts(lane)[-1] is True
    lane.m.enter_pin("3815")  # a slip on the second entry: start again
    assert lane.notices()[-1] == "enroll.pin_mismatch"
    assert not lane.m.pin_confirming
    assert pin_prompts(lane)[-1] is False
    assert lane.port.enrolments == []
    lane.m.enter_pin(PIN)
    lane.m.enter_pin(PIN)
    assert lane.m.screen is Screen.CAPTURE
    assert lane.port.enrolment_pins == [PIN]
    # Handed to the till and kept nowhere in the kiosk: not in the machine, not in an
    # event the screens heard, not in a log line.
    assert [k for k, v in vars(lane.m).items() if PIN in repr(v)] == []
    assert PIN not in repr(lane.events)
    assert PIN not in caplog.text
    assert "3815" not in caplog.text


def test_skipping_the_pin_enrolls_without_one(lane: Lane) -> None:
    to_pin_screen(lane)
    lane.m.enter_pin(PIN)
    lane.m.skip_pin()  # also halfway through: the first entry is dropped
    assert lane.m.screen is Screen.CAPTURE
    assert lane.port.enrolment_pins == [None]
    assert not lane.m.pin_confirming


def test_leaving_the_pin_screen_forgets_the_first_entry(lane: Lane) -> None:
    to_pin_screen(lane)
    lane.m.enter_pin(PIN)
    assert lane.m.pin_confirming
    lane.m.back()  # from "Enter your PIN again": back to choosing it
    assert lane.m.screen is Screen.ENROLL_PIN
    assert not lane.m.pin_confirming
    assert pin_prompts(lane)[-1] is False
    lane.m.enter_pin(PIN)
    lane.m.staff_requested()  # leaving the screen (here for staff) drops the first entry
    lane.m.staff_sign_out()
    assert lane.m.screen is Screen.ENROLL_PIN
    assert not lane.m.pin_confirming
    lane.m.back()
    assert lane.m.screen is Screen.ENROLL_CARD
    lane.m.card_confirmed()  # the card stays linked
    assert lane.m.screen is Screen.ENROLL_PIN
    lane.m.enter_pin(PIN)
    assert lane.m.pin_confirming  # asked again from the start
    lane.m.timeout()
    assert lane.m.screen is Screen.IDLE
    assert not lane.m.pin_confirming


def test_an_enrollment_started_again_asks_for_the_pin_again(lane: Lane) -> None:
    """The till was handed the PIN and the kiosk kept no copy: a second attempt (Try again
    after a failure, Back from the camera) goes through the PIN screen, never silently
    without the PIN the shopper chose."""
    to_pin_screen(lane)
    lane.m.enter_pin(PIN)
    lane.m.enter_pin(PIN)
    attempt = lane.fx.camera_attempt
    assert attempt is not None
    lane.m.on_outcome(attempt, Outcome(kind=OutcomeKind.TOO_SLOW))
    assert lane.m.screen is Screen.RESULT
    lane.m.retry()
    assert lane.m.screen is Screen.ENROLL_PIN
    lane.m.enter_pin(PIN)
    lane.m.enter_pin(PIN)
    assert lane.m.screen is Screen.CAPTURE
    lane.m.back()
    assert lane.m.screen is Screen.ENROLL_PIN
    lane.m.skip_pin()
    assert lane.port.enrolment_pins == [PIN, PIN, None]


def test_back_from_a_failed_enrollment_goes_back_into_the_enrollment(lane: Lane) -> None:
    """Back from the result of an enrollment started at the idle screen went to the
    payment choice with no basket (nothing to pay, a face button that pays nothing)."""
    to_pin_screen(lane)
    lane.m.skip_pin()
    attempt = lane.fx.camera_attempt
    assert attempt is not None
    lane.m.on_outcome(attempt, Outcome(kind=OutcomeKind.FACE_NOT_CLEAR))
    assert lane.m.screen is Screen.RESULT
    lane.m.back()
    assert lane.m.screen is Screen.ENROLL_PIN  # as Back from the camera, and Try again
    # A payment's result still goes back to the payment choice.
    lane.m.cancel()
    lane.to_camera()
    attempt = lane.fx.camera_attempt
    assert attempt is not None
    lane.m.on_outcome(attempt, Outcome(kind=OutcomeKind.NOT_RECOGNISED))
    lane.m.back()
    assert lane.m.screen is Screen.CHOICE


@pytest.mark.parametrize(("kind", "asks_pin"), [("pin", True), ("phone_last4", False)])
def test_the_step_up_says_which_digits_it_wants(lane: Lane, kind: str, asks_pin: bool) -> None:
    lane.to_camera()
    lane.port.answers.append(receipt("step_up", step_up=kind))
    lane.fx.face_answers()
    assert lane.m.screen is Screen.STEP_UP
    outcome = lane.m.outcome
    assert outcome is not None
    assert outcome.kind is OutcomeKind.STEP_UP
    assert outcome.asks_pin is asks_pin
    lane.port.answers.append(receipt())
    lane.m.answer_step_up(PIN)
    assert lane.port.step_up_answers == [PIN]
    assert lane.m.outcome is not None
    assert lane.m.outcome.kind is OutcomeKind.APPROVED


# ---------------------------------------------------------------- lane lock


def test_a_rate_limited_lane_pauses_face_pay_and_staff_can_unlock(lane: Lane) -> None:
    """#13: after 5 failures everyone got "Payment declined" and a Try again that could not
    work; staff saw only RateLimitedError."""
    lane.port.begin_error = RateLimitedError("locked", retry_after=280.0, code="device_locked")
    lane.to_camera(expect=Screen.RESULT)
    assert lane.fx.camera_attempt is None
    o = lane.m.outcome
    assert o is not None
    assert o.kind is OutcomeKind.LANE_PAUSED
    assert o.kind.nothing_charged
    assert o.kind.card_is_safe
    assert lane.m.screen is Screen.RESULT
    assert lane.m.lane_paused
    assert not lane.m.face_is_offered()
    lane.m.retry()
    assert lane.m.screen is Screen.RESULT  # no Try again that cannot work
    assert len(lane.port.begun) == 1
    lane.m.choose_card()
    assert lane.m.screen is Screen.CARD
    assert [r.kind for r in lane.m.queue.open] == [RequestKind.LANE_PAUSED]
    lane.m.back()
    lane.m.choose_face()
    assert lane.m.screen is Screen.CHOICE
    assert "result.lane_paused" in lane.notices()
    # Only signed-in staff can unlock; the action is audited.
    lane.m.unlock_lane()
    assert lane.m.lane_paused
    lane.staff_in()
    lane.m.unlock_lane()
    assert not lane.m.lane_paused
    assert lane.m.queue.open == ()
    assert StaffAction.UNLOCK_LANE in [a.action for a in lane.audit.lines]


def test_the_pause_ends_by_itself_when_the_backend_lockout_does(lane: Lane) -> None:
    lane.port.begin_error = RateLimitedError("locked", retry_after=60.0)
    lane.to_camera(expect=Screen.RESULT)
    assert lane.m.lane_paused
    lane.clock.now += 61
    assert not lane.m.lane_paused
    assert lane.m.face_is_offered()


# ---------------------------------------------------------------- the shopper's path


def test_cancel_asks_first_and_keep_shopping_keeps_the_basket(lane: Lane) -> None:
    """#13: one tap on Cancel dropped a basket without asking."""
    lane.scan()
    lane.m.pay()
    lane.m.cancel()
    assert lane.m.screen is Screen.CONFIRM_CANCEL
    lane.m.keep_shopping()
    assert lane.m.screen is Screen.CHOICE
    assert lane.m.sale.sale_id == "sale-1"
    assert not lane.m.sale.is_empty
    assert lane.fx.ended == 0
    lane.m.cancel()
    lane.m.confirm_cancel()
    assert lane.m.screen is Screen.IDLE
    assert lane.m.sale.is_empty
    assert lane.fx.ended == 1
    assert [r.kind for r in lane.m.queue.open] == [RequestKind.ABANDONED_BASKET]


def test_cancel_from_the_camera_comes_back_to_the_phone_number(lane: Lane) -> None:
    lane.to_camera()
    lane.m.cancel()
    assert lane.m.screen is Screen.CONFIRM_CANCEL
    assert lane.fx.camera_attempt is None
    lane.m.keep_shopping()
    assert lane.m.screen is Screen.CLAIM
    assert lane.m.claim is not None


def test_a_timeout_never_drops_an_unpaid_basket_silently(lane: Lane) -> None:
    """#13: a timeout dropped an unpaid basket with no one told."""
    lane.scan()
    lane.m.timeout()
    assert lane.m.screen is Screen.IDLE
    (alert,) = lane.m.queue.open
    assert alert.kind is RequestKind.ABANDONED_BASKET
    assert (alert.sale_id, alert.amount_text, alert.item_count) == ("sale-1", "EUR 9.87", 3)


def test_a_paid_basket_times_out_without_an_alert(lane: Lane) -> None:
    lane.to_camera()
    lane.port.answers.append(receipt())
    lane.fx.face_answers()
    lane.m.timeout()
    assert lane.m.screen is Screen.IDLE
    assert lane.m.queue.open == ()


def test_try_again_keeps_the_phone_number(lane: Lane) -> None:
    """#13: "Try again" made the shopper retype the phone number."""
    lane.to_camera()
    lane.port.answers.append(receipt("declined", decline_reason="no_match"))
    lane.fx.face_answers()
    assert lane.m.screen is Screen.RESULT
    lane.m.retry()
    assert lane.m.screen is Screen.CAPTURE
    assert len(lane.port.begun) == 2
    assert lane.port.begun[0][1] == lane.port.begun[1][1]


def test_back_is_defined_on_every_screen_and_goes_somewhere_sensible(lane: Lane) -> None:
    """#13: Back existed in all three languages and was never used."""
    assert set(BACK) | {Screen.IDLE, Screen.PROCESSING} == set(Screen)
    lane.to_camera()
    lane.m.back()
    assert lane.m.screen is Screen.CLAIM
    lane.m.back()
    assert lane.m.screen is Screen.CHOICE
    lane.m.back()
    assert lane.m.screen is Screen.BASKET
    lane.m.back()  # to idle would drop the basket: ask first
    assert lane.m.screen is Screen.CONFIRM_CANCEL
    lane.m.back()
    assert lane.m.screen is Screen.BASKET
    lane.m.pay()
    lane.m.join()
    assert lane.m.screen is Screen.CONSENT
    lane.m.back()  # declining consent: back where the shopper came from
    assert lane.m.screen is Screen.CHOICE
    lane.m.staff_requested()
    lane.m.back()
    assert lane.m.screen is Screen.CHOICE


def test_language_resets_at_idle(lane: Lane) -> None:
    lane.m.set_language("ar")
    lane.scan()
    lane.m.pay()
    lane.m.cancel()
    lane.m.confirm_cancel()
    assert lane.m.language == "en"


def test_an_invalid_phone_number_asks_again(lane: Lane) -> None:
    lane.scan()
    lane.m.pay()
    lane.m.choose_face()
    lane.m.give_phone("0000000")
    assert lane.m.screen is Screen.CLAIM
    assert lane.notices()[-1] == "claim.invalid"
    assert lane.port.begun == []


# ---------------------------------------------------------------- staff


def test_staff_pins_are_stored_hashed(tmp_path: Path) -> None:
    d = StaffDirectory()
    d.add("ana", STAFF_PIN, name="Ana")
    path = tmp_path / "staff.json"
    d.save(path)
    raw = path.read_text()
    assert STAFF_PIN not in raw
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    loaded = StaffDirectory.load(path)
    assert loaded.check("ana", STAFF_PIN)
    assert not loaded.check("ana", "000000")
    assert not loaded.check("bob", STAFF_PIN)
    with pytest.raises(ValueError, match="6 digits"):
        d.add("bob", "2468")


def test_wrong_pins_back_off_then_lock_out(lane: Lane) -> None:
    """#13: 20 wrong PINs in 0.77 s, then in."""
    m = lane.m
    m.staff_requested()
    m.staff_sign_in("ana", "000000")
    assert m.screen is Screen.STAFF_SIGN_IN
    # During the back-off even the right PIN is not checked.
    m.staff_sign_in("ana", STAFF_PIN)
    assert m.screen is Screen.STAFF_SIGN_IN
    waits = []
    for _ in range(4):
        lane.clock.now += 3600
        m.staff_sign_in("ana", "111111")
        waits.append(m.staff.wait_s)
    assert waits[:3] == [2.0, 4.0, 8.0]
    assert m.staff.locked
    assert waits[3] == LoginPolicy().lockout_s
    assert lane.notices()[-1] == "attendant.locked"
    lane.clock.now += 600
    m.staff_sign_in("ana", STAFF_PIN)
    assert m.screen is Screen.STAFF_SIGN_IN  # still locked after 10 of 15 minutes
    lane.clock.now += 301
    m.staff_sign_in("ana", STAFF_PIN)
    assert m.screen is Screen.ATTENDANT


def test_every_staff_action_is_audited_without_pins_or_personal_data(
    lane: Lane, tmp_path: Path
) -> None:
    lane.m.staff_requested()
    lane.m.staff_sign_in("ana", "999999")
    lane.clock.now += 10
    lane.m.staff_sign_in("ana", STAFF_PIN)
    lane.m.change_settings({"liveness_challenges": 1, "match_threshold": 0.1})
    lane.m.staff_sign_out()
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    actions = [json.loads(line)["action"] for line in lines]
    assert actions == ["sign_in_refused", "sign_in", "change_setting", "sign_out"]
    text = "\n".join(lines)
    for secret in (STAFF_PIN, "999999", PHONE[1:]):
        assert secret not in text


def test_security_settings_are_clamped_inside_safe_bounds(lane: Lane) -> None:
    """#13: staff mode guarded liveness and match settings with one shared PIN."""
    lane.staff_in()
    applied = lane.m.change_settings(
        {"liveness_challenges": 1, "capture_timeout_s": 500, "match_threshold": 0.1}
    )
    assert applied == {"liveness_challenges": 3, "capture_timeout_s": 60.0}
    assert lane.fx.settings == [applied]


def test_settings_need_a_signed_in_staff_member(lane: Lane) -> None:
    assert lane.m.change_settings({"liveness_challenges": 4}) == {}
    assert lane.fx.settings == []


# ---------------------------------------------------------------- attendant queue


def test_an_age_restricted_item_waits_for_staff_approval(lane: Lane) -> None:
    wine = BasketLine(sku="wine", description="Red wine", quantity=1, unit_price_minor=899)
    lane.scan(lines=(*LINES, wine), age_restricted=frozenset({"wine"}))
    assert [r.kind for r in lane.m.queue.open] == [RequestKind.AGE_CHECK]
    lane.m.pay()
    assert lane.m.screen is Screen.BASKET
    assert lane.notices()[-1] == "basket.age_check_waiting"
    lane.m.choose_card()
    assert lane.fx.card_requests == []
    lane.staff_in()
    lane.m.approve_age()
    lane.m.staff_sign_out()
    assert lane.m.screen is Screen.BASKET
    lane.m.pay()
    assert lane.m.screen is Screen.CHOICE
    assert lane.m.queue.open == ()


def test_staff_void_a_line_through_the_pos(lane: Lane) -> None:
    lane.scan()
    lane.m.call_attendant()
    lane.m.call_attendant()
    assert [r.kind for r in lane.m.queue.open] == [RequestKind.CALLED]
    lane.staff_in()
    lane.m.void_line("5057")
    assert lane.fx.voided == [("sale-1", "5057")]
    (called,) = lane.m.queue.open
    lane.m.dismiss(called.request_id)
    assert lane.m.queue.open == ()
    assert [a.action for a in lane.audit.lines][-2:] == [
        StaffAction.VOID_LINE,
        StaffAction.DISMISS_ALERT,
    ]


def test_a_retailer_provisions_staff_from_the_command_line(tmp_path: Path) -> None:
    import subprocess

    path = tmp_path / "staff.json"
    cmd = [sys.executable, "-m", "kiosk_app.staff"]
    added = subprocess.run(
        [*cmd, "add", str(path), "ana"], input="482913\n", capture_output=True, text=True
    )
    assert added.returncode == 0, added.stderr
    assert "482913" not in path.read_text()
    assert StaffDirectory.load(path).check("ana", "482913")
    short = subprocess.run(
        [*cmd, "add", str(path), "bob"], input="2468\n", capture_output=True, text=True
    )
    assert short.returncode == 2
    assert "6 digits" in short.stderr
    listed = subprocess.run([*cmd, "list", str(path)], capture_output=True, text=True, check=True)
    assert listed.stdout.split() == ["ana"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/privacy",  # the demo's old QR: loopback, plain http
        "https://127.0.0.1/privacy",
        "https://localhost/privacy",
        "https://192.168.1.20/privacy",
        "https://[::1]/privacy",
        "http://shop.example/privacy",
        "privacy",
    ],
)
def test_the_privacy_page_must_be_the_retailers_public_https_url(url: str) -> None:
    """#13: the privacy QR pointed at a loopback address."""
    from facepay import ConfigurationError
    from kiosk_app.model import public_privacy_url

    with pytest.raises(ConfigurationError):
        public_privacy_url(url)


def test_a_public_privacy_url_is_kept() -> None:
    from kiosk_app.model import public_privacy_url

    assert public_privacy_url("https://shop.example/privacy") == "https://shop.example/privacy"


def test_the_demo_card_reader_hands_out_tokens_never_a_masked_card() -> None:
    """#13: the demo Mastercard showed 5555 on the kiosk and 4444 from the backend: the
    kiosk now shows only the backend's masked method (see the enrollment test above)."""
    from kiosk_app.demo import DEMO_CARD_TOKENS, DemoCardReader

    reader = DemoCardReader()
    taps = [reader.tap() for _ in range(len(DEMO_CARD_TOKENS) + 1)]
    assert taps == [*DEMO_CARD_TOKENS, DEMO_CARD_TOKENS[0]]
    assert all(t.startswith("tok_") and "•" not in t for t in taps)


def test_the_staff_lockout_survives_a_restart_of_the_kiosk(tmp_path: Path) -> None:
    """Pulling the plug must not reset the wrong-PIN count or the lockout."""
    from kiosk_app.model import LoginRefusedError

    clock = FakeClock()
    directory = StaffDirectory()
    directory.add("ana", STAFF_PIN)
    state = tmp_path / "staff-login.json"
    login = StaffLogin(directory, clock=clock, state_file=state)
    for _ in range(LoginPolicy().lockout_after):
        with pytest.raises(LoginRefusedError):
            login.sign_in("ana", "000000")
        clock.now += 3600 if not login.locked else 0
    assert login.locked
    restarted = StaffLogin(directory, clock=clock, state_file=state)
    assert restarted.locked
    with pytest.raises(LoginRefusedError) as refused:
        restarted.sign_in("ana", STAFF_PIN)
    assert refused.value.locked
    clock.now += LoginPolicy().lockout_s + 1
    assert StaffLogin(directory, clock=clock, state_file=state).sign_in("ana", STAFF_PIN) == "ana"
    # A damaged state file locks rather than opens.
    state.write_text("{not json")
    assert StaffLogin(directory, clock=clock, state_file=state).locked

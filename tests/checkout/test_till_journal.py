"""A till that restarts finds what it left unanswered: ``Till(..., journal=path)``
(docs/integration.md, "After a crash"; docs/privacy.md, "What never leaves the till").

A POS dies with a payment's answer lost; the next ``Till`` on the same journal file
refuses that order and ``till.recover()`` asks the backend what became of the payment:
charged (with its receipt), not charged, or not known yet. The journal holds what finding
a payment needs and nothing of a face: the test reads the file's bytes.

The till, its client and signing, the backend with its database (SQLite and PostgreSQL)
are the product; the doubles are the camera (synthetic faces) and the network (a
transport that loses the answer, or the request).
"""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

import facepay
import facepay.testing as kit
from facepay.checkout import (
    JournalEntry,
    JournalError,
    OrderAlreadyPaidError,
    PaymentUnansweredError,
    RecoveryOutcome,
    Till,
)
from facepay.checkout._journal import TillJournal
from facepay.config import ClientConfig, ServerConfig
from facepay.crypto import DeviceKey
from facepay.errors import CheckoutError
from facepay.server import ProvisionedDevice
from facepay.wire import MAX_CLOCK_SKEW_SECONDS, b64decode

CONFIG = ServerConfig(device_rate_burst=500, device_rate_per_s=500.0)


class LosingNetwork(httpx.BaseTransport):
    """The network: while ``lose`` is set, an authorization is forwarded (``deliver``)
    or dropped on its way, and its answer never comes back. Keeps each authorization's
    body as sent."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.lose = False
        self.deliver = True
        self.sent: list[bytes] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        paying = request.url.path.startswith("/v1/authorizations") and request.method == "POST"
        if paying:
            self.sent.append(request.read())
        if paying and self.lose and not self.deliver:
            raise httpx.ConnectError("the cable was pulled", request=request)
        response = self._inner.handle_request(request)
        response.read()
        if paying and self.lose:
            raise httpx.ReadTimeout("the POS went down before the answer came", request=request)
        return response

    def close(self) -> None:
        self._inner.close()


@pytest.fixture
def sandbox(database_url: str, tmp_path: Path) -> Iterator[kit.Sandbox]:
    with kit.Sandbox(database_url, key_dir=tmp_path / "keys", config=CONFIG) as sb:
        yield sb


@pytest.fixture
def faces() -> kit.SyntheticFaces:
    return kit.SyntheticFaces()


def till_process(
    device: ProvisionedDevice,
    sandbox: kit.Sandbox,
    faces: kit.SyntheticFaces,
    journal: Path | None,
    network: httpx.BaseTransport | None = None,
) -> Till:
    """One POS process's till (a restart: the same key and journal, new memory)."""
    return Till.connect(
        sandbox.base_url,
        device_key=device.key,
        device_id=device.device_id,
        transport=network,
        client_config=ClientConfig(max_attempts=1),
        journal=journal,
        **faces.till_parts(),
    )


def enroll(till: Till, faces: kit.SyntheticFaces, seed: int) -> tuple[Any, facepay.Claim]:
    person = kit.face(seed)
    claim = facepay.Claim(kind=facepay.ClaimKind.PHONE, value=f"+4915177{seed:06d}")
    till.enroll(
        faces.camera(f"enroll-{seed}", person),
        consent=facepay.consent_now("2026-01-en"),
        claim=claim,
        payment_method_token="tok_visa_4242",
    )
    return person, claim


def basket(reference: str, price_minor: int = 1250) -> facepay.Basket:
    line = facepay.BasketLine(sku="1", description="Tea", quantity=1, unit_price_minor=price_minor)
    return facepay.Basket(reference=reference, currency="EUR", lines=(line,))


def booked(sandbox: kit.Sandbox, reference: str) -> list[tuple[str, int]]:
    everything = kit.rows(
        sandbox, "SELECT basket_reference, status, amount_minor FROM authorizations"
    )
    return [(str(r[1]), int(r[2])) for r in everything if r[0] == reference]


def crash_mid_payment(
    device: ProvisionedDevice,
    sandbox: kit.Sandbox,
    faces: kit.SyntheticFaces,
    journal: Path,
    sale: facepay.Basket,
    seed: int,
    *,
    deliver: bool,
) -> tuple[Any, facepay.Claim, LosingNetwork]:
    """Enroll, pay ``sale`` with its answer lost (and the request too unless
    ``deliver``), and let the POS process die: the Till is dropped, not closed."""
    network = LosingNetwork()
    before = till_process(device, sandbox, faces, journal, network)
    person, claim = enroll(before, faces, seed)
    network.lose, network.deliver = True, deliver
    with pytest.raises(PaymentUnansweredError):
        before.pay(sale, faces.camera("before", kit.same_face(person, 1)), claim=claim)
    assert len(before.unanswered) == 1
    del before  # killed: nothing is closed or flushed on the way down
    return person, claim, network


def test_a_restarted_till_recovers_the_charge_it_lost_and_never_pays_the_order_again(
    sandbox: kit.Sandbox, faces: kit.SyntheticFaces, tmp_path: Path
) -> None:
    device = sandbox.provision_device(tenant_id="acme")
    journal = tmp_path / "pos" / "facepay-journal.db"
    journal.parent.mkdir()
    sale = basket("POS-1001")
    person, claim, _ = crash_mid_payment(device, sandbox, faces, journal, sale, 81, deliver=True)
    assert booked(sandbox, sale.reference) == [("approved", 1250)]

    with till_process(device, sandbox, faces, journal) as after:
        (entry,) = after.journalled
        assert isinstance(entry, JournalEntry)
        assert (entry.basket_reference, entry.amount_minor, entry.currency) == (
            "POS-1001",
            1250,
            "EUR",
        )
        with pytest.raises(CheckoutError, match=r"recover\(\)"):
            after.start_checkout(sale, claim=claim)  # refused until it is recovered

        (recovered,) = after.recover()
        assert recovered.outcome is RecoveryOutcome.CHARGED
        assert recovered.charged
        assert recovered.receipt is not None
        assert recovered.receipt.approved
        assert recovered.receipt.amount_minor == 1250
        (row,) = kit.rows(sandbox, "SELECT authorization_id, receipt_id FROM authorizations")
        assert (recovered.receipt.authorization_id, recovered.receipt.receipt_id) == row
        assert after.journalled == ()
        assert after.recover() == ()  # settled: nothing left to ask
        with pytest.raises(OrderAlreadyPaidError) as paid:
            after.pay(sale, faces.camera("again", kit.same_face(person, 2)), claim=claim)
        assert paid.value.authorization_id == row[0]

    # A third process on the same journal still refuses the order, before any request.
    with (
        till_process(device, sandbox, faces, journal) as third,
        pytest.raises(OrderAlreadyPaidError),
    ):
        third.start_checkout(sale, claim=claim)
    assert booked(sandbox, sale.reference) == [("approved", 1250)]


def test_a_payment_that_never_arrived_is_not_charged_once_its_session_is_over(
    sandbox: kit.Sandbox, faces: kit.SyntheticFaces, tmp_path: Path
) -> None:
    device = sandbox.provision_device(tenant_id="acme")
    journal = tmp_path / "journal.db"
    sale = basket("POS-1002", 640)
    person, claim, _ = crash_mid_payment(device, sandbox, faces, journal, sale, 82, deliver=False)
    assert booked(sandbox, sale.reference) == []

    with till_process(device, sandbox, faces, journal) as after:
        (entry,) = after.journalled
        assert entry.session_expires_at is not None
        # While its session could still take the request, nobody can say: kept.
        (early,) = after.recover(now=entry.session_expires_at - timedelta(seconds=1))
        assert early.outcome is RecoveryOutcome.UNKNOWN
        assert after.journalled == (entry,)
        with pytest.raises(CheckoutError, match=r"recover\(\)"):
            after.start_checkout(sale, claim=claim)  # still refused meanwhile
        over = entry.session_expires_at + timedelta(seconds=MAX_CLOCK_SKEW_SECONDS + 1)
        (late,) = after.recover(now=over)
        assert late.outcome is RecoveryOutcome.NOT_CHARGED
        assert not late.charged
        assert after.journalled == ()
        receipt = after.pay(sale, faces.camera("after", kit.same_face(person, 2)), claim=claim)
        assert receipt.approved
    assert booked(sandbox, sale.reference) == [("approved", 640)]


def test_the_journal_holds_no_template_seal_or_claim_and_only_its_owner_reads_it(
    sandbox: kit.Sandbox, faces: kit.SyntheticFaces, tmp_path: Path
) -> None:
    device = sandbox.provision_device(tenant_id="acme")
    journal = tmp_path / "journal.db"
    sale = basket("POS-1003", 990)
    _, claim, network = crash_mid_payment(device, sandbox, faces, journal, sale, 83, deliver=True)
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    on_disk = b"".join(p.read_bytes() for p in tmp_path.glob("journal.db*"))
    assert b"POS-1003" in on_disk  # what finding the payment needs is there ...
    import json

    (sent,) = [json.loads(body) for body in network.sent if b"sealed_template" in body]
    sealed = sent["sealed_template"]
    secrets = [
        sealed["ciphertext"].encode(),
        sealed["encapsulated_key"].encode(),
        b64decode(sealed["ciphertext"])[:32],
        b64decode(sealed["encapsulated_key"]),
        claim.value.encode(),
        b"sealed_template",
        b"liveness",
    ]
    for secret in secrets:  # ... and nothing of the face, the seal or the shopper
        assert secret not in on_disk, secret[:12]


def test_an_approved_order_is_refused_by_the_next_till_on_the_journal(
    sandbox: kit.Sandbox, faces: kit.SyntheticFaces, tmp_path: Path
) -> None:
    device = sandbox.provision_device(tenant_id="acme")
    journal = tmp_path / "journal.db"
    sale = basket("POS-1004", 300)
    with till_process(device, sandbox, faces, journal) as first:
        person, claim = enroll(first, faces, 84)
        receipt = first.pay(sale, faces.camera("pay", kit.same_face(person, 1)), claim=claim)
        assert receipt.approved
    with till_process(device, sandbox, faces, journal) as second:
        assert second.journalled == ()
        with pytest.raises(OrderAlreadyPaidError) as refused:
            second.start_checkout(sale, claim=claim)
        assert refused.value.authorization_id == receipt.authorization_id
        assert refused.value.receipt_id == receipt.receipt_id
        assert refused.value.basket_reference == "POS-1004"
    assert booked(sandbox, sale.reference) == [("approved", 300)]


@pytest.mark.parametrize(
    "damage",
    ["random bytes", "another program's database", "cut in half", "a folder"],
)
def test_a_corrupt_or_foreign_journal_is_a_typed_error_and_is_left_as_it_was(
    damage: str, tmp_path: Path
) -> None:
    path = tmp_path / "journal.db"
    if damage == "random bytes":
        path.write_bytes(os.urandom(4096))
    elif damage == "another program's database":
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total INTEGER)")
            conn.execute("INSERT INTO invoices VALUES (1, 4200)")
        conn.close()
    elif damage == "cut in half":
        journal = TillJournal(path, paid_memory=10)
        for n in range(200):
            journal.hold(entry(f"key-{n:04d}", f"SALE-{n}"))
        journal.close()
        whole = path.read_bytes()
        path.write_bytes(whole[: len(whole) // 2] + os.urandom(len(whole) // 2))
    else:
        path.mkdir()
    if not path.is_dir():
        path.chmod(0o644)
    before = None if path.is_dir() else (path.read_bytes(), stat.S_IMODE(path.stat().st_mode))
    with pytest.raises(JournalError):
        TillJournal(path, paid_memory=10)
    with pytest.raises(JournalError):  # the till itself, before any request
        Till.connect(
            "http://127.0.0.1:9",
            device_key=DeviceKey.generate(),
            device_id="lane-9",
            journal=path,
            **kit.SyntheticFaces().till_parts(),
        )
    after = None if path.is_dir() else (path.read_bytes(), stat.S_IMODE(path.stat().st_mode))
    assert after == before  # its bytes and its mode


def entry(key: str, reference: str) -> JournalEntry:
    return JournalEntry(
        idempotency_key=key,
        basket_reference=reference,
        amount_minor=100,
        currency="EUR",
        session_id=f"ses_{key}",
        session_expires_at=datetime(2026, 12, 8, 12, 0, tzinfo=timezone.utc),
        sent_at=datetime(2026, 12, 8, 11, 58, tzinfo=timezone.utc),
    )


def test_the_journal_is_shared_safely_by_the_tills_threads(tmp_path: Path) -> None:
    from facepay.checkout._journal import PaidOrder

    journal = TillJournal(tmp_path / "journal.db", paid_memory=1000)
    errors: list[BaseException] = []

    def lane(n: int) -> None:
        try:
            for i in range(25):
                key = f"k-{n}-{i}"
                journal.hold(entry(key, f"SALE-{n}-{i}"))
                if i % 2:
                    paid = PaidOrder(basket_reference=f"SALE-{n}-{i}", authorization_id=key)
                    journal.settle(key, paid)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=lane, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(journal.unanswered()) == 8 * 13
    assert len(journal.paid_orders()) == 8 * 12
    journal.close()
    reopened = TillJournal(tmp_path / "journal.db", paid_memory=5)
    assert len(reopened.unanswered()) == 8 * 13
    reopened.remember_paid(PaidOrder(basket_reference="LAST", authorization_id="a"))
    assert [p.basket_reference for p in reopened.paid_orders()][-1] == "LAST"
    assert len(reopened.paid_orders()) == 5  # bounded, the oldest forgotten first
    reopened.close()


def test_a_lost_pin_answer_is_journalled_without_the_pin_or_its_seal_and_recovered(
    sandbox: kit.Sandbox, faces: kit.SyntheticFaces, tmp_path: Path
) -> None:
    """The shopper types their PIN for a grey-zone step-up; its answer is lost and the
    POS killed. The journal names the step-up's authorization, never the PIN or the PIN
    as sealed (which the in-memory pending keeps to send again); the next till recovers
    the approval."""
    import numpy as np

    device = sandbox.provision_device(tenant_id="acme")
    journal = tmp_path / "journal.db"
    network = LosingNetwork()
    killed = till_process(device, sandbox, faces, journal, network)
    pin = "7395"
    person = kit.face(85)
    claim = facepay.Claim(kind=facepay.ClaimKind.PHONE, value="+4915177000085")
    killed.enroll(
        faces.camera("enroll-85", person),
        consent=facepay.consent_now("2026-01-en"),
        claim=claim,
        payment_method_token="tok_visa_4242",
        pin=pin,
    )
    unit = person / np.linalg.norm(person)
    other = np.random.default_rng(8).standard_normal(unit.shape[0])
    other -= (other @ unit) * unit
    near = (0.95 * unit + np.sqrt(1 - 0.95**2) * other / np.linalg.norm(other)).astype(np.float32)
    sale = basket("POS-1005", 432)
    session = killed.start_checkout(sale, claim=claim)
    asked = session.pay(faces.camera(sale.reference, near))
    assert asked.step_up == "pin"
    network.lose = True
    with pytest.raises(PaymentUnansweredError) as lost:
        session.answer_step_up(pin)
    sealed_pin = lost.value.pending.step_up_sealed_pin
    assert sealed_pin is not None
    del killed, session

    on_disk = b"".join(p.read_bytes() for p in tmp_path.glob("journal.db*"))
    assert sealed_pin.encode() not in on_disk
    assert b64decode(sealed_pin)[:24] not in on_disk
    with sqlite3.connect(journal) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert tables <= {"unanswered", "paid", "sqlite_sequence"}
        (row,) = conn.execute("SELECT * FROM unanswered").fetchall()
    conn.close()
    assert pin not in [str(value) for value in row]
    assert asked.authorization_id in row  # what finding it needs: the step-up's authorization

    with till_process(device, sandbox, faces, journal) as after:
        (entry,) = after.journalled
        assert entry.step_up_authorization_id == asked.authorization_id
        (recovered,) = after.recover()
        assert recovered.outcome is RecoveryOutcome.CHARGED
        assert recovered.receipt is not None
        assert recovered.receipt.authorization_id == asked.authorization_id
    assert booked(sandbox, sale.reference) == [("approved", 432)]


class DeadNetwork(httpx.BaseTransport):
    """The backend cannot be reached at all."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("no route to the backend", request=request)


def test_recover_with_no_answer_keeps_the_payment_unknown_and_its_order_refused(
    sandbox: kit.Sandbox, faces: kit.SyntheticFaces, tmp_path: Path
) -> None:
    device = sandbox.provision_device(tenant_id="acme")
    journal = tmp_path / "journal.db"
    sale = basket("POS-1006", 510)
    _, claim, _ = crash_mid_payment(device, sandbox, faces, journal, sale, 86, deliver=True)
    with till_process(device, sandbox, faces, journal, DeadNetwork()) as offline:
        (entry,) = offline.journalled
        (unknown,) = offline.recover()
        assert unknown.outcome is RecoveryOutcome.UNKNOWN
        assert offline.journalled == (entry,)
        with pytest.raises(CheckoutError, match=r"recover\(\)"):
            offline.start_checkout(sale, claim=claim)
    # The network is back: the same journal still has it, and the charge is found once.
    with till_process(device, sandbox, faces, journal) as online:
        (found,) = online.recover()
        assert found.charged
    assert booked(sandbox, sale.reference) == [("approved", 510)]

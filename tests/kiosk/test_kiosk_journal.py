"""The kiosk keeps a journal: a kiosk that crashed mid-payment comes back, asks the
backend what became of the payment (``Till.recover``) and never offers the card for a sale
that was charged (docs/kiosk.md, "The till's journal").

Real kiosks (controller, model, screens) over their real ``TillAdapter`` and a real
``facepay.Till`` with a journal file, on the real sandbox over HTTP; the doubles are the
camera (synthetic faces), the network (it loses an answer, or is down) and, where a
session must be over, the till's clock. A "crash" drops the kiosk without settling or
closing its journal; the next kiosk is the same device on the same journal file.
"""

from __future__ import annotations

import functools
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from kiosk_redteam_kit import (
    BANANAS,
    PERSON,
    STAFF_ID,
    STAFF_PIN,
    STORE,
    SyntheticCamera,
    approvals,
    enroll,
    pay_by_face,
    push_sale,
)
from PyQt6.QtWidgets import QApplication

import facepay.testing as kit
from facepay import ClientConfig, Till
from facepay.server import ProvisionedDevice
from facepay.wire import MAX_CLOCK_SKEW_SECONDS
from kiosk_app.__main__ import default_journal
from kiosk_app.adapter import TillAdapter
from kiosk_app.app import apply_theme
from kiosk_app.controller import KioskController
from kiosk_app.model import (
    Outcome,
    OutcomeKind,
    RequestKind,
    Sale,
    StaffDirectory,
    StaffLogin,
)
from kiosk_app.model._machine import Notice
from kiosk_app.pos import PosBridge
from kiosk_app.workers import CameraPlayback

REPO = Path(__file__).resolve().parents[2]


class Network(httpx.BaseTransport):
    """The kiosk's network: ``lose`` drops a payment's answer (``deliver``: the request
    reached the backend first); ``down`` refuses every request."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.lose = False
        self.deliver = True
        self.down = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("the network is down", request=request)
        paying = request.url.path.startswith("/v1/authorizations") and request.method == "POST"
        if paying and self.lose and not self.deliver:
            raise httpx.ConnectError("the cable was pulled", request=request)
        response = self._inner.handle_request(request)
        response.read()
        if paying and self.lose:
            raise httpx.ReadTimeout("the kiosk went down before the answer came", request=request)
        return response

    def close(self) -> None:
        self._inner.close()


@dataclass
class Kiosk:
    c: KioskController
    port: TillAdapter
    network: Network
    card_requests: list[str] = field(default_factory=list)
    completed: list[tuple[str, Outcome]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


@pytest.fixture
def sandbox() -> Iterator[kit.Sandbox]:
    with kit.Sandbox() as sb:
        yield sb


@pytest.fixture
def device(sandbox: kit.Sandbox) -> ProvisionedDevice:
    return sandbox.provision_device(store_id="store-1", lane_id="kiosk-1")


def start(
    qapp: QApplication, sandbox: kit.Sandbox, device: ProvisionedDevice, journal: Path
) -> Kiosk:
    """One kiosk process: its till on ``journal``, as the same device every time."""
    apply_theme(qapp)
    faces = kit.SyntheticFaces()
    network = Network()
    till = Till.connect(
        sandbox.base_url,
        device_key=device.key,
        device_id=device.device_id,
        transport=network,
        client_config=ClientConfig(max_attempts=1),
        journal=journal,
        **faces.till_parts(),
    )
    port = TillAdapter(till, store=STORE, base_url=sandbox.base_url)
    directory = StaffDirectory()
    directory.add(STAFF_ID, STAFF_PIN)
    bridge = PosBridge()
    c = KioskController(
        port=port,
        open_camera=lambda: SyntheticCamera(faces, PERSON),
        bridge=bridge,
        staff=StaffLogin(directory),
        playback=CameraPlayback(pace=False, loop=True, lockstep=True),
        card_reader=lambda: "tok_visa_4242",
    )
    kiosk = Kiosk(c, port, network)
    bridge.card_payment_requested.connect(lambda sale_id, _s: kiosk.card_requests.append(sale_id))
    bridge.sale_completed.connect(lambda sale_id, o: kiosk.completed.append((sale_id, o)))
    c.machine.subscribe(lambda e: kiosk.notices.append(e.key) if isinstance(e, Notice) else None)
    c.widget().resize(1024, 768)
    c.widget().show()
    return kiosk


def crash(kiosk: Kiosk) -> None:
    """The kiosk process dies: nothing settled, the journal not closed."""
    kiosk.c.shutdown()
    kiosk.port.till.client.close()


def stop(kiosk: Kiosk) -> None:
    kiosk.c.shutdown()
    kiosk.port.close()


def lose_a_payment(qtbot: object, kiosk: Kiosk, sale_id: str, *, deliver: bool) -> None:
    """Enroll at the kiosk, then pay ``sale_id`` by face with its answer lost."""
    enroll(qtbot, kiosk.c)
    kiosk.c.enroll_done.done_button.click()
    push_sale(qtbot, kiosk.c, sale_id)
    kiosk.network.lose, kiosk.network.deliver = True, deliver
    assert pay_by_face(qtbot, kiosk.c) == "result"
    assert kiosk.c.result.outcome.kind is OutcomeKind.PAYMENT_UNKNOWN
    assert len(kiosk.port.till.journalled) + len(kiosk.port.till.unanswered) >= 1


def recovered(qtbot: object, kiosk: Kiosk) -> None:
    """``recover_journal`` at start, waited for (its answer reaches the machine)."""
    seen: list[bool] = []
    kiosk.c.machine.subscribe(lambda e: seen.append(type(e).__name__ == "QueueChanged"))
    kiosk.c.recover_journal()
    qtbot.waitUntil(lambda: any(seen), timeout=20_000)  # type: ignore[attr-defined]


def check_payment(qtbot: object, kiosk: Kiosk, sale_id: str, notices: int) -> None:
    """Staff sign in and press "Check payment" for ``sale_id``; wait for its answer."""
    m = kiosk.c.machine
    m.staff_requested()
    m.staff_sign_in(STAFF_ID, STAFF_PIN)
    before = len(kiosk.notices)
    m.settle_payment(sale_id)
    qtbot.waitUntil(  # type: ignore[attr-defined]
        lambda: sale_id in m.paid_sales or len(kiosk.notices) >= before + notices,
        timeout=20_000,
    )
    m.staff_sign_out()


def sale(sale_id: str) -> Sale:
    return Sale(sale_id=sale_id, currency="EUR", lines=(BANANAS,))


def unknown_requests(kiosk: Kiosk) -> list[tuple[str, str]]:
    return [
        (r.sale_id, r.amount_text)
        for r in kiosk.c.machine.queue.of_kind(RequestKind.PAYMENT_UNKNOWN)
    ]


def test_a_kiosk_that_crashed_after_a_charge_settles_the_sale_paid_and_never_offers_the_card(
    qtbot, qapp: QApplication, sandbox: kit.Sandbox, device: ProvisionedDevice, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    journal = tmp_path / "state" / "till-journal"
    journal.parent.mkdir()
    before = start(qapp, sandbox, device, journal)
    lose_a_payment(qtbot, before, "SALE-J1", deliver=True)
    assert approvals(sandbox) == 1  # charged, and the kiosk never heard
    crash(before)

    after = start(qapp, sandbox, device, journal)
    try:
        recovered(qtbot, after)
        m = after.c.machine
        assert "SALE-J1" in m.paid_sales
        assert unknown_requests(after) == []
        [(sale_id, outcome)] = after.completed  # the POS is told the sale is paid
        assert sale_id == "SALE-J1"
        assert outcome.kind is OutcomeKind.APPROVED
        assert outcome.charged
        # The POS sends the sale again after its own restart: no face, no card.
        after.c.bridge.push_basket(sale("SALE-J1"))
        m.choose_card()
        assert after.c.current != "card"
        assert after.card_requests == []
        assert approvals(sandbox) == 1
        assert after.port.till.journalled == ()
    finally:
        stop(after)


def test_a_payment_unknown_at_start_waits_for_staff_and_check_payment_finds_it_charged(
    qtbot, qapp: QApplication, sandbox: kit.Sandbox, device: ProvisionedDevice, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    journal = tmp_path / "till-journal"
    before = start(qapp, sandbox, device, journal)
    lose_a_payment(qtbot, before, "SALE-J2", deliver=True)
    crash(before)

    after = start(qapp, sandbox, device, journal)
    try:
        after.network.down = True  # the backend out of reach when the kiosk starts
        recovered(qtbot, after)
        m = after.c.machine
        assert unknown_requests(after) == [("SALE-J2", "EUR 2.38")]
        assert "SALE-J2" in m.unsettled_sales
        assert "SALE-J2" not in m.paid_sales
        after.c.bridge.push_basket(sale("SALE-J2"))
        assert not m.sale_is_payable()  # no face pay for it
        m.choose_card()
        assert after.c.current != "card"
        assert after.card_requests == []

        check_payment(qtbot, after, "SALE-J2", notices=1)  # still down: still unknown
        assert "attendant.still_unknown" in after.notices
        assert unknown_requests(after) == [("SALE-J2", "EUR 2.38")]

        after.network.down = False
        check_payment(qtbot, after, "SALE-J2", notices=1)
        assert "SALE-J2" in m.paid_sales
        assert unknown_requests(after) == []
        assert [s for s, o in after.completed if o.charged] == ["SALE-J2"]
        assert after.card_requests == []
        assert approvals(sandbox) == 1
    finally:
        stop(after)


@pytest.mark.parametrize("when", ["at_start", "at_check"])
def test_a_payment_that_never_arrived_is_settled_not_charged_and_the_sale_can_be_paid(
    qtbot,
    qapp: QApplication,
    sandbox: kit.Sandbox,
    device: ProvisionedDevice,
    tmp_path: Path,
    when: str,
) -> None:  # type: ignore[no-untyped-def]
    journal = tmp_path / "till-journal"
    before = start(qapp, sandbox, device, journal)
    lose_a_payment(qtbot, before, "SALE-J3", deliver=False)
    assert approvals(sandbox) == 0
    crash(before)

    after = start(qapp, sandbox, device, journal)
    try:
        till = after.port.till
        (entry,) = till.journalled
        assert entry.session_expires_at is not None
        over = entry.session_expires_at + timedelta(seconds=MAX_CLOCK_SKEW_SECONDS + 1)
        real_recover = till.recover
        m = after.c.machine
        if when == "at_start":
            # The till's clock past the payment's session: nothing can take it any more.
            till.recover = functools.partial(real_recover, now=over)  # type: ignore[method-assign]
            recovered(qtbot, after)
        else:
            # Its session still open at start: unknown, staff asked; checked once it is over.
            recovered(qtbot, after)
            assert unknown_requests(after) == [("SALE-J3", "EUR 2.38")]
            till.recover = functools.partial(real_recover, now=over)  # type: ignore[method-assign]
            check_payment(qtbot, after, "SALE-J3", notices=1)
            assert "attendant.not_charged" in after.notices
        assert unknown_requests(after) == []
        assert "SALE-J3" not in m.unsettled_sales
        assert "SALE-J3" not in m.paid_sales
        assert till.journalled == ()
        # Settled as not charged: the shopper pays now, once.
        after.c.bridge.push_basket(sale("SALE-J3"))
        qtbot.waitUntil(lambda: after.c.current == "basket", timeout=5_000)
        assert pay_by_face(qtbot, after.c) == "result"
        assert after.c.result.outcome.kind is OutcomeKind.APPROVED
        assert approvals(sandbox) == 1
    finally:
        stop(after)


def test_the_journal_lives_in_the_kiosks_state_folder() -> None:
    assert default_journal({"XDG_STATE_HOME": "/var/lib/till/state"}) == Path(
        "/var/lib/till/state/facepay-kiosk/till-journal"
    )
    # Unset, empty or relative (the XDG spec says ignore it): ~/.local/state.
    home = Path.home() / ".local" / "state" / "facepay-kiosk" / "till-journal"
    for env in ({}, {"XDG_STATE_HOME": ""}, {"XDG_STATE_HOME": "relative/state"}):
        assert default_journal(env) == home


def test_facepay_kiosk_builds_its_till_on_a_journal_in_its_state_folder(
    tmp_path: Path, eval_dir: Path
) -> None:
    """The real command: its till's journal is made in XDG_STATE_HOME, the folder 0700
    and the file 0600, and a file that is no till journal stops it with one line."""
    state = tmp_path / "state"
    clip = str(eval_dir / "video" / "single_face.mp4")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_STATE_HOME": str(state)}

    def kiosk(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kiosk_app", "--demo", "--camera", clip, "--window", *args],
            capture_output=True,
            text=True,
            timeout=180,
            cwd=REPO,
            env=env,
            check=False,
        )

    result = kiosk("--exit-after", "1")
    assert result.returncode == 0, result.stderr[-2000:]
    journal = state / "facepay-kiosk" / "till-journal"
    assert stat.S_IMODE(journal.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    assert journal.read_bytes()[:16] == b"SQLite format 3\x00"

    foreign = tmp_path / "notes.txt"
    foreign.write_text("not a journal\n")
    refused = kiosk("--exit-after", "1", "--journal", str(foreign))
    assert refused.returncode == 1, refused.stderr[-2000:]
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert refused.stderr.startswith("facepay-kiosk: ")
    assert foreign.read_text() == "not a journal\n"  # left as it was

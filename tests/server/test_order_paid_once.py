"""One order, one charge, at the backend (migration 10): a tenant's basket reference is
approved once, whichever till, lane or worker asks, on SQLite and PostgreSQL.

docs/protocol.md, "Idempotency": a new authorization for an order that already has an
approved payment is ``409 order_already_paid`` naming that payment; nothing of it is
written or charged and its session is not spent. The same request sent again (same key,
same body) still gets its first answer. Declines do not block. Two workers racing on one
order: the database's unique index lets one approval commit.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from server_helpers import Till, face, rows, same_face

from facepay.config import ServerConfig
from facepay.server import Sandbox, open_database
from facepay.server import _storage as storage
from facepay.server._sandbox import SandboxAcquirer

CONFIG = ServerConfig(device_rate_burst=200, device_rate_per_s=100.0)


@pytest.fixture
def sandbox(database_url: str, tmp_path: Path) -> Iterator[Sandbox]:
    with Sandbox(database_url, key_dir=tmp_path / "keys", config=CONFIG) as sb:
        yield sb


def lane(sandbox: Sandbox, name: str, tenant_id: str = "acme") -> Till:
    return Till(sandbox, sandbox.provision_device(tenant_id=tenant_id, lane_id=name))


def order_body(till: Till, reference: str, vector: Any, amount: int = 1999) -> dict[str, Any]:
    body = till.pay_body(vector, amount=amount)
    body["basket_reference"] = reference
    return body


def approved_rows(sandbox: Sandbox, reference: str) -> list[str]:
    return [
        str(r[0])
        for r in rows(
            sandbox,
            "SELECT authorization_id, basket_reference, status FROM authorizations",
        )
        if r[1] == reference and r[2] == "approved"
    ]


def session_used(sandbox: Sandbox, session_id: str) -> bool:
    found = [
        r for r in rows(sandbox, "SELECT session_id, used_at FROM sessions") if r[0] == session_id
    ]
    assert len(found) == 1
    return found[0][1] is not None


def error(r: httpx.Response) -> dict[str, Any]:
    body = r.json()
    assert isinstance(body, dict)
    inner = body["error"]
    assert isinstance(inner, dict)
    return inner


def test_a_second_lane_paying_a_paid_order_is_refused_and_told_which_payment_paid_it(
    sandbox: Sandbox,
) -> None:
    first, second = lane(sandbox, "lane-1"), lane(sandbox, "lane-2")
    shopper = face(31)
    assert first.enroll(shopper).status_code == 201
    order = f"ORDER-{uuid.uuid4().hex[:6]}"
    paid = first.authorize(order_body(first, order, same_face(shopper, 1)))
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "approved"

    again = order_body(second, order, same_face(shopper, 2))
    refused = second.authorize(again)
    assert refused.status_code == 409, refused.text
    assert error(refused)["code"] == "order_already_paid"
    assert error(refused)["authorization_id"] == paid.json()["authorization_id"]
    # Nothing of the refused request written, its session still unspent, one charge.
    assert approved_rows(sandbox, order) == [paid.json()["authorization_id"]]
    assert len([r for r in rows(sandbox, "SELECT basket_reference FROM authorizations")
                if r[0] == order]) == 1  # fmt: skip
    assert not session_used(sandbox, again["session_id"])
    # Refused before the face is opened: a seal nobody could open is refused the same way.
    unopenable = order_body(second, order, same_face(shopper, 4))
    unopenable["sealed_template"]["ciphertext"] = "A" * 64
    refused_unopened = second.authorize(unopenable)
    assert refused_unopened.status_code == 409, refused_unopened.text
    assert error(refused_unopened)["code"] == "order_already_paid"
    # The same till, the same order, another amount: refused the same way.
    assert first.authorize(order_body(first, order, same_face(shopper, 3), 5)).status_code == 409


def test_the_same_request_sent_again_gets_its_first_answer_not_a_refusal(
    sandbox: Sandbox,
) -> None:
    till = lane(sandbox, "lane-1")
    shopper = face(32)
    assert till.enroll(shopper).status_code == 201
    body = order_body(till, "ORDER-RESENT", same_face(shopper, 1))
    key = f"idem_{uuid.uuid4().hex}"
    first = till.authorize(body, key=key)
    assert first.status_code == 200
    assert first.json()["status"] == "approved"
    resent = till.authorize(body, key=key)
    assert resent.status_code == 200, resent.text
    assert resent.headers["Idempotent-Replayed"] == "true"
    assert resent.json()["authorization_id"] == first.json()["authorization_id"]
    assert resent.json()["receipt_id"] == first.json()["receipt_id"]
    # Another key (in a new session) for the same order is a new payment: refused.
    another = order_body(till, "ORDER-RESENT", same_face(shopper, 2))
    assert till.authorize(another, key=f"idem_{uuid.uuid4().hex}").status_code == 409


def test_declines_do_not_block_an_order_and_another_tenant_may_use_its_reference(
    sandbox: Sandbox,
) -> None:
    till = lane(sandbox, "lane-1")
    shopper = face(33)
    assert till.enroll(shopper).status_code == 201
    order = "ORDER-DECLINED-FIRST"
    for stranger in (933, 934):
        declined = till.authorize(order_body(till, order, face(stranger)))
        assert declined.status_code == 200
        assert declined.json()["status"] == "declined"
    approved = till.authorize(order_body(till, order, same_face(shopper, 1)))
    assert approved.status_code == 200
    assert approved.json()["status"] == "approved"

    globex = lane(sandbox, "lane-1", tenant_id="globex")
    theirs = face(34)
    assert globex.enroll(theirs, phone="+15550001234").status_code == 201
    body = globex.pay_body(same_face(theirs, 1), phone="+15550001234")
    body["basket_reference"] = order
    other_tenant = globex.authorize(body)
    assert other_tenant.status_code == 200
    assert other_tenant.json()["status"] == "approved"


class HeldAcquirer(SandboxAcquirer):
    """The acquirer seam of one worker: it puts the money on hold, then waits until told
    to go on, so that another worker's approval of the same order commits in between.
    ``network`` is the card network both workers share (its holds are asserted)."""

    def __init__(self, network: SandboxAcquirer) -> None:
        super().__init__()
        self.network = network
        self.deciding = threading.Event()
        self.go_on = threading.Event()

    def authorize(
        self, payment_token: str, *, amount_minor: int, currency: str, reference: str
    ) -> str | None:
        hold = self.network.authorize(
            payment_token, amount_minor=amount_minor, currency=currency, reference=reference
        )
        self.deciding.set()
        assert self.go_on.wait(60), "the test never let the held payment go on"
        return hold

    def capture(self, hold_id: str) -> None:
        self.network.capture(hold_id)

    def void(self, hold_id: str) -> None:
        self.network.void(hold_id)


def share_one_network(*workers: Sandbox) -> SandboxAcquirer:
    """One card network behind every worker, as in production (the sandbox gives each
    backend its own)."""
    network = SandboxAcquirer()
    for worker in workers:
        assert worker.backend is not None
        worker.backend.acquirer = network
    return network


def holds_of(network: SandboxAcquirer, order: str) -> list[tuple[int, str]]:
    return sorted((h.amount_minor, h.state) for h in network.holds(order))


@pytest.fixture
def workers(database_url: str, tmp_path: Path) -> Iterator[tuple[Sandbox, Sandbox]]:
    keys = tmp_path / "keys"
    first = Sandbox(database_url, key_dir=keys, config=CONFIG).start()
    second = Sandbox(database_url, key_dir=keys, config=CONFIG).start()
    try:
        yield first, second
    finally:
        second.stop()
        first.stop()


def test_two_workers_racing_on_one_order_charge_it_once(
    workers: tuple[Sandbox, Sandbox],
) -> None:
    """Worker 1 decides and holds its approval; worker 2 approves the same order for
    another lane and commits; worker 1 goes on: its write meets the unique index, its
    answer is 409 order_already_paid, nothing of it is written, its session unspent."""
    one, two = workers
    device_1 = one.provision_device(tenant_id="acme", lane_id="lane-1")
    device_2 = one.provision_device(tenant_id="acme", lane_id="lane-2")
    on_one, on_two = Till(one, device_1), Till(two, device_2)
    shopper = face(35)
    assert on_one.enroll(shopper).status_code == 201
    network = share_one_network(one, two)
    held = HeldAcquirer(network)
    assert one.backend is not None
    one.backend.acquirer = held
    order = f"RACE-{uuid.uuid4().hex[:6]}"
    slow_body = order_body(on_one, order, same_face(shopper, 1), amount=1001)
    slow_key = f"idem_{uuid.uuid4().hex}"
    answers: list[httpx.Response] = []
    racer = threading.Thread(target=lambda: answers.append(on_one.authorize(slow_body, slow_key)))
    racer.start()
    try:
        assert held.deciding.wait(60), "worker 1 never reached the acquirer"
        # Worker 1's acquirer holds the money while worker 2 pays the order.
        assert holds_of(network, order) == [(1001, "authorized")]
        fast = on_two.authorize(order_body(on_two, order, same_face(shopper, 2), amount=1002))
        assert fast.status_code == 200, fast.text
        assert fast.json()["status"] == "approved"
    finally:
        held.go_on.set()
        racer.join(60)
    (slow,) = answers
    assert slow.status_code == 409, slow.text
    assert error(slow)["code"] == "order_already_paid"
    assert error(slow)["authorization_id"] == fast.json()["authorization_id"]
    assert approved_rows(one, order) == [fast.json()["authorization_id"]]
    assert not session_used(one, slow_body["session_id"])
    # One hold captured (the approval that committed), the loser's released, none open.
    assert holds_of(network, order) == [(1001, "voided"), (1002, "captured")]
    # Its retry (same key, same body) is refused again, never approved late, never held.
    retried = on_one.authorize(slow_body, slow_key)
    assert retried.status_code == 409
    assert error(retried)["code"] == "order_already_paid"
    assert approved_rows(one, order) == [fast.json()["authorization_id"]]
    assert holds_of(network, order) == [(1001, "voided"), (1002, "captured")]
    on_one.close()
    on_two.close()


def test_migration_10_keeps_an_old_double_payment_and_refuses_new_ones(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ledger that paid an order twice before migration 10 migrates (the second
    approval names the first in duplicate_of); from then on the order is paid once."""
    insert = (
        "INSERT INTO authorizations (authorization_id, tenant_id, device_id, idempotency_key,"
        " request_hash, session_id, amount_minor, currency, basket_reference, status,"
        " response_json, created_at, updated_at) VALUES (?, ?, 'd', ?, 'h', ?, 5, 'EUR', ?,"
        " ?, '{}', ?, ?)"
    )

    def pay(
        db: storage.Database, auth: str, tenant: str, order: str, status: str, at: float
    ) -> None:
        with db.transaction() as tx:
            tx.execute(insert, (auth, tenant, f"k-{auth}", f"s-{auth}", order, status, at, at))

    monkeypatch.setattr(storage, "MIGRATIONS", storage.MIGRATIONS[:9])
    old = open_database(database_url)
    try:
        pay(old, "auth_b", "acme", "ORDER-1", "approved", 2.0)
        pay(old, "auth_a", "acme", "ORDER-1", "approved", 1.0)
        pay(old, "auth_c", "acme", "ORDER-1", "declined", 0.5)
        pay(old, "auth_d", "globex", "ORDER-1", "approved", 3.0)
    finally:
        old.close()
    monkeypatch.undo()
    db = open_database(database_url)
    try:
        with db.transaction() as tx:
            marked = tx.all("SELECT authorization_id, duplicate_of FROM authorizations")
        assert dict((str(a), d) for a, d in marked) == {
            "auth_a": None,
            "auth_b": "auth_a",
            "auth_c": None,
            "auth_d": None,
        }
        with pytest.raises(storage.UniqueViolationError):
            pay(db, "auth_e", "acme", "ORDER-1", "approved", 4.0)
        pay(db, "auth_f", "acme", "ORDER-1", "declined", 4.0)  # a decline still writes
        pay(db, "auth_g", "acme", "ORDER-2", "approved", 4.0)
        pay(db, "auth_h", "acme", "ORDER-2", "step_up", 5.0)
        with pytest.raises(storage.UniqueViolationError), db.transaction() as tx:
            # a step-up approved later is held to the same index
            tx.execute("UPDATE authorizations SET status = 'approved' WHERE authorization_id = ?",
                       ("auth_h",))  # fmt: skip
    finally:
        db.close()


CLAIMLESS = ServerConfig(
    device_rate_burst=200, device_rate_per_s=100.0, false_match_rate=1e-9, match_margin=0.03
)


@pytest.fixture
def claimless_workers(database_url: str, tmp_path: Path) -> Iterator[tuple[Sandbox, Sandbox]]:
    keys = tmp_path / "keys"
    first = Sandbox(database_url, key_dir=keys, config=CLAIMLESS).start()
    second = Sandbox(database_url, key_dir=keys, config=CLAIMLESS).start()
    try:
        yield first, second
    finally:
        second.stop()
        first.stop()


def twins_step_up(till: Till, order: str) -> tuple[str, Any]:
    """Two look-alike shoppers; a claimless payment of ``order`` asks for the last 4
    digits of the phone. Returns (the authorization id, the first twin's face)."""
    twin = face(41)
    assert till.enroll(twin, phone="+4915100001111").status_code == 201
    assert till.enroll(same_face(twin, 99, noise=0.01), phone="+4915100002222").status_code == 201
    body = till.pay_body(twin, phone=None)
    body["basket_reference"] = order
    answer = till.authorize(body).json()
    assert answer["step_up"]["kind"] == "phone_last4", answer
    return str(answer["authorization_id"]), twin


def answer_step_up(till: Till, authorization_id: str, digits: str) -> httpx.Response:
    return till.call(
        "POST",
        f"/v1/authorizations/{authorization_id}/step-up",
        {"phone_last4": digits},
        headers={"Idempotency-Key": f"step-{uuid.uuid4().hex}"},
    )


def test_a_step_up_answered_after_another_lane_paid_the_order_is_refused(
    claimless_workers: tuple[Sandbox, Sandbox],
) -> None:
    one, _ = claimless_workers
    lane_1, lane_2 = lane(one, "lane-1"), lane(one, "lane-2")
    order = f"STEP-{uuid.uuid4().hex[:6]}"
    pending, twin = twins_step_up(lane_1, order)
    # Another lane takes the order meanwhile, the shopper saying who they are.
    paid = lane_2.authorize(
        {**lane_2.pay_body(same_face(twin, 2), phone="+4915100001111"), "basket_reference": order}
    )
    assert paid.json()["status"] == "approved", paid.text
    late = answer_step_up(lane_1, pending, "1111")  # the right digits: would approve
    assert late.status_code == 409, late.text
    assert error(late)["code"] == "order_already_paid"
    assert error(late)["authorization_id"] == paid.json()["authorization_id"]
    assert approved_rows(one, order) == [paid.json()["authorization_id"]]


def test_a_step_up_racing_another_workers_approval_of_its_order_charges_once(
    claimless_workers: tuple[Sandbox, Sandbox],
) -> None:
    """The step-up's approval is held at worker 1's acquirer while worker 2 approves the
    order for another lane: the step-up's write (an UPDATE to approved) meets the index."""
    one, two = claimless_workers
    lane_1 = lane(one, "lane-1")
    lane_2 = Till(two, one.provision_device(tenant_id="acme", lane_id="lane-2"))
    order = f"STEP-RACE-{uuid.uuid4().hex[:6]}"
    pending, twin = twins_step_up(lane_1, order)
    network = share_one_network(one, two)
    held = HeldAcquirer(network)
    assert one.backend is not None
    one.backend.acquirer = held
    answers: list[httpx.Response] = []
    racer = threading.Thread(target=lambda: answers.append(answer_step_up(lane_1, pending, "1111")))
    racer.start()
    try:
        assert held.deciding.wait(60), "worker 1 never reached the acquirer"
        body = lane_2.pay_body(same_face(twin, 2), phone="+4915100001111", amount=1002)
        paid = lane_2.authorize({**body, "basket_reference": order})
        assert paid.json()["status"] == "approved", paid.text
    finally:
        held.go_on.set()
        racer.join(60)
    (late,) = answers
    assert late.status_code == 409, late.text
    assert error(late)["code"] == "order_already_paid"
    assert approved_rows(one, order) == [paid.json()["authorization_id"]]
    statuses = [
        r[1]
        for r in rows(one, "SELECT authorization_id, status FROM authorizations")
        if r[0] == pending
    ]
    assert statuses == ["step_up"]  # nothing of the refused answer was written
    # The step-up's hold (the order's 1999) released, lane 2's captured, none open.
    assert holds_of(network, order) == [(1002, "captured"), (1999, "voided")]


class PaidMeanwhile(SandboxAcquirer):
    """Worker 1's acquirer: once it has put the money on hold, ``meanwhile`` runs (worker
    2 pays the same order); its void can be made to fail (the acquirer unreachable)."""

    def __init__(self, network: SandboxAcquirer, meanwhile: Any, *, void_fails: bool) -> None:
        super().__init__()
        self.network = network
        self.meanwhile = meanwhile
        self.void_fails = void_fails

    def authorize(
        self, payment_token: str, *, amount_minor: int, currency: str, reference: str
    ) -> str | None:
        hold = self.network.authorize(
            payment_token, amount_minor=amount_minor, currency=currency, reference=reference
        )
        self.meanwhile()
        return hold

    def capture(self, hold_id: str) -> None:
        self.network.capture(hold_id)

    def void(self, hold_id: str) -> None:
        if self.void_fails:
            raise ConnectionError("the acquirer cannot be reached")
        self.network.void(hold_id)


@pytest.mark.parametrize("void_fails", [False, True], ids=["voided", "void-unreachable"])
def test_a_payment_whose_order_was_paid_while_its_money_was_held_releases_the_hold(
    workers: tuple[Sandbox, Sandbox], void_fails: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """No threads: worker 2's approval commits from inside worker 1's acquirer call. The
    refused payment's hold is voided; a void that fails is logged (hold id, no token) and
    the answer is still 409 order_already_paid, nothing of it written."""
    one, two = workers
    on_one = Till(one, one.provision_device(tenant_id="acme", lane_id="lane-1"))
    on_two = Till(two, one.provision_device(tenant_id="acme", lane_id="lane-2"))
    shopper = face(36)
    assert on_one.enroll(shopper).status_code == 201
    network = share_one_network(one, two)
    order = f"HELD-{uuid.uuid4().hex[:6]}"
    paid: list[httpx.Response] = []
    assert one.backend is not None
    one.backend.acquirer = PaidMeanwhile(
        network,
        lambda: paid.append(
            on_two.authorize(order_body(on_two, order, same_face(shopper, 2), amount=1002))
        ),
        void_fails=void_fails,
    )
    caplog.set_level("ERROR", logger="facepay.server._payments.answer")
    refused = on_one.authorize(order_body(on_one, order, same_face(shopper, 1), amount=1001))
    assert refused.status_code == 409, refused.text
    assert error(refused)["code"] == "order_already_paid"
    (fast,) = paid
    assert fast.json()["status"] == "approved", fast.text
    assert approved_rows(one, order) == [fast.json()["authorization_id"]]
    logged = [r for r in caplog.records if "could not void" in r.getMessage()]
    if void_fails:
        # Left open at the acquirer (it lapses there), and said so in the log.
        assert holds_of(network, order) == [(1001, "authorized"), (1002, "captured")]
        [hold] = [h.hold_id for h in network.holds(order) if h.state == "authorized"]
        assert len(logged) == 1
        assert hold in logged[0].getMessage()
        assert "tok_" not in logged[0].getMessage()
    else:
        assert holds_of(network, order) == [(1001, "voided"), (1002, "captured")]
        assert logged == []
    on_one.close()
    on_two.close()

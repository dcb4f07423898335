"""Several backend processes on one database (``facepay sandbox serve --workers N``, or
replicas on PostgreSQL): each keeps its own in-memory gallery, the database is the truth.

Two in-process sandboxes on the same database and keys stand in for two replicas, so the
test knows which one answers each request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from server_helpers import PHONE, Till, face, same_face

from facepay.config import ServerConfig
from facepay.server import Sandbox

# Claimless 1:N allowed for any gallery size here, so that path is exercised too.
_CLAIMLESS = ServerConfig(risk_budget=1.0)


@pytest.fixture
def replicas(database_url: str, tmp_path: Path) -> Iterator[tuple[Sandbox, Sandbox]]:
    keys = tmp_path / "keys"
    first = Sandbox(database_url, key_dir=keys, config=_CLAIMLESS).start()
    second = Sandbox(database_url, key_dir=keys, config=_CLAIMLESS).start()
    try:
        yield first, second
    finally:
        second.stop()
        first.stop()


@pytest.fixture
def tills(replicas: tuple[Sandbox, Sandbox]) -> Iterator[tuple[Till, Till]]:
    """One device, talking to the first replica and to the second."""
    first, second = replicas
    device = first.provision_device(tenant_id="acme")
    on_first, on_second = Till(first, device), Till(second, device)
    try:
        yield on_first, on_second
    finally:
        on_first.close()
        on_second.close()


def _status(r: object) -> str:
    import httpx

    assert isinstance(r, httpx.Response)
    assert r.status_code == 200, r.text
    return str(r.json()["status"])


def test_a_shopper_enrolled_on_one_replica_pays_on_another(tills: tuple[Till, Till]) -> None:
    on_first, on_second = tills
    shopper = face(11)
    assert on_first.enroll(shopper).status_code == 201
    # Enrolled after the second replica loaded its galleries: it must still know them.
    claimed = on_second.authorize(on_second.pay_body(same_face(shopper, 1)))
    assert _status(claimed) == "approved"
    other = face(12)
    assert on_first.enroll(other, phone="+15550001234").status_code == 201
    claimless = on_second.authorize(on_second.pay_body(same_face(other, 2), phone=None))
    assert _status(claimless) == "approved"
    assert claimless.json()["masked_payment_method"]


def test_a_shopper_deleted_on_one_replica_cannot_pay_on_another(
    tills: tuple[Till, Till],
) -> None:
    on_first, on_second = tills
    shopper = face(21)
    enrolled = on_first.enroll(shopper)
    assert enrolled.status_code == 201
    # The second replica has it in its gallery now (it paid once) ...
    assert _status(on_second.authorize(on_second.pay_body(same_face(shopper, 1)))) == "approved"
    code = enrolled.json()["privacy_code"]
    deleted = on_first.http.post(
        "/v1/shoppers/delete",
        json={"privacy_code": code, "claim": {"kind": "phone", "value": PHONE}},
    )
    assert deleted.status_code == 200, deleted.text
    # ... and its stale copy must not pay, with the claim or without one.
    for phone in (PHONE, None):
        r = on_second.authorize(on_second.pay_body(same_face(shopper, 3), phone=phone))
        assert _status(r) == "declined"

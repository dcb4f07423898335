"""Issue 12, item 3: one till must not be able to make the backend unable to start.

The attack: enroll one custom model id at two template sizes through two workers. Both
rows committed; every claimless payment of the tenant then failed with 500 and a restart
died in ``load_galleries()``. Now only configured model ids at their configured size are
accepted, each (tenant, model id) is pinned to one size in the database, and a bad stored
row is skipped and logged at load instead of stopping the backend.
"""

from __future__ import annotations

import logging

import pytest
from shoppers_kit import Backends, enroll_body, rows

from facepay.config import ServerConfig
from facepay.testing.protocol_till import face, same_face

_CLAIMLESS = {"risk_budget": 1.0}


def _error(r: object) -> str:
    import httpx

    assert isinstance(r, httpx.Response)
    return str(r.json()["error"]["code"])


def test_a_model_id_the_backend_was_not_configured_for_is_refused(backends: Backends) -> None:
    till = backends.till(backends.start())
    for model_id, dim in (("custom-v1", 64), ("custom-v1", 2048), ("dlib-resnet-v1", 64)):
        r = till.call("POST", "/v1/enrollments", enroll_body(till, face(1, dim), model_id=model_id))
        assert r.status_code == 422, r.text
        assert _error(r) == "template_invalid"
    assert rows(backends.started[0], "SELECT count(*) FROM shoppers") == [(0,)]
    assert rows(backends.started[0], "SELECT count(*) FROM template_models") == [(0,)]


def test_two_workers_cannot_pin_one_model_to_two_sizes(backends: Backends) -> None:
    # The attack, as strong as it gets: the two workers even disagree about the
    # size (a configuration rolled out to one of them first). The database decides.
    first = backends.start(
        ServerConfig(template_models=("dlib-resnet-v1:128", "custom-v1:64"), **_CLAIMLESS)
    )
    second = backends.start(
        ServerConfig(template_models=("dlib-resnet-v1:128", "custom-v1:96"), **_CLAIMLESS)
    )
    device = first.provision_device(tenant_id="acme")
    on_first, on_second = backends.till(first, device), backends.till(second, device)
    ok = on_first.call(
        "POST", "/v1/enrollments", enroll_body(on_first, face(1, 64), model_id="custom-v1")
    )
    assert ok.status_code == 201, ok.text
    refused = on_second.call(
        "POST",
        "/v1/enrollments",
        enroll_body(on_second, face(2, 96), model_id="custom-v1", phone="+15550000002"),
    )
    assert refused.status_code == 422, refused.text
    assert _error(refused) == "template_invalid"
    assert rows(first, "SELECT model_id, template_dim FROM template_models") == [("custom-v1", 64)]
    assert rows(first, "SELECT template_dim FROM shoppers") == [(64,)]
    # A restart of either configuration starts and serves the tenant.
    restarted = backends.start(
        ServerConfig(template_models=("dlib-resnet-v1:128", "custom-v1:64"), **_CLAIMLESS)
    )
    till = backends.till(restarted, device)
    body = till.pay_body(same_face(face(1, 64), 1), phone=None)
    body["sealed_template"] = till.seal(
        same_face(face(1, 64), 1), body["session_id"], model_id="custom-v1"
    )
    paid = till.authorize(body)
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "approved"


def test_a_bad_stored_row_is_skipped_and_logged_at_start(
    backends: Backends, caplog: pytest.LogCaptureFixture
) -> None:
    # Rows written before the size was pinned (an older version): two sizes of one model.
    config64 = ServerConfig(template_models=("dlib-resnet-v1:128", "custom-v1:64"), **_CLAIMLESS)
    config96 = ServerConfig(template_models=("dlib-resnet-v1:128", "custom-v1:96"), **_CLAIMLESS)
    first = backends.start(config64)
    device = first.provision_device(tenant_id="acme")
    till = backends.till(first, device)
    assert (
        till.call(
            "POST", "/v1/enrollments", enroll_body(till, face(1, 64), model_id="custom-v1")
        ).status_code
        == 201
    )
    assert till.enroll(face(3), phone="+15550000003").status_code == 201  # dlib, 128
    rows(first, "DELETE FROM template_models WHERE model_id = 'custom-v1'")
    second = backends.start(config96)
    other = backends.till(second, device)
    assert (
        other.call(
            "POST",
            "/v1/enrollments",
            enroll_body(other, face(2, 96), model_id="custom-v1", phone="+15550000002"),
        ).status_code
        == 201
    )
    assert sorted(rows(first, "SELECT template_dim FROM shoppers")) == [(64,), (96,), (128,)]
    # Migration 4 pins such a pair to the smaller size, as here.
    rows(first, "DELETE FROM template_models")
    rows(
        first,
        "INSERT INTO template_models (tenant_id, model_id, template_dim, pinned_at) "
        "SELECT tenant_id, model_id, min(template_dim), min(enrolled_at) FROM shoppers "
        "GROUP BY tenant_id, model_id",
    )
    # Restart: before the fix load_galleries() raised ValueError here and nothing started.
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="facepay.server._galleries"):
        restarted = backends.start(config64)
    assert restarted.backend is not None
    skipped = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 1, [r.getMessage() for r in caplog.records]
    # Everyone else of the tenant still pays, with a claim and without one.
    till = backends.till(restarted, device)
    claimed = till.authorize(till.pay_body(same_face(face(3), 1), phone="+15550000003"))
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["status"] == "approved"
    body = till.pay_body(same_face(face(1, 64), 2), phone=None)
    body["sealed_template"] = till.seal(
        same_face(face(1, 64), 2), body["session_id"], model_id="custom-v1"
    )
    claimless = till.authorize(body)
    assert claimless.status_code == 200, claimless.text
    assert claimless.json()["status"] == "approved"

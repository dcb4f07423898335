"""Bad input and attacks: each a typed 4xx JSON error, never a 5xx, nothing stored."""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from server_helpers import CONSENT, PHONE, Till, face, make_till, rows, same_face

from facepay.config import ServerConfig
from facepay.crypto import DeviceKey
from facepay.crypto import _hazmat as hazmat
from facepay.crypto._sealing import _template_info
from facepay.server import Sandbox
from facepay.server._errors import ApiError
from facepay.testing import FakeClock
from facepay.wire import b64decode, b64encode


def stored(sandbox: Sandbox) -> tuple[int, int]:
    """(authorizations, shoppers) rows: what a refused request must not add to."""
    auths = rows(sandbox, "SELECT COUNT(*) FROM authorizations")[0][0]
    shoppers = rows(sandbox, "SELECT COUNT(*) FROM shoppers")[0][0]
    return int(auths), int(shoppers)


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code
    assert error["request_id"] == response.headers["X-Request-Id"]
    assert error["message"]


@pytest.fixture
def enrolled(till: Till) -> Till:
    assert till.enroll(face(1)).status_code == 201
    return till


# ------------------------------------------------------------------ signing


def test_unsigned_request_is_refused(till: Till) -> None:
    r = till.call("POST", "/v1/sessions", {"purpose": "pay"}, sign=False)
    assert_error(r, 401, "missing_signature")


def test_unknown_device_is_refused_like_a_bad_signature(sandbox: Sandbox) -> None:
    """An unknown id answers exactly what a wrong key does: an unsigned caller cannot
    tell which device ids exist."""
    till = make_till(sandbox)
    stranger = Till(sandbox, till.device)
    object.__setattr__(
        stranger, "device", type(till.device)("dev_nobody", "acme", "s", "l", DeviceKey.generate())
    )
    assert_error(stranger.call("POST", "/v1/sessions", {"purpose": "pay"}), 401, "bad_signature")


def test_forged_signature_is_refused(sandbox: Sandbox) -> None:
    till = make_till(sandbox)
    forger = Till(sandbox, till.device)
    device = till.device
    object.__setattr__(
        forger,
        "device",
        type(device)(device.device_id, device.tenant_id, "s", "l", DeviceKey.generate()),
    )
    assert_error(forger.call("POST", "/v1/sessions", {"purpose": "pay"}), 401, "bad_signature")


def test_body_swapped_under_a_valid_signature_is_refused(till: Till) -> None:
    from facepay.crypto import sign_request

    signed_body = json.dumps({"purpose": "pay"}).encode()
    headers = sign_request(
        till.device.key,
        device_id=till.device.device_id,
        method="POST",
        target="/v1/sessions",
        body=signed_body,
    )
    headers["content-type"] = "application/json"
    r = till.http.post("/v1/sessions", content=b'{"purpose": "enroll"}', headers=headers)
    assert_error(r, 401, "bad_signature")


@pytest.mark.parametrize("offset", [-301, 301])
def test_clock_skew_over_300_s_is_refused(till: Till, offset: int) -> None:
    r = till.call("POST", "/v1/sessions", {"purpose": "pay"}, timestamp=int(time.time()) + offset)
    assert_error(r, 401, "clock_skew")


@pytest.fixture
def clock() -> FakeClock:
    """The backend's clock, moved by hand (epoch seconds, starting now)."""
    return FakeClock(start=time.time())


def test_skew_within_300_s_is_accepted(tmp_path: Path, clock: FakeClock) -> None:
    # Signed 290 s before the backend's own (stopped) clock: however slowly the request
    # travels, the backend sees exactly that skew.
    with Sandbox(str(tmp_path / "s.db"), key_dir=tmp_path / "k", clock=clock) as sb:
        till = make_till(sb)
        timestamp = int(clock.now) - 290
        r = till.call("POST", "/v1/sessions", {"purpose": "pay"}, timestamp=timestamp)
        assert r.status_code == 201, r.text
        till.close()


def test_replayed_request_is_refused(till: Till) -> None:
    nonce = "nonce-replay-000001"
    first = till.call("POST", "/v1/sessions", {"purpose": "pay"}, nonce=nonce)
    assert first.status_code == 201
    assert_error(
        till.call("POST", "/v1/sessions", {"purpose": "pay"}, nonce=nonce), 401, "nonce_reused"
    )


def _replay_authorize(till: Till, body: dict[str, Any], nonce: str, key: str) -> Any:
    return till.call(
        "POST", "/v1/authorizations", body, nonce=nonce, headers={"Idempotency-Key": key}
    )


@pytest.fixture
def any_enrolled(any_sandbox: Sandbox) -> Iterator[Till]:
    """An enrolled shopper's till, on SQLite and then on PostgreSQL (whose authorize
    commit is one statement)."""
    till = make_till(any_sandbox)
    assert till.enroll(face(1)).status_code == 201
    yield till
    till.close()


def test_a_replayed_authorization_is_refused_and_charges_once(any_enrolled: Till) -> None:
    enrolled = any_enrolled
    """The authorize nonce is recorded in the payment's own commit: the byte-identical
    request played again is refused, it does not get the stored answer back."""
    body = enrolled.pay_body(face(1))
    first = _replay_authorize(enrolled, body, "nonce-pay-replay-01", "idem-pay-replay-01")
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "approved"
    again = _replay_authorize(enrolled, body, "nonce-pay-replay-01", "idem-pay-replay-01")
    assert_error(again, 401, "nonce_reused")
    # A genuine retry signs again (fresh nonce): it gets the first answer, no new charge.
    retry = _replay_authorize(enrolled, body, "nonce-pay-replay-02", "idem-pay-replay-01")
    assert retry.json()["authorization_id"] == first.json()["authorization_id"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    # ... and that retry's nonce is spent too.
    assert_error(
        _replay_authorize(enrolled, body, "nonce-pay-replay-02", "idem-pay-replay-01"),
        401,
        "nonce_reused",
    )
    assert len(rows(enrolled.sandbox, "SELECT authorization_id FROM authorizations")) == 1


def test_a_refused_authorization_cannot_be_replayed_later(any_enrolled: Till) -> None:
    enrolled = any_enrolled
    """A request refused before anything was written (here: a session of another
    purpose) still spends its nonce, so it cannot be played again once it would pass."""
    body = enrolled.pay_body(face(1))
    body["session_id"] = enrolled.session("enroll")
    refused = _replay_authorize(enrolled, body, "nonce-refused-01", "idem-refused-01")
    assert_error(refused, 422, "session_mismatch")
    assert_error(
        _replay_authorize(enrolled, body, "nonce-refused-01", "idem-refused-01"),
        401,
        "nonce_reused",
    )
    assert rows(enrolled.sandbox, "SELECT authorization_id FROM authorizations") == []


def test_a_nonce_is_recorded_by_authentication_itself(any_enrolled: Till) -> None:
    """Below the HTTP layer: the same signed bytes authenticate once; the nonce is in the
    database before any operation runs (no operation ever sees an unrecorded nonce)."""
    from facepay.crypto import sign_request

    backend = any_enrolled.sandbox.backend
    assert backend is not None
    body = b'{"purpose":"pay"}'
    headers = sign_request(
        any_enrolled.device.key,
        device_id=any_enrolled.device.device_id,
        method="POST",
        target="/v1/sessions",
        body=body,
    )
    request = {"method": "POST", "target": "/v1/sessions", "headers": headers, "body": body}
    device = backend.authenticate(**request)  # type: ignore[arg-type]
    assert device.device_id == any_enrolled.device.device_id
    recorded = rows(any_enrolled.sandbox, "SELECT nonce FROM nonces")
    assert (headers["X-FacePay-Nonce"],) in recorded
    with pytest.raises(ApiError) as refused:
        backend.authenticate(**request)  # type: ignore[arg-type]
    assert refused.value.code.value == "nonce_reused"


def test_device_registration_needs_the_enrollment_token(sandbox: Sandbox) -> None:
    till = make_till(sandbox)
    payload = {
        "tenant_id": "acme",
        "store_id": "s",
        "lane_id": "l",
        "public_key": b64encode(DeviceKey.generate().public_key.raw),
    }
    r = till.http.post("/v1/devices", json=payload, headers={"Authorization": "Bearer wrong"})
    assert_error(r, 401, "admin_token_invalid")
    ok = till.http.post(
        "/v1/devices", json=payload, headers={"Authorization": f"Bearer {sandbox.admin_token}"}
    )
    assert ok.status_code == 201
    bad_key = dict(payload, public_key=b64encode(b"\x01" * 31))
    r = till.http.post(
        "/v1/devices", json=bad_key, headers={"Authorization": f"Bearer {sandbox.admin_token}"}
    )
    assert_error(r, 422, "validation_failed")


# ------------------------------------------------------------------ malformed bodies


def test_malformed_json_is_400(enrolled: Till) -> None:
    before = stored(enrolled.sandbox)
    r = enrolled.call(
        "POST",
        "/v1/authorizations",
        body=b'{"amount_minor": 1',
        headers={"Idempotency-Key": "k" * 10},
    )
    assert_error(r, 400, "malformed_request")
    assert stored(enrolled.sandbox) == before


def test_oversize_body_is_413(enrolled: Till) -> None:
    before = stored(enrolled.sandbox)
    body = b'{"pad": "' + b"x" * 70_000 + b'"}'
    r = enrolled.call(
        "POST", "/v1/authorizations", body=body, headers={"Idempotency-Key": "k" * 10}
    )
    assert_error(r, 413, "body_too_large")
    assert stored(enrolled.sandbox) == before


def test_chunked_oversize_body_is_413(enrolled: Till) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b"x" * 1024

    r = enrolled.http.post(
        "/v1/shoppers/export", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_error(r, 413, "body_too_large")


def test_wrong_content_type_is_415(enrolled: Till) -> None:
    r = enrolled.call(
        "POST", "/v1/sessions", {"purpose": "pay"}, headers={"content-type": "text/plain"}
    )
    assert_error(r, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount_minor": 0}, "amount_minor"),
        ({"amount_minor": -5}, "amount_minor"),
        ({"amount_minor": "1999"}, "amount_minor"),
        ({"amount_minor": 19.99}, "amount_minor"),
        ({"amount_minor": True}, "amount_minor"),
        ({"currency": "XXX"}, "currency"),
        ({"currency": "eur"}, "currency"),
        ({"basket_reference": ""}, "basket_reference"),
        ({"unexpected": 1}, "*"),  # an unknown key is the request's own text: not echoed
        ({"liveness": {"decision": "live", "score": 2.0}}, "liveness.score"),
    ],
)
def test_schema_violations_are_422_and_name_the_field(
    enrolled: Till, change: dict[str, Any], field: str
) -> None:
    before = stored(enrolled.sandbox)
    body = dict(enrolled.pay_body(face(1)), **change)
    r = enrolled.authorize(body)
    assert_error(r, 422, "validation_failed")
    assert field in r.json()["error"]["fields"]
    assert stored(enrolled.sandbox) == before


def test_nan_liveness_score_is_refused(enrolled: Till) -> None:
    body = enrolled.pay_body(face(1))
    text = json.dumps(body).replace('"score": 0.97', '"score": NaN')
    r = enrolled.call(
        "POST", "/v1/authorizations", body=text.encode(), headers={"Idempotency-Key": "k" * 12}
    )
    assert r.status_code in (400, 422)
    assert r.json()["error"]["code"] in ("malformed_request", "validation_failed")


def test_missing_idempotency_key_is_refused(enrolled: Till) -> None:
    r = enrolled.call("POST", "/v1/authorizations", enrolled.pay_body(face(1)))
    assert_error(r, 422, "idempotency_key_missing")


def test_card_number_is_never_accepted_nor_echoed(till: Till) -> None:
    sid = till.session("enroll")
    pan = "4242 4242 4242 4242"
    r = till.call(
        "POST",
        "/v1/enrollments",
        {
            "session_id": sid,
            "sealed_template": till.seal(face(1), sid),
            "consent": CONSENT,
            "payment_method_token": pan,
            "claim": {"kind": "phone", "value": PHONE},
        },
    )
    assert_error(r, 422, "card_number_rejected")
    assert "4242 4242" not in r.text
    assert stored(till.sandbox) == (0, 0)


def test_unknown_payment_token_is_refused(till: Till) -> None:
    assert_error(till.enroll(face(1), token="tok_made_up"), 422, "unknown_payment_token")
    assert stored(till.sandbox) == (0, 0)


def test_second_enrollment_of_a_claim_is_refused(till: Till) -> None:
    assert till.enroll(face(1)).status_code == 201
    # The shopper's own face learns it; any other face gets the answer a new claim gets
    # (tests/security/test_attack_shoppers_enrollment.py). Nothing is stored either way.
    assert_error(till.enroll(same_face(face(1), 1)), 409, "claim_already_enrolled")
    assert till.enroll(face(2)).status_code == 201
    assert stored(till.sandbox) == (0, 1)


# ------------------------------------------------------------------ sealed templates


def _raw_seal(till: Till, session_id: str, plaintext: bytes) -> dict[str, str]:
    """Seal arbitrary plaintext exactly as seal_template would (to smuggle bad vectors)."""
    pk = till.public_key
    info = _template_info(
        session_id=session_id, key_id=pk.key_id, suite=pk.suite, tenant_id="", device_id=""
    )
    suite = hazmat.hpke_suite(hybrid=pk.suite.hybrid, aes=pk.suite.aes)
    blob = hazmat.hpke_seal(
        suite, hazmat.hpke_public_from_bytes(pk.raw, pk.suite.hybrid), plaintext, info
    )
    n = hazmat.hpke_enc_length(hybrid=pk.suite.hybrid)
    return {
        "key_id": pk.key_id,
        "suite": pk.suite.value,
        "encapsulated_key": b64encode(blob[:n]),
        "ciphertext": b64encode(blob[n:]),
        "session_id": session_id,
    }


def _template_bytes(vector: np.ndarray, model_id: str = "dlib-resnet-v1") -> bytes:
    model = model_id.encode()
    header = struct.pack(">4sHHB", b"FPT\x01", vector.shape[0], 1, len(model))
    return header + model + vector.astype("<f4").tobytes()


def _with_sealed(till: Till, make: Callable[[str, dict[str, Any]], dict[str, Any]]) -> Any:
    body = till.pay_body(face(1))
    body["sealed_template"] = make(body["session_id"], body["sealed_template"])
    return till.authorize(body)


def _flip_last(s: dict[str, Any]) -> dict[str, Any]:
    raw = bytearray(b64decode(s["ciphertext"]))
    raw[-1] ^= 1
    return dict(s, ciphertext=b64encode(bytes(raw)))


def _truncate(s: dict[str, Any]) -> dict[str, Any]:
    return dict(s, ciphertext=b64encode(b64decode(s["ciphertext"])[:-7]))


def _short_enc(s: dict[str, Any]) -> dict[str, Any]:
    return dict(s, encapsulated_key=b64encode(b64decode(s["encapsulated_key"])[:20]))


@pytest.mark.parametrize(
    ("mutate", "status", "code"),
    [
        (lambda t, sid, s: _flip_last(s), 422, "sealed_template_invalid"),
        (lambda t, sid, s: _truncate(s), 422, "sealed_template_invalid"),
        (lambda t, sid, s: _short_enc(s), 422, "sealed_template_invalid"),
        (lambda t, sid, s: dict(s, key_id="seal-unknown"), 422, "unknown_key_id"),
        (lambda t, sid, s: dict(s, session_id="ses_other"), 422, "session_mismatch"),
        (
            lambda t, sid, s: _raw_seal(t, sid, _template_bytes(np.full(128, np.nan, np.float32))),
            422,
            "sealed_template_invalid",
        ),
        (
            lambda t, sid, s: _raw_seal(t, sid, _template_bytes(np.full(128, np.inf, np.float32))),
            422,
            "sealed_template_invalid",
        ),
        (
            lambda t, sid, s: _raw_seal(t, sid, _template_bytes(face(1, 64))),
            422,
            "template_invalid",
        ),
        (
            lambda t, sid, s: _raw_seal(t, sid, _template_bytes(np.zeros(128, np.float32))),
            422,
            "template_invalid",
        ),
        (lambda t, sid, s: _raw_seal(t, sid, b"not a template"), 422, "sealed_template_invalid"),
    ],
    ids=[
        "tampered",
        "truncated",
        "short-enc",
        "unknown-key",
        "other-session",
        "nan",
        "inf",
        "wrong-size",
        "zero",
        "garbage",
    ],
)
def test_bad_sealed_templates_are_refused_and_store_nothing(
    enrolled: Till, mutate: Any, status: int, code: str
) -> None:
    before = stored(enrolled.sandbox)
    r = _with_sealed(enrolled, lambda sid, s: mutate(enrolled, sid, s))
    assert_error(r, status, code)
    assert stored(enrolled.sandbox) == before


def test_template_replayed_from_another_session_is_refused(enrolled: Till) -> None:
    captured = enrolled.pay_body(face(1))
    later = enrolled.pay_body(face(1))
    # The attacker relabels the captured upload with the new session id: HPKE says no.
    later["sealed_template"] = dict(captured["sealed_template"], session_id=later["session_id"])
    assert_error(enrolled.authorize(later), 422, "sealed_template_invalid")


def test_session_of_another_device_is_refused(sandbox: Sandbox) -> None:
    a, b = make_till(sandbox), make_till(sandbox)
    a.enroll(face(1))
    body = a.pay_body(face(1))
    assert_error(b.authorize(body), 422, "session_mismatch")


@pytest.fixture
def short_sessions(tmp_path: Path, clock: FakeClock) -> Iterator[Sandbox]:
    sb = Sandbox(
        str(tmp_path / "s.db"),
        key_dir=tmp_path / "k",
        config=ServerConfig(session_ttl_s=0.5),
        clock=clock,
    ).start()
    yield sb
    sb.stop()


def test_expired_session_is_refused(short_sessions: Sandbox, clock: FakeClock) -> None:
    till = make_till(short_sessions)
    body = till.pay_body(face(1))
    clock.advance(0.7)  # past the 0.5 s session TTL, on the backend's clock
    assert_error(till.authorize(body), 410, "session_expired")
    assert stored(short_sessions) == (0, 0)


# ------------------------------------------------------------------ every response


def test_every_response_has_a_request_id_and_json_errors(till: Till) -> None:
    for r in (
        till.http.get("/v1/health"),
        till.http.get("/v1/nope"),
        till.http.delete("/v1/keys"),
        till.http.get("/openapi.json"),
    ):
        assert r.headers["X-Request-Id"]
        assert r.headers["X-FacePay-Protocol"] == "1"
    assert_error(till.http.get("/v1/nope"), 404, "not_found")
    assert_error(till.http.delete("/v1/keys"), 405, "method_not_allowed")
    mine = till.http.get("/v1/health", headers={"X-Request-Id": "pos-trace-12345"})
    assert mine.headers["X-Request-Id"] == "pos-trace-12345"


def test_openapi_lists_every_endpoint(till: Till) -> None:
    paths = set(till.http.get("/openapi.json").json()["paths"])
    assert {
        "/v1/health",
        "/v1/keys",
        "/v1/devices",
        "/v1/sessions",
        "/v1/enrollments",
        "/v1/authorizations",
        "/v1/authorizations/{authorization_id}/step-up",
        "/v1/shoppers/export",
        "/v1/shoppers/withdraw-consent",
        "/v1/shoppers/delete",
    } <= paths

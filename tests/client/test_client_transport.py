"""The client's shared plumbing against httpx.MockTransport: signing, retries, error mapping.

The transport is the seam (no monkeypatching): each test scripts the backend's answers.
"""

from __future__ import annotations

import json
import logging
import random
import ssl
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx
import pytest

from facepay.client import AsyncFacePayClient, Call, FacePayClient, new_idempotency_key
from facepay.client._base import encode_json
from facepay.config import ClientConfig
from facepay.errors import (
    AuthenticationError,
    IdempotencyConflictError,
    RateLimitedError,
    RequestRejectedError,
    ServerError,
    SessionExpiredError,
    TransportError,
)
from facepay.testing import SignedAnswers

BASE = "https://pay.example.test"
# A backend on another host is reached only with its answer key pinned.
PINNED = ClientConfig(answer_key_pin="0" * 64)


class RecordingSigner:
    """Signs like a device key would: a fresh nonce per call, over method, path and body."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bytes]] = []

    def sign_request(
        self, method: str, path: str, body: bytes, idempotency_key: str | None = None
    ) -> Mapping[str, str]:
        self.calls.append((method, path, body))
        # A nonce of the protocol's form: the backend's answer is bound to it.
        return {"X-Facepay-Device": "dev_1", "X-Facepay-Nonce": f"nonce-{len(self.calls):011d}"}


def scripted(
    answers: list[Callable[[httpx.Request], httpx.Response]],
) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers[min(len(seen), len(answers)) - 1](request)

    return SignedAnswers(httpx.MockTransport(handler)), seen


def ok(payload: object) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(200, json=payload, headers={"X-Request-Id": "srv-1"})


def status(code: int, body: object = None, **headers: str) -> Callable[..., httpx.Response]:
    return lambda request: httpx.Response(code, json=body, headers=headers)


def boom(exc: type[httpx.TransportError]) -> Callable[[httpx.Request], httpx.Response]:
    def raise_(request: httpx.Request) -> httpx.Response:
        raise exc("simulated", request=request)

    return raise_


def client(
    transport: httpx.MockTransport, sleeps: list[float] | None = None, **config: object
) -> FacePayClient:
    sleeps = sleeps if sleeps is not None else []
    return FacePayClient(
        BASE,
        signer=RecordingSigner(),
        transport=transport,
        config=ClientConfig(**config),  # type: ignore[arg-type]
        sleep=sleeps.append,
        rng=random.Random(7),
    )


def get_call() -> Call[object]:
    return Call(method="GET", path="/v1/keys", parse=lambda p: p)


def post_call(key: str | None = None) -> Call[object]:
    return Call(
        method="POST",
        path="/v1/authorizations",
        body=encode_json({"amount": 1250, "currency": "EUR"}),
        idempotency_key=key,
        parse=lambda p: p,
    )


def test_every_attempt_is_signed_afresh_over_the_exact_body() -> None:
    transport, seen = scripted([status(503), ok({"ok": True})])
    c = client(transport)
    assert c.send(post_call(key="idem_1")) == {"ok": True}
    signer = c.signer
    assert isinstance(signer, RecordingSigner)
    assert len(signer.calls) == 2
    assert [r.headers["X-Facepay-Nonce"] for r in seen] == [
        "nonce-00000000001",
        "nonce-00000000002",
    ]
    for (method, path, body), request in zip(signer.calls, seen, strict=True):
        assert (method, path) == ("POST", "/v1/authorizations")
        assert body == request.content
    # One request id for the logical call, reused on its retry so the backend can correlate.
    assert seen[0].headers["X-Request-Id"] == seen[1].headers["X-Request-Id"]


def test_idempotency_key_is_the_same_on_every_retry() -> None:
    transport, seen = scripted([boom(httpx.ReadTimeout), status(502), ok({"state": "approved"})])
    key = new_idempotency_key()
    assert client(transport).send(post_call(key=key)) == {"state": "approved"}
    assert [r.headers["Idempotency-Key"] for r in seen] == [key, key, key]


def test_post_without_key_is_not_retried_after_it_may_have_arrived() -> None:
    transport, seen = scripted([boom(httpx.ReadTimeout), ok({})])
    with pytest.raises(TransportError) as err:
        client(transport).send(post_call(key=None))
    assert len(seen) == 1
    assert err.value.status is None
    assert err.value.code == "no_answer"
    assert err.value.request_id == seen[0].headers["X-Request-Id"]


def test_post_without_key_is_not_retried_after_a_5xx() -> None:
    transport, seen = scripted([status(503), ok({})])
    with pytest.raises(ServerError):
        client(transport).send(post_call(key=None))
    assert len(seen) == 1


def test_a_connect_failure_is_retried_for_any_method_because_nothing_was_sent() -> None:
    transport, seen = scripted([boom(httpx.ConnectError), ok({"n": 1})])
    assert client(transport).send(post_call(key=None)) == {"n": 1}
    assert len(seen) == 2


def test_get_is_retried_with_bounded_full_jitter_backoff() -> None:
    transport, seen = scripted([status(500), status(503), status(504), ok({"k": 1})])
    sleeps: list[float] = []
    c = client(transport, sleeps, max_attempts=4, backoff_initial_s=0.1, backoff_max_s=0.3)
    assert c.send(get_call()) == {"k": 1}
    assert len(seen) == 4
    assert len(sleeps) == 3
    for attempt, delay in enumerate(sleeps):
        assert 0.0 <= delay <= min(0.3, 0.1 * 2**attempt)


def test_gives_up_after_max_attempts_with_the_last_error() -> None:
    transport, seen = scripted([status(503, {"error": {"code": "down", "message": "m"}})])
    with pytest.raises(ServerError) as err:
        client(transport, max_attempts=3).send(get_call())
    assert len(seen) == 3
    assert (err.value.status, err.value.code) == (503, "down")


@pytest.mark.parametrize(
    ("code", "body", "expected"),
    [
        (401, {"error": {"code": "unknown_device", "message": "who?"}}, AuthenticationError),
        (403, {"error": {"code": "bad_signature", "message": "no"}}, AuthenticationError),
        (
            409,
            {"error": {"code": "idempotency_conflict", "message": "x"}},
            IdempotencyConflictError,
        ),
        (410, {"error": {"code": "gone", "message": "x"}}, SessionExpiredError),
        (400, {"error": {"code": "session_expired", "message": "x"}}, SessionExpiredError),
        (422, {"detail": [{"loc": ["body"], "msg": "bad"}]}, RequestRejectedError),
        (400, {"detail": "plain fastapi detail"}, RequestRejectedError),
        (500, None, ServerError),
    ],
)
def test_error_answers_map_to_typed_errors_with_status_code_and_request_id(
    code: int, body: object, expected: type[Exception]
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(code, json=body, headers={"X-Request-Id": "srv-42"})

    transport, seen = scripted([answer])
    with pytest.raises(expected) as err:
        client(transport, max_attempts=1).send(post_call(key="idem_x"))
    e = err.value
    assert type(e) is expected
    assert e.status == code  # type: ignore[attr-defined]
    assert e.request_id == "srv-42"  # type: ignore[attr-defined]
    if isinstance(body, dict) and "error" in body:
        assert e.code == body["error"]["code"]  # type: ignore[attr-defined]
    assert len(seen) == 1


def test_rate_limit_carries_retry_after_and_is_not_retried() -> None:
    transport, seen = scripted(
        [status(429, {"error": {"code": "locked_out", "message": "wait"}}, **{"Retry-After": "12"})]
    )
    with pytest.raises(RateLimitedError) as err:
        client(transport).send(post_call(key="idem_1"))
    assert err.value.retry_after == 12.0
    assert err.value.code == "locked_out"
    assert len(seen) == 1


def test_unreadable_success_is_a_server_error_not_a_crash() -> None:
    def parse(payload: object) -> int:
        assert isinstance(payload, dict)
        return int(payload["n"])

    transport, _ = scripted([lambda r: httpx.Response(200, content=b"<html>proxy</html>")])
    with pytest.raises(ServerError) as err:
        client(transport, max_attempts=1).send(Call(method="GET", path="/v1/x", parse=parse))
    assert err.value.code == "bad_response"


def test_one_info_line_per_request_without_bodies(caplog: pytest.LogCaptureFixture) -> None:
    transport, _ = scripted([status(503), ok({"secret": "tok_visa_4242"})])
    body = {"sealed": "c2VjcmV0LXRlbXBsYXRl", "token": "tok_visa_4242"}
    call = Call(
        method="POST",
        path="/v1/enrollments",
        body=encode_json(body),
        idempotency_key="idem_enroll",
        parse=lambda p: p,
    )
    with caplog.at_level(logging.INFO, logger="facepay.client"):
        client(transport).send(call)
    lines = [r.getMessage() for r in caplog.records if r.name == "facepay.client"]
    assert len(lines) == 2
    assert lines[0].startswith("POST /v1/enrollments -> 503 request_id=")
    assert lines[1].startswith("POST /v1/enrollments -> 200 request_id=")
    assert all(" ms" in line for line in lines)
    text = "\n".join(lines)
    assert "tok_visa" not in text
    assert "c2VjcmV0" not in text


def test_unsigned_calls_and_base_url_prefix() -> None:
    transport, seen = scripted([ok({})])
    c = FacePayClient(BASE + "/facepay/", signer=RecordingSigner(), transport=transport)
    c.send(Call(method="GET", path="/v1/keys", params={"a": "1"}, parse=lambda p: p, signed=False))
    assert str(seen[0].url) == BASE + "/facepay/v1/keys?a=1"
    assert "X-Facepay-Nonce" not in seen[0].headers
    assert seen[0].headers["Accept"] == "application/json"


def test_signed_path_is_the_path_the_backend_sees() -> None:
    transport, seen = scripted([ok({})])
    signer = RecordingSigner()
    c = FacePayClient(BASE + "/facepay", signer=signer, transport=transport)
    c.send(Call(method="GET", path="/v1/x", params={"q": "a b"}, parse=lambda p: p))
    assert signer.calls[0][1] == seen[0].url.raw_path.decode() == "/facepay/v1/x?q=a+b"


def test_tls_verification_is_on_by_default() -> None:
    assert ClientConfig().verify_tls is True
    with FacePayClient(BASE, config=PINNED) as c:
        pool = c._http._transport._pool  # type: ignore[attr-defined]
        assert pool._ssl_context.verify_mode == ssl.CERT_REQUIRED
        assert pool._ssl_context.check_hostname is True


def test_bad_base_url_is_refused() -> None:
    with pytest.raises(ValueError, match="http"):
        FacePayClient("ftp://x")
    with pytest.raises(ValueError, match="base_url"):
        FacePayClient("")


async def test_async_client_shares_the_same_rules() -> None:
    seen: list[httpx.Request] = []
    answers = [boom(httpx.ReadTimeout), status(503), ok({"state": "approved"})]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers[len(seen) - 1](request)

    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    signer = RecordingSigner()
    async with AsyncFacePayClient(
        BASE, signer=signer, transport=SignedAnswers(httpx.MockTransport(handler)), sleep=fake_sleep
    ) as c:
        assert await c.send(post_call(key="idem_a")) == {"state": "approved"}
        assert len(seen) == 3
        assert len(sleeps) == 2
        assert {r.headers["Idempotency-Key"] for r in seen} == {"idem_a"}
        assert len({r.headers["X-Facepay-Nonce"] for r in seen}) == 3
        seen.clear()
        answers[:] = [boom(httpx.ReadTimeout)]
        with pytest.raises(TransportError):
            await c.send(post_call(key=None))
        assert len(seen) == 1
        assert json.loads(seen[0].content) == {"amount": 1250, "currency": "EUR"}


def test_a_private_ca_bundle_keeps_verification_on(tmp_path: Path) -> None:
    import certifi

    bundle = tmp_path / "acquirer-ca.pem"
    bundle.write_bytes(Path(certifi.where()).read_bytes())
    with FacePayClient(
        BASE, config=ClientConfig(ca_bundle=str(bundle), answer_key_pin="0" * 64)
    ) as c:
        context = c._http._transport._pool._ssl_context  # type: ignore[attr-defined]
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname is True


def test_sync_and_async_clients_offer_the_same_calls() -> None:
    import inspect

    def calls(cls: type) -> dict[str, list[str]]:
        return {
            name: list(inspect.signature(fn).parameters)
            for name, fn in inspect.getmembers(cls, inspect.isfunction)
            if not name.startswith("_") and name not in ("close", "aclose")
        }

    sync, async_ = calls(FacePayClient), calls(AsyncFacePayClient)
    assert sync == async_
    assert {"authorize", "reconcile", "answer_step_up", "open_session", "enroll"} <= set(sync)
    for name in sync:
        if name not in calls(FacePayClient.__mro__[1]):  # the shared builder's own methods
            assert inspect.iscoroutinefunction(getattr(AsyncFacePayClient, name)), name

"""One HTTP path per route: the checkout's hot endpoints (open a session, authorize)
are answered by FastAPI's routes like every other, behind the protocol middleware that
authenticates. Good and bad requests get the protocol's answers and typed errors, with
the status each error code documents (docs/protocol.md, "Errors")."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import httpx
import pytest
from fastapi.routing import APIRoute
from server_helpers import Till, face, same_face

from facepay.crypto import sign_request
from facepay.server import Sandbox, create_app
from facepay.server._app import status_of
from facepay.server._middleware import ProtocolMiddleware
from facepay.wire import ErrorCode

Headers = Callable[[bytes], dict[str, str]]


def _client(sandbox: Sandbox) -> httpx.AsyncClient:
    backend = sandbox.backend
    assert backend is not None
    transport = httpx.ASGITransport(app=create_app(backend), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://till.test")


def _signed(till: Till, path: str, **extra: str) -> Headers:
    def headers(body: bytes) -> dict[str, str]:
        h = {"content-type": "application/json", **extra}
        h.update(
            sign_request(
                till.device.key,
                device_id=till.device.device_id,
                method="POST",
                target=path,
                body=body,
                idempotency_key=h.get("Idempotency-Key"),
            )
        )
        return h

    return headers


def _unsigned(content_type: str = "application/json") -> Headers:
    return lambda body: {"content-type": content_type}


async def _post(sandbox: Sandbox, path: str, body: bytes, headers: Headers) -> httpx.Response:
    async with _client(sandbox) as client:
        return await client.post(path, content=body, headers=headers(body))


def _typed_error(answer: httpx.Response) -> str:
    """The error's code, after checking the answer is the protocol's typed error."""
    error = answer.json()["error"]
    code = ErrorCode(error["code"])
    assert answer.status_code == status_of(code), answer.text
    assert answer.headers["content-type"] == "application/json"
    assert error["request_id"] == answer.headers["x-request-id"]
    assert answer.headers["x-facepay-protocol"]
    return code.value


def test_every_route_is_fastapis_and_documented(sandbox: Sandbox) -> None:
    """No route answered beside FastAPI's: the middleware hands every request on, and
    the served OpenAPI document lists the checkout's routes it answers."""
    backend = sandbox.backend
    assert backend is not None
    app = create_app(backend)
    assert isinstance(app, ProtocolMiddleware)
    assert not hasattr(app, "lean")
    routes = {
        (method, route.path)
        for route in app.fastapi.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    assert {("POST", "/v1/sessions"), ("POST", "/v1/authorizations")} <= routes
    paths = app.fastapi.openapi()["paths"]
    assert "post" in paths["/v1/sessions"]
    assert "post" in paths["/v1/authorizations"]


async def test_a_checkout_is_answered_by_the_one_path(sandbox: Sandbox, till: Till) -> None:
    assert till.enroll(face(1)).status_code == 201
    body = json.dumps({"purpose": "pay"}).encode()
    opened = await _post(sandbox, "/v1/sessions", body, _signed(till, "/v1/sessions"))
    assert opened.status_code == 201, opened.text
    assert opened.json()["purpose"] == "pay"
    assert opened.json()["session_id"]
    assert opened.headers["content-type"] == "application/json"
    pay = json.dumps(till.pay_body(same_face(face(1), 5))).encode()
    key = f"idem_{uuid.uuid4().hex}"
    headers = _signed(till, "/v1/authorizations", **{"Idempotency-Key": key})
    async with _client(sandbox) as client:
        first = await client.post("/v1/authorizations", content=pay, headers=headers(pay))
        again = await client.post("/v1/authorizations", content=pay, headers=headers(pay))
    assert first.status_code == again.status_code == 200, first.text
    assert first.json()["status"] == "approved"
    assert first.headers["idempotent-replayed"] == "false"
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert first.headers["content-type"] == "application/json"


@pytest.mark.parametrize("path", ["/v1/sessions", "/v1/authorizations"])
async def test_bad_requests_get_typed_errors(sandbox: Sandbox, till: Till, path: str) -> None:
    key = {"Idempotency-Key": f"idem_{uuid.uuid4().hex}"}
    signed = _signed(till, path, **key)
    cases: list[tuple[bytes, Headers, str]] = [
        # The signature is checked before anything else about the request.
        (b'{"purpose": ', _unsigned(), "missing_signature"),
        (b'{"purpose": "pay"}', _unsigned("text/plain"), "missing_signature"),
        (b'{"purpose": "pay"}', _unsigned(), "missing_signature"),
        (b'{"purpose": ', signed, "malformed_request"),
        (b'{"purpose": "\xff\xfe"}', signed, "malformed_request"),
        (b"[" * 5_000, signed, "malformed_request"),  # too deep for json.loads
        (
            b'{"purpose": "pay"}',
            _signed(till, path, **key, **{"content-type": "text/plain"}),
            "unsupported_media_type",
        ),
        (b'{"purpose": "pay"}', lambda body: signed(b"{}"), "bad_signature"),
        (b"", signed, "validation_failed"),
        (b'{"amount_minor": NaN, "purpose": 7}', signed, "validation_failed"),
        (b'["not", "an", "object"]', signed, "validation_failed"),
    ]
    if path == "/v1/authorizations":
        cases.append((b'{"amount_minor": 1}', _signed(till, path), "idempotency_key_missing"))
    for body, headers, code in cases:
        answer = await _post(sandbox, path, body, headers)
        assert _typed_error(answer) == code, (body[:40], answer.text)


async def test_a_crash_is_a_typed_500(
    sandbox: Sandbox, till: Till, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = sandbox.backend
    assert backend is not None

    def boom(*args: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(backend, "create_session", boom)
    body = json.dumps({"purpose": "pay"}).encode()
    answer = await _post(sandbox, "/v1/sessions", body, _signed(till, "/v1/sessions"))
    assert _typed_error(answer) == "internal_error"
    assert "fire" not in answer.text

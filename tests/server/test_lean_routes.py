"""The checkout's hot endpoints (open a session, authorize) are answered by a lean ASGI
route, not FastAPI's router: the same requests, good and bad, must get the same answers
through both. The reference is the same app with the lean routes switched off."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from server_helpers import Till, face, same_face

from facepay.crypto import sign_request
from facepay.server import Sandbox, create_app
from facepay.server._app import _ProtocolMiddleware

Headers = Callable[[bytes], dict[str, str]]


def _clients(sandbox: Sandbox) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
    backend = sandbox.backend
    assert backend is not None
    lean = create_app(backend)
    assert isinstance(lean, _ProtocolMiddleware)
    assert set(lean.lean) == {("POST", "/v1/sessions"), ("POST", "/v1/authorizations")}
    reference = _ProtocolMiddleware(
        lean.fastapi, backend.config.max_body_bytes, 1, backend=backend, run=lean.run
    )

    def client(app: Any) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        return httpx.AsyncClient(transport=transport, base_url="http://till.test")

    return client(lean), client(reference)


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


async def _both(
    sandbox: Sandbox, path: str, body: bytes, headers: Headers
) -> tuple[httpx.Response, httpx.Response]:
    """The request through the lean route, then through FastAPI (fresh signature each:
    a nonce is good once)."""
    lean, reference = _clients(sandbox)
    async with lean, reference:
        a = await lean.post(path, content=body, headers=headers(body))
        b = await reference.post(path, content=body, headers=headers(body))
    return a, b


def _same_error(a: httpx.Response, b: httpx.Response) -> str:
    assert a.status_code == b.status_code, (a.text, b.text)
    assert a.headers["content-type"] == b.headers["content-type"] == "application/json"
    assert a.headers.get("retry-after") == b.headers.get("retry-after")
    ea, eb = a.json()["error"], b.json()["error"]
    assert ea["request_id"] == a.headers["x-request-id"]
    for key in ("code", "message", "fields", "retry_after"):
        assert ea.get(key) == eb.get(key), key
    return str(ea["code"])


async def test_a_checkout_gets_the_same_answers_through_both(sandbox: Sandbox, till: Till) -> None:
    assert till.enroll(face(1)).status_code == 201
    # Open a session.
    body = json.dumps({"purpose": "pay"}).encode()
    a, b = await _both(sandbox, "/v1/sessions", body, _signed(till, "/v1/sessions"))
    assert a.status_code == b.status_code == 201
    assert a.json().keys() == b.json().keys()
    assert a.json()["session_id"] != b.json()["session_id"]
    # Authorize: two payments (two sessions), each approved with the same headers.
    answers = []
    for client_is_lean in (True, False):
        pay = json.dumps(till.pay_body(same_face(face(1), 5))).encode()
        lean, reference = _clients(sandbox)
        key = f"idem_{uuid.uuid4().hex}"
        headers = _signed(till, "/v1/authorizations", **{"Idempotency-Key": key})
        async with lean, reference:
            client = lean if client_is_lean else reference
            first = await client.post("/v1/authorizations", content=pay, headers=headers(pay))
            again = await client.post("/v1/authorizations", content=pay, headers=headers(pay))
        answers.append((first, again))
    for first, again in answers:
        assert first.status_code == again.status_code == 200
        assert first.json()["status"] == "approved"
        assert first.headers["idempotent-replayed"] == "false"
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
        assert first.headers["content-type"] == "application/json"
    (lean_first, _), (reference_first, _) = answers
    assert lean_first.json().keys() == reference_first.json().keys()


@pytest.mark.parametrize("path", ["/v1/sessions", "/v1/authorizations"])
async def test_bad_requests_get_the_same_typed_errors(
    sandbox: Sandbox, till: Till, path: str
) -> None:
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
    seen = []
    for body, headers, code in cases:
        a, b = await _both(sandbox, path, body, headers)
        seen.append(_same_error(a, b))
        assert seen[-1] == code, (body[:40], a.text)


async def test_a_crash_is_a_typed_500_through_both(
    sandbox: Sandbox, till: Till, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = sandbox.backend
    assert backend is not None

    def boom(*args: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(backend, "create_session", boom)
    body = json.dumps({"purpose": "pay"}).encode()
    a, b = await _both(sandbox, "/v1/sessions", body, _signed(till, "/v1/sessions"))
    assert _same_error(a, b) == "internal_error"
    assert "fire" not in a.text

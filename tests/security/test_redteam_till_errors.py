"""Red team, the till's side: error answers written by whoever sits between till and
backend. A POS logs a facepay error's text and shows its ``retry_after`` to the shopper;
before, both came straight from the answer: a message with newlines forged whole lines in
the POS's log (``... INFO payment approved order=...``), a 100 kB message went into every
log line, any string was a ``code``, and ``Retry-After: nan`` or ``1e12`` parked a lane.

The client is the product; the double is the network (``httpx.MockTransport`` answering
as a proxy would). No backend state is involved, so there is no database here.
"""

from __future__ import annotations

import math
import traceback
from typing import Any

import httpx
import pytest

from facepay.client import FacePayClient
from facepay.client._base import MAX_RETRY_AFTER_S
from facepay.config import ClientConfig
from facepay.errors import BackendError, RateLimitedError
from facepay.testing import SignedAnswers

FORGED_LINE = "\n2026-12-08 01:00:00 INFO pos.payments payment approved order=SALE-9 amount=999.99"


def answered(status: int, body: Any = None, **headers: str) -> BackendError:
    def handler(request: httpx.Request) -> httpx.Response:
        if body is None:
            return httpx.Response(status, headers=headers, request=request)
        return httpx.Response(status, json=body, headers=headers, request=request)

    config = ClientConfig(max_attempts=1)
    client = FacePayClient(
        "http://x", transport=SignedAnswers(httpx.MockTransport(handler)), config=config
    )
    with client, pytest.raises(BackendError) as err:
        client.get_keys()
    return err.value


def test_an_error_answer_cannot_forge_log_lines_flood_them_or_make_up_a_code() -> None:
    for body in (
        {"error": {"code": "validation_failed", "message": "refused" + FORGED_LINE}},
        {"error": {"code": "x\ninjected", "message": "m" * 100_000, "request_id": "r\nforged"}},
        {"detail": {"code": "Bad Code!", "message": "\x1b[2J\x1b[Hcleared" + FORGED_LINE}},
        {"error": "approved\nforged"},
    ):
        error = answered(422, body)
        logged = "".join(traceback.format_exception_only(error))
        assert logged.count("\n") == 1, logged  # one line, the one the POS writes
        assert "\x1b" not in logged
        assert len(str(error)) <= 400
        assert error.code in (None, "validation_failed")
        assert error.request_id is not None
        assert "\n" not in error.request_id
    # A request id echoed in the header is one only when it looks like one.
    echoed = answered(
        422, {"error": {"code": "validation_failed"}}, **{"X-Request-Id": "r " * 3000}
    )
    assert echoed.request_id is not None
    assert len(echoed.request_id) == 32  # the till's own
    # (control) The backend's own error keeps its code, message and request id.
    real = answered(
        422,
        {"error": {"code": "validation_failed", "message": "amount_minor", "request_id": "r-1"}},
    )
    assert (real.code, real.request_id) == ("validation_failed", "r-1")
    assert str(real).endswith("validation_failed: amount_minor")


def test_a_forged_wait_is_finite_and_bounded() -> None:
    waits: list[float | None] = []
    for headers, body in (
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "inf"}, None),
        ({"Retry-After": "1e12"}, None),
        ({"Retry-After": "-5"}, None),
        ({}, {"error": {"code": "locked_out", "message": "wait", "retry_after": 1e12}}),
        ({}, {"error": {"code": "locked_out", "message": "wait", "retry_after": -1}}),
    ):
        error = answered(429, body, **headers)
        assert isinstance(error, RateLimitedError)
        waits.append(error.retry_after)
    assert waits == [None, None, MAX_RETRY_AFTER_S, 0.0, MAX_RETRY_AFTER_S, 0.0]
    assert all(w is None or math.isfinite(w) for w in waits)
    # (control) The backend's own wait is kept as sent.
    lockout = answered(
        429, {"error": {"code": "locked_out", "message": "w"}}, **{"Retry-After": "300"}
    )
    assert isinstance(lockout, RateLimitedError)
    assert lockout.retry_after == 300.0

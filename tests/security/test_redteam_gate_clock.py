"""The request gate keeps time by the backend's one clock (``BackendContext.clock``), as
every other part does: the skew window that bounds how long a recorded request stays
playable, and the device-key cache, move with a clock set on the backend's context
(before, the gate held a clock of its own and aged its key cache on ``time.monotonic``).
A real backend on SQLite, then PostgreSQL (tests/conftest.py), and a raw till."""

from __future__ import annotations

import time

from requests_kit import send

from facepay.server import Sandbox
from facepay.server._devices import DEVICE_CACHE_S
from facepay.testing.protocol_till import ProtocolTill


def test_the_skew_window_follows_the_clock_set_on_the_context(
    backend: Sandbox, till: ProtocolTill
) -> None:
    assert backend.backend is not None
    later = time.time() + 3600.0
    backend.backend.context.clock = lambda: later
    # Signed now, answered an hour later by the backend's clock: out of the window.
    stale, _ = send(till, "/v1/sessions", {"purpose": "pay"})
    assert stale.status_code == 401, stale.text
    assert stale.json()["error"]["code"] == "clock_skew"
    # Signed at the backend's time: accepted.
    fresh, _ = send(till, "/v1/sessions", {"purpose": "pay"}, timestamp=int(later))
    assert fresh.status_code == 201, fresh.text


def test_the_device_key_cache_ages_on_the_backends_clock(
    backend: Sandbox, till: ProtocolTill
) -> None:
    assert backend.backend is not None
    gate = backend.backend.gate
    now = [time.time()]
    backend.backend.clock = lambda: now[0]
    device_id = till.device.device_id
    gate.forget(device_id)
    row, cached = gate._cached(device_id)
    assert row is not None
    assert not cached
    assert gate._cached(device_id)[1]
    now[0] += DEVICE_CACHE_S / 2
    assert gate._cached(device_id)[1]
    now[0] += DEVICE_CACHE_S  # older than the cache keeps it: read again
    assert not gate._cached(device_id)[1]
    assert gate._cached(device_id)[1]
    now[0] -= 60.0  # the clock went back: the entry is not trusted longer
    assert not gate._cached(device_id)[1]

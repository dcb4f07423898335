"""The client follows a rotation of the backend's answer key only as the pinned key
endorsed it (docs/protocol.md, "Signed answers": rotation). The backend is scripted
(httpx.MockTransport) and its answers signed by ``facepay.testing.SignedAnswers``."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from facepay import wire
from facepay.client import FacePayClient
from facepay.config import ClientConfig
from facepay.crypto import ReceiptSigner, answer_key_pin, endorse_next_answer_key
from facepay.errors import ServerError
from facepay.testing import SignedAnswers

BASE = "https://pay.example.test"


def key_set(
    current: ReceiptSigner, upcoming: ReceiptSigner | None, endorser: ReceiptSigner
) -> Callable[[httpx.Request], httpx.Response]:
    """A key set naming ``upcoming`` as the next answer key, endorsed by ``endorser``."""
    body: dict[str, object] = {
        "current_key_id": "k1",
        "keys": [
            {
                "key_id": "k1",
                "suite": "x25519-hkdf-sha256-chacha20poly1305",
                "public_key": wire.b64encode(bytes(32)),
                "status": "current",
            }
        ],
        "receipt_key_id": current.key_id,
        "receipt_public_key": current.public_key.to_base64(),
    }
    if upcoming is not None:
        body["next_answer_key"] = {
            "public_key": upcoming.public_key.to_base64(),
            "endorsement": endorse_next_answer_key(endorser, upcoming.public_key.raw),
        }
    return lambda request: httpx.Response(200, json=body)


def health(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200, json={"status": "ok", "server_version": "t", "server_time": "2026-01-01T00:00:00Z"}
    )


def test_a_next_key_the_pinned_key_endorsed_is_followed_and_the_old_key_dropped() -> None:
    current, upcoming = ReceiptSigner.generate(), ReceiptSigner.generate()
    now = SignedAnswers(
        httpx.MockTransport(key_set(current, upcoming, current)),
        signer=current,
    )
    after = SignedAnswers(httpx.MockTransport(health), signer=upcoming)
    before = SignedAnswers(httpx.MockTransport(health), signer=current)
    transports = [now, after, before]

    class Switching(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            return transports.pop(0).handle_request(request)

    config = ClientConfig(answer_key_pin=answer_key_pin(current.public_key.raw), max_attempts=1)
    with FacePayClient(BASE, config=config, transport=Switching()) as client:
        client.get_keys()  # signed by the pinned key, endorsing the next one
        assert client.health().status == "ok"  # signed by the next key: followed
        assert client.answer_key_pin == answer_key_pin(upcoming.public_key.raw)
        with pytest.raises(ServerError) as err:  # the rotated-out key: no more
            client.health()
        assert err.value.code == "answer_mismatch"


def test_a_next_key_not_endorsed_by_the_pinned_key_is_refused_and_never_followed() -> None:
    current, upcoming, stranger = (ReceiptSigner.generate() for _ in range(3))
    config = ClientConfig(answer_key_pin=answer_key_pin(current.public_key.raw), max_attempts=1)
    misendorsed = SignedAnswers(
        httpx.MockTransport(key_set(current, upcoming, stranger)),
        signer=current,
    )
    with FacePayClient(BASE, config=config, transport=misendorsed) as client:
        with pytest.raises(ServerError) as err:
            client.get_keys()
        assert err.value.code == "answer_mismatch"
    # Without an endorsement seen, an answer of another key is never followed.
    unseen = SignedAnswers(httpx.MockTransport(health), signer=upcoming)
    with FacePayClient(BASE, config=config, transport=unseen) as client:
        with pytest.raises(ServerError):
            client.health()
        assert client.answer_key_pin == answer_key_pin(current.public_key.raw)

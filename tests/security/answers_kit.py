"""What the signed-answer red team suites (test_redteam_answers_*.py) share: the tools of
a proxy between a pinned till and the backend (``till_kit.RewritingProxy``): its own
signing key, a recorded genuine answer handed back, signature headers stripped."""

from __future__ import annotations

from typing import Any

import httpx

from facepay import wire
from facepay.crypto import ReceiptSigner, answer_nonce, sign_answer

__all__ = [
    "ANSWER_HEADERS",
    "handed_back",
    "proxy_signed",
    "stripped",
]

ANSWER_HEADERS = (wire.HEADER_ANSWER_KEY, wire.HEADER_ANSWER_SIGNATURE)


def proxy_signed(
    request: httpx.Request, status: int, body: dict[str, Any], signer: ReceiptSigner
) -> httpx.Response:
    """An answer the proxy made, signed as the backend signs, bound to this very request,
    with the proxy's own key (the only one it holds)."""
    content = httpx.Response(status, json=body).content
    headers = sign_answer(
        signer,
        method=request.method,
        target=request.url.raw_path.decode("ascii"),
        nonce=answer_nonce(
            request.headers.get(wire.HEADER_NONCE), request.headers.get(wire.HEADER_ANSWER_NONCE)
        ),
        status=status,
        body=content,
    )
    return httpx.Response(
        status,
        headers={"Content-Type": "application/json", **headers},
        content=content,
        request=request,
    )


def handed_back(recorded: httpx.Response, request: httpx.Request) -> httpx.Response:
    """A genuine answer recorded earlier, status, headers (signature too) and body byte for
    byte, handed to ``request`` instead of its own."""
    return httpx.Response(
        recorded.status_code,
        headers=recorded.headers.multi_items(),
        content=recorded.content,
        request=request,
    )


def stripped(response: httpx.Response, request: httpx.Request) -> httpx.Response:
    """``response`` without its signature headers."""
    kept = [(k, v) for k, v in response.headers.multi_items() if k not in _LOWER]
    return httpx.Response(
        response.status_code, headers=kept, content=response.content, request=request
    )


_LOWER = {h.lower() for h in ANSWER_HEADERS}

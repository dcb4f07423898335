"""A scripted backend's answers, signed as the real backend signs them.

Every answer a till believes is signed by the backend's answer key and bound to the
request's nonce (docs/protocol.md, "Signed answers"). A test that scripts the backend
with ``httpx.MockTransport`` wraps it in :class:`SignedAnswers`, which signs what the
script answers with a key of its own (:attr:`SignedAnswers.pin` is its pin), exactly as
the backend's middleware does; the client under test checks the signature for real. A
test that makes up one answer of a running :class:`Sandbox` (a lockout it would give
after five failures) signs it with that sandbox's own key: :func:`signed_by_sandbox`.
No attacker holds that key: an answer made up by a proxy is never signed with it.
"""

from __future__ import annotations

import httpx

from facepay import wire
from facepay.crypto import ReceiptSigner, answer_key_pin, answer_nonce, sign_answer
from facepay.server import Sandbox

__all__ = ["SignedAnswers", "signed_by_sandbox"]


class SignedAnswers(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """``transport``'s answers, each signed for the request it answers (sync and async)."""

    def __init__(
        self,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport,
        *,
        signer: ReceiptSigner | None = None,
    ) -> None:
        self._inner = transport
        self.signer = signer if signer is not None else ReceiptSigner.generate()

    @property
    def pin(self) -> str:
        """The pin of the key that signs (``ClientConfig.answer_key_pin``)."""
        return answer_key_pin(self.signer.public_key.raw)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(self._inner, httpx.BaseTransport):
            raise TypeError("a sync client needs a sync transport")
        response = self._inner.handle_request(request)
        return self._signed(request, response, response.read())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(self._inner, httpx.AsyncBaseTransport):
            raise TypeError("an async client needs an async transport")
        response = await self._inner.handle_async_request(request)
        return self._signed(request, response, await response.aread())

    def _signed(
        self, request: httpx.Request, response: httpx.Response, body: bytes
    ) -> httpx.Response:
        headers = sign_answer(
            self.signer,
            method=request.method,
            target=request.url.raw_path.decode("ascii"),
            nonce=answer_nonce(
                request.headers.get(wire.HEADER_NONCE),
                request.headers.get(wire.HEADER_ANSWER_NONCE),
            ),
            status=response.status_code,
            body=body,
        )
        dropped = {"content-encoding", "transfer-encoding"}
        kept = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in dropped]
        return httpx.Response(
            response.status_code,
            headers=[*kept, *headers.items()],
            content=body,
            request=request,
        )


def signed_by_sandbox(sandbox: Sandbox, response: httpx.Response) -> httpx.Response:
    """``response`` (with its ``request``) signed with ``sandbox``'s own answer key for the
    request it answers: the backend's genuine answer, for a test of what a till does
    with one."""
    backend = sandbox.backend
    if backend is None:
        raise RuntimeError("the sandbox is not running")
    request = response.request
    body = response.read()
    headers = backend.vault.sign_answer(
        method=request.method,
        target=request.url.raw_path.decode("ascii"),
        nonce=answer_nonce(
            request.headers.get(wire.HEADER_NONCE), request.headers.get(wire.HEADER_ANSWER_NONCE)
        ),
        status=response.status_code,
        body=body,
    )
    dropped = {"content-encoding", "transfer-encoding"}
    kept = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in dropped]
    return httpx.Response(
        response.status_code, headers=[*kept, *headers.items()], content=body, request=request
    )

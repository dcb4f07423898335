"""The asynchronous payment backend client: the same calls as :class:`FacePayClient`."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TypeVar

import httpx

from facepay.client._base import (
    BaseClient,
    Call,
    RequestSigner,
    ms_since,
    new_request_id,
)
from facepay.config import ClientConfig
from facepay.errors import BackendError

__all__ = ["AsyncFacePayClient"]

T = TypeVar("T")


class AsyncFacePayClient(BaseClient):
    """Talks to the payment backend over HTTPS from asyncio code.

    Shares building, signing, retry decisions and error mapping with
    :class:`FacePayClient`; only sending and sleeping are asynchronous. ``transport``
    accepts ``httpx.MockTransport`` or ``httpx.ASGITransport`` in tests.
    """

    def __init__(
        self,
        base_url: str,
        *,
        signer: RequestSigner | None = None,
        config: ClientConfig | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(base_url, signer=signer, config=config, rng=rng)
        self._sleep = sleep
        self._http = httpx.AsyncClient(transport=transport, **self._client_kwargs())

    async def send(self, call: Call[T]) -> T:
        """Send ``call``, retrying only where safe; return its parsed answer."""
        request_id = new_request_id()
        attempt = 0
        while True:
            request = self.build_request(call, request_id)
            started = time.perf_counter()
            error: BackendError
            try:
                response = await self._http.send(request)
            except httpx.TransportError as exc:
                self.log(call, None, request_id, ms_since(started))
                error = self.transport_error(call, exc, request_id)
            else:
                self.log(call, response.status_code, request_id, ms_since(started))
                try:
                    return self.read_response(call, response, request_id)
                except BackendError as exc:
                    error = exc
            if not self.should_retry(call, attempt, error):
                raise error
            await self._sleep(self.backoff_delay(attempt))
            attempt += 1

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncFacePayClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

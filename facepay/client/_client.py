"""The synchronous payment backend client."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
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

__all__ = ["FacePayClient"]

T = TypeVar("T")


class FacePayClient(BaseClient):
    """Talks to the payment backend over HTTPS, blocking.

    ``transport`` is the seam for tests (``httpx.MockTransport``) and for custom network
    stacks; ``signer`` signs every request as the till's device (``facepay.DeviceKey``).
    Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        signer: RequestSigner | None = None,
        config: ClientConfig | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(base_url, signer=signer, config=config, rng=rng)
        self._sleep = sleep
        self._http = httpx.Client(transport=transport, **self._client_kwargs())

    def send(self, call: Call[T]) -> T:
        """Send ``call``, retrying only where safe; return its parsed answer."""
        request_id = new_request_id()
        attempt = 0
        while True:
            request = self.build_request(call, request_id)
            started = time.perf_counter()
            error: BackendError
            try:
                response = self._http.send(request)
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
            self._sleep(self.backoff_delay(attempt))
            attempt += 1

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FacePayClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

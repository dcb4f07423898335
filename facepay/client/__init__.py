"""The payment backend client: sync and async over one shared request builder.

``FacePayClient`` (blocking) and ``AsyncFacePayClient`` (asyncio) send the same calls,
built, signed and mapped to :mod:`facepay.errors` by the same code; only the I/O differs.
"""

from facepay.client._async_client import AsyncFacePayClient
from facepay.client._base import Call, RequestSigner, new_idempotency_key
from facepay.client._client import FacePayClient

__all__ = [
    "AsyncFacePayClient",
    "Call",
    "FacePayClient",
    "RequestSigner",
    "new_idempotency_key",
]

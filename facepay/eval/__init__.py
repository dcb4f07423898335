"""facepay.eval: evaluation and benchmark harnesses behind ``facepay eval`` / ``facepay bench``.

The network fault layer is public, so a retailer can run their own integration through
it: :class:`FaultyTransport` / :class:`AsyncFaultyTransport` (httpx transports that drop,
delay, reset, duplicate and 5xx a seeded share of requests, configured by
:class:`FaultPlan`), :class:`FaultyTcpProxy` (a loopback proxy that cuts connections
mid-stream) and :class:`RecordingTransport` (keeps every body it carries).
"""

from facepay.eval._faults import (
    AsyncFaultyTransport,
    FaultKind,
    FaultLog,
    FaultPlan,
    FaultyTcpProxy,
    FaultyTransport,
    RecordedExchange,
    RecordingTransport,
)

__all__ = [
    "AsyncFaultyTransport",
    "FaultKind",
    "FaultLog",
    "FaultPlan",
    "FaultyTcpProxy",
    "FaultyTransport",
    "RecordedExchange",
    "RecordingTransport",
]

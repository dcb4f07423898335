"""A free loopback port, for a server a test or benchmark starts (a sandbox process, a
PostgreSQL cluster) or for an address where nothing listens."""

from __future__ import annotations

import socket

__all__ = ["free_port"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the OS picked it and it was
    let go again); the caller binds it next."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

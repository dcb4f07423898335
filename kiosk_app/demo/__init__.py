"""The demo till behind ``facepay-kiosk --demo``: nothing here is used on a real lane.

* :data:`DEMO_CATALOGUE` -- the products the demo's on-screen "scanner" offers, one of them
  age-restricted so staff approval can be tried;
* :class:`DemoCardReader` -- hands out the sandbox's test card *tokens* (the ids of the wire's
  sandbox table, docs/protocol.md). It never names a card number or a masked card: what the
  shopper sees is the backend's own masked method, from the enrollment or payment answer;
* :func:`connect_demo_till` / :func:`start_demo_backend` -- the embedded sandbox on loopback,
  this kiosk registered with it, a :class:`~kiosk_app.adapter.TillAdapter` over its till;
* :func:`demo_staff` -- one demo staff account with a PIN made for this run (printed on the
  terminal at start, never in ``--help`` or on the screen).
"""

from __future__ import annotations

from kiosk_app.demo._backend import connect_demo_till, start_demo_backend
from kiosk_app.demo._catalogue import (
    DEMO_CARD_TOKENS,
    DEMO_CATALOGUE,
    DemoCardReader,
    Product,
    demo_staff,
)

__all__ = [
    "DEMO_CARD_TOKENS",
    "DEMO_CATALOGUE",
    "DemoCardReader",
    "Product",
    "connect_demo_till",
    "demo_staff",
    "start_demo_backend",
]

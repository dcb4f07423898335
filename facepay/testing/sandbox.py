"""The reference backend in this process, on a loopback port, and a till registered with it.

``Sandbox`` is the backend an operator runs (``facepay.server``), not a fake: SQLite by
default, PostgreSQL when given a DSN. :func:`connect_till` registers a device with it and
connects a real :class:`facepay.Till`, as a lane's installer would.
"""

from __future__ import annotations

from typing import Any

from facepay.checkout import Till
from facepay.server import ProvisionedDevice, Sandbox

__all__ = ["ProvisionedDevice", "Sandbox", "connect_till"]


def connect_till(
    sandbox: Sandbox,
    *,
    tenant_id: str = "demo-retailer",
    store_id: str = "store-1",
    lane_id: str = "lane-1",
    **till_options: Any,
) -> Till:
    """Register a new device with ``sandbox`` and connect a :class:`Till` as it.

    ``till_options`` go to :meth:`Till.connect` (``liveness``, ``analyzer``, ``clock``...);
    its ``client_config`` gets the sandbox's answer key pin.
    """
    device = sandbox.provision_device(tenant_id=tenant_id, store_id=store_id, lane_id=lane_id)
    # The till pins the sandbox's answer key, as a retailer's installer would.
    till_options["client_config"] = sandbox.client_config(till_options.get("client_config"))
    return Till.connect(
        sandbox.base_url, device_key=device.key, device_id=device.device_id, **till_options
    )

"""The demo's embedded sandbox and the till registered with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from facepay import (
    CheckoutConfig,
    DlibResNetEmbedder,
    FrameAnalyzer,
    Sandbox,
    Till,
    fixed_liveness_plan,
    seeded_liveness,
)
from kiosk_app.adapter import TillAdapter
from kiosk_app.model import StoreProfile

__all__ = ["DEMO_PRIVACY_URL", "connect_demo_till", "start_demo_backend"]

# Where the demo says a shopper manages their data. A retailer configures its own public
# page (``--privacy-url``); the sandbox's page is on loopback, which no shopper's phone can
# reach, so the demo names a placeholder in the reserved example.com domain (RFC 2606).
DEMO_PRIVACY_URL = "https://privacy.example.com/facepay"


def connect_demo_till(
    sandbox: Sandbox,
    *,
    currency: str = "EUR",
    challenges: tuple[str, ...] = (),
    claimless_allowed: bool = False,
    camera_name: str | None = None,
    lane_id: str = "kiosk-1",
    privacy_url: str = DEMO_PRIVACY_URL,
    **till_options: Any,
) -> TillAdapter:
    """Register a kiosk with a running sandbox and build its adapter.

    ``challenges``: a fixed liveness plan for a recorded clip standing in for a camera (a
    clip cannot answer random prompts); empty = drawn from the backend's seed, as on a real
    till. ``till_options`` go to ``Till.connect`` (analyzer, embedder, transport, config).
    """
    device = sandbox.provision_device(store_id="demo-store", lane_id=lane_id)
    # The models load once and are kept, so staff settings rebuild the Till without them.
    analyzer = till_options.pop("analyzer", None) or FrameAnalyzer()
    embedder = till_options.pop("embedder", None) or DlibResNetEmbedder()
    config = till_options.pop("config", None) or CheckoutConfig()

    def liveness(cfg: CheckoutConfig) -> Any:
        return fixed_liveness_plan(*challenges) if challenges else seeded_liveness(cfg)

    till = Till.connect(
        sandbox.base_url,
        device_key=device.key,
        device_id=device.device_id,
        claimless_allowed=claimless_allowed,
        config=config,
        liveness=liveness(config),
        analyzer=analyzer,
        embedder=embedder,
        **till_options,
    )
    store = StoreProfile(
        store_name="facepay demo store",
        currency=currency,
        claimless_allowed=claimless_allowed,
        operator="the facepay sandbox on this computer",
        retention_days=1095,
        privacy_url=privacy_url,
    )
    return TillAdapter(
        till,
        store=store,
        base_url=sandbox.base_url,
        camera_name=camera_name,
        rebuild_till=lambda new: Till(
            till.client,
            analyzer=analyzer,
            embedder=embedder,
            liveness=liveness(new),
            config=new,
            claimless_allowed=claimless_allowed,
        ),
    )


def start_demo_backend(
    *,
    currency: str = "EUR",
    challenges: tuple[str, ...] = (),
    claimless_allowed: bool = False,
    camera_name: str | None = None,
    privacy_url: str = DEMO_PRIVACY_URL,
    journal: Path | None = None,
) -> TillAdapter:
    """Start the embedded sandbox on loopback, register this kiosk, load the models.
    ``journal``: the till's journal file (``Till(journal=...)``)."""
    sandbox = Sandbox().start()
    try:
        adapter = connect_demo_till(
            sandbox,
            currency=currency,
            challenges=challenges,
            claimless_allowed=claimless_allowed,
            camera_name=camera_name,
            privacy_url=privacy_url,
            journal=journal,
        )
    except BaseException:
        sandbox.stop()
        raise
    adapter.add_close_hook(sandbox.stop)
    return adapter

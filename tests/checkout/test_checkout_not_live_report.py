"""A till whose liveness ends ``not_live`` tells the backend, which counts the device.

The product's own ``Till``, ``CheckoutSession``, ``LivenessSession`` and client against
the real sandbox over loopback. Doubles only at the seams: the camera (frames made here)
and the face analyzer (a scripted quality report per frame), and for the network fault
the HTTP transport. The injected stretch is frozen *before* the quality gate passes a
frame (nobody in view yet), which the till's liveness used to miss (issue 16).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pytest

from facepay import wire
from facepay.checkout import (
    Basket,
    BasketLine,
    CheckoutState,
    FailureReason,
    PaymentNotTakenError,
    Till,
)
from facepay.config import ClientConfig
from facepay.liveness import LivenessReason
from facepay.server import Sandbox
from facepay.testing import SyntheticFaces, fixed_liveness_plan
from facepay.types import Frame, QualityReason, QualityReport

PHONE = wire.Claim(kind=wire.ClaimKind.PHONE, value="+4915112345678")
_NOBODY = QualityReport(reasons=(QualityReason.NO_FACE,), metrics={}, face=None, faces=())


class NobodyInView:
    """The quality gate's answer while nobody stands at the till."""

    def reset(self) -> None:
        pass

    def analyze(self, frame: Frame) -> QualityReport:
        return _NOBODY


def _scene(seed: int = 0) -> npt.NDArray[np.uint8]:
    rng = np.random.default_rng(seed)
    return rng.integers(40, 200, (240, 320, 3), dtype=np.uint8)


def frozen_empty_scene(seconds: float = 2.0) -> Iterator[Frame]:
    """An injected feed: one frame of an empty scene repeated, timestamps advancing."""
    image = _scene()
    for i in range(int(seconds * 30)):
        yield Frame(image=image, timestamp=i / 30, index=i, source_id="injected")


def still_empty_scene(seconds: float = 2.0) -> Iterator[Frame]:
    """A real camera looking at the same empty scene: the scene does not move, the
    sensor's noise does (a few grey levels per pixel)."""
    image = _scene().astype(np.int16)
    rng = np.random.default_rng(1)
    for i in range(int(seconds * 30)):
        noisy = np.clip(image + rng.normal(0.0, 2.0, image.shape), 0, 255).astype(np.uint8)
        yield Frame(image=noisy, timestamp=i / 30, index=i, source_id="camera")


def basket() -> Basket:
    line = BasketLine(sku="1", description="Bread", quantity=1, unit_price_minor=250)
    return Basket(reference="pos-nl", currency="EUR", lines=(line,))


def device_failures(sandbox: Sandbox, device_id: str) -> int:
    assert sandbox.backend is not None
    subject = f"device:{device_id}"
    with sandbox.backend.db.transaction() as tx:
        row = tx.one("SELECT failures FROM lockouts WHERE subject = ?", (subject,))
    return 0 if row is None else int(row[0])


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


def _till(sandbox: Sandbox, **options: Any) -> tuple[Till, str]:
    """A till of a new device (and its id) whose gate sees nobody, with the real
    liveness session."""
    parts = {**SyntheticFaces().till_parts(), "analyzer": NobodyInView()}
    parts["liveness"] = fixed_liveness_plan("blink")
    device = sandbox.provision_device()
    till = Till.connect(
        sandbox.base_url, device_key=device.key, device_id=device.device_id, **parts, **options
    )
    return till, device.device_id


def test_frozen_frames_before_the_gate_end_not_live_and_the_backend_counts_the_device(
    sandbox: Sandbox,
) -> None:
    till, device_id = _till(sandbox)
    with till:
        with pytest.raises(PaymentNotTakenError) as err:
            till.pay(basket(), frozen_empty_scene(), claim=PHONE)
        assert err.value.state is CheckoutState.FAILED
        assert err.value.reason is FailureReason.LIVENESS_FAILED
        assert err.value.liveness_reasons == (LivenessReason.FROZEN_FRAMES,)
        assert device_failures(sandbox, device_id) == 1


def test_a_still_empty_scene_from_a_real_camera_is_not_frozen_and_nothing_is_reported(
    sandbox: Sandbox,
) -> None:
    till, device_id = _till(sandbox)
    with till:
        with pytest.raises(PaymentNotTakenError) as err:
            till.pay(basket(), still_empty_scene(), claim=PHONE)
        # Nobody stepped up before the frames ended: no liveness refusal at all.
        assert err.value.reason is FailureReason.FRAMES_ENDED
        assert err.value.liveness_reasons == ()
        assert device_failures(sandbox, device_id) == 0


class RefusalLost(httpx.BaseTransport):
    """Delivers every request to the real server except the not_live report, which
    never gets through (the store's uplink drops it)."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.tries = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/liveness-refusal"):
            self.tries += 1
            raise httpx.ConnectError("uplink down", request=request)
        return self._inner.handle_request(request)


def test_a_report_lost_to_the_network_is_tried_within_policy_and_still_ends_not_live(
    sandbox: Sandbox,
) -> None:
    lost = RefusalLost()
    config = ClientConfig(max_attempts=3, backoff_initial_s=0.0, backoff_max_s=0.0)
    till, device_id = _till(sandbox, transport=lost, client_config=config)
    with till:
        with pytest.raises(PaymentNotTakenError) as err:
            till.pay(basket(), frozen_empty_scene(), claim=PHONE)
        assert err.value.reason is FailureReason.LIVENESS_FAILED
        assert err.value.liveness_reasons == (LivenessReason.FROZEN_FRAMES,)
        assert lost.tries == config.max_attempts
        assert device_failures(sandbox, device_id) == 0

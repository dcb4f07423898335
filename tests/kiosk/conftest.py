"""Set-up shared by the kiosk tests that drive a whole :class:`KioskController` on a real
in-process sandbox (no camera unless a test gives one)."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QApplication

from facepay import Sandbox
from kiosk_app.app import apply_theme
from kiosk_app.controller import KioskController, KioskSettings
from kiosk_app.demo import connect_demo_till
from kiosk_app.demo.pos import DemoPos
from kiosk_app.model import StaffLogin
from kiosk_app.pos import PosBridge

StartKiosk = Callable[..., contextlib.AbstractContextManager[tuple[KioskController, DemoPos]]]


@pytest.fixture(autouse=True)
def _kiosk_state_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kiosk started by a test (``facepay-kiosk`` in a subprocess too) keeps its till's
    journal in a folder of its own, never in the runner's ~/.local/state."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@pytest.fixture(scope="module")
def models() -> dict[str, Any]:
    """One loaded analyzer and embedder shared by every kiosk in a test module."""
    from facepay.vision import DlibResNetEmbedder, FrameAnalyzer

    return {"analyzer": FrameAnalyzer(), "embedder": DlibResNetEmbedder()}


@pytest.fixture
def start_kiosk(qapp: QApplication, models: dict[str, Any]) -> StartKiosk:
    """``with start_kiosk(staff=..., settings=..., open_camera=..., **till_options) as (c,
    pos)``: a themed kiosk on a fresh sandbox through the demo till (``till_options``
    go to ``connect_demo_till``), shown at 1280x800, with the demo POS; shut down, its
    till closed and left-to-right again on exit."""

    @contextlib.contextmanager
    def start(
        *,
        staff: StaffLogin,
        settings: KioskSettings | None = None,
        open_camera: Callable[[], Any] | None = None,
        **till_options: Any,
    ) -> Iterator[tuple[KioskController, DemoPos]]:
        apply_theme(qapp)
        with Sandbox() as sandbox:
            # A transport that stands for this backend's own answers signs them with its
            # answer key (LaneLocked): it is told which backend it stands for.
            bind = getattr(till_options.get("transport"), "bind_sandbox", None)
            if bind is not None:
                bind(sandbox)
            port = connect_demo_till(sandbox, **till_options, **models)
            bridge = PosBridge()
            pos = DemoPos(bridge)
            c = KioskController(
                port=port,
                open_camera=open_camera,
                bridge=bridge,
                staff=staff,
                settings=settings or KioskSettings(),
                on_demo_scan=pos.scan,
                on_demo_card=pos.approve_card,
            )
            try:
                c.widget().resize(1280, 800)
                c.widget().show()
                yield c, pos
            finally:
                c.shutdown()
                port.close()
                qapp.setLayoutDirection(Qt.LayoutDirection.LeftToRight)
        gc.collect()

    return start

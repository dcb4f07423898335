"""Run the kiosk: the demo till (``facepay-kiosk --demo``) or embedded in a retailer's POS.

A POS embeds the kiosk like this (the POS owns the basket and the card terminal)::

    from kiosk_app.run import build_kiosk
    app = QApplication([])
    kiosk = build_kiosk(port=my_port, open_camera=lambda: open_source(0), bridge=bridge)
    bridge.push_basket(snapshot)          # whenever the basket changes
    bridge.card_payment_requested.connect(my_terminal.charge)
    bridge.sale_completed.connect(my_pos.close_sale)
    kiosk.widget().showFullScreen(); app.exec()
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Sequence

from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication

from kiosk_app.app import apply_theme, show_on_display
from kiosk_app.controller import KioskController, KioskSettings
from kiosk_app.flow import CheckoutPort, format_money
from kiosk_app.i18n import Language, Translator
from kiosk_app.pos import DemoPos, PosBridge
from kiosk_app.workers import FrameSourceLike

__all__ = ["Demo", "build_demo", "build_kiosk", "run_demo"]


def build_kiosk(
    *,
    port: CheckoutPort,
    open_camera: Callable[[], FrameSourceLike] | None,
    bridge: PosBridge,
    settings: KioskSettings | None = None,
    language: Language = Language.EN,
    demo_products: Sequence[tuple[str, str, str]] = (),
    on_demo_scan: Callable[[str], None] | None = None,
    on_demo_card: Callable[[str], None] | None = None,
    camera_opener: Callable[[str | int], FrameSourceLike] | None = None,
) -> KioskController:
    controller = KioskController(
        port=port,
        open_camera=open_camera,
        bridge=bridge,
        settings=settings,
        translator=Translator(language),
        demo_products=demo_products,
        on_demo_scan=on_demo_scan,
        on_demo_card=on_demo_card,
        camera_opener=camera_opener,
    )
    controller.set_language(language)
    return controller


class Demo:
    """The demo till: the kiosk, its simulated POS and the embedded sandbox port."""

    def __init__(self, controller: KioskController, pos: DemoPos, port: CheckoutPort) -> None:
        self.controller = controller
        self.pos = pos
        self.port = port

    def close(self) -> None:
        self.controller.shutdown()
        close = getattr(self.port, "close", None)
        if callable(close):
            close()


def build_demo(
    *,
    port: CheckoutPort,
    open_camera: Callable[[], FrameSourceLike] | None,
    camera_name: str = "",
    language: Language = Language.EN,
    pin: str = "2468",
    currency: str = "EUR",
    loop_camera: bool = True,
    backend_url: str = "",
    settings: KioskSettings | None = None,
) -> Demo:
    bridge = PosBridge()
    pos = DemoPos(bridge, currency=currency)
    settings = settings or KioskSettings()
    settings.camera = camera_name
    settings.attendant_pin = pin
    settings.loop_camera = loop_camera
    settings.backend_url = backend_url
    products = [
        (p.sku, p.name, format_money(p.price_minor, currency)) for p in pos.products.values()
    ]
    controller = build_kiosk(
        port=port,
        open_camera=open_camera,
        bridge=bridge,
        settings=settings,
        language=language,
        demo_products=products,
        on_demo_scan=pos.scan,
        on_demo_card=pos.approve_card,
        camera_opener=_open_frame_source,
    )
    return Demo(controller, pos, port)


def _open_frame_source(spec: str | int) -> FrameSourceLike:
    from kiosk_app.facepay_port import open_frame_source

    source: FrameSourceLike = open_frame_source(spec)
    return source


def run_demo(
    *,
    open_camera: Callable[[], FrameSourceLike],
    camera_name: str,
    language: str = "en",
    pin: str = "2468",
    currency: str = "EUR",
    loop_camera: bool = True,
    fullscreen: bool = True,
    challenges: tuple[str, ...] = (),
    exit_after: float | None = None,
) -> int:
    from kiosk_app.facepay_port import start_demo_backend

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("facepay-kiosk")
    apply_theme(app)
    port = start_demo_backend(currency=currency, challenges=challenges)
    demo = build_demo(
        port=port,
        open_camera=open_camera,
        camera_name=camera_name,
        language=Language(language),
        pin=pin,
        currency=currency,
        loop_camera=loop_camera,
        backend_url=port.health().url,
    )
    window = demo.controller.widget()
    window.setWindowTitle("facepay")
    show_on_display(window, fullscreen=fullscreen, window_size=(1280, 800))
    app.processEvents()
    # Ctrl+C / SIGTERM end the app through Qt, so the camera stops, the flow drops its
    # frames and the embedded sandbox removes its temporary database and keys.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: app.quit())
    ticker = QTimer()
    ticker.timeout.connect(lambda: None)  # lets Python run its signal handlers
    ticker.start(250)
    sys.stderr.write(
        f"facepay-kiosk: ready (sandbox backend {port.health().url}, camera {camera_name}, "
        f"window {window.width()}x{window.height()})\n"
    )
    if exit_after is not None:
        QTimer.singleShot(int(exit_after * 1000), app.quit)
    try:
        return app.exec()
    finally:
        ticker.stop()
        demo.close()

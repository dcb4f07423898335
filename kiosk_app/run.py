"""Run the kiosk: the demo till (``facepay-kiosk --demo``) or embedded in a retailer's POS.

A POS embeds the kiosk like this (the POS owns the basket and the card terminal)::

    from kiosk_app.adapter import TillAdapter
    from kiosk_app.model import StaffDirectory, StaffLogin
    from kiosk_app.run import build_kiosk
    app = QApplication([])
    # FACEPAY_CLIENT_ANSWER_KEY_PIN: the backend's answer key pin, from the acquirer
    # (docs/integration.md, "The answer key pin"); without it a remote backend is refused.
    till = Till.connect(url, device_key=key, device_id=dev, client_config=ClientConfig.from_env())
    port = TillAdapter(till, store=store, base_url=url)
    kiosk = build_kiosk(port=port, open_camera=lambda: open_source(0), bridge=bridge,
                        staff=StaffLogin(StaffDirectory.load(staff_file)))
    bridge.push_basket(sale)              # whenever the basket changes
    bridge.card_payment_requested.connect(my_terminal.charge)
    bridge.sale_completed.connect(my_pos.close_sale)
    kiosk.widget().showFullScreen(); app.exec()
"""

from __future__ import annotations

import signal
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication

from facepay import format_money
from kiosk_app.app import apply_theme, show_on_display
from kiosk_app.controller import KioskController, KioskSettings
from kiosk_app.demo import DemoCardReader, demo_staff
from kiosk_app.demo.pos import DemoPos
from kiosk_app.i18n import Language, Translator
from kiosk_app.model import (
    CheckoutPort,
    FilePrinter,
    PrintedReceipt,
    ReceiptChannel,
    StaffAudit,
    StaffDirectory,
    StaffLogin,
)
from kiosk_app.pos import PosBridge
from kiosk_app.workers import CameraPlayback, FrameSourceLike

__all__ = ["Demo", "build_demo", "build_kiosk", "run_demo"]


def build_kiosk(
    *,
    port: CheckoutPort,
    open_camera: Callable[[], FrameSourceLike] | None,
    bridge: PosBridge,
    staff: StaffLogin,
    audit: StaffAudit | None = None,
    receipt_channels: Iterable[ReceiptChannel] = (),
    settings: KioskSettings | None = None,
    playback: CameraPlayback | None = None,
    language: Language = Language.EN,
    demo_products: Sequence[tuple[str, str, str]] = (),
    on_demo_scan: Callable[[str], None] | None = None,
    on_demo_card: Callable[[str], None] | None = None,
    card_reader: Callable[[], str] | None = None,
    camera_opener: Callable[[str | int], FrameSourceLike] | None = None,
) -> KioskController:
    return KioskController(
        port=port,
        open_camera=open_camera,
        bridge=bridge,
        staff=staff,
        audit=audit,
        receipt_channels=receipt_channels,
        settings=settings,
        playback=playback,
        translator=Translator(language),
        demo_products=demo_products,
        on_demo_scan=on_demo_scan,
        on_demo_card=on_demo_card,
        card_reader=card_reader,
        camera_opener=camera_opener,
    )


class Demo:
    """The demo till: the kiosk, its simulated POS and the embedded sandbox port."""

    def __init__(
        self,
        controller: KioskController,
        pos: DemoPos,
        port: CheckoutPort,
        *,
        staff_pin: str,
        printer: FilePrinter,
    ) -> None:
        self.controller = controller
        self.pos = pos
        self.port = port
        self.staff_pin = staff_pin  # the demo account's, for this run only
        self.printer = printer

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
    currency: str = "EUR",
    playback: CameraPlayback | None = None,
    backend_url: str = "",
    settings: KioskSettings | None = None,
    staff_directory: StaffDirectory | None = None,
    staff_state: Path | None = None,
    receipt_folder: Path | None = None,
    audit_path: Path | None = None,
) -> Demo:
    """The demo till. Without ``staff_directory`` it has one staff account, ``demo``, with
    a PIN made for this run (``Demo.staff_pin``); receipts print to files in
    ``receipt_folder`` (a new temporary folder by default)."""
    bridge = PosBridge()
    pos = DemoPos(bridge, currency=currency)
    settings = settings or KioskSettings()
    settings.camera = camera_name
    settings.backend_url = backend_url
    pin = ""
    if staff_directory is None:
        staff_directory, pin = demo_staff()
    printer = FilePrinter(receipt_folder or Path(tempfile.mkdtemp(prefix="facepay-receipts-")))
    products = [
        (p.sku, p.name, format_money(p.price_minor, currency)) for p in pos.products.values()
    ]
    cards = DemoCardReader()
    controller = build_kiosk(
        port=port,
        open_camera=open_camera,
        bridge=bridge,
        staff=StaffLogin(staff_directory, state_file=staff_state),
        audit=StaffAudit(audit_path),
        receipt_channels=[PrintedReceipt(printer)],
        settings=settings,
        playback=playback or CameraPlayback(loop=True),
        language=language,
        demo_products=products,
        on_demo_scan=pos.scan,
        on_demo_card=pos.approve_card,
        card_reader=cards.tap,
        camera_opener=_open_frame_source,
    )
    return Demo(controller, pos, port, staff_pin=pin, printer=printer)


def _open_frame_source(spec: str | int) -> FrameSourceLike:
    from facepay import open_source

    source: FrameSourceLike = open_source(spec)
    return source


def run_demo(
    *,
    open_camera: Callable[[], FrameSourceLike],
    camera_name: str,
    language: str = "en",
    currency: str = "EUR",
    loop_camera: bool = True,
    fullscreen: bool = True,
    challenges: tuple[str, ...] = (),
    exit_after: float | None = None,
    camera_device: str | None = None,
    staff_file: Path | None = None,
    privacy_url: str | None = None,
    journal: Path | None = None,
) -> int:
    from kiosk_app.demo import start_demo_backend
    from kiosk_app.demo._backend import DEMO_PRIVACY_URL
    from kiosk_app.model import public_privacy_url

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("facepay-kiosk")
    apply_theme(app)
    port = start_demo_backend(
        currency=currency,
        challenges=challenges,
        camera_name=camera_device,
        privacy_url=public_privacy_url(privacy_url or DEMO_PRIVACY_URL),
        journal=journal,
    )
    demo = build_demo(
        port=port,
        open_camera=open_camera,
        camera_name=camera_name,
        language=Language(language),
        currency=currency,
        playback=CameraPlayback(loop=loop_camera),
        backend_url=port.base_url,
        staff_directory=StaffDirectory.load(staff_file) if staff_file else None,
        # Wrong-PIN count and lockout beside the staff file: a restart does not reset them.
        staff_state=staff_file.with_name(staff_file.name + ".signin") if staff_file else None,
    )
    # Before the first sale: what a crash left in the till's journal, to the attendant.
    demo.controller.recover_journal()
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
    # The demo staff PIN goes on the operator's terminal only: never in --help, the docs or
    # on the screen. One line, as a till's log expects.
    staff = f"staff id demo PIN {demo.staff_pin}, " if demo.staff_pin else ""
    sys.stderr.write(
        f"facepay-kiosk: ready (sandbox backend {port.base_url}, camera {camera_name}, "
        f"{staff}receipts in {demo.printer.folder}, "
        f"window {window.width()}x{window.height()})\n"
    )
    if exit_after is not None:
        QTimer.singleShot(int(exit_after * 1000), app.quit)
    try:
        return app.exec()
    finally:
        ticker.stop()
        demo.close()

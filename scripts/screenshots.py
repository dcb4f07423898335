"""Screenshots of every kiosk screen in every language, into docs/images/.

    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python scripts/screenshots.py

Runs the real kiosk (embedded sandbox backend, real models) and puts each screen into the
state a shopper would see. Results (approved, declined ...) are staged on the screens, so
the run takes seconds and looks the same every time. Under xvfb the fonts and the window
system are the real X11 ones (the offscreen platform used by the tests draws differently).

The camera preview in these pictures is a drawn stand-in, not a frame of a real clip: the
evaluation clips in ../shared/eval must never be copied into the repository, and a
screenshot of one would be a copy. ``--clip PATH`` shows a real frame instead, for a
local look; do not commit those.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kiosk_app.facepay_port import connect_port  # noqa: E402
from kiosk_app.flow import FaceProgress, Outcome, OutcomeKind  # noqa: E402
from PyQt6.QtCore import QRectF, Qt  # noqa: E402
from PyQt6.QtGui import QColor, QImage, QLinearGradient, QPainter  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402

from facepay import QualityReason, Sandbox, open_source  # noqa: E402
from kiosk_app.app import apply_theme  # noqa: E402
from kiosk_app.i18n import Language  # noqa: E402
from kiosk_app.run import build_demo  # noqa: E402
from kiosk_app.workers import frame_to_qimage  # noqa: E402


def stand_in_preview(width: int = 640, height: int = 360) -> QImage:
    """A drawn 'camera image': a room, a head and shoulders where a shopper would be."""
    image = QImage(width, height, QImage.Format.Format_RGB888)
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    wall = QLinearGradient(0, 0, 0, height)
    wall.setColorAt(0, QColor("#8D8A83"))
    wall.setColorAt(1, QColor("#5E5B55"))
    p.fillRect(0, 0, width, height, wall)
    p.fillRect(
        int(width * 0.08),
        int(height * 0.1),
        int(width * 0.22),
        int(height * 0.9),
        QColor("#A9A49A"),
    )
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor("#2B2B30"))
    p.drawEllipse(QRectF(width * 0.28, height * 0.78, width * 0.44, height * 0.5))
    p.setBrush(QColor("#C99B7E"))
    p.drawRect(QRectF(width * 0.46, height * 0.62, width * 0.08, height * 0.2))
    p.drawEllipse(QRectF(width * 0.41, height * 0.2, width * 0.18, height * 0.48))
    p.setBrush(QColor("#3A2A22"))
    p.drawChord(QRectF(width * 0.405, height * 0.16, width * 0.19, height * 0.3), 0, 180 * 16)
    p.end()
    return image


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    ap.add_argument("--size", default="1280x800")
    ap.add_argument("--clip", type=Path, help="show a frame of this clip (do not commit)")
    ap.add_argument("--lang", action="append", choices=[x.value for x in Language])
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    args.out.mkdir(parents=True, exist_ok=True)

    app = QApplication(sys.argv[:1])
    apply_theme(app)
    if args.clip:
        source = open_source(args.clip)
        try:
            frames = [f for _, f in zip(range(30), source.frames(), strict=False)]
        finally:
            source.close()
        preview = frame_to_qimage(frames[-1])
    else:
        preview = stand_in_preview()

    with Sandbox() as sandbox:
        port = connect_port(sandbox, challenges=("blink",))
        demo = build_demo(port=port, open_camera=None, camera_name="single_face.mp4")
        c, pos = demo.controller, demo.pos
        window = c.widget()
        window.resize(width, height)
        window.show()
        written = []

        def shot(lang: Language, name: str) -> None:
            for _ in range(10):
                app.processEvents()
            path = args.out / f"kiosk-{lang.value}-{name}.png"
            window.grab().save(str(path))
            written.append(path)

        for lang in [Language(x) for x in (args.lang or [x.value for x in Language])]:
            c.reset_to_idle()
            c.set_language(lang)
            shot(lang, "idle")
            for sku in ("4011", "4011", "5057172236511", "4006381333931"):
                pos.scan(sku)
            shot(lang, "basket")
            c.show_payment_choice()
            shot(lang, "choice")
            c.choose_face()
            for d in "01511234":
                c.claim.keypad.press(d)
            shot(lang, "claim")
            c.go("capture")
            c.capture.camera.show_image(preview)
            c.capture.show_progress(
                FaceProgress(
                    phase="capture",
                    reasons=(QualityReason.TOO_DARK,),
                    face_box=(0.4, 0.2, 0.2, 0.4),
                )
            )
            shot(lang, "capture")
            c.go("liveness")
            c.liveness.camera.show_image(preview)
            c.liveness.show_progress(
                FaceProgress(
                    phase="liveness",
                    challenge="blink",
                    challenge_index=0,
                    challenge_count=2,
                    seconds_left=4.2,
                    progress=0.35,
                    face_box=(0.4, 0.2, 0.2, 0.4),
                )
            )
            shot(lang, "liveness")
            c.go("processing")
            shot(lang, "processing")
            total = c.basket.total_minor
            approved = Outcome(
                kind=OutcomeKind.APPROVED,
                amount_minor=total,
                currency="EUR",
                masked_method="Visa •••• 4242",
                receipt_lines=(
                    "2 x Bananas 1 kg  EUR 2.38",
                    "1 x Coffee beans 500 g  EUR 7.49",
                    "1 x Wholegrain bread  EUR 2.49",
                ),
                privacy_code="K7QD-3MXA-9P2F",
                privacy_url=f"{sandbox.base_url}/privacy?code=K7QD-3MXA-9P2F",
                charged=True,
            )
            c.result.show_outcome(approved)
            c.go("result")
            shot(lang, "approved")
            c.privacy.offer()
            c.go("receipt")
            shot(lang, "privacy")
            c.result.show_outcome(Outcome(kind=OutcomeKind.DECLINED, detail="no_match"))
            c.go("result")
            shot(lang, "declined")
            c.result.show_outcome(Outcome(kind=OutcomeKind.BACKEND_DOWN))
            c.go("result")
            shot(lang, "backend-down")
            c.step_up.reset()
            c.step_up.ask(4)
            c.go("step_up")
            shot(lang, "step-up")
            c.card.show_amount(c.amount_text())
            c.go("card")
            shot(lang, "card")
            c.start_enrollment()
            shot(lang, "consent")
            c.enroll_phone.reset()
            c.go("enroll_phone")
            shot(lang, "enroll-phone")
            c.enroll_card.reset()
            c.enroll_card.show_linked("Visa •••• 4242")
            c.go("enroll_card")
            shot(lang, "enroll-card")
            c.enroll_done.offer()
            c.go("enroll_done")
            shot(lang, "enroll-done")
            c.attendant_pin.reset()
            c.go("attendant_pin")
            shot(lang, "attendant-pin")
            c._check_pin(c.settings.attendant_pin)
            shot(lang, "attendant")
        demo.close()
    for path in written:
        print(path.relative_to(REPO))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

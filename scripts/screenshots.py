"""Screenshots of every kiosk screen and state at two display sizes in every language.

    xvfb-run -a -s "-screen 0 1024x768x24" .venv/bin/python scripts/screenshots.py \
        --size 1024x768 --out /tmp/facepay-shots
    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python scripts/screenshots.py \
        --size 1280x1024 --out /tmp/facepay-shots

Every state ``kiosk_app.ui.gallery`` stages is shot: each screen (``STATES``) and every
second state (``VARIANTS``: each quality and liveness prompt, each way a payment ends, each
notice, "Still there?"). On an X display (xvfb-run, no window manager) the picture is
what the display itself shows, grabbed from the screen, so a window that does not fill
it or a widget drawn outside it shows as it would on a till; elsewhere it is the
widget's own rendering.

Each screen is the kiosk's own widget, staged by ``kiosk_app/ui/gallery.py`` in the state a
shopper or attendant would see (the same states ``tests/kiosk/test_kiosk_layout.py`` checks
for clipping and overlap), on the real theme and fonts, in a window the size of the display
with no window manager: as a till runs it. PNGs are stored with a 256-colour palette (flat
UI colours survive it) so the whole set stays a few MB.

The camera preview in these pictures is a drawn stand-in, not a frame of a real clip: the
evaluation clips in ../shared/eval must never be copied into the repository, and a
screenshot of one would be a copy.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from PyQt6.QtCore import Qt  # noqa: E402
from PyQt6.QtGui import QImage  # noqa: E402
from PyQt6.QtWidgets import QApplication, QWidget  # noqa: E402

from kiosk_app.app import apply_theme, quiet_harmless_qt_messages  # noqa: E402
from kiosk_app.i18n import Language, Translator  # noqa: E402
from kiosk_app.screens import SCREEN_NAMES  # noqa: E402
from kiosk_app.ui.gallery import SCREEN_TYPES, VARIANTS, stage  # noqa: E402

SIZES = ((1024, 768), (1280, 1024))


def parse_size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    try:
        size = int(width), int(height)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not WIDTHxHEIGHT: {text!r}") from None
    if min(size) < 1:
        raise argparse.ArgumentTypeError(f"a display is at least 1x1 pixels, not {text!r}")
    return size


def shot_name(language: Language, size: tuple[int, int], screen: str) -> str:
    return f"kiosk-{language.value}-{size[0]}x{size[1]}-{screen.replace('_', '-')}.png"


def _blank(image: QImage) -> bool:
    """One colour everywhere: the X server had not drawn the window yet."""
    first = image.pixel(0, 0)
    step_x, step_y = max(1, image.width() // 16), max(1, image.height() // 16)
    return all(
        image.pixel(x, y) == first
        for x in range(0, image.width(), step_x)
        for y in range(0, image.height(), step_y)
    )


def grab(
    app: QApplication, screen: QWidget, size: tuple[int, int], *, from_display: bool
) -> QImage:
    """What the display shows at ``size`` (from the X screen when there is one).

    Grabbing the X screen right after ``show()`` once gave a black picture (1 of 408): the
    window was mapped but not yet drawn. Wait for a drawn one, then fall back to the
    widget's own rendering rather than keep a blank shot.
    """
    display = app.primaryScreen()
    fits = (
        from_display
        and display is not None
        and display.geometry().width() >= size[0]
        and display.geometry().height() >= size[1]
    )
    for _ in range(50):
        app.processEvents()
        if not fits or display is None:
            break
        image = display.grabWindow(0, 0, 0, *size).toImage()
        if not _blank(image):
            return image
        time.sleep(0.02)
    return screen.grab().toImage()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--out",
        type=Path,
        required=True,
        help="a folder outside the repository to look at first (docs/images holds a chosen few)",
    )
    ap.add_argument("--size", action="append", type=parse_size, help="WIDTHxHEIGHT (repeatable)")
    ap.add_argument("--lang", action="append", choices=[x.value for x in Language])
    ap.add_argument("--screen", action="append", choices=list(SCREEN_NAMES))
    ap.add_argument("-v", "--verbose", action="store_true", help="show Qt's harmless messages too")
    args = ap.parse_args()
    # QImage.save answers False, not an exception: a folder it may not write would
    # otherwise list every shot as written and exit 0 with none on disk.
    if args.out.exists() and not args.out.is_dir():
        ap.error(f"--out {args.out} is a file, not a folder")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / ".write-probe").touch()
        (args.out / ".write-probe").unlink()
    except OSError as exc:
        ap.error(f"--out {args.out}: cannot write there ({exc.strerror or exc})")

    if not args.verbose:
        quiet_harmless_qt_messages()  # offscreen's "does not support propagateSizeHints()"
    app = QApplication(sys.argv[:1])
    on_x = app.platformName() == "xcb"
    apply_theme(app)
    written = []
    for language in [Language(x) for x in (args.lang or [x.value for x in Language])]:
        direction = (
            Qt.LayoutDirection.RightToLeft if language.rtl else Qt.LayoutDirection.LeftToRight
        )
        app.setLayoutDirection(direction)
        for size in args.size or SIZES:
            shots = [(name, name, None) for name in args.screen or SCREEN_NAMES]
            shots += [
                (name, f"{name}-{variant}", change)
                for name, changes in VARIANTS.items()
                if name in (args.screen or SCREEN_NAMES)
                for variant, change in changes.items()
            ]
            for name, shot, change in shots:
                screen = stage(SCREEN_TYPES[name](Translator(language)))
                if change is not None:
                    change(screen)
                screen.setLayoutDirection(direction)
                screen.setWindowFlag(Qt.WindowType.FramelessWindowHint)
                screen.setGeometry(0, 0, *size)
                screen.show()
                screen.refocus()
                image = grab(app, screen, size, from_display=on_x)
                image = image.convertToFormat(
                    QImage.Format.Format_Indexed8, Qt.ImageConversionFlag.ThresholdDither
                )
                path = args.out / shot_name(language, size, shot)
                if not image.save(str(path), "PNG", 9):
                    sys.stderr.write(f"screenshots.py: could not write {path}\n")
                    return 1
                written.append(path)
                screen.close()
                screen.deleteLater()
    app.setLayoutDirection(Qt.LayoutDirection.LeftToRight)
    for path in written:
        # --out may be outside the repository (a scratch folder to look at first).
        print(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

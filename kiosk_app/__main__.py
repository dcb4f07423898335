"""``facepay-kiosk``: the composition root. Parses options, builds the pieces, runs Qt.

    facepay-kiosk --demo                              embedded sandbox, demo basket, camera 0
    facepay-kiosk --demo --camera clip.mp4            a video file (or image folder) as camera
    facepay-kiosk --demo --lang ar                    start in Arabic (right to left)

Nothing here knows how a screen looks or how a payment is made: it wires a
:class:`~kiosk_app.model.CheckoutPort` (facepay's till), a frame source factory and
the POS bridge into :class:`~kiosk_app.controller.KioskController`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from facepay import FacePayError, __version__
from kiosk_app.process import no_core_dumps

__all__ = ["build_parser", "keep_only_real_native_errors", "main"]

logger = logging.getLogger("kiosk_app")

# One line each: a shopper-facing machine's log is read by someone in a hurry.
_NO_CAMERA = (
    "facepay-kiosk: no camera could be opened ({why}); give it a clip instead: "
    "facepay-kiosk --demo --camera path/to/clip.mp4 (or an image folder, or --camera 1)\n"
)
_NO_DISPLAY = (
    "facepay-kiosk: no display to show the till on ({why}); run it on the till's screen, "
    "or on a virtual one: xvfb-run -a facepay-kiosk --demo ...\n"
)


def display_problem(environ: Mapping[str, str] | None = None) -> str:
    """Why Qt would find no display (it aborts the process), or "" when there is one.

    Qt's xcb plugin calls qFatal when it cannot connect, which kills the process with a core
    dump; checking first turns that into one line. Only the usual local cases are checked:
    an explicit ``QT_QPA_PLATFORM`` (offscreen, eglfs, wayland ...) is trusted as given.
    """
    env = os.environ if environ is None else environ
    if env.get("QT_QPA_PLATFORM") or not sys.platform.startswith("linux"):
        return ""
    if env.get("WAYLAND_DISPLAY"):
        return ""
    display = env.get("DISPLAY", "")
    if not display:
        return "DISPLAY is not set"
    host, _, rest = display.partition(":")
    number = rest.split(".", 1)[0]
    # X's fixed, well-known socket directory (not a temporary file we create).
    socket = Path("/tmp/.X11-unix") / f"X{number}"  # noqa: S108
    if host in ("", "unix") and number.isdigit() and not socket.exists():
        return f"no X server is listening on DISPLAY={display}"
    return ""


def keep_only_real_native_errors() -> bool:
    """Drop the known-harmless lines native libraries print on fd 2, keep every other.

    Dropped: TensorFlow Lite's, absl's and mediapipe's start-up chatter
    (:func:`facepay.quiet_native_logs`, the filter the
    ``facepay`` command and the examples use) and Qt's "This plugin does not support
    propagateSizeHints()" (:data:`kiosk_app.app.HARMLESS_QT_MESSAGES`, the scripts' filter).
    Kept: everything else, so the operator's log still shows OpenCV failing to open the
    camera, a Qt plugin that cannot be loaded, a native library's last words before a crash
    (the filter is a separate process and outlives it), and this command's own lines.
    ``-v`` does not call this: everything shows. Returns False where fd 2 cannot be
    filtered (no ``fork``); stderr is then left as it is, never silenced.
    """
    from facepay import quiet_native_logs
    from kiosk_app.app import quiet_harmless_qt_messages

    quiet_harmless_qt_messages()
    return quiet_native_logs()


def _challenge_list(text: str) -> tuple[str, ...]:
    from facepay import fixed_liveness_plan

    names = tuple(c.strip() for c in text.split(",") if c.strip())
    if not names:
        raise argparse.ArgumentTypeError("name at least one challenge, e.g. blink")
    try:
        fixed_liveness_plan(*names)
    except ValueError as exc:  # an unknown or repeated name, told before Qt starts
        raise argparse.ArgumentTypeError(str(exc)) from None
    return names


def _privacy_url(text: str) -> str:
    from kiosk_app.model import public_privacy_url

    try:
        return public_privacy_url(text)
    except FacePayError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _currency(text: str) -> str:
    code = text.strip().upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise argparse.ArgumentTypeError(f"an ISO 4217 code is three letters (EUR), not {text!r}")
    return code


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="facepay-kiosk",
        description="The facepay self-checkout screen (PyQt6).",
        epilog="Example: facepay-kiosk --demo --camera ../shared/eval/video/single_face.mp4",
    )
    p.add_argument("--version", action="version", version=f"facepay-kiosk {__version__}")
    p.add_argument(
        "--demo",
        action="store_true",
        help="start an embedded sandbox backend on loopback and a demo till with products",
    )
    p.add_argument(
        "--camera",
        metavar="FILE_OR_INDEX",
        help="camera index (0, 1 ...), a video file or an image folder (default: camera 0)",
    )
    p.add_argument("--lang", choices=["en", "zh", "ar"], default="en", help="start language")
    p.add_argument(
        "--staff-file",
        type=Path,
        metavar="FILE",
        help="staff accounts (hashed PINs), made with 'python -m kiosk_app.staff add FILE ID'; "
        "without it the demo makes one account for this run and says so on the terminal",
    )
    p.add_argument(
        "--privacy-url",
        type=_privacy_url,
        metavar="URL",
        help="your public https page where shoppers see or delete their data "
        "(printed on their receipt)",
    )
    p.add_argument(
        "--challenges",
        type=_challenge_list,
        metavar="LIST",
        help="liveness challenges to ask for, comma separated (default: drawn from the "
        "backend's seed for a camera; 'blink' for a clip, which cannot follow random prompts)",
    )
    p.add_argument(
        "--currency", type=_currency, default="EUR", help="demo store currency (ISO 4217)"
    )
    p.add_argument(
        "--journal",
        type=Path,
        metavar="FILE",
        help="the till's journal: payments sent without an answer and orders seen paid, "
        "found again after a crash (default: $XDG_STATE_HOME/facepay-kiosk/till-journal, "
        "else ~/.local/state/facepay-kiosk/till-journal; one kiosk per file)",
    )
    p.add_argument("--window", action="store_true", help="a 1280x800 window, not full screen")
    p.add_argument(
        "--exit-after",
        type=_seconds,
        metavar="SECONDS",
        help="quit after this long (smoke tests: does the kiosk come up?)",
    )
    p.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv: debug)")
    return p


def default_journal(environ: Mapping[str, str] | None = None) -> Path:
    """The kiosk's journal in its state folder (XDG Base Directory: ``$XDG_STATE_HOME``
    when set to an absolute path, else ``~/.local/state``)."""
    env = os.environ if environ is None else environ
    state = env.get("XDG_STATE_HOME", "")
    base = Path(state) if state and Path(state).is_absolute() else Path.home() / ".local/state"
    return base / "facepay-kiosk" / "till-journal"


def _journal_folder_problem(journal: Path) -> str:
    """Make the journal's folder (0700, the till's user alone); why not, or ""."""
    try:
        journal.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        return f"{journal.parent}: {exc.strerror or exc}"
    return ""


def camera_spec(value: str | None) -> str | int:
    if value is None or value == "":
        return 0
    return int(value) if value.isdigit() else value


def probe_camera(
    spec: str | int, opener: Callable[[str | int], object]
) -> tuple[Callable[[], object] | None, str, str | None]:
    """Open the source and read one frame, so a missing camera is a message, not a
    traceback. Also returns the device's name, for the till's virtual-camera check."""
    try:
        source = opener(spec)
        try:
            next(iter(source.frames()))  # type: ignore[attr-defined]
            name = getattr(source, "device_name", None)
        finally:
            source.close()  # type: ignore[attr-defined]
    except StopIteration:
        return None, "it has no frames", None
    except FacePayError as exc:
        return None, str(exc) or type(exc).__name__, None
    except OSError as exc:
        return None, str(exc), None
    return (lambda: opener(spec)), "", name if isinstance(name, str) else None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.verbose:
        keep_only_real_native_errors()
    return _main(args)


def _main(args: argparse.Namespace) -> int:
    # Before any shopper's data is in memory: a crash must not write it to disk.
    no_core_dumps()
    if args.verbose:
        logging.basicConfig(
            level=logging.DEBUG if args.verbose > 1 else logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    if not args.demo:
        sys.stderr.write(
            "facepay-kiosk: only the demo mode is available from the command line so far:\n"
            "    facepay-kiosk --demo [--camera FILE_OR_INDEX]\n"
            "A retailer's POS embeds the kiosk with kiosk_app.run.build_kiosk(...) "
            "(see docs/kiosk.md).\n"
        )
        return 2
    why_no_display = display_problem()
    if why_no_display:
        sys.stderr.write(_NO_DISPLAY.format(why=why_no_display))
        return 2
    from facepay import open_source

    spec = camera_spec(args.camera)
    what = f"camera {spec}" if isinstance(spec, int) else str(spec)
    opener, why, device = probe_camera(spec, open_source)
    if opener is None:
        sys.stderr.write(_NO_CAMERA.format(why=why or what))
        return 2

    from kiosk_app.run import run_demo

    challenges = args.challenges or (() if isinstance(spec, int) else ("blink",))
    why_no_staff = _staff_file_problem(args.staff_file)
    if why_no_staff:
        sys.stderr.write(f"facepay-kiosk: cannot read the staff file {why_no_staff}\n")
        return 2

    journal = args.journal or default_journal()
    why_no_journal = _journal_folder_problem(journal)
    if why_no_journal:
        sys.stderr.write(f"facepay-kiosk: cannot keep the till's journal in {why_no_journal}\n")
        return 2

    try:
        return run_demo(
            open_camera=opener,  # type: ignore[arg-type]
            camera_name=what,
            language=args.lang,
            currency=args.currency,
            loop_camera=not isinstance(spec, int),
            fullscreen=not args.window,
            challenges=challenges,
            exit_after=args.exit_after,
            camera_device=device,
            staff_file=args.staff_file,
            privacy_url=args.privacy_url,
            journal=journal,
        )
    except FacePayError as exc:
        sys.stderr.write(f"facepay-kiosk: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130


def _staff_file_problem(path: Path | None) -> str:
    """Why ``--staff-file`` cannot be read as staff accounts, or "" (read once more by the
    demo: a missing or hand-edited file is one line, not a traceback from inside Qt)."""
    if path is None:
        return ""
    from kiosk_app.model import StaffDirectory

    try:
        StaffDirectory.load(path)
    except OSError as exc:
        return f"{path}: {exc.strerror or exc}"
    except (ValueError, KeyError, TypeError) as exc:
        return f"{path}: not a staff file made with 'python -m kiosk_app.staff add' ({exc})"
    return ""


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

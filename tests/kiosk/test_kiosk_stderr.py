"""What ``facepay-kiosk`` lets through to the operator's log on stderr.

It used to send every native line on fd 2 to /dev/null unless ``-v``: OpenCV failing to
open the camera, a Qt plugin that cannot be loaded and a native library's last words
before a crash were lost with the start-up chatter. Now only the known-harmless lines are
dropped (facepay's ``quiet_native_logs`` filter and the kiosk's Qt message filter, the
ones the scripts use). The child process below writes both kinds to fd 2 and through Qt's
message handler, as the libraries do, then ends; nothing here waits for a time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

HARMLESS = (
    b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    b"W0000 00:00:1796703478.768179     428 inference_feedback_manager.cc:114] Feedback "
    b"manager requires a model with a single signature inference. Disabling support for "
    b"feedback tensors.",
    b"I0000 00:00:1796703478.70     428 gl_context.cc:357] GL version: 3.2",
)
REAL = (
    b"[ WARN:0@0.026] global cap_v4l.cpp:913 open VIDEOIO(V4L2:/dev/video0): "
    b"can't open camera by index",
    b"[ERROR:0@0.026] global obsensor_uvc_stream_channel.cpp:158 getStreamChannelGroup "
    b"Camera index out of range",
    b"E0000 00:00:1796703478.9     431 calculator_graph.cc:887] INTERNAL: Graph has errors",
    b"Fatal glibc error: malloc.c:2599 (sysmalloc): assertion failed",
)
QT_HARMLESS = "This plugin does not support propagateSizeHints()"
QT_REAL = 'qt.qpa.plugin: Could not load the Qt platform plugin "xcb" even though it was found.'
LAST_WORDS = b"Segmentation fault in libonnxruntime.so: the kiosk is going down"

_CHILD = """
import os, sys
from PyQt6.QtCore import qWarning
from kiosk_app.__main__ import keep_only_real_native_errors
assert keep_only_real_native_errors()
for line in {lines!r}:
    os.write(2, line + b"\\n")
qWarning({qt_harmless!r}.encode())
qWarning({qt_real!r}.encode())
sys.stderr.write("facepay-kiosk: a line of the kiosk's own\\n")
sys.stderr.flush()
os.write(2, {last_words!r} + b"\\n")
{end}
"""


def _run_child(*, crash: bool) -> subprocess.CompletedProcess[bytes]:
    # Harmless and real lines interleaved, as a start-up that goes wrong prints them.
    lines = [line for pair in zip(HARMLESS, REAL, strict=True) for line in pair]
    code = _CHILD.format(
        lines=lines,
        qt_harmless=QT_HARMLESS,
        qt_real=QT_REAL,
        last_words=LAST_WORDS,
        end="os.abort()" if crash else "",
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"},
        capture_output=True,
        timeout=120,
        check=False,
    )


def test_real_native_errors_reach_the_log_and_the_chatter_does_not() -> None:
    result = _run_child(crash=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    err = result.stderr
    for line in HARMLESS:
        assert line not in err
    assert QT_HARMLESS.encode() not in err
    # Every real line, whole and in the order written on fd 2.
    native = [line for line in err.splitlines() if line in REAL or line == LAST_WORDS]
    assert native == [*REAL, LAST_WORDS]
    assert QT_REAL.encode() in err
    assert b"facepay-kiosk: a line of the kiosk's own\n" in err


def test_a_native_crash_keeps_its_last_words() -> None:
    """The filter is a process of its own: the kiosk aborting does not take the line with it."""
    result = _run_child(crash=True)
    assert result.returncode != 0
    assert LAST_WORDS in result.stderr
    for line in REAL:
        assert line in result.stderr
    for line in HARMLESS:
        assert line not in result.stderr


def test_without_a_camera_opencvs_own_reason_reaches_the_log() -> None:
    """The command itself: OpenCV's own lines on why the camera did not open reach the log
    beside the kiosk's one line (they went to /dev/null before). Any camera index that is
    not there makes OpenCV say so. The two come by different paths (native lines through
    the filter process, the kiosk's straight), so their order is not asserted."""
    result = subprocess.run(
        [sys.executable, "-m", "kiosk_app", "--demo", "--camera", "97"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    ours = [line for line in lines if line.startswith("facepay-kiosk: ")]
    assert len(ours) == 1
    assert ours[0].startswith("facepay-kiosk: no camera could be opened (camera 97")
    assert "VIDEOIO(V4L2:/dev/video97)" in result.stderr
    assert "Traceback" not in result.stderr

"""Keep the native libraries' log noise off a user's terminal.

mediapipe, TensorFlow Lite and absl write straight to file descriptor 2 from C++
("W0000 ... inference_feedback_manager.cc:114] Feedback manager requires ...", "INFO:
Created TensorFlow Lite XNNPACK delegate", "WARNING: All log messages before
absl::InitializeLog() ..."), a screen of it per run, and no environment variable turns
the absl ones off before absl is initialised. A program (the ``facepay`` command, the
examples, the kiosk) calls :func:`quiet_native_logs` once at start: fd 2 then goes
through a filter that drops those lines and passes every other line on, and Python's
own ``sys.stderr`` writes to the terminal directly, so facepay's lines and errors are
neither delayed nor reordered. ``facepay -v`` does not call it: everything shows.

A library never does this on its own (an application owns its stderr).
"""

from __future__ import annotations

import atexit
import io
import os
import re
import signal
import sys
import threading
import time

__all__ = ["NATIVE_NOISE", "quiet_native_logs"]

# Lines the native libraries print that tell a user nothing they can act on: absl/glog
# lines (severity letter, date or 0000, time, thread, file:line]), and lines that begin
# with one of _NOISE_STARTS: TensorFlow Lite's INFO lines, absl's pre-initialisation
# notice, and libpng's (through OpenCV) about a photo's colour profile. A process that
# exits while a native thread is half way through one of them leaves only its first
# write in the pipe ("INFO: ", then the rest in a second write that never comes), and
# that fragment is noise too (_is_noise_fragment).
_NOISE_STARTS = (
    b"INFO: Created TensorFlow Lite",
    b"libpng warning: ",
    b"WARNING: All log messages before absl::InitializeLog() is called",
)
_ABSL_START = re.compile(rb"^[IW]\d{4} ")
NATIVE_NOISE = re.compile(
    rb"^(?:[IW]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\]|"
    + b"|".join(re.escape(start) for start in _NOISE_STARTS)
    + rb")"
)

_lock = threading.Lock()
_installed = False


def quiet_native_logs() -> bool:
    """Filter native log noise out of this process's stderr (idempotent).

    The filter runs in a small forked process, not a thread, so what native code writes
    just before a crash (absl's fatal lines, then abort) still reaches the terminal.
    Returns False (and changes nothing) where that is not possible (no ``fork``, fd 2
    not redirectable).
    """
    global _installed
    with _lock:
        if _installed:
            return True
        if not hasattr(os, "fork"):
            return False
        try:
            sys.stderr.flush()
            terminal = os.dup(2)
            read_end, write_end = os.pipe()
        except OSError:
            return False
        pid = os.fork()
        if pid == 0:  # the filter: reads until every writer has closed fd 2
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the program
            os.close(write_end)
            try:
                _forward(read_end, terminal)
            finally:
                os._exit(0)
        os.close(read_end)
        os.dup2(write_end, 2)
        os.close(write_end)
        # Python writes to the terminal itself, unfiltered and in order.
        sys.stderr = io.TextIOWrapper(
            os.fdopen(terminal, "wb", buffering=0),
            encoding=getattr(sys.stderr, "encoding", None) or "utf-8",
            errors="backslashreplace",
            line_buffering=True,
        )
        atexit.register(_drain, pid)
        _installed = True
        return True


def _forward(read_end: int, terminal: int) -> None:
    pending = b""
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        while chunk := pipe.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            kept = [line + b"\n" for line in lines if not NATIVE_NOISE.match(line)]
            if kept:
                os.write(terminal, b"".join(kept))
    if pending and not _is_noise_fragment(pending):
        os.write(terminal, pending)


def _is_noise_fragment(tail: bytes) -> bool:
    """Whether an unfinished last line (the pipe closed before its newline) is noise: a
    whole noise line, the start of one, or an absl line cut short."""
    return bool(
        NATIVE_NOISE.match(tail)
        or _ABSL_START.match(tail)
        or any(start.startswith(tail) for start in _NOISE_STARTS)
    )


def _drain(pid: int) -> None:
    # Close this process's end of fd 2, then give the filter a moment to pass on the
    # last lines before the shell prints its prompt.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    except OSError:
        return
    for _ in range(100):
        try:
            done, _status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        time.sleep(0.01)

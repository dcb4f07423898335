"""What the kiosk's process does to itself before it holds a shopper's data.

Between two shoppers the process's memory holds what the last one typed and showed: the
digits of a phone number or a PIN in Python strings not yet reused, camera frames, a
template inside the sealing call. A core dump writes all of it to disk (``core`` in the
working folder, or ``/var/lib/systemd/coredump``), for anyone who later holds the disk.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import resource

__all__ = ["no_core_dumps"]

# prctl(2): PR_SET_DUMPABLE 0 also stops a process of the same user from attaching a
# debugger and reading the memory (ptrace); PR_GET_DUMPABLE reads the flag back.
_PR_GET_DUMPABLE, _PR_SET_DUMPABLE = 3, 4


def no_core_dumps() -> bool:
    """No core file, and no dump handed to a core-dump collector, for this process: its
    core size limit is 0 and it is not dumpable. True when the kernel says so afterwards
    (False where ``prctl`` is missing: not Linux, or no C library found)."""
    # (A hard limit this process may not lower further is left as it is.)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        prctl = ctypes.CDLL(name, use_errno=True).prctl
    except (OSError, AttributeError):
        return False
    prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    return bool(prctl(_PR_GET_DUMPABLE, 0, 0, 0, 0) == 0)

"""A pytest plugin: the native libraries' log lines stay out of a test run's output.

mediapipe writes its ``W0000 ... inference_feedback_manager.cc:114] Feedback manager
requires ...`` line from one of its own threads, straight to file descriptor 2, a moment
after a face mesh is built. pytest's capture takes what lands while a test runs, but a
line that lands while pytest has fd 2 back on the terminal (between a test's phases,
while it reports) shows in the middle of the progress dots. This plugin puts
:func:`facepay.quiet_native_logs`' filter under pytest's capture, before pytest takes fd
2, so those lines are dropped wherever they land and every other line (a test's output,
a traceback, an absl error) passes on unchanged.

facepay's own suite loads it from ``pyproject.toml`` (``-p facepay.testing.pytest_plugin``);
a till's suite can do the same. ``-p no:facepay.testing.pytest_plugin`` shows everything.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from facepay._native_logs import quiet_native_logs

__all__ = ["pytest_load_initial_conftests"]


# A wrapper tried first: it runs before pytest's capture wrapper starts capturing, so the
# fd 2 that pytest saves (and puts back between phases) is already the filter's.
@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> Generator[None, None, None]:
    quiet_native_logs()
    yield

"""Keep onnxruntime from writing a telemetry queue and a device id on a biometric till.

onnxruntime 1.32 on Linux starts its telemetry when it is imported: it writes a device id
and an event database under ``~/.cache/Microsoft/DeveloperTools/.onnxruntime`` and queues
events for upload. ``ORT_DISABLE_TELEMETRY=1``, set before that import, turns all of it
off. Every facepay module that imports onnxruntime calls :func:`before_importing` first
(docs/privacy.md; tests/security/test_attack_shoppers_telemetry.py checks the folder stays
empty). No onnxruntime import happens here: this module is safe for any stage.
"""

from __future__ import annotations

import logging
import os
import sys

__all__ = ["before_importing"]

logger = logging.getLogger(__name__)

_VARIABLE = "ORT_DISABLE_TELEMETRY"


def before_importing() -> None:
    """Switch onnxruntime's telemetry off for this process (call before its import)."""
    if "onnxruntime" in sys.modules:
        if os.environ.get(_VARIABLE) != "1":
            logger.warning(
                "onnxruntime was imported before facepay could switch its telemetry off; "
                "set %s=1 in the environment of this process",
                _VARIABLE,
            )
        return
    os.environ[_VARIABLE] = "1"

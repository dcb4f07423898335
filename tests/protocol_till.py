"""Moved to :mod:`facepay.testing` (the raw till, synthetic faces). A re-export for this
session's other branches; to be removed once they have merged."""

from facepay.testing.protocol_till import (
    CONSENT,
    PHONE,
    ProtocolTill,
    face,
    rows,
    same_face,
    seeded_liveness,
)

__all__ = ["CONSENT", "PHONE", "ProtocolTill", "face", "rows", "same_face", "seeded_liveness"]

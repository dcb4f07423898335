"""What makes a retry the same request, and an answer as it is stored for replays.

A payment is answered again, never decided again, in three places: a stored answer read
with its inputs (``Payments.authorize``), a concurrent retry that spent the session first,
and one that wrote the same key first; all three go through
:class:`facepay.server._answers.StoredAnswers`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from facepay.wire import AuthorizationResponse

__all__ = ["canonical_hash", "stored_answer"]


def canonical_hash(model: Any) -> str:
    data = model.model_dump(mode="json")
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stored_answer(response: AuthorizationResponse) -> str:
    """An answer as stored for replays: without the privacy code, a secret that lets
    anyone with the claim read or erase the shopper's data. A replay puts it back from
    the shopper's wrapped copy (facepay.server._answers), so it goes when the shopper is
    deleted."""
    return response.model_copy(update={"privacy_code": None}).model_dump_json()

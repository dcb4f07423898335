"""The backend's decision rules for templates, shoppers and galleries, as plain functions.

Each one takes plain data (no database, no clock, no HTTP) and returns a verdict, so a
rule can be read and tested on its own; :mod:`facepay.server._service` gathers the data
and acts on the verdict.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["accepted_models", "counts_against_claim", "template_refusal"]


def accepted_models(entries: tuple[str, ...]) -> dict[str, int]:
    """``ServerConfig.template_models`` ("model_id:dimension" entries) as a mapping."""
    models: dict[str, int] = {}
    for entry in entries:
        model_id, _, dim = entry.rpartition(":")
        models[model_id] = int(dim)
    return models


def template_refusal(
    models: Mapping[str, int], model_id: str, dimension: int, pinned: int | None = None
) -> str | None:
    """Why a template of ``model_id`` and ``dimension`` must be refused, or None.

    Only configured model ids at their configured size pass; ``pinned`` is the size the
    tenant's first enrollment of that model fixed in the database (it wins over a
    configuration changed since, which would split the tenant's gallery)."""
    expected = models.get(model_id)
    if expected is None:
        return "this backend does not accept templates of that model"
    if dimension != expected or (pinned is not None and dimension != pinned):
        return "template has the wrong dimension"
    return None


def counts_against_claim(*, claimed: bool, face_compared: bool) -> bool:
    """Whether a declined payment counts toward locking out the claimed shopper.

    Only when a face was compared with the claimed shopper's template: a refusal before
    that (liveness failed, nobody enrolled under the claim) says nothing about the
    shopper, and counting it let a rogue till lock anyone out of face payments everywhere
    with five ``not_live`` attempts and nothing but a phone number (issue 12, item 9).
    Such attempts still count against the device."""
    return claimed and face_compared

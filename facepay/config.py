"""Every tunable threshold in facepay, one frozen keyword-only dataclass per component.

Each field documents its default and where the value comes from. ``X.from_env()`` reads
overrides from ``FACEPAY_<COMPONENT>_<FIELD>`` environment variables (e.g.
``FACEPAY_QUALITY_MIN_INTEROCULAR_PX=60``), so a retailer can tune a till without code.
Components add their dataclass here and register it in ``__all__``.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from facepay.errors import ConfigurationError

__all__ = ["env_overrides"]

_T = TypeVar("_T")


def _coerce(raw: str, annotation: Any, name: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        if raw.strip().lower() in ("", "none", "null"):
            return None
        return _coerce(raw, non_none[0], name)
    if origin is tuple:
        return tuple(_coerce(p.strip(), args[0], name) for p in raw.split(",") if p.strip())
    try:
        if annotation is bool:
            if raw.strip().lower() in ("1", "true", "yes", "on"):
                return True
            if raw.strip().lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if annotation in (int, float, str):
            return annotation(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name}: cannot read {raw!r} as {annotation}") from exc
    raise ConfigurationError(f"{name}: environment override not supported for {annotation}")


def env_overrides(
    cls: type[_T], prefix: str, environ: Mapping[str, str] | None = None, **kwargs: Any
) -> _T:
    """Build ``cls`` from its defaults, ``FACEPAY_<PREFIX>_<FIELD>`` variables, then kwargs."""
    env = os.environ if environ is None else environ
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        key = f"FACEPAY_{prefix.upper()}_{f.name.upper()}"
        if key in env:
            values[f.name] = _coerce(env[key], hints[f.name], key)
    values.update(kwargs)
    return cls(**values)

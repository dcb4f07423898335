"""The public surface is exactly ``facepay.__all__``, sorted, and every name resolves."""

from __future__ import annotations

import ast
from pathlib import Path

import facepay

REPO = Path(__file__).resolve().parent.parent


def test_all_is_sorted_and_unique() -> None:
    names = [n for n in facepay.__all__ if n != "__version__"]
    assert names == sorted(names)
    assert len(set(facepay.__all__)) == len(facepay.__all__)


def test_every_public_name_resolves() -> None:
    for name in facepay.__all__:
        assert hasattr(facepay, name), name


def test_public_modules_import_nothing_private_publicly() -> None:
    public = {n for n in dir(facepay) if not n.startswith("_")} - {"annotations"}
    # Submodules show up as attributes once imported; everything else must be in __all__.
    import types

    leaked = {
        n
        for n in public - set(facepay.__all__)
        if not isinstance(getattr(facepay, n), types.ModuleType)
    }
    assert not leaked, f"names exported but not in __all__: {sorted(leaked)}"


def test_kiosk_imports_only_public_names() -> None:
    """kiosk_app may only ``from facepay import X`` with X in ``facepay.__all__``."""
    offenders = []
    for path in (REPO / "kiosk_app").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("facepay")
            ):
                if node.module != "facepay":
                    offenders.append(f"{path.name}: from {node.module}")
                    continue
                for alias in node.names:
                    if alias.name not in facepay.__all__:
                        offenders.append(f"{path.name}: {alias.name}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("facepay."):
                        offenders.append(f"{path.name}: import {alias.name}")
    assert not offenders, offenders

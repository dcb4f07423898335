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


def _stub_names() -> dict[str, str]:
    """name -> subpackage, from facepay/__init__.pyi (the one list of the public API)."""
    tree = ast.parse((REPO / "facepay" / "__init__.pyi").read_text(encoding="utf-8"))
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            assert node.level == 1, ast.dump(node)
            assert node.module, ast.dump(node)
            for alias in node.names:
                # A stub re-exports only ``X as X`` (mypy strict, no implicit re-export).
                assert alias.asname == alias.name, alias.name
                assert alias.name not in names, f"{alias.name} is listed twice"
                names[alias.name] = f"facepay.{node.module}"
    return names


def test_all_is_exactly_the_stub_and_each_name_is_its_subpackages_object() -> None:
    import importlib

    stub = _stub_names()
    assert set(facepay.__all__) == set(stub) | {"__version__"}
    assert sorted(dir(facepay)) == sorted(stub)  # what tab completion offers
    for name, module in stub.items():
        assert getattr(facepay, name) is getattr(importlib.import_module(module), name), name


def test_the_surface_is_what_an_integrator_needs_not_everything() -> None:
    """About 40 names (it was 95): what a POS integration and the kiosk import; the rest
    is importable from its subpackage only."""
    # 51: WeakPinError, the typed refusal of a shopper's PIN the kiosk shows (issue 16).
    # 52: OrderPayment, what Till.order_payments answers a POS back from a crash.
    # 53: OrderAlreadyPaidError, the refusal a POS must act on (offer no card for the order).
    assert len(facepay.__all__) <= 53
    for moved in ("OnnxEmbedder", "ChallengePlan", "SealedTemplate", "FacePayClient"):
        assert moved not in facepay.__all__
        try:
            getattr(facepay, moved)
        except AttributeError:
            pass
        else:
            raise AssertionError(f"facepay.{moved} resolves but is not public")
    import importlib

    for module, name in (
        ("facepay.vision", "OnnxEmbedder"),
        ("facepay.liveness", "ChallengePlan"),
        ("facepay.types", "SealedTemplate"),
        ("facepay.client", "FacePayClient"),
    ):
        assert hasattr(importlib.import_module(module), name), f"{module}.{name}"


def _python_blocks(markdown: str) -> list[str]:
    import re

    return re.findall(r"```python\n(.*?)```", markdown, flags=re.S)


def test_examples_docs_and_scripts_import_only_public_names() -> None:
    """What the examples and docs show a newcomer works: every ``from facepay import X``
    names a public name (or a subpackage)."""
    import pkgutil

    subpackages = {m.name for m in pkgutil.iter_modules(facepay.__path__)}
    sources = [(p, p.read_text(encoding="utf-8")) for p in (REPO / "examples").rglob("*.py")]
    sources += [(p, p.read_text(encoding="utf-8")) for p in (REPO / "scripts").rglob("*.py")]
    for doc in (REPO / "docs").rglob("*.md"):
        sources += [(doc, block) for block in _python_blocks(doc.read_text(encoding="utf-8"))]
    offenders = []
    for path, text in sources:
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and node.module == "facepay":
                for alias in node.names:
                    if alias.name not in facepay.__all__ and alias.name not in subpackages:
                        offenders.append(f"{path.relative_to(REPO)}: {alias.name}")
    assert not offenders, offenders

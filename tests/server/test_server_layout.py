"""The backend's layout holds: the modules that decide read named rows and write through
the repository; no statement is written in the facade, the HTTP layer or the parts."""

from __future__ import annotations

import ast
from pathlib import Path

import facepay.server

SERVER = Path(facepay.server.__file__).parent
REPOSITORY = SERVER / "_repository"
# The modules that own tables and their statements: the repository package for most (one
# module per table or concern), the device gate for devices and nonces, the PIN store for
# PINs, the migrations.
OWN_SQL = {"_devices.py", "_pins.py", "_storage.py"}


def _statements(path: Path) -> list[str]:
    """Each ``<transaction>.execute/one/all(...)`` call in the module, as line:call."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("execute", "one", "all")
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "tx"
        ):
            found.append(f"{path.name}:{node.lineno}: tx.{node.func.attr}")
    return found


def test_no_sql_outside_the_modules_that_own_the_tables() -> None:
    # Every module of the backend, in subpackages too, except the ones that own tables.
    checked = [
        p
        for p in sorted(SERVER.rglob("*.py"))
        if p.parent != REPOSITORY and not (p.parent == SERVER and p.name in OWN_SQL)
    ]
    assert {p.name for p in checked} >= {"_service.py", "_app.py", "_sessions.py"}
    stray = [s for p in checked for s in _statements(p)]
    assert stray == []


def test_the_repository_is_a_package_of_modules_that_each_hold_statements() -> None:
    assert not (SERVER / "_repository.py").exists()
    modules = sorted(p for p in REPOSITORY.glob("*.py") if p.name != "__init__.py")
    assert len(modules) >= 8
    assert [p.name for p in modules if not _statements(p)] == []
    assert _statements(REPOSITORY / "__init__.py") == []


def test_the_guard_sees_a_statement() -> None:
    assert len([s for p in REPOSITORY.glob("*.py") for s in _statements(p)]) > 20

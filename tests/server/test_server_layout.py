"""The backend's layout holds: the modules that decide read named rows and write through
the repository; no statement is written in the facade, the HTTP layer or the parts."""

from __future__ import annotations

import ast
from pathlib import Path

import facepay.server

SERVER = Path(facepay.server.__file__).parent
# The modules that own tables and their statements: the repository for most, the device
# gate for devices and nonces, the PIN store for PINs, the migrations.
OWN_SQL = {"_repository.py", "_devices.py", "_pins.py", "_storage.py"}


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
    checked = [p for p in sorted(SERVER.glob("_*.py")) if p.name not in OWN_SQL]
    assert {p.name for p in checked} >= {"_service.py", "_app.py", "_sessions.py"}
    stray = [s for p in checked for s in _statements(p)]
    assert stray == []


def test_the_guard_sees_a_statement() -> None:
    repository = SERVER / "_repository.py"
    assert len(_statements(repository)) > 20

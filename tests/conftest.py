"""Shared fixtures. Fakes only at real seams (frame source, HTTP transport, clock)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent


def _eval_path() -> Path:
    return Path(os.environ.get("FACEPAY_EVAL_DIR", REPO.parent / "shared" / "eval"))


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def eval_dir() -> Path:
    """``../shared/eval``: real third-party photos and clips, read in place, never copied."""
    path = _eval_path()
    if not (path / "README.md").exists():
        pytest.fail(f"evaluation data not found at {path} (set FACEPAY_EVAL_DIR)")
    return path


# The tests that need ../shared/eval (marked ``eval``, or asking for ``eval_dir``). Without
# the folder, CI (CI=true) lets them fail: missing data must never pass as green. Anywhere
# else they are deselected and ONE loud line at the end says how many and why, so a clone
# outside this workspace runs the core suite (README.md, "Tests").
_MISSING_EVAL_KEY = pytest.StashKey[int]()


def _needs_eval(item: pytest.Item) -> bool:
    return item.get_closest_marker("eval") is not None or "eval_dir" in getattr(
        item, "fixturenames", ()
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if (_eval_path() / "README.md").exists() or _in_ci():
        return
    needing = [item for item in items if _needs_eval(item)]
    if not needing:
        return
    items[:] = [item for item in items if not _needs_eval(item)]
    config.hook.pytest_deselected(items=needing)
    config.stash[_MISSING_EVAL_KEY] = len(needing)
    # Under pytest-xdist (scripts/test.sh) each worker collects; the controller, which
    # writes the summary, hears the count from them (pytest_testnodedown below).
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["facepay_missing_eval"] = len(needing)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """pytest-xdist: a worker has finished; keep its count of deselected eval tests."""
    missing = getattr(node, "workeroutput", {}).get("facepay_missing_eval", 0)
    config = node.config
    config.stash[_MISSING_EVAL_KEY] = max(config.stash.get(_MISSING_EVAL_KEY, 0), missing)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    missing = config.stash.get(_MISSING_EVAL_KEY, 0)
    if missing:
        terminalreporter.write_line(
            f"facepay: {missing} evaluation-data tests (marker 'eval') DID NOT RUN: no "
            f"evaluation data at {_eval_path()} (set FACEPAY_EVAL_DIR; with CI=true they fail)",
            red=True,
            bold=True,
        )


@pytest.fixture(autouse=True)
def _isolated_user_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep a developer's own settings and caches out of tests, but share one model cache
    per test session so the dlib-to-ONNX conversion runs once."""
    for key in list(os.environ):
        if key.startswith("FACEPAY_") and key not in (
            "FACEPAY_EVAL_DIR",
            "FACEPAY_TEST_POSTGRES_DSN",
            "FACEPAY_MODEL_CACHE",
        ):
            monkeypatch.delenv(key)


# A real PostgreSQL 15 for the backend and attack suites: ``FACEPAY_TEST_POSTGRES_DSN`` when
# set (CI may provide one); otherwise one throwaway cluster for the test session
# (facepay.testing.TemporaryPostgres, as the ``postgres`` user when run as root). Each test
# gets its own fresh database. A missing PostgreSQL is a failure, never a skip.


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A DSN of a PostgreSQL server's maintenance database for this test session."""
    given = os.environ.get("FACEPAY_TEST_POSTGRES_DSN")
    if given:
        yield given
        return
    from facepay.testing.postgres import TemporaryPostgres

    with TemporaryPostgres() as pg:
        yield pg.dsn


@pytest.fixture
def postgres_dsn(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the session's PostgreSQL server, dropped afterwards."""
    import psycopg

    name = f"facepay_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = postgres_server.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with (
            contextlib.suppress(Exception),
            psycopg.connect(postgres_server, autocommit=True) as conn,
        ):
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A real, empty database: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "backend.db")
    return str(request.getfixturevalue("postgres_dsn"))

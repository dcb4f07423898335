"""Storage: one schema and migrations on SQLite and PostgreSQL, both real."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from facepay.server import open_database
from facepay.server._storage import MIGRATIONS, UniqueViolationError


def test_migrations_apply_once_and_reopen(database_url: str) -> None:
    db = open_database(database_url)
    try:
        assert db.migrate() == MIGRATIONS[-1][0]  # again: nothing to do, same version
        with db.transaction() as tx:
            rows = tx.all("SELECT version FROM schema_migrations ORDER BY version")
        assert [r[0] for r in rows] == [m[0] for m in MIGRATIONS]
    finally:
        db.close()
    reopened = open_database(database_url)
    reopened.close()


def test_unique_violation_is_one_error_and_rolls_back(database_url: str) -> None:
    db = open_database(database_url)
    try:
        with db.transaction() as tx:
            tx.execute(
                "INSERT INTO lockouts (subject, failures, window_start, locked_until) "
                "VALUES (?, ?, ?, ?)",
                ("a", 1, 0.0, 0.0),
            )
        insert = (
            "INSERT INTO lockouts (subject, failures, window_start, locked_until) "
            "VALUES (?, ?, ?, ?)"
        )

        def both() -> None:
            with db.transaction() as tx:
                tx.execute(insert, ("b", 1, 0.0, 0.0))
                tx.execute(insert, ("a", 2, 0.0, 0.0))

        with pytest.raises(UniqueViolationError):
            both()
        with db.transaction() as tx:
            subjects = [r[0] for r in tx.all("SELECT subject FROM lockouts ORDER BY subject")]
        assert subjects == ["a"]  # "b" went with the failed transaction
    finally:
        db.close()


def test_blobs_and_floats_round_trip(database_url: str) -> None:
    db = open_database(database_url)
    try:
        with db.transaction() as tx:
            tx.execute(
                "INSERT INTO tenants (tenant_id, transform_key_wrapped, created_at) "
                "VALUES (?, ?, ?)",
                ("t", b"\x00\xffbytes", 1767139200.25),
            )
            row = tx.one("SELECT transform_key_wrapped, created_at FROM tenants")
        assert row == (b"\x00\xffbytes", 1767139200.25)
    finally:
        db.close()


def test_sqlite_checkpoints_off_the_commit_path(tmp_path: Path) -> None:
    """No commit pays for a checkpoint (wal_autocheckpoint=0 on every connection); the
    background thread copies the WAL back into the file within a moment."""
    path = tmp_path / "c.db"
    db = open_database(path)
    try:
        with db.transaction() as tx:
            assert tx.one("PRAGMA wal_autocheckpoint") == (0,)
        before = path.stat().st_size
        for i in range(300):
            with db.transaction() as tx:
                tx.execute(
                    "INSERT INTO lockouts (subject, failures, window_start, locked_until) "
                    "VALUES (?, ?, ?, ?)",
                    (f"subject-{i:04d}-" + "x" * 200, 1, 0.0, 0.0),
                )
        deadline = time.monotonic() + 10
        while path.stat().st_size <= before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert path.stat().st_size > before  # pages reached the main file: checkpointed
    finally:
        db.close()

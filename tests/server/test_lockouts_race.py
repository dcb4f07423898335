"""Failures counted at the same moment on several connections are all counted.

A lockout is a count in the database so that every worker and replica counts together
(docs/security.md). Counting is read-then-write; without a row lock two PostgreSQL
transactions that read the same count both write the same next one, and an attacker who
sends his tries at once gets more of them than ``lockout_failures``.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from facepay.config import ServerConfig
from facepay.server import _repository as repository
from facepay.server._gallery import GalleryRegistry
from facepay.server._lockouts import Lockouts
from facepay.server._part import BackendContext
from facepay.server._storage import open_database
from facepay.server._vault import Vault

THREADS = 8
ROUNDS = 3


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_failures_counted_at_once_on_many_connections_are_all_counted(
    database_url: str, tmp_path: Path
) -> None:
    db = open_database(database_url, pool_size=THREADS + 1)
    try:
        config = ServerConfig(lockout_failures=1000)  # counting only: never reach the lock
        context = BackendContext(
            db, Vault.open(tmp_path / "keys"), config, GalleryRegistry(), lambda: 1_000.0
        )
        lockouts = Lockouts(context)
        start = threading.Barrier(THREADS)
        errors: list[BaseException] = []

        def fail_at_once(subject: str) -> None:
            try:
                start.wait()
                with db.transaction() as tx:
                    lockouts.record_failure(tx, subject, 60.0)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        for round_ in range(ROUNDS):  # a fresh subject (no row yet) and existing rows
            subject = "device:racer" if round_ else "device:new"
            threads = [
                threading.Thread(target=fail_at_once, args=(subject,)) for _ in range(THREADS)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert errors == []
        with db.transaction(readonly=True) as tx:
            new = repository.read_lockout(tx, "device:new")
            racer = repository.read_lockout(tx, "device:racer")
        assert new is not None
        assert new.failures == THREADS
        assert racer is not None
        assert racer.failures == THREADS * (ROUNDS - 1)
    finally:
        db.close()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_the_failure_that_locks_is_counted_once_among_racers(
    database_url: str, tmp_path: Path
) -> None:
    db = open_database(database_url, pool_size=THREADS + 1)
    try:
        config = ServerConfig(lockout_failures=5)
        context = BackendContext(
            db, Vault.open(tmp_path / "keys"), config, GalleryRegistry(), lambda: 1_000.0
        )
        lockouts = Lockouts(context)
        start = threading.Barrier(5)

        def fail_at_once() -> None:
            start.wait()
            with db.transaction() as tx:
                lockouts.record_failure(tx, "device:five", 60.0)

        threads = [threading.Thread(target=fail_at_once) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with db.transaction(readonly=True) as tx:
            row = repository.read_lockout(tx, "device:five")
        # Five failures at once are five: the fifth locks the device.
        assert row is not None
        assert row.locked_until == pytest.approx(1_060.0)
    finally:
        db.close()

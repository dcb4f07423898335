"""The backend's database: SQLite (one file, WAL) or PostgreSQL, one schema, one set of
migrations.

The SQL is written once with ``?`` placeholders and a few type tokens (``{blob}``,
``{real}``, ``{bigint}``, ``{autoid}``) that each dialect fills in; everything else is
the common subset of both. Times are unix seconds (floats) so both dialects compare them
the same way.

Every write that matters (an authorization and its answer, a session's consumption) goes
through :meth:`Database.transaction`, which is one database transaction: all or nothing,
whatever happens to the process.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import queue
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

if sys.platform != "win32":
    import fcntl

__all__ = ["Database", "Row", "Transaction", "UniqueViolationError", "open_database"]

logger = logging.getLogger(__name__)


class UniqueViolationError(Exception):
    """A UNIQUE or PRIMARY KEY constraint refused a row (both dialects)."""


# Each migration is a list of statements; applied in order, each version once, inside one
# transaction with its bookkeeping row. Never edit a released migration: add one.
MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (
        1,
        "initial schema",
        (
            """CREATE TABLE tenants (
                tenant_id TEXT PRIMARY KEY,
                transform_key_wrapped {blob} NOT NULL,
                created_at {real} NOT NULL
            )""",
            """CREATE TABLE devices (
                device_id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL,
                store_id TEXT NOT NULL,
                lane_id TEXT NOT NULL,
                public_key {blob} NOT NULL,
                registered_at {real} NOT NULL,
                revoked_at {real}
            )""",
            """CREATE TABLE nonces (
                device_id TEXT NOT NULL,
                nonce TEXT NOT NULL,
                expires_at {real} NOT NULL,
                PRIMARY KEY (device_id, nonce)
            )""",
            "CREATE INDEX nonces_expiry ON nonces (expires_at)",
            """CREATE TABLE sessions (
                session_id TEXT PRIMARY KEY,
                device_id TEXT NOT NULL,
                tenant_id TEXT NOT NULL,
                purpose TEXT NOT NULL,
                server_nonce {blob} NOT NULL,
                liveness_seed {blob} NOT NULL,
                created_at {real} NOT NULL,
                expires_at {real} NOT NULL,
                used_at {real}
            )""",
            "CREATE INDEX sessions_expiry ON sessions (expires_at)",
            """CREATE TABLE shoppers (
                shopper_id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL,
                claim_kind TEXT NOT NULL,
                claim_hash TEXT,
                claim_last4 TEXT,
                privacy_code_hash TEXT,
                privacy_code_wrapped {blob},
                payment_token TEXT,
                masked_payment_method TEXT NOT NULL,
                consent_json TEXT NOT NULL,
                consent_received_at {real} NOT NULL,
                consent_withdrawn_at {real},
                retention_days {bigint} NOT NULL,
                enrolled_at {real} NOT NULL,
                last_used_at {real} NOT NULL,
                model_id TEXT,
                template_dim {bigint},
                data_key_wrapped {blob},
                template_sealed {blob},
                enrolled_by_device TEXT NOT NULL,
                deleted_at {real}
            )""",
            "CREATE UNIQUE INDEX shoppers_claim ON shoppers (tenant_id, claim_hash)",
            "CREATE INDEX shoppers_privacy ON shoppers (privacy_code_hash)",
            "CREATE INDEX shoppers_last_used ON shoppers (last_used_at)",
            """CREATE TABLE authorizations (
                authorization_id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL,
                device_id TEXT NOT NULL,
                idempotency_key TEXT NOT NULL,
                request_hash TEXT NOT NULL,
                session_id TEXT NOT NULL,
                amount_minor {bigint} NOT NULL,
                currency TEXT NOT NULL,
                basket_reference TEXT NOT NULL,
                status TEXT NOT NULL,
                decline_reason TEXT,
                shopper_id TEXT,
                receipt_id TEXT,
                response_json TEXT NOT NULL,
                step_up_candidates TEXT,
                step_up_expires_at {real},
                created_at {real} NOT NULL,
                updated_at {real} NOT NULL
            )""",
            """CREATE UNIQUE INDEX authorizations_idempotency
                ON authorizations (tenant_id, idempotency_key)""",
            "CREATE INDEX authorizations_shopper ON authorizations (shopper_id)",
            """CREATE TABLE step_up_answers (
                tenant_id TEXT NOT NULL,
                idempotency_key TEXT NOT NULL,
                request_hash TEXT NOT NULL,
                authorization_id TEXT NOT NULL,
                response_json TEXT NOT NULL,
                created_at {real} NOT NULL,
                PRIMARY KEY (tenant_id, idempotency_key)
            )""",
            """CREATE TABLE lockouts (
                subject TEXT PRIMARY KEY,
                failures {bigint} NOT NULL,
                window_start {real} NOT NULL,
                locked_until {real} NOT NULL
            )""",
            """CREATE TABLE audit_log (
                id {autoid},
                at {real} NOT NULL,
                tenant_id TEXT,
                device_id TEXT,
                event TEXT NOT NULL,
                subject_id TEXT,
                details_json TEXT NOT NULL
            )""",
            """CREATE TABLE deletion_receipts (
                receipt_id TEXT PRIMARY KEY,
                shopper_id TEXT NOT NULL,
                deleted_at {real} NOT NULL,
                receipt_json TEXT NOT NULL
            )""",
        ),
    ),
    (
        2,
        "replica gallery sync",
        # Several backend processes share one database: each one's 1:N gallery picks up
        # enrollments made through the others by enrolment time (GalleryCache.sync in _galleries).
        ("CREATE INDEX shoppers_tenant_enrolled ON shoppers (tenant_id, enrolled_at)",),
    ),
    (
        3,
        "devices: shared rate limit, revocation, retired keys",
        # Every worker and replica reads the same per-device token bucket (the devices
        # row) and the same revocation (facepay.server._devices). A revoked or replaced
        # key is kept here so that it can never be registered again.
        (
            "ALTER TABLE devices ADD COLUMN rate_tokens {real}",
            "ALTER TABLE devices ADD COLUMN rate_updated_at {real}",
            """CREATE TABLE retired_device_keys (
                public_key {blob} PRIMARY KEY,
                device_id TEXT NOT NULL,
                retired_at {real} NOT NULL
            )""",
        ),
    ),
    (
        4,
        "templates, shoppers and galleries hardened (issue 12)",
        (
            # One template dimension per (tenant, model id), pinned by the first enrollment:
            # the primary key means two workers racing with two sizes cannot both commit.
            """CREATE TABLE template_models (
                tenant_id TEXT NOT NULL,
                model_id TEXT NOT NULL,
                template_dim {bigint} NOT NULL,
                pinned_at {real} NOT NULL,
                PRIMARY KEY (tenant_id, model_id)
            )""",
            """INSERT INTO template_models (tenant_id, model_id, template_dim, pinned_at)
                SELECT tenant_id, model_id, min(template_dim), min(enrolled_at) FROM shoppers
                WHERE model_id IS NOT NULL AND template_dim IS NOT NULL
                GROUP BY tenant_id, model_id""",
            # When a template was shredded (deletion, withdrawal, retention): every
            # process's gallery drops it by this time (GalleryCache.sync in _galleries).
            "ALTER TABLE shoppers ADD COLUMN template_removed_at {real}",
            """CREATE INDEX shoppers_tenant_removed
                ON shoppers (tenant_id, template_removed_at)""",
            # Unauthenticated shopper-rights calls, counted per source per window.
            """CREATE TABLE request_windows (
                subject TEXT PRIMARY KEY,
                requests {bigint} NOT NULL,
                window_start {real} NOT NULL
            )""",
            "CREATE INDEX request_windows_start ON request_windows (window_start)",
            "CREATE INDEX lockouts_window ON lockouts (window_start)",
        ),
    ),
    (
        5,
        "template sets that learn (issue 16)",
        (
            # template_sealed now holds a set of views (facepay.server._vault). An adaptive
            # update rewrites it: the version lets the write check nobody else rewrote it
            # first, and every process's gallery reloads a shopper whose version moved on;
            # template_updated_at (enrolment or last update) is how they find those rows.
            "ALTER TABLE shoppers ADD COLUMN template_version {bigint} NOT NULL DEFAULT 1",
            "ALTER TABLE shoppers ADD COLUMN template_updated_at {real}",
            "UPDATE shoppers SET template_updated_at = enrolled_at",
            """CREATE INDEX shoppers_tenant_updated
                ON shoppers (tenant_id, template_updated_at)""",
        ),
    ),
    (
        6,
        "shopper PINs for the grey-zone step-up (issue 16)",
        (
            # Never the PIN: scrypt of a keyed hash of it, salted per shopper
            # (facepay.crypto.stretch_pin). ``failures`` counts wrong PINs in a row for
            # every worker and replica (facepay.server._pins); the row goes with the
            # template (deletion, withdrawal, retention).
            """CREATE TABLE shopper_pins (
                shopper_id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL,
                scheme TEXT NOT NULL,
                salt {blob} NOT NULL,
                pin_hash {blob} NOT NULL,
                failures {bigint} NOT NULL,
                set_at {real} NOT NULL
            )""",
        ),
    ),
    (
        7,
        "a till's not_live report spends its session (issue 16)",
        (
            # When the till's liveness ended not_live and it said so
            # (POST /v1/sessions/{id}/liveness-refusal, facepay.server._reports): the
            # session is spent then (used_at), and the hash of the report lets a retry of
            # the same report be answered again without counting twice. Deleted with the
            # session when it expires.
            "ALTER TABLE sessions ADD COLUMN refused_at {real}",
            "ALTER TABLE sessions ADD COLUMN refusal_hash TEXT",
        ),
    ),
    (
        8,
        "audit lines found by their subject",
        (
            # A deletion and the lockout sweep rewrite a claim's audit lines to
            # ``claim:erased`` (facepay.server._repository.rights / lockouts): found by
            # subject_id, which without an index was a scan of the whole log per deletion.
            "CREATE INDEX audit_log_subject ON audit_log (subject_id)",
        ),
    ),
    (
        9,
        "authorizations found by their order",
        (
            # A till back from a crash asks for an order's payments by its basket
            # reference (GET /v1/authorizations?basket_reference=, facepay.server._ledger):
            # found within the tenant, which without an index was a scan of the ledger.
            """CREATE INDEX authorizations_order
                ON authorizations (tenant_id, basket_reference)""",
        ),
    ),
    (
        10,
        "one approved payment per order",
        (
            # An order (a tenant's basket reference) is paid once, whichever till, lane or
            # worker asks: a second approval for it is refused by this index inside the
            # approving write (an authorization's insert, a step-up's update), so two
            # requests racing on one order cannot both commit (facepay.server._payments).
            # Orders paid twice before this migration stay in the ledger as they were:
            # every approval after an order's first names that first in duplicate_of and
            # stays out of the index, so the migration never fails on an old ledger.
            "ALTER TABLE authorizations ADD COLUMN duplicate_of TEXT",
            """UPDATE authorizations SET duplicate_of = (
                SELECT earliest.authorization_id FROM authorizations AS earliest
                WHERE earliest.tenant_id = authorizations.tenant_id
                AND earliest.basket_reference = authorizations.basket_reference
                AND earliest.status = 'approved'
                ORDER BY earliest.created_at, earliest.authorization_id LIMIT 1)
                WHERE status = 'approved'""",
            "UPDATE authorizations SET duplicate_of = NULL WHERE duplicate_of = authorization_id",
            """CREATE UNIQUE INDEX authorizations_paid_once
                ON authorizations (tenant_id, basket_reference)
                WHERE status = 'approved' AND duplicate_of IS NULL""",
        ),
    ),
)

_TOKENS = {
    "sqlite": {
        "blob": "BLOB",
        "real": "REAL",
        "bigint": "INTEGER",
        "autoid": "INTEGER PRIMARY KEY AUTOINCREMENT",
    },
    "postgres": {
        "blob": "BYTEA",
        "real": "DOUBLE PRECISION",
        "bigint": "BIGINT",
        "autoid": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    },
}

Row = tuple[Any, ...]


class Transaction:
    """One open transaction: ``execute`` statements, read rows, all committed together."""

    def __init__(self, cursor: Any, dialect: str) -> None:
        self._cursor = cursor
        self._dialect = dialect

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgres"``: for the few statements the two spell apart."""
        return self._dialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        if self._dialect == "postgres":
            sql = sql.replace("?", "%s")
        try:
            self._cursor.execute(sql, tuple(params))
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc) or "PRIMARY KEY" in str(exc):
                raise UniqueViolationError(str(exc)) from None
            raise
        except Exception as exc:
            if type(exc).__name__ == "UniqueViolation":  # psycopg.errors.UniqueViolation
                raise UniqueViolationError(str(exc)) from None
            raise
        return int(self._cursor.rowcount)

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        self.execute(sql, params)
        row = self._cursor.fetchone()
        return None if row is None else tuple(_plain(v) for v in row)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        self.execute(sql, params)
        return [tuple(_plain(v) for v in row) for row in self._cursor.fetchall()]


@contextlib.contextmanager
def _committed(conn: Any, cursor: Any, dialect: str) -> Iterator[Transaction]:
    """The open transaction on ``cursor``: committed if the block ends normally, rolled
    back if it raises; the cursor closed either way."""
    try:
        yield Transaction(cursor, dialect)
    except BaseException:
        conn.rollback()
        raise
    else:
        conn.commit()
    finally:
        cursor.close()


def _plain(value: Any) -> Any:
    # psycopg returns memoryview for BYTEA; sqlite3 returns bytes.
    return bytes(value) if isinstance(value, memoryview) else value


class Database:
    """A connection pool for one database, with migrations applied on open."""

    dialect: str
    description: str

    @contextlib.contextmanager
    def transaction(self, *, readonly: bool = False) -> Iterator[Transaction]:
        """One transaction; ``readonly`` ones never wait for the write lock (SQLite)."""
        raise NotImplementedError
        yield  # pragma: no cover

    @contextlib.contextmanager
    def reads(self) -> Iterator[Transaction]:
        """Statements that only read, each on its own (autocommit: no BEGIN/COMMIT round
        trips, no snapshot shared between them), on one connection."""
        raise NotImplementedError
        yield  # pragma: no cover

    def close(self) -> None:
        raise NotImplementedError

    def scrub(self) -> None:
        """After a deletion: push erased bytes out of logs the engine keeps (best effort)."""

    def migrate(self) -> int:
        """Apply pending migrations; return the schema version."""
        tokens = _TOKENS[self.dialect]
        with self.transaction() as tx:
            tx.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                f"version {tokens['bigint']} PRIMARY KEY, name TEXT NOT NULL, "
                f"applied_at {tokens['real']} NOT NULL)"
            )
        version = 0
        for number, name, statements in MIGRATIONS:
            with self.transaction() as tx:
                if self.dialect == "postgres":
                    # Several replicas may start at once: one migrates, the others wait.
                    tx.execute("SELECT pg_advisory_xact_lock(4242)")
                if tx.one("SELECT 1 FROM schema_migrations WHERE version = ?", (number,)):
                    version = number
                    continue
                for statement in statements:
                    tx.execute(statement.format(**tokens))
                tx.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (number, name, time.time()),
                )
                logger.info("database migrated to version %d (%s)", number, name)
                version = number
        return version


def _empty_or_sqlite(path: Path) -> bool:
    """Missing, empty, or starting with SQLite's file header."""
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError:
        return True  # missing, or unreadable or a folder: the open below says what is wrong
    return head in (b"", b"SQLite format 3\x00")


def _owner_only(path: Path) -> None:
    """Create the database's folder (0700) and file (0600) for the owner alone, and take
    group and other access away from an existing file and its WAL and shared-memory files
    (SQLite gives those the main file's mode). The file holds wrapped keys, sealed
    templates and the audit log: no other local user reads it."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not _empty_or_sqlite(path):
        return  # not a database: leave the user's file as it was; opening it fails typed
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    os.close(fd)
    for name in (path.name, path.name + "-wal", path.name + "-shm"):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            target = path.with_name(name)
            if target.stat().st_mode & 0o077:
                os.chmod(target, 0o600)


class SQLiteDatabase(Database):
    """One SQLite file in WAL mode; one connection per thread.

    Write transactions start with ``BEGIN IMMEDIATE`` so two writers never deadlock on a
    lock upgrade; readers never block writers (WAL). Checkpoints (copying the WAL back
    into the file, with its fsyncs) run on a background thread, not inside whichever
    commit crosses SQLite's auto-checkpoint size: measured here they made commits ~40 %
    dearer on average with 10-25 ms outliers, and on a backend serving requests on its
    event loop such an outlier stalls every request in flight.
    """

    # Seconds between background checkpoints: the WAL stays a few MB at hundreds of
    # writes a second.
    checkpoint_interval_s = 0.2
    # Rounds of scrub's TRUNCATE checkpoint while another checkpoint or a reader holds it.
    scrub_attempts = 40

    dialect = "sqlite"

    def __init__(self, path: Path, *, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        self.description = f"sqlite:{self.path}"
        self._synchronous = synchronous.upper()
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        _owner_only(self.path)
        # Writers in *other processes* (``serve --workers N``) queue on an flock of this
        # empty file: the kernel wakes the next one when the lock is released, where
        # SQLite's own busy handler would sleep 1, 2, 5, 10 ... ms between retries.
        self._process_lock_path = self.path.with_name(self.path.name + ".writer-lock")
        self._process_lock_fd: int | None = None
        self._checkpointer: threading.Thread | None = None
        self._closing = threading.Event()

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                str(self.path), timeout=30.0, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA foreign_keys=ON")
            # Overwrite deleted content with zeros instead of leaving it in free space:
            # a shredded template's ciphertext and wrapped key must not linger in the file.
            conn.execute("PRAGMA secure_delete=ON")
            conn.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer thread does it
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextlib.contextmanager
    def transaction(self, *, readonly: bool = False) -> Iterator[Transaction]:
        conn = self._connection()
        # Writers queue on a lock (this process's threads) and an flock (other processes)
        # instead of SQLite's busy handler, which sleeps in growing steps (up to 100 ms)
        # and gave 1 s p99 tails under 32 clients; see _writer.
        writer = contextlib.nullcontext() if readonly else self._writer()
        with writer:
            cursor = conn.cursor()
            cursor.execute("BEGIN" if readonly else "BEGIN IMMEDIATE")
            with _committed(conn, cursor, "sqlite") as tx:
                yield tx

    @contextlib.contextmanager
    def reads(self) -> Iterator[Transaction]:
        # isolation_level=None: outside BEGIN every statement is its own transaction.
        cursor = self._connection().cursor()
        try:
            yield Transaction(cursor, "sqlite")
        finally:
            cursor.close()

    def _checkpoints(self) -> None:
        while not self._closing.wait(self.checkpoint_interval_s):
            try:
                # PASSIVE: never waits for, nor blocks, a reader or a writer.
                self._connection().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as exc:  # a busy moment; the next round catches up
                logger.debug("background checkpoint skipped: %s", exc)

    @contextlib.contextmanager
    def _writer(self) -> Iterator[None]:
        if self._checkpointer is None:
            with self._lock:
                if self._checkpointer is None and not self._closing.is_set():
                    self._checkpointer = threading.Thread(
                        target=self._checkpoints, name="facepay-sqlite-checkpoint", daemon=True
                    )
                    self._checkpointer.start()
        with self._write_lock:
            if sys.platform == "win32":  # no flock: SQLite's busy handler queues them
                yield
                return
            if self._process_lock_fd is None:
                self._process_lock_fd = os.open(
                    self._process_lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
                )
            fcntl.flock(self._process_lock_fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._process_lock_fd, fcntl.LOCK_UN)

    def scrub(self) -> None:
        """Checkpoint and truncate the WAL, so the pre-deletion page images it holds (the
        shredded ciphertext and wrapped key) are gone from disk now, not at some later
        checkpoint. It waits for this process's writers (the writer lock) and retries
        while another checkpoint (the background one, another worker's) or a reader holds
        it back, for at most ``scrub_attempts`` rounds; the retention sweep repeats it."""
        conn = self._connection()
        with self._writer():
            for _ in range(self.scrub_attempts):
                # (busy, WAL frames, checkpointed): busy 0 means the WAL is now empty.
                row = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                if row is None or not row[0]:
                    return
                self._closing.wait(0.05)
        logger.warning("the WAL could not be truncated after a deletion; the sweep retries")

    def close(self) -> None:
        self._closing.set()
        if self._checkpointer is not None and self._checkpointer is not threading.current_thread():
            self._checkpointer.join(timeout=5)
        with self._lock:
            for conn in self._all:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._all.clear()
        self._local = threading.local()
        with self._write_lock:
            if self._process_lock_fd is not None:
                os.close(self._process_lock_fd)
                self._process_lock_fd = None


class PostgresDatabase(Database):
    """PostgreSQL through psycopg 3, with a small fixed-size connection pool."""

    dialect = "postgres"

    def __init__(self, dsn: str, *, pool_size: int = 8) -> None:
        import psycopg

        self._psycopg = psycopg
        self._dsn = dsn
        self.description = "postgresql"
        self._pool: queue.LifoQueue[Any] = queue.LifoQueue()
        self._size = pool_size
        self._made = 0
        self._lock = threading.Lock()
        self._closed = False

    def _get(self) -> Any:
        try:
            return self._pool.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if self._made < self._size:
                self._made += 1
                try:
                    return self._psycopg.connect(self._dsn, autocommit=False)
                except BaseException:
                    self._made -= 1
                    raise
        return self._pool.get(timeout=30.0)

    def _put(self, conn: Any) -> None:
        if self._closed or conn.closed or conn.broken:
            with self._lock:
                self._made -= 1
            with contextlib.suppress(Exception):
                conn.close()
            return
        self._pool.put(conn)

    @contextlib.contextmanager
    def transaction(self, *, readonly: bool = False) -> Iterator[Transaction]:
        conn = self._get()
        try:
            with _committed(conn, conn.cursor(), "postgres") as tx:
                yield tx
        finally:
            self._put(conn)

    @contextlib.contextmanager
    def reads(self) -> Iterator[Transaction]:
        conn = self._get()
        try:
            conn.autocommit = True
            cursor = conn.cursor()
            try:
                yield Transaction(cursor, "postgres")
            finally:
                cursor.close()
                conn.autocommit = False
        finally:
            self._put(conn)

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                conn = self._pool.get_nowait()
            except queue.Empty:
                break
            with contextlib.suppress(Exception):
                conn.close()


def open_database(
    target: str | Path, *, synchronous: str = "FULL", pool_size: int = 8, must_exist: bool = False
) -> Database:
    """Open (and migrate) ``target``: a ``postgresql://`` DSN, or a SQLite file path.

    ``must_exist``: a SQLite file that is not there raises ``FileNotFoundError`` instead of
    being created (for commands that only read: a typo must not make an empty ledger).
    """
    text = str(target)
    db: Database
    if text.startswith(("postgresql://", "postgres://")):
        db = PostgresDatabase(text, pool_size=pool_size)
    else:
        if must_exist and not Path(text).is_file():
            raise FileNotFoundError(errno.ENOENT, "no such database", text)
        db = SQLiteDatabase(Path(text), synchronous=synchronous)
    db.migrate()
    return db

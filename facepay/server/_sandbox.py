"""Running the reference backend: in-process (:class:`Sandbox`) or as a server process.

:class:`Sandbox` is the embedded default the SDK's examples, the kiosk demo and the tests
use: a real uvicorn on a free 127.0.0.1 port in a background thread, a real SQLite file
(temporary unless given), real keys. It is a context manager::

    with Sandbox() as sandbox:
        device = sandbox.provision_device()          # registers a fresh DeviceKey
        till = Till.connect(sandbox.base_url, device_key=device.key, device_id=device.device_id)
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import logging
import secrets
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from facepay.config import ClientConfig, ServerConfig
from facepay.crypto import BackendPublicKey, DeviceKey
from facepay.errors import FacePayError
from facepay.server._app import create_app
from facepay.server._ledger import ledger
from facepay.server._service import PaymentBackend
from facepay.server._storage import Database, open_database
from facepay.server._vault import Vault
from facepay.wire import DeviceRegistrationRequest, b64encode

__all__ = [
    "Hold",
    "ProvisionedDevice",
    "Sandbox",
    "SandboxAcquirer",
    "build_backend",
    "default_key_dir",
]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class ProvisionedDevice:
    """A till registered with the sandbox: its id, tenant, store, lane and signing key."""

    device_id: str
    tenant_id: str
    store_id: str
    lane_id: str
    key: DeviceKey = dataclasses.field(repr=False)


def default_key_dir(db: str | Path) -> Path:
    """Keys live next to a SQLite file (``shop.db`` -> ``shop.db.keys/``)."""
    text = str(db)
    if text.startswith(("postgresql://", "postgres://")):
        raise FacePayError("a PostgreSQL backend needs an explicit key directory (--keys)")
    return Path(text).with_name(Path(text).name + ".keys")


def build_backend(
    db: str | Path,
    *,
    key_dir: str | Path | None = None,
    config: ServerConfig | None = None,
    serving: bool = True,
    clock: Callable[[], float] = time.time,
) -> PaymentBackend:
    """Open the database (migrating it), the keys, and load the galleries (``serving``;
    a supervisor that only sweeps leaves them empty). ``clock`` (epoch seconds) is the
    backend's and its keyring's: sessions, request freshness, key grace periods."""
    config = config or ServerConfig.from_env()
    database: Database = open_database(
        db, synchronous=config.sqlite_synchronous, pool_size=config.postgres_pool_size
    )
    vault = Vault.open(
        Path(key_dir) if key_dir is not None else default_key_dir(db),
        suite=config.sealing_suite,
        clock=clock,
    )
    backend = PaymentBackend(database, vault, config, clock=clock)
    if serving:
        backend.load_galleries()
    backend.sweep()
    return backend


# Where a worker process of `facepay sandbox serve --workers N` finds its database and
# keys (set by the supervisor; the rest of its configuration is FACEPAY_SERVER_*).
WORKER_DB_ENV = "FACEPAY_SANDBOX_WORKER_DB"
WORKER_KEYS_ENV = "FACEPAY_SANDBOX_WORKER_KEYS"


def settle_heap() -> None:
    """Before serving: move everything start-up made (models, schemas, galleries' index
    objects, ~72k tracked objects) out of the garbage collector's sight. A full
    collection over them took ~30-70 ms here, and on a server that answers on its event
    loop that pause lands on every request in flight; what requests allocate is still
    collected as usual. Server processes only: an app embedding the sandbox owns its heap.
    """
    gc.collect()
    gc.freeze()


@dataclasses.dataclass(frozen=True)
class Hold:
    """An authorization hold at the sandbox's card network: ``authorized`` (money held),
    then ``captured`` (charged) or ``voided`` (released), once."""

    hold_id: str
    amount_minor: int
    currency: str
    reference: str
    state: str


class SandboxAcquirer:
    """The sandbox's card network: every test token approves a charge except
    ``tok_chargeDeclined``, which enrolls but is declined (``payment_method_declined``),
    so a till can show its card-declined path. Lives here, not in the payment decision.

    It models holds as an acquirer does: :meth:`authorize` puts money on hold, the
    backend captures it (:meth:`capture`) once its approval committed or voids it
    (:meth:`void`) when the write was refused (another approval of the order committed
    first); :meth:`holds` shows them (the newest ``keep`` settled ones are kept, every open one)."""

    declined_tokens = frozenset({"tok_chargeDeclined"})

    def __init__(self, *, keep: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._holds: dict[str, Hold] = {}
        self._keep = keep

    def authorize(
        self, payment_token: str, *, amount_minor: int, currency: str, reference: str
    ) -> str | None:
        if payment_token in self.declined_tokens:
            return None
        hold_id = f"hold_{secrets.token_hex(12)}"
        with self._lock:
            self._holds[hold_id] = Hold(hold_id, amount_minor, currency, reference, "authorized")
            self._forget_settled()
        return hold_id

    def capture(self, hold_id: str) -> None:
        self._settle(hold_id, "captured")

    def void(self, hold_id: str) -> None:
        self._settle(hold_id, "voided")

    def holds(self, reference: str | None = None) -> list[Hold]:
        """The holds (of the order ``reference``), oldest first."""
        with self._lock:
            return [h for h in self._holds.values() if reference in (None, h.reference)]

    def _settle(self, hold_id: str, state: str) -> None:
        with self._lock:
            hold = self._holds.get(hold_id)
            if hold is None or hold.state != "authorized":
                raise ValueError(f"hold {hold_id} is not open: cannot be {state}")
            self._holds[hold_id] = dataclasses.replace(hold, state=state)

    def _forget_settled(self) -> None:
        settled = [k for k, h in self._holds.items() if h.state != "authorized"]
        for key in settled[: max(0, len(settled) - self._keep)]:
            del self._holds[key]


class _Sweeper(threading.Thread):
    def __init__(self, backend: PaymentBackend, interval: float) -> None:
        super().__init__(name="facepay-sweeper", daemon=True)
        self._backend = backend
        self._interval = interval
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self._interval):
            try:
                self._backend.sweep()
            except Exception:
                logger.exception("retention sweep failed")

    def stop(self) -> None:
        self._stop_event.set()


class Sandbox:
    """The reference backend on a free loopback port, in this process.

    ``db``: a SQLite path or a PostgreSQL DSN; default a temporary SQLite file removed
    on :meth:`stop`. ``port`` 0 picks a free one. ``clock`` (epoch seconds, default
    ``time.time``) is the backend's: a test passes a fake one to expire sessions, judge
    request timestamps and end key grace periods without waiting.
    """

    def __init__(
        self,
        db: str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        key_dir: str | Path | None = None,
        config: ServerConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if db is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="facepay-sandbox-")
            db = Path(self._tmp.name) / "sandbox.db"
            key_dir = key_dir or Path(self._tmp.name) / "keys"
        self.db = db
        self.host = host
        self._port = port
        self._key_dir = key_dir
        config = config or ServerConfig()
        # The demo harness: fixed liveness plans (a recorded clip's) pay here unless the
        # caller names its sandbox tenants, making every other tenant a production one.
        if not config.sandbox_tenants:
            config = dataclasses.replace(config, sandbox_tenants=("*",))
        self._config = config
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._sweeper: _Sweeper | None = None
        self.backend: PaymentBackend | None = None

    def __repr__(self) -> str:
        return f"Sandbox(base_url={self.base_url if self._server else None!r})"

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise FacePayError("the sandbox is not running; call start()")
        return f"http://{self.host}:{self._port}"

    @property
    def admin_token(self) -> str:
        return self._backend().admin_token

    def _backend(self) -> PaymentBackend:
        if self.backend is None:
            raise FacePayError("the sandbox is not running; call start()")
        return self.backend

    def start(self) -> Sandbox:
        import uvicorn

        if self._server is not None:
            return self
        self.backend = build_backend(
            self.db, key_dir=self._key_dir, config=self._config, clock=self._clock
        )
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._port))
        self._port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            create_app(self.backend),
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=5,
            # Nothing reads the client address, so no X-Forwarded-* header is trusted.
            proxy_headers=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="facepay-sandbox", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 20.0
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise FacePayError("the sandbox server did not start")
            time.sleep(0.01)
        self._sweeper = _Sweeper(self.backend, self._config.sweep_interval_s)
        self._sweeper.start()
        logger.info("sandbox backend listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.stop()
            self._sweeper = None
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10.0)
            self._thread = None
        self._server = None
        if self.backend is not None:
            self.backend.db.close()
            self.backend = None
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                self._tmp.cleanup()
            self._tmp = None

    def provision_device(
        self,
        key: DeviceKey | None = None,
        *,
        tenant_id: str = "demo-retailer",
        store_id: str = "store-1",
        lane_id: str = "lane-1",
        device_id: str | None = None,
    ) -> ProvisionedDevice:
        """Register a till (a fresh :class:`DeviceKey` unless given) and return it."""
        key = key or DeviceKey.generate()
        registration = self._backend().register_device(
            DeviceRegistrationRequest(
                tenant_id=tenant_id,
                store_id=store_id,
                lane_id=lane_id,
                public_key=b64encode(key.public_key.raw),
                device_id=device_id,
            ),
            create_tenant=True,
        )
        return ProvisionedDevice(
            device_id=registration.device_id,
            tenant_id=tenant_id,
            store_id=store_id,
            lane_id=lane_id,
            key=key,
        )

    @property
    def answer_key_pin(self) -> str:
        """What a till pins (``ClientConfig.answer_key_pin``): the SHA-256 of the key that
        signs this backend's answers (docs/protocol.md, "Signed answers")."""
        return self._backend().vault.answer_key_pin

    def client_config(self, config: ClientConfig | None = None) -> ClientConfig:
        """``config`` (default: the defaults) with this backend's answer key pinned: how
        the embedded sandbox hands its pin to a till."""
        return dataclasses.replace(
            config if config is not None else ClientConfig(), answer_key_pin=self.answer_key_pin
        )

    @property
    def sealing_public_key(self) -> BackendPublicKey:
        """The key tills seal templates to now (what ``GET /v1/keys`` publishes)."""
        return self._backend().vault.keyring.public_key

    def ledger(self) -> list[dict[str, Any]]:
        """Every authorization, as ``facepay sandbox ledger`` prints it."""
        return ledger(self._backend().db)

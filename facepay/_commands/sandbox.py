"""``facepay sandbox serve|ledger|provision``: run and inspect the reference backend."""

from __future__ import annotations

import argparse
import errno
import os
import sys
from pathlib import Path
from typing import Any

from facepay._commands._numbers import not_negative, port
from facepay.config import SEALING_SUITES
from facepay.errors import FacePayError

__all__ = ["register"]


def register(subparsers: Any, group_parser: argparse.ArgumentParser | None) -> None:
    from facepay.cli import add_json_flag

    serve = subparsers.add_parser(
        "serve",
        help="serve the reference payment backend over HTTP (uvicorn)",
        description=(
            "Serve the reference payment backend. --db is a SQLite file (created and "
            "migrated on first use) or a postgresql:// DSN. Keys live in --keys (default: "
            "next to the SQLite file, PATH.keys/). The device enrollment token is the "
            "operator's (--admin-token-file, or FACEPAY_SERVER_ADMIN_TOKEN), else a random "
            "one kept in KEYS/enrollment-token, readable by this user only; it is never "
            "printed, and worker processes are given only its SHA-256."
        ),
    )
    serve.add_argument("--db", required=True, help="SQLite file path or postgresql:// DSN")
    serve.add_argument("--port", type=port, default=8470, help="TCP port (default 8470)")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, loopback only)"
    )
    serve.add_argument("--keys", default=None, help="key directory (required for PostgreSQL)")
    serve.add_argument(
        "--admin-token-file",
        default=None,
        help="file holding the device enrollment token (default: FACEPAY_SERVER_ADMIN_TOKEN, "
        "else KEYS/enrollment-token, made on first start, mode 0600)",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        default=None,
        metavar="IPS",
        help="comma-separated addresses of the reverse proxies in front (default: none). "
        "Only then is X-Forwarded-For read, and only from them, so that the shopper-rights "
        "limit counts each shopper's address, not the proxy's",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes sharing the port and the database (default 1; one per core "
        "uses them all: each process runs one event loop, and Python runs one thread at a "
        "time per process)",
    )
    serve.set_defaults(handler=_serve)

    ledger = subparsers.add_parser(
        "ledger",
        help="list every authorization (id, idempotency key, amount, currency, state, shopper)",
    )
    ledger.add_argument("--db", required=True, help="SQLite file path or postgresql:// DSN")
    add_json_flag(ledger)
    ledger.set_defaults(handler=_ledger)

    provision = subparsers.add_parser(
        "provision",
        help="register a till's device key with a backend's database (operator)",
    )
    provision.add_argument("--db", required=True, help="SQLite file path or postgresql:// DSN")
    provision.add_argument("--keys", default=None, help="key directory")
    provision.add_argument("--device-key", required=True, help="PEM file (created if absent)")
    provision.add_argument("--tenant", default="demo-retailer")
    provision.add_argument("--store", default="store-1")
    provision.add_argument("--lane", default="lane-1")
    provision.add_argument("--device-id", default=None)
    add_json_flag(provision)
    provision.set_defaults(handler=_provision)

    tenant = subparsers.add_parser(
        "tenant",
        help="create a tenant (retailer) and write its own enrollment token to a file",
        description=(
            "Create a tenant in a backend's database (idempotent). Devices register only "
            "into a tenant that exists, so a typo in a registration is refused. The "
            "tenant's enrollment token registers and revokes that tenant's devices only; it "
            "is written to --token-file (mode 0600), never printed."
        ),
    )
    tenant.add_argument("--db", required=True, help="SQLite file path or postgresql:// DSN")
    tenant.add_argument("--keys", default=None, help="key directory")
    tenant.add_argument("--tenant", required=True)
    tenant.add_argument("--token-file", required=True, help="where to write the tenant's token")
    add_json_flag(tenant)
    tenant.set_defaults(handler=_tenant)

    revoke = subparsers.add_parser(
        "revoke",
        help="revoke a till's device key (stolen or replaced): refused at once by every "
        "running server process",
        description=(
            "Revoke a device in a backend's database. Every server process and replica reads "
            "the device's row when it checks a request, so the key is refused from the next "
            "request on, without a restart. The key can never be registered again; the "
            "device id can, with a new key (facepay sandbox provision --device-id ID)."
        ),
    )
    revoke.add_argument("--db", required=True, help="SQLite file path or postgresql:// DSN")
    revoke.add_argument("--keys", default=None, help="key directory")
    revoke.add_argument("--device-id", required=True)
    add_json_flag(revoke)
    revoke.set_defaults(handler=_revoke)

    keys = subparsers.add_parser(
        "keys",
        help="print the answer key pin a till is given (ClientConfig.answer_key_pin)",
        description=(
            "Print the pin of the key that signs every answer of this backend (the SHA-256 "
            "of its public key): give it to each till out of band "
            "(FACEPAY_CLIENT_ANSWER_KEY_PIN), and the till believes no answer another key "
            "signed (docs/integration.md, 'The answer key pin')."
        ),
    )
    keys.add_argument("--keys", required=True, help="key directory (e.g. shop.db.keys)")
    add_json_flag(keys)
    keys.set_defaults(handler=_keys)

    answer = subparsers.add_parser(
        "rotate-answer-key",
        help="prepare the next answer key (published, endorsed by the current one), or "
        "--switch to it",
        description=(
            "Rotate the key that signs receipts and every answer, in two steps. First "
            "(no flag): make the next key; GET /v1/keys publishes it endorsed by the "
            "current one, and a till that fetches the key set then follows the switch. "
            "Rotate the sealing key at the same time (rotate-key): every till fetches the "
            "key set again on its next session. Then, once every till has: --switch makes "
            "the next key current. Give tills the new pin (printed) for their "
            "configuration. A running server reads the keys at start: restart it after "
            "each step."
        ),
    )
    answer.add_argument("--keys", required=True, help="key directory (e.g. shop.db.keys)")
    answer.add_argument("--switch", action="store_true", help="make the prepared key current")
    add_json_flag(answer)
    answer.set_defaults(handler=_rotate_answer_key)

    rotate = subparsers.add_parser(
        "rotate-key",
        help="make a fresh template-sealing key current (the old one opens for a grace period)",
        description=(
            "Rotate the sealing key in a key directory. Tills pick the new key up from "
            "GET /v1/keys; templates sealed to the old key keep opening for --grace-days. "
            "A running server reads the keyring at start: restart it (one replica at a "
            "time) after rotating."
        ),
    )
    rotate.add_argument("--keys", required=True, help="key directory (e.g. shop.db.keys)")
    rotate.add_argument("--grace-days", type=not_negative, default=7.0, help="default 7")
    rotate.add_argument(
        "--suite",
        choices=SEALING_SUITES,
        help="HPKE suite of the new key (default: the current key's); the mlkem768x25519 "
        "suites are the hybrid post-quantum KEM",
    )
    add_json_flag(rotate)
    rotate.set_defaults(handler=_rotate)


# Shorter than this, a token is refused from every source: the empty one (a token file
# left empty by a crash between creating and writing it) made every request the
# operator's, and a short one can be guessed (tests/security/test_redteam_ops_tenants.py).
_MIN_TOKEN_CHARS = 16


def _enrollment_token(
    given_file: str | None, from_env: str | None, key_dir: Path
) -> tuple[str, str]:
    """(the device enrollment token, where the operator finds it) for ``serve``."""
    token, where = _token_and_source(given_file, from_env, key_dir)
    if len(token) < _MIN_TOKEN_CHARS:
        raise SystemExit(
            f"facepay sandbox serve: the enrollment token {where} holds under "
            f"{_MIN_TOKEN_CHARS} characters"
            + (
                "; delete the file to have a new one made"
                if given_file is None and not from_env
                else ""
            )
        )
    return token, where


def _token_and_source(
    given_file: str | None, from_env: str | None, key_dir: Path
) -> tuple[str, str]:
    import os
    import secrets

    if given_file is not None:
        return Path(given_file).read_text(encoding="utf-8").strip(), f"from {given_file}"
    if from_env:
        return from_env, "from FACEPAY_SERVER_ADMIN_TOKEN"
    path = key_dir / "enrollment-token"
    if path.exists():
        if path.stat().st_mode & 0o077:
            raise SystemExit(f"facepay sandbox serve: {path} is readable by others; chmod 600 it")
        return path.read_text(encoding="utf-8").strip(), f"in {path} (readable by this user only)"
    key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(token + "\n")
    return token, f"in {path} (readable by this user only)"


def _serve(args: argparse.Namespace) -> int:
    import logging
    import os

    import uvicorn

    from facepay.config import ServerConfig
    from facepay.server import build_backend, create_app
    from facepay.server._sandbox import (
        WORKER_DB_ENV,
        WORKER_KEYS_ENV,
        _Sweeper,
        default_key_dir,
        settle_heap,
    )
    from facepay.server._workers import WORKER_ADMIN_SHA256_ENV, serve_workers

    if args.workers < 1:
        sys.stderr.write("facepay sandbox serve: --workers must be at least 1\n")
        return 2
    _check_port_free(args.host, args.port)  # before anything is created or printed
    config = ServerConfig.from_env()
    # With several workers this process only supervises: it migrates the database, makes
    # the keys once (so workers never race to create them) and runs the retention sweep.
    backend = build_backend(args.db, key_dir=args.keys, config=config, serving=args.workers == 1)
    key_dir = Path(args.keys) if args.keys else default_key_dir(args.db)
    token, where = _enrollment_token(args.admin_token_file, config.admin_token, key_dir)
    backend.use_admin_token(token)
    sys.stderr.write(f"facepay sandbox: device enrollment token: {where}\n")
    sys.stderr.write(
        "facepay sandbox: answer key pin (a till's ClientConfig.answer_key_pin): "
        f"{backend.vault.answer_key_pin}\n"
    )
    sys.stderr.write(
        f"facepay sandbox: serving protocol v1 on http://{args.host}:{args.port} "
        f"({backend.db.description}, {args.workers} worker process(es))\n"
    )
    sweeper = _Sweeper(backend, config.sweep_interval_s)
    sweeper.start()
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    common: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "log_level": "warning",
        "access_log": False,
        "lifespan": "off",
        "timeout_graceful_shutdown": 5,
        # The shopper-rights limit counts per client address. X-Forwarded-For is read only
        # from the proxies the operator names: from anyone else it would buy a guesser a
        # fresh budget per made-up address. Without a named proxy no forwarding header is
        # trusted (and uvicorn's middleware stays off every request's path); behind one,
        # every shopper would otherwise share the proxy's address and its one budget.
        "proxy_headers": args.forwarded_allow_ips is not None,
    }
    if args.forwarded_allow_ips is not None:
        common["forwarded_allow_ips"] = args.forwarded_allow_ips
    try:
        if args.workers == 1:
            app = create_app(backend)
            settle_heap()
            uvicorn.run(app, **common)
        else:
            os.environ[WORKER_DB_ENV] = str(args.db)
            os.environ[WORKER_KEYS_ENV] = str(key_dir)
            # Workers are spawned with this environment: the token stays out of it.
            os.environ.pop("FACEPAY_SERVER_ADMIN_TOKEN", None)
            os.environ[WORKER_ADMIN_SHA256_ENV] = backend.admin_token_sha256
            if config.worker_threads is None:
                # Several processes already wait on the database side by side: threads in
                # each only add handoffs (measured: docs/performance.md, "Backend").
                os.environ["FACEPAY_SERVER_WORKER_THREADS"] = "0"
            serve_workers(
                args.workers,
                host=common.pop("host"),
                port=common.pop("port"),
                uvicorn_kwargs=common,
            )
    finally:
        sweeper.stop()
        backend.db.close()
    return 0


def _check_port_free(host: str, port: int) -> None:
    import socket

    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        why = os.strerror(exc.errno) if exc.errno else str(exc)
        raise FacePayError(f"cannot listen on {host}:{port}: {why}") from None


def _ledger(args: argparse.Namespace) -> int:
    from facepay.cli import emit
    from facepay.server import ledger, open_database

    db = open_database(args.db, must_exist=True)  # reading never creates a database
    try:
        rows = ledger(db)
    finally:
        db.close()

    def human(items: list[dict[str, Any]]) -> str:
        lines = [f"{len(items)} authorizations"]
        for r in items:
            lines.append(
                f"{r['created_at']}  {r['id']}  {r['state']:<9} {r['amount_minor']:>10} "
                f"{r['currency']}  key={r['idempotency_key']}  shopper={r['shopper_id'] or '-'}"
            )
        return "\n".join(lines)

    emit(args, rows, human)
    return 0


def _provision(args: argparse.Namespace) -> int:
    from facepay.cli import emit
    from facepay.crypto import DeviceKey
    from facepay.server import PaymentBackend, Vault, default_key_dir, open_database
    from facepay.wire import DeviceRegistrationRequest, b64encode

    if os.path.isdir(args.device_key):  # else it reads as "chmod 600 it", a wrong lead
        raise FacePayError(f"--device-key {args.device_key} is a folder, not a PEM file")
    made_key = not os.path.exists(args.device_key)
    try:
        key = DeviceKey.load_or_create(args.device_key)
    except OSError as exc:  # name the key, not the temporary file it was written through
        raise OSError(exc.errno, exc.strerror, args.device_key) from None
    except FacePayError as exc:  # "not an ... Ed25519 PEM private key": say which file
        raise FacePayError(f"--device-key {args.device_key}: {exc}") from None
    try:
        db = open_database(args.db)
    except BaseException:
        if made_key:  # a failed provisioning leaves no stray key behind
            os.unlink(args.device_key)
        raise
    try:
        vault = Vault.open(args.keys or default_key_dir(args.db))
        backend = PaymentBackend(db, vault)
        registration = backend.register_device(
            DeviceRegistrationRequest(
                tenant_id=args.tenant,
                store_id=args.store,
                lane_id=args.lane,
                public_key=b64encode(key.public_key.raw),
                device_id=args.device_id,
            ),
            create_tenant=True,
        )
    finally:
        db.close()
    emit(args, registration.model_dump(mode="json"), lambda r: f"registered {r['device_id']}")
    return 0


def _tenant(args: argparse.Namespace) -> int:
    from facepay.cli import emit
    from facepay.server import PaymentBackend, Vault, default_key_dir, open_database
    from facepay.wire import TenantRequest

    TenantRequest(tenant_id=args.tenant)  # a bad id: pydantic's error, before anything
    is_dsn = str(args.db).startswith(("postgresql://", "postgres://"))
    if not is_dsn and not Path(args.db).is_file():
        sys.stderr.write(f"facepay sandbox tenant: no database at {args.db}\n")
        return 2
    target = Path(args.token_file)
    if target.is_file() and not _holds_a_token(target):
        # Replacing an earlier token file is a re-run; any other file is a typo to keep.
        sys.stderr.write(
            f"facepay sandbox tenant: {target} exists and holds no enrollment token; "
            "name a new file\n"
        )
        return 2
    try:  # the token file first: a folder we cannot write to changes nothing
        target.unlink(missing_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        sys.stderr.write(f"facepay sandbox tenant: cannot write {target}: {exc.strerror}\n")
        return 2
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            db = open_database(args.db)
            try:
                vault = Vault.open(args.keys or default_key_dir(args.db))
                registration, created = PaymentBackend(db, vault).create_tenant(args.tenant)
            finally:
                db.close()
            out.write(registration.enrollment_token + "\n")
    except BaseException:
        target.unlink(missing_ok=True)  # no empty token file left behind
        raise
    result = {"tenant_id": args.tenant, "created": created, "token_file": str(target)}
    emit(
        args,
        result,
        lambda r: (
            f"tenant {r['tenant_id']} {'created' if r['created'] else 'exists'}; "
            f"its enrollment token is in {r['token_file']}"
        ),
    )
    return 0


def _holds_a_token(path: Path) -> bool:
    """Whether ``path`` is a token file this command wrote: one line, the token alone."""
    try:
        lines = path.read_text(encoding="utf-8").split()
    except (OSError, UnicodeDecodeError):
        return False
    return len(lines) == 1 and lines[0].startswith("fpt_")


def _revoke(args: argparse.Namespace) -> int:
    from facepay.cli import emit
    from facepay.server import PaymentBackend, Vault, default_key_dir, open_database
    from facepay.server._errors import ApiError

    if (
        not str(args.db).startswith(("postgresql://", "postgres://"))
        and not Path(args.db).is_file()
    ):
        sys.stderr.write(f"facepay sandbox revoke: no database at {args.db}\n")
        return 2
    db = open_database(args.db)
    try:
        vault = Vault.open(args.keys or default_key_dir(args.db))
        try:
            revocation = PaymentBackend(db, vault).revoke_device(args.device_id)
        except ApiError:
            sys.stderr.write(f"facepay sandbox revoke: no device {args.device_id!r}\n")
            return 2
    finally:
        db.close()
    emit(args, revocation.model_dump(mode="json"), lambda r: f"revoked {r['device_id']}")
    return 0


def _keys(args: argparse.Namespace) -> int:
    from facepay.cli import emit
    from facepay.server import Vault

    if not os.path.isfile(os.path.join(args.keys, "receipt-key.json")):
        # Printing the pin of a typo would make a whole new key directory.
        raise FileNotFoundError(errno.ENOENT, "no receipt key in this folder", args.keys)
    vault = Vault.open(args.keys)
    emit(
        args,
        {"answer_key_pin": vault.answer_key_pin, "receipt_key_id": vault.receipt_key_id},
        lambda r: f"answer key pin: {r['answer_key_pin']}",
    )
    return 0


def _rotate_answer_key(args: argparse.Namespace) -> int:
    from facepay.cli import emit
    from facepay.crypto import answer_key_pin
    from facepay.server import Vault

    if not os.path.isfile(os.path.join(args.keys, "receipt-key.json")):
        raise FileNotFoundError(errno.ENOENT, "no receipt key in this folder", args.keys)
    store = Vault.open(args.keys).store
    if args.switch:
        current = store.switch_receipt_key()
        result = {"answer_key_pin": answer_key_pin(current.public_key.raw), "switched": True}
    else:
        upcoming = store.prepare_next_receipt_key()
        result = {"next_answer_key_pin": answer_key_pin(upcoming.public_key.raw)}
    emit(
        args,
        result,
        lambda r: (
            f"answer key pin now: {r['answer_key_pin']}"
            if "switched" in r
            else f"next answer key pin (published, endorsed): {r['next_answer_key_pin']}"
        ),
    )
    return 0


def _rotate(args: argparse.Namespace) -> int:
    from facepay.cli import emit
    from facepay.server import Vault

    if not os.path.isfile(os.path.join(args.keys, "sealing-keyring.json")):
        # Rotating a typo would make a whole new key directory.
        raise FileNotFoundError(errno.ENOENT, "no sealing keyring in this folder", args.keys)
    vault = Vault.open(args.keys)
    old = vault.keyring.current.key_id
    new = vault.rotate_sealing_key(grace_seconds=args.grace_days * 86400.0, suite=args.suite)
    emit(
        args,
        {"previous_key_id": old, "current_key_id": new, "grace_days": args.grace_days},
        lambda r: f"sealing key {r['previous_key_id']} -> {r['current_key_id']}",
    )
    return 0

"""The sandbox and bench commands, run for real."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from server_helpers import Till, face, make_till

from facepay.cli import main
from facepay.eval._backends import child_pids
from facepay.server import Sandbox


def test_ledger_lists_every_authorization(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "shop.db"
    with Sandbox(db, key_dir=tmp_path / "keys") as sandbox:
        till = make_till(sandbox)
        till.enroll(face(1))
        till.authorize(till.pay_body(face(1)), key="idem-ledger-1")
        till.authorize(till.pay_body(face(2)), key="idem-ledger-2")
        till.close()
    assert main(["sandbox", "ledger", "--db", str(db), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["idempotency_key"], r["state"]) for r in rows] == [
        ("idem-ledger-1", "approved"),
        ("idem-ledger-2", "declined"),
    ]
    assert set(rows[0]) >= {
        "id",
        "idempotency_key",
        "amount_minor",
        "currency",
        "state",
        "shopper_id",
    }
    assert rows[0]["shopper_id"].startswith("shp_")
    assert rows[1]["shopper_id"] is None


def test_serve_answers_on_the_given_port(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "facepay",
            "sandbox",
            "serve",
            "--db",
            str(tmp_path / "s.db"),
            "--port",
            str(port),
        ],
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1)
                break
            except httpx.HTTPError:
                assert proc.poll() is None, "server exited"
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert r.json()["protocol_version"] == "1"
        assert (tmp_path / "s.db.keys" / "sealing-keyring.json").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert proc.stderr is not None
    assert b"device enrollment token" in proc.stderr.read()


def test_bench_backend_reports_latency(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["bench", "backend", "--gallery", "2000", "--queries", "20", "--db", "none", "--json"])
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    (row,) = report["one_to_n"]
    assert row["gallery_size"] == 2000
    assert 0 < row["p50_ms"] <= row["p99_ms"]
    assert row["decisions_correct"] == 20  # genuine found, impostors refused


def test_rotate_key_then_restart_publishes_both_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = tmp_path / "keys"
    with Sandbox(tmp_path / "k.db", key_dir=keys) as sandbox:
        before = sandbox.sealing_public_key.key_id
    assert main(["sandbox", "rotate-key", "--keys", str(keys), "--json"]) == 0
    rotated = json.loads(capsys.readouterr().out)
    assert rotated["previous_key_id"] == before
    with Sandbox(tmp_path / "k.db", key_dir=keys) as sandbox:
        published = httpx.get(f"{sandbox.base_url}/v1/keys").json()
    assert published["current_key_id"] == rotated["current_key_id"]
    assert [k["status"] for k in published["keys"]] == ["current", "retiring"]


def test_bench_backend_reads_gallery_sizes_as_its_help_writes_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from facepay._commands.bench_backend import gallery_sizes

    assert gallery_sizes("10k,100k,1M") == [10_000, 100_000, 1_000_000]
    assert gallery_sizes("2_000, 1.5k") == [2_000, 1_500]
    with pytest.raises(SystemExit) as exc:
        main(["bench", "backend", "--gallery", "lots", "--db", "none"])
    assert exc.value.code == 2  # a usage error, not a traceback
    assert "not a gallery size: 'lots'" in capsys.readouterr().err


def test_worker_threads_must_leave_room_for_work() -> None:
    from facepay.config import ServerConfig
    from facepay.errors import ConfigurationError

    assert ServerConfig().worker_threads is None  # per database
    assert ServerConfig.from_env({"FACEPAY_SERVER_WORKER_THREADS": "2"}).worker_threads == 2
    assert ServerConfig.from_env({"FACEPAY_SERVER_WORKER_THREADS": "0"}).worker_threads == 0
    with pytest.raises(ConfigurationError, match="worker_threads"):
        ServerConfig(worker_threads=-1)


@pytest.mark.parametrize(("threads", "on_loop"), [(None, True), (0, True), (2, False)])
async def test_blocking_work_runs_where_worker_threads_says(
    tmp_path: Path, threads: int | None, on_loop: bool
) -> None:
    """SQLite's default runs the backend's work on the event loop (no thread hop per
    request); a positive ``worker_threads`` hands it to that many threads."""
    import threading

    from facepay.config import ServerConfig
    from facepay.crypto import DeviceKey
    from facepay.server import build_backend, create_app
    from facepay.wire import b64encode

    backend = build_backend(
        tmp_path / "t.db", config=ServerConfig(worker_threads=threads, admin_token="t" * 24)
    )
    seen: list[int] = []
    register = backend.register_device

    def spy(req: Any) -> Any:
        seen.append(threading.get_ident())
        return register(req)

    backend.register_device = spy  # type: ignore[method-assign]
    backend.create_tenant("shop")  # devices register only into a tenant that exists
    transport = httpx.ASGITransport(app=create_app(backend))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
        r = await http.post(
            "/v1/devices",
            json={
                "tenant_id": "shop",
                "store_id": "s1",
                "lane_id": "l1",
                "public_key": b64encode(DeviceKey.generate().public_key.raw),
            },
            headers={"Authorization": "Bearer " + "t" * 24},
        )
    backend.db.close()
    assert r.status_code == 201, r.text
    assert (seen == [threading.get_ident()]) is on_loop


def test_serve_with_two_workers_shares_one_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--workers 2``: two processes behind one port; every checkout is answered once,
    whichever process takes each connection, and the ledger holds them all."""
    import types

    from facepay.crypto import DeviceKey
    from facepay.server import ProvisionedDevice
    from facepay.wire import b64encode

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = tmp_path / "w.db"
    token = "workers-test-token-0123456789"
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "facepay", "sandbox", "serve", "--db", str(db)),
            *("--port", str(port), "--workers", "2"),
        ],
        env={**os.environ, "FACEPAY_SERVER_ADMIN_TOKEN": token},
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                httpx.get(f"{base}/v1/health", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                assert proc.poll() is None, "server exited"
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        # Each worker listens on a socket of its own (SO_REUSEPORT), so the kernel deals
        # connections out among them; with one shared socket a burst of connections could
        # pile onto whichever worker woke first. The first worker up answers the health
        # check while the second may still be starting: wait for both to listen.
        deadline = time.monotonic() + 60
        while True:
            children = [str(pid) for pid in child_pids(proc.pid)]
            listening = {pid: _sockets_of(pid, port, state="0A") for pid in children}
            workers = [pid for pid, inodes in listening.items() if inodes]
            if len(workers) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert len(workers) == 2, listening
        assert len(set().union(*listening.values())) == 2  # two sockets, not one shared
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(24)]
        try:
            for c in held:
                c.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
                assert c.recv(64).startswith(b"HTTP/1.1 200")
            served = {pid: len(_sockets_of(pid, port, state="01")) for pid in workers}
            assert sum(served.values()) == 24
            assert min(served.values()) > 0, served  # all on one: p = 2**-23
        finally:
            for c in held:
                c.close()
        # A worker that dies is replaced; the port keeps answering meanwhile. A connection
        # the kernel dealt to the dying worker's socket before it closed is reset (its own
        # SO_REUSEPORT queue dies with it), so the port is asked once that socket is gone.
        dead_socket = listening[workers[0]]
        os.kill(int(workers[0]), 9)
        deadline = time.monotonic() + 60
        while _listening_on(port) & dead_socket:
            assert time.monotonic() < deadline, "the dead worker's socket stayed open"
            time.sleep(0.05)
        while True:
            httpx.get(f"{base}/v1/health", timeout=5).raise_for_status()
            alive = [
                pid
                for pid in map(str, child_pids(proc.pid))
                if pid != workers[0] and _sockets_of(pid, port, state="0A")
            ]
            if len(alive) == 2:
                break
            assert time.monotonic() < deadline, "the dead worker was not replaced"
            time.sleep(0.2)
        key = DeviceKey.generate()
        tenant = httpx.post(
            f"{base}/v1/tenants",
            json={"tenant_id": "acme"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert tenant.status_code == 201, tenant.text
        r = httpx.post(
            f"{base}/v1/devices",
            json={
                "tenant_id": "acme",
                "store_id": "s1",
                "lane_id": "l1",
                "public_key": b64encode(key.public_key.raw),
            },
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 201, r.text
        device = ProvisionedDevice(
            device_id=r.json()["device_id"], tenant_id="acme", store_id="s1", lane_id="l1", key=key
        )
        tills = [make_till_at(types.SimpleNamespace(base_url=base), device) for _ in range(6)]
        assert tills[0].enroll(face(1)).status_code == 201
        keys = [f"idem-workers-{i}" for i in range(6)]
        for till, k in zip(tills, keys, strict=True):
            r = till.authorize(till.pay_body(face(1)), key=k)
            assert r.status_code == 200, r.text
            assert r.json()["status"] == "approved", r.text
        for till in tills:
            till.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    capsys.readouterr()
    assert main(["sandbox", "ledger", "--db", str(db), "--json"]) == 0
    ledger = json.loads(capsys.readouterr().out)
    assert sorted(r["idempotency_key"] for r in ledger) == sorted(keys)
    assert {r["state"] for r in ledger} == {"approved"}


def _listening_on(port: int) -> set[str]:
    """Inodes of every socket listening on local ``port`` (/proc/net/tcp), whoever holds it."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "0A":
            found.add(fields[9])
    return found


def _sockets_of(pid: str, port: int, *, state: str) -> set[str]:
    """Inodes of the TCP sockets process ``pid`` holds on local ``port`` in ``state``
    (/proc/net/tcp: 0A listening, 01 established)."""
    try:
        inodes = {
            os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1]
            for fd in os.listdir(f"/proc/{pid}/fd")
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:[")
        }
    except OSError:
        return set()
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, st, inode = fields[1], fields[3], fields[9]
        if int(local.split(":")[1], 16) == port and st == state and inode in inodes:
            found.add(inode)
    return found


def make_till_at(sandbox: Any, device: Any) -> Till:
    """A protocol till on a backend this process did not start (``sandbox.base_url``)."""
    return Till(sandbox, device)

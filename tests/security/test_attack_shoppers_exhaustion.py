"""Issue 12, item 4: any template size in [32, 4096] built and cached a d x d tenant
transform, without bound and on the event loop: 5 requests stalled /v1/health for 7 s and
grew the process from 91 to 450 MB.

Now only configured (model id, size) pairs are opened at all, so a request cannot choose
what gets built; the transform cache is bounded (least recently used out); a serving
tenant's transform is built at start, not inside its first request.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from shoppers_kit import Backends, enroll_body

from facepay.config import ServerConfig
from facepay.server import Sandbox, Vault
from facepay.testing.protocol_till import face


def _cached(sandbox: Sandbox) -> set[tuple[str, int]]:
    assert sandbox.backend is not None
    store = sandbox.backend.vault.store
    return {(key[0].split("\x00")[0], key[1]) for key in store._transforms}


def test_templates_of_sizes_nobody_configured_build_nothing(backends: Backends) -> None:
    # The till's own flood guard lifted: what is shown is that nothing gets built.
    sb = backends.start(ServerConfig(device_rate_per_s=1000.0, device_rate_burst=1000))
    till = backends.till(sb)
    before = _cached(sb)
    for n, dim in enumerate((32, 96, 129, 256, 512, 1024, 2048)):
        for model_id in ("dlib-resnet-v1", f"attacker-{dim}"):
            pay = till.pay_body(face(1))
            pay["sealed_template"] = till.seal(face(n, dim), pay["session_id"], model_id=model_id)
            enroll = enroll_body(till, face(n, dim), model_id=model_id, phone=f"+1555000{n:04d}")
            for r in (till.authorize(pay), till.call("POST", "/v1/enrollments", enroll)):
                assert r.status_code == 422, r.text
                assert r.json()["error"]["code"] == "template_invalid"
    assert _cached(sb) == before
    assert sb.backend is not None
    assert sb.backend.galleries.size("acme") == 0


def test_a_serving_tenants_transform_is_built_at_start(backends: Backends) -> None:
    first = backends.start()
    till = backends.till(first)
    assert till.enroll(face(2)).status_code == 201
    restarted = backends.start()
    assert ("acme", 128) in _cached(restarted)


def test_the_transform_cache_is_bounded(tmp_path: Path) -> None:
    vault = Vault.open(tmp_path / "keys")
    bound = vault.store.max_cached_transforms
    vector = np.ones(128, dtype=np.float32)
    for n in range(bound + 20):
        tenant = f"tenant-{n}"
        vault.transform(tenant, vault.new_tenant_key(tenant), vector)
    assert len(vault.store._transforms) == bound
    # The most recently used are the ones kept.
    kept = {key[0].split("\x00")[0] for key in vault.store._transforms}
    assert f"tenant-{bound + 19}" in kept
    assert "tenant-0" not in kept

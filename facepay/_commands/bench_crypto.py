"""``facepay bench crypto``: how long sealing, opening, signing and the vault take."""

from __future__ import annotations

import argparse
import functools
import os
import time
from collections.abc import Callable
from typing import Any

from facepay._commands._numbers import at_least

__all__ = ["register"]


def register(subparsers: Any, group_parser: argparse.ArgumentParser | None) -> None:
    parser = subparsers.add_parser(
        "crypto",
        help="time template sealing/opening per HPKE suite, request signing, the at-rest "
        "vault and tenant transforms",
    )
    parser.add_argument("--iterations", type=at_least(1), default=300, help="calls per measurement")
    parser.add_argument("--dimension", type=at_least(1), default=128, help="template dimension")
    from facepay.cli import add_json_flag

    add_json_flag(parser)
    parser.set_defaults(handler=_run)


def _ms(fn: Callable[[], object], n: int) -> float:
    fn()  # warm up
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e3


def _run(args: argparse.Namespace) -> int:
    import numpy as np

    from facepay.cli import emit
    from facepay.crypto import (
        DeviceKey,
        FileMasterKey,
        SealingKeyring,
        SealingSuite,
        TemplateVault,
        TenantTransform,
        open_template,
        seal_template,
        sign_request,
        verify_request,
    )
    from facepay.types import FaceTemplate

    n = max(1, int(args.iterations))
    dim = int(args.dimension)
    vec = np.random.default_rng(0).normal(size=dim).astype(np.float32)
    template = FaceTemplate(vector=vec, model_id="bench", frames_fused=1)
    suites: dict[str, dict[str, float | int]] = {}
    for suite in SealingSuite:
        ring = SealingKeyring.generate(suite=suite)
        pk = ring.public_key
        sealed = seal_template(template, pk, session_id="bench")
        suites[suite.value] = {
            "seal_ms": _ms(functools.partial(seal_template, template, pk, session_id="bench"), n),
            "open_ms": _ms(functools.partial(open_template, sealed, ring, session_id="bench"), n),
            "encapsulated_key_bytes": len(sealed.encapsulated_key),
            "ciphertext_bytes": len(sealed.ciphertext),
            "public_key_bytes": len(pk.raw),
        }
    key = DeviceKey.generate()
    body = b"x" * 2048
    headers = sign_request(key, device_id="bench", method="POST", target="/v1/x", body=body)
    vault = TemplateVault(FileMasterKey.generate())
    record = vault.encrypt_template(template, tenant_id="t", shopper_id="s")
    gallery = np.random.default_rng(1).normal(size=(10_000, dim)).astype(np.float32)
    transform = TenantTransform(b"\x01" * 32, tenant_id="t", dimension=dim)
    payload = {
        "machine": {"cpus": os.cpu_count(), "load_average_1m": os.getloadavg()[0]},
        "iterations": n,
        "dimension": dim,
        "suites": suites,
        "sign_request_ms": _ms(
            lambda: sign_request(key, device_id="bench", method="POST", target="/v1/x", body=body),
            n,
        ),
        "verify_request_ms": _ms(
            lambda: verify_request(
                key.public_key, headers=headers, method="POST", target="/v1/x", body=body
            ),
            n,
        ),
        "vault_encrypt_ms": _ms(
            lambda: vault.encrypt_template(template, tenant_id="t", shopper_id="s"), n
        ),
        "vault_decrypt_ms": _ms(
            lambda: vault.decrypt_template(record, tenant_id="t", shopper_id="s"), n
        ),
        "transform_derive_ms": _ms(
            lambda: TenantTransform(b"\x01" * 32, tenant_id="t", dimension=dim), max(1, n // 50)
        ),
        "transform_apply_10k_ms": _ms(lambda: transform.apply_vectors(gallery), max(1, n // 50)),
    }

    def human(p: dict[str, Any]) -> str:
        lines = [
            f"{p['iterations']} calls each, {p['dimension']}-d template, "
            f"{p['machine']['cpus']} CPUs, load {p['machine']['load_average_1m']:.2f}"
        ]
        for name, s in p["suites"].items():
            lines.append(
                f"  {name:45s} seal {s['seal_ms']:.3f} ms  open {s['open_ms']:.3f} ms  "
                f"enc {s['encapsulated_key_bytes']} B  ct {s['ciphertext_bytes']} B"
            )
        for k in (
            "sign_request_ms",
            "verify_request_ms",
            "vault_encrypt_ms",
            "vault_decrypt_ms",
            "transform_derive_ms",
            "transform_apply_10k_ms",
        ):
            lines.append(f"  {k:45s} {p[k]:.3f}")
        return "\n".join(lines)

    emit(args, payload, human)
    return 0

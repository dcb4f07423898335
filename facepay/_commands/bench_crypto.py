"""``facepay bench crypto``: how long sealing, opening, signing and the vault take.

Also what signing every answer costs (docs/protocol.md, "Signed answers"): the backend's
``sign_answer`` and the till's ``verify_answer`` per answer and, with ``--round-trips N``,
N payment round trips (open a session, seal, authorize) of the product's own
``FacePayClient`` against an embedded sandbox, each timed once as the client ships
(verifying every answer against its pin) and once with only that check skipped,
interleaved so that a change of load hits both alike.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
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
    parser.add_argument(
        "--round-trips",
        type=at_least(0),
        default=0,
        help="payment round trips against an embedded sandbox, with and without answer "
        "verification (default 0: none)",
    )
    from facepay.cli import add_json_flag

    add_json_flag(parser)
    parser.set_defaults(handler=_run)


def _ms(fn: Callable[[], object], n: int) -> float:
    fn()  # warm up
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e3


def _percentiles(values_s: list[float]) -> dict[str, float]:
    ordered = sorted(values_s)
    return {
        "median_ms": statistics.median(ordered) * 1e3,
        "p90_ms": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))] * 1e3,
    }


def round_trips(n: int) -> dict[str, Any]:
    """``n`` payments through the real client and backend, each verified and unverified."""
    from facepay import wire
    from facepay.checkout import DeviceSigner
    from facepay.client import FacePayClient, new_idempotency_key
    from facepay.config import ServerConfig
    from facepay.crypto import seal_template
    from facepay.server import Sandbox
    from facepay.testing.protocol_till import PHONE, ProtocolTill, face, seeded_liveness
    from facepay.testing.synthetic import template

    class UnverifiedClient(FacePayClient):
        """The shipped client with one step left out: the answer signature check."""

        def check_signed(self, *args: Any) -> None:
            return None

    vector = face(1)
    # The default device rate (10 requests/s) would refuse a till paying back to back;
    # the limiter still runs, at a rate this loop stays under.
    config = ServerConfig(device_rate_per_s=1000.0, device_rate_burst=1000)
    with Sandbox(config=config) as sandbox:
        raw = ProtocolTill(sandbox, sandbox.provision_device())
        try:
            enrolled = raw.enroll(vector)
            if enrolled.status_code != 201:
                raise RuntimeError(f"enrollment refused: {enrolled.status_code}")
            public_key = raw.public_key
        finally:
            raw.close()
        device = sandbox.provision_device()
        signer = DeviceSigner(device.key, device.device_id)
        pinned = sandbox.client_config()
        clients = {
            "verified": FacePayClient(sandbox.base_url, signer=signer, config=pinned),
            "unverified": UnverifiedClient(sandbox.base_url, signer=signer, config=pinned),
        }

        def pay(client: FacePayClient, i: int) -> float:
            start = time.perf_counter()
            info = client.open_session(wire.SessionPurpose.PAY)
            sealed = seal_template(template(vector), public_key, session_id=info.session_id)
            request = wire.AuthorizeRequest.model_validate(
                {
                    "session_id": info.session_id,
                    "amount_minor": 100,
                    "currency": "EUR",
                    "basket_reference": f"bench-{i}-{new_idempotency_key()[-12:]}",
                    "sealed_template": wire.SealedTemplateWire.from_sealed(sealed).model_dump(),
                    "liveness": seeded_liveness(wire.b64decode(info.liveness_seed)),
                    "claim": {"kind": "phone", "value": PHONE},
                }
            )
            answer = client.authorize(request, idempotency_key=new_idempotency_key())
            elapsed = time.perf_counter() - start
            if answer.status != wire.AuthorizationStatus.APPROVED:
                raise RuntimeError(f"round trip {i}: {answer.status.value}, not approved")
            return elapsed

        times: dict[str, list[float]] = {name: [] for name in clients}
        try:
            for client in clients.values():
                pay(client, -1)  # warm up: connections, first key fetch
            for i in range(n):
                order = list(clients) if i % 2 == 0 else list(reversed(clients))
                for name in order:
                    times[name].append(pay(clients[name], i))
        finally:
            for client in clients.values():
                client.close()
    return {"count": n, **{name: _percentiles(t) for name, t in times.items()}}


def _run(args: argparse.Namespace) -> int:
    import numpy as np

    from facepay.cli import emit
    from facepay.crypto import (
        DeviceKey,
        FileMasterKey,
        ReceiptSigner,
        SealingKeyring,
        SealingSuite,
        TemplateVault,
        TenantTransform,
        open_template,
        seal_template,
        sign_answer,
        sign_request,
        verify_answer,
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
    answer_key = ReceiptSigner.generate()
    answer_of = {"method": "POST", "target": "/v1/x", "nonce": "n" * 32, "status": 200}
    answer_headers = sign_answer(answer_key, body=body, **answer_of)  # type: ignore[arg-type]
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
        "sign_answer_ms": _ms(
            lambda: sign_answer(answer_key, body=body, **answer_of),  # type: ignore[arg-type]
            n,
        ),
        "verify_answer_ms": _ms(
            lambda: verify_answer(answer_headers, body=body, **answer_of),  # type: ignore[arg-type]
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
    if args.round_trips:
        payload["payment_round_trip"] = round_trips(int(args.round_trips))

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
            "sign_answer_ms",
            "verify_answer_ms",
            "vault_encrypt_ms",
            "vault_decrypt_ms",
            "transform_derive_ms",
            "transform_apply_10k_ms",
        ):
            lines.append(f"  {k:45s} {p[k]:.3f}")
        trips = p.get("payment_round_trip")
        if trips:
            for name in ("verified", "unverified"):
                lines.append(
                    f"  payment round trip, {name:10s} ({trips['count']})"
                    f"{'':10s} median {trips[name]['median_ms']:.2f} ms  "
                    f"p90 {trips[name]['p90_ms']:.2f} ms"
                )
        return "\n".join(lines)

    emit(args, payload, human)
    return 0

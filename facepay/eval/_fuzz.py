"""Fuzz every endpoint of a running backend from the OpenAPI document it serves.

schemathesis (v4) turns ``GET /openapi.json`` into hypothesis strategies for each
operation, both *positive* (bodies the schema allows) and *negative* (bodies, headers and
parameters it forbids). Each generated case is sent over real HTTP in one of four ways:
signed by a registered till (so it gets past authentication into validation and the
backend's own logic), unsigned, with a corrupted signature, or as raw bytes that are not
JSON at all. The claim under test: **no 5xx and no crash**, whatever arrives. Every 5xx
is kept with its request for the report; the backend must still answer ``/v1/health``
at the end.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from facepay.crypto import sign_request
from facepay.eval._reliability import RegisteredTill

__all__ = ["FuzzReport", "fuzz_backend"]

_SIGNED_PATH_PREFIXES = ("/v1/sessions", "/v1/enrollments", "/v1/authorizations")


@dataclasses.dataclass(slots=True)
class FuzzReport:
    cases: int = 0
    statuses: Counter[int] = dataclasses.field(default_factory=Counter)
    by_operation: Counter[str] = dataclasses.field(default_factory=Counter)
    # Every operation the served OpenAPI document declares, as "METHOD /path".
    operations: list[str] = dataclasses.field(default_factory=list)
    modes: Counter[str] = dataclasses.field(default_factory=Counter)
    server_errors: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    transport_errors: list[str] = dataclasses.field(default_factory=list)
    healthy_after: bool = False

    @property
    def ok(self) -> bool:
        return not self.server_errors and not self.transport_errors and self.healthy_after

    def as_dict(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "five_xx": sum(v for k, v in self.statuses.items() if k >= 500),
            "by_operation": dict(sorted(self.by_operation.items())),
            "operations": sorted(self.operations),
            "modes": dict(sorted(self.modes.items())),
            "server_errors": self.server_errors[:10],
            "transport_errors": self.transport_errors[:10],
            "healthy_after": self.healthy_after,
            "ok": self.ok,
        }


def _body_bytes(kwargs: dict[str, Any]) -> bytes | None:
    if "json" in kwargs:
        # allow_nan: a NaN or Infinity token is exactly the kind of thing to send.
        return json.dumps(kwargs["json"], allow_nan=True).encode()
    data = kwargs.get("data") or kwargs.get("content")
    if data is None:
        return None
    if isinstance(data, str):
        return data.encode("utf-8", "surrogatepass")
    if isinstance(data, bytes):
        return data
    return json.dumps(data, default=str).encode()


def fuzz_backend(
    base_url: str,
    till: RegisteredTill,
    *,
    cases: int,
    seed: int = 0,
    on_case: Callable[[], None] | None = None,
) -> FuzzReport:
    """Send ``cases`` generated requests to the backend at ``base_url``."""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hyp_seed
    from hypothesis import strategies as st
    from schemathesis import GenerationMode

    report = FuzzReport()
    http = httpx.Client(base_url=base_url, timeout=30.0)
    spec = http.get("/openapi.json").json()
    schema = schemathesis.openapi.from_dict(spec)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    report.operations = [f"{op.method.upper()} {op.path}" for op in operations]
    strategies: list[tuple[Any, str, Any]] = []
    for op in operations:
        strategies.append((op, "positive", op.as_strategy(GenerationMode.POSITIVE)))  # type: ignore[arg-type]
        if op.method.upper() == "POST":
            strategies.append((op, "negative", op.as_strategy(GenerationMode.NEGATIVE)))  # type: ignore[arg-type]

    def send(op: Any, mode: str, case: Any, how: str, junk: bytes) -> None:
        kwargs = case.as_transport_kwargs(base_url=base_url)
        body = junk if how == "raw_bytes" else _body_bytes(kwargs)
        headers = {
            str(k): str(v)
            for k, v in (kwargs.get("headers") or {}).items()
            if str(k).lower() not in ("content-length", "host", "transfer-encoding")
        }
        if body is not None and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
        request = http.build_request(
            kwargs["method"],
            kwargs["url"],
            params=kwargs.get("params") or None,
            headers=headers,
            content=body,
        )
        signed = request.url.path.startswith(_SIGNED_PATH_PREFIXES)
        if how in ("signed", "bad_signature", "raw_bytes") and signed:
            target = request.url.raw_path.decode("ascii")
            sig = sign_request(
                till.key,
                device_id=till.device_id,
                method=request.method,
                target=target,
                body=body or b"",
                idempotency_key=request.headers.get("Idempotency-Key"),
            )
            if how == "bad_signature":
                sig = {**sig, "X-FacePay-Signature": sig["X-FacePay-Signature"][::-1]}
            request.headers.update(sig)
        label = f"{op.method.upper()} {op.path}"
        report.cases += 1
        report.by_operation[label] += 1
        report.modes[f"{mode}/{how}"] += 1
        try:
            response = http.send(request)
        except httpx.HTTPError as exc:
            report.transport_errors.append(f"{label}: {type(exc).__name__}: {exc}")
            return
        report.statuses[response.status_code] += 1
        if response.status_code >= 500:
            report.server_errors.append(
                {
                    "operation": label,
                    "mode": f"{mode}/{how}",
                    "status": response.status_code,
                    "request_body": (body or b"")[:2000].decode("utf-8", "replace"),
                    "request_headers": {
                        k: v for k, v in request.headers.items() if not k.startswith("x-facepay")
                    },
                    "response": response.text[:500],
                }
            )
        if on_case is not None:
            on_case()

    @hyp_seed(seed)
    @settings(
        max_examples=cases,
        database=None,
        deadline=None,
        derandomize=False,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(st.data())
    def one(data: Any) -> None:
        op, mode, strategy = data.draw(st.sampled_from(strategies), label="operation")
        case = data.draw(strategy, label="case")
        how = data.draw(
            st.sampled_from(
                ["signed", "signed", "signed", "unsigned", "bad_signature", "raw_bytes"]
            ),
            label="how",
        )
        junk = data.draw(st.binary(max_size=512), label="junk") if how == "raw_bytes" else b""
        send(op, mode, case, how, junk)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            one()
    finally:
        try:
            report.healthy_after = http.get("/v1/health").status_code == 200
        except httpx.HTTPError:
            report.healthy_after = False
        http.close()
    return report

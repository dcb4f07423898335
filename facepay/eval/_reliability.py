"""Exactly-once proofs: run many checkouts through a misbehaving wire (or a backend that
gets SIGKILLed), reconcile every unknown answer, then audit the ledger.

The driver is the product: one :class:`facepay.Till` per lane, paying each basket with
``Till.pay``; a lost answer leaves the request in ``Till.unanswered`` and goes to
``Till.reconcile`` (same key, same sealed request), exactly what the SDK tells a POS to
do. The doubles sit at the network (``facepay.eval.FaultyTransport``, a TCP proxy, a
SIGKILLed backend) and at the face stage (:mod:`facepay.testing.synthetic`: synthetic
templates, since the proof is about the payment protocol, not the embedder). The audit
then compares what every till believes with what the backend's ledger (``facepay
sandbox ledger``) says:

* **double charge**: more than one approved authorization for one basket;
* **lost charge**: a till holds an approved receipt the ledger does not have (or has in
  another state, or for another amount);
* **silent charge**: the ledger has an approved authorization the till does not know
  about (it believes declined, abandoned or not charged);
* **unresolved**: a checkout that never learned its outcome within the deadline.

All four must be zero. Shoppers are enrolled as set-up through ``Till.enroll`` too (on a
clean wire; their faces are :func:`facepay.testing.face` identities); that set-up is not
what is measured.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np

from facepay import wire
from facepay.checkout import (
    Basket,
    BasketLine,
    PaymentStatus,
    PaymentUnansweredError,
    PendingAuthorization,
    Receipt,
    Till,
    consent_now,
)
from facepay.client import FacePayClient
from facepay.config import ClientConfig
from facepay.crypto import DeviceKey
from facepay.errors import (
    AuthenticationError,
    BackendError,
    CheckoutFailedError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from facepay.testing.synthetic import SyntheticFaces, face, same_face

__all__ = [
    "CheckoutOutcome",
    "CheckoutSpec",
    "LedgerAudit",
    "Population",
    "RegisteredTill",
    "audit_ledger",
    "enroll_population",
    "plan_checkouts",
    "register_till",
    "run_checkouts",
]

CONSENT_VERSION = "2026-01-en"


@dataclasses.dataclass(frozen=True, slots=True)
class RegisteredTill:
    device_id: str
    key: DeviceKey = dataclasses.field(repr=False)


def register_till(
    base_url: str, admin_token: str, *, tenant_id: str = "proof-retailer", lane: int = 0
) -> RegisteredTill:
    """Register a fresh device key over HTTP with the operator's enrollment token."""
    key = DeviceKey.generate()
    with FacePayClient(base_url, config=_client_config()) as client:
        client.create_tenant(tenant_id, admin_token)  # tenants are created explicitly
        reg = client.register_device(
            wire.DeviceRegistrationRequest(
                tenant_id=tenant_id,
                store_id="store-1",
                lane_id=f"lane-{lane}",
                public_key=wire.b64encode(key.public_key.raw),
            ),
            enrollment_token=admin_token,
        )
    return RegisteredTill(reg.device_id, key)


def _client_config(**kw: Any) -> ClientConfig:
    # Plain http on loopback; short backoff so a benchmark measures the backend, not sleep.
    base: dict[str, Any] = {
        "verify_tls": False,
        "timeout_s": 10.0,
        "connect_timeout_s": 2.0,
        "backoff_initial_s": 0.02,
        "backoff_max_s": 0.2,
    }
    base.update(kw)
    return ClientConfig(**base)


@dataclasses.dataclass(frozen=True, slots=True)
class Shopper:
    phone: str
    vector: np.ndarray[Any, Any] = dataclasses.field(repr=False)
    token: str
    privacy_code: str
    shopper_id: str


@dataclasses.dataclass(frozen=True, slots=True)
class Population:
    shoppers: tuple[Shopper, ...]

    def expected(self, shopper: Shopper, genuine: bool) -> str:
        if not genuine:
            return "declined:no_match"
        if shopper.token == "tok_chargeDeclined":  # noqa: S105 - a sandbox card token
            return "declined:payment_method_declined"
        return "approved"


def _connect(
    base_url: str,
    registered: RegisteredTill,
    faces: SyntheticFaces,
    *,
    config: ClientConfig,
    transport: httpx.BaseTransport | None = None,
) -> Till:
    """The product's till for ``registered``, its face stage made of synthetic faces."""
    return Till.connect(
        base_url,
        device_key=registered.key,
        device_id=registered.device_id,
        client_config=config,
        transport=transport,
        analyzer=faces,
        embedder=faces,
        liveness=faces.liveness,
    )


def enroll_population(
    base_url: str, till: RegisteredTill, count: int, *, seed: int = 0, declined_every: int = 7
) -> Population:
    """Enroll ``count`` synthetic shoppers with ``Till.enroll`` (no faults); every
    ``declined_every``-th has a card that the sandbox always declines."""
    faces = SyntheticFaces()
    shoppers = []
    with _connect(base_url, till, faces, config=_client_config()) as enrolling:
        for i in range(count):
            vector = face(seed * 1_000_003 + i)
            phone = f"+49151{seed % 1000:03d}{i:05d}"
            token = (
                "tok_chargeDeclined"
                if declined_every and i % declined_every == 3
                else ("tok_visa_4242")
            )
            name = f"enroll-{seed}-{i}"
            try:
                result = enrolling.enroll(
                    faces.camera(name, vector),
                    consent=consent_now(CONSENT_VERSION),
                    claim=wire.Claim(kind=wire.ClaimKind.PHONE, value=phone),
                    payment_method_token=token,
                )
            finally:
                faces.forget(name)
            shoppers.append(Shopper(phone, vector, token, result.privacy_code, result.shopper_id))
    return Population(tuple(shoppers))


@dataclasses.dataclass(frozen=True, slots=True)
class CheckoutSpec:
    basket_reference: str
    shopper_index: int
    genuine: bool
    amount_minor: int
    noise_seed: int


def plan_checkouts(
    population: Population, count: int, *, seed: int = 0, impostor_share: float = 0.1
) -> list[CheckoutSpec]:
    rng = np.random.default_rng(seed + 1)
    run = uuid.uuid4().hex[:8]
    return [
        CheckoutSpec(
            basket_reference=f"proof-{run}-{i:06d}",
            shopper_index=int(rng.integers(len(population.shoppers))),
            genuine=bool(rng.random() >= impostor_share),
            amount_minor=int(rng.integers(50, 50_000)),
            noise_seed=int(rng.integers(2**31)),
        )
        for i in range(count)
    ]


@dataclasses.dataclass(slots=True)
class CheckoutOutcome:
    spec: CheckoutSpec
    expected: str
    idempotency_key: str | None = None
    # approved | declined:<reason> | step_up:<kind> | abandoned (never authorized) |
    # not_charged (the backend answered 4xx: nothing stored) | unresolved
    final: str = "unresolved"
    authorization_id: str | None = None
    amount_minor: int | None = None
    reconciled: bool = False
    reconcile_attempts: int = 0
    session_attempts: int = 0
    errors: Counter[str] = dataclasses.field(default_factory=Counter)
    latency_s: float = 0.0


_UNKNOWN = (TransportError, ServerError, RateLimitedError)


def _describe(receipt: Receipt) -> str:
    if receipt.status is PaymentStatus.APPROVED:
        return "approved"
    if receipt.status is PaymentStatus.DECLINED:
        return f"declined:{receipt.decline_reason or 'unknown'}"
    return f"step_up:{receipt.step_up or 'unknown'}"


def _pause(error: BaseException, attempt: int) -> float:
    if isinstance(error, RateLimitedError) and error.retry_after:
        return min(float(error.retry_after), 5.0)
    return float(min(0.05 * (2 ** min(attempt, 5)), 1.0))


def _one_checkout(
    till: Till,
    faces: SyntheticFaces,
    population: Population,
    spec: CheckoutSpec,
    *,
    deadline_s: float,
    sleep: Callable[[float], None],
) -> CheckoutOutcome:
    """One basket at one till, as a POS drives :class:`~facepay.Till`: ``pay``; when the
    answer is lost, the till keeps the request in :attr:`~facepay.Till.unanswered` and
    the POS reconciles it before anything else; when nothing that can move money was
    sent (or the backend refused it), a new attempt."""
    shopper = population.shoppers[spec.shopper_index]
    outcome = CheckoutOutcome(spec, population.expected(shopper, spec.genuine))
    started = time.monotonic()
    stop_at = started + deadline_s
    # Another capture of the shopper, or a stranger claiming their phone number.
    probe = same_face(shopper.vector, spec.noise_seed) if spec.genuine else face(spec.noise_seed)
    line = BasketLine(
        sku="proof", description="proof basket", quantity=1, unit_price_minor=spec.amount_minor
    )
    basket = Basket(reference=spec.basket_reference, currency="EUR", lines=(line,))
    claim = wire.Claim(kind=wire.ClaimKind.PHONE, value=shopper.phone)
    receipt: Receipt | None = None
    try:
        while receipt is None and outcome.final == "unresolved":
            if time.monotonic() > stop_at:
                outcome.final = "abandoned"
                break
            outcome.session_attempts += 1
            camera = faces.camera(spec.basket_reference, probe)
            try:
                receipt = till.pay(basket, camera, claim=claim)
            except PaymentUnansweredError as exc:
                # The till holds it in ``till.unanswered``: reconcile it before anything else.
                outcome.errors[f"pay:{type(exc).__name__}"] += 1
                receipt = _reconcile(till, exc.pending, outcome, exc, stop_at, sleep)
            except (TransportError, ServerError) as exc:
                # Nothing that can move money left the till: try again.
                outcome.errors[f"pay:{type(exc).__name__}"] += 1
                sleep(_pause(exc, outcome.session_attempts))
            except (BackendError, CheckoutFailedError) as exc:
                # A 4xx (the backend stored nothing) or an attempt that ended before the
                # authorization was sent: nothing was charged, try again.
                outcome.errors[f"pay:{type(exc).__name__}"] += 1
                sleep(_pause(exc, outcome.session_attempts))
    finally:
        faces.forget(spec.basket_reference)
    if receipt is not None:
        outcome.final = _describe(receipt)
        outcome.idempotency_key = receipt.idempotency_key
        outcome.authorization_id = receipt.authorization_id
        outcome.amount_minor = receipt.amount_minor
    outcome.latency_s = time.monotonic() - started
    return outcome


def _reconcile(
    till: Till,
    pending: PendingAuthorization,
    outcome: CheckoutOutcome,
    error: BaseException,
    stop_at: float,
    sleep: Callable[[float], None],
) -> Receipt | None:
    """``Till.reconcile`` until the backend answers (or the deadline passes)."""
    outcome.reconciled = True
    outcome.idempotency_key = pending.idempotency_key
    last = error
    while time.monotonic() <= stop_at:
        sleep(_pause(last, outcome.reconcile_attempts))
        outcome.reconcile_attempts += 1
        try:
            return till.reconcile(pending)
        except (*_UNKNOWN, AuthenticationError) as exc:
            outcome.errors[f"reconcile:{type(exc).__name__}"] += 1
            last = exc
        except BackendError:
            if pending in till.unanswered:
                raise
            # The till settled it: the backend refused it for good (its session is
            # gone, nothing stored under the key), so nothing was charged.
            outcome.final = "not_charged"
            return None
    return None


def run_checkouts(
    base_url: str,
    tills: Sequence[RegisteredTill],
    population: Population,
    specs: Sequence[CheckoutSpec],
    *,
    transport_factory: Callable[[], httpx.BaseTransport | None] = lambda: None,
    deadline_s: float = 120.0,
    on_done: Callable[[CheckoutOutcome], None] | None = None,
    client_config: ClientConfig | None = None,
) -> list[CheckoutOutcome]:
    """Run ``specs`` spread over ``tills``: one :class:`~facepay.Till` per registered
    device, each in its own worker thread, its wire built by ``transport_factory``."""
    config = client_config or _client_config()
    queue = list(enumerate(specs))
    lock = threading.Lock()
    results: list[CheckoutOutcome | None] = [None] * len(specs)
    faces = SyntheticFaces()

    def worker(registered: RegisteredTill) -> None:
        with _connect(
            base_url, registered, faces, config=config, transport=transport_factory()
        ) as till:
            while True:
                with lock:
                    if not queue:
                        return
                    index, spec = queue.pop(0)
                outcome = _one_checkout(
                    till, faces, population, spec, deadline_s=deadline_s, sleep=time.sleep
                )
                results[index] = outcome
                if on_done is not None:
                    on_done(outcome)

    with ThreadPoolExecutor(max_workers=len(tills)) as pool:
        for future in [pool.submit(worker, t) for t in tills]:
            future.result()
    return [r for r in results if r is not None]


@dataclasses.dataclass(frozen=True, slots=True)
class LedgerAudit:
    checkouts: int
    outcomes: dict[str, int]
    unknown_then_reconciled: int
    wrong_decisions: int
    ledger_rows: int
    ledger_approved: int
    double_charges: int
    lost_charges: int
    silent_charges: int
    unresolved: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not (
            self.double_charges
            or self.lost_charges
            or self.silent_charges
            or self.unresolved
            or self.wrong_decisions
        )

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["problems"] = list(self.problems[:20])
        data["ok"] = self.ok
        return data


def audit_ledger(outcomes: Iterable[CheckoutOutcome], ledger: list[dict[str, Any]]) -> LedgerAudit:
    """Compare what the tills believe with what the backend recorded."""
    outcomes = list(outcomes)
    problems: list[str] = []
    by_key = {o.idempotency_key: o for o in outcomes if o.idempotency_key}
    baskets = {o.spec.basket_reference: o for o in outcomes}
    approved_per_basket: Counter[str] = Counter()
    rows_by_key: dict[str, dict[str, Any]] = {}
    ours = [r for r in ledger if r["basket_reference"] in baskets]
    for entry in ours:
        rows_by_key[entry["idempotency_key"]] = entry
        if entry["state"] == "approved":
            approved_per_basket[entry["basket_reference"]] += 1
    double = sum(n - 1 for n in approved_per_basket.values() if n > 1)
    if double:
        problems.append(f"{double} baskets charged more than once")
    lost = silent = unresolved = wrong = 0
    for o in outcomes:
        row: dict[str, Any] | None = rows_by_key.get(o.idempotency_key or "")
        if o.final == "unresolved":
            unresolved += 1
            problems.append(f"{o.spec.basket_reference}: outcome never learned")
        if o.final == "approved":
            if (
                row is None
                or row["state"] != "approved"
                or row["id"] != o.authorization_id
                or int(row["amount_minor"]) != o.spec.amount_minor
            ):
                lost += 1
                problems.append(f"{o.spec.basket_reference}: approved at the till, ledger {row}")
        elif approved_per_basket.get(o.spec.basket_reference):
            silent += 1
            problems.append(f"{o.spec.basket_reference}: till says {o.final}, ledger approved")
        if o.final.startswith(("approved", "declined")) and o.final != o.expected:
            wrong += 1
            problems.append(f"{o.spec.basket_reference}: expected {o.expected}, got {o.final}")
        if o.final.startswith(("declined", "step_up")) and (
            row is None or row["id"] != o.authorization_id
        ):
            lost += 1
            problems.append(f"{o.spec.basket_reference}: answered {o.final}, not in the ledger")
    foreign = [r for r in ours if r["idempotency_key"] not in by_key]
    if foreign:
        silent += len([r for r in foreign if r["state"] == "approved"])
        problems.append(f"{len(foreign)} ledger rows under keys no till used")
    return LedgerAudit(
        checkouts=len(outcomes),
        outcomes=dict(sorted(Counter(o.final for o in outcomes).items())),
        unknown_then_reconciled=sum(
            1 for o in outcomes if o.reconciled and o.final not in ("unresolved",)
        ),
        wrong_decisions=wrong,
        ledger_rows=len(ours),
        ledger_approved=sum(approved_per_basket.values()),
        double_charges=double,
        lost_charges=lost,
        silent_charges=silent,
        unresolved=unresolved,
        problems=tuple(problems),
    )

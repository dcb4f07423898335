"""Templates over time: enrol once, then pay again and again, through the backend's own code.

``facepay eval adaptive`` (docs/accuracy.md, "Over time"). Per order (a seeded random
history of one store): every identity with enough samples enrols under its own phone
number from ``enroll_views`` of its samples (a still or a fused clip window); then its
other samples come back to pay, claiming that phone number, in a random order, with
impostor attempts (other people's samples claiming the same phone number) interleaved.
The same seed gives the same history under every condition (update on or off), so the
conditions are compared attempt by attempt.

What decides is the product, not a twin of it: a :class:`PaymentBackend` in this process
(SQLite in a temporary folder, its own keys), called through the same service methods its
HTTP layer calls once a request's signature has been checked (``create_session``,
``enroll``, ``authorize``). Templates are sealed to the backend's key as a till seals
them, so opening, the tenant transform, the gallery, the decision and whatever the
backend does after a payment (an adaptive template update) are exactly what ships. The
score of each attempt is read from the backend's own audit line (``best_score``: the
best cosine similarity over the claimed shopper's stored views). Every shopper sets a PIN
at enrolment and answers the backend's grey-zone PIN step-up with it; an impostor who
reaches the prompt walks away (its chance to guess is counted by :func:`grey_zone_sweep`,
not played, which would lock the shopper's PIN for the visits after).

Only the camera and the network are left out: each template comes from the product's
embedder on an evaluation image or a fused window of a clip, computed once per run. Visits
are an hour apart on a fake clock, so no attempt meets a lockout that an earlier attempt
caused (lockouts are not what this measures; docs/security.md covers them).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from facepay.config import ServerConfig
from facepay.eval._verify import EnrolledSample

__all__ = [
    "Attempt",
    "History",
    "Visit",
    "adaptive_report",
    "conditions",
    "grey_zone_sweep",
    "plan_history",
    "run_conditions",
    "run_history",
]

logger = logging.getLogger(__name__)

# A visit is an hour after the one before: longer than every lockout window and lockout
# (ServerConfig: 600 s window, 900 s shopper lockout), so attempts stay independent.
VISIT_INTERVAL_S = 3600.0
# The PIN every evaluated shopper sets (not one the backend refuses).
EVAL_PIN = "5092"


@dataclasses.dataclass(frozen=True, slots=True)
class Visit:
    """One payment attempt of a history: ``presenter``'s sample claims ``target``."""

    target: str
    sample: int  # index into the samples
    genuine: bool
    lookalike: bool = False  # an impostor chosen for being close (a poisoning attempt)


@dataclasses.dataclass(frozen=True, slots=True)
class History:
    """One seeded order: who enrols from which samples, then every visit in order."""

    seed: int
    enrolments: dict[str, tuple[int, ...]]
    visits: tuple[Visit, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Attempt:
    """What the backend answered to one visit (no template, no image)."""

    order: int
    position: int  # visits to this target so far (0 = the first after enrolment)
    target: str
    source: str  # the presented sample
    genuine: bool
    lookalike: bool
    status: str  # approved | declined | step_up
    decline_reason: str | None
    score: float | None  # cosine similarity with the claimed shopper (the audit's best_score)
    step_up: str | None = None  # the step-up kind asked for, if any
    final_status: str | None = None  # after the step-up was answered
    presenter: str = ""  # whose sample it is
    adapted: bool = False  # the backend folded this payment into the claimed shopper's set
    enrolled_views: int = 1  # views the backend kept when the claimed shopper enrolled


def plan_history(
    samples: Sequence[EnrolledSample],
    *,
    seed: int,
    enroll_views: int = 1,
    impostors_per_target: int = 20,
    lookalikes: int = 3,
    reserve: int | None = None,
) -> History:
    """A random history: enrolments, then genuine and impostor visits interleaved.

    Per target: its samples shuffled, the first ``enroll_views`` enrol, the samples after
    the first ``reserve`` (default ``enroll_views``) pay. With one ``reserve`` for every
    number of views compared, the same seed gives the same visits whatever ``enroll_views``
    is: the conditions pay with the same samples in the same order.
    Impostor visits: the ``lookalikes`` samples of other people closest to the target's
    primary enrolment sample (cosine of the embedder's templates: the look-alike who tries again and
    again, and whom an update must not bring closer), plus other people's samples drawn
    at random up to ``impostors_per_target`` in all. Identities with fewer than
    ``enroll_views + 1`` samples do not enrol (they still serve as impostors).
    """
    reserve = enroll_views if reserve is None else reserve
    if not 1 <= enroll_views <= reserve or impostors_per_target < 0 or lookalikes < 0:
        raise ValueError("1 <= enroll_views <= reserve, impostors and lookalikes >= 0")
    rng = random.Random(seed)  # noqa: S311 (a reproducible order, not a secret)
    by_id: dict[str, list[int]] = {}
    for i, s in enumerate(samples):
        by_id.setdefault(s.identity, []).append(i)
    unit = _unit_rows(samples)
    enrolments: dict[str, tuple[int, ...]] = {}
    visits: list[Visit] = []
    for identity in sorted(by_id):
        own = list(by_id[identity])
        if len(own) < reserve + 1:
            continue
        rng.shuffle(own)
        enrolments[identity] = tuple(own[:enroll_views])
        visits.extend(Visit(identity, i, True) for i in own[reserve:])
        others = [i for i, s in enumerate(samples) if s.identity != identity]
        # Closest to the primary (first) enrolment sample: the same people whatever the
        # number of views.
        closeness = unit[others] @ unit[own[0]]
        nearest = [others[k] for k in np.argsort(-closeness, kind="stable")]
        close = nearest[: min(lookalikes, impostors_per_target)]
        rest = [i for i in others if i not in close]
        drawn = rng.sample(rest, min(len(rest), impostors_per_target - len(close)))
        visits.extend(Visit(identity, i, False, lookalike=True) for i in close)
        visits.extend(Visit(identity, i, False) for i in drawn)
    rng.shuffle(visits)
    return History(seed=seed, enrolments=enrolments, visits=tuple(visits))


def _unit_rows(samples: Sequence[EnrolledSample]) -> np.ndarray[Any, Any]:
    v = np.stack([np.asarray(s.template.vector, dtype=np.float64) for s in samples])
    out: np.ndarray[Any, Any] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


# --- the backend under test -----------------------------------------------------------


class _BackendUnderTest:
    """The reference backend in this process, one tenant, one registered till, driven
    through the service calls its HTTP layer makes after checking a request's signature."""

    tenant_id = "eval-store"

    def __init__(self, folder: Path, config: ServerConfig) -> None:
        from facepay.crypto import DeviceKey
        from facepay.server import build_backend
        from facepay.testing.clips import FakeClock
        from facepay.wire import DeviceRegistrationRequest, b64encode

        self.clock = FakeClock(start=1_800_000_000.0)
        self.backend = build_backend(
            folder / "backend.db", key_dir=folder / "keys", config=config, clock=self.clock
        )
        key = DeviceKey.generate()
        registration = self.backend.register_device(
            DeviceRegistrationRequest(
                tenant_id=self.tenant_id,
                store_id="store-1",
                lane_id="lane-1",
                public_key=b64encode(key.public_key.raw),
            ),
            create_tenant=True,
        )
        from facepay.server import AuthenticatedDevice

        self.device = AuthenticatedDevice(
            registration.device_id, self.tenant_id, "store-1", "lane-1"
        )
        self._baskets = 0

    def close(self) -> None:
        self.backend.db.close()

    def _session(self, purpose: str) -> tuple[str, bytes]:
        from facepay.wire import CreateSessionRequest, SessionPurpose, b64decode

        info = self.backend.create_session(
            self.device, CreateSessionRequest(purpose=SessionPurpose(purpose))
        )
        return info.session_id, b64decode(info.liveness_seed)

    def _sealed(self, vector: Any, session_id: str, frames_fused: int, model_id: str) -> Any:
        from facepay.crypto import seal_template
        from facepay.types import FaceTemplate
        from facepay.wire import SealedTemplateWire

        template = FaceTemplate(
            vector=np.asarray(vector, dtype=np.float32),
            model_id=model_id,  # the embedder's recipe id: the backend keeps one gallery per id
            frames_fused=frames_fused,
        )
        sealed = seal_template(
            template, self.backend.vault.keyring.public_key, session_id=session_id
        )
        return SealedTemplateWire.from_sealed(sealed)

    def enroll(self, phone: str, templates: Sequence[EnrolledSample]) -> str:
        from facepay.crypto import seal_enrollment_pin
        from facepay.testing.protocol_till import CONSENT, SANDBOX_CARD
        from facepay.wire import Claim, ClaimKind, ConsentRecord, EnrollmentRequest, b64encode

        session_id, _ = self._session("enroll")
        primary, *more = [
            self._sealed(
                t.template.vector, session_id, t.template.frames_fused, t.template.model_id
            )
            for t in templates
        ]
        answer = self.backend.enroll(
            self.device,
            EnrollmentRequest(
                session_id=session_id,
                sealed_template=primary,
                more_views=tuple(more),
                # Every shopper sets a PIN, so the grey zone asks for it (issue 16).
                sealed_pin=b64encode(
                    seal_enrollment_pin(
                        EVAL_PIN, self.backend.vault.keyring.public_key, session_id=session_id
                    )
                ),
                consent=ConsentRecord.model_validate(CONSENT),
                payment_method_token=SANDBOX_CARD,
                claim=Claim(kind=ClaimKind.PHONE, value=phone),
            ),
        )
        return answer.shopper_id

    def views_kept(self, shopper_id: str) -> int:
        """How many enrolment views the backend kept (its audit line of the enrolment)."""
        with self.backend.db.transaction(readonly=True) as tx:
            row = tx.one(
                "SELECT details_json FROM audit_log WHERE event = 'enrolled' AND subject_id = ?",
                (shopper_id,),
            )
        return 1 if row is None else int(json.loads(row[0]).get("views", 1))

    def adapted(self, authorization_id: str) -> bool:
        """Whether the backend folded this payment's template into the shopper's set."""
        with self.backend.db.transaction(readonly=True) as tx:
            row = tx.one(
                "SELECT 1 FROM audit_log WHERE event = 'templates_adapted' AND details_json LIKE ?",
                (f'%"{authorization_id}"%',),
            )
        return row is not None

    def pay(
        self, phone: str, sample: EnrolledSample, *, knows_pin: bool
    ) -> tuple[str, str | None, float | None, Any, str]:
        """One authorization claiming ``phone``: (status, decline reason, score, answer,
        final status). A PIN step-up is answered with the right PIN by the shopper
        (``knows_pin``); an impostor walks away from it (its chance to guess the PIN is
        counted, not played: playing it would lock the shopper's PIN for later visits)."""
        from facepay.crypto import seal_step_up_pin
        from facepay.testing.protocol_till import seeded_liveness
        from facepay.wire import (
            AuthorizeRequest,
            Claim,
            ClaimKind,
            LivenessSummary,
            StepUpKind,
            StepUpRequest,
            b64encode,
        )

        self.clock.advance(VISIT_INTERVAL_S)
        self._baskets += 1
        session_id, seed = self._session("pay")
        request = AuthorizeRequest(
            session_id=session_id,
            amount_minor=1999,
            currency="EUR",
            basket_reference=f"eval-{self._baskets}",
            sealed_template=self._sealed(
                sample.template.vector,
                session_id,
                sample.template.frames_fused,
                sample.template.model_id,
            ),
            # What a genuine till sends: the plan the seed derives, its 3D check done.
            liveness=LivenessSummary.model_validate(seeded_liveness(seed)),
            claim=Claim(kind=ClaimKind.PHONE, value=phone),
        )
        answer, _ = self.backend.authorize(self.device, request, f"idem-{self._baskets}")
        score = self._audited_score(answer.authorization_id)
        reason = answer.decline_reason.value if answer.decline_reason is not None else None
        final = answer.status.value
        if knows_pin and answer.step_up is not None and answer.step_up.kind is StepUpKind.PIN:
            sealed = seal_step_up_pin(
                EVAL_PIN,
                self.backend.vault.keyring.public_key,
                authorization_id=answer.authorization_id,
            )
            after = self.backend.step_up(
                self.device,
                answer.authorization_id,
                StepUpRequest(sealed_pin=b64encode(sealed)),
                f"idem-{self._baskets}-pin",
            )
            final = after.status.value
        return answer.status.value, reason, score, answer, final

    def _audited_score(self, authorization_id: str) -> float | None:
        with self.backend.db.transaction(readonly=True) as tx:
            row = tx.one(
                "SELECT details_json FROM audit_log WHERE event = 'authorization' "
                "AND subject_id = ?",
                (authorization_id,),
            )
        if row is None:
            return None
        score = json.loads(row[0]).get("best_score")
        return None if score is None else float(score)


def _phone(k: int) -> str:
    return f"+4915100{k:06d}"


def run_history(
    samples: Sequence[EnrolledSample],
    history: History,
    config: ServerConfig,
    *,
    order: int = 0,
) -> list[Attempt]:
    """Play one history against a fresh backend with ``config``; one Attempt per visit."""
    phones = {identity: _phone(k) for k, identity in enumerate(sorted(history.enrolments))}
    attempts: list[Attempt] = []
    seen: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="facepay-adaptive-") as tmp:
        backend = _BackendUnderTest(Path(tmp), config)
        try:
            kept: dict[str, int] = {}
            for identity, views in sorted(history.enrolments.items()):
                shopper = backend.enroll(phones[identity], [samples[i] for i in views])
                kept[identity] = backend.views_kept(shopper)
            for visit in history.visits:
                sample = samples[visit.sample]
                status, reason, score, answer, final = backend.pay(
                    phones[visit.target], sample, knows_pin=visit.genuine
                )
                step_up = answer.step_up.kind.value if answer.step_up is not None else None
                attempts.append(
                    Attempt(
                        order=order,
                        position=seen.get(visit.target, 0),
                        target=visit.target,
                        source=sample.source,
                        genuine=visit.genuine,
                        lookalike=visit.lookalike,
                        status=status,
                        decline_reason=reason,
                        score=score,
                        step_up=step_up,
                        final_status=final,
                        adapted=status == "approved" and backend.adapted(answer.authorization_id),
                        enrolled_views=kept[visit.target],
                        presenter=sample.identity,
                    )
                )
                if visit.genuine:
                    seen[visit.target] = seen.get(visit.target, 0) + 1
        finally:
            backend.close()
    return attempts


# --- the numbers ----------------------------------------------------------------------


def _rate(k: int, n: int) -> float | None:
    return None if n == 0 else round(k / n, 6)


def _spread(per_order: Sequence[float]) -> dict[str, float] | None:
    if not per_order:
        return None
    a = np.asarray(per_order, dtype=np.float64)
    return {"min": round(float(a.min()), 6), "max": round(float(a.max()), 6)}


def condition_report(attempts: Sequence[Attempt]) -> dict[str, Any]:
    """FNMR (face alone, at the shipped threshold), FMR, and how they move over time."""
    genuine = [a for a in attempts if a.genuine]
    impostor = [a for a in attempts if not a.genuine]
    orders = sorted({a.order for a in attempts})

    def fnmr(rows: Sequence[Attempt]) -> float | None:
        return _rate(sum(a.status != "approved" for a in rows), len(rows))

    per_order = [x for o in orders if (x := fnmr([a for a in genuine if a.order == o])) is not None]
    last = max((a.position for a in genuine), default=0)
    imp_scores = [a.score for a in impostor if a.score is not None]
    look = [a for a in impostor if a.lookalike]
    return {
        "genuine_attempts": len(genuine),
        "impostor_attempts": len(impostor),
        "lookalike_attempts": len(look),
        "fnmr": fnmr(genuine),
        "fnmr_per_order": _spread(per_order),
        "fnmr_by_visit": {
            str(p): {"attempts": len(rows), "fnmr": fnmr(rows)}
            for p in range(last + 1)
            if (rows := [a for a in genuine if a.position == p])
        },
        "fmr": _rate(sum(a.status == "approved" for a in impostor), len(impostor)),
        "fmr_lookalikes": _rate(sum(a.status == "approved" for a in look), len(look)),
        # Who was taken for whom: "claimed <- presented" identity pairs, with counts.
        "false_accepts": _false_accepts(impostor),
        "closest_impostor_score": round(max(imp_scores), 4) if imp_scores else None,
        # Payments the backend folded into the claimed shopper's set: by the shopper, and
        # by someone else (a poisoning that succeeded; must stay 0).
        "updates_by_shopper": sum(a.adapted for a in genuine),
        "updates_by_impostor": sum(a.adapted for a in impostor),
        "enrolled_views_mean": round(
            float(np.mean([a.enrolled_views for a in attempts])) if attempts else 0.0, 3
        ),
        "other_outcomes": _other_outcomes(attempts),
        # Per enrolled person (the only group every manifest states), with its size.
        "by_identity": {
            t: {"attempts": len(rows), "fnmr": fnmr(rows)}
            for t in sorted({a.target for a in genuine})
            if (rows := [a for a in genuine if a.target == t])
        },
    }


def _false_accepts(impostor: Iterable[Attempt]) -> dict[str, int]:
    out: dict[str, int] = {}
    for a in impostor:
        if a.status == "approved":
            key = f"{a.target} <- {a.presenter}"
            out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


def _other_outcomes(attempts: Iterable[Attempt]) -> dict[str, int]:
    """Declines that are not a face refusal (should be none: visits are an hour apart)."""
    out: dict[str, int] = {}
    for a in attempts:
        if a.status == "declined" and a.decline_reason not in (None, "no_match"):
            out[a.decline_reason] = out.get(a.decline_reason, 0) + 1
    return out


def paired_drift(base: Sequence[Attempt], other: Sequence[Attempt]) -> dict[str, Any]:
    """The same visits under two conditions (same seeds): how impostor and genuine scores
    moved. An update that learns the shopper raises genuine scores; one that can be
    poisoned would raise impostor scores (the look-alikes' first)."""
    key = [(a.order, a.target, a.source, a.genuine, a.position) for a in base]
    if key != [(a.order, a.target, a.source, a.genuine, a.position) for a in other]:
        raise ValueError("the two runs did not play the same histories")
    out: dict[str, Any] = {}
    for label, pick in (
        ("genuine", lambda a: a.genuine),
        ("impostor", lambda a: not a.genuine),
        ("lookalike", lambda a: a.lookalike),
    ):
        d = [
            b.score - a.score
            for a, b in zip(base, other, strict=True)
            if pick(a) and a.score is not None and b.score is not None
        ]
        if not d:
            continue
        arr = np.asarray(d)
        out[label] = {
            "attempts": len(d),
            "mean_change": round(float(arr.mean()), 5),
            "max_rise": round(float(arr.max()), 5),
            "rose": int((arr > 1e-4).sum()),
        }
    return out


def grey_zone_sweep(
    attempts: Sequence[Attempt],
    *,
    match_threshold: float,
    grey_thresholds: Sequence[float],
    pin_guess_probability: float,
) -> list[dict[str, Any]]:
    """The rates a shopper would see with a second factor in the grey zone, per grey
    threshold (a cosine similarity below ``match_threshold``), from the backend's scores.

    Genuine: approved on face (score >= match_threshold and approved), step-up (grey <=
    score < match), refused (below grey). Impostor: share in the grey zone, and the
    combined false accept rate = that share x ``pin_guess_probability`` (the chance of
    guessing the PIN within the allowed tries) + the face-only FMR. Valid when a payment
    approved after a step-up does not change the stored templates (issue 16: only a
    face-only approval with a clear margin updates), so the histories do not depend on
    the grey threshold.
    """
    genuine = [a for a in attempts if a.genuine]
    impostor = [a for a in attempts if not a.genuine]
    rows = []
    for grey in sorted(grey_thresholds, reverse=True):
        if grey > match_threshold:
            continue

        def zone(a: Attempt, grey: float = grey) -> str:
            # Whether the face matched is the backend's decision, not the rounded score:
            # the audit keeps 4 decimals, so 0.95996 reads 0.96 but did not match.
            if a.status == "approved" and a.step_up is None:
                return "face"
            s = a.score
            if s is not None and s >= grey and grey < match_threshold:
                return "step_up"
            return "refused"

        g = [zone(a) for a in genuine]
        i = [zone(a) for a in impostor]
        n_g, n_i = len(g), len(i)
        face_fmr = i.count("face") / n_i if n_i else 0.0
        grey_share = i.count("step_up") / n_i if n_i else 0.0
        rows.append(
            {
                "grey_threshold": round(grey, 4),
                "grey_distance": round(1.0 - grey, 4),
                "approved_on_face": _rate(g.count("face"), n_g),
                "step_up": _rate(g.count("step_up"), n_g),
                "refused": _rate(g.count("refused"), n_g),
                "impostor_in_grey_zone": _rate(i.count("step_up"), n_i),
                "combined_false_accept": round(face_fmr + grey_share * pin_guess_probability, 9),
            }
        )
    return rows


def adaptive_report(
    runs: dict[str, list[Attempt]],
    *,
    config: ServerConfig,
    samples: Sequence[EnrolledSample],
    grey_thresholds: Sequence[float],
    pin_guess_probability: float,
) -> dict[str, Any]:
    """The ``facepay eval adaptive --json`` document: one entry per condition."""
    report: dict[str, Any] = {
        "samples": len(samples),
        "identities": len({s.identity for s in samples}),
        "match_threshold": config.match_threshold,
        # How a set of several views scores (ServerConfig.best_view_weight; 1.0: best view).
        "best_view_weight": config.best_view_weight,
        "conditions": {name: condition_report(rows) for name, rows in runs.items()},
    }
    names = list(runs)
    if len(names) > 1:
        base = names[0]
        report["drift_against_" + base] = {
            name: paired_drift(runs[base], runs[name])
            for name in names[1:]
            if _same_visits(runs[base], runs[name])
        }
    # Every condition shares the thresholds; only the update and the views differ.
    report["backend_grey_zone"] = {
        name: backend_grey_zone(rows, config=config) for name, rows in runs.items()
    }
    report["pairs"] = pairwise_grey_zone(
        samples,
        match_threshold=config.match_threshold,
        grey_thresholds=grey_thresholds,
        pin_guess_probability=pin_guess_probability,
    )
    report["grey_zone"] = {
        name: grey_zone_sweep(
            rows,
            match_threshold=config.match_threshold,
            grey_thresholds=grey_thresholds,
            pin_guess_probability=pin_guess_probability,
        )
        for name, rows in runs.items()
    }
    return report


def backend_grey_zone(attempts: Sequence[Attempt], *, config: ServerConfig) -> dict[str, Any]:
    """What the backend itself did in its grey zone (``config.grey_threshold``): PIN
    prompts, approvals after the right PIN, and the shopper's final refusals; and how many
    attempts the score sweep (:func:`grey_zone_sweep`) would have put elsewhere (0 when
    the sweep reads the backend's rule right)."""
    genuine = [a for a in attempts if a.genuine]
    impostor = [a for a in attempts if not a.genuine]

    def asked(a: Attempt) -> bool:
        return a.step_up == "pin"

    def swept(a: Attempt) -> bool:
        s = a.score
        return a.status != "approved" and s is not None and s >= config.grey_threshold

    return {
        "grey_threshold": config.grey_threshold,
        "genuine_asked_pin": sum(asked(a) for a in genuine),
        "genuine_approved_after_pin": sum(
            asked(a) and a.final_status == "approved" for a in genuine
        ),
        "genuine_refused": _rate(sum(a.final_status != "approved" for a in genuine), len(genuine)),
        "impostor_asked_pin": sum(asked(a) for a in impostor),
        "impostor_asked_pin_rate": _rate(sum(asked(a) for a in impostor), len(impostor)),
        "sweep_disagreements": sum(asked(a) != swept(a) for a in attempts),
    }


def pairwise_grey_zone(
    samples: Sequence[EnrolledSample],
    *,
    match_threshold: float,
    grey_thresholds: Sequence[float],
    pin_guess_probability: float,
) -> dict[str, Any]:
    """The grey zone on every unordered pair of samples (``facepay eval verify``'s pairs):
    no history, no update, every impostor pair counted once. On the calibration frames this
    is the rate that bounds a look-alike's chance to reach the PIN prompt."""
    from facepay.eval._verify import pair_scores

    scores = pair_scores(samples, lambda a, b: 0.0, metric="cosine")
    g = 1.0 - scores.genuine  # cosine similarities, as the backend scores
    i = 1.0 - scores.impostor
    rows = []
    for grey in sorted(grey_thresholds, reverse=True):
        if grey > match_threshold:
            continue
        face_fmr = float(np.mean(i >= match_threshold)) if i.size else 0.0
        in_grey = float(np.mean((i >= grey) & (i < match_threshold))) if i.size else 0.0
        rows.append(
            {
                "grey_threshold": round(grey, 4),
                "grey_distance": round(1.0 - grey, 4),
                "approved_on_face": _rate(int(np.sum(g >= match_threshold)), int(g.size)),
                "step_up": _rate(int(np.sum((g >= grey) & (g < match_threshold))), int(g.size)),
                "refused": _rate(int(np.sum(g < grey)), int(g.size)),
                "face_fmr": round(face_fmr, 6),
                "impostor_in_grey_zone": round(in_grey, 6),
                "combined_false_accept": round(face_fmr + in_grey * pin_guess_probability, 9),
            }
        )
    return {"genuine_pairs": int(g.size), "impostor_pairs": int(i.size), "grey_zone": rows}


def conditions(views: Sequence[int]) -> dict[str, tuple[ServerConfig, int]]:
    """What to compare: the backend as configured (``FACEPAY_SERVER_*``, else the shipped
    defaults) with adaptive update off (``adaptive_slots=0``) and as configured, enrolled
    from each number of ``views``. The first is the base the others are paired with."""
    config = ServerConfig.from_env()
    frozen = dataclasses.replace(config, adaptive_slots=0)
    out: dict[str, tuple[ServerConfig, int]] = {}
    for v in views:
        out[f"views={v}, no update"] = (frozen, v)
        if config.adaptive_slots > 0:
            out[f"views={v}, update"] = (config, v)
    return out


def _same_visits(a: Sequence[Attempt], b: Sequence[Attempt]) -> bool:
    return [(x.order, x.target, x.source) for x in a] == [(x.order, x.target, x.source) for x in b]


def run_conditions(
    samples: Sequence[EnrolledSample],
    conditions: dict[str, tuple[ServerConfig, int]],
    *,
    orders: int,
    seed: int,
    impostors_per_target: int,
    lookalikes: int,
    progress: Callable[[Iterable[Any], int], Iterable[Any]] | None = None,
) -> dict[str, list[Attempt]]:
    """Every condition (a backend configuration and a number of enrolment views) over the
    same ``orders`` seeded histories (order k uses seed ``seed + k``)."""
    runs: dict[str, list[Attempt]] = {}
    reserve = max(views for _, views in conditions.values())
    for name, (config, views) in conditions.items():
        rows: list[Attempt] = []
        ks: Iterable[int] = range(orders)
        if progress is not None:
            ks = progress(ks, orders)
        for k in ks:
            history = plan_history(
                samples,
                seed=seed + k,
                enroll_views=views,
                impostors_per_target=impostors_per_target,
                lookalikes=lookalikes,
                reserve=reserve,
            )
            rows.extend(run_history(samples, history, config, order=k))
        runs[name] = rows
    return runs

"""``facepay eval sessions``: recorded sessions through the till's own code.

Each session of a manifest (a clip, the plan that was shown, the truth) is enrolled with
:meth:`facepay.Till.enroll` against an in-process sandbox backend, exactly as a lane
would: the quality gate must find a usable face before liveness starts, the liveness
session runs on every frame after that, the best frames are fused, sealed and sent. The
only doubles are at the camera (:class:`ClipCamera` plays the clip and is the till's
clock, so the per-state timeouts run on the clip's timeline, not on the speed of the
machine replaying it) and the liveness plan (the one the manifest says was shown, built
as :func:`facepay.fixed_liveness_plan` builds it, because a recording cannot answer a
random plan). A session counts as accepted when the till enrolled the shopper.

``start_offsets`` replays every session again starting that many frames later: a
decision that changes with where the clip starts is a finding (issue 14).
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facepay.eval._liveness import PadResult, RecordedSession, iso_metrics
from facepay.liveness import ChallengePlan, LivenessSession
from facepay.testing.clips import ClipCamera
from facepay.types import LivenessDecision, LivenessVerdict

__all__ = ["ClipCamera", "evaluate_sessions"]


class _PlanShown:
    """The till's liveness factory for a recorded session: what
    :func:`facepay.fixed_liveness_plan` builds (the clip answered this plan, not the
    backend seed's), keeping the session to read its verdict's evidence afterwards."""

    def __init__(self, plan: ChallengePlan) -> None:
        self._plan = plan
        self._session: LivenessSession | None = None

    def __call__(self, seed: bytes, camera_name: str | None) -> LivenessSession:
        del seed
        self._session = LivenessSession(self._plan, device_name=camera_name)
        return self._session

    def verdict(self) -> LivenessVerdict | None:
        return self._session.verdict() if self._session is not None else None


@dataclass
class _Watch:
    """What the till's events said about one session (no frame, no template)."""

    camera: ClipCamera
    liveness_started_s: float | None = None
    gate_refusals: Counter[str] | None = None

    def __call__(self, event: object) -> None:
        from facepay.checkout import LivenessProgressed, QualityPrompt

        if isinstance(event, LivenessProgressed) and self.liveness_started_s is None:
            self.liveness_started_s = self.camera.now()
        elif isinstance(event, QualityPrompt) and self.liveness_started_s is None:
            if self.gate_refusals is None:
                self.gate_refusals = Counter()
            self.gate_refusals.update(str(getattr(r, "value", r)) for r in event.reasons)


def _result(
    session: RecordedSession,
    offset: int,
    enrolled: bool,
    flow_reason: str,
    verdict: LivenessVerdict | None,
    watch: _Watch,
) -> PadResult:
    if (
        verdict is not None
        and watch.liveness_started_s is None
        and verdict.decision is not LivenessDecision.NOT_LIVE
    ):
        # The liveness session watches from the first frame (injection checks), but the
        # plan never started when the gate passed no frame: the flow's reason says why.
        verdict = None
    evidence: dict[str, Any] = dict(verdict.evidence) if verdict is not None else {}
    if watch.liveness_started_s is not None:
        evidence["liveness_started_s"] = round(watch.liveness_started_s - session.start_s, 3)
    for reason, count in sorted((watch.gate_refusals or Counter()).items()):
        evidence[f"gate_{reason}"] = count
    if enrolled:
        reasons: tuple[str, ...] = ()
    elif verdict is not None and verdict.reasons:
        reasons = verdict.reasons
    else:
        reasons = (flow_reason or "not_enrolled",)
    return PadResult(
        label=session.label,
        path=f"{session.clip.name}@{session.start_s:g}s+{offset}f:{','.join(session.challenges)}",
        accepted=enrolled,
        acquired=watch.liveness_started_s is not None,
        reasons=reasons,
        evidence=evidence,
        group=session.group,
    )


def _text(value: object) -> str:
    # A failure reason may be a plain string or a str-valued enum.
    return str(getattr(value, "value", value) or "")


def _group_bpcer(results: Sequence[PadResult]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in results:
        if r.label != "live":
            continue
        for key, value in r.group.items():
            slot = out.setdefault(f"{key}={value}", {"n": 0, "refused": 0})
            slot["n"] += 1
            slot["refused"] += int(not r.accepted)
    for slot in out.values():
        slot["bpcer"] = slot["refused"] / slot["n"] if slot["n"] else None
    return out


def evaluate_sessions(
    sessions: Sequence[RecordedSession],
    *,
    start_offsets: Sequence[int] = (0,),
    progress: Callable[[Iterable[RecordedSession]], Iterable[RecordedSession]] = lambda x: x,
) -> tuple[dict[str, Any], list[PadResult]]:
    """Enroll every session through :class:`facepay.Till` (see the module docstring).

    Returns the ISO metrics of the first offset (``counts``, ``bpcer``, ``apcer`` ...,
    ``bpcer_by_group``), ``start_offsets`` with each offset's counts and BPCER,
    ``decisions_changed`` (sessions whose decision at some offset differs from the first
    offset's) and every result, offsets in order within each session.
    """
    from facepay import Claim, ClaimKind, Till, consent_now
    from facepay.errors import BackendError, CheckoutFailedError
    from facepay.liveness import ChallengePlan
    from facepay.server import Sandbox
    from facepay.vision import DlibResNetEmbedder, FrameAnalyzer

    offsets = list(dict.fromkeys(start_offsets)) or [0]
    results: list[PadResult] = []
    with (
        tempfile.TemporaryDirectory(prefix="facepay-eval-sessions-") as tmp,
        Sandbox(Path(tmp) / "sessions.db", key_dir=Path(tmp) / "keys") as sandbox,
        FrameAnalyzer() as analyzer,
    ):
        device = sandbox.provision_device()
        embedder = DlibResNetEmbedder()
        number = 0
        for session in progress(sessions):
            plan = ChallengePlan.of(session.challenges)
            for offset in offsets:
                number += 1
                camera = ClipCamera(session.clip, start_s=session.start_s, skip_frames=offset)
                liveness = _PlanShown(plan)
                watch = _Watch(camera)
                enrolled, flow_reason = False, ""
                with Till.connect(
                    sandbox.base_url,
                    device_key=device.key,
                    device_id=device.device_id,
                    analyzer=analyzer,
                    embedder=embedder,
                    liveness=liveness,
                    clock=camera.now,
                ) as till:
                    try:
                        till.enroll(
                            camera,
                            consent=consent_now("2026-01-en"),
                            claim=Claim(kind=ClaimKind.PHONE, value=f"+49151{number:08d}"),
                            payment_method_token="tok_visa_4242",  # noqa: S106 - sandbox card
                            on_event=watch,
                        )
                        enrolled = True
                    except CheckoutFailedError as exc:
                        flow_reason = _text(exc.reason) or _text(exc.state) or "failed"
                    except BackendError as exc:
                        flow_reason = f"enrollment_failed:{exc.code or type(exc).__name__}"
                verdict = liveness.verdict()
                results.append(_result(session, offset, enrolled, flow_reason, verdict, watch))
    return _metrics(results, offsets), results


def _metrics(results: Sequence[PadResult], offsets: Sequence[int]) -> dict[str, Any]:
    per = len(offsets)
    by_offset = {o: [r for i, r in enumerate(results) if offsets[i % per] == o] for o in offsets}
    base = by_offset[offsets[0]]
    metrics = iso_metrics(base)
    metrics["bpcer_by_group"] = _group_bpcer(base)
    metrics["path"] = "Till.enroll"
    if per > 1:
        metrics["start_offsets"] = {
            str(o): {
                "counts": iso_metrics(rs)["counts"],
                "refused_live": sum(1 for r in rs if r.label == "live" and not r.accepted),
                "bpcer": iso_metrics(rs)["bpcer"],
            }
            for o, rs in by_offset.items()
        }
        changed = []
        for k in range(0, len(results), per):
            group = results[k : k + per]
            flips = [
                f"+{offsets[j]}f:{'accepted' if r.accepted else 'refused'}"
                for j, r in enumerate(group)
                if r.accepted != group[0].accepted
            ]
            if flips:
                changed.append(
                    f"{group[0].path} ({'accepted' if group[0].accepted else 'refused'}"
                    f" at +{offsets[0]}f) -> " + ", ".join(flips)
                )
        metrics["decisions_changed"] = len(changed)
        metrics["sessions_changed"] = changed
    return metrics

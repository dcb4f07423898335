"""Enrolling a consenting shopper: consent record, payment token, claim, face."""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from facepay import wire
from facepay.checkout._basket import EnrollmentResult
from facepay.checkout._events import (
    CheckoutEvent,
    CheckoutFinished,
    CheckoutState,
    FailureReason,
    NotEnrolledError,
)
from facepay.checkout._machine import (
    _WAITING,
    FlowParts,
    FrameStream,
    PinSealer,
    S,
    _admits,
    _FaceFlow,
    _Heap,
    _refusal,
    _t,
    forget_keys_if_seal_refused,
)
from facepay.errors import (
    BackendError,
    CheckoutError,
)
from facepay.types import FaceObservation, Frame, QualityReason, QualityReport, SealedTemplate

if TYPE_CHECKING:
    # facepay.vision pulls in OpenCV and mediapipe: imported when liveness has passed.
    from facepay.vision import GradedFrame

__all__ = [
    "EnrollmentSession",
    "consent_now",
]


class EnrollmentSession(_FaceFlow):
    """Enroll a consenting shopper: consent record, payment token, claim, face.

    Declining consent means never creating this session: nothing is sent or kept.
    """

    TRANSITIONS = (
        _t("begin", S.IDLE, S.CAPTURING),
        _t("face_found", S.CAPTURING, S.LIVENESS, guard="face_is_usable"),
        _t("liveness_passed", S.LIVENESS, S.PROCESSING, guard="verdict_is_live"),
        _t("liveness_failed", S.LIVENESS, S.FAILED),
        _t("enrolled", S.PROCESSING, S.ENROLLED),
        _t("fail", _WAITING, S.FAILED),
        _t("cancel", _WAITING | {S.IDLE}, S.CANCELLED),
        _t("time_out", _WAITING, S.TIMED_OUT),
    )

    def __init__(
        self,
        parts: FlowParts,
        *,
        consent: wire.ConsentRecord,
        claim: wire.Claim,
        payment_method_token: str,
        camera_name: str | None = None,
        on_event: Callable[[CheckoutEvent], None] | None = None,
        pin: str | None = None,
        pin_sealer: PinSealer | None = None,
    ) -> None:
        super().__init__(parts, camera_name=camera_name, on_event=on_event)
        if pin is not None and pin_sealer is None:
            raise CheckoutError("a PIN needs the till's sealer (Till.start_enrollment)")
        # The shopper's PIN (already checked by the till), until it is sealed in complete().
        self._pin = pin
        self._pin_sealer = pin_sealer
        if wire.looks_like_card_number(payment_method_token):
            raise CheckoutError("card numbers are never accepted: tokenize the card first")
        self._consent = consent
        self._claim = claim
        self._token = payment_method_token
        self.result: EnrollmentResult | None = None
        # Quality-passing frames of each turned side (+1: the shopper's left, -1: right),
        # best first and bounded like the flow's candidates: the extra enrollment views.
        self._turned: dict[int, _Heap] = {1: [], -1: []}
        self._more_sealed: tuple[SealedTemplate, ...] = ()
        # Every frame of the live session, graded (numbers and reason codes, no face): the
        # enrollment rule judges them together before a template is made.
        self._graded: list[GradedFrame] = []

    @property
    def holds_biometric_data(self) -> bool:
        return super().holds_biometric_data or any(self._turned.values())

    def _turned_view(self, face: FaceObservation) -> _Heap | None:
        """The turned-view heap of the side this face is turned to, or None (a frontal
        face, or one enrollment view only)."""
        yaw = face.pose.yaw
        if (
            self._config.enrollment_views < 2
            or not math.isfinite(yaw)
            or abs(yaw) < self._config.enrollment_view_yaw_deg
        ):
            return None
        return self._turned[1 if yaw > 0 else -1]

    def _keep_candidate(self, frame: Frame, report: QualityReport) -> None:
        from facepay.vision import GradedFrame

        graded = GradedFrame.of(report)
        face = report.face
        if not graded.passed or face is None:
            self._graded.append(graded)
            return
        turned = self._turned_view(face)
        # A hand over the mouth leaves the detector confident and the eyes open: the hand
        # is looked for on each frame that would become a candidate or a turned view,
        # whatever hand_check_payments says. A covered frame is not clear (occluded).
        would_keep = _admits(self._candidates, self._config.candidate_frames, report.score) or (
            turned is not None and _admits(turned, self._config.fused_frames, report.score)
        )
        if would_keep and self._hand_covers(frame, face):
            self._graded.append(
                GradedFrame(
                    frame_index=graded.frame_index,
                    reasons=(QualityReason.OCCLUDED,),
                    eye_aspect_ratio=graded.eye_aspect_ratio,
                )
            )
            return
        self._graded.append(graded)
        self._push_candidate(frame, report)
        if turned is not None:
            self._push(turned, self._config.fused_frames, frame, report)

    def _template_refusal(self) -> FailureReason | None:
        """Too few clear frames (``facepay.vision.enrollment_frames``): FACE_NOT_CLEAR.
        Otherwise only the clear frames stay candidates for the templates."""
        from facepay.vision import enrollment_frames

        judged = enrollment_frames(
            self._graded,
            min_frames=self._config.enrollment_min_frames,
            min_eye_open_ratio=self._config.enrollment_min_eye_open_ratio,
        )
        self._graded.clear()
        clear = set(judged.clear)
        self._candidates = [c for c in self._candidates if c[2].index in clear]
        heapq.heapify(self._candidates)
        for side, items in self._turned.items():
            kept = [c for c in items if c[2].index in clear]
            heapq.heapify(kept)
            self._turned[side] = kept
        if judged.enough and self._candidates:
            return None
        self._quality_reasons = judged.reasons or (QualityReason.EYES_CLOSED,)
        return FailureReason.FACE_NOT_CLEAR

    def _seal_templates(self, session: wire.CheckoutSessionInfo) -> None:
        """The primary template as a payment makes it, then one view per turned side
        (most frames first), up to ``enrollment_views`` in all."""
        super()._seal_templates(session)
        sides = sorted((s for s in self._turned.values() if s), key=len, reverse=True)
        more = []
        for side in sides[: self._config.enrollment_views - 1]:
            view = self._fused_template(side)
            more.append(self._parts.sealer.seal(view, session))
            del view  # the clear template never outlives this call
        self._more_sealed = tuple(more)

    def _drop_biometrics(self) -> None:
        super()._drop_biometrics()
        for side in self._turned.values():
            side.clear()
        self._graded.clear()
        if self._state.is_final:
            self._pin = None  # cancelled, timed out or failed: the PIN goes with the face

    def begin(self) -> CheckoutState:
        with self._lock:
            self._require(S.IDLE)
            self._open_backend_session(wire.SessionPurpose.ENROLL)
            return self._fire("begin")

    def complete(self) -> EnrollmentResult:
        """Send the sealed, fused template (and the turned views) with the consent record
        (state ``processing``)."""
        with self._lock:
            if self.check_timeout():
                raise self._nothing_taken(NotEnrolledError, "the enrollment timed out")
            self._require(S.PROCESSING)
            session, sealed = self._session, self._sealed
            if session is None or sealed is None:
                raise CheckoutError("no sealed template: liveness has not passed")
            sealed_pin = None
            if self._pin is not None and self._pin_sealer is not None:
                sealed_pin = self._pin_sealer.seal_enrollment_pin(self._pin, session)
            self._pin = None
            request = wire.EnrollmentRequest(
                session_id=session.session_id,
                sealed_template=wire.SealedTemplateWire.from_sealed(sealed),
                consent=self._consent,
                payment_method_token=self._token,
                claim=self._claim,
                more_views=tuple(wire.SealedTemplateWire.from_sealed(v) for v in self._more_sealed),
                sealed_pin=sealed_pin,
            )
            self._sealed = None
            self._more_sealed = ()
            try:
                answer = self._parts.client.enroll(request)
            except BackendError as exc:
                forget_keys_if_seal_refused(self._parts.sealer, exc)
                self._fail(_refusal(exc), exc.code or type(exc).__name__)
                raise
            self.result = EnrollmentResult(
                shopper_id=answer.shopper_id,
                privacy_code=answer.privacy_code,
                masked_payment_method=answer.masked_payment_method,
                enrolled_at=answer.enrolled_at,
                retention_days=answer.retention_days,
            )
            self._fire("enrolled")
            self._emit(CheckoutFinished(state=self._state, enrollment=self.result))
            return self.result

    def enroll(self, source: FrameStream | Iterable[Frame]) -> EnrollmentResult:
        """Headless: :meth:`begin`, :meth:`run` the source, :meth:`complete`."""
        if self._state is S.IDLE:
            self.begin()
        self.run(source)
        if self._state is not S.PROCESSING:
            raise self._nothing_taken(NotEnrolledError, "not enrolled")
        return self.complete()


def consent_now(
    text_version: str, *, retention_days: int = 1095, locale: str = "en"
) -> wire.ConsentRecord:
    """The consent record for a shopper who just accepted ``text_version`` on screen."""
    return wire.ConsentRecord(
        text_version=text_version,
        accepted_at=datetime.now(timezone.utc),
        retention_days=retention_days,
        locale=locale,
    )

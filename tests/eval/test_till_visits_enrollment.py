"""Issue 16, at the till: an enrollment is the template every later payment is compared
with, so the till refuses one made of shut or half-shut eyes behind a hand, with a typed
reason the kiosk can show, and stores nothing; the eval then enrolls from the next segment.
The segments are real (WolfgangLanger_Pexels.mp4), the till and the backend are the
product's own (Till.enroll against a sandbox over HTTP); the clip is the camera and clock."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from facepay import Claim, ClaimKind, EnrollmentResult, Till, consent_now
from facepay.checkout import CheckoutState, FailureReason, NotEnrolledError
from facepay.config import ServerConfig
from facepay.eval._till_visits import Segment, _SegmentCamera
from facepay.server import Sandbox
from facepay.testing.clips import fixed_liveness_plan
from facepay.types import QualityReason
from facepay.vision import DlibResNetEmbedder, FrameAnalyzer

CLIP = "WolfgangLanger_Pexels.mp4"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with (
        tempfile.TemporaryDirectory(prefix="facepay-test-enroll-") as tmp,
        Sandbox(Path(tmp) / "t.db", key_dir=Path(tmp) / "keys", config=ServerConfig()) as sb,
    ):
        yield sb


def _shoppers(sandbox: Sandbox) -> int:
    with sandbox.backend.db.transaction(readonly=True) as tx:
        row = tx.one("SELECT COUNT(*) FROM shoppers", ())
    return 0 if row is None else int(row[0])


def _enroll(sandbox: Sandbox, segment: Segment, phone: str) -> EnrollmentResult:
    device = sandbox.provision_device()
    camera = _SegmentCamera(segment)
    with (
        FrameAnalyzer() as analyzer,
        Till.connect(
            sandbox.base_url,
            device_key=device.key,
            device_id=device.device_id,
            analyzer=analyzer,
            embedder=DlibResNetEmbedder(),
            liveness=fixed_liveness_plan("blink"),
            clock=camera.now,
        ) as till,
    ):
        return till.enroll(
            camera,
            consent=consent_now("2026-01-en"),
            claim=Claim(kind=ClaimKind.PHONE, value=phone),
            payment_method_token="tok_visa_4242",
        )


@pytest.mark.eval
@pytest.mark.slow
def test_eyes_shut_behind_a_hand_is_refused_typed_and_nothing_is_stored(
    eval_dir: Path, sandbox: Sandbox
) -> None:
    clip = eval_dir / "video" / CLIP
    before = _shoppers(sandbox)
    with pytest.raises(NotEnrolledError) as exc:
        _enroll(sandbox, Segment(clip, 1, 3.0, 6.0), "+4915100000001")
    assert exc.value.reason is FailureReason.FACE_NOT_CLEAR
    assert exc.value.state is CheckoutState.FAILED
    # The reason the kiosk shows ("open your eyes, ..."): the frames' own, most frequent first.
    assert exc.value.quality_reasons[0] is QualityReason.EYES_CLOSED
    assert _shoppers(sandbox) == before
    # Asked again, the same shopper enrolls from a later part of the clip (eyes open).
    enrolled = _enroll(sandbox, Segment(clip, 3, 9.0, 12.0), "+4915100000001")
    assert enrolled.shopper_id
    assert _shoppers(sandbox) == before + 1

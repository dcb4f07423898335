"""LivenessConfig: documented defaults, environment overrides, refusal of nonsense."""

from __future__ import annotations

import pytest

from facepay.config import LivenessConfig
from facepay.errors import ConfigurationError
from facepay.liveness import InjectionMonitor, is_virtual_camera
from facepay.types import Frame


def test_environment_overrides_reach_the_liveness_options() -> None:
    cfg = LivenessConfig.from_env(
        {"FACEPAY_LIVENESS_CHALLENGE_WINDOW_S": "6", "FACEPAY_LIVENESS_PARALLAX_REQUIRED": "no"}
    )
    assert cfg.challenge_window_s == 6.0
    assert cfg.parallax_required is False
    assert LivenessConfig().challenge_window_s == 4.0


@pytest.mark.parametrize(
    "kw",
    [
        {"blink_closed_ratio": 0.9, "blink_reopen_ratio": 0.8},
        {"challenge_window_s": 0.1},
        {"min_fps": 30.0, "max_fps": 10.0},
        {"max_onset_s": -1.0},
        {"max_onset_s": 0.1},
    ],
)
def test_inconsistent_options_are_refused(kw: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        LivenessConfig(**kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "virtual"),
    [
        ("OBS Virtual Camera", True),
        ("v4l2loopback: Dummy video device (0x0000)", True),
        ("Iriun Webcam", True),
        ("Integrated Camera: Integrated C", False),
        ("", False),
        (None, False),
    ],
)
def test_virtual_camera_names(name: str | None, virtual: bool) -> None:
    assert is_virtual_camera(name) is virtual


def test_a_retailer_can_extend_the_virtual_camera_list() -> None:
    cfg = LivenessConfig(virtual_camera_names=("acme fakecam",))
    assert is_virtual_camera("ACME FakeCam 2", cfg)
    assert not is_virtual_camera("OBS Virtual Camera", cfg)


def test_the_injection_monitor_reads_the_frame_rate_from_timestamps() -> None:
    import numpy as np

    monitor = InjectionMonitor()
    rng = np.random.default_rng(0)
    for i in range(40):
        image = rng.integers(0, 255, size=(48, 64, 3), dtype=np.uint8)
        monitor.feed(Frame(image=image, timestamp=i / 25.0, index=i))
    assert monitor.fps == pytest.approx(25.0, rel=1e-6)
    flags = monitor.flags
    assert not flags.frozen
    assert not flags.stalled
    assert not flags.timestamp_anomaly
    assert not flags.frame_rate_anomaly
    assert monitor.evidence["duplicate_frames"] == 0

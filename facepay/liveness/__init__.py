"""facepay.liveness: is a live person in front of the till? (presentation attack detection)

Active challenges (blink, head turns, look up, open mouth, smile) in a random order from the
backend's session nonce, a 3D parallax check on the face's texture during the prompted turn,
passive screen/print cues, injection signals and an optional passive ONNX model, combined
into one fail-closed :class:`~facepay.types.LivenessVerdict`. Takes plain ``Frame`` and
``FaceObservation`` data; never imports the capture or vision stages.
"""

from facepay.liveness._challenges import ChallengePlan, LivenessChallenge, parse_challenges
from facepay.liveness._cues import PassiveCues, measure_cues
from facepay.liveness._injection import InjectionMonitor, is_virtual_camera
from facepay.liveness._measures import FaceMeasures, measure_face
from facepay.liveness._pad import PadModel, PadModelCard
from facepay.liveness._parallax import ParallaxReading, ParallaxTracker
from facepay.liveness._session import LivenessProgress, LivenessReason, LivenessSession

__all__ = [
    "ChallengePlan",
    "FaceMeasures",
    "InjectionMonitor",
    "LivenessChallenge",
    "LivenessProgress",
    "LivenessReason",
    "LivenessSession",
    "PadModel",
    "PadModelCard",
    "ParallaxReading",
    "ParallaxTracker",
    "PassiveCues",
    "is_virtual_camera",
    "measure_cues",
    "measure_face",
    "parse_challenges",
]

"""3D parallax during a prompted head turn, measured on the face's own texture.

A real head is not flat: when it turns, the nose runs ahead of the cheeks and forehead in the
direction of the turn, in a way no single plane can explain. A held-up photo or a tablet is
a plane: a homography maps its texture from one frame to the next almost exactly. So during
a turn we track texture points (KLT optical flow) on the face, fit a homography to the
*outer* face tracks (cheeks, forehead, temples: above the mouth, since the jaw moves when
people talk), and measure where the *nose* tracks land against that homography's prediction.

Tracks are re-seeded in short segments (a fast turn loses long KLT tracks; short segments
keep tracking error far below the signal). A segment ends when the head has turned a few
degrees since it began (mesh yaw), or after a frame cap when the head hardly moves. The
parallax a segment can show grows with the rotation inside it, so segments of equal
rotation make a slow turn read like a fast one: with segments of a fixed 4 frames, a slow
turn (WolfgangLanger's, about 0.3 degrees a frame) put only 0-2 degrees into each and read
0.76 %, no more than a photo. Each segment gives the nose tracks' median distance from
where the outer-face homography puts them; the reading is the median over the segments of
the turn, as a share of the inter-ocular distance. Measured numbers and the threshold:
docs/liveness.md. A signed variant (the nose runs ahead in the direction of the turn) is
kept as evidence; it was too noisy on real clips to decide with.

The mesh landmarks themselves are useless for this: the mesh model predicts a plausible 3D
face for a flat photo too, so landmark residuals look the same for photos and faces. Only
the pixels tell the truth.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from facepay.liveness._measures import (
    FACE_OVAL,
    LEFT_EYE_CORNERS,
    MOUTH_CORNERS,
    NOSE_REGION,
    RIGHT_EYE_CORNERS,
)

__all__ = ["ParallaxReading", "ParallaxTracker"]

logger = logging.getLogger(__name__)

_F32 = npt.NDArray[np.float32]
_U8 = npt.NDArray[np.uint8]
# Eye and mouth outlines: they move by themselves (blinks, speech), so no tracks there.
_EYES_MOUTH = (
    (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246),
    (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466),
    (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185),
)
# Work at a scale where the eyes are about this far apart: enough texture for KLT, cheap.
_WORK_IOD_PX = 110.0
# A segment whose yaw changed less than this has no reliable direction (mesh yaw jitters by
# 1-2 degrees frame to frame): it is not counted. Measured on d12's fast turn, where such
# segments carried +-5 % of pure noise.
_MIN_SEGMENT_TURN_DEG = 3.0
_LK = {
    "winSize": (15, 15),
    "maxLevel": 3,
    "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01),
}


@dataclass(frozen=True, slots=True)
class ParallaxReading:
    """The parallax measured over one prompted turn.

    ``deviation``: median over the tracked segments of the nose tracks' distance from the
    outer-face homography's prediction, as a share of the inter-ocular distance.
    ``signed``: the sum of the segments' nose deviations along the turn direction (evidence
    only). ``turn_deg``: the largest yaw away from the turn's starting yaw. ``segments``:
    how many tracked segments contributed.
    """

    deviation: float
    turn_deg: float
    segments: int
    signed: float = 0.0


def _poly_mask(shape: tuple[int, int], pts: _F32, idx: tuple[int, ...], dilate: int = 0) -> _U8:
    mask = np.zeros(shape, np.uint8)
    hull = cv2.convexHull(pts[list(idx), :2].astype(np.int32))
    cv2.fillConvexPoly(mask, hull, (255,))
    if dilate > 0:
        mask = np.asarray(cv2.dilate(mask, np.ones((dilate, dilate), np.uint8)), np.uint8)
    return mask


class ParallaxTracker:
    """Feed every frame of a prompted turn; read the parallax at the end.

    A tracked segment ends once the yaw has moved ``segment_turn_deg`` since it began, or
    after ``max_segment_frames`` frames (a head that hardly moves; also bounds KLT drift).
    """

    def __init__(
        self,
        *,
        segment_turn_deg: float = 3.0,
        max_segment_frames: int = 12,
        min_outer_tracks: int = 10,
        min_nose_tracks: int = 3,
    ) -> None:
        if segment_turn_deg <= 0 or max_segment_frames < 1:
            raise ValueError("segment_turn_deg must be > 0 and max_segment_frames >= 1")
        self._segment_turn = segment_turn_deg
        self._max_frames = max_segment_frames
        self._min_outer = min_outer_tracks
        self._min_nose = min_nose_tracks
        self._scale = 0.0  # fixed at the first frame so segments are comparable
        self._yaw_start: float | None = None
        self._peak_turn = 0.0
        self._unsigned: list[float] = []
        self._signed = 0.0
        self._seg: _Segment | None = None

    def feed(self, image: _U8, landmarks: _F32, yaw: float) -> None:
        """One frame (RGB) with its face mesh (pixels) and yaw (degrees)."""
        pts = np.asarray(landmarks, np.float32)
        iod = float(np.hypot(*(pts[RIGHT_EYE_CORNERS[0], :2] - pts[LEFT_EYE_CORNERS[0], :2])))
        if iod < 20:
            self._seg = None
            return
        if self._yaw_start is None:
            self._yaw_start = yaw
            self._scale = min(1.0, _WORK_IOD_PX / iod)
        self._peak_turn = max(self._peak_turn, abs(yaw - self._yaw_start))
        full = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        if self._scale < 1.0:
            full = cv2.resize(
                full, None, fx=self._scale, fy=self._scale, interpolation=cv2.INTER_AREA
            )
        gray: _U8 = np.asarray(full, np.uint8)
        if self._seg is not None:
            self._seg.track(gray)
            if self._seg.lost(self._min_outer, self._min_nose):
                self._seg = None
            elif (
                abs(yaw - self._seg.yaw0) >= self._segment_turn
                or self._seg.frames >= self._max_frames
            ):
                dev = self._seg.deviation(yaw)
                if dev is not None:
                    self._unsigned.append(dev[0])
                    self._signed += dev[1]
                self._seg = None
        if self._seg is None:
            self._seg = _Segment.seed(gray, pts[:, :2] * self._scale, iod * self._scale, yaw)

    def reading(self) -> ParallaxReading | None:
        if not self._unsigned:
            return None
        return ParallaxReading(
            deviation=float(np.median(self._unsigned)),
            turn_deg=self._peak_turn,
            segments=len(self._unsigned),
            signed=self._signed,
        )


class _Segment:
    """Tracks seeded on one frame and followed for a few frames."""

    def __init__(self, gray: _U8, p: _F32, is_nose: npt.NDArray[np.bool_], iod: float, yaw: float):
        self.prev = gray
        self.p0 = p
        self.p = p.copy()
        self.is_nose = is_nose
        self.iod = iod
        self.yaw0 = yaw
        self.frames = 0

    @classmethod
    def seed(cls, gray: _U8, spts: _F32, iod: float, yaw: float) -> _Segment | None:
        shape = (gray.shape[0], gray.shape[1])
        face = _poly_mask(shape, spts, FACE_OVAL)
        k = max(3, int(0.08 * iod))
        for region in _EYES_MOUTH:
            face[_poly_mask(shape, spts, region, dilate=k) > 0] = 0
        nose = _poly_mask(shape, spts, NOSE_REGION)
        corners = cv2.goodFeaturesToTrack(gray, 200, 0.003, 3, mask=face, blockSize=5)
        if corners is None:
            return None
        p = corners.reshape(-1, 2).astype(np.float32)
        ix = np.clip(p[:, 0].astype(int), 0, shape[1] - 1)
        iy = np.clip(p[:, 1].astype(int), 0, shape[0] - 1)
        is_nose = nose[iy, ix] > 0
        far = np.hypot(*(p - spts[NOSE_REGION[0]]).T) > 0.55 * iod
        mouth_y = float(spts[list(MOUTH_CORNERS), 1].mean())
        keep = is_nose | (far & (p[:, 1] < mouth_y))
        return cls(gray, p[keep], is_nose[keep], iod, yaw)

    def track(self, gray: _U8) -> None:
        p1, st1, _ = cv2.calcOpticalFlowPyrLK(self.prev, gray, self.p, None, **_LK)  # type: ignore[call-overload]
        back, st2, _ = cv2.calcOpticalFlowPyrLK(gray, self.prev, p1, None, **_LK)  # type: ignore[call-overload]
        fb = np.hypot(*(back - self.p).reshape(-1, 2).T)
        ok = (st1.ravel() == 1) & (st2.ravel() == 1) & (fb < 0.5)
        self.prev = gray
        self.p0, self.p, self.is_nose = self.p0[ok], p1.reshape(-1, 2)[ok], self.is_nose[ok]
        self.frames += 1

    def lost(self, min_outer: int, min_nose: int) -> bool:
        nose = int(self.is_nose.sum())
        return nose < min_nose or len(self.is_nose) - nose < min_outer

    def deviation(self, yaw: float) -> tuple[float, float] | None:
        """(unsigned, signed) nose deviation from the outer-face homography, per IOD."""
        outer = ~self.is_nose
        h, _ = cv2.findHomography(self.p0[outer], self.p[outer], cv2.RANSAC, 0.02 * self.iod)
        if h is None:
            return None
        pred = cv2.perspectiveTransform(self.p0[self.is_nose].reshape(-1, 1, 2), h).reshape(-1, 2)
        diff = self.p[self.is_nose] - pred
        unsigned = float(np.median(np.hypot(diff[:, 0], diff[:, 1]))) / self.iod
        # A nose in front of the cheek plane runs ahead in the direction of the turn: image
        # right when yaw grows (towards the shopper's own left), image left when it falls.
        # A segment with too little turn has no reliable direction and adds nothing.
        signed = 0.0
        if abs(yaw - self.yaw0) >= _MIN_SEGMENT_TURN_DEG:
            signed = float(np.median(diff[:, 0])) * float(np.sign(yaw - self.yaw0)) / self.iod
        return unsigned, signed

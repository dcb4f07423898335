"""Synthetic presentation and injection attacks, for tests and evaluation.

These stand in for an attacker at the till where no real attack footage exists:

* :func:`planar_photo_attack`: a face photo held up and moved as a rigid plane in 3D
  (perspective warps from a pinhole camera, hand shake, motion blur, sensor noise). An
  attacker who can see the prompts tilts the photo the way each prompt asks, so the poses
  are given per frame.
* :func:`screen_replay_attack`: a real clip re-filmed off a phone or tablet screen (bezel,
  display gamma and colour cast, moiré from the screen's pixel grid beating against the
  camera's, specular glare, perspective).
* :func:`frozen_frames`: a video injection that repeats a frame (a stalled virtual camera or
  a looped still).

They are honest about what they are: synthetic, and good at showing that a signal is blind to
an attack, weaker at showing that a signal catches real-world attacks. docs/liveness.md says
which numbers come from them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence

import cv2
import numpy as np
import numpy.typing as npt

from facepay.types import Frame

__all__ = [
    "PromptReadingAttacker",
    "frozen_frames",
    "planar_photo_attack",
    "screen_replay_attack",
    "turn_schedule",
]

_U8 = npt.NDArray[np.uint8]


def _background(rng: np.random.Generator, height: int, width: int) -> _U8:
    """A smooth, room-like background (low-frequency colour noise plus a light gradient)."""
    small = rng.uniform(40, 200, size=(6, 8, 3)).astype(np.float32)
    bg = np.asarray(cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC), np.float32)
    bg += np.linspace(-20, 20, width, dtype=np.float32)[None, :, None]
    return np.clip(bg, 0, 255).astype(np.uint8)


def _rotation(yaw: float, pitch: float, roll: float) -> npt.NDArray[np.float64]:
    # Camera frame: x right, y down, z away from the camera. A positive yaw turns the plane's
    # image-right side (the pictured shopper's own left) away from the camera, which is how a
    # face turning to its own left looks; positive pitch tips its top away (looking up).
    a, b, c = (math.radians(v) for v in (yaw, pitch, roll))
    ry = np.array([[math.cos(a), 0, -math.sin(a)], [0, 1, 0], [math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), math.sin(b)], [0, -math.sin(b), math.cos(b)]])
    rz = np.array([[math.cos(c), math.sin(c), 0], [-math.sin(c), math.cos(c), 0], [0, 0, 1]])
    rot: npt.NDArray[np.float64] = rz @ rx @ ry
    return rot


def turn_schedule(
    moves: Sequence[tuple[float, float, float]], *, fps: float, seconds_per_move: float = 1.5
) -> list[tuple[float, float, float]]:
    """Per-frame (yaw, pitch, roll): from frontal to each pose and back, smoothly."""
    n = max(2, round(fps * seconds_per_move))
    out: list[tuple[float, float, float]] = [(0.0, 0.0, 0.0)] * int(fps * 0.6)
    for target in moves:
        for i in range(n):
            w = math.sin(math.pi * i / (n - 1))  # 0 -> 1 -> 0
            out.append((target[0] * w, target[1] * w, target[2] * w))
        out.extend([(0.0, 0.0, 0.0)] * int(fps * 0.3))
    return out


class PromptReadingAttacker:
    """An attacker who holds a photo up and does what each prompt on the screen asks.

    turn_left/turn_right rotate the photo about its vertical axis by ``tilt_deg`` (far more
    than a head turns, to make the mesh see a turn), look_up tips it back; for blink, mouth
    and smile a photo can only wobble. The extreme pose is held 1.2 s, then the photo comes
    back to frontal, as a head would. Tell it the prompt shown after every frame
    (:meth:`saw`, ``None`` when no challenge is shown); :meth:`poses` drives
    :func:`planar_photo_attack` one frame at a time, so each pose follows the prompts seen
    so far. The attacker reads the screen, so it works against a till as well as against a
    bare liveness session.
    """

    def __init__(
        self,
        *,
        fps: float = 30.0,
        max_s: float = 25.0,
        tilt_deg: float = 55.0,
        speed_deg_s: float = 90.0,
        seed: int = 0,
    ) -> None:
        self._fps = fps
        self._frames = int(max_s * fps)
        self._step = speed_deg_s / fps
        self._seed = seed
        self._targets = {
            "turn_left": (tilt_deg, 0.0, 0.0),
            "turn_right": (-tilt_deg, 0.0, 0.0),
            "look_up": (0.0, tilt_deg, 0.0),
        }
        self._challenge: str | None = None
        self._hold = 0
        self._reached = False

    def saw(self, challenge: str | None) -> None:
        """The prompt on the screen after the last frame."""
        if challenge != self._challenge:
            self._challenge, self._hold, self._reached = challenge, 0, False
        if challenge in self._targets:
            self._hold += 1
            if self._hold > int(1.2 * self._fps):
                self._reached = True

    def poses(self) -> Iterator[tuple[float, float, float]]:
        pose = np.zeros(3)
        rng = np.random.default_rng(self._seed)
        for _ in range(self._frames):
            challenge = self._challenge
            target = np.array(self._targets.get(str(challenge), (0.0, 0.0, 0.0)))
            if challenge is not None and challenge not in self._targets:
                target = rng.normal(0.0, 8.0, size=3)  # wobble: the best a photo can do
            if self._reached:
                target = np.zeros(3)
            pose = pose + np.clip(target - pose, -self._step, self._step)
            yield (float(pose[0]), float(pose[1]), float(pose[2]))


def planar_photo_attack(
    photo: _U8,
    poses: Iterable[tuple[float, float, float]],
    *,
    size: tuple[int, int] = (640, 480),
    fps: float = 30.0,
    fill: float = 0.75,
    shake_px: float = 2.0,
    blur: float = 1.0,
    noise: float = 3.0,
    paper_margin: float = 0.0,
    seed: int = 0,
    source_id: str = "attack:planar-photo",
) -> Iterator[Frame]:
    """Move an RGB ``photo`` as a rigid plane through ``poses`` (degrees), one frame each.

    ``fill`` is the photo's height as a share of the frame's; ``paper_margin`` adds a white
    border (a print's paper) as a share of the photo's height.
    """
    rng = np.random.default_rng(seed)
    width, height = size
    img = photo
    if paper_margin > 0:
        m = int(paper_margin * photo.shape[0])
        img = np.asarray(
            cv2.copyMakeBorder(photo, m, m, m, m, cv2.BORDER_CONSTANT, value=(235, 235, 228)),
            np.uint8,
        )
    ph, pw = img.shape[:2]
    s = fill * height / ph
    f = float(width)  # ~53 degree horizontal field of view, a typical webcam
    zdist = f  # at this distance one photo pixel (times s) maps to one image pixel
    corners = np.array([[-pw / 2, -ph / 2], [pw / 2, -ph / 2], [pw / 2, ph / 2], [-pw / 2, ph / 2]])
    bg = _background(rng, height, width)
    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32)
    for index, (yaw, pitch, roll) in enumerate(poses):
        r = _rotation(yaw, pitch, roll)
        pts3 = np.c_[corners * s, np.zeros(4)] @ r.T + np.array([0.0, 0.0, zdist])
        shake = rng.normal(0.0, shake_px, size=2)
        dst = (f * pts3[:, :2] / pts3[:, 2:3] + np.array([width / 2, height / 2]) + shake).astype(
            np.float32
        )
        h = cv2.getPerspectiveTransform(src, dst)
        out = cv2.warpPerspective(
            img, h, (width, height), dst=bg.copy(), borderMode=cv2.BORDER_TRANSPARENT
        )
        if blur > 0:
            k = 1 + 2 * int(rng.integers(0, max(1, int(blur * 2)) + 1))
            out = cv2.GaussianBlur(out, (k, k), blur * 0.6)
        if noise > 0:
            out = np.clip(out.astype(np.float32) + rng.normal(0, noise, out.shape), 0, 255)
        yield Frame(
            image=np.ascontiguousarray(out.astype(np.uint8)),
            timestamp=index / fps,
            index=index,
            source_id=source_id,
        )


def screen_replay_attack(
    frames: Iterable[Frame],
    *,
    size: tuple[int, int] = (640, 480),
    screen_fill: float = 0.8,
    tilt_deg: float = 6.0,
    gamma: float = 1.25,
    moire: float = 0.06,
    glare: float = 0.35,
    bezel: float = 0.06,
    seed: int = 0,
    source_id: str = "attack:screen-replay",
) -> Iterator[Frame]:
    """Re-film ``frames`` off a screen held in front of the camera (timestamps kept)."""
    rng = np.random.default_rng(seed)
    width, height = size
    bg = _background(rng, height, width)
    angle = rng.uniform(0, math.pi)
    period = rng.uniform(3.0, 6.0)  # moiré fringe period in camera pixels
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    fringe = np.sin(2 * math.pi * (xx * math.cos(angle) + yy * math.sin(angle)) / period)
    fringe *= 0.5 + 0.5 * np.sin(2 * math.pi * xx / (width / rng.uniform(2, 5)))  # beating
    gx, gy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.1, 0.5) * height
    glare_map = np.exp(-(((xx - gx) / (0.25 * width)) ** 2 + ((yy - gy) / (0.18 * height)) ** 2))
    cast = np.array([0.92, 1.0, 1.08], np.float32)  # LCD white points run blue
    for frame in frames:
        src = frame.image
        sh, sw = src.shape[:2]
        sc = screen_fill * min(width / sw, height / sh)
        content = cv2.resize(src, (int(sw * sc), int(sh * sc)), interpolation=cv2.INTER_AREA)
        lin = (content.astype(np.float32) / 255.0) ** gamma * cast * 235.0 + 8.0
        b = int(bezel * content.shape[0])
        panel = cv2.copyMakeBorder(
            np.clip(lin, 0, 255).astype(np.uint8),
            b,
            b,
            b,
            b,
            cv2.BORDER_CONSTANT,
            value=(18, 18, 20),
        )
        ph, pw = panel.shape[:2]
        src_q = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32)
        t = math.radians(tilt_deg)
        jitter = rng.normal(0, 1.0, size=(4, 2))
        x0, y0 = (width - pw) / 2, (height - ph) / 2
        dst_q = np.array(
            [[x0 + pw * 0.5 * (1 - math.cos(t)), y0 + ph * 0.03 * math.sin(t) * 8],
             [x0 + pw, y0], [x0 + pw, y0 + ph],
             [x0 + pw * 0.5 * (1 - math.cos(t)), y0 + ph - ph * 0.03 * math.sin(t) * 8]],
            np.float32,
        ) + jitter.astype(np.float32)  # fmt: skip
        hmat = cv2.getPerspectiveTransform(src_q, dst_q)
        out = cv2.warpPerspective(
            panel, hmat, (width, height), dst=bg.copy(), borderMode=cv2.BORDER_TRANSPARENT
        ).astype(np.float32)
        screen = cv2.warpPerspective(np.ones((ph, pw), np.float32), hmat, (width, height)) > 0.5
        out[screen] *= (1.0 + moire * fringe[screen])[:, None]
        out += (glare * 255.0 * glare_map * screen)[:, :, None]
        out = np.asarray(cv2.GaussianBlur(out, (3, 3), 0.7), np.float32)
        out += rng.normal(0, 2.5, out.shape)
        yield Frame(
            image=np.clip(out, 0, 255).astype(np.uint8),
            timestamp=frame.timestamp,
            index=frame.index,
            source_id=source_id,
        )


def frozen_frames(frames: Iterable[Frame], *, start: int, count: int) -> Iterator[Frame]:
    """Repeat frame ``start`` for ``count`` frames (timestamps keep advancing), then go on."""
    held: Frame | None = None
    for frame in frames:
        if frame.index == start:
            held = frame
        if held is not None and start <= frame.index < start + count:
            yield Frame(
                image=held.image,
                timestamp=frame.timestamp,
                index=frame.index,
                source_id=frame.source_id,
            )
        else:
            yield frame

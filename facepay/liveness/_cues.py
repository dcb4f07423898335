"""Passive replay and print cues: cheap image statistics that can refuse, never accept.

* ``moire``: a screen's pixel grid beats against the camera's and leaves narrow periodic
  peaks in the face's spectrum; skin does not. (Aimed at screens.)
* ``specular``: screens and glossy prints reflect room lights as flat, clipped patches;
  skin highlights are small. Share of clipped near-white pixels on the face. (Screens.)
* ``colourfulness`` (Hasler & Suesstrunk 2003): a print's inks and a re-photographed
  print lose chroma; live skin under the same light keeps more. (Aimed at prints.)
* ``border_lines``: long straight edges around the face (a paper's edge, a phone's
  bezel): counted outside the face box. (Both.)
* ``outline``: a closed straight-edged frame around the face: long straight edges above,
  left and right of it and one unbroken below it, meeting near the corners. A screen (or
  a print) held up with its outline in view draws exactly that; a real shopper cannot,
  because nothing stands between the camera and them: an edge below the face would have
  to cross their neck, and the room's door frames and shelves are hidden behind their
  head and shoulders. (Screens, and prints shown whole.)

Each is measured in docs/liveness.md, on real clips and on synthetic attacks; none is
strong enough to be trusted alone, so they only ever add refusals, and a threshold of 0
turns a cue off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from facepay.config import LivenessConfig
from facepay.types import FaceObservation, Frame

__all__ = ["PassiveCues", "measure_cues"]

_U8 = npt.NDArray[np.uint8]


def _face_crop(image: _U8, face: FaceObservation, scale: float = 1.0) -> _U8:
    b = face.box
    cx, cy = b.center
    half = max(b.width, b.height) * scale / 2
    x0, y0 = max(0, int(cx - half)), max(0, int(cy - half))
    x1, y1 = min(image.shape[1], int(cx + half)), min(image.shape[0], int(cy + half))
    return image[y0:y1, x0:x1]


def _moire(gray: npt.NDArray[np.float32]) -> float:
    g = cv2.resize(gray, (128, 128), interpolation=cv2.INTER_AREA)
    g = g - float(g.mean())
    win = np.outer(np.hanning(128), np.hanning(128)).astype(np.float32)
    spec = np.abs(np.fft.fftshift(np.fft.fft2(g * win)))
    yy, xx = np.mgrid[-64:64, -64:64]
    r = np.hypot(xx, yy) / 64.0
    # Mid-high frequencies, off the axes (JPEG/H.264 block edges put energy on the axes).
    band = (r > 0.25) & (r < 0.9) & (np.abs(xx) > 2) & (np.abs(yy) > 2)
    vals = spec[band]
    med = float(np.median(vals))
    return math.log10(float(vals.max()) / med) if med > 0 else 0.0


def _colourfulness(rgb: _U8) -> float:
    x = rgb.reshape(-1, 3).astype(np.float32)
    rg = x[:, 0] - x[:, 1]
    yb = 0.5 * (x[:, 0] + x[:, 1]) - x[:, 2]
    return float(
        math.hypot(float(rg.std()), float(yb.std()))
        + 0.3 * math.hypot(float(rg.mean()), float(yb.mean()))
    )


def _border_lines(gray: _U8, face: FaceObservation) -> int:
    edges = cv2.Canny(gray, 60, 150)
    b = face.box
    min_len = int(0.9 * max(b.width, b.height))
    lines = cv2.HoughLinesP(edges, 1, np.pi / 180, 80, minLineLength=min_len, maxLineGap=6)
    if lines is None:
        return 0
    count = 0
    for x1, y1, x2, y2 in lines.reshape(-1, 4):
        # Only lines that do not cross the face box: a paper's or a screen's edge.
        mx0, mx1 = min(x1, x2), max(x1, x2)
        my0, my1 = min(y1, y2), max(y1, y2)
        if mx1 < b.x or mx0 > b.x + b.width or my1 < b.y or my0 > b.y + b.height:
            count += 1
    return count


def _segments(gray: _U8) -> npt.NDArray[np.float32]:
    """Straight line segments (x1, y1, x2, y2) of a grey image (LSD, Grompone von Gioi 2010)."""
    # A fresh detector per call: creating one costs about a microsecond, and one kept in a
    # threading.local made the kiosk segfault (its analysis runs on a QThread).
    lsd: Any = cv2.createLineSegmentDetector(cv2.LSD_REFINE_STD)
    found = lsd.detect(gray)[0]
    if found is None:
        return np.zeros((0, 4), np.float32)
    return np.asarray(found, np.float32).reshape(-1, 4)


@dataclass(frozen=True, slots=True)
class _Side:
    """The best straight edge on one side of the face: where it runs and how much of it."""

    covered: float  # length covered by its segments
    lo: float  # its extent along the side
    hi: float
    at: float  # where it crosses the face's centre line


def _union(spans: list[tuple[float, float]], gap: float) -> tuple[float, list[tuple[float, float]]]:
    """Covered length, and the pieces left once spans closer than ``gap`` are joined."""
    merged: list[tuple[float, float]] = []
    covered, end = 0.0, -math.inf
    for a, z in sorted(spans):
        if z > end:
            covered += z - max(a, end)
            end = z
        if merged and a <= merged[-1][1] + gap:
            merged[-1] = (merged[-1][0], max(merged[-1][1], z))
        else:
            merged.append((a, z))
    return covered, merged


def _place(
    a1: float,
    b1: float,
    a2: float,
    b2: float,
    centre: float,
    box_lo: float,
    box_hi: float,
    names: tuple[str, str],
) -> tuple[str, float, tuple[float, float]] | None:
    """A segment running along axis ``a`` (from a1 to a2, at b1..b2 across it): the side of
    the face box it lies on (``names``: before, after), where it crosses the face's centre
    line, and its span along ``a``; None if it crosses the box's band."""
    if max(b1, b2) < box_lo:
        side = names[0]
    elif min(b1, b2) > box_hi:
        side = names[1]
    else:
        return None
    at = b1 + (centre - a1) * (b2 - b1) / (a2 - a1)
    return side, float(at), (float(min(a1, a2)), float(max(a1, a2)))


def _outline(gray: _U8, face: FaceObservation) -> bool:
    """Is the face framed by a closed straight-edged outline (see the module docstring)?

    Each side needs one edge (LSD segments within 20 degrees of the side's direction, in
    6-pixel bands) wholly outside the face box, covering at least 0.6 face sizes (a
    bezel's low-contrast stretches break it into pieces) and passing the face's centre
    line; the edge below the face must run unbroken under the middle half of the face's
    width (a real shopper's neck is there, in front of any edge of the room); the four must
    meet near the corners (within 0.35 face sizes: a bezel has an inner and an outer edge).
    """
    b = face.box
    size = max(b.width, b.height)
    if size < 16:
        return False
    cx, cy = b.center
    bands: dict[tuple[str, int], list[tuple[float, float, float]]] = {}
    for x1, y1, x2, y2 in _segments(gray):
        dx, dy = float(x2 - x1), float(y2 - y1)
        if math.hypot(dx, dy) < 0.03 * size:
            continue
        angle = abs(math.degrees(math.atan2(dy, dx))) % 180.0
        if min(angle, 180.0 - angle) < 20.0:  # runs along the top or bottom
            placed = _place(x1, y1, x2, y2, cx, b.y, b.y + b.height, ("top", "bottom"))
        elif abs(angle - 90.0) < 20.0:  # runs along the left or right
            placed = _place(y1, x1, y2, x2, cy, b.x, b.x + b.width, ("left", "right"))
        else:
            continue
        if placed is None:
            continue
        side, at, span = placed
        bands.setdefault((side, int(at // 6)), []).append((span[0], span[1], at))
    best: dict[str, _Side] = {}
    for (side, k), members in bands.items():
        members = members + bands.get((side, k + 1), [])  # a tilted edge straddles two bands
        covered, pieces = _union([(a, z) for a, z, _ in members], gap=0.03 * size)
        centre = cx if side in ("top", "bottom") else cy
        if side == "bottom":
            half = b.width / 4
            passes = any(a <= centre - half and z >= centre + half for a, z in pieces)
        else:
            passes = pieces[0][0] <= centre <= pieces[-1][1]
        if covered >= 0.6 * size and passes and (side not in best or covered > best[side].covered):
            at = float(np.mean([m[2] for m in members]))
            best[side] = _Side(covered, pieces[0][0], pieces[-1][1], at)
    if len(best) < 4:
        return False
    tol = 0.35 * size
    top, bottom, left, right = best["top"], best["bottom"], best["left"], best["right"]
    return all(
        e.lo <= lo_end.at + tol and e.hi >= hi_end.at - tol
        for e, lo_end, hi_end in (
            (top, left, right),
            (bottom, left, right),
            (left, top, bottom),
            (right, top, bottom),
        )
    )


def measure_cues(image: _U8, face: FaceObservation) -> dict[str, float]:
    """All passive cues for one face in one RGB frame."""
    crop = _face_crop(image, face, 0.8)
    if crop.size == 0 or min(crop.shape[:2]) < 16:
        return {}
    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32)
    # The two edge cues look at the whole frame: one grey conversion serves both.
    frame_gray = np.asarray(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), np.uint8)
    return {
        "moire": _moire(gray),
        "specular": float(np.mean(np.all(crop >= 245, axis=2))),
        "colourfulness": _colourfulness(crop),
        "border_lines": float(_border_lines(frame_gray, face)),
        "outline": float(_outline(frame_gray, face)),
    }


class PassiveCues:
    """Sample the cues a few times a second during a session and judge their medians."""

    def __init__(self, config: LivenessConfig | None = None, *, every_s: float = 0.25) -> None:
        self._config = config or LivenessConfig()
        self._every = every_s
        self._next = -math.inf
        self._samples: list[dict[str, float]] = []

    def feed(self, frame: Frame, face: FaceObservation, t: float) -> None:
        if t < self._next:
            return
        self._next = t + self._every
        sample = measure_cues(frame.image, face)
        if sample:
            self._samples.append(sample)

    @property
    def samples(self) -> int:
        """How many samples were measured (a face found, a crop large enough)."""
        return len(self._samples)

    def medians(self) -> dict[str, float]:
        if not self._samples:
            return {}
        keys = self._samples[0].keys()
        return {k: float(np.median([s[k] for s in self._samples])) for k in keys}

    def refusals(self) -> list[str]:
        c, med = self._config, self.medians()
        out = []
        framed = self.outline_share()
        if med and (
            (c.screen_moire_max > 0 and med["moire"] > c.screen_moire_max)
            or (c.screen_outline_min_share > 0 and framed >= c.screen_outline_min_share)
        ):
            out.append("screen_cue")
        printish = med and (
            (c.print_edge_min_lines > 0 and med["border_lines"] >= c.print_edge_min_lines)
            or (c.print_min_colourfulness > 0 and med["colourfulness"] < c.print_min_colourfulness)
        )
        if printish:
            out.append("print_cue")
        return out

    def outline_share(self) -> float:
        """The share of samples in which an outline framed the face."""
        if not self._samples:
            return 0.0
        return float(np.mean([s.get("outline", 0.0) for s in self._samples]))

    def evidence(self) -> dict[str, float]:
        ev = {f"cue_{k}": round(v, 4) for k, v in self.medians().items()}
        if self._samples:
            ev["cue_outline"] = round(self.outline_share(), 4)
            ev["cue_samples"] = len(self._samples)
        return ev

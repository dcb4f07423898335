"""Passive replay and print cues: cheap image statistics that can refuse, never accept.

* ``moire``: a screen's pixel grid beats against the camera's and leaves narrow periodic
  peaks in the face's spectrum; skin does not. (Aimed at screens.)
* ``specular``: screens and glossy prints reflect room lights as flat, clipped patches;
  skin highlights are small. Share of clipped near-white pixels on the face. (Screens.)
* ``colourfulness`` (Hasler & Suesstrunk 2003): a print's inks and a re-photographed
  print lose chroma; live skin under the same light keeps more. (Aimed at prints.)
* ``border_lines``: long straight edges around the face (a paper's edge, a phone's
  bezel): counted outside the face box. (Both.)

Each is measured in docs/liveness.md, on real clips and on synthetic attacks; none is
strong enough to be trusted alone, so they only ever add refusals, and a threshold of 0
turns a cue off.
"""

from __future__ import annotations

import math

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


def _border_lines(image: _U8, face: FaceObservation) -> int:
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
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


def measure_cues(image: _U8, face: FaceObservation) -> dict[str, float]:
    """All passive cues for one face in one RGB frame."""
    crop = _face_crop(image, face, 0.8)
    if crop.size == 0 or min(crop.shape[:2]) < 16:
        return {}
    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return {
        "moire": _moire(gray),
        "specular": float(np.mean(np.all(crop >= 245, axis=2))),
        "colourfulness": _colourfulness(crop),
        "border_lines": float(_border_lines(image, face)),
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

    def medians(self) -> dict[str, float]:
        if not self._samples:
            return {}
        keys = self._samples[0].keys()
        return {k: float(np.median([s[k] for s in self._samples])) for k in keys}

    def refusals(self) -> list[str]:
        c, med = self._config, self.medians()
        out = []
        if med and c.screen_moire_max > 0 and med["moire"] > c.screen_moire_max:
            out.append("screen_cue")
        printish = med and (
            (c.print_edge_min_lines > 0 and med["border_lines"] >= c.print_edge_min_lines)
            or (c.print_min_colourfulness > 0 and med["colourfulness"] < c.print_min_colourfulness)
        )
        if printish:
            out.append("print_cue")
        return out

    def evidence(self) -> dict[str, float]:
        return {f"cue_{k}": round(v, 4) for k, v in self.medians().items()}

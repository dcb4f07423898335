"""Face chips: crop, rotate and scale a face to the template an embedder was trained on.

Two ways to sample a chip, named in a :class:`ChipSpec`:

``"dlib"``
    A re-implementation of dlib's ``get_face_chip_details`` + ``extract_image_chips``
    (``dlib/image_transforms/interpolation.h``), needed because dlib's ResNet was trained
    on chips made that way. The similarity transform is the least-squares (Umeyama) fit
    of the template to the points; when the face is much larger than the chip, dlib first
    halves the image with its ``pyramid_down<2>`` filter (a 5x5 ``[1 4 6 4 1]`` binomial
    in 16-bit integer arithmetic) as many times as needed and samples the chip from that
    level, bilinearly, truncating to ``uint8``. Leaving the pyramid out moves descriptors
    by up to 0.22 in L2 (against a 0.6 threshold), so it is not optional.
``"warp"``
    The usual ArcFace recipe: the same similarity fit, sampled with one bilinear
    ``cv2.warpAffine`` (what insightface's ``norm_crop`` does).

Template points are given on the unit square of the face (dlib's convention) and mapped
into the chip as ``(padding + p) / (1 + 2 * padding) * size``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from facepay.errors import InvalidImageError

__all__ = [
    "DLIB_5_POINT_TEMPLATE",
    "ChipJitter",
    "ChipSpec",
    "extract_chip",
    "mirror_partners",
    "mirror_points",
    "similarity_transform",
]

F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]

# dlib's mean 5-point face (get_face_chip_details, num_parts() == 5), in dlib's point
# order: the subject's left eye outer and inner corners (on the image's right), the right
# eye outer and inner corners, and the base of the nose.
DLIB_5_POINT_TEMPLATE: tuple[tuple[float, float], ...] = (
    (0.8595674595992, 0.2134981538014),
    (0.6460604764104, 0.2289674387677),
    (0.1205750620789, 0.2137274526848),
    (0.3340850613712, 0.2290642403242),
    (0.4901123135679, 0.6277975316475),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChipSpec:
    """How to cut the chip an embedder expects."""

    size: int = 150
    padding: float = 0.25
    template: tuple[tuple[float, float], ...] = DLIB_5_POINT_TEMPLATE
    method: str = "dlib"  # "dlib" (pyramid + bilinear, bit-compatible) or "warp" (cv2)

    def __post_init__(self) -> None:
        if self.size < 8:
            raise ValueError(f"chip size must be at least 8, got {self.size}")
        if self.padding < 0:
            raise ValueError("padding must be >= 0")
        if len(self.template) < 2:
            raise ValueError("an alignment template needs at least 2 points")
        if self.method not in ("dlib", "warp"):
            raise ValueError(f"unknown chip method {self.method!r}")

    def chip_points(self) -> F64:
        """Template points in chip pixels."""
        t = np.asarray(self.template, dtype=np.float64)
        return (self.padding + t) / (2.0 * self.padding + 1.0) * self.size


@dataclass(frozen=True, slots=True)
class ChipJitter:
    """A small, fixed perturbation of where the face sits in its chip.

    ``dx``/``dy`` move the face by that many chip pixels, ``zoom`` scales it about the
    chip's centre (1.03: 3% larger) and ``degrees`` turns it about the centre. The chip is
    still cut from the image in one sampling (the template points move, not the chip), so
    a jittered chip is as sharp as the plain one. dlib's own ``jitter_image`` (what
    ``face_recognition``'s ``num_jitters`` averages over) draws from the same range at
    random: shifts up to 2% of the face, zoom 0.97-1.0 of the crop, turns up to 3 degrees.
    """

    dx: float = 0.0
    dy: float = 0.0
    zoom: float = 1.0
    degrees: float = 0.0

    def apply(self, chip_points: F64, size: int) -> F64:
        """``chip_points`` (template points in chip pixels) moved by this jitter."""
        centre = np.array([size / 2.0, size / 2.0])
        a = math.radians(self.degrees)
        rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        moved: F64 = (chip_points - centre) @ (self.zoom * rot).T + centre
        shifted: F64 = moved + np.array([self.dx, self.dy])
        return shifted


def mirror_partners(
    template: tuple[tuple[float, float], ...], tolerance: float = 0.01
) -> tuple[int, ...]:
    """For each template point, the index of the point it becomes in a mirrored face.

    dlib's template is symmetric about ``x = 0.4901`` within 2e-4 (left eye corners <->
    right eye corners, the nose onto itself). Raises ``ValueError`` when the template has
    no such symmetry within ``tolerance`` (a fraction of the unit square), since the
    mirror of such a face could not be aligned to it.
    """
    pts = np.asarray(template, dtype=np.float64)
    axis = float(pts[:, 0].mean())
    mirrored = np.column_stack([2.0 * axis - pts[:, 0], pts[:, 1]])
    gaps = np.linalg.norm(mirrored[:, None, :] - pts[None, :, :], axis=2)
    partners = tuple(int(j) for j in gaps.argmin(axis=1))
    worst = float(gaps[np.arange(len(pts)), partners].max())
    if worst > tolerance or any(partners[p] != i for i, p in enumerate(partners)):
        raise ValueError("the alignment template is not left-right symmetric")
    return partners


def mirror_points(points: npt.ArrayLike, width: int, partners: tuple[int, ...]) -> F64:
    """Alignment points of the same face in the image flipped left to right.

    ``points`` are in the template's order; a pixel centre ``x`` of an image ``width``
    wide lands on ``width - 1 - x`` (the sampling convention of :func:`extract_chip`), and
    each point takes its partner's place (the subject's left eye becomes the image's
    right eye's slot).
    """
    pts = np.asarray(points, dtype=np.float64)
    out = np.empty_like(pts)
    for i, j in enumerate(partners):
        out[i, 0] = (width - 1) - pts[j, 0]
        out[i, 1] = pts[j, 1]
    return out


def similarity_transform(src: F64, dst: F64) -> tuple[F64, F64]:
    """Least-squares similarity ``dst ~ M @ src + t`` (Umeyama 1991, eqs. 34-43), as dlib.

    Returns ``(M, t)`` with ``M`` 2x2 (scale * rotation) and ``t`` of shape (2,).
    """
    n = src.shape[0]
    mean_s = src.mean(axis=0)
    mean_d = dst.mean(axis=0)
    ds = src - mean_s
    dd = dst - mean_d
    sigma_s = float((ds**2).sum()) / n
    cov = dd.T @ ds / n
    u, d, vt = np.linalg.svd(cov)
    s = np.eye(2)
    det_cov = float(np.linalg.det(cov))
    if det_cov < 0 or (det_cov == 0 and np.linalg.det(u) * np.linalg.det(vt) < 0):
        s[1, 1] = -1.0  # numpy sorts singular values descending: flip the smaller one
    r = u @ s @ vt
    c = 1.0 if sigma_s == 0 else float(np.trace(np.diag(d) @ s)) / sigma_s
    m = c * r
    t = mean_d - m @ mean_s
    return m, t


def _validate(image: npt.NDArray[np.generic], points: npt.ArrayLike, n_template: int) -> F64:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3:
        raise InvalidImageError("expected an RGB uint8 image of shape (H, W, 3)")
    if image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise InvalidImageError("expected an RGB uint8 image of shape (H, W, 3)")
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape != (n_template, 2) or not np.all(np.isfinite(pts)):
        raise InvalidImageError(
            f"expected {n_template} finite alignment points, got shape {pts.shape}"
        )
    return pts


def extract_chip(
    image: U8,
    points: npt.ArrayLike,
    spec: ChipSpec | None = None,
    *,
    jitter: ChipJitter | None = None,
) -> U8:
    """Cut the ``spec.size`` square RGB chip for a face whose landmarks are ``points``.

    ``points`` are pixel ``(x, y)`` in the template's order (for dlib's template:
    :attr:`facepay.types.FaceObservation.alignment_points`). Parts of the chip outside the
    image are black, as in dlib. ``jitter`` moves the face within the chip (see
    :class:`ChipJitter`); without it the chip is dlib's ``get_face_chip``, bit for bit.
    """
    spec = spec or ChipSpec()
    pts = _validate(image, points, len(spec.template))
    targets = spec.chip_points()
    if jitter is not None:
        targets = jitter.apply(targets, spec.size)
    m, t = similarity_transform(targets, pts)
    if spec.method == "warp":
        import cv2

        # warpAffine wants the chip -> image map's inverse direction flag.
        mat = np.hstack([m, t[:, None]])
        out = cv2.warpAffine(
            np.ascontiguousarray(image),
            mat,
            (spec.size, spec.size),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(0, 0, 0),
        )
        return np.asarray(out, dtype=np.uint8)
    return _dlib_extract(image, m, t, spec.size)


# --- dlib's chip_details / extract_image_chips -------------------------------------------

# A dlib drectangle is (left, top, right, bottom), inclusive; width = right - left + 1.
_Rect = tuple[float, float, float, float]


def _area(r: _Rect) -> float:
    left, top, right, bottom = r
    if top > bottom or left > right:
        return 0.0
    return (right - left + 1.0) * (bottom - top + 1.0)


def _rect_down(r: _Rect) -> _Rect:
    # pyramid_down<2>::point_down(p) = p / 2 - (1.25, 0.75)
    return (r[0] / 2.0 - 1.25, r[1] / 2.0 - 0.75, r[2] / 2.0 - 1.25, r[3] / 2.0 - 0.75)


def _lround(x: float) -> int:
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def _rotate(center: F64, p: F64, cos_a: float, sin_a: float) -> F64:
    d = p - center
    return np.array(
        [cos_a * d[0] - sin_a * d[1] + center[0], sin_a * d[0] + cos_a * d[1] + center[1]]
    )


def _corners(r: _Rect) -> tuple[F64, F64, F64, F64]:
    left, top, right, bottom = r
    return (
        np.array([left, top]),
        np.array([right, top]),
        np.array([left, bottom]),
        np.array([right, bottom]),
    )


def pyramid_down_2(img: U8) -> U8:
    """dlib's ``pyramid_down<2>`` on an RGB image: 5x5 binomial blur, keep every other pixel.

    Integer arithmetic as in dlib (16-bit sums never overflow: 255 * 256 < 2**16), with
    the final ``/ 256`` truncating. Output size ``((rows - 3) // 2, (cols - 3) // 2)``.
    """
    import cv2

    rows, cols = img.shape[:2]
    if rows <= 8 or cols <= 8:
        return np.zeros((0, 0, 3), dtype=np.uint8)
    out_r = (rows - 3) // 2
    out_c = (cols - 3) // 2
    # float32 holds these integer sums exactly (< 2**24), so OpenCV's separable filter
    # gives dlib's integer result; output (r, c) is centred on input (2r + 2, 2c + 2).
    full = cv2.sepFilter2D(
        img.astype(np.float32), -1, _BINOMIAL, _BINOMIAL, borderType=cv2.BORDER_CONSTANT
    )
    down = full[2 : 2 + 2 * out_r : 2, 2 : 2 + 2 * out_c : 2]
    result: U8 = np.floor(down / 256.0).astype(np.uint8)
    return result


_BINOMIAL = np.array([1.0, 4.0, 6.0, 4.0, 1.0], dtype=np.float32)


def _dlib_extract(image: U8, m: F64, t: F64, size: int) -> U8:
    # chip_details(chip_points, img_points, dims): angle and scale from the transform, and
    # the rectangle the chip covers in the image.
    p = m @ np.array([1.0, 0.0])
    angle = math.atan2(p[1], p[0])
    scale = math.hypot(p[0], p[1])
    center = m @ np.array([size / 2.0, size / 2.0]) + t
    half = (size * scale - 1.0) / 2.0
    rect: _Rect = (center[0] - half, center[1] - half, center[0] + half, center[1] + half)
    chip_area = float(size * size)
    rows, cols = image.shape[:2]
    cos_a, sin_a = math.cos(angle), math.sin(angle)

    # How deep the pyramid must go, and the image region it needs (with a border that
    # grows with depth so the blur has real pixels under it).
    depth = 0
    grow = 2.0
    r = _rect_down(rect)
    while _area(r) > chip_area:
        r = _rect_down(r)
        depth += 1
        grow = grow * 2 + 2
    cent = np.array([(rect[0] + rect[2]) / 2.0, (rect[1] + rect[3]) / 2.0])
    rotated = [_rotate(cent, c, cos_a, sin_a) for c in _corners(rect)]
    xs = [q[0] for q in rotated]
    ys = [q[1] for q in rotated]
    bl, bt = max(min(xs) - grow, 0.0), max(min(ys) - grow, 0.0)
    br, bb = min(max(xs) + grow, cols - 1.0), min(max(ys) + grow, rows - 1.0)
    if bl > br or bt > bb:  # the face is entirely outside the image
        return np.zeros((size, size, 3), dtype=np.uint8)
    box = (_lround(bl), _lround(bt), _lround(br), _lround(bb))
    source = image[box[1] : box[3] + 1, box[0] : box[2] + 1]

    level = -1
    r = (rect[0] - box[0], rect[1] - box[1], rect[2] - box[0], rect[3] - box[1])
    while _area(_rect_down(r)) > chip_area:
        level += 1
        r = _rect_down(r)
    for _ in range(level + 1):
        source = pyramid_down_2(source)

    # The affine map from chip pixels to the (pyramid level's) source pixels, fitted on
    # three corners exactly as dlib does.
    cent = np.array([(r[0] + r[2]) / 2.0, (r[1] + r[3]) / 2.0])
    tl, tr, bl_, _ = (_rotate(cent, c, cos_a, sin_a) for c in _corners(r))
    n = size - 1.0
    ax = (tr - tl) / n  # image step per chip column
    ay = (bl_ - tl) / n  # image step per chip row
    return _bilinear(source, tl, ax, ay, size)


def _bilinear(src: U8, origin: F64, ax: F64, ay: F64, size: int) -> U8:
    """dlib's interpolate_bilinear over a chip grid; outside pixels are black (0)."""
    out = np.zeros((size, size, 3), dtype=np.uint8)
    if src.size == 0:
        return out
    cc, rr = np.meshgrid(np.arange(size, dtype=np.float64), np.arange(size, dtype=np.float64))
    px = origin[0] + ax[0] * cc + ay[0] * rr
    py = origin[1] + ax[1] * cc + ay[1] * rr
    left = np.floor(px)
    top = np.floor(py)
    h, w = src.shape[:2]
    ok = (left >= 0) & (top >= 0) & (left + 1 < w) & (top + 1 < h)
    if not ok.any():
        return out
    flat = np.ascontiguousarray(src).reshape(-1, 3)
    every = bool(ok.all())  # the usual case: no masking needed
    sel = slice(None) if every else ok
    left_k, top_k = left[sel].ravel(), top[sel].ravel()
    idx = top_k.astype(np.intp) * w + left_k.astype(np.intp)
    lr = (px[sel].ravel() - left_k)[:, None]
    tb = (py[sel].ravel() - top_k)[:, None]
    # The same double-precision expression as dlib, evaluated with fewer temporaries:
    # (1 - tb) * ((1 - lr) * tl + lr * tr) + tb * ((1 - lr) * bl + lr * br)
    lr1 = 1 - lr
    upper = lr1 * flat[idx]
    upper += lr * flat[idx + 1]
    lower = lr1 * flat[idx + w]
    lower += lr * flat[idx + w + 1]
    upper *= 1 - tb
    lower *= tb
    upper += lower
    values = upper.astype(np.uint8)  # truncation, like static_cast<unsigned char>
    if every:
        out[:] = values.reshape(size, size, 3)
    else:
        out[ok] = values
    return out

"""Saliency-aware cropping: for each aspect ratio, the window that holds the most saliency, found exactly.

NumPy only: no model, no TensorFlow, and no other tfsal module (this file runs on its own; copy it into a server
that only has the maps). :mod:`tfsal.cropping` runs a model on image files and writes crops with these functions.

Geometry. A map of shape ``(h, w)`` describing an image of ``H x W`` pixels is read as piecewise constant: map cell
``(i, j)`` covers the image rectangle ``[j W/w, (j+1) W/w) x [i H/h, (i+1) H/h)`` (the convention of
:mod:`tfsal.data`: pixel ``j`` covers ``[j, j + 1)``). A box ``[x, y, bw, bh]`` is the integer pixel rectangle
``[x, x + bw) x [y, y + bh)`` of the image; its mass is the integral of the map over it and its *score* the share of
the map's total mass inside it. So a map at any resolution (a model's 48x64 output or a map at the image's size)
gives boxes in original image pixels.

Search. For a fixed box size the mass, as a function of the box's corner ``(x, y)``, is bilinear between the
breakpoints where an edge of the box crosses a cell boundary. The best integer box therefore has each coordinate at
the floor or the ceiling of a breakpoint (or at 0 or ``W - bw``): at most about four candidates per map cell and
axis, every integer position when map and image have the same size. All candidates are evaluated at once from the
map's summed-area table (bilinearly interpolated at cell fractions), which costs O(h w) per aspect and equals a
brute-force search over every integer box. Ties: boxes within :data:`TIE_TOLERANCE` of the total mass of the best
one are equal; of those the one whose centre is nearest the image centre wins, then the top-most, then the
left-most, so a constant map gives the centre crop.

Sizes. The box of aspect ``a = W_a / H_a`` and area fraction ``f`` has ``bw * bh ~ f H W`` with ``bw / bh ~ a``:
the shorter side is rounded to the nearest pixel and the longer derived from it (rounded), so the aspect is exact
up to half a pixel on one side. When that box does not fit (a 16:9 box of half the area of a portrait photo), it is
capped at the largest box of the aspect that fits. ``area=None`` asks for that largest box directly; ``min_area``
(pixels) enlarges small boxes and rejects images too small to hold one.

Example:
    >>> import numpy as np
    >>> m = np.zeros((48, 64)); m[10:20, 40:50] = 1.0          # one salient blob at the right
    >>> for c in crop_boxes(m, "1:1,16:9", area=0.25, image_shape=(600, 800)):  # boxes in the 800x600 image
    ...     print(c.to_dict())
    {'aspect': '1:1', 'box': [279, 125, 346, 346], 'score': 1.0}
    {'aspect': '16:9', 'box': [169, 125, 462, 260], 'score': 1.0}
"""
import dataclasses
import math
import re

import numpy as np

__all__ = [
    "METHODS",
    "DEFAULT_ASPECTS",
    "DEFAULT_AREA",
    "TIE_TOLERANCE",
    "Aspect",
    "Crop",
    "parse_aspect",
    "parse_aspects",
    "parse_area",
    "crop_size",
    "SummedArea",
    "best_window",
    "crop_box",
    "crop_boxes",
    "box_share",
    "fixation_share",
]

#: Crop rules: the exact summed-area search for the box holding the most of the map's mass (``saliency``, the
#: default; also named ``mass``), the window centred on the map's maximum (``argmax``, the rule of Twitter's
#: image-crop-analysis; Yee et al., CSCW 2021) and the centre crop (``centre``). The default objective is the map's
#: own mass: on OSIE + EyeCrowd val none of 82 other objectives (sharpened ``m ** gamma``, soft-max, mass above a
#: quantile, centre priors multiplied or mixed in, blur, their combinations, the argmax box) beat it in >= 95 % of
#: paired bootstrap resamples (tuned on OSIE+EyeCrowd val, experiments/crop_tuning.py; docs/experiments.md).
METHODS = ("saliency", "mass", "argmax", "centre")
_METHOD_ALIASES = {"saliency": "saliency", "mass": "saliency", "sat": "saliency", "argmax": "argmax",
                   "argmax-centred": "argmax", "argmax-centered": "argmax", "centre": "centre", "center": "centre"}

#: Aspects of ``tfsal crop`` by default: square, widescreen and the 4:5 portrait of social feeds.
DEFAULT_ASPECTS = ("1:1", "16:9", "4:5")

#: Area fraction of ``tfsal crop`` by default (half the image).
DEFAULT_AREA = 0.5

#: Boxes whose mass differs from the best by less than this share of the map's total mass are ties (float64
#: summed-area tables are accurate to ~1e-13 of the total for maps of a few megapixels).
TIE_TOLERANCE = 1e-9

_NUMBER = r"\s*(\d+(?:\.\d*)?|\.\d+)\s*"
_ASPECT_RE = re.compile(rf"^{_NUMBER}:{_NUMBER}$")


# ----------------------------------------------------------------------------------------------------------------
# arguments
# ----------------------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Aspect:
    """An aspect ratio ``width:height``.

    Attributes:
        label: the text form, e.g. ``"16:9"`` (as given, spaces removed).
        width, height: the two sides (positive numbers).
    """

    label: str
    width: float
    height: float

    @property
    def ratio(self):
        """Width over height."""
        return self.width / self.height

    @property
    def slug(self):
        """The label usable in a file name: ``"16x9"``."""
        return self.label.replace(":", "x")


def parse_aspect(aspect):
    """An :class:`Aspect` from ``"W:H"`` text (``"1:1"``, ``"16:9"``, ``"4:5"``, ``"1.91:1"``) or an Aspect.

    Raises:
        ValueError: not two positive numbers separated by ``:``.

    Example:
        >>> parse_aspect("16:9").ratio
        1.7777777777777777
    """
    if isinstance(aspect, Aspect):
        return aspect
    text = str(aspect)
    match = _ASPECT_RE.match(text)
    if match is None:
        raise ValueError(f"aspect {text!r} is not WIDTH:HEIGHT (expected e.g. 1:1, 16:9, 4:5)")
    w, h = float(match.group(1)), float(match.group(2))
    if not (w > 0 and h > 0 and math.isfinite(w) and math.isfinite(h)):
        raise ValueError(f"aspect {text!r}: both sides must be positive (expected e.g. 1:1, 16:9, 4:5)")
    return Aspect(re.sub(r"\s+", "", text), w, h)


def parse_aspects(aspects):
    """A list of :class:`Aspect` from comma-separated text (``"1:1,16:9,4:5"``) or a list of aspects.

    Raises:
        ValueError: no aspect, a bad one, or one given twice.

    Example:
        >>> [a.label for a in parse_aspects("1:1, 16:9")]
        ['1:1', '16:9']
    """
    if isinstance(aspects, (str, Aspect)):
        items = [aspects] if isinstance(aspects, Aspect) else [a for a in aspects.split(",") if a.strip()]
    else:
        items = list(aspects)
    out = [parse_aspect(a) for a in items]
    if not out:
        raise ValueError(f"expected at least one aspect such as 1:1,16:9,4:5; got {aspects!r}")
    labels = [a.label for a in out]
    for label in labels:
        if labels.count(label) > 1:
            raise ValueError(f"aspect {label!r} is given twice in {aspects!r}")
    return out


def parse_area(area):
    """An area fraction in (0, 1], or ``None`` for the largest box (``None``, ``"max"``, ``"largest"``).

    Raises:
        ValueError: not a number in (0, 1] nor ``"max"``.

    Example:
        >>> parse_area("0.5"), parse_area("max")
        (0.5, None)
    """
    if area is None or (isinstance(area, str) and area.strip().lower() in ("max", "largest", "none")):
        return None
    try:
        value = float(area)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 < value <= 1.0:  # also rejects NaN
        raise ValueError(f"area must be a fraction of the image area in (0, 1], or 'max'; got {area!r}")
    return value


def _parse_method(method):
    key = str(method).strip().lower().replace("_", "-")
    if key not in _METHOD_ALIASES:
        raise ValueError(f"unknown crop method {method!r}; expected one of {', '.join(METHODS)}")
    return _METHOD_ALIASES[key]


def _image_shape(image_shape, fallback):
    shape = fallback if image_shape is None else image_shape
    try:
        h, w = (int(v) for v in tuple(shape)[:2])
    except (TypeError, ValueError):
        raise ValueError(f"image_shape must be (height, width) in pixels; got {image_shape!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"image_shape must be positive (height, width) in pixels; got {image_shape!r}")
    return h, w


def crop_size(image_shape, aspect, area=DEFAULT_AREA, min_area=None):
    """Width and height in pixels of the crop of ``aspect`` and ``area`` in an image of ``image_shape``.

    Args:
        image_shape: ``(H, W)`` of the image in pixels.
        aspect: ``"W:H"`` text or an :class:`Aspect`.
        area: fraction of the image area in (0, 1]; ``None`` (or ``"max"``) for the largest box of the aspect that
            fits. A box that does not fit is capped at that largest box.
        min_area: smallest crop area in pixels (e.g. ``256 * 256``), up to rounding; ``None`` for no minimum.

    Returns:
        ``(bw, bh)`` integers with ``1 <= bw <= W``, ``1 <= bh <= H``.

    Raises:
        ValueError: a bad aspect or area, or an image too small for the crop.

    Example:
        >>> crop_size((600, 800), "16:9", area=0.5), crop_size((600, 800), "16:9", area=None)
        ((652, 367), (800, 450))
    """
    H, W = _image_shape(image_shape, None)
    asp = parse_aspect(aspect)
    area = parse_area(area)
    r = asp.ratio
    wide = r >= W / H
    largest = W * W / r if wide else H * H * r  # real-valued area of the largest box of this aspect
    if min_area is not None:
        try:
            min_area = float(min_area)
        except (TypeError, ValueError):
            min_area = float("nan")
        if not min_area > 0:
            raise ValueError(f"min_area must be a positive number of pixels; got {min_area!r}")
        if min_area > largest * (1 + 1e-9):
            lw, lh = _largest(W, H, r, wide)
            raise ValueError(
                f"image {W}x{H} is smaller than the requested crop: the largest {asp.label} crop is {lw}x{lh} "
                f"({lw * lh} px), below min_area {min_area:g} px")
    target = largest if area is None else area * W * H
    if min_area is not None:
        target = max(target, min_area)
    if target >= largest:
        bw, bh = _largest(W, H, r, wide)
    else:
        bh_real = math.sqrt(target / r)
        if r >= 1:  # landscape: round the height, derive the width
            bh = max(1, _round(bh_real))
            bw = _round(bh * r)
        else:
            bw = max(1, _round(bh_real * r))
            bh = _round(bw / r)
        if bw > W:
            bw, bh = W, _round(W / r)
        if bh > H:
            bh, bw = H, _round(H * r)
    if bw < 1 or bh < 1 or bw > W or bh > H:
        raise ValueError(f"image {W}x{H} is too small for a {asp.label} crop (it would be {bw}x{bh} px)")
    return int(bw), int(bh)


def _round(v):
    """Round half up (as Kotlin's ``roundToInt``, Java's and JavaScript's ``Math.round``), not Python's half-to-even,
    so ports of this file on phones and in browsers give the same boxes."""
    return int(math.floor(v + 0.5))


def _largest(W, H, r, wide):
    return (W, _round(W / r)) if wide else (_round(H * r), H)


# ----------------------------------------------------------------------------------------------------------------
# the search
# ----------------------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Crop:
    """One crop box.

    Attributes:
        aspect: the aspect label, e.g. ``"16:9"``.
        box: ``(x, y, w, h)`` integers in image pixels (``[x, x + w) x [y, y + h)``).
        score: share of the map's mass inside the box, in [0, 1].
    """

    aspect: str
    box: tuple
    score: float

    def to_dict(self, digits=4):
        """``{"aspect": ..., "box": [x, y, w, h], "score": ...}`` (the form of ``crops.json``)."""
        return {"aspect": self.aspect, "box": [int(v) for v in self.box], "score": round(float(self.score), digits)}


def _axis(positions, n, N):
    """Interpolation of image pixel positions onto map cell fractions: index ``i0`` and weight ``t`` (exact ints)."""
    num = np.asarray(positions, np.int64) * n
    i0 = num // N
    return i0, (num - i0 * N) / N


def _take(a, idx, axis):
    if len(idx) > 1 and np.all(np.diff(idx) == 1):  # a contiguous run: a view, not a copy
        sl = slice(int(idx[0]), int(idx[-1]) + 1)
        return a[:, sl] if axis == 1 else a[sl]
    return np.take(a, idx, axis=axis)


def _interp(a, positions, n, N, axis):
    """The summed-area table ``a`` (padded by one repeated row / column) at image positions along ``axis``."""
    i0, t = _axis(positions, n, N)
    lo = _take(a, i0, axis)
    if not t.any():
        return lo
    t = t[None, :] if axis == 1 else t[:, None]
    return lo * (1.0 - t) + _take(a, i0 + 1, axis) * t


def _candidates(N, n, c):
    """Integer box origins along one axis among which the best box lies (and the tie nearest the centre).

    The floors and ceilings of the breakpoints (a box edge on a cell boundary), 0, ``N - c`` and the two integers
    nearest the centred origin; every origin when that is as short (always when map and image have the same size).
    """
    hi = N - c
    if n == N or hi + 1 <= 4 * (n + 1) + 2:
        return np.arange(hi + 1, dtype=np.int64)
    k = np.arange(n + 1, dtype=np.int64) * N
    edges = np.concatenate([k // n, -((-k) // n)])  # floor and ceil of the cell boundaries k N / n
    cand = np.concatenate([edges, edges - c, [hi // 2, (hi + 1) // 2]])
    return np.unique(np.clip(cand, 0, hi))


class SummedArea:
    """A saliency map prepared for crop searches: its summed-area table, read over an image of ``image_shape``.

    Build one per map and ask it for several sizes (each :meth:`best` is O(h w)).

    Args:
        saliency_map: 2-D array ``(h, w)`` (or ``(h, w, 1)``), finite, non-negative, not all zero.
        image_shape: ``(H, W)`` of the image the map describes; the map's own shape when ``None``.

    Raises:
        ValueError: a map that is not 2-D, is empty, has NaN/inf or negative values, or sums to zero.

    Example:
        >>> sa = SummedArea(np.ones((3, 4)), image_shape=(300, 400))
        >>> sa.best(200, 200)
        (100, 50, 0.3333333333333333)
    """

    def __init__(self, saliency_map, image_shape=None):
        m = np.asarray(saliency_map)
        if m.ndim == 3 and m.shape[-1] == 1:
            m = m[..., 0]
        if m.ndim != 2 or 0 in m.shape:
            raise ValueError(f"expected a 2-D saliency map (h, w); got shape {m.shape}")
        m = m.astype(np.float64, copy=False)
        if not np.isfinite(m).all():
            raise ValueError(f"saliency map of shape {m.shape} has NaN or infinite values")
        lo = float(m.min())
        if lo < 0:
            raise ValueError(f"saliency map has negative values (min {lo:g}); crop needs non-negative saliency "
                             "(min-max normalise it first, e.g. tfsal.evaluate.as_saved_map)")
        self.map_shape = m.shape
        self.image_shape = _image_shape(image_shape, m.shape)
        h, w = m.shape
        s = np.zeros((h + 2, w + 2), np.float64)
        inner = s[1:h + 1, 1:w + 1]
        inner[...] = m
        for i in range(1, h):  # down the rows one vector add at a time: 6x faster than np.cumsum(axis=0) at 1 Mpx
            np.add(inner[i - 1], inner[i], out=inner[i])
        np.cumsum(inner, axis=1, out=inner)
        s[h + 1] = s[h]
        s[:, w + 1] = s[:, w]
        self.table = s
        self.total = float(s[h, w])
        if not self.total > 0:
            raise ValueError(f"saliency map of shape {m.shape} sums to zero; nothing to crop towards")
        self._map = m

    def masses(self, xs, ys, bw, bh):
        """Scores (shares of the total mass) of the boxes ``[x, y, bw, bh]`` for all ``x`` in ``xs``, ``y`` in ``ys``.

        Returns:
            ``(len(ys), len(xs))`` float64 array.
        """
        (h, w), (H, W) = self.map_shape, self.image_shape
        xs, ys = np.asarray(xs, np.int64), np.asarray(ys, np.int64)
        cols = _interp(self.table, xs + bw, w, W, 1) - _interp(self.table, xs, w, W, 1)
        return (_interp(cols, ys + bh, h, H, 0) - _interp(cols, ys, h, H, 0)) / self.total

    def share(self, box):
        """Share of the map's mass inside ``box = (x, y, w, h)`` (image pixels)."""
        x, y, bw, bh = (int(v) for v in box)
        return float(self.masses([x], [y], bw, bh)[0, 0])

    def best(self, bw, bh):
        """The box of size ``bw x bh`` holding the most mass: ``(x, y, score)`` (ties: nearest the centre).

        Raises:
            ValueError: the box does not fit in the image.
        """
        H, W = self.image_shape
        (h, w) = self.map_shape
        bw, bh = int(bw), int(bh)
        if not (1 <= bw <= W and 1 <= bh <= H):
            raise ValueError(f"image {W}x{H} is smaller than the requested {bw}x{bh} crop")
        xs, ys = _candidates(W, w, bw), _candidates(H, h, bh)
        scores = self.masses(xs, ys, bw, bh)
        top = scores.max()
        iy, ix = np.nonzero(scores >= top - TIE_TOLERANCE)
        x, y = xs[ix], ys[iy]
        dist = (2 * x + bw - W) ** 2 + (2 * y + bh - H) ** 2  # 4 x squared distance of the centres, exact ints
        k = np.lexsort((x, y, dist))[0]
        return int(x[k]), int(y[k]), float(scores[iy[k], ix[k]])

    def argmax_box(self, bw, bh):
        """The ``bw x bh`` box centred on the map's maximum (of several maxima, the one nearest the centre), inside
        the image: ``(x, y)``."""
        H, W = self.image_shape
        (h, w) = self.map_shape
        rows, cols = np.nonzero(self._map == self._map.max())
        cy, cx = (rows + 0.5) * H / h, (cols + 0.5) * W / w
        k = np.lexsort((cols, rows, (cx - W / 2) ** 2 + (cy - H / 2) ** 2))[0]
        x = int(np.clip(math.floor(cx[k] - bw / 2 + 0.5), 0, W - bw))
        y = int(np.clip(math.floor(cy[k] - bh / 2 + 0.5), 0, H - bh))
        return x, y

    def crop(self, aspect, area=DEFAULT_AREA, method="saliency", min_area=None):
        """The :class:`Crop` of one aspect by one of :data:`METHODS` (see :func:`crop_box`)."""
        asp = parse_aspect(aspect)
        method = _parse_method(method)
        H, W = self.image_shape
        bw, bh = crop_size(self.image_shape, asp, area, min_area)
        if method == "saliency":
            x, y, score = self.best(bw, bh)
            return Crop(asp.label, (x, y, bw, bh), score)
        x, y = self.argmax_box(bw, bh) if method == "argmax" else ((W - bw) // 2, (H - bh) // 2)
        return Crop(asp.label, (x, y, bw, bh), self.share((x, y, bw, bh)))


def best_window(saliency_map, size, image_shape=None):
    """The box of a given size holding the most saliency mass, by the exact summed-area search.

    Args:
        saliency_map: 2-D non-negative map ``(h, w)`` at any resolution.
        size: ``(bw, bh)`` of the box in image pixels.
        image_shape: ``(H, W)`` of the image; the map's shape when ``None``.

    Returns:
        ``(x, y, score)``: the box's top-left corner in image pixels and its share of the map's mass.

    Example:
        >>> m = np.zeros((4, 6)); m[1, 4] = 1
        >>> best_window(m, (2, 2))
        (3, 1, 1.0)
    """
    bw, bh = (int(v) for v in size)
    return SummedArea(saliency_map, image_shape).best(bw, bh)


def crop_box(saliency_map, aspect, area=DEFAULT_AREA, image_shape=None, method="saliency", min_area=None):
    """The crop of one aspect ratio for a saliency map.

    Args:
        saliency_map: 2-D non-negative map ``(h, w)`` at any resolution (a model's output or a map at image size).
        aspect: ``"W:H"`` text (``"16:9"``) or an :class:`Aspect`.
        area: fraction of the image area in (0, 1] (capped at the largest box of the aspect), or ``None`` /
            ``"max"`` for the largest box of the aspect.
        image_shape: ``(H, W)`` of the original image in pixels; the map's shape when ``None``.
        method: ``"saliency"`` or ``"mass"`` (the same rule: the box of that size with the most mass),
            ``"argmax"`` (centred on the map's maximum) or ``"centre"``.
        min_area: smallest crop area in pixels, or ``None``.

    Returns:
        A :class:`Crop` with the box in image pixels and its score (share of the map's mass inside).

    Example:
        >>> crop_box(np.ones((6, 8)), "1:1", area=None).box
        (1, 0, 6, 6)
    """
    return SummedArea(saliency_map, image_shape).crop(aspect, area, method, min_area)


def crop_boxes(saliency_map, aspects=DEFAULT_ASPECTS, area=DEFAULT_AREA, image_shape=None, method="saliency",
               min_area=None):
    """The crops of several aspect ratios for one saliency map (the summed-area table is built once).

    Args:
        saliency_map: 2-D non-negative map ``(h, w)`` at any resolution.
        aspects: comma-separated text (``"1:1,16:9,4:5"``) or a list of aspects.
        area, image_shape, method, min_area: as in :func:`crop_box`.

    Returns:
        A list of :class:`Crop`, one per aspect, in the order given.

    Example:
        >>> [c.box for c in crop_boxes(np.ones((60, 80)), "1:1,16:9", area=0.5)]
        [(15, 5, 49, 49), (7, 11, 66, 37)]
    """
    sa = SummedArea(saliency_map, image_shape)
    return [sa.crop(a, area, method, min_area) for a in parse_aspects(aspects)]


def box_share(saliency_map, box, image_shape=None):
    """Share of a map's mass inside ``box = (x, y, w, h)`` in image pixels (the map read as in :mod:`tfsal.crop`).

    Example:
        >>> box_share(np.ones((2, 2)), (0, 0, 50, 100), image_shape=(100, 100))
        0.5
    """
    return SummedArea(saliency_map, image_shape).share(box)


def fixation_share(fixations, box, image_shape):
    """Share of fixations inside ``box = (x, y, w, h)``.

    Args:
        fixations: ``(N, 2)`` ``(x, y)`` in continuous pixel units of the image (pixel ``j`` covers ``[j, j+1)``;
            a point on the right or bottom border counts in the last pixel, as in :mod:`tfsal.data`).
        box: the box in image pixels.
        image_shape: ``(H, W)`` of the image.

    Returns:
        A float in [0, 1] (``nan`` without fixations).

    Example:
        >>> fixation_share(np.array([[10.5, 10.5], [90.0, 5.0]]), (0, 0, 50, 50), (100, 100))
        0.5
    """
    H, W = _image_shape(image_shape, None)
    pts = np.asarray(fixations, np.float64).reshape(-1, 2)
    if not len(pts):
        return float("nan")
    cols = np.clip(np.floor(pts[:, 0]), 0, W - 1)
    rows = np.clip(np.floor(pts[:, 1]), 0, H - 1)
    x, y, bw, bh = (int(v) for v in box)
    inside = (cols >= x) & (cols < x + bw) & (rows >= y) & (rows < y + bh)
    return float(inside.mean())

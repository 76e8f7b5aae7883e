"""NumPy saliency metrics that reproduce the MIT saliency benchmark's MATLAB code (cvzoya/saliency).

Every function here follows one file of ``cvzoya/saliency/code_forMetrics`` line by line, vectorised:

============  ==================  =====================================================================
function      MATLAB file         ground truth it needs
============  ==================  =====================================================================
auc_judd      ``AUC_Judd.m``      binary fixation map
auc_borji     ``AUC_Borji.m``     binary fixation map
shuffled_auc  ``AUC_shuffled.m``  binary fixation map + binary map of other images' fixations
nss           ``NSS.m``           binary fixation map
cc            ``CC.m``            continuous ground-truth saliency map
kld           ``KLdiv.m``         continuous ground-truth saliency map
sim           ``similarity.m``    continuous ground-truth saliency map
information_  ``InfoGain.m``      binary fixation map + baseline map (centre bias from training fixations)
gain
============  ==================  =====================================================================

Shapes: a single map is ``(H, W)`` or ``(H, W, 1)`` and gives a Python ``float``; a batch is ``(B, H, W)`` or
``(B, H, W, 1)`` and gives a ``(B,)`` float64 array. A 3-D array whose last axis has length 1 is read as one
``(H, W, 1)`` map. All arithmetic is float64 (MATLAB ``double``); inputs are cast as they are, without the
``/255`` of ``im2double`` (every metric is invariant to that scale, only the relative size of the AUC-Judd jitter
changes). When the prediction's size differs from the ground truth's, the prediction is resized to it with
``cv2.resize(..., interpolation=cv2.INTER_LINEAR)`` (MATLAB's ``imresize`` would use antialiased bicubic).
Fixation maps are binary: any value ``> 0`` is one fixated pixel, counted once.

Differences from the MATLAB code, all for inputs on which MATLAB returns NaN:

* a constant prediction scores NSS 0 and CC 0 (MATLAB divides by a zero standard deviation);
* a constant prediction scores 0.5 on AUC-Judd/AUC-Borji/sAUC (min-max normalisation of a constant map is taken
  as all zeros instead of 0/0; for AUC-Judd with ``jitter=True`` the jitter already breaks the tie, as in MATLAB);
* for SIM and IG a constant non-zero map (and for IG also an all-zero map) is taken as the uniform
  distribution, so a uniform baseline can be scored; SIM keeps MATLAB's rule that an all-zero map stays zero;
* missing fixations, an all-zero ground-truth map, non-finite values or mismatched batch sizes raise
  ``ValueError`` instead of returning NaN.
"""
from __future__ import annotations

import numbers
from types import MappingProxyType
from typing import NamedTuple

import numpy as np

from tfsal import kernels
from tfsal.errors import UserError

__all__ = [
    "MATLAB_EPS",
    "METRICS",
    "METRIC_NAMES",
    "DEFAULT_METRICS",
    "KERAS_METRICS",
    "MetricInfo",
    "auc_judd",
    "auc_borji",
    "shuffled_auc",
    "nss",
    "cc",
    "kld",
    "sim",
    "information_gain",
    "make_other_map",
    "compute_all",
]

#: MATLAB ``eps`` (2**-52 = 2.2204e-16), the epsilon of ``KLdiv.m`` and ``InfoGain.m`` (SPEC §3 writes 2.2204e-16):
#: the package's one epsilon, :data:`tfsal.kernels.EPS`.
MATLAB_EPS = kernels.EPS
#: ``AUC_Judd.m``: ``saliencyMap = saliencyMap + rand(size(saliencyMap))/10000000``.
_JUDD_JITTER_DIVISOR = 10000000.0
#: ``AUC_Borji.m`` and ``AUC_shuffled.m`` defaults: ``Nsplits = 100``.
_DEFAULT_N_SPLITS = 100
#: ``AUC_Borji.m`` and ``AUC_shuffled.m`` defaults: ``stepSize = .1``.
_DEFAULT_STEP_SIZE = 0.1


class MetricInfo(NamedTuple):
    """Description of one metric in :data:`METRICS`."""

    name: str
    higher_is_better: bool
    requires: tuple  # ground-truth inputs of compute_all() besides saliency_map
    matlab_file: str
    keras: str | None = None  # the keras.metrics.Metric class of tfsal.metrics.keras_metrics (None: NumPy only)
    default: bool = False  # one of tfsal evaluate's default metrics


#: The eight benchmark metrics in canonical order, name -> :class:`MetricInfo`: the package's one list of metric
#: names (:data:`METRIC_NAMES`, :data:`DEFAULT_METRICS`, :data:`KERAS_METRICS` and ``tfsal evaluate``'s lists
#: come from it). Only KLD is lower-is-better.
METRICS = MappingProxyType({
    "AUC-Judd": MetricInfo("AUC-Judd", True, ("fixation_map",), "AUC_Judd.m", default=True),
    "AUC-Borji": MetricInfo("AUC-Borji", True, ("fixation_map",), "AUC_Borji.m"),
    "sAUC": MetricInfo("sAUC", True, ("fixation_map", "other_map"), "AUC_shuffled.m"),
    "NSS": MetricInfo("NSS", True, ("fixation_map",), "NSS.m", keras="NSS", default=True),
    "CC": MetricInfo("CC", True, ("saliency_map_gt",), "CC.m", keras="CC", default=True),
    "KLD": MetricInfo("KLD", False, ("saliency_map_gt",), "KLdiv.m", keras="KLD", default=True),
    "SIM": MetricInfo("SIM", True, ("saliency_map_gt",), "similarity.m", keras="SIM", default=True),
    "IG": MetricInfo("IG", True, ("fixation_map", "baseline_map"), "InfoGain.m"),
})
#: All metric names in canonical order (``tfsal evaluate --metrics all``).
METRIC_NAMES = tuple(METRICS)
#: ``tfsal evaluate``'s default metrics, in canonical order.
DEFAULT_METRICS = tuple(name for name, info in METRICS.items() if info.default)
#: The metrics with a Keras ``Metric`` class (:mod:`tfsal.metrics.keras_metrics`): name -> class name.
KERAS_METRICS = MappingProxyType({name: info.keras for name, info in METRICS.items() if info.keras})


# ----------------------------------------------------------------------------------------------------------------
# input handling (whole batches are parsed once; the metrics then run one image at a time, which keeps every
# temporary array of a 480x640 map in cache and is faster than (B, H*W) array expressions)
# ----------------------------------------------------------------------------------------------------------------
def _as_batch(x, name):
    """Return ``(array (B, H, W), single)`` for a map or batch of maps with an optional trailing axis of 1."""
    if x is None:
        raise UserError(f"{name} is required; got None")
    arr = np.asarray(x)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be a numeric array; got dtype {arr.dtype}")
    if arr.ndim == 2:
        arr, single = arr[None], True
    elif arr.ndim == 3 and arr.shape[-1] == 1:
        arr, single = arr[None, :, :, 0], True
    elif arr.ndim == 3:
        single = False
    elif arr.ndim == 4 and arr.shape[-1] == 1:
        arr, single = arr[..., 0], False
    else:
        raise UserError(
            f"{name} must have shape (H, W), (H, W, 1), (B, H, W) or (B, H, W, 1); got shape {arr.shape}"
        )
    if 0 in arr.shape:
        raise UserError(f"{name} must be non-empty; got shape {np.shape(x)}")
    return arr, single


def _where(b, single):
    return "" if single else f" (batch index {b})"


def _check_batch(n_target, other, name, target_name):
    if other.shape[0] != n_target:
        raise UserError(
            f"{name} has batch size {other.shape[0]} but {target_name} has batch size {n_target}; "
            "expected the same number of maps"
        )


def _vector(m, shape, name, where=""):
    """One map as a float64 vector (read-only use), resized to ``shape`` with cv2 bilinear if it differs."""
    x = kernels.resize_map(np.asarray(m, dtype=np.float64), shape).ravel()
    if not np.isfinite(np.add.reduce(x)) and not np.isfinite(x).all():  # cheap test first
        raise UserError(f"{name}{where} contains NaN or infinite values; expected finite numbers")
    return x


def _fixated(f, name="fixation_map", where=""):
    """Flat indices of the fixated pixels (value > 0); a map without any is an error."""
    idx = np.flatnonzero(np.asarray(f).ravel() > 0)
    if idx.size == 0:
        raise UserError(
            f"{name} has no fixations (all zeros){where}; expected at least one fixated pixel (value > 0)"
        )
    return idx


def _gt_vector(g, shape, where, name="saliency_map_gt"):
    x = _vector(g, shape, name, where)
    if not x.any():
        raise UserError(
            f"{name} is all zeros{where}; expected a ground-truth saliency map with at least one non-zero value"
        )
    return x


def _per_image(saliency_map, target, target_name, kernel, target_vector):
    """Run ``kernel(pred_vector, target_item, where)`` over the batch; float or (B,) array."""
    tgt, single = _as_batch(target, target_name)
    pred, _ = _as_batch(saliency_map, "saliency_map")
    _check_batch(tgt.shape[0], pred, "saliency_map", target_name)
    shape = tgt.shape[1:]
    out = np.empty(tgt.shape[0])
    for b in range(tgt.shape[0]):
        where = _where(b, single)
        t = target_vector(tgt[b], shape, where)
        out[b] = kernel(_vector(pred[b], shape, "saliency_map", where), t, b)
    return float(out[0]) if single else out


def _per_image_fix(saliency_map, fixation_map, kernel):
    return _per_image(saliency_map, fixation_map, "fixation_map", kernel,
                      lambda f, shape, where: _fixated(f, "fixation_map", where))


def _per_image_gt(saliency_map, saliency_map_gt, kernel):
    return _per_image(saliency_map, saliency_map_gt, "saliency_map_gt", kernel, _gt_vector)


def _shared_map(x, n, name, target_name):
    """A map given once for the whole batch, or once per image: ``(array (1 or B, H, W), shared)``."""
    arr, single = _as_batch(x, name)
    if single:
        return arr, True
    _check_batch(n, arr, name, target_name)
    return arr, False


def _rng_factory(seed):
    """Generator per image: a given Generator is shared; an int/None seed gives each image a fresh one."""
    if isinstance(seed, np.random.Generator):
        return lambda: seed
    if seed is not None and not isinstance(seed, (numbers.Integral, np.random.SeedSequence)):
        raise TypeError(f"seed must be an int, None or a numpy Generator; got {type(seed).__name__}")
    return lambda: np.random.default_rng(seed)


_dot = kernels.dot
_looks_constant = kernels.is_constant


# ----------------------------------------------------------------------------------------------------------------
# MATLAB colon operator and the split-based ROC of AUC_Borji.m / AUC_shuffled.m
# ----------------------------------------------------------------------------------------------------------------
def _matlab_round(x):
    """MATLAB ``round``: halves away from zero (``np.round`` rounds halves to even)."""
    ax = np.abs(x)
    t = np.floor(ax)
    return np.sign(x) * (t + (ax - t >= 0.5))


def _matlab_colon(a, d, b):
    """MATLAB ``a:d:b`` for scalar ``a``, ``d > 0`` and an array of end points ``b``, one range per row.

    Reproduces the algorithm MathWorks publishes for the built-in colon operator (``colonop.m``): the number of
    intervals is rounded with a tolerance of ``2*eps*max(|a|,|b|)``, and the elements are built symmetrically,
    ``a + k*d`` from the left end and ``c - k*d`` from the right end, with ``(a + c)/2`` in the middle. This
    matters because ``AUC_Borji.m`` compares saliency values with ``>=`` against these thresholds (e.g. MATLAB's
    ``0:0.1:1`` holds exactly 0.7, whereas ``7*0.1`` is 0.7000000000000001).

    Returns:
        ``(values, n)``: values of shape ``(len(b), max(n) + 1)``, ascending, padded with ``+inf`` after each
        row's last element; ``n[i] + 1`` is the length of row ``i``.
    """
    b = np.atleast_1d(np.asarray(b, dtype=np.float64))
    tol = 2.0 * MATLAB_EPS * np.maximum(abs(a), np.abs(b))
    if a == np.floor(a) and d == np.floor(d):
        n = np.floor((b - a) / d)
    else:
        n = _matlab_round((b - a) / d)
        n = n - (a + n * d - b > tol)
    c = a + n * d
    c = np.where(c - b > -tol, b, c)
    n = n.astype(np.int64)
    length = max(int(n.max()) + 1, 0)
    j = np.arange(length)[None, :]
    nn = n[:, None]
    front = a + j * d
    back = c[:, None] - (nn - j) * d
    mid = (a + c[:, None]) / 2.0
    out = np.where(2 * j < nn, front, np.where(2 * j > nn, back, mid))
    out[j > nn] = np.inf
    return out, n


def _split_auc(sth, neg, step_size):
    """Mean over splits of the thresholded ROC area of ``AUC_Borji.m``/``AUC_shuffled.m``.

    Args:
        sth: (Nf,) normalised saliency values at the fixated pixels.
        neg: (n_splits, K) normalised saliency values at each split's negative locations.
        step_size: threshold step (``stepSize``).
    """
    nf = sth.size
    n_splits, k = neg.shape
    # allthreshes = fliplr([0:stepSize:double(max([Sth;curfix]))])
    top = np.maximum(sth.max(), neg.max(axis=1))
    thr, _ = _matlab_colon(0.0, step_size, top)
    thr_desc = thr[:, ::-1]  # fliplr; the +inf padding comes first and adds only (0, 0) points of zero area
    uniq = np.unique(thr[np.isfinite(thr)])
    nu = uniq.size
    # count(values >= uniq[j]) for every j from one searchsorted into the few thresholds and a histogram
    # (exact comparisons, no loop over splits or thresholds)
    kpos = np.searchsorted(uniq, sth, side="right")  # number of thresholds <= value
    ge_pos = nf - np.cumsum(np.bincount(kpos, minlength=nu + 1))[:nu]
    ge_pos = np.append(ge_pos, 0)
    kneg = np.searchsorted(uniq, neg, side="right") + (nu + 1) * np.arange(n_splits)[:, None]
    hist = np.bincount(kneg.ravel(), minlength=n_splits * (nu + 1)).reshape(n_splits, nu + 1)
    ge_neg = k - np.cumsum(hist, axis=1)[:, :nu]
    ge_neg = np.concatenate([ge_neg, np.zeros((n_splits, 1), dtype=ge_neg.dtype)], axis=1)
    idx = np.searchsorted(uniq, thr_desc)  # thresholds are members of uniq; +inf maps to nu (count 0)
    tp = ge_pos[idx] / nf  # tp(i+1) = sum(Sth >= thresh)/Nfixations
    fp = np.take_along_axis(ge_neg, idx, axis=1) / k  # fp(i+1) = sum(curfix >= thresh)/Nfixations(_oth)
    zeros = np.zeros((n_splits, 1))
    ones = np.ones((n_splits, 1))
    tp = np.concatenate([zeros, tp, ones], axis=1)  # tp(1) = 0; tp(end) = 1
    fp = np.concatenate([zeros, fp, ones], axis=1)
    auc = np.sum(np.diff(fp, axis=1) * (tp[:, :-1] + tp[:, 1:]), axis=1) / 2.0  # trapz(fp, tp)
    return float(np.mean(auc))  # score = mean(auc)


def _normalise_values(values, mn, mx):
    """``(v - min)/(max - min)`` for values gathered from a map (the same result as :func:`tfsal.kernels.minmax` of
    the whole map first, without normalising the pixels that are not used); a constant map gives zeros."""
    if mx > mn:
        return (values - mn) / (mx - mn)
    return np.full_like(values, kernels.CONSTANT_MAP_POLICY["minmax"])


def _check_split_args(n_splits, step_size):
    if not isinstance(n_splits, numbers.Integral) or n_splits < 1:
        raise UserError(f"n_splits must be a positive integer; got {n_splits!r}")
    if not step_size > 0:
        raise UserError(f"step_size must be > 0; got {step_size!r}")


# ----------------------------------------------------------------------------------------------------------------
# location-based metrics
# ----------------------------------------------------------------------------------------------------------------
def _auc_judd_one(s, fidx, jitter, rng):
    if jitter:
        s = s + rng.random(s.size) / _JUDD_JITTER_DIVISOR  # rand(size(saliencyMap))/10000000
    else:
        s = s.copy()
    mn, mx = s.min(), s.max()
    if not mx > mn:
        return 0.5  # constant map: chance level (MATLAB: NaN)
    s -= mn  # saliencyMap = (saliencyMap - min) / (max - min), in place
    s /= mx - mn
    nf, npix = fidx.size, s.size
    if nf == npix:
        raise UserError("fixation_map fixates every pixel; AUC-Judd expected at least one non-fixated pixel")
    thr = np.sort(s[fidx])  # ascending; allthreshes = sort(Sth, 'descend') is its reverse
    cand = s[s >= thr[0]]  # values below the lowest threshold are never counted
    cand.sort()
    count_ge = cand.size - np.searchsorted(cand, thr, side="left")  # aboveth = sum(S >= thresh)
    aboveth = count_ge[::-1]  # for allthreshes(i), i = 1..Nfixations
    i = np.arange(1, nf + 1)
    tp = np.concatenate([[0.0], i / nf, [1.0]])  # tp(i+1) = i / Nfixations
    fp = np.concatenate([[0.0], (aboveth - i) / (npix - nf), [1.0]])  # (aboveth-i) / (Npixels - Nfixations)
    return float(np.sum(np.diff(fp) * (tp[:-1] + tp[1:])) / 2.0)  # trapz(fp, tp)


def auc_judd(saliency_map, fixation_map, jitter=True, seed=0):
    """AUC-Judd: ROC area with the prediction's values at the fixated pixels as thresholds (``AUC_Judd.m``).

    The prediction is resized to the fixation map, jittered by ``U(0,1)/1e7`` when ``jitter`` (to break ties),
    min-max normalised; thresholds are its values at the fixated pixels sorted descending; at threshold ``i``
    TP = i/Nf, FP = (#{S >= t} - i)/(Npix - Nf); (0,0) and (1,1) are added; trapezoidal area.

    Args:
        saliency_map: prediction, ``(H, W)``/``(H, W, 1)`` or a batch ``(B, H, W)``/``(B, H, W, 1)``.
        fixation_map: binary fixation map(s) (value > 0 = fixated) of the ground-truth size.
        jitter: add MATLAB's tie-breaking jitter (default True, as in ``AUC_Judd.m``).
        seed: int, None or ``numpy.random.Generator`` for the jitter. With an int every image of a batch uses a
            fresh ``default_rng(seed)``, so batch and single results agree.

    Returns:
        float for one map, ``(B,)`` float64 array for a batch.

    Example:
        >>> import numpy as np
        >>> fix = np.zeros((4, 4)); fix[0, 0] = 1
        >>> auc_judd(fix, fix)
        1.0
    """
    make_rng = _rng_factory(seed)
    return _per_image_fix(saliency_map, fixation_map,
                          lambda s, fidx, b: _auc_judd_one(s, fidx, jitter, make_rng() if jitter else None))


def auc_borji(saliency_map, fixation_map, n_splits=_DEFAULT_N_SPLITS, step_size=_DEFAULT_STEP_SIZE, seed=0):
    """AUC-Borji: ROC area against uniformly sampled negatives, averaged over splits (``AUC_Borji.m``).

    The prediction is resized and min-max normalised; each of ``n_splits`` splits draws Nf pixels uniformly with
    replacement over the whole image (``randi``); thresholds are MATLAB's ``0:step_size:max`` descending, with
    max over the fixated and drawn values; TP = #{S_fix >= t}/Nf, FP = #{S_rand >= t}/Nf; trapezoid; mean.

    Args:
        saliency_map: prediction, ``(H, W)``/``(H, W, 1)`` or a batch ``(B, H, W)``/``(B, H, W, 1)``.
        fixation_map: binary fixation map(s) of the ground-truth size.
        n_splits: number of random splits (MATLAB default 100).
        step_size: threshold step (MATLAB default 0.1).
        seed: int, None or ``numpy.random.Generator`` for the draws (an int gives each image a fresh
            ``default_rng(seed)``).

    Returns:
        float for one map, ``(B,)`` float64 array for a batch.

    Example:
        >>> import numpy as np
        >>> fix = np.zeros((8, 8)); fix[2, 3] = 1
        >>> auc_borji(fix, fix) > 0.9
        True
    """
    _check_split_args(n_splits, step_size)
    make_rng = _rng_factory(seed)

    def kernel(s, fidx, b):
        mn, mx = s.min(), s.max()
        # r = randi([1 Npixels], [Nfixations, Nsplits]); randfix = S(r)
        r = make_rng().integers(0, s.size, size=(n_splits, fidx.size))
        return _split_auc(_normalise_values(s[fidx], mn, mx), _normalise_values(s[r], mn, mx), step_size)

    return _per_image_fix(saliency_map, fixation_map, kernel)


def shuffled_auc(saliency_map, fixation_map, other_map, n_splits=_DEFAULT_N_SPLITS,
                 step_size=_DEFAULT_STEP_SIZE, seed=0):
    """Shuffled AUC: AUC-Borji with other images' fixations as negatives (``AUC_shuffled.m``).

    Per split, ``min(Nf, Noth)`` negatives are drawn without replacement (``randperm``) from the pixels fixated in
    ``other_map``; FP is divided by that number. Build ``other_map`` with :func:`make_other_map`.

    Args:
        saliency_map: prediction, ``(H, W)``/``(H, W, 1)`` or a batch ``(B, H, W)``/``(B, H, W, 1)``.
        fixation_map: binary fixation map(s) of the ground-truth size.
        other_map: binary map of the fixations of other images, same size as ``fixation_map``; one map for the
            whole batch or one per image.
        n_splits: number of random splits (MATLAB default 100).
        step_size: threshold step (MATLAB default 0.1).
        seed: int, None or ``numpy.random.Generator`` (an int gives each image a fresh ``default_rng(seed)``).

    Returns:
        float for one map, ``(B,)`` float64 array for a batch.

    Example:
        >>> import numpy as np
        >>> fix = np.zeros((8, 8)); fix[2, 3] = 1
        >>> other = np.zeros((8, 8)); other[5, 5] = other[6, 1] = 1
        >>> shuffled_auc(fix, fix, other)
        1.0
    """
    _check_split_args(n_splits, step_size)
    fix, _ = _as_batch(fixation_map, "fixation_map")
    oth, shared = _shared_map(other_map, fix.shape[0], "other_map", "fixation_map")
    if oth.shape[1:] != fix.shape[1:]:
        raise UserError(
            f"other_map has size {oth.shape[1:]} but fixation_map has size {fix.shape[1:]}; expected the same "
            "size (rescale other images' fixations with make_other_map)"
        )
    make_rng = _rng_factory(seed)
    shared_ind = np.flatnonzero(oth[0].ravel() > 0) if shared else None

    def kernel(s, fidx, b):
        ind = shared_ind if shared else np.flatnonzero(oth[b].ravel() > 0)  # ind = find(Oth > 0)
        if ind.size == 0:
            where = "" if shared else f" (batch index {b})"
            raise UserError(
                f"other_map has no fixations (all zeros){where}; expected at least one fixated pixel of other "
                "images"
            )
        k = min(fidx.size, ind.size)  # Nfixations_oth = min(Nfixations, length(ind))
        if k == ind.size:  # randperm then the first length(ind): every split takes all of them
            neg_idx = np.broadcast_to(ind, (n_splits, k))
        else:  # randind = ind(randperm(length(ind))); randind(1:Nfixations_oth)
            keys = make_rng().random((n_splits, ind.size))
            neg_idx = ind[np.argpartition(keys, k - 1, axis=1)[:, :k]]
        mn, mx = s.min(), s.max()
        return _split_auc(_normalise_values(s[fidx], mn, mx), _normalise_values(s[neg_idx], mn, mx), step_size)

    return _per_image_fix(saliency_map, fixation_map, kernel)


def _nss_one(s, fidx, b=None):
    npix = s.size
    mu = s.mean()
    d = s - mu
    sd = np.sqrt(_dot(d, d) / max(npix - 1, 1))  # std(map(:)), normalised by N-1 (NSS.m)
    if _looks_constant(s, mu, sd):
        return 0.0  # constant map (MATLAB: 0/0 = NaN)
    return float(np.mean((s[fidx] - mu) / sd))  # mean(map(logical(fixationMap))) of the z-scored map


def nss(saliency_map, fixation_map):
    """NSS: mean of the z-scored prediction at the fixated pixels (``NSS.m``; std with N-1).

    Args:
        saliency_map: prediction, ``(H, W)``/``(H, W, 1)`` or a batch ``(B, H, W)``/``(B, H, W, 1)``.
        fixation_map: binary fixation map(s) of the ground-truth size.

    Returns:
        float for one map, ``(B,)`` float64 array for a batch. A constant prediction scores 0.

    Example:
        >>> import numpy as np
        >>> fix = np.zeros((2, 2)); fix[1, 1] = 1
        >>> round(nss(np.array([[1.0, 2.0], [3.0, 4.0]]), fix), 6)  # 1.5 / sqrt(5/3)
        1.161895
    """
    return _per_image_fix(saliency_map, fixation_map, _nss_one)


def _ig_density(x):
    """``InfoGain.m`` normalisation: min-max, then divide by the sum; a constant map is uniform (MATLAB: NaN)."""
    return kernels.minmax_density(x)


def information_gain(saliency_map, fixation_map, baseline_map):
    """Information gain over a baseline, in bits per fixation (``InfoGain.m``).

    Prediction and baseline are resized to the fixation map, min-max normalised and divided by their sums;
    IG = mean over fixations of ``log2(eps + p) - log2(eps + b)`` with eps = MATLAB ``eps``.

    Args:
        saliency_map: prediction, ``(H, W)``/``(H, W, 1)`` or a batch ``(B, H, W)``/``(B, H, W, 1)``.
        fixation_map: binary fixation map(s).
        baseline_map: the baseline (SPEC: a centre-bias map built from the training fixations), one map for the
            whole batch or one per image. A constant baseline is the uniform distribution.

    Returns:
        float for one map, ``(B,)`` float64 array for a batch.

    Example:
        >>> import numpy as np
        >>> fix = np.zeros((2, 2)); fix[1, 1] = 1
        >>> round(information_gain(np.array([[0, 0], [0, 1.0]]), fix, np.ones((2, 2))), 9)  # log2(1) - log2(1/4)
        2.0
    """
    fix, _ = _as_batch(fixation_map, "fixation_map")
    shape = fix.shape[1:]
    base, shared = _shared_map(baseline_map, fix.shape[0], "baseline_map", "fixation_map")
    shared_density = _ig_density(_vector(base[0], shape, "baseline_map")) if shared else None

    def kernel(s, fidx, b):
        bd = shared_density if shared else _ig_density(_vector(base[b], shape, "baseline_map", f" (batch index {b})"))
        p = _ig_density(s)
        return float(np.mean(np.log2(MATLAB_EPS + p[fidx]) - np.log2(MATLAB_EPS + bd[fidx])))

    return _per_image_fix(saliency_map, fixation_map, kernel)


# ----------------------------------------------------------------------------------------------------------------
# distribution-based metrics
# ----------------------------------------------------------------------------------------------------------------
def _cc_one(s, g, b=None):
    return kernels.cc(s, g)  # a constant map scores 0 (MATLAB: NaN), the package's one CC rule


def cc(saliency_map, saliency_map_gt):
    """CC: Pearson correlation of the prediction and the ground-truth saliency map (``CC.m``).

    Args:
        saliency_map: prediction, ``(H, W)``/``(H, W, 1)`` or a batch ``(B, H, W)``/``(B, H, W, 1)``.
        saliency_map_gt: continuous ground-truth map(s); must not be all zeros.

    Returns:
        float in [-1, 1] for one map, ``(B,)`` float64 array for a batch. A constant map (either) scores 0.

    Example:
        >>> import numpy as np
        >>> x = np.array([[1.0, 2.0], [3.0, 4.0]])
        >>> cc(x, 2 * x + 1)
        1.0
    """
    return _per_image_gt(saliency_map, saliency_map_gt, _cc_one)


def _kld_one(s, g, b=None):
    total = s.sum()
    if total != 0 or s.any():  # if any(map1(:)), map1 = map1/sum(map1(:)); an all-zero map stays zero
        p = s / total
    else:
        p = s.copy()
    g = g / g.sum()
    p += MATLAB_EPS  # map2 .* log(eps + map2./(map1+eps)), computed in place
    np.divide(g, p, out=p)
    p += MATLAB_EPS
    np.log(p, out=p)
    return float(_dot(g, p))


def kld(saliency_map, saliency_map_gt):
    """KLD: KL divergence of the ground truth from the prediction, both divided by their sums (``KLdiv.m``).

    ``sum(G * log(eps + G / (P + eps)))`` with eps = MATLAB ``eps``; natural logarithm; lower is better.
    An all-zero prediction stays all zeros, as in MATLAB.

    Args:
        saliency_map: prediction, ``(H, W)``/``(H, W, 1)`` or a batch ``(B, H, W)``/``(B, H, W, 1)``.
        saliency_map_gt: continuous ground-truth map(s); must not be all zeros.

    Returns:
        float for one map, ``(B,)`` float64 array for a batch.

    Example:
        >>> import numpy as np
        >>> round(kld(np.ones((2, 2)), np.array([[1.0, 0.0], [0.0, 1.0]])), 6)  # log(2)
        0.693147
    """
    return _per_image_gt(saliency_map, saliency_map_gt, _kld_one)


def _sim_density(x):
    """``similarity.m`` normalisation: min-max then divide by the sum; an all-zero map stays zero.

    A constant non-zero map (MATLAB: 0/0 = NaN) becomes the uniform distribution.
    """
    return kernels.minmax_density(x, zero_stays_zero=True)


def _sim_one(s, g, b=None):
    p = _sim_density(s)
    np.minimum(p, _sim_density(g), out=p)
    return float(p.sum())


def sim(saliency_map, saliency_map_gt):
    """SIM: histogram intersection of the min-max and sum normalised maps (``similarity.m``).

    Args:
        saliency_map: prediction, ``(H, W)``/``(H, W, 1)`` or a batch ``(B, H, W)``/``(B, H, W, 1)``.
        saliency_map_gt: continuous ground-truth map(s); must not be all zeros.

    Returns:
        float in [0, 1] for one map, ``(B,)`` float64 array for a batch.

    Example:
        >>> import numpy as np
        >>> x = np.array([[1.0, 2.0], [3.0, 4.0]])
        >>> sim(x, x)
        1.0
    """
    return _per_image_gt(saliency_map, saliency_map_gt, _sim_one)


# ----------------------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------------------
def make_other_map(fixation_maps, shape):
    """Union of other images' fixations, rescaled to ``shape``, for :func:`shuffled_auc`.

    Each fixated pixel ``(r, c)`` of a map of size ``(h, w)`` lands on pixel
    ``(floor((r + 0.5) * H / h), floor((c + 0.5) * W / w))`` of the ``(H, W)`` output (pixel centres are
    mapped, so sizes that are multiples of each other keep fixations in the matching block).

    Args:
        fixation_maps: iterable of binary fixation maps ``(h, w)`` or ``(h, w, 1)`` of other images (any
            sizes), or one array ``(N, h, w)``.
        shape: ``(H, W)`` of the image being scored.

    Returns:
        bool array ``(H, W)``, True where some other image has a fixation.

    Example:
        >>> import numpy as np
        >>> a = np.zeros((2, 2)); a[1, 1] = 1
        >>> make_other_map([a], (4, 4)).nonzero()
        (array([3]), array([3]))
    """
    h_out, w_out = (int(v) for v in tuple(shape)[:2])
    out = np.zeros((h_out, w_out), dtype=bool)
    for i, m in enumerate(fixation_maps):
        arr, single = _as_batch(m, f"fixation_maps[{i}]")
        for one in arr:
            rows, cols = np.nonzero(one > 0)
            h, w = one.shape
            r = np.minimum(np.floor((rows + 0.5) * h_out / h).astype(np.int64), h_out - 1)
            c = np.minimum(np.floor((cols + 0.5) * w_out / w).astype(np.int64), w_out - 1)
            out[r, c] = True
    return out


_ALIASES = {
    "aucjudd": "AUC-Judd", "auc": "AUC-Judd", "aucborji": "AUC-Borji", "sauc": "sAUC", "shuffledauc": "sAUC",
    "aucshuffled": "sAUC", "nss": "NSS", "cc": "CC", "kld": "KLD", "kl": "KLD", "kldiv": "KLD", "sim": "SIM",
    "similarity": "SIM", "ig": "IG", "infogain": "IG", "informationgain": "IG",
}


def _canonical(name):
    if name in METRICS:
        return name
    key = str(name).lower().replace("-", "").replace("_", "").replace(" ", "")
    if key in _ALIASES:
        return _ALIASES[key]
    raise UserError(f"unknown metric {name!r}; expected one of {list(METRICS)}")


def compute_all(saliency_map, fixation_map=None, saliency_map_gt=None, other_map=None, baseline_map=None,
                metrics=None, seed=0):
    """Every metric that the given ground truth allows, as a dict keyed by the names in :data:`METRICS`.

    AUC-Judd, AUC-Borji, NSS need ``fixation_map``; sAUC also ``other_map``; IG also ``baseline_map``; CC, KLD,
    SIM need ``saliency_map_gt``. Metrics whose inputs are missing are left out, unless named in ``metrics``,
    in which case a ``ValueError`` says what is missing.

    Args:
        saliency_map: prediction, one map or a batch.
        fixation_map: binary fixation map(s) or None.
        saliency_map_gt: continuous ground-truth map(s) or None.
        other_map: binary map of other images' fixations (see :func:`make_other_map`) or None.
        baseline_map: baseline map for IG (centre bias) or None.
        metrics: iterable of metric names (canonical or aliases such as ``"auc_judd"``), or None for all.
        seed: seed for the random metrics (AUC-Judd jitter, AUC-Borji and sAUC draws).

    Returns:
        dict name -> float (one map) or ``(B,)`` array (batch), in canonical order.

    Example:
        >>> import numpy as np
        >>> gt = np.random.default_rng(0).random((8, 8)); fix = gt > 0.9
        >>> sorted(compute_all(gt, fix, gt))
        ['AUC-Borji', 'AUC-Judd', 'CC', 'KLD', 'NSS', 'SIM']
    """
    given = {
        "fixation_map": fixation_map is not None,
        "saliency_map_gt": saliency_map_gt is not None,
        "other_map": other_map is not None,
        "baseline_map": baseline_map is not None,
    }
    if metrics is None:
        wanted = [m for m, info in METRICS.items() if all(given[r] for r in info.requires)]
    else:
        if isinstance(metrics, str):
            metrics = [metrics]
        wanted = []
        for m in metrics:
            name = _canonical(m)
            missing = [r for r in METRICS[name].requires if not given[r]]
            if missing:
                raise UserError(f"metric {name!r} needs {' and '.join(missing)}; got None")
            if name not in wanted:
                wanted.append(name)
        wanted = [m for m in METRICS if m in wanted]
    funcs = {
        "AUC-Judd": lambda: auc_judd(saliency_map, fixation_map, seed=seed),
        "AUC-Borji": lambda: auc_borji(saliency_map, fixation_map, seed=seed),
        "sAUC": lambda: shuffled_auc(saliency_map, fixation_map, other_map, seed=seed),
        "NSS": lambda: nss(saliency_map, fixation_map),
        "CC": lambda: cc(saliency_map, saliency_map_gt),
        "KLD": lambda: kld(saliency_map, saliency_map_gt),
        "SIM": lambda: sim(saliency_map, saliency_map_gt),
        "IG": lambda: information_gain(saliency_map, fixation_map, baseline_map),
    }
    return {name: funcs[name]() for name in wanted}

"""The one implementation of each small saliency-map kernel, in NumPy (``tfsal.kernels.ops``: the same in keras.ops).

Every metric, loss, parity check and picture that needs one of these calls it from here, so the rules for the
awkward inputs are written down once:

* :data:`EPS`: MATLAB's ``eps`` (``2**-52``), the ε of the MIT benchmark's ``KLdiv.m`` and ``InfoGain.m``
  (cvzoya/saliency; SPEC §3 writes 2.2204e-16). The package's one epsilon for divisions and logarithms of maps.
* :func:`cc` (Pearson correlation). **Constant-map policy: CC is 0 when either map is constant** (its standard
  deviation is 0; MATLAB's ``CC.m`` returns NaN). Two equal constant maps are *not* a perfect match (0, not 1):
  a constant map carries no saliency, and a parity check of two flat maps has nothing to compare.
* :func:`minmax` (min-max normalisation to [0, 1]). **Constant-map policy: a constant map becomes all zeros**
  (MATLAB: 0/0 = NaN). NaN inputs are not cleaned here (callers that accept them say so).
* :func:`minmax_density` (min-max, then divided by the sum: ``similarity.m`` / ``InfoGain.m``). **Constant-map
  policy: a constant map becomes the uniform distribution** (so a uniform baseline can be scored), except that an
  all-zero map stays all zeros when ``zero_stays_zero`` (``similarity.m``'s ``if any(map(:))``).
* :func:`resize_map`: a map resized to a size with ``cv2.resize(..., INTER_LINEAR)`` (the output map back to the
  image, or a prediction to its ground truth; MATLAB's ``imresize`` would use antialiased bicubic). The image
  resize *to the model input* is :func:`tfsal.runtime.resize_image` (``tf.image.resize(..., antialias=True)``).

Example:
    >>> import numpy as np
    >>> from tfsal import kernels
    >>> kernels.cc(np.ones((2, 2)), np.eye(2)), float(kernels.minmax(np.full((2, 2), 3.0)).max())
    (0.0, 0.0)
"""
import cv2
import numpy as np

__all__ = ["EPS", "CONSTANT_MAP_POLICY", "cc", "mean_cc", "minmax", "minmax_density", "resize_map", "is_constant",
           "dot"]

#: MATLAB ``eps`` = 2**-52 (2.2204e-16): the epsilon of ``KLdiv.m`` and ``InfoGain.m`` (cvzoya/saliency).
EPS = 2.0 ** -52

#: What each kernel returns for a constant map (the tests check every implementation against this table).
CONSTANT_MAP_POLICY = {
    "cc": 0.0,  # either map constant -> 0
    "minmax": 0.0,  # constant map -> all zeros
    "minmax_density": "uniform",  # constant map -> 1 / N everywhere (all-zero -> zeros when zero_stays_zero)
}


def dot(a, b):
    """Dot product with NumPy's own single-threaded loop (``np.dot`` goes to a multi-threaded BLAS, several times
    slower than this when the CPU cores are busy)."""
    return np.einsum("i,i->", a, b)


def is_constant(x, mean, sd):
    """True when the vector ``x`` is constant. A constant map's computed mean can be off by an ulp, which leaves a
    tiny non-zero std, so a tiny std triggers the exact ``max == min`` test."""
    return sd == 0 or (sd <= 1e-9 * abs(mean) and x.max() == x.min())


def cc(a, b):
    """Pearson correlation of two maps of the same size (``CC.m``); 0 when either is constant.

    Args:
        a: a map (any shape), cast to float64.
        b: a map with as many values.

    Returns:
        A float in [-1, 1].

    Example:
        >>> import numpy as np
        >>> cc(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 7.0])) > 0.99
        True
    """
    s = np.asarray(a, np.float64).ravel()
    g = np.asarray(b, np.float64).ravel()
    ms, mg = s.mean(), g.mean()
    ds, dg = s - ms, g - mg
    ss, gg = dot(ds, ds), dot(dg, dg)
    n1 = max(s.size - 1, 1)
    if is_constant(s, ms, np.sqrt(ss / n1)) or is_constant(g, mg, np.sqrt(gg / n1)):
        return CONSTANT_MAP_POLICY["cc"]
    # z-scoring both maps (CC.m) and corr2 = sum(a.*b)/sqrt(sum(a.*a)*sum(b.*b)) reduce to this
    return float(np.clip(dot(ds, dg) / np.sqrt(ss * gg), -1.0, 1.0))


def mean_cc(a, b):
    """Mean of :func:`cc` over two batches of maps (first axis = image), e.g. an exported model's and Keras'.

    Example:
        >>> import numpy as np
        >>> mean_cc(np.eye(3)[None], np.eye(3)[None])
        1.0
    """
    return float(np.mean([cc(x, y) for x, y in zip(a, b)]))


def minmax(x):
    """``(x - min) / (max - min)`` in float64; a constant map gives all zeros.

    Example:
        >>> import numpy as np
        >>> minmax(np.array([1.0, 3.0])).tolist(), minmax(np.ones(2)).tolist()
        ([0.0, 1.0], [0.0, 0.0])
    """
    y = np.array(x, np.float64)  # a copy: normalised in place
    mn, mx = y.min(), y.max()
    if not mx > mn:
        return np.full_like(y, CONSTANT_MAP_POLICY["minmax"])
    y -= mn
    y /= mx - mn
    return y


def minmax_density(x, zero_stays_zero=False):
    """:func:`minmax` then divided by the sum (``similarity.m``, ``InfoGain.m``); a constant map is uniform.

    Args:
        x: a map.
        zero_stays_zero: an all-zero map stays all zeros (``similarity.m``) instead of uniform (``InfoGain.m``).

    Returns:
        A float64 map that sums to 1 (or all zeros).

    Example:
        >>> import numpy as np
        >>> minmax_density(np.ones(4)).tolist()
        [0.25, 0.25, 0.25, 0.25]
    """
    y = np.asarray(x, np.float64)
    mn, mx = y.min(), y.max()
    if zero_stays_zero and mn == 0 and mx == 0:
        return np.zeros_like(y)
    if not mx > mn:
        return np.full(y.shape, 1.0 / y.size)
    y = y - mn  # a copy, then in place (as minmax, without a second min/max pass)
    y /= mx - mn
    y /= y.sum()
    return y


def resize_map(saliency_map, shape):
    """A 2-D map resized to ``shape = (H, W)`` with ``cv2.resize(..., INTER_LINEAR)`` (float64 in, float64 out).

    Example:
        >>> import numpy as np
        >>> resize_map(np.ones((2, 3)), (4, 6)).shape
        (4, 6)
    """
    m = np.asarray(saliency_map)
    if m.shape == tuple(shape):
        return m
    return cv2.resize(np.ascontiguousarray(m), (int(shape[1]), int(shape[0])), interpolation=cv2.INTER_LINEAR)

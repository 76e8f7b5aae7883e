"""The kernels of :mod:`tfsal.kernels` in ``keras.ops`` (batched, differentiable), with the same constant-map rules.

Each function reduces over ``axis`` (the pixels of one image) and returns one value per image.

Example:
    >>> import numpy as np
    >>> from tfsal.kernels import ops as kops
    >>> [float(v) for v in kops.cc(np.ones((1, 4)), np.arange(4.0)[None], axis=1)]
    [0.0]
"""
from keras import ops

from tfsal.kernels import CONSTANT_MAP_POLICY, EPS

__all__ = ["EPS", "cc", "minmax", "minmax_density", "sum_normalise", "is_constant"]


def is_constant(x, axis, keepdims=False):
    """Per image: ``max == min`` over ``axis`` (exact, unlike a tiny computed standard deviation)."""
    return ops.equal(ops.max(x, axis=axis, keepdims=keepdims), ops.min(x, axis=axis, keepdims=keepdims))


def cc(x, y, axis):
    """Pearson correlation per image of two batches, as :func:`tfsal.kernels.cc`: 0 when either map is constant.

    Args:
        x: a float tensor, e.g. ``(B, H, W, 1)`` or ``(B, N)``.
        y: a tensor of the same shape and dtype.
        axis: the pixel axes, e.g. ``(1, 2, 3)`` or ``1``.

    Returns:
        ``(B,)`` in [-1, 1]; gradients are finite everywhere (the constant case divides by 1).

    Example:
        >>> import numpy as np
        >>> round(float(cc(np.array([[1.0, 2.0, 4.0]]), np.array([[2.0, 4.0, 8.0]]), axis=1)[0]), 5)
        1.0
    """
    dx = x - ops.mean(x, axis=axis, keepdims=True)
    dy = y - ops.mean(y, axis=axis, keepdims=True)
    num = ops.sum(dx * dy, axis=axis)
    den = ops.sqrt(ops.sum(dx * dx, axis=axis) * ops.sum(dy * dy, axis=axis))
    ok = ops.logical_and(ops.logical_not(ops.logical_or(is_constant(x, axis), is_constant(y, axis))),
                         ops.greater(den, 0))
    value = num / ops.where(ok, den, ops.ones_like(den))
    return ops.clip(ops.where(ok, value, ops.full_like(value, CONSTANT_MAP_POLICY["cc"])), -1.0, 1.0)


def minmax(x, axis):
    """Min-max normalisation per image to [0, 1], as :func:`tfsal.kernels.minmax`: a constant map gives zeros.

    Args:
        x: a float tensor.
        axis: the pixel axes.

    Returns:
        A tensor of ``x``'s shape.

    Example:
        >>> import numpy as np
        >>> [float(v) for v in minmax(np.array([[1.0, 3.0], [2.0, 2.0]]), axis=1).numpy().ravel()]
        [0.0, 1.0, 0.0, 0.0]
    """
    lo = ops.min(x, axis=axis, keepdims=True)
    rng = ops.max(x, axis=axis, keepdims=True) - lo
    varying = ops.greater(rng, 0)
    return ops.where(varying, (x - lo) / ops.where(varying, rng, ops.ones_like(rng)),
                     ops.full_like(x, CONSTANT_MAP_POLICY["minmax"]))


def sum_normalise(x, axis):
    """``x / sum(x)`` per image where the map has a non-zero value; an all-zero map stays zero (``KLdiv.m``)."""
    total = ops.sum(x, axis=axis, keepdims=True)
    nonzero = ops.any(ops.not_equal(x, 0), axis=axis, keepdims=True)
    return ops.where(nonzero, x / ops.where(ops.equal(total, 0), ops.ones_like(total), total), x)


def minmax_density(x, axis, zero_stays_zero=False):
    """:func:`minmax` then :func:`sum_normalise`, as :func:`tfsal.kernels.minmax_density`: a constant map is uniform
    (an all-zero map stays zero when ``zero_stays_zero``).

    Example:
        >>> import numpy as np
        >>> [float(v) for v in minmax_density(np.ones((1, 4)), axis=1).numpy().ravel()]
        [0.25, 0.25, 0.25, 0.25]
    """
    y = ops.where(is_constant(x, axis, keepdims=True), ops.ones_like(x), minmax(x, axis))
    if zero_stays_zero:
        y = ops.where(ops.any(ops.not_equal(x, 0), axis=axis, keepdims=True), y, ops.zeros_like(x))
    return sum_normalise(y, axis)

"""Fixation maps, their Gaussian blur and the centre-bias map (NumPy and TensorFlow versions that agree).

Coordinate convention used everywhere in :mod:`tfsal.data`: fixations are ``(x, y)`` in *continuous* pixel units of
the original image, ``0 ≤ x ≤ W``, where pixel ``j`` (0-based) covers ``[j, j + 1)``. A 1-based MATLAB coordinate
``x`` becomes ``x - 0.5``. Normalised coordinates divide by ``(W, H)``; at a map of width ``w`` the fixation lands in
pixel ``min(floor(x_n · w), w - 1)``. Resizing therefore keeps images, maps and fixations consistent.
"""
import math

import cv2
import numpy as np

from tfsal.errors import UserError

__all__ = ["DEFAULT_BLUR_SIGMA", "fixation_map", "blur_map", "saliency_map_from_fixations", "centre_bias_map"]

# Blur of the continuous ground-truth map, as a fraction of the map width. OSIE's common choice is σ ≈ 24 px at
# 800×600, about one degree of visual angle (shared/data/README.md; Xu et al. 2014) → 24 / 800 = 0.03.
DEFAULT_BLUR_SIGMA = 0.03


def _kernel_radius(sigma_px):
    # Truncate the Gaussian at 3σ (as MATLAB's fspecial-based benchmark code and cv2 do for their defaults).
    return max(1, int(math.ceil(3.0 * sigma_px)))


def fixation_map(points, shape):
    """Binary fixation map from normalised fixation coordinates.

    Args:
        points: ``(N, 2)`` array of ``(x, y)`` in [0, 1] (normalised by image width/height).
        shape: ``(h, w)`` of the map.

    Returns:
        ``float32`` array ``(h, w)`` with 1 at fixated pixels (a pixel fixated twice counts once).

    Example:
        >>> fixation_map(np.array([[0.5, 0.5]]), (4, 4))[2, 2]
        1.0
    """
    h, w = int(shape[0]), int(shape[1])
    out = np.zeros((h, w), np.float32)
    if len(np.asarray(points).reshape(-1, 2)):
        rows, cols = _pixel_indices(points, h, w)
        out[rows, cols] = 1.0
    return out


def _pixel_indices(points, h, w):
    """Row and column of normalised points at an ``h × w`` map, computed in float32 exactly as the TF pipeline."""
    pts = np.asarray(points, np.float32).reshape(-1, 2)
    cols = np.clip(np.floor(pts[:, 0] * np.float32(w)).astype(np.int64), 0, w - 1)
    rows = np.clip(np.floor(pts[:, 1] * np.float32(h)).astype(np.int64), 0, h - 1)
    return rows, cols


def blur_map(fixmap, sigma_px):
    """Gaussian blur with zero padding outside the image (matches the in-graph TensorFlow blur).

    Args:
        fixmap: ``(h, w)`` array.
        sigma_px: standard deviation in pixels of this map.

    Returns:
        ``float32`` blurred map (not normalised).
    """
    r = _kernel_radius(sigma_px)
    return cv2.GaussianBlur(
        np.asarray(fixmap, np.float32), (2 * r + 1, 2 * r + 1), sigma_px, sigmaY=sigma_px,
        borderType=cv2.BORDER_CONSTANT,
    )


def saliency_map_from_fixations(points, shape, sigma=DEFAULT_BLUR_SIGMA):
    """Continuous saliency map: the fixation map blurred by σ = ``sigma`` × map width, max-normalised to [0, 1].

    Args:
        points: ``(N, 2)`` normalised ``(x, y)`` fixations.
        shape: ``(h, w)`` of the map.
        sigma: blur as a fraction of the map width (:data:`DEFAULT_BLUR_SIGMA` ≈ 1° for OSIE).

    Returns:
        ``float32`` array ``(h, w)`` in [0, 1] (all zeros when there are no fixations).
    """
    m = blur_map(fixation_map(points, shape), sigma * shape[1])
    peak = m.max()
    return m / peak if peak > 0 else m


def centre_bias_map(point_sets, shape, sigma=DEFAULT_BLUR_SIGMA):
    """Centre-bias map: all training fixations pooled (each image weighted equally), blurred, max-normalised.

    Args:
        point_sets: iterable of ``(N_i, 2)`` normalised fixation arrays, one per training image.
        shape: ``(h, w)`` of the map.
        sigma: blur as a fraction of the map width.

    Returns:
        ``float32`` array ``(h, w)`` in [0, 1].

    Raises:
        ValueError: no fixations at all were given.

    Example:
        >>> cb = centre_bias_map([np.array([[0.5, 0.5]])], (12, 16))
        >>> float(cb.max())
        1.0
    """
    h, w = int(shape[0]), int(shape[1])
    acc = np.zeros((h, w), np.float64)
    count = 0
    for pts in point_sets:
        pts = np.asarray(pts, np.float32).reshape(-1, 2)
        if not len(pts):
            continue
        rows, cols = _pixel_indices(pts, h, w)
        np.add.at(acc, (rows, cols), 1.0 / len(pts))
        count += 1
    if count == 0:
        raise UserError("centre_bias_map: expected fixations from at least one image; got none")
    m = blur_map(acc.astype(np.float32), sigma * w)
    return (m / m.max()).astype(np.float32)


def tf_saliency_targets(points, num_points, shape, sigma=DEFAULT_BLUR_SIGMA):
    """TensorFlow version of :func:`fixation_map` + :func:`saliency_map_from_fixations` for one example.

    Args:
        points: ``(N_max, 2)`` float tensor of normalised ``(x, y)``, padded.
        num_points: scalar int tensor, the number of valid rows of ``points``.
        shape: static ``(h, w)`` python ints.
        sigma: blur as a fraction of the map width.

    Returns:
        ``(saliency_map, fixation_map)``, each ``(h, w, 1)`` float32; the saliency map is max-normalised.
    """
    import tensorflow as tf

    h, w = int(shape[0]), int(shape[1])
    pts = points[:num_points]
    cols = tf.clip_by_value(tf.cast(tf.floor(pts[:, 0] * w), tf.int32), 0, w - 1)
    rows = tf.clip_by_value(tf.cast(tf.floor(pts[:, 1] * h), tf.int32), 0, h - 1)
    idx = tf.stack([rows, cols], axis=1)
    fix = tf.tensor_scatter_nd_update(tf.zeros((h, w), tf.float32), idx, tf.ones_like(rows, tf.float32))
    sigma_px = sigma * w
    r = _kernel_radius(sigma_px)
    t = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-(t**2) / (2 * sigma_px**2))
    k = (k / k.sum()).astype(np.float32)
    x = fix[None, :, :, None]
    x = tf.nn.conv2d(x, k.reshape(1, -1, 1, 1), strides=1, padding="SAME")
    x = tf.nn.conv2d(x, k.reshape(-1, 1, 1, 1), strides=1, padding="SAME")
    sal = x[0]
    sal = tf.math.divide_no_nan(sal, tf.reduce_max(sal))
    return sal, fix[:, :, None]

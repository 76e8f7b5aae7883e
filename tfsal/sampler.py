"""Saliency-based sampling ("Learning to Zoom", Recasens et al. 2018, seed 003): :class:`SaliencySampler` and
:func:`zoom_classifier` (SPEC §1.6).

The sampler follows the reference implementation (recasens/Saliency-Sampler, ``saliency_sampler.py``) exactly:

1. the saliency map is resized to a ``grid_size × grid_size`` grid (31×31) and normalised with a softmax over all
   grid cells;
2. it is replication-padded by ``padding_size`` (30) cells → 91×91;
3. a fixed, *unnormalised* ``(2·padding_size + 1)²`` (61×61) Gaussian ``k = exp(-4·ln2·r²/fwhm²)`` (FWHM 13 cells)
   is applied as a *valid* convolution (→ 31×31);
4. the coordinate bases on the padded grid are the reference's ``P[0,i,j] = (j − 30)/30`` (x, along the width) and
   ``P[1,i,j] = (i − 30)/30`` (y, along the height), i.e. ``(index − padding_size) / (grid_size − 1)``, so the
   un-padded cells span [0, 1] and the padding spans [−1, 0) and (1, 2];
5. ``u = conv(S·Px, k) / conv(S, k)``, ``v = conv(S·Py, k) / conv(S, k)``;
6. sampling coordinates ``2u − 1``, ``2v − 1`` clamped to [−1, 1], bilinearly upsampled to the output size, and the
   (high-resolution) image is sampled bilinearly at them.

Implementation notes (the maths is the reference's; only the way it is computed differs):

* The Gaussian is separable (``exp(-c(dx² + dy²)) = exp(-c dx²)·exp(-c dy²)``) and replication padding and the
  coordinate bases are linear maps, so steps 2–5 are computed exactly as small constant matrix products:
  with ``K`` the ``31×91`` valid-correlation matrix of the 1-D Gaussian, ``R`` the ``91×31`` replication-padding
  matrix and ``p`` the 1-D coordinate basis, ``A = K·R`` and ``B = K·diag(p)·R`` give
  ``conv(pad(S), k) = A S Aᵀ``, ``conv(pad(S)·Px, k) = A S Bᵀ`` and ``conv(pad(S)·Py, k) = B S Aᵀ``.
  The tests check this against a direct pad-then-61×61-convolution implementation.
* **Align-corners.** The reference was written for PyTorch ≤ 0.4, where ``nn.Upsample(mode="bilinear")`` and
  ``F.grid_sample`` both behaved as ``align_corners=True``; this layer uses that convention throughout: the grid is
  upsampled with corner-aligned bilinear interpolation (output pixel ``o`` reads grid position
  ``o·(grid_size − 1)/(out − 1)``) and sampling coordinate −1/+1 is the *centre* of the first/last input pixel
  (``x = (g + 1)/2 · (W − 1)``). With a uniform saliency map the sampler is therefore exactly a corner-aligned
  bilinear resize of the image. Coordinates are clamped, so no sample falls outside the image (the reference's
  ``padding_mode="zeros"`` never applies).
* Bilinear sampling is written with four ``gather`` ops on the flattened image (builtin TFLite ``GATHER``); the
  grid upsampling is two constant matrix products. The layer converts to TFLite with builtin ops only.
* The resize of the saliency map to the grid (step 1) uses ``keras.ops.image.resize`` (half-pixel bilinear,
  builtin ``RESIZE_BILINEAR``); it is skipped when the map already has the grid size.
* All of the sampler's arithmetic runs in float32 (also under mixed precision).

Not implemented (training tricks of the reference, to be done in the training loop if wanted): the random
down-then-up-sampling of the sampled image early in training, and small learning-rate multipliers for the saliency
net.
"""
import math

import keras
import numpy as np
from keras import layers, ops

from tfsal.errors import UserError

__all__ = ["SaliencySampler", "zoom_classifier", "reference_grid"]


def _gaussian_1d(padding_size, fwhm):
    t = np.arange(2 * padding_size + 1, dtype=np.float64) - padding_size
    return np.exp(-4.0 * math.log(2.0) * t**2 / float(fwhm) ** 2)


def _grid_matrices(grid_size, padding_size, fwhm):
    """The constant ``A = K R`` and ``B = K diag(p) R`` (both ``grid_size × grid_size``, float64)."""
    n, pad = grid_size, padding_size
    length = n + 2 * pad
    g = _gaussian_1d(pad, fwhm)
    k = np.zeros((n, length))
    for a in range(n):
        k[a, a : a + 2 * pad + 1] = g
    r = np.zeros((length, n))
    r[np.arange(length), np.clip(np.arange(length) - pad, 0, n - 1)] = 1.0
    p = (np.arange(length) - pad) / (n - 1)
    return k @ r, k @ np.diag(p) @ r


def _align_corners_matrix(out_size, in_size):
    """``(out_size, in_size)`` matrix of corner-aligned 1-D linear interpolation."""
    m = np.zeros((out_size, in_size))
    if in_size == 1:
        m[:, 0] = 1.0
        return m
    pos = np.arange(out_size) * (in_size - 1) / max(out_size - 1, 1)
    lo = np.clip(np.floor(pos).astype(int), 0, in_size - 2)
    w = pos - lo
    m[np.arange(out_size), lo] = 1.0 - w
    m[np.arange(out_size), lo + 1] += w
    return m


def reference_grid(saliency, grid_size=31, padding_size=30, fwhm=13.0):
    """NumPy version of the reference's grid computation, written the direct way (pad, 2-D valid convolution).

    Used by the tests to check :class:`SaliencySampler`; handy for inspection.

    Args:
        saliency: ``(grid_size, grid_size)`` array of *normalised* saliency (sums to 1).
        grid_size: grid side (31 in the reference).
        padding_size: replication padding (30).
        fwhm: Gaussian full width at half maximum, in grid cells (13).

    Returns:
        ``(grid_size, grid_size, 2)`` sampling coordinates ``(x, y)`` in [−1, 1] before upsampling.

    Example:
        >>> import numpy as np
        >>> g = reference_grid(np.full((31, 31), 1 / 961))
        >>> bool(np.allclose(g[0, :, 0], np.linspace(-1, 1, 31)))
        True
    """
    s = np.asarray(saliency, dtype=np.float64)
    if s.shape != (grid_size, grid_size):
        raise UserError(f"saliency must have shape {(grid_size, grid_size)}; got {s.shape}")
    pad, n = padding_size, grid_size
    sp = np.pad(s, pad, mode="edge")
    idx = np.arange(n + 2 * pad) - pad
    px = np.broadcast_to(idx[None, :] / (n - 1), sp.shape)
    py = np.broadcast_to(idx[:, None] / (n - 1), sp.shape)
    g = _gaussian_1d(pad, fwhm)
    k2 = np.outer(g, g)
    size = 2 * pad + 1
    den = np.zeros((n, n))
    nx = np.zeros((n, n))
    ny = np.zeros((n, n))
    for a in range(n):
        for b in range(n):
            win = sp[a : a + size, b : b + size]
            den[a, b] = (win * k2).sum()
            nx[a, b] = (win * px[a : a + size, b : b + size] * k2).sum()
            ny[a, b] = (win * py[a : a + size, b : b + size] * k2).sum()
    x = np.clip(nx / den * 2 - 1, -1, 1)
    y = np.clip(ny / den * 2 - 1, -1, 1)
    return np.stack([x, y], axis=-1)


@keras.saving.register_keras_serializable(package="tfsal")
class SaliencySampler(keras.layers.Layer):
    """Saliency-based image sampler of "Learning to Zoom" (reference formulation; see the module docstring).

    Called on ``[image, saliency]``: ``image`` is the full-resolution ``(B, H, W, C)`` tensor to sample from,
    ``saliency`` a ``(B, h, w, 1)`` (or ``(B, h, w)``) map of any size, e.g. the output of a saliency net run on a
    low-resolution copy. The output ``(B, out_h, out_w, C)`` samples ``image`` densely where ``saliency`` is high.

    Align-corners handling: corner-aligned throughout (as the reference under PyTorch ≤ 0.4), so a uniform
    saliency map gives exactly a corner-aligned bilinear resize of ``image`` (no antialiasing).

    Args:
        output_size: ``(out_h, out_w)`` of the sampled image.
        grid_size: side of the saliency grid (31 in the reference).
        padding_size: replication padding of the grid; the Gaussian is ``2·padding_size + 1`` wide (30 → 61).
        fwhm: full width at half maximum of the Gaussian, in grid cells (13).
        normalization: ``"softmax"`` (the reference: the map holds logits, softmax over all grid cells) or
            ``"sum"`` (the map is non-negative, e.g. a tfsal saliency map in [0, 1], and is divided by its sum).

    Returns:
        A layer mapping ``[image (B, H, W, C), saliency (B, h, w, 1)]`` to ``(B, out_h, out_w, C)``; it is
        differentiable with respect to both inputs and converts to TFLite with builtin ops only.

    Example:
        >>> import numpy as np
        >>> sampler = SaliencySampler(output_size=(32, 32))
        >>> image = np.random.rand(2, 128, 128, 3).astype("float32")
        >>> logits = np.zeros((2, 16, 16, 1), "float32")
        >>> sampler([image, logits]).shape
        (2, 32, 32, 3)
    """

    def __init__(self, output_size, grid_size=31, padding_size=30, fwhm=13.0, normalization="softmax", **kwargs):
        super().__init__(**kwargs)
        try:
            out_h, out_w = (int(v) for v in output_size)
        except (TypeError, ValueError):
            raise UserError(f"SaliencySampler: output_size must be (height, width); got {output_size!r}") from None
        if out_h < 1 or out_w < 1:
            raise UserError(f"SaliencySampler: output_size must be positive; got {output_size!r}")
        if int(grid_size) < 2 or int(padding_size) < 0 or float(fwhm) <= 0:
            raise UserError(
                "SaliencySampler: need grid_size >= 2, padding_size >= 0, fwhm > 0; "
                f"got grid_size={grid_size!r}, padding_size={padding_size!r}, fwhm={fwhm!r}"
            )
        if normalization not in ("softmax", "sum"):
            raise UserError(f"SaliencySampler: normalization must be 'softmax' or 'sum'; got {normalization!r}")
        self.output_size = (out_h, out_w)
        self.grid_size = int(grid_size)
        self.padding_size = int(padding_size)
        self.fwhm = float(fwhm)
        self.normalization = normalization
        a, b = _grid_matrices(self.grid_size, self.padding_size, self.fwhm)
        self._a = a.astype("float32")
        self._b = b.astype("float32")
        self._uh = _align_corners_matrix(out_h, self.grid_size).astype("float32")
        self._uw = _align_corners_matrix(out_w, self.grid_size).astype("float32")

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
            raise UserError(f"SaliencySampler is called on [image, saliency]; got input shape {input_shape!r}")
        image_shape, sal_shape = input_shape
        if len(image_shape) != 4 or image_shape[1] is None or image_shape[2] is None:
            raise UserError(
                f"SaliencySampler: image must be (B, H, W, C) with known H and W; got {tuple(image_shape)!r}"
            )
        if len(sal_shape) == 4 and sal_shape[-1] not in (1, None):
            raise UserError(f"SaliencySampler: saliency must have 1 channel; got shape {tuple(sal_shape)!r}")
        if len(sal_shape) not in (3, 4):
            raise UserError(f"SaliencySampler: saliency must be (B, h, w[, 1]); got shape {tuple(sal_shape)!r}")

    def normalized_saliency(self, saliency):
        """The saliency map on the grid, normalised to sum to 1: ``(B, grid_size, grid_size)`` float32."""
        s = ops.cast(saliency, "float32")
        if len(s.shape) == 3:
            s = ops.expand_dims(s, -1)
        n = self.grid_size
        if tuple(s.shape[1:3]) != (n, n):
            s = ops.image.resize(s, (n, n), interpolation="bilinear", antialias=False)
        s = ops.reshape(s, (-1, n * n))
        if self.normalization == "softmax":
            s = ops.softmax(s, axis=-1)
        else:
            s = ops.relu(s) + 1e-12
            s = s / ops.sum(s, axis=-1, keepdims=True)
        return ops.reshape(s, (-1, n, n))

    def compute_grid(self, saliency):
        """Sampling coordinates for a saliency map.

        Args:
            saliency: ``(B, h, w, 1)`` map (logits for ``normalization="softmax"``).

        Returns:
            ``(B, out_h, out_w, 2)`` float32 coordinates ``(x, y)`` in [−1, 1]; −1/+1 are the centres of the first
            and last pixel of the image.
        """
        s = self.normalized_saliency(saliency)
        a = ops.convert_to_tensor(self._a[None])
        b = ops.convert_to_tensor(self._b[None])
        at = ops.convert_to_tensor(self._a.T[None])
        bt = ops.convert_to_tensor(self._b.T[None])
        as_ = ops.matmul(a, s)
        den = ops.matmul(as_, at)
        u = ops.matmul(as_, bt) / den
        v = ops.matmul(ops.matmul(b, s), at) / den
        gx = ops.clip(u * 2.0 - 1.0, -1.0, 1.0)
        gy = ops.clip(v * 2.0 - 1.0, -1.0, 1.0)
        uh = ops.convert_to_tensor(self._uh[None])
        uwt = ops.convert_to_tensor(self._uw.T[None])
        gx = ops.matmul(ops.matmul(uh, gx), uwt)
        gy = ops.matmul(ops.matmul(uh, gy), uwt)
        return ops.stack([gx, gy], axis=-1)

    def call(self, inputs):
        image, saliency = inputs
        grid = self.compute_grid(saliency)
        return ops.cast(_bilinear_sample(ops.cast(image, "float32"), grid), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        image_shape = input_shape[0]
        return (image_shape[0], *self.output_size, image_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "output_size": list(self.output_size),
                "grid_size": self.grid_size,
                "padding_size": self.padding_size,
                "fwhm": self.fwhm,
                "normalization": self.normalization,
            }
        )
        return config


def _bilinear_sample(image, grid):
    """Sample ``image`` (B, H, W, C) at corner-aligned coordinates ``grid`` (B, h, w, 2) in [−1, 1], with gathers."""
    height, width, channels = image.shape[1], image.shape[2], image.shape[3]
    x = (grid[..., 0] + 1.0) * (0.5 * (width - 1))
    y = (grid[..., 1] + 1.0) * (0.5 * (height - 1))
    x0 = ops.floor(x)
    y0 = ops.floor(y)
    wx = ops.expand_dims(x - x0, -1)
    wy = ops.expand_dims(y - y0, -1)
    x0 = ops.clip(ops.cast(x0, "int32"), 0, width - 1)
    y0 = ops.clip(ops.cast(y0, "int32"), 0, height - 1)
    x1 = ops.minimum(x0 + 1, width - 1)
    y1 = ops.minimum(y0 + 1, height - 1)
    batch = ops.shape(image)[0]
    flat = ops.reshape(image, (-1, channels))
    base = ops.reshape(ops.arange(batch, dtype="int32") * (height * width), (-1, 1, 1))

    def gather(yi, xi):
        return ops.take(flat, base + yi * width + xi, axis=0)

    top = gather(y0, x0) * (1.0 - wx) + gather(y0, x1) * wx
    bottom = gather(y1, x0) * (1.0 - wx) + gather(y1, x1) * wx
    return top * (1.0 - wy) + bottom * wy


def zoom_classifier(
    saliency_net,
    task_net,
    input_shape,
    low_res=None,
    grid_size=31,
    padding_size=30,
    fwhm=13.0,
    normalization="softmax",
    name="zoom_classifier",
):
    """Wire a "Learning to Zoom" model: high-res image → low-res copy → saliency net → sampler → task net.

    The low-resolution copy ``I_l`` is an average pooling of the input when the size ratios are integers (as the
    reference's ``AdaptiveAvgPool2d``), otherwise a bilinear resize. The saliency net sees ``I_l``; the
    :class:`SaliencySampler` (layer ``zoom_sampler``) samples the **full-resolution** input at ``I_l``'s size
    according to the net's map; the task net classifies the sampled image.

    Args:
        saliency_net: a ``keras.Model`` taking ``(low_h, low_w, C)`` and returning a ``(h, w, 1)`` map of any size
            (logits for ``normalization="softmax"``, as the reference).
        task_net: a ``keras.Model`` taking ``(low_h, low_w, C)``.
        input_shape: ``(H, W, C)`` of the high-resolution input.
        low_res: ``(low_h, low_w)``; defaults to ``task_net``'s input size.
        grid_size, padding_size, fwhm, normalization: passed to :class:`SaliencySampler`.
        name: the Keras model name.

    Returns:
        A functional ``keras.Model`` from ``(B, H, W, C)`` to ``task_net``'s output. The sampled image is the output
        of layer ``zoom_sampler`` and the low-res copy that of ``zoom_lowres``.

    Example:
        >>> import keras
        >>> sal = keras.Sequential([keras.Input((32, 32, 1)), keras.layers.Conv2D(1, 3, padding="same")])
        >>> task = keras.Sequential([keras.Input((32, 32, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
        >>> model = zoom_classifier(sal, task, input_shape=(128, 128, 1))
        >>> model.output_shape
        (None, 10)
    """
    try:
        high_h, high_w, channels = (int(v) for v in input_shape)
    except (TypeError, ValueError):
        raise UserError(
            f"zoom_classifier: input_shape must be (height, width, channels); got {input_shape!r}"
        ) from None
    task_in = tuple(task_net.input_shape[1:])
    if low_res is None:
        low_res = task_in[:2]
    try:
        low_h, low_w = (int(v) for v in low_res)
    except (TypeError, ValueError):
        raise UserError(f"zoom_classifier: low_res must be (height, width); got {low_res!r}") from None
    if task_in[:2] != (low_h, low_w) or task_in[2] not in (None, channels):
        raise UserError(
            f"zoom_classifier: task_net must take {(low_h, low_w, channels)}; its input shape is {task_in!r}"
        )
    sal_in = tuple(saliency_net.input_shape[1:])
    if sal_in[:2] not in ((low_h, low_w), (None, None)) or sal_in[2] not in (None, channels):
        raise UserError(
            f"zoom_classifier: saliency_net must take {(low_h, low_w, channels)}; its input shape is {sal_in!r}"
        )
    inputs = keras.Input(shape=(high_h, high_w, channels), name="image")
    if high_h % low_h == 0 and high_w % low_w == 0:
        pool = (high_h // low_h, high_w // low_w)
        low = layers.AveragePooling2D(pool, strides=pool, name="zoom_lowres")(inputs)
    else:
        low = layers.Resizing(low_h, low_w, interpolation="bilinear", name="zoom_lowres")(inputs)
    saliency = saliency_net(low)
    sampled = SaliencySampler(
        (low_h, low_w),
        grid_size=grid_size,
        padding_size=padding_size,
        fwhm=fwhm,
        normalization=normalization,
        name="zoom_sampler",
    )([inputs, saliency])
    outputs = task_net(sampled)
    return keras.Model(inputs, outputs, name=name)

"""Custom Keras layers used by tfsal models.

Every layer follows the keras-hub pattern: ``__init__`` stores its arguments, ``call`` uses ``keras.ops`` only, and
``get_config`` returns exactly the init arguments, so models that use them save and load as ``.keras`` files.
"""
import math

import keras
import numpy as np
from keras import ops

from tfsal.errors import UserError

__all__ = ["DepthToSpace", "ResizeBilinear", "OutputBlur", "gaussian_kernel_1d", "blur_matrix", "FlipHorizontal",
           "LearnedLogPrior"]

# Kernel radius in standard deviations (the kernel covers ±3σ; OpenCV's default for float images is the same).
BLUR_TRUNCATE = 3.0


@keras.saving.register_keras_serializable(package="tfsal")
class DepthToSpace(keras.layers.Layer):
    """Sub-pixel upsampling: ``H×W×C → (bH)×(bW)×(C/b²)`` (PyTorch ``PixelShuffle(b)``).

    Lowers to the builtin TFLite op ``DEPTH_TO_SPACE``.

    Args:
        block_size: upsampling factor ``b`` (FastSal uses 2).

    Returns:
        A layer mapping ``(B, H, W, C)`` to ``(B, bH, bW, C / b²)``; ``C`` must be divisible by ``b²``.

    Example:
        >>> import numpy as np
        >>> DepthToSpace(2)(np.zeros((1, 4, 4, 8), "float32")).shape
        (1, 8, 8, 2)
    """

    def __init__(self, block_size=2, **kwargs):
        super().__init__(**kwargs)
        self.block_size = int(block_size)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is not None and channels % (self.block_size**2):
            raise UserError(
                f"DepthToSpace({self.block_size}) needs channels divisible by {self.block_size ** 2}; "
                f"got input shape {tuple(input_shape)}"
            )

    def call(self, inputs):
        return ops.depth_to_space(inputs, self.block_size, data_format="channels_last")

    def compute_output_shape(self, input_shape):
        b = self.block_size
        h, w, c = input_shape[1:]
        return (
            input_shape[0],
            None if h is None else h * b,
            None if w is None else w * b,
            None if c is None else c // (b * b),
        )

    def get_config(self):
        config = super().get_config()
        config.update({"block_size": self.block_size})
        return config


@keras.saving.register_keras_serializable(package="tfsal")
class ResizeBilinear(keras.layers.Layer):
    """Bilinear resize by an integer factor (half-pixel centres, as PyTorch ``align_corners=False``).

    Args:
        scale: integer upsampling factor applied to height and width.

    Returns:
        A layer mapping ``(B, H, W, C)`` to ``(B, scale·H, scale·W, C)``.

    Example:
        >>> import numpy as np
        >>> ResizeBilinear(4)(np.zeros((1, 3, 5, 2), "float32")).shape
        (1, 12, 20, 2)
    """

    def __init__(self, scale=2, **kwargs):
        super().__init__(**kwargs)
        self.scale = int(scale)

    def call(self, inputs):
        shape = ops.shape(inputs)
        size = (shape[1] * self.scale, shape[2] * self.scale)
        return ops.image.resize(inputs, size, interpolation="bilinear", antialias=False)

    def compute_output_shape(self, input_shape):
        h, w = input_shape[1:3]
        return (
            input_shape[0],
            None if h is None else h * self.scale,
            None if w is None else w * self.scale,
            input_shape[3],
        )

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale})
        return config


def gaussian_kernel_1d(sigma, truncate=BLUR_TRUNCATE):
    """A normalised 1-D Gaussian of standard deviation ``sigma`` pixels, radius ``ceil(truncate·sigma)``.

    Example:
        >>> k = gaussian_kernel_1d(1.0)
        >>> len(k), round(float(k.sum()), 6)
        (7, 1.0)
    """
    radius = max(1, int(math.ceil(truncate * float(sigma))))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / float(sigma)) ** 2)
    return (k / k.sum()).astype(np.float32)


def blur_matrix(n, sigma, truncate=BLUR_TRUNCATE):
    """The ``(n, n)`` matrix ``M`` of a zero-padded 1-D blur along an axis of length ``n``: ``y = M @ x``.

    ``M[i, j] = k[j - i + r]`` for ``|j - i| <= r`` (``k`` = :func:`gaussian_kernel_1d`, radius ``r``), else 0: the
    same sums as a ``'same'`` convolution with ``k`` and zero padding (``M`` is symmetric, as ``k`` is).

    Example:
        >>> m = blur_matrix(5, 1.0)
        >>> m.shape, bool(np.allclose(m, m.T)), round(float(m[2].sum()), 6)
        ((5, 5), True, 0.991134)
    """
    k = gaussian_kernel_1d(sigma, truncate).astype(np.float64)
    r = len(k) // 2
    offset = np.arange(n)[None, :] - np.arange(n)[:, None]  # j - i
    inside = np.abs(offset) <= r
    return np.where(inside, k[np.clip(offset + r, 0, 2 * r)], 0.0).astype(np.float32)


@keras.saving.register_keras_serializable(package="tfsal")
class OutputBlur(keras.layers.Layer):
    """A fixed Gaussian blur of each channel, σ in pixels, zero padding: two matrix products ``Mh · X · Mwᵀ``.

    Not :class:`tfsal.models.deepgaze2.GaussianBlur` (σ as a fraction of the width, reflect padding, one channel),
    which keeps its own registered name for the ``.keras`` files that use it.

    The usual final smoothing of saliency maps: it removes pixel-level (e.g. ``depth_to_space`` checkerboard)
    structure that KLD, CC and NSS punish. Zero padding darkens a border of about ``σ`` pixels, a mild centre bias.
    It has no trainable weights. The separable blur (the 1-D kernel :func:`gaussian_kernel_1d`, radius
    ``ceil(3σ)``) runs as a product with the banded matrix :func:`blur_matrix` along W, then along H: builtin
    TFLite ``FULLY_CONNECTED`` (+ ``TRANSPOSE``/``RESHAPE``) ops whose cost does not grow with σ. The same sums
    as two ``'same'`` depthwise convolutions (1×k, k×1: the layer's earlier form, kept for an H or W unknown when
    the layer is built), which LiteRT runs slowly on a 1-channel map: a 192×256 map, σ = 8 (49 taps), 1 thread,
    int8 25.5 ms (13.8 ms without XNNPACK), float32 10.5 ms; as matrix products 0.12 and 0.34 ms
    (``benchmarks/bench_blur.py``).

    Args:
        sigma: standard deviation in pixels of the layer's input.

    Returns:
        A layer mapping ``(B, H, W, C)`` to the same shape.

    Example:
        >>> import numpy as np
        >>> x = np.zeros((1, 9, 9, 1), "float32"); x[0, 4, 4, 0] = 1.0
        >>> y = np.asarray(OutputBlur(1.0)(x))
        >>> round(float(y.sum()), 4), bool(y[0, 4, 4, 0] < 1)
        (1.0, True)
    """

    def __init__(self, sigma=1.0, **kwargs):
        super().__init__(**kwargs)
        if not float(sigma) > 0:
            raise ValueError(f"OutputBlur sigma must be > 0 pixels; got {sigma!r}")
        self.sigma = float(sigma)

    def build(self, input_shape):
        self._hwc = tuple(None if d is None else int(d) for d in input_shape[1:4])

    def call(self, inputs):
        h, w, ch = self._hwc
        if h is None or w is None or ch is None:
            return _depthwise_blur(inputs, self.sigma, int(inputs.shape[-1]))
        mw = ops.convert_to_tensor(blur_matrix(w, self.sigma).T, dtype=inputs.dtype)
        mh = ops.convert_to_tensor(blur_matrix(h, self.sigma).T, dtype=inputs.dtype)
        if ch == 1:  # (B, H, W) without a transpose of the channel axis
            x = ops.matmul(ops.reshape(inputs, (-1, h, w)), mw)  # along W
            x = ops.matmul(ops.transpose(x, (0, 2, 1)), mh)  # along H, as (B, W, H)
            return ops.reshape(ops.transpose(x, (0, 2, 1)), (-1, h, w, 1))
        x = ops.matmul(ops.transpose(inputs, (0, 3, 1, 2)), mw)  # (B, C, H, W) along W
        x = ops.matmul(ops.transpose(x, (0, 1, 3, 2)), mh)  # (B, C, W, H) along H
        return ops.transpose(x, (0, 3, 2, 1))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"sigma": self.sigma})
        return config


def _depthwise_blur(inputs, sigma, channels):
    """:class:`OutputBlur` as two ``'same'`` depthwise convolutions (1×k then k×1): any H and W."""
    k = gaussian_kernel_1d(sigma)
    row = ops.convert_to_tensor(np.tile(k.reshape(1, -1, 1, 1), (1, 1, channels, 1)), dtype=inputs.dtype)
    col = ops.convert_to_tensor(np.tile(k.reshape(-1, 1, 1, 1), (1, 1, channels, 1)), dtype=inputs.dtype)
    x = ops.depthwise_conv(inputs, row, strides=1, padding="same")
    return ops.depthwise_conv(x, col, strides=1, padding="same")


@keras.saving.register_keras_serializable(package="tfsal")
class FlipHorizontal(keras.layers.Layer):
    """A left-right mirror of ``(B, H, W, C)`` images or maps (reverses the width axis).

    Lowers to the builtin TFLite op ``REVERSE_V2`` (float and int8); it has no weights. Used twice by
    :func:`tfsal.models.with_flip_tta`: on the input, then on the map of the mirrored input.

    Returns:
        A layer mapping ``(B, H, W, C)`` to the same shape, column ``j`` taken from column ``W - 1 - j``.

    Example:
        >>> import numpy as np
        >>> x = np.arange(3, dtype="float32").reshape(1, 1, 3, 1)
        >>> np.asarray(FlipHorizontal()(x)).ravel().tolist()
        [2.0, 1.0, 0.0]
    """

    def call(self, inputs):
        return ops.flip(inputs, axis=2)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="tfsal")
class LearnedLogPrior(keras.layers.Layer):
    """A learned additive prior on a map's logits: a low-resolution trainable grid, upsampled bilinearly.

    ``y = x + resize(prior, (H, W))`` with ``prior`` of shape ``(1, gh, gw, C)``, initialised to zero (the layer
    starts as the identity, so it can be added to a trained model). Placed before a sigmoid it is a learned
    log-odds centre bias (the fixed Gaussian centre bias lowered the shipped model's val scores,
    docs/model_card.md). For a fixed input size the upsampled grid is a constant: TFLite gets one builtin ``ADD``.

    Args:
        grid: ``(gh, gw)``, the prior's resolution (FastSal: ``(6, 8)`` = its stride-32 grid at 192×256).

    Returns:
        A layer mapping ``(B, H, W, C)`` to the same shape.

    Example:
        >>> import numpy as np
        >>> layer = LearnedLogPrior((2, 3))
        >>> float(np.abs(np.asarray(layer(np.ones((1, 8, 12, 1), "float32"))) - 1).max())
        0.0
    """

    def __init__(self, grid=(6, 8), **kwargs):
        super().__init__(**kwargs)
        grid = tuple(int(g) for g in grid)
        if len(grid) != 2 or min(grid) < 1:
            raise UserError(f"LearnedLogPrior grid must be (rows, cols) of positive integers; got {grid!r}")
        self.grid = grid

    def build(self, input_shape):
        self.prior = self.add_weight(shape=(1, *self.grid, int(input_shape[-1])), initializer="zeros", name="prior")

    def call(self, inputs):
        shape = ops.shape(inputs)
        prior = ops.image.resize(ops.cast(self.prior, inputs.dtype), (shape[1], shape[2]), interpolation="bilinear",
                                 antialias=False)
        return inputs + prior

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"grid": list(self.grid)})
        return config

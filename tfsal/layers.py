"""Custom Keras layers used by tfsal models.

Every layer follows the keras-hub pattern: ``__init__`` stores its arguments, ``call`` uses ``keras.ops`` only, and
``get_config`` returns exactly the init arguments, so models that use them save and load as ``.keras`` files.
"""
import keras
from keras import ops

from tfsal.errors import UserError

__all__ = ["DepthToSpace", "ResizeBilinear"]


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

"""Pan et al.'s shallow saliency net (CVPR 2016), as replicated in seed 000 (Table I), and its BatchNorm variant.

Table I of seed 000 at the default 96×96 input, layer by layer (Keras layer names in brackets):

=========  ==========  ====================================================  ==========================
layer      output      details                                               name
=========  ==========  ====================================================  ==========================
input      96×96×3     raw RGB in [0, 255]                                   ``image``
preproc    96×96×3     ``x / 255 - 0.5`` (centred, see below)               ``shallow_preprocess``
conv1      96×96×32    5×5, pad 2 ("same"), ReLU                             ``shallow_conv1``
pool1      48×48×32    max 2×2, stride 2                                     ``shallow_pool1``
conv2      48×48×64    3×3, pad 1, ReLU                                      ``shallow_conv2``
pool2      23×23×64    max 3×3, stride 2, valid                              ``shallow_pool2``
conv3      23×23×128   3×3, pad 1, ReLU                                      ``shallow_conv3``
pool3      11×11×128   max 3×3, stride 2, valid                              ``shallow_pool3``
flatten    15488                                                             ``shallow_flatten``
fc1        4608        dense, **no ReLU**, max-norm constraint               ``shallow_fc1``
maxout     2304        element-wise max of fc1's two halves                  ``shallow_maxout``
fc2        2304        dense                                                 ``shallow_fc2``
output     48×48×1     linear (default), reshaped                            ``shallow_out``
=========  ==========  ====================================================  ==========================

Choices written down here:

* **Max-norm** ("norm constraint regularization for the maxout layers"): carried by ``shallow_fc1``, the dense
  layer whose outputs feed the maxout, as ``keras.constraints.MaxNorm(max_norm, axis=0)`` (the incoming weight
  vector of each of the 4608 units has L2 norm ≤ ``max_norm``; 4.0 by default, the papers give no value). At
  initialisation the norms are ≈ 0.01·√15488 ≈ 1.24, well inside the constraint.
* **Init**: every conv and dense kernel ~ N(0, 0.01²), every bias 0.1 (seed 000 §VI).
* **Input normalisation** is inside the model: raw RGB pixels in [0, 255] are mapped to [-0.5, 0.5]
  (``x / 255 - 0.5``), i.e. scaled to [0, 1] and centred, the role of the mean subtraction of the Caffe original.
* **Output**: linear by default, as the reference, trained with MSE by the ``shallow`` recipe: its output starts near
  the bias 0.1, close to the maps' mean, and learns on the demo data, where a sigmoid output (starting at ≈ 0.52)
  barely moved in the same budget. Negative values are possible; tfsal's display code min-max normalises in float
  (no uint8 wrap-around, the bug seed 000 reports) and its metrics accept any range. Pass
  ``output_activation="sigmoid"`` for a map in [0, 1] (needed for the BCE/KLD losses).
* **Parameters**: Table I gives 76.8M parameters (fc1 alone has 15488·4608 + 4608 = 71.4M). Seed 004 quotes
  64.4M for Pan's net; that figure is what one gets with a 10×10 pool3 (12800 inputs to fc1: 64.39M), i.e. a
  different pooling round-off in the original. We follow Table I exactly (11×11, 15488).
* **Other input sizes**: the convolutional part works for any even H×W ≥ 16; fc1 keeps 4608 units and fc2 has
  (H/2)·(W/2) units, so the output is always H/2 × W/2 (the paper's "H/2 × W/2 output").
* ``shallow-bn`` (seed 000): BatchNorm after each conv (before its ReLU) and after fc1 (before the maxout);
  momentum 0.9, epsilon 1e-5 (PyTorch's defaults, which seed 000 used).
"""
import keras
from keras import layers, ops

from tfsal.models._common import check_input_shape, check_weights_arg, load_weights_file
from tfsal.models._registry import register_model
from tfsal.errors import UserError

__all__ = ["shallow", "shallow_bn", "Maxout", "PAPER_SHALLOW"]

PAPER_SHALLOW = {
    "params": 64.4e6,
    "source": "Pan et al. 2016 shallow net as quoted by Hu & McGuinness 2021 (seed 004 §II); "
              "Table I of seed 000 implies 76.8M (a 10x10 pool3 gives 64.4M)",
}
FC1_UNITS = 4608


@keras.saving.register_keras_serializable(package="tfsal")
class Maxout(layers.Layer):
    """Maxout over contiguous pieces of the last axis: ``max(x[..., :n], x[..., n:2n], ...)``.

    With ``pieces=2`` this is Pan et al.'s maxout: the element-wise maximum of the two halves of fc1.

    Args:
        pieces: number of equal contiguous pieces the last axis is split into.

    Example:
        >>> import numpy as np
        >>> Maxout(2)(np.array([[1.0, 5.0, 3.0, 2.0]])).numpy().tolist()
        [[3.0, 5.0]]
    """

    def __init__(self, pieces=2, **kwargs):
        super().__init__(**kwargs)
        self.pieces = int(pieces)

    def build(self, input_shape):
        if input_shape[-1] is None or input_shape[-1] % self.pieces:
            raise UserError(f"Maxout: last axis must be divisible by pieces={self.pieces}; got {input_shape[-1]}")

    def call(self, inputs):
        n = inputs.shape[-1] // self.pieces
        out = inputs[..., :n]
        for k in range(1, self.pieces):
            out = ops.maximum(out, inputs[..., k * n:(k + 1) * n])
        return out

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] // self.pieces)

    def get_config(self):
        return {**super().get_config(), "pieces": self.pieces}


def _check_shape(input_shape, model_name):
    h, w, c = check_input_shape(input_shape, 2, model_name)
    if h < 16 or w < 16:
        raise UserError(f"{model_name}: input height and width must be at least 16; got {h}x{w}")
    return h, w, c


def _build(input_shape, weights, output_activation, max_norm, batch_norm, name, model_name):
    h, w, _ = _check_shape(input_shape, model_name)
    if isinstance(weights, str) and weights.lower() == "imagenet":
        raise UserError(f"{model_name}: has no ImageNet backbone (it is trained from scratch); "
                         f"weights must be None or the path of a .weights.h5/.keras file; got {weights!r}")
    check_weights_arg(weights, model_name, allowed=(None,))
    init = {
        "kernel_initializer": keras.initializers.RandomNormal(mean=0.0, stddev=0.01),
        "bias_initializer": keras.initializers.Constant(0.1),
    }

    def conv_block(x, filters, kernel, idx):
        x = layers.Conv2D(filters, kernel, padding="same", name=f"shallow_conv{idx}", **init)(x)
        if batch_norm:
            x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"shallow_conv{idx}_bn")(x)
        return layers.ReLU(name=f"shallow_conv{idx}_relu")(x)

    inputs = keras.Input(shape=(h, w, 3), name="image")
    x = layers.Rescaling(1.0 / 255.0, offset=-0.5, name="shallow_preprocess")(inputs)
    x = conv_block(x, 32, 5, 1)                                                     # 96×96×32
    x = layers.MaxPooling2D(2, strides=2, name="shallow_pool1")(x)                  # 48×48×32
    x = conv_block(x, 64, 3, 2)                                                     # 48×48×64
    x = layers.MaxPooling2D(3, strides=2, padding="valid", name="shallow_pool2")(x)  # 23×23×64
    x = conv_block(x, 128, 3, 3)                                                    # 23×23×128
    x = layers.MaxPooling2D(3, strides=2, padding="valid", name="shallow_pool3")(x)  # 11×11×128
    x = layers.Flatten(name="shallow_flatten")(x)                                   # 15488
    x = layers.Dense(FC1_UNITS, kernel_constraint=keras.constraints.MaxNorm(max_norm, axis=0),
                     name="shallow_fc1", **init)(x)                                 # 4608, no ReLU
    if batch_norm:
        x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name="shallow_fc1_bn")(x)
    x = Maxout(2, name="shallow_maxout")(x)                                         # 2304
    x = layers.Dense((h // 2) * (w // 2), name="shallow_fc2", dtype="float32", **init)(x)  # 2304
    x = layers.Activation(output_activation or "linear", name="shallow_act", dtype="float32")(x)
    outputs = layers.Reshape((h // 2, w // 2, 1), name="shallow_out", dtype="float32")(x)  # 48×48×1
    model = keras.Model(inputs, outputs, name=name)
    if weights is not None:
        load_weights_file(model, weights)
    return model


@register_model("shallow", default_input_shape=(96, 96, 3), test_input_shape=(32, 32, 3), paper=PAPER_SHALLOW,
                recipe="shallow", preprocessing="centred-unit", output_kind="linear")
def shallow(input_shape=(96, 96, 3), weights=None, output_activation=None, max_norm=4.0, name="shallow"):
    """Pan et al.'s shallow saliency net exactly as Table I of seed 000 (96×96 image → 48×48 map).

    Args:
        input_shape: ``(H, W, 3)``; H and W even and ≥ 16. Default 96×96 (the paper's).
        weights: ``None`` (the paper's N(0, 0.01) init) or a path to a whole-model ``.weights.h5`` / ``.keras``
            file. There is no ImageNet backbone, so ``"imagenet"`` is rejected.
        output_activation: ``None`` (the reference's linear output, default) or ``"sigmoid"`` (map in [0, 1]).
        max_norm: max-norm bound on the incoming weight vector of each fc1 unit (the weights feeding the maxout).
        name: the Keras model name.

    Returns:
        A functional ``keras.Model`` mapping raw RGB ``(B, H, W, 3)`` in [0, 255] to ``(B, H/2, W/2, 1)``.

    Example:
        >>> m = shallow()
        >>> m.output_shape
        (None, 48, 48, 1)
    """
    return _build(input_shape, weights, output_activation, max_norm, False, name, "shallow")


@register_model("shallow-bn", default_input_shape=(96, 96, 3), test_input_shape=(32, 32, 3), paper=PAPER_SHALLOW,
                recipe="shallow", preprocessing="centred-unit", output_kind="linear")
def shallow_bn(input_shape=(96, 96, 3), weights=None, output_activation=None, max_norm=4.0,
               name="shallow_bn"):
    """Seed 000's improved shallow net: Table I plus BatchNorm after each conv (before ReLU) and after fc1.

    Args:
        input_shape: ``(H, W, 3)``; H and W even and ≥ 16. Default 96×96.
        weights: ``None`` or a path to a whole-model weights file (``"imagenet"`` is rejected).
        output_activation: ``None`` (linear output, default) or ``"sigmoid"``.
        max_norm: max-norm bound on fc1's per-unit incoming weights.
        name: the Keras model name.

    Returns:
        A functional ``keras.Model`` mapping raw RGB ``(B, H, W, 3)`` to ``(B, H/2, W/2, 1)``.

    Example:
        >>> m = shallow_bn()
        >>> m.get_layer("shallow_fc1_bn").output.shape
        (None, 4608)
    """
    return _build(input_shape, weights, output_activation, max_norm, True, name, "shallow-bn")

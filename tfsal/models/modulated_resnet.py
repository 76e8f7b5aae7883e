"""Saliency-modulated ResNet50 classifier and its plain ResNet50 baseline (seed 002, SPEC §1.5).

These are **classifiers**, not saliency models: they are deliberately *not* in the saliency model registry
(:func:`tfsal.models.create_model`). Use :func:`create_classifier` (names ``"modulated-resnet50"`` and
``"baseline-resnet50"``) or the builders directly.

Architecture (``modulated_resnet50``):

* RGB branch: ResNet50 (v1, as ``keras.applications.ResNet50``), built here with the same **layer names**
  (``conv1_conv``, ``conv1_bn``, ``conv1_relu``, ``pool1_pad``, ``pool1_pool``, ``conv2_block1_1_conv``, ...), so
  ImageNet weights are copied by name, never by index.
* Saliency branch on the 1-channel map in [0, 1]: the shape of ResNet50's stage 1: ``sal_conv1_pad`` (3),
  ``sal_conv1_conv`` (7×7/2, ``width`` filters), ``sal_conv1_bn``, then a **sigmoid** (``sal_conv1_sigmoid``), so its
  output is in [0, 1].
* Fusion (layer ``modulation``, :class:`SaliencyModulation`) after stage 1 (``conv1_relu``) and **before** the
  max-pool: ``x = rgb * sal + alpha * rgb``. ``alpha`` is a scalar weight, initialised to 1 and **trainable** by
  default (``alpha_trainable=False`` freezes it).
* Then ResNet50's max-pool and stages 2-5, global average pooling (``avg_pool``) and a dense softmax
  (``predictions``).

``baseline_resnet50`` is the same network without the saliency branch and the fusion.

Saliency maps come either precomputed (a second input ``"saliency"`` of shape ``(H, W, 1)`` in [0, 1]) or from a
tfsal saliency model run in the graph (``saliency_model=``): the image is resized to the saliency model's input size,
the model's map is resized back to the image size; the saliency model is frozen.

Inputs are raw RGB pixels in [0, 255]; the model applies ResNet50's "caffe" preprocessing itself (layer
``preprocess``: RGB → BGR, ImageNet mean subtracted), as ``keras.applications.resnet50.preprocess_input``.

Initialisation (``weights``):

* ``None``: everything Xavier-uniform (Keras' ``glorot_uniform``) for kernels, zeros for biases, BN at identity.
* ``"imagenet"``: "half pre-trained": the RGB branch from ``keras.applications.ResNet50`` ImageNet weights (needs
  internet on first use; requires the default ``stages=(3, 4, 6, 3)``, ``width=64``), the rest Xavier-uniform.
* a path to a ``.keras`` / ``.weights.h5`` file of a previous run: "fully pre-trained": every layer is loaded by name
  from it; the classifier head ``predictions`` is loaded only when its shape matches (otherwise it stays
  Xavier-uniform, as in the seed, which re-initialises the fully connected layer for a new task).

Width and depth are configurable (``stages``, ``width``) so experiments fit a CPU; the defaults are ResNet50's.
"""
import os

import keras
from keras import layers, ops

from tfsal.models._common import imagenet_unavailable
from tfsal.models.vgg_encdec import VGGPreprocess
from tfsal.errors import UserError

__all__ = [
    "modulated_resnet50",
    "baseline_resnet50",
    "create_classifier",
    "list_classifiers",
    "SaliencyModulation",
    "CaffePreprocess",
]

_BN = {"epsilon": 1.001e-5}  # as keras.applications.ResNet50


@keras.saving.register_keras_serializable(package="tfsal")
class SaliencyModulation(keras.layers.Layer):
    """Saliency modulation with a weighted skip: ``rgb * sal + alpha * rgb`` (seed 002).

    Args:
        alpha_initial: initial value of the scalar ``alpha`` (1.0).
        alpha_trainable: whether ``alpha`` is trained (default ``True``).

    Returns:
        A layer mapping ``[rgb (B, H, W, C), sal (B, H, W, C or 1)]`` to ``(B, H, W, C)``.

    Example:
        >>> import numpy as np
        >>> layer = SaliencyModulation(alpha_initial=0.5)
        >>> rgb = np.full((1, 2, 2, 3), 2.0, "float32")
        >>> sal = np.full((1, 2, 2, 3), 0.25, "float32")
        >>> float(layer([rgb, sal])[0, 0, 0, 0])  # 2 * 0.25 + 0.5 * 2
        1.5
    """

    def __init__(self, alpha_initial=1.0, alpha_trainable=True, **kwargs):
        super().__init__(**kwargs)
        self.alpha_initial = float(alpha_initial)
        self.alpha_trainable = bool(alpha_trainable)

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
            raise UserError(f"SaliencyModulation is called on [rgb, sal]; got input shape {input_shape!r}")
        self.alpha = self.add_weight(
            name="alpha",
            shape=(),
            initializer=keras.initializers.Constant(self.alpha_initial),
            trainable=self.alpha_trainable,
        )

    def call(self, inputs):
        rgb, sal = inputs
        return rgb * sal + ops.cast(self.alpha, rgb.dtype) * rgb

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        config = super().get_config()
        config.update({"alpha_initial": self.alpha_initial, "alpha_trainable": self.alpha_trainable})
        return config


@keras.saving.register_keras_serializable(package="tfsal")
class CaffePreprocess(VGGPreprocess):
    """ResNet50's ImageNet preprocessing on raw RGB in [0, 255]: ``VGGPreprocess("caffe")`` (one implementation).

    RGB → BGR, then the ImageNet BGR mean subtracted. Kept under its own name so that saved models load.

    Returns:
        A layer mapping ``(B, H, W, 3)`` RGB to the same shape, BGR, zero-centred.

    Example:
        >>> import numpy as np
        >>> x = CaffePreprocess()(np.zeros((1, 1, 1, 3), "float32"))
        >>> [round(float(v), 3) for v in x[0, 0, 0]]
        [-103.939, -116.779, -123.68]
    """

    def __init__(self, mode="caffe", **kwargs):
        if mode != "caffe":
            raise UserError(f"CaffePreprocess: mode must be 'caffe' (use VGGPreprocess for others); got {mode!r}")
        super().__init__("caffe", **kwargs)


def _check_config(input_shape, stages, width, num_classes, name):
    try:
        h, w, c = (int(v) for v in input_shape)
    except (TypeError, ValueError):
        raise UserError(f"{name}: input_shape must be (height, width, 3); got {input_shape!r}") from None
    if c != 3 or h < 32 or w < 32:
        raise UserError(f"{name}: input_shape must be (H, W, 3) with H, W >= 32; got {input_shape!r}")
    try:
        stages = tuple(int(s) for s in stages)
    except (TypeError, ValueError):
        raise UserError(f"{name}: stages must be 4 block counts like (3, 4, 6, 3); got {stages!r}") from None
    if len(stages) != 4 or min(stages) < 1:
        raise UserError(f"{name}: stages must be 4 positive block counts like (3, 4, 6, 3); got {stages!r}")
    if int(width) < 1 or int(num_classes) < 2:
        raise UserError(
            f"{name}: need width >= 1 and num_classes >= 2; got width={width!r}, num_classes={num_classes!r}"
        )
    return (h, w, c), stages, int(width), int(num_classes)


def _block(x, filters, stride, conv_shortcut, name):
    """ResNet v1 bottleneck block, named as ``keras.applications.resnet``'s ``block1``."""
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = layers.BatchNormalization(name=f"{name}_0_bn", **_BN)(shortcut)
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_1_bn", **_BN)(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_2_bn", **_BN)(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_3_bn", **_BN)(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def _stage1(x, width, prefix):
    x = layers.ZeroPadding2D(3, name=f"{prefix}conv1_pad")(x)
    x = layers.Conv2D(width, 7, strides=2, name=f"{prefix}conv1_conv")(x)
    return layers.BatchNormalization(name=f"{prefix}conv1_bn", **_BN)(x)


def _rest(x, stages, width, num_classes):
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for i, blocks in enumerate(stages):
        filters = width * 2**i
        stride = 1 if i == 0 else 2
        x = _block(x, filters, stride, True, f"conv{i + 2}_block1")
        for b in range(2, blocks + 1):
            x = _block(x, filters, 1, False, f"conv{i + 2}_block{b}")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return layers.Dense(num_classes, activation="softmax", name="predictions", dtype="float32")(x)


def _load_imagenet(model, shape, stages, width, name):
    if stages != (3, 4, 6, 3) or width != 64:
        raise UserError(
            f"{name}: weights='imagenet' needs the full ResNet50 (stages=(3, 4, 6, 3), width=64); "
            f"got stages={stages!r}, width={width!r}"
        )
    try:
        src = keras.applications.ResNet50(include_top=False, weights="imagenet", input_shape=shape)
    except Exception as err:  # download failures surface as many exception types
        raise imagenet_unavailable(name, "ResNet50", err) from err
    own = {layer.name: layer for layer in model.layers}
    copied = 0
    for layer in src.layers:
        if layer.weights and layer.name in own:
            own[layer.name].set_weights(layer.get_weights())
            copied += 1
    if copied != sum(1 for layer in src.layers if layer.weights):
        raise RuntimeError(f"{name}: only {copied} ResNet50 layers matched by name; the layer names have drifted")


def _load_previous_run(model, path, name):
    """"Fully pre-trained": load every layer by name from a previous run; the head only if its shape matches."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{name}: weights file {path!r} does not exist")
    if path.endswith(".keras"):
        src = keras.models.load_model(path, compile=False)
    elif path.endswith(".weights.h5"):
        try:
            model.load_weights(path)
        except (ValueError, KeyError) as err:
            raise UserError(
                f"{name}: {path!r} does not match this model exactly ({err}); save the previous run as a .keras "
                "file to load all layers but a differently shaped classifier head"
            ) from None
        return
    else:
        raise UserError(f"{name}: weights must be None, 'imagenet', or a .keras/.weights.h5 path; got {path!r}")
    src_layers = {layer.name: layer for layer in src.layers if layer.weights}
    for layer in model.layers:
        if not layer.weights:
            continue
        if layer.name not in src_layers:
            raise UserError(f"{name}: layer {layer.name!r} is missing from {path!r}")
        values = src_layers[layer.name].get_weights()
        shapes = [tuple(v.shape) for v in values]
        if shapes != [tuple(w.shape) for w in layer.weights]:
            if layer.name == "predictions":
                continue
            raise UserError(f"{name}: layer {layer.name!r} has weights {shapes} in {path!r}, expected "
                             f"{[tuple(w.shape) for w in layer.weights]}")
        layer.set_weights(values)


def _saliency_input(image, saliency_model, shape):
    """Run a (frozen) tfsal saliency model on ``image`` and resize its map to the image size."""
    if not isinstance(saliency_model, keras.Model):
        raise UserError(f"saliency_model must be a keras.Model or None; got {type(saliency_model).__name__}")
    sal_in = saliency_model.input_shape[1:3]
    saliency_model.trainable = False
    x = image
    if None not in sal_in and tuple(sal_in) != tuple(shape[:2]):
        x = layers.Resizing(*sal_in, interpolation="bilinear", name="saliency_model_resize_in")(x)
    sal = saliency_model(x, training=False)
    if tuple(sal.shape[1:3]) != tuple(shape[:2]):
        sal = layers.Resizing(shape[0], shape[1], interpolation="bilinear", name="saliency_model_resize_out")(sal)
    if sal.shape[-1] != 1:
        raise UserError(f"saliency_model must output a 1-channel map; its output shape is {tuple(sal.shape)!r}")
    return sal


def modulated_resnet50(
    input_shape=(224, 224, 3),
    num_classes=1000,
    weights=None,
    stages=(3, 4, 6, 3),
    width=64,
    saliency_model=None,
    alpha_initial=1.0,
    alpha_trainable=True,
    name="modulated_resnet50",
):
    """Saliency-modulated ResNet50 classifier (seed 002): two branches fused by ``rgb * sal + alpha * rgb``.

    Args:
        input_shape: ``(H, W, 3)`` raw RGB in [0, 255].
        num_classes: classes of the softmax head.
        weights: ``None`` (Xavier-uniform), ``"imagenet"`` ("half pre-trained": RGB branch from ImageNet; needs
            internet) or a ``.keras`` / ``.weights.h5`` path of a previous run ("fully pre-trained").
        stages: bottleneck blocks per stage (ResNet50: ``(3, 4, 6, 3)``).
        width: stage-1 filters; stage ``i`` uses ``width·2^i`` bottleneck filters (ResNet50: 64).
        saliency_model: ``None`` for a second input ``"saliency"`` ``(H, W, 1)`` in [0, 1] (precomputed maps), or a
            tfsal saliency ``keras.Model`` (raw RGB in, map in [0, 1] out) run in the graph and kept frozen.
        alpha_initial: initial skip weight ``alpha``.
        alpha_trainable: whether ``alpha`` is trained (default ``True``).
        name: the Keras model name.

    Returns:
        A functional ``keras.Model``: ``[image, saliency] → (B, num_classes)`` softmax (or ``image → ...`` with
        ``saliency_model``).

    Example:
        >>> m = modulated_resnet50((64, 64, 3), num_classes=5, stages=(1, 1, 1, 1), width=8)
        >>> [tuple(t.shape) for t in m.inputs], m.output_shape
        ([(None, 64, 64, 3), (None, 64, 64, 1)], (None, 5))
    """
    label = "modulated-resnet50"
    shape, stages, width, num_classes = _check_config(input_shape, stages, width, num_classes, label)
    _check_weights(weights, label)
    image = keras.Input(shape=shape, name="image")
    if saliency_model is None:
        saliency = keras.Input(shape=(*shape[:2], 1), name="saliency")
        inputs = [image, saliency]
        sal = saliency
    else:
        inputs = image
        sal = _saliency_input(image, saliency_model, shape)
    x = CaffePreprocess(name="preprocess")(image)
    x = _stage1(x, width, "")
    rgb = layers.Activation("relu", name="conv1_relu")(x)
    s = _stage1(sal, width, "sal_")
    s = layers.Activation("sigmoid", name="sal_conv1_sigmoid", dtype="float32")(s)
    x = SaliencyModulation(alpha_initial, alpha_trainable, name="modulation")([rgb, s])
    outputs = _rest(x, stages, width, num_classes)
    model = keras.Model(inputs, outputs, name=name)
    return _finish(model, weights, shape, stages, width, label)


def baseline_resnet50(
    input_shape=(224, 224, 3),
    num_classes=1000,
    weights=None,
    stages=(3, 4, 6, 3),
    width=64,
    name="baseline_resnet50",
):
    """Plain ResNet50 transfer classifier with the same head as :func:`modulated_resnet50` (seed 002 baseline).

    Args:
        input_shape: ``(H, W, 3)`` raw RGB in [0, 255].
        num_classes: classes of the softmax head.
        weights: ``None``, ``"imagenet"`` (backbone from ImageNet; needs internet) or a previous run's weights path.
        stages: bottleneck blocks per stage (ResNet50: ``(3, 4, 6, 3)``).
        width: stage-1 filters (ResNet50: 64).
        name: the Keras model name.

    Returns:
        A functional ``keras.Model``: ``image (B, H, W, 3) → (B, num_classes)`` softmax.

    Example:
        >>> m = baseline_resnet50((64, 64, 3), num_classes=5, stages=(1, 1, 1, 1), width=8)
        >>> m.output_shape
        (None, 5)
    """
    label = "baseline-resnet50"
    shape, stages, width, num_classes = _check_config(input_shape, stages, width, num_classes, label)
    _check_weights(weights, label)
    image = keras.Input(shape=shape, name="image")
    x = CaffePreprocess(name="preprocess")(image)
    x = _stage1(x, width, "")
    x = layers.Activation("relu", name="conv1_relu")(x)
    outputs = _rest(x, stages, width, num_classes)
    model = keras.Model(image, outputs, name=name)
    return _finish(model, weights, shape, stages, width, label)


def _check_weights(weights, label):
    if weights is None or weights == "imagenet":
        return
    if isinstance(weights, (str, os.PathLike)):
        text = os.fspath(weights)
        if text.endswith((".keras", ".weights.h5")):
            if not os.path.isfile(text):
                raise FileNotFoundError(f"{label}: weights file {text!r} does not exist")
            return
    raise UserError(f"{label}: weights must be None, 'imagenet', or a .keras/.weights.h5 path; got {weights!r}")


def _finish(model, weights, shape, stages, width, label):
    if weights == "imagenet":
        _load_imagenet(model, shape, stages, width, label)
    elif weights is not None:
        _load_previous_run(model, weights, label)
    return model


_CLASSIFIERS = {"modulated-resnet50": modulated_resnet50, "baseline-resnet50": baseline_resnet50}


def list_classifiers():
    """Names of the classifier builders (kept apart from the saliency model registry).

    Returns:
        ``["baseline-resnet50", "modulated-resnet50"]``.
    """
    return sorted(_CLASSIFIERS)


def create_classifier(name, **kwargs):
    """Build a classifier by name.

    Args:
        name: ``"modulated-resnet50"`` or ``"baseline-resnet50"``.
        **kwargs: passed to the builder (``input_shape``, ``num_classes``, ``weights``, ``stages``, ``width``, ...).

    Returns:
        A ``keras.Model``.

    Example:
        >>> m = create_classifier("baseline-resnet50", input_shape=(64, 64, 3), num_classes=3, stages=(1, 1, 1, 1))
        >>> m.output_shape
        (None, 3)
    """
    try:
        builder = _CLASSIFIERS[name]
    except KeyError:
        raise UserError(f"unknown classifier {name!r}; expected one of: {', '.join(list_classifiers())}") from None
    return builder(**kwargs)

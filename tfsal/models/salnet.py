"""SalNet, Pan et al.'s deep saliency net (CVPR 2016, "Shallow and deep convolutional networks for saliency
prediction"; SPEC §1.2, seed 004 §II).

Layer table at the paper's 240×320 input (Keras layer names in brackets), after the reference Caffe model
(imatge-upc/saliency-2016-cvpr, deep net):

=========  ===========  ==========================================  ====================
layer      output       details                                     name
=========  ===========  ==========================================  ====================
preproc    240×320×3    RGB → BGR minus VGG means (Caffe style)     ``salnet_preprocess``
conv1      240×320×96   7×7, stride 1, ReLU                         ``salnet_conv1``
pool1      120×160×96   max 3×3, stride 2                           ``salnet_pool1``
conv2      120×160×256  5×5, ReLU                                   ``salnet_conv2``
pool2      60×80×256    max 3×3, stride 2                           ``salnet_pool2``
conv3      60×80×512    3×3, ReLU                                   ``salnet_conv3``
conv4      60×80×512    5×5, ReLU                                   ``salnet_conv4``
conv5      60×80×512    5×5, ReLU                                   ``salnet_conv5``
conv6      60×80×256    7×7, ReLU                                   ``salnet_conv6``
conv7      60×80×128    11×11, ReLU                                 ``salnet_conv7``
conv8      60×80×32     11×11, ReLU                                 ``salnet_conv8``
conv9      60×80×1      13×13, linear (the prediction)              ``salnet_conv9``
deconv     240×320×1    8×8 transposed conv, stride 4, no bias      ``salnet_deconv``
output     240×320×1    sigmoid (default)                           ``salnet_out``
=========  ===========  ==========================================  ====================

This gives 25.81M parameters, the paper's 25.8M. Deviations and choices, written down:

* The paper and seed 004 speak of "8 convolutional layers"; the reference model has the eight feature convs
  conv1..conv8 plus a 13×13 one-channel prediction conv (conv9) before the deconvolution. We build the reference
  (it is what gives 25.8M).
* The reference has a local response normalisation after conv1 (from VGG_CNN_M); Keras has no LRN layer, so it
  is left out (it has no parameters).
* Pooling is "same" (Caffe rounds pooled sizes up), so the input must be a multiple of 4 and the deconvolution
  (``padding="same"``, stride 4) restores the input size exactly.
* conv1..conv3 were initialised from VGG_CNN_M (Chatfield et al. 2014), which is not among keras.applications;
  its layers do not map onto a Keras ImageNet model, so ``weights="imagenet"`` is rejected. Without weights, the
  convs use Keras' default Glorot uniform init and the deconvolution starts at zero (an untrained model predicts a
  uniform 0.5 map; with a random deconvolution the first Adam 1e-3 steps saturate the sigmoid).
* **BatchNorm (deviation, on by default)**: conv1..conv8 are followed by BatchNorm before their ReLU (the convs
  then have no bias). Without it, this plain net trained from scratch with Adam at 1e-3 (the model contract
  test) blows up within a few steps and its ReLUs die; the original trained with SGD at a tiny learning rate.
  ``batch_norm=False`` gives the reference layers exactly (25.81M parameters); with BN the count stays 25.81M
  (+4608 BN scales/offsets and 4608 non-trainable moving statistics, −2304 conv biases). BN momentum 0.9,
  epsilon 1e-5 (as FastSal's).
* The input is raw RGB [0, 255]; preprocessing (RGB→BGR, minus means 103.939/116.779/123.68) is inside the model.
* The output is ``sigmoid`` by default (tfsal's [0, 1] map convention); ``output_activation=None`` gives the
  reference's linear output (trained there with a Euclidean loss).
"""
import keras
from keras import layers

from tfsal.models._common import check_input_shape, check_weights_arg, load_weights_file
from tfsal.models._registry import register_model
from tfsal.models.vgg_encdec import VGGPreprocess
from tfsal.errors import UserError

__all__ = ["salnet", "SALNET_LAYERS", "PAPER_SALNET"]

PAPER_SALNET = {"params": 25.8e6, "source": "Pan et al. CVPR 2016 (deep net), as quoted in seed 004 §II"}

# (name, filters, kernel) of the convolutions after which the pools come (pool after conv1 and conv2).
SALNET_LAYERS = (
    ("conv1", 96, 7),
    ("conv2", 256, 5),
    ("conv3", 512, 3),
    ("conv4", 512, 5),
    ("conv5", 512, 5),
    ("conv6", 256, 7),
    ("conv7", 128, 11),
    ("conv8", 32, 11),
)


@register_model("salnet", default_input_shape=(240, 320, 3), test_input_shape=(32, 48, 3), paper=PAPER_SALNET,
                recipe="salnet", preprocessing="caffe", output_kind="sigmoid")
def salnet(input_shape=(240, 320, 3), weights=None, output_activation="sigmoid", batch_norm=True, name="salnet"):
    """SalNet (Pan et al.'s deep net): 8 feature convs + a prediction conv, 2 pools, one ×4 deconvolution.

    Args:
        input_shape: ``(H, W, 3)``; H and W multiples of 4. Default 240×320 (the paper's).
        weights: ``None`` or a path to a whole-model ``.weights.h5`` / ``.keras`` file. ``"imagenet"`` is
            rejected: the original's first layers come from VGG_CNN_M, which Keras does not provide.
        output_activation: ``"sigmoid"`` (map in [0, 1], default) or ``None`` (linear, as the reference).
        batch_norm: BatchNorm between each of conv1..conv8 and its ReLU (default; not in the original, see the
            module docstring). ``False`` builds the reference layers exactly.
        name: the Keras model name.

    Returns:
        A functional ``keras.Model`` mapping raw RGB ``(B, H, W, 3)`` in [0, 255] to ``(B, H, W, 1)``.

    Example:
        >>> m = salnet(input_shape=(96, 128, 3))
        >>> m.output_shape
        (None, 96, 128, 1)
    """
    h, w, _ = check_input_shape(input_shape, 4, "salnet")
    if isinstance(weights, str) and weights.lower() == "imagenet":
        raise UserError(
            "salnet: weights='imagenet' is not available: the original initialises conv1-conv3 from VGG_CNN_M, "
            "which keras.applications does not provide; use weights=None or the path of a .weights.h5/.keras "
            f"file; got {weights!r}"
        )
    check_weights_arg(weights, "salnet", allowed=(None,))
    inputs = keras.Input(shape=(h, w, 3), name="image")
    x = VGGPreprocess("caffe", name="salnet_preprocess")(inputs)
    for idx, (lname, filters, kernel) in enumerate(SALNET_LAYERS, start=1):
        x = layers.Conv2D(filters, kernel, padding="same", use_bias=not batch_norm, name=f"salnet_{lname}")(x)
        if batch_norm:
            x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"salnet_{lname}_bn")(x)
        x = layers.ReLU(name=f"salnet_{lname}_relu")(x)
        if idx in (1, 2):
            x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"salnet_pool{idx}")(x)
    x = layers.Conv2D(1, 13, padding="same", name="salnet_conv9")(x)
    x = layers.Conv2DTranspose(1, 8, strides=4, padding="same", use_bias=False,
                               kernel_initializer="zeros", name="salnet_deconv",
                               dtype="float32")(x)
    outputs = layers.Activation(output_activation or "linear", name="salnet_out", dtype="float32")(x)
    model = keras.Model(inputs, outputs, name=name)
    if weights is not None:
        load_weights_file(model, weights)
    return model

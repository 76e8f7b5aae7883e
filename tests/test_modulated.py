"""Saliency-modulated ResNet50 and its baseline (SPEC §1.5); small configurations only."""
import numpy as np
import pytest

import keras

from tfsal.models import create_model, list_models, model_info
from tfsal.models.modulated_resnet import (
    SaliencyModulation,
    baseline_resnet50,
    create_classifier,
    list_classifiers,
    modulated_resnet50,
)

SMALL = {"input_shape": (48, 48, 3), "num_classes": 4, "stages": (1, 1, 1, 1), "width": 8}


def _data(n=4, seed=0):
    r = np.random.default_rng(seed)
    image = (r.random((n, 48, 48, 3)) * 255).astype("float32")
    sal = r.random((n, 48, 48, 1)).astype("float32")
    return image, sal, r.integers(0, 4, n)


def _run(model, x):
    return np.asarray(model(x, training=False))


def _train_step(model, x, y):
    model.compile(
        optimizer=keras.optimizers.SGD(1e-3, momentum=0.9), loss="sparse_categorical_crossentropy", run_eagerly=True
    )
    loss = float(model.train_on_batch(x, y))
    assert np.isfinite(loss)


def test_in_the_registry_as_classifiers_not_saliency_models():
    assert set(list_classifiers()) == {"modulated-resnet50", "baseline-resnet50"}
    assert not set(list_classifiers()) & set(list_models(include_aliases=True))  # the saliency models only
    assert set(list_classifiers()) <= set(list_models(task=None))
    for name in list_classifiers():
        entry = model_info(name)
        assert (entry.task, entry.output_kind, entry.preprocessing) == ("classifier", "class-probabilities", "caffe")
    assert create_model("baseline-resnet50", **SMALL).output_shape == (None, 4)
    with pytest.raises(ValueError, match="unknown classifier 'fastsal-a'"):
        create_classifier("fastsal-a")


def test_modulated_builds_fuses_and_trains(tmp_path):
    keras.utils.set_random_seed(0)
    model = create_classifier("modulated-resnet50", alpha_initial=0.7, **SMALL)
    image, sal, y = _data()
    # Fusion after stage 1, before the max-pool.
    assert model.get_layer("pool1_pad").input is model.get_layer("modulation").output
    tap = keras.Model(
        model.inputs,
        [model.get_layer(n).output for n in ("conv1_relu", "sal_conv1_sigmoid", "modulation")],
    )
    rgb, s, fused = (np.asarray(t) for t in _run(tap, [image, sal]))
    assert rgb.shape == s.shape == fused.shape == (4, 24, 24, 8)
    assert s.min() >= 0 and s.max() <= 1
    alpha = float(model.get_layer("modulation").alpha.numpy())
    assert alpha == pytest.approx(0.7)
    np.testing.assert_allclose(fused, rgb * s + alpha * rgb, rtol=1e-5, atol=1e-5)
    # Softmax output.
    out = np.asarray(_run(model, [image, sal]))
    assert out.shape == (4, 4) and (out >= 0).all()
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-5)
    # alpha is trainable and moves with training.
    assert any(w is model.get_layer("modulation").alpha for w in model.trainable_weights)
    _train_step(model, [image, sal], y)
    # Save / load round trip.
    path = tmp_path / "mod.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(
        _run(model, [image, sal]), _run(loaded, [image, sal]), rtol=1e-5, atol=1e-6
    )
    # "Fully pre-trained": a new model with another head initialised from that run.
    warm = modulated_resnet50(**{**SMALL, "num_classes": 6}, weights=str(path))
    np.testing.assert_allclose(
        warm.get_layer("sal_conv1_conv").get_weights()[0], model.get_layer("sal_conv1_conv").get_weights()[0]
    )
    alpha_after = float(model.get_layer("modulation").alpha.numpy())
    assert float(warm.get_layer("modulation").alpha.numpy()) == pytest.approx(alpha_after)


def test_modulated_with_in_graph_saliency_model():
    sal_net = keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")], name="toy_sal"
    )
    model = modulated_resnet50(**SMALL, saliency_model=sal_net, alpha_trainable=False)
    assert len(model.inputs) == 1
    image, _, y = _data()
    assert _run(model, image).shape == (4, 4)
    assert not any(w is model.get_layer("modulation").alpha for w in model.trainable_weights)
    before = [w.copy() for w in sal_net.get_weights()]
    _train_step(model, image, y)
    for a, b in zip(before, sal_net.get_weights()):
        np.testing.assert_array_equal(a, b)  # the saliency model stays frozen


def test_baseline_builds_trains_and_round_trips(tmp_path):
    keras.utils.set_random_seed(0)
    model = baseline_resnet50(**SMALL)
    image, _, y = _data()
    assert len(model.inputs) == 1
    assert model.get_layer("pool1_pad").input is model.get_layer("conv1_relu").output
    out = np.asarray(_run(model, image))
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-5)
    _train_step(model, image, y)
    path = tmp_path / "base.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(_run(model, image), _run(loaded, image), rtol=1e-5, atol=1e-6)


def test_layer_names_match_keras_resnet50():
    """ImageNet weights are copied by name: every weighted layer of keras' ResNet50 exists here with equal shapes."""
    ref = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(64, 64, 3))
    ours = modulated_resnet50(input_shape=(64, 64, 3), num_classes=10)
    for layer in ref.layers:
        if layer.weights:
            mine = ours.get_layer(layer.name)
            assert [tuple(w.shape) for w in mine.weights] == [tuple(w.shape) for w in layer.weights], layer.name


def test_errors_echo_input():
    with pytest.raises(ValueError, match=r"got \(1, 2\)"):
        baseline_resnet50(input_shape=(48, 48, 3), stages=(1, 2))
    with pytest.raises(ValueError, match="imagenet.*stages"):
        modulated_resnet50(**SMALL, weights="imagenet")
    with pytest.raises(FileNotFoundError, match="nope.keras"):
        baseline_resnet50(**SMALL, weights="nope.keras")
    with pytest.raises(ValueError, match="unknown classifier 'resnet'"):
        create_classifier("resnet")
    layer = SaliencyModulation()
    assert layer.get_config()["alpha_trainable"] is True

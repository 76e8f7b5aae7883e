"""One parametrised test over every registered model (timm style)."""
import numpy as np
import pytest

import keras

from tfsal.models import create_model, describe_model, list_models, model_info
from tfsal.models._registry import OUTPUT_KINDS, PREPROCESSING, TASKS, model_facts
from tfsal.losses import SaliencyLoss
from tfsal.train import get_recipe

ALL = list_models(task=None)  # every registered model: the saliency models and the classifiers


def _inputs(shape, batch=2, seed=0):
    return (np.random.default_rng(seed).random((batch, *shape)) * 255).astype("float32")


def _trains(model, x, y, steps=5):
    """A compiled model's loss falls over a few steps on one batch."""
    first = float(model.train_on_batch(x, y))
    for _ in range(steps):
        last = float(model.train_on_batch(x, y))
    assert np.isfinite(first) and last < first, (first, last)


def _classifier_contract(entry, tmp_path):
    """A classifier (``task="classifier"``): class probabilities out, one training step, a .keras round trip."""
    keras.utils.set_random_seed(0)
    model = create_model(entry.name, input_shape=entry.test_input_shape, weights=None, **entry.test_kwargs)
    classes = entry.test_kwargs["num_classes"]
    x = [_inputs(tuple(t.shape[1:])) / (255.0 if t.shape[-1] == 1 else 1.0) for t in model.inputs]
    x = x if len(x) > 1 else x[0]
    out = np.asarray(model(x, training=False))
    assert out.shape == (2, classes) and (out >= 0).all()
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-5)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    _trains(model, x, np.array([0, classes - 1]))
    path = tmp_path / f"{entry.name}.keras"
    model.save(path)
    np.testing.assert_allclose(model.predict_on_batch(x), keras.models.load_model(path).predict_on_batch(x),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_model_contract(name, tmp_path):
    entry = model_info(name)
    if entry.task == "classifier":
        return _classifier_contract(entry, tmp_path)
    # Builds at its default size with the right output shape.
    model = create_model(name, weights=None)
    h, w, _ = entry.default_input_shape
    out = model(_inputs(entry.default_input_shape, batch=1), training=False)
    assert out.shape[0] == 1 and out.shape[-1] == 1
    assert tuple(out.shape[1:3]) == tuple(model.output_shape[1:3])
    assert np.isfinite(np.asarray(out)).all()
    del model

    # ... and at a second valid size, where training, saving and loading are checked.
    shape = entry.test_input_shape
    keras.utils.set_random_seed(0)
    model = create_model(name, input_shape=shape, weights=None)
    x = _inputs(shape)
    oh, ow = model.output_shape[1:3]
    yy, xx = np.mgrid[:oh, :ow]
    blob = np.exp(-((yy - oh / 3) ** 2 + (xx - ow * 0.6) ** 2) / (2 * (oh / 8) ** 2)).astype("float32")
    y = np.stack([blob, blob])[..., None]
    y = np.concatenate([y, (y > 0.9).astype("float32")], axis=-1)
    # The model's own recipe loss (e.g. MSE for Pan's linear-output shallow net, KLD + CC + BCE for FastSal).
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=SaliencyLoss(get_recipe(entry.recipe).loss))
    model.optimizer.build(model.trainable_variables)  # as tfsal.train does: the train step is traced once, not twice
    _trains(model, x, y)

    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(model.predict_on_batch(x), loaded.predict_on_batch(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_entry_describes_the_built_model(name):
    """The registry's facts (task, preprocessing, output kind and range) are those of the model it builds."""
    entry = model_info(name)
    assert entry.task in TASKS and entry.output_kind in OUTPUT_KINDS and entry.preprocessing in PREPROCESSING
    assert (entry.task == "classifier") == (entry.output_kind == "class-probabilities")
    assert (name in list_models()) == (entry.task == "saliency")
    model = create_model(name, input_shape=entry.test_input_shape, weights=None, **entry.test_kwargs)
    facts = model_facts(model)
    assert facts["registered_name"] == name and facts["task"] == entry.task
    assert facts["output_kind"] == entry.output_kind and facts["preprocessing"] == entry.preprocessing
    x = [_inputs(tuple(t.shape[1:]), seed=1) / (255.0 if t.shape[-1] == 1 else 1.0) for t in model.inputs]
    out = np.asarray(model(x if len(x) > 1 else x[0], training=False), np.float64)
    lo, hi = entry.value_range or (None, None)
    assert lo is None or out.min() >= lo - 1e-6, (out.min(), entry.value_range)
    assert hi is None or out.max() <= hi + 1e-6, (out.max(), entry.value_range)
    if entry.output_kind == "density":
        np.testing.assert_allclose(out.reshape(len(out), -1).sum(-1), 1.0, rtol=1e-4)


@pytest.mark.parametrize("name", ["fastsal-a", "fastsal-c"])
def test_fastsal_taps_and_blocks_by_name(name):
    from tfsal.models.fastsal import TAPS

    model = create_model(name, input_shape=(64, 96, 3))
    assert len(TAPS) == 18
    for _, layer_name, channels, stride in TAPS:
        shape = model.get_layer(layer_name).output.shape
        assert shape[-1] == channels and shape[1] == 64 // stride, (layer_name, shape)
    widths = {"e1": 28, "e2": 24, "e3": 136, "e4": 520}
    strides = {"e1": 2, "e2": 4, "e3": 8, "e4": 16}
    for key, c in widths.items():
        layer = "fastsal_e1_concat" if key == "e1" else f"fastsal_{key}_d2s"
        shape = model.get_layer(layer).output.shape
        assert shape[-1] == c and shape[1] == 64 // strides[key]
    assert model_info(name).preprocessing == "mobilenet"  # the registry says what the model does
    # The input normalisation is in the model, first after the input: raw [0, 255] RGB → MobileNetV2's [-1, 1].
    pre = model.get_layer("fastsal_preprocess")
    assert isinstance(pre, keras.layers.Rescaling) and model.layers.index(pre) == 1
    assert pre.input is model.input and tuple(pre.output.shape[1:]) == (64, 96, 3)
    np.testing.assert_allclose(np.asarray(pre(np.array([0.0, 127.5, 255.0], "float32"))), [-1.0, 0.0, 1.0], atol=1e-6)


def test_fastsal_c_decoder_widths():
    model = create_model("fastsal-c", input_shape=(64, 96, 3))
    assert model.get_layer("fastsal_dec_concat").output.shape[1:] == (32, 48, 1408)
    assert model.get_layer("fastsal_dec_d2s").output.shape[1:] == (64, 96, 352)


def test_fastsal_a_decoder_widths():
    model = create_model("fastsal-a", input_shape=(64, 96, 3))
    expected = {4: (8, 12, 128), 3: (16, 24, 32), 2: (32, 48, 8), 1: (64, 96, 2)}
    for level, shape in expected.items():
        assert model.get_layer(f"fastsal_dec{level}_d2s").output.shape[1:] == shape


def test_param_counts_near_paper():
    a, c = describe_model("fastsal-a"), describe_model("fastsal-c")
    assert abs(a["params"] - 3.65e6) / 3.65e6 < 0.03
    assert abs(c["params"] - 2.57e6) / 2.57e6 < 0.03
    assert 1.1 < a["gflops"] < 1.4 and 1.1 < c["gflops"] < 1.4


def test_bad_model_arguments(tmp_path):
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        create_model("nope")
    with pytest.raises(ValueError, match="multiples of 32"):
        create_model("fastsal-a", input_shape=(190, 256, 3))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        create_model("fastsal-a", input_shape=(64, 64, 3), weights=str(tmp_path / "missing.weights.h5"))
    with pytest.raises(ValueError, match="weights must be"):
        create_model("fastsal-a", input_shape=(64, 64, 3), weights="imagenet21k")


def test_weights_from_path(tmp_path):
    m = create_model("fastsal-a", input_shape=(64, 64, 3))
    path = str(tmp_path / "w.weights.h5")
    m.save_weights(path)
    m2 = create_model("fastsal-a", input_shape=(64, 64, 3), weights=path)
    x = _inputs((64, 64, 3), batch=1)
    np.testing.assert_allclose(m.predict_on_batch(x), m2.predict_on_batch(x), rtol=1e-5, atol=1e-6)


def test_names_table_is_the_registry():
    """The table the names are checked against without importing a builder is the registry itself."""
    from tfsal.models import _registry

    _registry.load_builders()
    real = {n: (e.task, e.alias_of) for n, e in _registry._REGISTRY.items()}
    missing = sorted(set(real) - set(_registry.NAMES))
    assert not missing, f"add {missing} to tfsal.models._registry.NAMES"
    assert {n: real[n] for n in _registry.NAMES if n in real} == _registry.NAMES
    assert set(_registry.NAMES) <= set(real), sorted(set(_registry.NAMES) - set(real))
    assert _registry.known_names(task=None) == _registry.list_models(include_aliases=True, task=None)
    assert _registry.known_names() == _registry.list_models(include_aliases=True)

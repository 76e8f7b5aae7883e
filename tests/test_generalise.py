"""Issue #24's recipe pieces: flip TTA in the graph, the learned output prior, scale/crop augmentation."""
import json

import numpy as np
import pytest

import keras

from tfsal.data import make_dataset, read_demo
from tfsal.errors import UserError
from tfsal.layers import FlipHorizontal, LearnedLogPrior
from tfsal.models import fastsal_a, flip_tta_inner, with_flip_tta
from tfsal.models._fastsal_fold import export_fold
from tfsal.models._registry import registered_name
from tfsal.training.config import TrainConfig
from tfsal.training.loop import _builder_options, _check_choices

SHAPE = (32, 64, 3)


@pytest.fixture(scope="module")
def prior_model():
    model = fastsal_a(input_shape=SHAPE, prior_grid=(2, 3), blur_sigma=1.0)
    prior = model.get_layer("fastsal_prior")
    prior.set_weights([np.random.default_rng(0).normal(0, 1, (1, 2, 3, 1)).astype("float32")])
    return model


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(1).uniform(0, 255, (2, *SHAPE)).astype("float32")


def test_flip_tta_is_the_mean_of_both_maps_and_mirror_equivariant(prior_model, images):
    tta = with_flip_tta(prior_model)
    y = tta.predict(images, verbose=0)
    ref = (prior_model.predict(images, verbose=0) + prior_model.predict(images[:, :, ::-1], verbose=0)[:, :, ::-1]) / 2
    np.testing.assert_allclose(y, ref, atol=1e-6)
    np.testing.assert_allclose(tta.predict(images[:, :, ::-1], verbose=0)[:, :, ::-1], y, atol=1e-6)
    assert tta.name == "fastsal_a_fliptta" and registered_name(tta) == "fastsal-a"
    assert registered_name("fastsal_a_folded_fliptta") == "fastsal-a"


def test_flip_tta_and_prior_save_load_and_fold_exactly(prior_model, images, tmp_path):
    tta = with_flip_tta(prior_model)
    path = str(tmp_path / "tta.keras")
    tta.save(path)
    loaded = keras.models.load_model(path)
    y = tta.predict(images, verbose=0)
    np.testing.assert_allclose(loaded.predict(images, verbose=0), y, atol=1e-6)
    assert flip_tta_inner(loaded).get_layer("fastsal_prior").grid == (2, 3)
    folded, facts = export_fold(loaded)
    assert facts == {"folded_fastsal_c_decoder": False, "folded_fastsal_a_head": True, "flip_tta": True}
    np.testing.assert_allclose(folded.predict(images, verbose=0), y, atol=1e-5)


def test_flip_tta_refuses_a_model_that_changes_width():
    inp = keras.Input((8, 8, 3))
    model = keras.Model(inp, keras.layers.MaxPooling2D()(inp))
    with pytest.raises(UserError, match="width"):
        with_flip_tta(model)


def test_flip_tta_converts_to_builtin_tflite_ops(tmp_path):
    from tfsal.export import export_model
    from tfsal.export._tflite import tflite_ops

    tta = with_flip_tta(fastsal_a(input_shape=SHAPE))
    out = str(tmp_path / "tta.tflite")
    r = export_model(tta, out=out, quantize="int8", num_calibration=2, num_parity=2, min_cc=0.0, progress=False)
    ops = tflite_ops(out)
    assert ops["REVERSE_V2"] == 2 and not [o for o in ops if "FLEX" in o.upper() or "CUSTOM" in o.upper()]
    assert r.metadata["flip_tta"] is True


def test_layers_start_as_identity_and_round_trip_config():
    x = np.random.default_rng(2).normal(size=(1, 4, 6, 1)).astype("float32")
    prior = LearnedLogPrior((2, 3))
    np.testing.assert_array_equal(np.asarray(prior(x)), x)
    assert [w.name for w in prior.trainable_weights] == ["prior"]
    assert LearnedLogPrior.from_config(prior.get_config()).grid == (2, 3)
    np.testing.assert_array_equal(np.asarray(FlipHorizontal()(x)), x[:, :, ::-1])
    with pytest.raises(UserError):
        LearnedLogPrior((0, 3))


def test_scale_crop_batches_are_deterministic_and_keep_targets():
    ex = read_demo("train")[:4]

    def batches():
        ds = make_dataset(ex, (32, 48), batch_size=4, shuffle=True, augment=True, epochs=1, scale_crop=0.7)
        return [(np.asarray(i), np.asarray(t)) for i, t in ds]

    (img, tgt), = batches()
    (img2, tgt2), = batches()
    np.testing.assert_array_equal(img, img2)
    np.testing.assert_array_equal(tgt, tgt2)
    assert tgt.shape == (4, 32, 48, 2)
    np.testing.assert_allclose(tgt[..., 0].max(axis=(1, 2)), 1.0, atol=1e-6)
    assert set(np.unique(tgt[..., 1])) <= {0.0, 1.0} and (tgt[..., 1].sum(axis=(1, 2)) > 0).all()
    (plain, _), = make_dataset(ex, (32, 48), batch_size=4, shuffle=True, augment=True, epochs=1)
    assert not np.allclose(plain, img)


@pytest.mark.parametrize("kwargs, match", [
    ({"scale_crop": 1.5, "epochs": 1}, "fraction"),
    ({"scale_crop": 0.8}, "epochs"),
    ({"scale_crop": 0.8, "epochs": 1, "output": "dict"}, "supervised"),
])
def test_scale_crop_bad_arguments(kwargs, match):
    with pytest.raises(UserError, match=match):
        make_dataset(read_demo("train")[:2], (32, 48), **kwargs)


def test_train_config_prior_grid_and_scale_crop():
    cfg = TrainConfig("fastsal-a", prior_grid=[6, 8], scale_crop=0.8, optimizer="adam", loss="kld_cc_bce")
    assert cfg.prior_grid == (6, 8) and TrainConfig.from_dict(cfg.asdict()) == cfg
    assert _builder_options(cfg) == {"prior_grid": (6, 8)}
    _check_choices(cfg)
    with pytest.raises(UserError, match="prior_grid"):
        _check_choices(cfg.replace(model="salnet"))
    with pytest.raises(UserError, match="scale_crop"):
        _check_choices(cfg.replace(scale_crop=0.0))


def test_export_flip_tta_option_folds_tta_into_the_file(tmp_path):
    from click.testing import CliRunner

    from tfsal.cli import main
    from tfsal.export._tflite import tflite_ops

    path, out = str(tmp_path / "a.keras"), str(tmp_path / "a_tta.tflite")
    fastsal_a(input_shape=SHAPE).save(path)
    r = CliRunner().invoke(main, ["export", path, "--flip-tta", "--out", out, "--num-parity", "2"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    side = json.load(open(out + ".json"))
    assert side["flip_tta"] is True and side["model_name"] == "fastsal_a_fliptta" and side["parity_passed"]
    assert tflite_ops(out)["REVERSE_V2"] == 2

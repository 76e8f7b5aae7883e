"""tfsal.quantize: quantisation points, the int8 simulation against a real int8 file, int8 fine-tuning, CLI errors."""
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import tiny_saliency_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("q") / "tiny.keras")
    tiny_saliency_model().save(path)
    return path


def _coarse_model():
    """A tiny model that int8 quantisation hurts, as it hurts FastSal-A: a small signal shares one tensor (one int8
    scale) with a wide-range channel the output barely uses, so the int8 step is about the signal's size
    (simulated int8 CC ~0.78 on demo val)."""
    import keras
    from keras import layers

    from tfsal.layers import DepthToSpace

    keras.utils.set_random_seed(0)
    inp = keras.Input((32, 48, 3), name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1.0)(inp)
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="features")(x)
    stream = layers.Concatenate(name="stream")([layers.Conv2D(4, 1, name="signal")(x),
                                                layers.Conv2D(1, 1, name="outlier")(x)])
    head = layers.Conv2D(4, 1, name="head")
    model = keras.Model(inp, layers.Activation("sigmoid", name="map")(DepthToSpace(2)(head(stream))), name="coarse")
    for name, scale in (("signal", 0.1), ("outlier", 10.0)):
        kernel, bias = model.get_layer(name).get_weights()
        model.get_layer(name).set_weights([kernel * scale, bias])
    kernel, bias = head.get_weights()
    kernel[:, :, :4] /= 0.1  # the same float map from the small signal
    kernel[:, :, 4:] *= 1e-3  # the wide channel barely matters
    head.set_weights([kernel, bias])
    return model


@pytest.fixture(scope="module")
def coarse(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("q") / "coarse.keras")
    _coarse_model().save(path)
    return path


def _images(n, shape=(32, 48), seed=0):
    from tfsal.data import read_examples
    from tfsal.export import prepare_images

    return prepare_images([e.image_path for e in read_examples("demo", "val")[seed:seed + n]], shape)


def test_quantization_points_follow_tflite_fusion():
    from tfsal.models import create_model
    from tfsal.quantize import quantization_points

    model = create_model("fastsal-a", input_shape=(64, 96, 3))
    points = quantization_points(model)
    # Conv -> BN -> ReLU is one fused op: its ReLU is the point, the conv and BN are not.
    assert "fastsal_dec1_expand_relu" in points
    assert "fastsal_dec1_expand" not in points and "fastsal_dec1_expand_bn" not in points
    # A projection BN without a ReLU and the residual add are points; depth_to_space keeps its input's scale.
    assert {"fastsal_dec1_project_bn", "fastsal_dec1_add", "fastsal_out"} <= set(points)
    assert "fastsal_dec1_d2s" not in points and "image" not in points
    assert len(points) == len(set(points))


def test_simulation_predicts_the_real_int8_file(tmp_path, tiny):
    from tfsal.export import export_model
    from tfsal.kernels import cc
    from tfsal.predict import load_model
    from tfsal.quantize import calibrate_ranges, simulate_int8
    from tfsal.runtime import TFLiteRunner

    model = load_model(tiny)
    cal = _images(12, seed=0)
    res = export_model(tiny, out=str(tmp_path / "t.tflite"), quantize="int8", calibration=None,
                       parity_images=list(_images(6, seed=12).astype(np.uint8)), min_cc=0, progress=False)
    x = _images(6, seed=12)
    runner = TFLiteRunner(res.path)
    real = np.concatenate([runner(v[None]) for v in x])[..., None]  # runners return (B, h, w) maps
    demo_cal = simulate_int8(model, x)  # default calibration = the export's (demo train)
    flt = model.predict(x, verbose=0)
    # The simulation is closer to the int8 file than the float model is, and within a few output steps of it.
    err_sim, err_float = np.abs(demo_cal - real).mean(), np.abs(flt - real).mean()
    assert err_sim < err_float
    assert np.abs(demo_cal - real).max() < 8 / 256
    assert min(cc(a, b) for a, b in zip(demo_cal, real)) > 0.99
    ranges = calibrate_ranges(model, cal)
    assert all(lo <= 0 <= hi for lo, hi in ranges.values())
    with pytest.raises(ValueError, match="not quantisation points"):
        simulate_int8(model, x, calibration=cal, points=["nope"])


def test_int8_finetune_raises_the_simulated_cc_and_writes_model_and_record(tmp_path, tiny, coarse):
    from tfsal.predict import load_model
    from tfsal.quantize import int8_finetune

    out = str(tmp_path / "ft.keras")
    res = int8_finetune(coarse, out, epochs=1, batch_size=16, num_calibration=16, learning_rate=1e-3, progress=False)
    assert os.path.isfile(out) and os.path.isfile(out + ".json")
    assert len(res.history) == 1 and np.isfinite(res.history[0]["loss"])
    # it does what it is for: the simulated int8 map agrees with the float map much better (measured 0.78 -> 0.9)
    assert res.sim_cc_before < 0.9 and res.sim_cc_after > res.sim_cc_before + 0.05, res.summary()
    assert res.task_loss_after <= 1.25 * res.task_loss_before
    record = json.load(open(out + ".json"))
    assert record["settings"]["epochs"] == 1 and record["model_path"] == out
    assert load_model(out).output_shape == (None, 32, 48, 1)
    with pytest.raises(FileExistsError, match="exists"):
        int8_finetune(tiny, out, epochs=1)
    with pytest.raises(ValueError, match="unknown loss"):
        int8_finetune(tiny, str(tmp_path / "x.keras"), loss="nope")
    with pytest.raises(ValueError, match=r"\.keras"):
        int8_finetune(tiny, str(tmp_path / "x.h5"))
    with pytest.raises(ValueError, match="epochs"):
        int8_finetune(tiny, str(tmp_path / "x.keras"), epochs=0)
    assert not os.path.exists(tmp_path / "x.keras")


def test_int8_finetune_refuses_a_model_that_got_worse(tmp_path, tiny, monkeypatch):
    import tfsal.quantize as q

    monkeypatch.setattr(q, "MAX_TASK_LOSS_INCREASE", 0.0)  # any result counts as worse
    out = str(tmp_path / "worse.keras")
    with pytest.raises(ValueError, match="worse at its task.*written for inspection.*--consistency-weight"):
        q.int8_finetune(tiny, out, epochs=1, batch_size=16, num_calibration=16, progress=False)
    record = json.load(open(out + ".json"))
    assert record["task_loss_after"] > 0 and np.isfinite(record["task_loss_before"])


def test_cli_int8_finetune_errors(tmp_path, tiny):
    from tfsal.cli import main

    r = CliRunner().invoke(main, ["int8-finetune", str(tmp_path / "missing.h5"), "--out", str(tmp_path / "o.keras")])
    assert r.exit_code != 0 and "missing.h5" in r.output
    r = CliRunner().invoke(main, ["int8-finetune", tiny, "--out", tiny])
    assert r.exit_code != 0 and "exists" in r.output


@pytest.mark.slow
def test_train_int8_step_fine_tunes_and_keeps_the_float_model(tmp_path, monkeypatch):
    import importlib
    import json

    from tfsal import quantize

    trainer, post = importlib.import_module("tfsal.train"), importlib.import_module("tfsal.training.post")
    monkeypatch.setattr(post, "INT8_READY_EPOCHS", 1)
    # The step's cost is in its inputs' size, not what is checked: int8_finetune on 8 train and 8 calibration images.
    read = quantize.read_examples
    monkeypatch.setattr(quantize, "read_examples", lambda data, split: read(data, split)[:8])
    finetune = post.int8_finetune
    monkeypatch.setattr(post, "int8_finetune", lambda *a, **k: finetune(*a, num_calibration=8, **k))
    r = trainer.train("fastsal-a", epochs=1, image_size=(64, 96), max_images=8, weights=None, output_blur=None,
                      int8_ready=True, out=str(tmp_path / "run"), verbose=0)
    record = json.load(open(tmp_path / "run" / "metrics.json"))["int8_ready"]
    assert {"sim_cc_before", "sim_cc_after", "epochs"} <= set(record) and record["epochs"] == 1
    assert (tmp_path / "run" / "best_float.keras").is_file() and os.path.isfile(r.model_path)
    monkeypatch.setenv("TFSAL_INT8_READY", "0")  # the "auto" default is off in tests; False is always off
    assert post.make_int8_ready(None, "auto", "fastsal-a", "demo", [], 8, "x") is None
    assert post.make_int8_ready(None, False, "fastsal-a", "demo", [], 8, "x") is None

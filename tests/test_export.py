"""Export (TFLite / ONNX), the FastSal-C fold, parity, the benchmark and their CLI errors. Tiny models, tiny inputs."""
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import tiny_saliency_model, write_jpeg

_tiny_model = tiny_saliency_model  # a small raw-RGB → sigmoid-map model (fast to convert)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("imgs")
    for i in range(3):
        write_jpeg(str(root / f"im{i}.jpg"), 40 + 8 * i, 56, seed=i)
    return str(root)


@pytest.fixture(scope="module")
def tiny_keras(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("model") / "tiny.keras")
    _tiny_model().save(path)
    return path


def _randomise_head(model, rng, scale=0.05):
    for layer in model.layers:
        if (layer.name.startswith("fastsal_adapt") and layer.name.endswith("_conv")) or layer.name == "fastsal_out_conv":
            layer.set_weights([rng.normal(0, scale, w.shape).astype("float32") for w in layer.get_weights()])


def _fastsal_c_logits(shape, seed):
    import keras

    from tfsal.models import fastsal_c

    keras.utils.set_random_seed(seed)
    model = fastsal_c(input_shape=shape, output_activation=None)  # logits: no sigmoid squashing the difference
    _randomise_head(model, np.random.default_rng(seed), scale=0.2)
    return model


@pytest.fixture(scope="module")
def c_small():
    return _fastsal_c_logits((64, 96, 3), 1)


def _check_fold(model, rng):
    from tfsal.export import fold_fastsal_c

    shape = model.input_shape[1:]
    folded = fold_fastsal_c(model)
    names = [layer.name for layer in folded.layers]
    assert "fastsal_dec_concat" not in names and "fastsal_fold_select" in names
    assert folded.get_layer("fastsal_fold_sum").output.shape[1:] == (shape[0] // 2, shape[1] // 2, 36)
    x = rng.uniform(0, 255, (1,) + tuple(shape)).astype("float32")
    a, b = model.predict_on_batch(x), folded.predict_on_batch(x)
    assert np.abs(a).max() > 1.0  # a non-trivial map
    assert np.abs(a - b).max() < 1e-4


def test_fold_fastsal_c_matches_original_64x96(c_small, rng):
    _check_fold(c_small, rng)


def test_fold_fastsal_c_matches_original_192x256(rng):
    _check_fold(_fastsal_c_logits((192, 256, 3), 3), rng)


def test_fold_rejects_other_models():
    from tfsal.export import fold_fastsal_a, fold_fastsal_c

    with pytest.raises(ValueError, match="FastSal-C"):
        fold_fastsal_c(_tiny_model())
    with pytest.raises(ValueError, match="FastSal-A"):
        fold_fastsal_a(_tiny_model())


def test_fold_fastsal_a_head_matches_original(rng):
    """The output conv moved before the last depth_to_space gives the same logits, borders included."""
    import keras

    from tfsal.export import fold_fastsal_a
    from tfsal.models import fastsal_a

    keras.utils.set_random_seed(5)
    model = fastsal_a(input_shape=(64, 96, 3), output_activation=None)
    _randomise_head(model, np.random.default_rng(5), scale=0.5)
    folded = fold_fastsal_a(model)
    assert "fastsal_out_conv" not in [layer.name for layer in folded.layers]
    assert folded.get_layer("fastsal_fold_out_conv").output.shape[1:] == (32, 48, 4)
    x = rng.uniform(0, 255, (2, 64, 96, 3)).astype("float32")
    a, b = model.predict_on_batch(x), folded.predict_on_batch(x)
    assert np.abs(a).std() > 1e-3
    np.testing.assert_allclose(b, a, atol=1e-5 * max(1.0, float(np.abs(a).max())))


def test_export_fastsal_c_float32_folded(tmp_path, images, c_small):
    from tfsal.export import export_model

    model = c_small
    out = str(tmp_path / "c.tflite")
    r = export_model(model, out=out, parity_images=images)
    assert r.folded and os.path.isfile(out) and r.size_bytes == os.path.getsize(out)
    assert not any(op.startswith("Flex") or op in ("CUSTOM", "READ_VARIABLE") for op in r.ops)
    assert "DEPTH_TO_SPACE" in r.ops and "RESIZE_BILINEAR" in r.ops
    assert r.parity["num_images"] == 3 and r.parity["cc_mean"] >= 0.999
    meta = json.load(open(out + ".json"))
    assert meta["input"]["shape"] == [1, 64, 96, 3] and meta["input"]["dtype"] == "float32"
    assert meta["input"]["pixel_range"] == [0, 255] and meta["input"]["color_order"] == "RGB"
    assert meta["output"]["shape"] == [1, 64, 96, 1] and "saliency" in meta["output"]["meaning"]
    assert meta["folded_fastsal_c_decoder"] and meta["tfsal_version"] and meta["parity_passed"]
    # facts from the model registry, the file's checksum, the resize method, no absolute local path
    import hashlib

    assert meta["registered_name"] == "fastsal-c" and meta["input"]["preprocessing"] == "mobilenet"
    assert "127.5" in meta["input"]["normalisation"] and "bilinear" in meta["input"]["resize"]
    # c_small is built with output_activation=None: the model's last layer overrides the registry's "sigmoid"
    assert meta["output"]["kind"] == "linear" and meta["output"]["value_range"] is None
    assert meta["sha256"] == hashlib.sha256(open(out, "rb").read()).hexdigest()
    assert str(tmp_path) not in json.dumps(meta) and not any(
        isinstance(v, str) and os.path.isabs(v) for v in _values(meta))


def _values(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _values(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _values(v)
    else:
        yield obj


def test_sidecar_facts_per_model_kind(tmp_path, images):
    from tfsal.export import export_model
    from tfsal.models import create_model
    from tfsal.models._registry import model_facts

    assert model_facts(create_model("fastsal-a", input_shape=(64, 96, 3)))["output_kind"] == "sigmoid"
    assert model_facts(None, "salnet")["preprocessing"] == "caffe"
    density = create_model("deepgaze2", input_shape=(32, 48, 3), weights=None)
    meta = export_model(density, out=str(tmp_path / "d.tflite"), parity_images=images, num_parity=1,
                        min_cc=-1).metadata
    assert meta["registered_name"] == "deepgaze2" and meta["output"]["kind"] == "density"
    assert meta["input"]["preprocessing"] == "caffe" and "BGR" in meta["input"]["normalisation"]
    linear = create_model("shallow", input_shape=(32, 32, 3), weights=None)
    meta = export_model(linear, out=str(tmp_path / "s.tflite"), parity_images=images, num_parity=1,
                        min_cc=-1).metadata
    assert meta["output"]["kind"] == "linear" and meta["output"]["value_range"] is None
    assert meta["output"]["shape"] == [1, 16, 16, 1] and meta["input"]["preprocessing"] == "centred-unit"


@pytest.mark.parametrize("io_dtype", ["uint8", "int8"])
def test_export_int8_io_and_calibration_folder(tmp_path, images, io_dtype):
    from tfsal.export import export_model

    out = str(tmp_path / "m.tflite")
    r = export_model(_tiny_model(), out=out, quantize="int8", io_dtype=io_dtype, calibration=images,
                     num_calibration=2, parity_images=images, min_cc=0.9, progress=False)
    meta = r.metadata
    assert meta["input"]["dtype"] == io_dtype and meta["output"]["dtype"] == io_dtype
    # 2 calibration images: the input range is still pinned to raw bytes (scale 1; MediaPipe, Bitmap bytes)
    assert meta["input"]["quantization"] == {"scale": 1.0, "zero_point": 0 if io_dtype == "uint8" else -128}
    assert meta["calibration"]["num_images"] == 2
    assert ("signed" if io_dtype == "int8" else "unsigned") in meta["output"]["read"]
    assert meta["calibration"]["images"] == os.path.basename(images)  # no absolute path
    assert r.parity["cc_mean"] >= 0.9


def test_share_identical_vectors_is_smaller_and_bit_identical():
    from ai_edge_litert.interpreter import Interpreter

    from tfsal.export import _convert_tflite, share_identical_vectors

    model = _tiny_model()
    rep = np.random.default_rng(0).uniform(0, 255, (4, 32, 48, 3)).astype("float32")
    original = _convert_tflite(model, "int8", "uint8", rep, progress=False)
    packed = share_identical_vectors(original)
    assert len(packed) < len(original)
    x = np.random.default_rng(1).integers(0, 256, (1, 32, 48, 3)).astype(np.uint8)
    outs = []
    for content in (original, packed):
        interp = Interpreter(model_content=content)
        interp.allocate_tensors()
        interp.set_tensor(interp.get_input_details()[0]["index"], x)
        interp.invoke()
        outs.append(interp.get_tensor(interp.get_output_details()[0]["index"]).copy())
    np.testing.assert_array_equal(outs[0], outs[1])


def test_export_float16_dynamic_and_parity_failure(tmp_path, images):
    from tfsal.export import export_model

    model = _tiny_model()
    for q in ("float16", "dynamic"):
        r = export_model(model, out=str(tmp_path / f"{q}.tflite"), quantize=q, parity_images=images)
        assert r.quantize == q and r.parity["cc_mean"] >= 0.99
    with pytest.raises(ValueError, match="parity check failed"):
        export_model(model, out=str(tmp_path / "x.tflite"), quantize="dynamic", parity_images=images, min_cc=1.0)
    with pytest.raises(ValueError, match=r"min_cc must be a number in \[-1, 1\]; got 1.01"):
        export_model(model, out=str(tmp_path / "y.tflite"), quantize="dynamic", parity_images=images, min_cc=1.01)


def test_export_refuses_unsupported_op(tmp_path, images):
    import keras
    from keras import layers

    from tfsal.export import export_model

    inp = keras.Input((16, 16, 3))
    x = layers.Lambda(lambda t: keras.ops.erfinv(keras.ops.clip(t / 256.0, 0.0, 0.9)))(inp)
    model = keras.Model(inp, layers.Conv2D(1, 1, activation="sigmoid")(x))
    with pytest.raises(ValueError, match="unsupported op"):
        export_model(model, out=str(tmp_path / "bad.tflite"), parity_images=images)
    assert not os.path.exists(tmp_path / "bad.tflite")


def test_export_onnx(tmp_path, images):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")
    from tfsal.export import export_model

    model = _tiny_model()
    r = export_model(model, out=str(tmp_path / "m.onnx"), format="onnx", parity_images=images)
    assert r.format == "onnx" and r.parity["cc_mean"] >= 0.999 and "Conv" in r.ops
    from tfsal.predict import predict_maps  # predict and evaluate run .onnx files (tfsal.runtime.OnnxRunner)

    img = [np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)]
    np.testing.assert_allclose(predict_maps(r.path, img)[0], predict_maps(model, img)[0], atol=1e-4)
    with pytest.raises(ValueError, match="not supported by format 'onnx'"):
        export_model(_tiny_model(), out=str(tmp_path / "n.onnx"), format="onnx", quantize="int8")


def test_benchmark_rows(tmp_path, images, tiny_keras):
    from tfsal.benchmark import benchmark, format_table
    from tfsal.export import export_model

    out = str(tmp_path / "b.tflite")
    export_model(_tiny_model(), out=out, parity_images=images)
    rows = benchmark([tiny_keras, out], threads=(1, 2), runs=3, warmup=1)
    assert [r["threads"] for r in rows] == ["tf", 1, 2]
    assert all(r["median_ms"] > 0 and r["p90_ms"] >= r["median_ms"] for r in rows)
    assert "float32" in format_table(rows)
    with pytest.raises(ValueError, match="expected a"):
        benchmark([str(tmp_path / "m.h5")])


def test_benchmark_warns_when_the_sidecar_says_parity_failed(tmp_path, images, caplog):
    from tfsal.benchmark import benchmark
    from tfsal.export import export_model

    out = str(tmp_path / "f.tflite")
    with pytest.raises(ValueError, match="parity check failed"):
        export_model(_tiny_model(), out=out, quantize="dynamic", parity_images=images, min_cc=1.0)
    with caplog.at_level("WARNING", logger="tfsal.benchmark"):
        benchmark([out], threads=(1,), runs=1, warmup=0)
    warned = [r.getMessage() for r in caplog.records if r.name == "tfsal.benchmark"]
    assert len(warned) == 1 and "parity check FAILED" in warned[0] and "f.tflite" in warned[0]


# ---------------------------------------------------------------- CLI
def _cli(*args):
    from tfsal.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_cli_export_and_benchmark(tmp_path, tiny_keras, images):
    out = tmp_path / "t.tflite"
    res = _cli("export", tiny_keras, "--tflite", "--out", out, "--parity-images", images)
    assert res.exit_code == 0, res.output
    assert "parity vs Keras on 3 images" in res.output and out.exists() and (tmp_path / "t.tflite.json").exists()
    res = _cli("export", tiny_keras, "--out", out, "--parity-images", images)
    assert res.exit_code == 1 and "already exists" in res.output
    res = _cli("benchmark", out, "--threads", "1", "--runs", "2", "--warmup", "0")
    assert res.exit_code == 0 and "load average" in res.output and "| t.tflite |" in res.output


def test_cli_export_bad_input(tmp_path, tiny_keras):
    h5 = tmp_path / "m.h5"
    h5.write_bytes(b"x")
    res = _cli("export", h5, "--tflite")
    assert res.exit_code == 1 and "expected a .keras model file" in res.output and "m.h5" in res.output
    res = _cli("export", tmp_path / "missing.keras")
    assert res.exit_code == 1 and "does not exist" in res.output
    res = _cli("export", tiny_keras, "--quantize", "int4")
    assert res.exit_code == 1 and "unknown quantize option 'int4'" in res.output
    empty = tmp_path / "empty"
    empty.mkdir()
    res = _cli("export", tiny_keras, "--quantize", "int8", "--calibration", empty, "--out", tmp_path / "e.tflite")
    assert res.exit_code == 1 and "has no images" in res.output
    res = _cli("export", tiny_keras, "--quantize", "float16", "--calibration", empty)
    assert res.exit_code == 1 and "only applies to quantize='int8'" in res.output
    res = _cli("export", tiny_keras, "--onnx", "--quantize", "int8")
    assert res.exit_code == 1 and "not supported by format 'onnx'" in res.output
    res = _cli("export", tiny_keras, "--quantize", "float16", "--io-dtype", "uint8")
    assert res.exit_code == 1 and "io_dtype 'uint8'" in res.output
    res = _cli("benchmark", tmp_path / "nope.tflite")
    assert res.exit_code == 1 and "does not exist" in res.output


def test_load_calibration_images_and_the_registry_fold_hook(tmp_path, images):
    from tfsal.export import calibration_images, default_parity_images, load
    from tfsal.models import model_info

    cal, desc = calibration_images((32, 48), num=3)  # default: the built-in demo data, never a checkout path
    assert cal.shape == (3, 32, 48, 3) and cal.dtype == np.float32 and desc == "demo train split"
    assert default_parity_images(5)[1] == "demo val split" and len(default_parity_images(5)[0]) == 5
    cal, desc = calibration_images((32, 48), images, num=2)
    assert len(cal) == 2 and desc == os.path.basename(images)
    assert calibration_images((32, 48), cal)[1] == "given images"
    with pytest.raises(FileNotFoundError, match="calibration folder"):
        calibration_images((32, 48), str(tmp_path / "none"))
    model = _tiny_model()
    assert load(model).model is model and load(model).source is None
    with pytest.raises(ValueError, match=r"expected a \.keras model file.*x\.h5"):
        load(str(tmp_path / "x.h5"))
    with pytest.raises(FileNotFoundError, match="missing.keras"):
        load(str(tmp_path / "missing.keras"))
    # export knows no model: FastSal's folds are its registry entries' hook
    assert model_info("fastsal-c").export_fold is model_info("fastsal-a").export_fold is not None
    assert model_info("salnet").export_fold is None

"""tfsal.bench_runtimes.compare_runtimes on a tiny model, 1 round: the rows of the installed runtimes are timed,
those of missing ones say why, and the floor and ratios are filled in."""
import importlib.util

import numpy as np

import pytest

keras = pytest.importorskip("keras")

from tfsal.bench_runtimes import (NOT_INSTALLED, _add_ratios, _fingerprint, compare_runtimes,  # noqa: E402
                                  format_runtime_table, int8_variant, interleaved_rounds)


def _tiny():
    inp = keras.Input((16, 16, 3), batch_size=1)
    x = keras.layers.Rescaling(1 / 255.0, name="scale")(inp)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(x)
    x = keras.layers.Conv2D(1, 1, activation="sigmoid", name="head")(x)
    return keras.Model(inp, x, name="tiny_bench")


def test_ratios_are_paired_and_floor_multiples():
    rows = [
        {"model": "m", "runtime": "tfsal litert (xnnpack)", "variant": "int8", "precision": "int8", "threads": 1,
         "gflops": 1.0, "min_ms": 4.0, "median_ms": 5.0, "rounds_ms": [4.0, 6.0, 5.0], "cpu_ms": 4.0},
        {"model": "m", "runtime": "openvino", "variant": "int8", "precision": "int8", "threads": 1, "gflops": 1.0,
         "min_ms": 8.0, "median_ms": 10.0, "rounds_ms": [8.0, 12.0, 10.0], "cpu_ms": 8.0},
        {"model": "m", "runtime": "onnxruntime", "variant": "float32", "precision": "float32", "threads": 1,
         "gflops": 1.0, "missing": NOT_INSTALLED},
    ]
    floor = [{"kernel": "k", "kind": "conv", "precision": "int8", "threads": 1, "gflops": 0.5, "min_ms": 1.0,
              "gflops_per_s": 500.0, "cpu_ms": 0.5, "gflops_per_cpu_s": 1000.0}]
    _add_ratios(rows, floor)
    assert rows[0]["vs_best_other"] == pytest.approx(2.0) and rows[1]["vs_best_other"] == pytest.approx(1.0)
    assert rows[0]["floor_ms"] == pytest.approx(2.0) and rows[0]["floor_x"] == pytest.approx(2.0)
    assert rows[0]["floor_x_cpu"] == pytest.approx(4.0)  # 4 CPU ms ÷ (1 GFLOP at 1000 GFLOP/CPU-s)
    text = format_runtime_table({"rows": rows, "floor": floor, "load_before": (1, 2, 3), "load_after": (1, 2, 3),
                                 "rounds": 3, "runs": 1, "warmup": 0, "versions": {"openvino": "x"}})
    assert "2.00×" in text and NOT_INSTALLED in text and "500.0" in text
    wall, cpu = interleaved_rounds([lambda: None, lambda: None], rounds=2, runs=1, cpu=True)
    assert wall.shape == cpu.shape == (2, 2)


def test_cache_fingerprint_and_int8_variant(tmp_path):
    """Cached exports are keyed by the weights and settings (an upgrade or new weights never reuses old files), and
    the int8 row names the layers its file keeps float."""
    net = _tiny()
    key = _fingerprint(net, None, 100, (20, None))
    assert key == _fingerprint(net, None, 100, (20, None)) and len(key) == 12
    assert key != _fingerprint(net, None, 50, (20, None))
    net.get_layer("head").kernel.assign(net.get_layer("head").kernel + 1.0)
    assert key != _fingerprint(net, None, 100, (20, None))
    path = str(tmp_path / "m_int8.tflite")
    assert int8_variant(path) == "int8 (uint8 io)"  # no sidecar
    (tmp_path / "m_int8.tflite.json").write_text('{"int8_float": {"layers": ["fastsal_dec", "fastsal_out"]}}')
    assert int8_variant(path) == "int8 (uint8 io; float: fastsal_dec, fastsal_out)"


@pytest.mark.slow
def test_compare_runtimes_tiny(tmp_path):
    floor = (("tiny 1x1 conv", "conv", (8, 8, 8), 8, 1),)
    result = compare_runtimes(_tiny(), threads=(1,), rounds=1, runs=1, warmup=0, workdir=tmp_path,
                              num_calibration=4, num_parity=2, ort_int8=False, floor=floor,
                              min_cc=0.9)  # a random tiny model calibrated on 4 images: timing, not accuracy
    rows = {(r["runtime"], r["variant"]): r for r in result["rows"]}
    assert rows[("tfsal litert (xnnpack)", "int8 (uint8 io)")]["median_ms"] > 0
    assert rows[("tfsal litert (xnnpack)", "int8 (uint8 io)")]["cpu_ms"] >= 0
    assert rows[("tfsal litert (xnnpack)", "float32")]["floor_x"] > 0
    assert rows[("tfsal litert (xnnpack)", "float32")]["parity_cc"] > 0.99  # same weights, float
    assert all(r["parity_cc"] is not None for r in result["rows"] if "missing" not in r)
    have_onnx = all(importlib.util.find_spec(m) for m in ("onnxruntime", "tf2onnx"))
    have_ov = have_onnx and all(importlib.util.find_spec(m) for m in ("openvino", "nncf"))
    assert ("missing" not in rows[("onnxruntime", "float32")]) == have_onnx
    assert ("missing" not in rows[("openvino", "int8 (nncf ptq)")]) == have_ov
    if not have_ov:
        assert NOT_INSTALLED in rows[("openvino", "int8 (nncf ptq)")]["missing"] or not have_onnx
    if have_onnx:
        assert rows[("tfsal litert (xnnpack)", "int8 (uint8 io)")]["vs_best_other"] > 0
    assert [f["precision"] for f in result["floor"]] == ["int8", "float32"]
    text = format_runtime_table(result)
    assert "load average before" in text and "tiny_bench" in text and "GFLOP/s" in text


def test_cli_benchmark_runtimes_tiny(tmp_path, monkeypatch):
    """``tfsal benchmark --runtimes`` on a tiny .keras file: tfsal's rows timed, OpenVINO's (made absent) say so."""
    from click.testing import CliRunner

    import tfsal.bench_runtimes as br
    from tfsal.cli import main

    inp = keras.Input((32, 32, 3), batch_size=1)
    x = keras.layers.Rescaling(1 / 255.0, name="scale")(inp)
    x = keras.layers.Conv2D(1, 1, activation="sigmoid", name="head", kernel_initializer="ones")(x)
    path = tmp_path / "tiny_rt.keras"
    keras.Model(inp, x, name="tiny_rt").save(path)  # near-linear in the pixels: int8 parity well above 0.99
    real = br._installed
    monkeypatch.setattr(br, "_installed", lambda m: m not in ("openvino", "nncf") and real(m))
    args = ["benchmark", "--runtimes", str(path), "--threads", "1", "--rounds", "1", "--runs", "1", "--warmup", "0",
            "--no-floor", "--no-ort-int8", "--workdir", str(tmp_path / "bench")]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("| tiny_rt |")]
    assert any("int8 (uint8 io)" in line and "not installed" not in line for line in lines), result.output
    assert any(line.startswith("| tiny_rt | openvino | int8") and NOT_INSTALLED in line for line in lines)


def test_one_op_models_cut_every_op_and_profile_sums_them(tmp_path):
    from tfsal.bench_runtimes import format_op_classes, one_op_models, profile_op_classes
    from tfsal.export import _convert_tflite

    inp = keras.Input((16, 16, 3), batch_size=1)
    x = keras.layers.Conv2D(8, 1, activation="relu", name="c1")(inp)
    y = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    out = keras.layers.Activation("sigmoid")(keras.layers.Add()([x, y]))
    rep = np.random.default_rng(0).uniform(0, 1, (4, 16, 16, 3)).astype("float32")
    content = _convert_tflite(keras.Model(inp, out), "int8", "uint8", rep, False)
    ops = one_op_models(content)
    labels = [o["label"] for o in ops]
    assert {"CONV_2D 1x1", "DEPTHWISE_CONV_2D 3x3", "ADD", "LOGISTIC"} <= set(labels)
    assert next(o for o in ops if o["label"] == "CONV_2D 1x1")["macs"] == 16 * 16 * 8 * 3
    path = tmp_path / "m.tflite"
    path.write_bytes(content)
    result = profile_op_classes(path, rounds=1, runs=1, warmup=0)
    assert sum(c["count"] for c in result["classes"]) == len(ops)
    assert result["sum_ms"] == pytest.approx(sum(o["ms"] for o in result["ops"]))
    assert "whole file" in format_op_classes(result)

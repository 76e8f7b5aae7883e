"""tfsal's exported files next to ONNX Runtime and OpenVINO on the same weights, with a floor measured in the same run.

:func:`compare_runtimes` exports each model once (tfsal int8 and float32 ``.tflite``, tfsal's own ``.onnx``, all
from the same Keras weights), builds the other runtimes' models from that ONNX file (OpenVINO fp32; OpenVINO int8
by NNCF post-training quantisation and, optionally, ONNX Runtime int8 by static QDQ quantisation, both calibrated
on the same images as tfsal's int8 export), and times every row, rounds interleaved between rows so that background
load hits them alike. It also times small one-layer LiteRT models of known FLOPs (:data:`FLOOR_KERNELS`, sized like
FastSal's big layers) in the same rounds: their best rate is the floor, and each model row is given as a multiple
of the time its FLOPs would take at that rate (int8 rows against the int8 rate, float rows against the float rate).

A runtime that is not installed gives a row that says so, never a crash. All runs are batch 1.

Example:
    >>> from tfsal.bench_runtimes import compare_runtimes, format_runtime_table
    >>> result = compare_runtimes(["fastsal-a"], threads=(1,), rounds=3)  # doctest: +SKIP
    >>> print(format_runtime_table(result))  # doctest: +SKIP
"""
import hashlib
import importlib.util
import json
import logging
import os
import time

import numpy as np

from tfsal import checks
from tfsal._version import __version__
from tfsal.benchmark import cpu_description
from tfsal.errors import UserError
from tfsal.export import (_convert_tflite, calibration_images, default_parity_images, export_model, parity_check,
                          prepare_images)
from tfsal.models._fastsal_fold import export_fold
from tfsal.models import count_flops, load_keras_model, load_pretrained
from tfsal.runtime import OnnxRunner, TFLiteRunner

__all__ = ["compare_runtimes", "format_runtime_table", "FLOOR_KERNELS", "load_average", "interleaved_rounds",
           "litert_callable", "one_op_models", "profile_op_classes", "format_op_classes"]

log = logging.getLogger("tfsal.benchmark")

# One-layer models of the floor: (label, kind, (H, W, Cin), Cout, kernel). Sized like FastSal-A's heavy layers at
# 192x256: MobileNetV2's expand/project 1x1 convs at 48x64 and the decoder's 3x3 convs; the depthwise row shows the
# memory-bound rate (MobileNetV2's depthwise 3x3 at 96x128x96, and at the shapes of FastSal-A's two slowest
# depthwise ops), which is reported but not the floor. Every op class at the model's own shapes: profile_op_classes.
FLOOR_KERNELS = (
    ("1x1 conv 48x64, 192->192", "conv", (48, 64, 192), 192, 1),
    ("3x3 conv 48x64, 64->64", "conv", (48, 64, 64), 64, 3),
    ("3x3 depthwise 96x128x96", "depthwise", (96, 128, 96), 96, 3),
    # FastSal-A int8's two slowest depthwise ops (benchmarks/bench_op_classes.py: block_2 and block_1 of MobileNetV2)
    ("3x3 depthwise 48x64x144", "depthwise", (48, 64, 144), 144, 3),
    ("3x3 depthwise 96x128x32", "depthwise", (96, 128, 32), 32, 3),
)

NOT_INSTALLED = "not installed"


def load_average():
    """The 1, 5 and 15-minute load averages (``nan`` where the OS has none)."""
    return os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3


def _installed(module):
    return importlib.util.find_spec(module) is not None


# --------------------------------------------------------------------------------------------------------------
# Files: one export per model and format, cached in ``workdir``
# --------------------------------------------------------------------------------------------------------------
def _keras_model(model):
    """``(keras.Model, row name, registered name or None)`` of a model, a ``.keras`` path or a registered name."""
    if hasattr(model, "predict_on_batch"):
        return model, model.name, None
    if str(model).endswith(".keras"):
        return load_keras_model(model), os.path.basename(os.fspath(model))[: -len(".keras")], None
    return load_pretrained(model), str(model), str(model)


def _exported_graph(net):
    """The graph tfsal's export writes (FastSal-A/-C folded), for its FLOP count."""
    folded = export_fold(net)
    return net if folded is None else folded[0]


def _fingerprint(net, calibration, num_calibration, parity):
    """12 hex digits that change with anything the cached exports depend on: tfsal's version, the model's graph
    and input size, its weights, and the calibration and parity settings (a cache from another version or other
    weights is never reused)."""
    h = hashlib.sha256(json.dumps([__version__, str(net.input_shape), net.to_json(), os.fspath(calibration or ""),
                                   num_calibration, list(parity)], default=str).encode())
    for w in net.weights:
        h.update(np.ascontiguousarray(np.asarray(w)).tobytes())
    return h.hexdigest()[:12]


def _export(model, out, fmt, quantize, calibration, num_calibration, parity, registered):
    if not os.path.isfile(out):
        kw = {"calibration": calibration, "num_calibration": num_calibration} if quantize == "int8" else {}
        num_parity, min_cc = parity
        if min_cc is not None:
            kw["min_cc"] = min_cc
        export_model(model, out=out, format=fmt, quantize=quantize, num_parity=num_parity, progress=False,
                     registered_name=registered, **kw)
    return out


def int8_variant(path):
    """The int8 row's variant label from the export's sidecar: ``"int8 (uint8 io)"``, or with the layers that
    ``tfsal export``'s default ``--float-ops auto`` kept float (FastSal-A's decoder), so that the row says it is not
    a full-integer file."""
    try:
        with open(path + ".json") as f:
            layers = (json.load(f).get("int8_float") or {}).get("layers") or []
    except FileNotFoundError:
        layers = []
    return "int8 (uint8 io)" if not layers else f"int8 (uint8 io; float: {', '.join(layers)})"


def _prepare(model, workdir, calibration, num_calibration, parity):
    net, name, registered = _keras_model(model)
    tag = name.replace("/", "_")
    folder = os.path.join(workdir, f"{tag}-{_fingerprint(net, calibration, num_calibration, parity)}")
    os.makedirs(folder, exist_ok=True)
    files = {"int8": os.path.join(folder, f"{tag}_int8.tflite"),
             "float32": os.path.join(folder, f"{tag}_float32.tflite"),
             "onnx": os.path.join(folder, f"{tag}.onnx")}
    # a registered name exports as `tfsal export NAME` does (int8: its default --float-ops auto, the float weights)
    src = registered or net
    _export(src, files["int8"], "tflite", "int8", calibration, num_calibration, parity, registered)
    _export(src, files["float32"], "tflite", "none", calibration, num_calibration, parity, registered)
    if _installed("tf2onnx") and _installed("onnxruntime"):
        _export(src, files["onnx"], "onnx", None, calibration, num_calibration, parity, registered)
    else:
        files["onnx"] = None
    h, w = net.input_shape[1:3]
    return {"name": name, "files": files, "size": (h, w), "gflops": count_flops(_exported_graph(net))[1] / 1e9,
            "int8_variant": int8_variant(files["int8"]), "net": net}


# --------------------------------------------------------------------------------------------------------------
# Runners: each a factory ``make(threads) -> callable`` of one batch-1 forward pass on a fixed input
# --------------------------------------------------------------------------------------------------------------
def litert_callable(path=None, content=None, threads=1, **options):
    """One batch-1 ``invoke`` of a ``.tflite`` model in the LiteRT interpreter (XNNPACK), on a fixed random input.

    Args:
        path: a ``.tflite`` file, or
        content: its bytes.
        threads: the interpreter's thread count.
        **options: more ``Interpreter`` options (e.g. ``experimental_default_delegate_latest_features=True``).

    Returns:
        A callable without arguments (``Interpreter.invoke``).

    Example:
        >>> run = litert_callable("fastsal-a_int8.tflite", threads=1)  # doctest: +SKIP
        >>> run()  # doctest: +SKIP
    """
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=None if path is None else os.fspath(path), model_content=content,
                         num_threads=int(threads), **options)
    interp.allocate_tensors()
    d = interp.get_input_details()[0]
    rng = np.random.default_rng(0)
    if np.issubdtype(d["dtype"], np.integer):
        x = rng.integers(0, 128, d["shape"]).astype(d["dtype"])
    else:
        x = rng.uniform(0, 255, d["shape"]).astype(d["dtype"])
    interp.set_tensor(d["index"], x)
    return interp.invoke


def _litert(path=None, content=None):
    return lambda n: litert_callable(path, content, n)


def _image(size):
    return np.random.default_rng(0).uniform(0, 255, (1, *size, 3)).astype(np.float32)


def _ort(path, size):
    def make(n):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = int(n), 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        feed = {sess.get_inputs()[0].name: _image(size)}
        return lambda: sess.run(None, feed)

    return make


def _ov_compiled(ov_model, threads, precision):
    import openvino as ov

    config = {"INFERENCE_NUM_THREADS": int(threads), "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"}
    if precision == "f32":
        config["INFERENCE_PRECISION_HINT"] = "f32"  # no bf16/f16 on CPUs that have it: the float32 row
    return ov.Core().compile_model(ov_model, "CPU", config)


def _openvino(ov_model, size, precision):
    def make(n):
        request = _ov_compiled(ov_model, n, precision).create_infer_request()
        x = _image(size)
        return lambda: request.infer({0: x})

    return make


def _calibration(size, calibration, num_calibration):
    """The images tfsal's int8 export calibrates on, as raw-pixel float32 ``(1, H, W, 3)`` batches."""
    images, _ = calibration_images(size, calibration, num_calibration)
    return [x[None] for x in images]


def _ov_models(onnx_path, workdir, tag, cal):
    """OpenVINO fp32 (the ONNX file read as is) and int8 (NNCF post-training quantisation, cached as IR)."""
    import openvino as ov

    core = ov.Core()
    fp32 = core.read_model(onnx_path)
    xml = os.path.join(workdir, f"{tag}_openvino_int8.xml")
    if not os.path.isfile(xml):
        import nncf

        quantized = nncf.quantize(core.read_model(onnx_path), nncf.Dataset(cal), subset_size=len(cal))
        ov.save_model(quantized, xml)
    return fp32, core.read_model(xml)


def _ort_int8(onnx_path, workdir, tag, cal):
    """ONNX Runtime static int8 (QDQ, per-channel weights) of tfsal's ONNX file, on the same calibration images."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    out = os.path.join(workdir, f"{tag}_ort_int8.onnx")
    if not os.path.isfile(out):
        import onnxruntime as ort

        name = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"]).get_inputs()[0].name

        class Reader(CalibrationDataReader):
            def __init__(self):
                self.it = iter(cal)

            def get_next(self):
                x = next(self.it, None)
                return None if x is None else {name: x}

        quantize_static(onnx_path, out, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return out


def _litert_row(variant, precision, path):
    return ("tfsal litert (xnnpack)", variant, precision, _litert(path), lambda: TFLiteRunner(path, num_threads=2))


def _ort_row(variant, precision, path, size):
    return ("onnxruntime", variant, precision, _ort(path, size), lambda: OnnxRunner(path))


def _ov_row(variant, precision, ov_model, size, hint):
    def predict():
        compiled = _ov_compiled(ov_model, 2, hint)
        return lambda x: np.asarray(compiled(np.asarray(x, np.float32))[0], np.float32).reshape(len(x), *size)

    return ("openvino", variant, precision, _openvino(ov_model, size, hint), predict)


def _model_rows(prep, calibration, num_calibration, ort_int8):
    """Row specs of one model: ``(runtime, variant, precision, make or reason-it-is-missing, predictor or None)``;
    ``make(threads)`` gives the timed callable, ``predictor()`` a callable from a raw-pixel batch to maps."""
    f, size, tag = prep["files"], prep["size"], os.path.basename(prep["files"]["int8"])[: -len("_int8.tflite")]
    workdir = os.path.dirname(f["int8"])  # the model's fingerprinted cache folder (the other runtimes' files too)
    rows = [_litert_row(prep["int8_variant"], "int8", f["int8"]), _litert_row("float32", "float32", f["float32"])]
    if f["onnx"] is None:
        rows.append(("onnxruntime", "float32", "float32", NOT_INSTALLED, None))
        if ort_int8:
            rows.append(("onnxruntime", "int8 (static QDQ)", "int8", NOT_INSTALLED, None))
        why = "no ONNX file (tf2onnx/onnxruntime not installed)"
        return rows + [("openvino", "fp32", "float32", why, None), ("openvino", "int8 (nncf ptq)", "int8", why, None)]
    rows.append(_ort_row("float32", "float32", f["onnx"], size))
    cal = None
    if ort_int8:
        cal = _calibration(size, calibration, num_calibration)
        rows.append(_ort_row("int8 (static QDQ)", "int8", _ort_int8(f["onnx"], workdir, tag, cal), size))
    if not (_installed("openvino") and _installed("nncf")):
        missing = "not installed (pip install tfsal[openvino])"
        return rows + [("openvino", "fp32", "float32", missing, None),
                       ("openvino", "int8 (nncf ptq)", "int8", missing, None)]
    cal = cal if cal is not None else _calibration(size, calibration, num_calibration)
    ov_fp32, ov_int8 = _ov_models(f["onnx"], workdir, tag, cal)
    return rows + [_ov_row("fp32", "float32", ov_fp32, size, "f32"),
                   _ov_row("int8 (nncf ptq)", "int8", ov_int8, size, "int8")]


# --------------------------------------------------------------------------------------------------------------
# The floor: one-layer LiteRT models of known FLOPs
# --------------------------------------------------------------------------------------------------------------
def _floor_model(kind, shape, cout, k):
    import keras

    inp = keras.Input(shape, batch_size=1)
    if kind == "depthwise":
        y = keras.layers.DepthwiseConv2D(k, padding="same", name="floor_dw")(inp)
    else:
        y = keras.layers.Conv2D(cout, k, padding="same", name="floor_conv")(inp)
    return keras.Model(inp, keras.layers.ReLU(name="floor_relu")(y), name=f"floor_{kind}")


def _floor_rows(kernels):
    """Row specs of ``kernels`` (as :data:`FLOOR_KERNELS`) in int8 and float32: ``(label, kind, precision, gflops,
    make)``."""
    rows = []
    rng = np.random.default_rng(0)
    for label, kind, shape, cout, k in kernels:
        model = _floor_model(kind, shape, cout, k)
        gflops = count_flops(model)[1] / 1e9
        rep = rng.uniform(0, 6, (16, *shape)).astype(np.float32)
        for precision in ("int8", "float32"):
            content = _convert_tflite(model, "int8" if precision == "int8" else "none", "int8", rep, False)
            rows.append((label, kind, precision, gflops, _litert(content=content)))
    return rows


# --------------------------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------------------------
def _median_ms(fn, runs):
    wall, cpu = np.empty(runs), np.empty(runs)
    for i in range(runs):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall[i], cpu[i] = (time.perf_counter() - t) * 1e3, (time.process_time() - c) * 1e3
    return float(np.median(wall)), float(np.median(cpu))


def interleaved_rounds(fns, rounds, runs, warmup=0, cpu=False):
    """Per-round median times (ms) of callables, rounds interleaved (one round times each callable in turn).

    Args:
        fns: callables without arguments.
        rounds: rounds.
        runs: timed calls of each callable per round (the round's figure is their median).
        warmup: untimed calls of each callable first.
        cpu: also return the process CPU time per call (``time.process_time``: all the process's threads; on a
            loaded machine it leaves out the time the process waited for a core).

    Returns:
        A ``(rounds, len(fns))`` float array of wall times, or ``(wall, cpu)`` arrays with ``cpu=True``.

    Example:
        >>> interleaved_rounds([lambda: sum(range(100))], rounds=2, runs=3).shape
        (2, 1)
    """
    for fn in fns:
        for _ in range(warmup):
            fn()
    wall, cpu_ms = np.zeros((rounds, len(fns))), np.zeros((rounds, len(fns)))
    for r in range(rounds):
        for k, fn in enumerate(fns):
            wall[r, k], cpu_ms[r, k] = _median_ms(fn, runs)
    return (wall, cpu_ms) if cpu else wall


def _specs(models, workdir, calibration, num_calibration, parity, ort_int8, say):
    """Every row to time: ``(model, runtime, variant, precision, gflops, make or missing reason, parity CC)``."""
    specs = []
    for model in models:
        say(f"preparing {model if isinstance(model, str) else model.name} (exports cached in {workdir})")
        prep = _prepare(model, workdir, calibration, num_calibration, parity)
        images = prepare_images(default_parity_images(parity[0])[0], prep["size"])
        for runtime, variant, precision, make, predict in _model_rows(prep, calibration, num_calibration, ort_int8):
            cc = None
            if predict is not None:  # None exactly when the row is missing
                cc = parity_check(prep["net"], predict(), images)["cc_mean"]  # every runtime, the same images
            specs.append((prep["name"], runtime, variant, precision, prep["gflops"], make, cc))
    return specs


def compare_runtimes(models=("fastsal-a", "fastsal-c"), threads=(1, 2), rounds=7, runs=20, warmup=5,
                     workdir=None, calibration=None, num_calibration=100, num_parity=20, ort_int8=True, floor=True,
                     min_cc=None, progress=None):
    """Time tfsal's int8/float32 ``.tflite`` files against ONNX Runtime and OpenVINO on the same weights, side by side.

    Args:
        models: registered names with shipped weights (``"fastsal-a"``), ``.keras`` paths or ``keras.Model``
            objects.
        threads: thread counts; every row runs at each.
        rounds: rounds per thread count; one round times every row once (``runs`` calls, their median), in turn.
        runs: timed calls per row and round.
        warmup: untimed calls per row before the first round.
        workdir: folder for the exported files, one subfolder per model and fingerprint (tfsal version, graph,
            weights, calibration and parity settings: reused only when all match); default
            ``~/.cache/tfsal/bench``.
        calibration: int8 calibration folder for tfsal, NNCF and ONNX Runtime alike (default: demo train, as
            ``tfsal export``).
        num_calibration: at most this many calibration images.
        num_parity: parity images (demo val) of each export (:func:`tfsal.export.export_model`) and of every
            row's parity CC against the Keras model.
        min_cc: the exports' parity threshold; ``None``: the export's default (:data:`tfsal.export.DEFAULT_MIN_CC`).
        ort_int8: add an ONNX Runtime static int8 row.
        floor: time the one-layer models of :data:`FLOOR_KERNELS` in the same rounds (``True``), none
            (``False``), or these kernels (a sequence like :data:`FLOOR_KERNELS`).
        progress: optional callable receiving a line of text per step.

    Returns:
        A dict: ``rows`` (``model``, ``runtime``, ``variant``, ``precision``, ``threads``, ``min_ms``,
        ``median_ms``, ``gflops``, ``parity_cc``, or ``missing`` with the reason), ``floor`` (``kernel``, ``kind``,
        ``precision``, ``threads``, ``gflops``, ``min_ms``, ``gflops_per_s``, ``cpu_ms``, ``gflops_per_cpu_s``),
        ``load_before``, ``load_after``, ``cpu`` (:func:`tfsal.benchmark.cpu_description`),
        ``rounds``, ``runs``, ``versions``. A row's ``cpu_ms`` is the median process CPU time per call (all
        threads; less sensitive to a loaded machine than the wall times).

    Example:
        >>> r = compare_runtimes(["fastsal-a"], threads=(1,), rounds=3)  # doctest: +SKIP
    """
    threads = list(checks.int_list(threads, "threads"))
    rounds, runs = checks.positive_int(rounds, "rounds"), checks.positive_int(runs, "runs")
    warmup = checks.non_negative_int(warmup, "warmup")
    if isinstance(models, str) or hasattr(models, "predict_on_batch"):
        models = [models]
    if not models:
        raise UserError("compare_runtimes needs at least one model (e.g. 'fastsal-a')")
    workdir = os.path.expanduser(workdir or os.path.join("~", ".cache", "tfsal", "bench"))
    os.makedirs(workdir, exist_ok=True)
    say = progress or (lambda text: None)
    specs = _specs(models, workdir, calibration, num_calibration, (num_parity, min_cc), ort_int8, say)
    floors = _floor_rows(FLOOR_KERNELS if floor is True else (floor or ()))
    load_before = load_average()
    say("timing (load average %.2f %.2f %.2f)" % load_before)
    rows, floor_rows = [], []
    for n in threads:
        live = [s for s in specs if callable(s[5])]
        makers = [s[5] for s in live] + [f[4] for f in floors]
        per_round, cpu_rounds = (a.T for a in interleaved_rounds([make(n) for make in makers], rounds, runs, warmup,
                                                                  cpu=True))
        for spec in specs:
            row = dict(zip(("model", "runtime", "variant", "precision", "gflops"), spec[:5]), threads=n,
                       parity_cc=spec[6])
            if callable(spec[5]):
                times = per_round[live.index(spec)]
                row.update(min_ms=float(min(times)), median_ms=float(np.median(times)),
                           rounds_ms=list(map(float, times)), cpu_ms=float(np.median(cpu_rounds[live.index(spec)])))
            else:
                row["missing"] = spec[5]
            rows.append(row)
        for k, (label, kind, precision, gflops, _) in enumerate(floors):
            best, cpu_best = float(min(per_round[len(live) + k])), float(min(cpu_rounds[len(live) + k]))
            floor_rows.append({"kernel": label, "kind": kind, "precision": precision, "threads": n,
                               "gflops": gflops, "min_ms": best, "gflops_per_s": gflops / best * 1e3,
                               "cpu_ms": cpu_best, "gflops_per_cpu_s": gflops / max(cpu_best, 1e-6) * 1e3})
        say(f"{n} thread(s) done")
    _add_ratios(rows, floor_rows)
    return {"rows": rows, "floor": floor_rows, "load_before": load_before, "load_after": load_average(),
            "cpu": cpu_description(),
            "rounds": rounds, "runs": runs, "warmup": warmup, "versions": _versions()}


def _add_ratios(rows, floor_rows):
    """``vs_best_other``: the fastest (by median) timed non-tfsal row of the same model and threads ÷ this row, the
    median over rounds of the same-round ratio (paired, so that load drifting between rounds cancels; > 1 means
    this row is faster); ``floor_x``: this row's min ÷ its FLOPs at the best dense rate of its precision;
    ``floor_x_cpu``: the same in CPU time."""
    for r in rows:
        if "missing" in r:
            continue
        others = [o for o in rows if o["model"] == r["model"] and o["threads"] == r["threads"]
                  and "missing" not in o and not o["runtime"].startswith("tfsal")]
        best = min(others, key=lambda o: o["median_ms"]) if others else None
        r["vs_best_other"] = (float(np.median(np.divide(best["rounds_ms"], r["rounds_ms"]))) if best else None)
        same = [f for f in floor_rows if f["threads"] == r["threads"] and f["kind"] == "conv"
                and f["precision"] == r["precision"]]
        r["floor_ms"] = r["gflops"] / max(f["gflops_per_s"] for f in same) * 1e3 if same else None
        r["floor_x"] = r["min_ms"] / r["floor_ms"] if same else None
        cpu_rate = max((f.get("gflops_per_cpu_s", 0.0) for f in same), default=0.0)
        r["floor_x_cpu"] = r["cpu_ms"] / (r["gflops"] / cpu_rate * 1e3) if cpu_rate and "cpu_ms" in r else None


def _versions():
    import importlib.metadata as md

    found = {}
    for pkg in ("ai-edge-litert", "tensorflow", "onnxruntime", "openvino", "nncf"):
        try:
            found[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            found[pkg] = NOT_INSTALLED
    return found


# --------------------------------------------------------------------------------------------------------------
# Per op class: each op of a .tflite file cut out as a one-op model, timed in the same rounds as the whole file
# --------------------------------------------------------------------------------------------------------------
def _op_label(op_name, weights_shape):
    """The op class: the op name, with the kernel size for convolutions (``CONV_2D 1x1``, ``DEPTHWISE_CONV_2D 3x3``)."""
    if op_name in ("CONV_2D", "DEPTHWISE_CONV_2D") and weights_shape is not None and len(weights_shape) == 4:
        return f"{op_name} {weights_shape[1]}x{weights_shape[2]}"
    return op_name


def _op_macs(op_name, weights_shape, out_shape):
    """Multiply-accumulates of a convolution or FULLY_CONNECTED op (0 for the others)."""
    if weights_shape is None or op_name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
        return 0
    outputs = int(np.prod(out_shape))
    if op_name == "CONV_2D":  # filter (O, kh, kw, I)
        return outputs * int(np.prod(weights_shape[1:]))
    if op_name == "DEPTHWISE_CONV_2D":  # filter (1, kh, kw, C·m)
        return outputs * int(weights_shape[1] * weights_shape[2])
    return outputs * int(weights_shape[-1])  # FULLY_CONNECTED: weights (O, I)


def _cut_op(model, op, schema):
    """A one-op ``ModelT`` of ``op``: its tensors (shapes, types, quantisation) and constant buffers, nothing else."""
    import copy

    sg = model.subgraphs[0]
    used = list(dict.fromkeys(t for t in list(op.inputs) + list(op.outputs) if t >= 0))
    remap = {t: k for k, t in enumerate(used)}
    new = schema.ModelT()
    new.version, new.operatorCodes, new.buffers = model.version, model.operatorCodes, [schema.BufferT()]
    sub = schema.SubGraphT()
    sub.tensors, constant = [], set()
    for t in used:
        tensor = copy.copy(sg.tensors[t])
        data = model.buffers[tensor.buffer].data if tensor.buffer else None
        new.buffers.append(model.buffers[tensor.buffer] if data is not None and len(data) else schema.BufferT())
        tensor.buffer = len(new.buffers) - 1
        if data is not None and len(data):
            constant.add(t)
        sub.tensors.append(tensor)
    one = copy.copy(op)
    one.inputs = [remap[t] if t >= 0 else -1 for t in op.inputs]
    one.outputs = [remap[t] for t in op.outputs]
    sub.operators = [one]
    sub.inputs = [remap[t] for t in dict.fromkeys(op.inputs) if t >= 0 and t not in constant]
    sub.outputs = list(one.outputs)
    new.subgraphs = [sub]
    return new, constant


def one_op_models(content):
    """Each op of a ``.tflite`` model as its own one-op model (same shapes, quantisation, weights and options).

    Args:
        content: the bytes of a single-subgraph ``.tflite`` file.

    Returns:
        A list of dicts, one per op in execution order: ``index``, ``op`` (name), ``label`` (the op class,
        :func:`_op_label`), ``macs`` (of convolutions and FULLY_CONNECTED, else 0), ``shapes`` (the op's
        non-constant input and output shapes) and ``content`` (the one-op model's bytes).

    Example:
        >>> ops = one_op_models(open("fastsal-a_int8.tflite", "rb").read())  # doctest: +SKIP
        >>> ops[1]["label"], ops[1]["shapes"]  # doctest: +SKIP
        ('CONV_2D 3x3', [[1, 192, 256, 3], [1, 96, 128, 32]])
    """
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    sg, found = model.subgraphs[0], []
    for i, op in enumerate(sg.operators):
        code = model.operatorCodes[op.opcodeIndex]
        name = names.get(max(code.builtinCode, code.deprecatedBuiltinCode), str(code.builtinCode))
        cut, constant = _cut_op(model, op, schema)
        builder = flatbuffers.Builder(1024)
        builder.Finish(cut.Pack(builder), file_identifier=b"TFL3")
        weights = next((list(sg.tensors[t].shape) for t in op.inputs if t in constant
                        and len(sg.tensors[t].shape) > 1), None)
        out_shape = list(sg.tensors[op.outputs[0]].shape)
        found.append({"index": i, "op": name, "label": _op_label(name, weights),
                      "macs": _op_macs(name, weights, out_shape),
                      "shapes": [list(map(int, sg.tensors[t].shape)) for t in list(op.inputs) + list(op.outputs)
                                 if t >= 0 and t not in constant],
                      "content": bytes(builder.Output())})
    return found


def profile_op_classes(path, threads=1, rounds=5, runs=10, warmup=2):
    """Time each op of a ``.tflite`` file as a one-op model, in the same interleaved rounds as the whole file.

    Each op runs in LiteRT (XNNPACK, as in the file) at its exact shapes and quantisation, fed random data; per op
    the best round's median; the ops are summed per class (:func:`one_op_models`'s ``label``). Each one-op time
    includes one ``invoke`` call's overhead (a few µs), so the sum is above the whole file's time when the file has
    many small ops.

    Args:
        path: a ``.tflite`` file (e.g. tfsal's int8 FastSal-A export).
        threads: the interpreter's thread count.
        rounds, runs, warmup: as :func:`interleaved_rounds`.

    Returns:
        A dict: ``classes`` (list of ``label``, ``count``, ``ms``, ``pct`` (of the sum), ``gop_per_s`` (2 × MACs ÷
        time for convolutions and FULLY_CONNECTED, else ``None``)), sorted by ``ms``; ``ops`` (per op: ``index``,
        ``op``, ``label``, ``shapes``, ``ms``); ``sum_ms``; ``model_ms`` (the whole file, best round);
        ``threads``, ``rounds``, ``runs``, ``load``.

    Example:
        >>> r = profile_op_classes("fastsal-a_int8.tflite", threads=1)  # doctest: +SKIP
        >>> print(format_op_classes(r))  # doctest: +SKIP
    """
    threads = checks.positive_int(threads, "threads")
    with open(os.fspath(path), "rb") as f:
        ops = one_op_models(f.read())
    fns = [litert_callable(path, threads=threads)] + [litert_callable(content=o["content"], threads=threads)
                                                      for o in ops]
    load = load_average()
    best = interleaved_rounds(fns, checks.positive_int(rounds, "rounds"), checks.positive_int(runs, "runs"),
                              checks.non_negative_int(warmup, "warmup")).min(axis=0)
    classes = {}
    for o, ms in zip(ops, best[1:]):
        o["ms"] = float(ms)
        c = classes.setdefault(o["label"], {"label": o["label"], "count": 0, "ms": 0.0, "macs": 0})
        c["count"], c["ms"], c["macs"] = c["count"] + 1, c["ms"] + float(ms), c["macs"] + o["macs"]
    total = sum(c["ms"] for c in classes.values())
    for c in classes.values():
        c["pct"] = 100.0 * c["ms"] / total
        c["gop_per_s"] = 2.0 * c.pop("macs") / c["ms"] / 1e6 if c["ms"] and any(
            o["macs"] for o in ops if o["label"] == c["label"]) else None
    return {"classes": sorted(classes.values(), key=lambda c: -c["ms"]),
            "ops": [{k: o[k] for k in ("index", "op", "label", "shapes", "ms")} for o in ops],
            "sum_ms": total, "model_ms": float(best[0]), "threads": threads, "rounds": rounds, "runs": runs,
            "load": (load, load_average())}


def format_op_classes(result):
    """The markdown table of a :func:`profile_op_classes` result: class, ops, ms, % of the sum, GOP/s."""
    (b1, b5, b15), (a1, a5, a15) = result["load"]
    lines = [f"{result['threads']} thread(s), per op the best of {result['rounds']} interleaved rounds "
             f"(median of {result['runs']} runs each); load average before {b1:.2f} {b5:.2f} {b15:.2f}, "
             f"after {a1:.2f} {a5:.2f} {a15:.2f}", "",
             "| op class | ops | ms | % of sum | GOP/s |", "|---|---|---|---|---|"]
    for c in result["classes"]:
        rate = "" if c["gop_per_s"] is None else f"{c['gop_per_s']:.1f}"
        lines.append(f"| {c['label']} | {c['count']} | {c['ms']:.3f} | {c['pct']:.1f} % | {rate} |")
    lines.append(f"| **sum of the one-op models** | {sum(c['count'] for c in result['classes'])} | "
                 f"{result['sum_ms']:.3f} | 100 % | |")
    lines.append(f"| **whole file** | | {result['model_ms']:.3f} | {100 * result['model_ms'] / result['sum_ms']:.1f} "
                 f"% | |")
    return "\n".join(lines)


def format_runtime_table(result):
    """Markdown tables of a :func:`compare_runtimes` result: the rows, then the floor.

    Args:
        result: the dict :func:`compare_runtimes` returns.

    Returns:
        The text.
    """
    lines = [result.get("cpu", "CPU not recorded") + "; "
             + "load average before %.2f %.2f %.2f, after %.2f %.2f %.2f; " % (*result["load_before"],
                                                                               *result["load_after"])
             + ", ".join(f"{k} {v}" for k, v in result["versions"].items()),
             f"batch 1; per row min and median over {result['rounds']} interleaved rounds, each round the median "
             f"of {result['runs']} runs after {result['warmup']} warm-up runs", "",
             "parity CC: mean CC of the row's maps with the Keras model's on the demo val images (every runtime "
             "the same images; int8 rows are only worth their speed at a CC near 1)", "",
             "| model | runtime | variant | threads | min ms | median ms | best other ÷ this (paired) | "
             "CPU ms | GFLOPs | × floor | × floor (CPU) | parity CC |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        head = f"| {r['model']} | {r['runtime']} | {r['variant']} | {r['threads']} |"
        cc = "-" if r.get("parity_cc") is None else f"{r['parity_cc']:.4f}"
        if "missing" in r:
            lines.append(f"{head} {r['missing']} | | | | {r['gflops']:.2f} | | | |")
            continue
        ratio = "-" if r["vs_best_other"] is None else f"{r['vs_best_other']:.2f}×"
        fx = "-" if r["floor_x"] is None else f"{r['floor_x']:.1f}"
        fxc = "-" if r.get("floor_x_cpu") is None else f"{r['floor_x_cpu']:.1f}"
        lines.append(f"{head} {r['min_ms']:.2f} | {r['median_ms']:.2f} | {ratio} | {r['cpu_ms']:.2f} | "
                     f"{r['gflops']:.2f} | {fx} | {fxc} | {cc} |")
    if result["floor"]:
        lines += ["", "Floor (one-layer LiteRT models, same rounds; × floor = min ms ÷ (GFLOPs ÷ best conv rate of "
                  "the row's precision at its thread count)):", "",
                  "| kernel | precision | threads | GFLOPs | min ms | GFLOP/s | min CPU ms | GFLOP/CPU-s |",
                  "|---|---|---|---|---|---|---|---|"]
        for f in result["floor"]:
            lines.append(f"| {f['kernel']} | {f['precision']} | {f['threads']} | {f['gflops']:.3f} | "
                         f"{f['min_ms']:.3f} | {f['gflops_per_s']:.1f} | {f.get('cpu_ms', float('nan')):.3f} | "
                         f"{f.get('gflops_per_cpu_s', float('nan')):.1f} |")
    return "\n".join(lines)

"""CPU latency of tfsal models: Keras, TFLite files (LiteRT interpreter) and ONNX files (ONNX Runtime), in one table.

Latency = wall time of one batch-1 forward pass, median and 90th percentile over ``runs`` calls after ``warmup``
calls. TFLite runs use the LiteRT interpreter with its default XNNPACK delegate and ``num_threads``; ONNX Runtime
uses ``intra_op_num_threads``; the Keras model runs as ``tf.function(jit_compile=False)`` around
``model(x, training=False)`` (not ``model.predict``, which adds tens of ms of per-call overhead) with TensorFlow's
own thread pool (its size cannot change inside one process, so Keras rows say ``tf``).

Example:
    >>> from tfsal.benchmark import benchmark, format_table
    >>> rows = benchmark(["best.keras", "best_int8.tflite"], threads=(1, 2))  # doctest: +SKIP
    >>> print(format_table(rows))  # doctest: +SKIP
"""
import json
import logging
import os
import platform
import time

import numpy as np

from tfsal import checks
from tfsal.errors import UserError
from tfsal.runtime import OnnxRunner, TFLiteRunner, resolve_model

__all__ = ["benchmark", "format_table", "header", "time_callable", "parity_warning", "cpu_description"]

log = logging.getLogger("tfsal.benchmark")

_SUFFIXES = (".keras", ".tflite", ".onnx")


def time_callable(fn, runs=100, warmup=10):
    """Median and p90 wall time (ms) of ``fn()`` after ``warmup`` calls.

    Args:
        fn: a callable without arguments.
        runs: timed calls.
        warmup: untimed calls first.

    Returns:
        ``(median_ms, p90_ms)``.

    Example:
        >>> med, p90 = time_callable(lambda: sum(range(100)), runs=5, warmup=1)
        >>> med <= p90
        True
    """
    for _ in range(int(warmup)):
        fn()
    times = []
    for _ in range(int(runs)):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return float(np.median(times)), float(np.percentile(times, 90))


# The x86 instruction sets that decide XNNPACK's int8 speed against float32: without a dot-product extension
# (VNNI) an int8 conv runs at about the float rate (docs/performance.md); with it, several times faster.
INT8_CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm")


def cpu_description():
    """The CPU's model name, core count and int8-relevant instruction sets, for a benchmark's header.

    Returns:
        e.g. ``"AMD EPYC, 2 CPUs, avx2"``: timings are comparable only between runs with the same description.

    Example:
        >>> "CPUs" in cpu_description()
        True
    """
    name, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    name = value.strip()
                elif key.strip() in ("flags", "Features"):
                    flags = set(value.split())
    except OSError:  # not Linux: the platform's name alone
        pass
    isa = [flag for flag in INT8_CPU_FLAGS if flag in flags]
    return ", ".join([name, f"{os.cpu_count()} CPUs"] + ([" ".join(isa)] if isa else []))


def header():
    """A header line: CPU, its int8-relevant instruction sets, 1/5/15-minute load averages, runtime versions."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    parts = [cpu_description(), "load average %.2f %.2f %.2f" % load]
    try:
        import importlib.metadata as md

        for pkg in ("tensorflow", "ai-edge-litert", "onnxruntime"):
            try:
                parts.append(f"{pkg} {md.version(pkg)}")
            except md.PackageNotFoundError:
                pass
    except ImportError:  # pragma: no cover
        pass
    return " | ".join(parts)


def _keras_row(path, runs, warmup):
    runner = resolve_model(path)
    h, w = runner.input_size
    x = np.random.default_rng(0).uniform(0, 255, (1, h, w, 3)).astype(np.float32)
    med, p90 = time_callable(lambda: runner(x), runs, warmup)  # tf.function(model(x, training=False))
    return {"file": path, "runtime": "keras (tf.function)", "variant": "float32", "threads": "tf",
            "input": f"{h}x{w}", "size_mb": os.path.getsize(path) / 1e6, "median_ms": med, "p90_ms": p90}


def _tflite_row(path, n, runs, warmup):
    runner = TFLiteRunner(path, num_threads=int(n))
    interp, inp = runner.interp, runner.inp
    shape = inp["shape"]
    rng = np.random.default_rng(0)
    if np.issubdtype(inp["dtype"], np.integer):
        info = np.iinfo(inp["dtype"])
        x = rng.integers(info.min, info.max, shape, endpoint=True).astype(inp["dtype"])
    else:
        x = rng.uniform(0, 255, shape).astype(inp["dtype"])
    interp.set_tensor(inp["index"], x)
    med, p90 = time_callable(interp.invoke, runs, warmup)
    variant = _tflite_variant(path, interp)
    return {"file": path, "runtime": "litert", "variant": variant, "threads": int(n),
            "input": f"{shape[1]}x{shape[2]}", "size_mb": os.path.getsize(path) / 1e6, "median_ms": med,
            "p90_ms": p90}


def parity_warning(path):
    """One line when the JSON sidecar of an exported file says its parity check failed, else ``None``.

    Args:
        path: a ``.tflite`` / ``.onnx`` file (its sidecar is ``path + ".json"``, as :func:`tfsal.export.export_model`
            writes it).

    Returns:
        The warning text, or ``None`` (parity passed, or no readable sidecar).

    Example:
        >>> parity_warning("no/such.tflite") is None
        True
    """
    try:
        with open(os.fspath(path) + ".json") as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("parity_passed") is not False:
        return None
    p = meta.get("parity") or {}
    return (f"{path}: its sidecar says the parity check FAILED (mean CC {p.get('cc_mean', float('nan')):.4f} "
            f"< {p.get('min_cc')} against the Keras model): its maps are not the model's; timing it anyway")


def _tflite_variant(path, interp):
    sidecar = path + ".json"
    if os.path.isfile(sidecar):
        with open(sidecar) as f:
            meta = json.load(f)
        q = meta.get("quantize") or "?"
        q = "float32" if q == "none" else q
        if q == "int8":
            q += f" ({meta['input']['dtype']} io)"
        return q + (" folded" if meta.get("folded_fastsal_c_decoder") else "")
    return np.dtype(interp.get_input_details()[0]["dtype"]).name + " io"


def _onnx_row(path, n, runs, warmup):
    import onnxruntime as ort

    runner = OnnxRunner(path, num_threads=int(n))
    h, w = runner.input_size
    x = np.random.default_rng(0).uniform(0, 255, (1, h, w, 3)).astype(np.float32)
    med, p90 = time_callable(lambda: runner.sess.run(None, {runner.name_in: x}), runs, warmup)
    return {"file": path, "runtime": f"onnxruntime {ort.__version__}", "variant": "float32", "threads": int(n),
            "input": f"{h}x{w}", "size_mb": os.path.getsize(path) / 1e6, "median_ms": med, "p90_ms": p90}


def benchmark(paths, threads=(1, 2), runs=100, warmup=10, progress=None):
    """Latency of each model file at each thread count.

    Args:
        paths: ``.keras``, ``.tflite`` and ``.onnx`` files.
        threads: thread counts for TFLite and ONNX Runtime (Keras runs once with TensorFlow's pool).
        runs: timed calls per row (median and p90 over these).
        warmup: untimed calls before timing.
        progress: optional callable receiving each finished row (e.g. to print as it goes).

    Returns:
        A list of row dicts: ``file``, ``runtime``, ``variant``, ``threads``, ``input``, ``size_mb``,
        ``median_ms``, ``p90_ms``.

    Raises:
        FileNotFoundError: a missing file.
        ValueError: an unknown suffix, no paths, or bad ``threads``/``runs``/``warmup``.

    Example:
        >>> rows = benchmark(["best_int8.tflite"], threads=(2,), runs=50)  # doctest: +SKIP
    """
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise UserError("benchmark needs at least one model file (.keras, .tflite or .onnx)")
    threads = list(checks.int_list(threads, "threads"))
    runs = checks.positive_int(runs, "runs")
    warmup = checks.non_negative_int(warmup, "warmup")
    for p in paths:
        if not p.endswith(_SUFFIXES):
            raise UserError(f"cannot benchmark {p!r}: expected a {', '.join(_SUFFIXES)} file")
        if not os.path.isfile(p):
            raise FileNotFoundError(f"model file {p!r} does not exist")
    rows = []
    for p in paths:
        warning = None if p.endswith(".keras") else parity_warning(p)
        if warning:
            log.warning("%s", warning)
        if p.endswith(".keras"):
            new = [_keras_row(p, runs, warmup)]
        elif p.endswith(".tflite"):
            new = [_tflite_row(p, n, runs, warmup) for n in threads]
        else:
            try:
                import onnxruntime  # noqa: F401
            except ImportError:
                raise UserError(f"benchmarking {p!r} needs onnxruntime (pip install onnxruntime)") from None
            new = [_onnx_row(p, n, runs, warmup) for n in threads]
        for row in new:
            rows.append(row)
            if progress:
                progress(row)
    return rows


def format_table(rows):
    """A Markdown table of :func:`benchmark` rows.

    Args:
        rows: the rows.

    Returns:
        The table as a string.
    """
    lines = ["| file | runtime | variant | input | threads | size MB | median ms | p90 ms |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {os.path.basename(r['file'])} | {r['runtime']} | {r['variant']} | {r['input']} | {r['threads']} | "
            f"{r['size_mb']:.2f} | {r['median_ms']:.2f} | {r['p90_ms']:.2f} |"
        )
    return "\n".join(lines)

"""The output blur's cost in FastSal-A's LiteRT files: the depthwise form (before) vs the matrix-product form (now).

For each σ, FastSal-A (shipped int8-ready weights by default, or random) gets a ``fastsal_blur`` of that σ in
either form: the two ``'same'`` depthwise convolutions 1×k, k×1 (``tfsal.layers._depthwise_blur``, the layer's earlier ``call``) or
:class:`tfsal.layers.OutputBlur` as it is now (``Mh · X · Mwᵀ``, FULLY_CONNECTED). Each is folded as ``tfsal
export`` folds it (:func:`tfsal.models._fastsal_fold.export_fold`) and converted to int8 (uint8 io) and float32
``.tflite``; the model without blur is the baseline. Every file runs at 1 thread (``--threads``), rounds interleaved
(:func:`tfsal.bench_runtimes.interleaved_rounds`). Printed per σ and precision: the whole model's min and median ms
in each form, the blur's cost = (model with blur − model without) ÷ model without (median of the per-round
ratios, so that load drifting between rounds cancels; target ≤ 5 % of the int8 model), the paired speed-up
old ÷ new, and the int8 file's parity (mean CC against its own Keras model on ``--parity`` demo val images).
The "blur alone" table times the blur as a one-layer model on a ``(1, H, W, 1)`` map.

Usage::

    python benchmarks/bench_blur.py [--sigmas 1,2,3,4,5,6,7,8] [--rounds 5] [--runs 20] [--threads 1]
        [--weights osie-eyecrowd-int8|osie-eyecrowd|random] [--parity 10] [--num-calibration 8]
"""
import argparse
import os
import sys
import tempfile

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _forms():
    from tfsal.layers import OutputBlur, _depthwise_blur

    class DepthwiseBlur(OutputBlur):  # the layer's earlier call: two 1-channel depthwise convolutions
        def call(self, inputs):
            return _depthwise_blur(inputs, self.sigma, int(inputs.shape[-1]))

    return {"old (depthwise)": DepthwiseBlur, "new (matmul)": OutputBlur}


def _base(weights):
    """FastSal-A without its output blur (``weights``: a shipped weights name, or ``"random"``), its input size."""
    import keras

    from tfsal.models import fastsal_a, load_pretrained

    net = fastsal_a(input_shape=(192, 256, 3)) if weights == "random" else load_pretrained("fastsal-a", weights)
    base = keras.Model(net.inputs, net.get_layer("fastsal_out").output, name="fastsal_a")
    return base, tuple(net.input_shape[1:3])


def _files(model, cal):
    from tfsal.export import _convert_tflite
    from tfsal.models._fastsal_fold import export_fold

    folded = export_fold(model)[0]
    return {"int8": _convert_tflite(folded, "int8", "uint8", cal, False),
            "float32": _convert_tflite(folded, "none", "uint8", cal, False)}


def _parity(model, content, images):
    if not len(images):
        return float("nan")
    from tfsal.export import parity_check
    from tfsal.runtime import TFLiteRunner

    with tempfile.NamedTemporaryFile(suffix=".tflite") as f:
        f.write(content)
        f.flush()
        return parity_check(model, TFLiteRunner(f.name, num_threads=1), images)["cc_mean"]


def _blur_alone(form, sigma, size):
    import keras

    from tfsal.export import _convert_tflite

    inp = keras.Input((*size, 1), batch_size=1)
    model = keras.Model(inp, form(sigma)(inp))
    rep = np.random.default_rng(0).uniform(0, 1, (4, *size, 1)).astype(np.float32)
    return {"int8": _convert_tflite(model, "int8", "uint8", rep, False),
            "float32": _convert_tflite(model, "none", "uint8", rep, False)}


def build(sigmas, weights, num_calibration, num_parity, say):
    """``{(σ or 0, form, precision): tflite bytes}``, ``{(σ, form, "alone", precision): bytes}``, parity CCs."""
    import keras

    from tfsal.export import calibration_images, prepare_images
    from tfsal.export._inputs import default_parity_images

    base, size = _base(weights)
    cal, _ = calibration_images(size, None, num_calibration)
    paths, _ = default_parity_images(num_parity)
    images = prepare_images(paths, size) if num_parity else np.zeros((0, *size, 3), np.float32)
    files, parity = {(0, "none", p): c for p, c in _files(base, cal).items()}, {}
    for sigma in sigmas:
        for label, form in _forms().items():
            say(f"σ={sigma}: {label}")
            model = keras.Model(base.inputs, form(sigma, name="fastsal_blur", dtype="float32")(base.output))
            for precision, content in _files(model, cal).items():
                files[(sigma, label, precision)] = content
            parity[(sigma, label)] = _parity(model, files[(sigma, label, "int8")], images)
            for precision, content in _blur_alone(form, sigma, size).items():
                files[(sigma, label, "alone", precision)] = content
    return files, parity


def _paired(t, key, base):
    return float(np.median(t[key] / t[base]))


def report(files, parity, times, sigmas):
    """Print the two tables from per-round times ``{key: array}``."""
    forms = list(_forms())
    print("| σ | precision | no blur ms | " + " | ".join(f"{f} ms (min/med)" for f in forms)
          + " | " + " | ".join(f"blur cost {f}" for f in forms) + " | old ÷ new | int8 CC old / new |")
    print("|---|---|---|" + "---|" * (2 * len(forms) + 2))
    for sigma in sigmas:
        for precision in ("int8", "float32"):
            b = times[(0, "none", precision)]
            cells = [f"{times[(sigma, f, precision)].min():.2f} / {np.median(times[(sigma, f, precision)]):.2f}"
                     for f in forms]
            cost = [f"{100 * (_paired(times, (sigma, f, precision), (0, 'none', precision)) - 1):+.1f} %"
                    for f in forms]
            ratio = _paired(times, (sigma, forms[0], precision), (sigma, forms[1], precision))
            cc = " / ".join(f"{parity[(sigma, f)]:.4f}" for f in forms) if precision == "int8" else ""
            print(f"| {sigma:g} | {precision} | {b.min():.2f} | " + " | ".join(cells) + " | " + " | ".join(cost)
                  + f" | {ratio:.2f}× | {cc} |")
    print("\nThe blur alone (one-layer model on a (1, H, W, 1) map), min ms; % of the no-blur int8 model's min:\n")
    print("| σ | precision | " + " | ".join(forms) + " | " + " | ".join(f"% {f}" for f in forms) + " |")
    print("|---|---|" + "---|" * (2 * len(forms)))
    ref = times[(0, "none", "int8")].min()
    for sigma in sigmas:
        for precision in ("int8", "float32"):
            ms = [times[(sigma, f, "alone", precision)].min() for f in forms]
            print(f"| {sigma:g} | {precision} | " + " | ".join(f"{m:.3f}" for m in ms) + " | "
                  + " | ".join(f"{100 * m / ref:.1f} %" for m in ms) + " |")


def main(argv=None):
    """Parse the options, build and time the files, print the tables."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sigmas", default="1,2,3,4,5,6,7,8")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--weights", default="osie-eyecrowd-int8",
                   help="shipped FastSal-A weights (default the int8-ready ones, as tfsal export's int8), or random")
    p.add_argument("--parity", type=int, default=10, help="demo val images of the int8 parity check (0: none)")
    p.add_argument("--num-calibration", type=int, default=8, help="int8 calibration images (demo train)")
    args = p.parse_args(argv)
    sigmas = [float(s) for s in args.sigmas.split(",")]

    from tfsal._quiet import quiet_block
    from tfsal.bench_runtimes import interleaved_rounds, litert_callable, load_average

    def say(text):
        print("# " + text, file=sys.stderr, flush=True)

    with quiet_block():
        files, parity = build(sigmas, args.weights, args.num_calibration, args.parity, say)
        keys = list(files)
        fns = [litert_callable(content=files[k], threads=args.threads) for k in keys]
        load = load_average()
        wall = interleaved_rounds(fns, args.rounds, args.runs, args.warmup)
    print(f"FastSal-A ({args.weights} weights), LiteRT at {args.threads} thread(s), {args.rounds} interleaved rounds "
          f"of {args.runs} runs (median each); load average before %.2f %.2f %.2f, after %.2f %.2f %.2f\n"
          % (*load, *load_average()))
    report(files, parity, dict(zip(keys, wall.T)), sigmas)
    return 0


if __name__ == "__main__":
    sys.exit(main())

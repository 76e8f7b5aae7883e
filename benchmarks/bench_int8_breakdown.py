"""Where FastSal-A's int8 TFLite time goes: int8 exports of the model cut at named layers, timed interleaved.

Each row is a ``keras.Model`` from the image to the named layers' outputs (never by index), converted exactly as
``tfsal export --quantize int8`` does (uint8 in/out, builtin ops, calibration on the demo train images), then timed
with the LiteRT interpreter. Rows are timed round-robin (one invoke of each file in turn) so that background load
hits all rows alike. The last row is the shipped graph (head folded by ``fold_fastsal_a``).

Usage::

    python benchmarks/bench_int8_breakdown.py [MODEL.keras] [--size 192x256] [--threads 1,2] [--runs 40]

Without MODEL.keras a FastSal-A with random weights is used (latency does not depend on the weights).
"""
import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# (row label, output layer names); the full model is added last.
STAGES = (
    ("MobileNetV2 up to block_16_project_BN", ("block_16_project_BN",)),
    ("MobileNetV2 incl. out_relu (all 18 taps)", ("block_16_project_BN", "out_relu")),
    ("+ FastSal feature blocks e1-e4", ("fastsal_e1_concat", "fastsal_e2_d2s", "fastsal_e3_d2s", "fastsal_e4_d2s")),
    ("+ decoder A without the output conv", ("fastsal_dec1_d2s",)),
)


def _convert(model, rep):
    from tfsal.export import _convert_tflite

    return _convert_tflite(model, "int8", "uint8", rep, False)


def main(argv=None):
    """Build, convert and time the cut models; print a markdown table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", nargs="?")
    p.add_argument("--size", default="192x256")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--runs", type=int, default=40)
    p.add_argument("--warmup", type=int, default=5)
    args = p.parse_args(argv)

    import keras
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    from tfsal.benchmark import header
    from tfsal.export import calibration_images, fold_fastsal_a
    from tfsal.models import create_model
    from tfsal.predict import load_model

    h, w = (int(v) for v in args.size.lower().split("x"))
    model = load_model(args.model) if args.model else create_model("fastsal-a", input_shape=(h, w, 3))
    h, w = model.input_shape[1:3]
    rep, _ = calibration_images((h, w), num=100)
    files = []
    for label, names in STAGES:
        cut = keras.Model(model.input, [model.get_layer(n).output for n in names], name="cut")
        files.append((label, _convert(cut, rep)))
    files.append(("full FastSal-A, head folded (the exported graph)", _convert(fold_fastsal_a(model), rep)))

    print(header())
    print(f"FastSal-A int8 (uint8 in), {h}x{w}, median of {args.runs} interleaved runs after {args.warmup} warm-up\n")
    threads = [int(t) for t in args.threads.split(",")]
    print("| graph | size MB | " + " | ".join(f"{t} thread{'s' if t > 1 else ''} ms" for t in threads) + " |")
    print("|---|---|" + "---|" * len(threads))
    medians = {}
    for t in threads:
        interps = []
        for _, content in files:
            it = Interpreter(model_content=content, num_threads=t)
            it.allocate_tensors()
            d = it.get_input_details()[0]
            it.set_tensor(d["index"], np.random.default_rng(0).integers(0, 256, d["shape"]).astype(d["dtype"]))
            for _ in range(args.warmup):
                it.invoke()
            interps.append(it)
        times = [[] for _ in files]
        for _ in range(args.runs):
            for k, it in enumerate(interps):
                t0 = time.perf_counter()
                it.invoke()
                times[k].append((time.perf_counter() - t0) * 1e3)
        medians[t] = [float(np.median(v)) for v in times]
    for k, (label, content) in enumerate(files):
        print(f"| {label} | {len(content) / 1e6:.2f} | " + " | ".join(f"{medians[t][k]:.2f}" for t in threads) + " |")
    print("\n" + header())
    return 0


if __name__ == "__main__":
    sys.exit(main())

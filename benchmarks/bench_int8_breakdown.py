"""Where FastSal-A's int8 TFLite time goes: int8 exports of the model cut at named layers, timed interleaved.

Each row is a ``keras.Model`` from the image to the named layers' outputs (never by index), converted exactly as
``tfsal export --quantize int8`` does (uint8 in/out, builtin ops, calibration on the demo train images), then timed
with the LiteRT interpreter. Rows are timed in interleaved rounds (each round: the median of ``--runs`` invokes of
each file in turn) so that background load hits all rows alike; per row the min and median over rounds, and its
segment (this row minus the row above, the median over rounds of that difference): backbone, feature blocks
(concatenations + depth_to_space upsampling), decoder, output (folded head conv, sigmoid, last depth_to_space).
The last row is the shipped graph (head folded by ``fold_fastsal_a``). LiteRT's Python interpreter has no per-op
profile (XNNPACK runs the model as one delegate node), so the cut models are the profile.

Usage::

    python benchmarks/bench_int8_breakdown.py [MODEL.keras] [--size 192x256] [--threads 1,2] [--rounds 9] [--runs 10]

Without MODEL.keras the shipped FastSal-A int8-ready weights are used (as ``tfsal export fastsal-a --quantize
int8``); ``--random`` uses random weights (latency hardly depends on them).
"""
import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# (segment, row label, output layer names); the full model is added last.
STAGES = (
    ("backbone", "MobileNetV2 up to block_16_project_BN", ("block_16_project_BN",)),
    ("backbone", "MobileNetV2 incl. out_relu (all 18 taps)", ("block_16_project_BN", "out_relu")),
    ("feature blocks (concat + d2s)", "+ FastSal feature blocks e1-e4",
     ("fastsal_e1_concat", "fastsal_e2_d2s", "fastsal_e3_d2s", "fastsal_e4_d2s")),
    ("decoder", "+ decoder A without the output conv", ("fastsal_dec1_d2s",)),
)


def _convert(model, rep):
    from tfsal.export import _convert_tflite

    return _convert_tflite(model, "int8", "uint8", rep, False)


def _model(args):
    from tfsal.models import create_model, load_pretrained
    from tfsal.predict import load_model

    h, w = (int(v) for v in args.size.lower().split("x"))
    if args.model:
        return load_model(args.model)
    if args.random:
        return create_model("fastsal-a", input_shape=(h, w, 3))
    return load_pretrained("fastsal-a", "osie-eyecrowd-int8", input_shape=(h, w, 3))


def main(argv=None):
    """Build, convert and time the cut models; print a markdown table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", nargs="?")
    p.add_argument("--size", default="192x256")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--random", action="store_true", help="random weights instead of the shipped ones")
    args = p.parse_args(argv)

    import keras
    import numpy as np

    from tfsal.bench_runtimes import interleaved_rounds, litert_callable
    from tfsal.benchmark import header
    from tfsal.export import calibration_images, fold_fastsal_a
    from tfsal.models import count_flops

    model = _model(args)
    h, w = model.input_shape[1:3]
    rep, _ = calibration_images((h, w), num=100)
    files, gflops = [], []
    for segment, label, names in STAGES:
        cut = keras.Model(model.input, [model.get_layer(n).output for n in names], name="cut")
        files.append((segment, label, _convert(cut, rep)))
        gflops.append(count_flops(cut)[1] / 1e9)
    full = fold_fastsal_a(model)
    files.append(("output (head conv, sigmoid, d2s)", "full FastSal-A, head folded (the exported graph)",
                  _convert(full, rep)))
    gflops.append(count_flops(full)[1] / 1e9)

    print(header())
    print(f"FastSal-A int8 (uint8 io), {h}x{w}; per row min / median over {args.rounds} interleaved rounds (each "
          f"the median of {args.runs} invokes after {args.warmup} warm-up); segment = this row - the row above "
          "(median over rounds); CPU = process CPU time per invoke (leaves out waiting for a core)\n")
    threads = [int(t) for t in args.threads.split(",")]
    cols = " | ".join(f"{t}T min | {t}T median | {t}T segment ms (share) | {t}T CPU ms | {t}T CPU segment (share)"
                      for t in threads)
    print(f"| graph | segment | segment GFLOPs (share) | size MB | {cols} |")
    print("|---|---|---|---|" + "---|---|---|---|---|" * len(threads))
    stats = {t: interleaved_rounds([litert_callable(content=c, threads=t) for _, _, c in files], args.rounds,
                                   args.runs, args.warmup, cpu=True) for t in threads}
    for k, (segment, label, content) in enumerate(files):
        cells = []
        for t in threads:
            pr, cpu = stats[t]
            seg = np.median(pr[:, k] - (pr[:, k - 1] if k else 0.0))
            cseg = np.median(cpu[:, k] - (cpu[:, k - 1] if k else 0.0))
            cells.append(f"{pr[:, k].min():.2f} | {np.median(pr[:, k]):.2f} | {seg:.2f} "
                         f"({seg / np.median(pr[:, -1]):.0%}) | {np.median(cpu[:, k]):.2f} | {cseg:.2f} "
                         f"({cseg / np.median(cpu[:, -1]):.0%})")
        seg_gf = gflops[k] - (gflops[k - 1] if k else 0.0)
        print(f"| {label} | {segment} | {seg_gf:.3f} ({seg_gf / gflops[-1]:.0%}) | {len(content) / 1e6:.2f} | "
              + " | ".join(cells) + " |")
    print("\n" + header())
    return 0


if __name__ == "__main__":
    sys.exit(main())

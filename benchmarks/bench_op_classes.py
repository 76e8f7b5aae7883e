"""Where a .tflite file's time goes, per op class: each op cut out as a one-op LiteRT model and timed.

Prints the table of :func:`tfsal.bench_runtimes.profile_op_classes`: every op of the file (tfsal's int8 FastSal-A
export by default, from the ``bench_runtimes`` work folder) at its exact shapes and quantisation, timed in rounds
interleaved with the whole file; per class (``CONV_2D 1x1``, ``DEPTHWISE_CONV_2D 3x3``, ``ADD``, ``LOGISTIC``,
``QUANTIZE``, ``DEPTH_TO_SPACE``, ``RESIZE_BILINEAR``, ...) the summed ms, % of the sum, and GOP/s for the
convolutions; then the sum of the one-op models vs the whole file. ``--ops`` also prints every op.

Usage::

    python benchmarks/bench_op_classes.py [FILE.tflite] [--threads 1] [--rounds 5] [--runs 10] [--ops]
        [--json out.json]

Without FILE it exports FastSal-A int8 as ``tfsal export fastsal-a --tflite --quantize int8`` into
``~/.cache/tfsal/bench/fastsal-a_int8.tflite`` (the file ``bench_runtimes.py`` times) when it is not there.
"""
import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None):
    """Parse the options, profile the file, print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("path", nargs="?", default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--ops", action="store_true", help="also print every op")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)

    from tfsal._quiet import quiet_block
    from tfsal.bench_runtimes import format_op_classes, profile_op_classes

    path = args.path or os.path.expanduser(os.path.join("~", ".cache", "tfsal", "bench", "fastsal-a_int8.tflite"))
    with quiet_block():
        if not os.path.isfile(path):
            from tfsal.export import export_model

            os.makedirs(os.path.dirname(path), exist_ok=True)
            export_model("fastsal-a", out=path, format="tflite", quantize="int8", progress=False,
                         float_ops="none")  # the full-int8 file, as profiled in docs/performance.md
        result = profile_op_classes(path, threads=args.threads, rounds=args.rounds, runs=args.runs,
                                    warmup=args.warmup)
    print(f"{os.path.basename(path)}: " + format_op_classes(result))
    if args.ops:
        print("\n| # | op | class | shapes | ms |\n|---|---|---|---|---|")
        for o in result["ops"]:
            print(f"| {o['index']} | {o['op']} | {o['label']} | {o['shapes']} | {o['ms']:.3f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

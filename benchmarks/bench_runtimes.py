"""tfsal int8/float32 .tflite (LiteRT) vs ONNX Runtime and OpenVINO (NNCF int8) on the same weights, with a floor.

Prints the table of :func:`tfsal.bench_runtimes.compare_runtimes`:
rounds interleaved between rows, per row min and median over rounds, a ratio against the fastest non-tfsal row,
and each row as a multiple of its FLOPs at the rate measured on one-layer LiteRT models in the same run.
OpenVINO/NNCF rows need ``pip install tfsal[openvino]``; ONNX rows need onnxruntime + tf2onnx.

Usage::

    python benchmarks/bench_runtimes.py --threads 1,2 --rounds 7 [--models fastsal-a,fastsal-c] [--runs 20]
        [--workdir ~/.cache/tfsal/bench] [--json out.json]

The first run exports the files into ``--workdir`` (a few minutes); later runs reuse them.
"""
import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None):
    """Parse the options, run :func:`compare_runtimes`, print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="fastsal-a,fastsal-c")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--workdir", default=None)
    p.add_argument("--no-ort-int8", action="store_true", help="leave out the ONNX Runtime int8 rows")
    p.add_argument("--no-floor", action="store_true")
    p.add_argument("--json", default=None, help="also write the result here")
    args = p.parse_args(argv)

    from tfsal._quiet import quiet_block
    from tfsal.bench_runtimes import compare_runtimes, format_runtime_table

    with quiet_block():
        result = compare_runtimes(args.models.split(","), threads=[int(t) for t in args.threads.split(",")],
                                  rounds=args.rounds, runs=args.runs, warmup=args.warmup, workdir=args.workdir,
                                  ort_int8=not args.no_ort_int8, floor=not args.no_floor,
                                  progress=lambda text: print("# " + text, flush=True))
    print(format_runtime_table(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

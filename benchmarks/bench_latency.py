"""CPU latency table of exported tfsal models (thin wrapper around :mod:`tfsal.benchmark`).

Usage:
    python benchmarks/bench_latency.py MODEL.keras FILE.tflite FILE.onnx ... [--threads 1,2] [--runs 200]

Measure when the machine is otherwise idle: the header prints the load averages; the script waits (up to
``--wait`` seconds) for the 1-minute load average to drop below ``--max-load`` before timing.
"""
import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None):
    """Parse arguments, wait for a quiet machine, print the header and the table."""
    from tfsal.benchmark import benchmark, format_table, header

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("paths", nargs="+")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--max-load", type=float, default=1.5)
    p.add_argument("--wait", type=float, default=0.0, help="seconds to wait for load < --max-load (default 0)")
    args = p.parse_args(argv)
    deadline = time.time() + args.wait
    while os.getloadavg()[0] >= args.max_load and time.time() < deadline:
        time.sleep(5)
    print(header())
    if os.getloadavg()[0] >= args.max_load:
        print(f"WARNING: 1-minute load average {os.getloadavg()[0]:.2f} >= {args.max_load}: timings are inflated")
    rows = benchmark(args.paths, threads=[int(t) for t in args.threads.split(",")], runs=args.runs,
                     warmup=args.warmup, progress=lambda r: print(f"  done {os.path.basename(r['file'])} "
                                                                  f"x{r['threads']}", file=sys.stderr))
    print(format_table(rows))
    print(header())
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Side by side: the metrics that now call tfsal.kernels (CC, SIM, IG, KLD and the map resize) against a copy of the
metrics module from before (``--old PATH``, e.g. ``git show 67968ca:tfsal/metrics/_numpy.py > /tmp/old_numpy.py``).

Rounds are interleaved (old, new, old, new, ...) on the same synthetic 480x640 maps, so machine noise hits both
alike; the table gives the median seconds of one call on N maps and the ratio new / old, and checks the values
are equal.

Usage:
    python benchmarks/bench_kernels.py --old /tmp/old_numpy.py [--rounds 5] [--n 100]
"""
import argparse
import importlib.util
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tfsal.metrics import _numpy as new  # noqa: E402


def _load_old(path):
    spec = importlib.util.spec_from_file_location("old_numpy", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help="the metrics module from before (a _numpy.py copy)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n", type=int, default=100, help="maps per round")
    args = parser.parse_args()
    old = _load_old(args.old)
    rng = np.random.default_rng(0)
    pred = rng.random((args.n, 240, 320))  # resized to the ground truth's 480x640 inside every metric
    gt = rng.random((args.n, 480, 640))
    fix = rng.random((args.n, 480, 640)) > 0.999
    base = rng.random((480, 640))
    calls = {
        "CC": lambda m: m.cc(pred, gt),
        "KLD": lambda m: m.kld(pred, gt),
        "SIM": lambda m: m.sim(pred, gt),
        "IG": lambda m: m.information_gain(pred, fix, base),
    }
    print(f"| metric | old s / {args.n} maps | new s / {args.n} maps | new / old | same values |")
    print("|---|---|---|---|---|")
    for name, call in calls.items():
        times = {"old": [], "new": []}
        for _ in range(args.rounds):
            for label, module in (("old", old), ("new", new)):
                t0 = time.perf_counter()
                values = call(module)
                times[label].append(time.perf_counter() - t0)
                if label == "old":
                    ref = values
        same = np.allclose(ref, values, rtol=1e-12, atol=1e-12)
        o, n = np.median(times["old"]), np.median(times["new"])
        print(f"| {name} | {o:.3f} | {n:.3f} | {n / o:.3f} | {same} |")


if __name__ == "__main__":
    main()

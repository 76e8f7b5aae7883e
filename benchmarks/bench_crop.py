"""Time the exact summed-area crop search (tfsal.crop) per aspect (targets: <= 2 ms for a 48x64 map, <= 20 ms for a
768x1024 map).

Rows: a 48x64 map (a model's output) searched on its own grid and mapped onto a 768x1024 and a 3000x4000 photo,
and a 768x1024 map at its own size. ``crop_box`` is one call per aspect: summed-area table plus search; ``search
only`` is the extra cost of each further aspect when the table is shared (``crop_boxes`` / ``SummedArea``). Maps
are smooth random blobs (a few Gaussians on a floor), area 0.5. Rounds are interleaved across rows and aspects so
that load on the (shared) machine hits all rows alike; the table gives medians and the median over the target.

Usage:
    python benchmarks/bench_crop.py [--rounds 30] [--area 0.5]
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tfsal.crop import SummedArea, crop_box, crop_size  # noqa: E402

ASPECTS = ("1:1", "16:9", "4:5")
# (label, map shape, image shape, target ms per aspect) — targets from issue 17.
CASES = (
    ("48x64 map", (48, 64), (48, 64), 2.0),
    ("48x64 map -> 768x1024 photo", (48, 64), (768, 1024), 2.0),
    ("48x64 map -> 3000x4000 photo", (48, 64), (3000, 4000), 2.0),
    ("768x1024 map", (768, 1024), (768, 1024), 20.0),
)


def blobs(rng, shape, n=4):
    """A smooth non-negative map: ``n`` Gaussians of random place and width on a 0.05 floor."""
    h, w = shape
    y, x = np.mgrid[0:h, 0:w]
    m = np.full(shape, 0.05)
    for _ in range(n):
        cy, cx, s = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0.05, 0.2) * w
        m += np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * s * s))
    return m.astype(np.float32)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--area", type=float, default=0.5)
    args = ap.parse_args(argv)

    rng = np.random.default_rng(0)
    maps = {c[0]: blobs(rng, c[1]) for c in CASES}
    times = {(c[0], a, kind): [] for c in CASES for a in ASPECTS for kind in ("crop_box", "search")}
    for r in range(args.rounds + 2):  # the first two rounds warm up
        for label, _, image_shape, _ in CASES:
            m = maps[label]
            sa = SummedArea(m, image_shape)
            for a in ASPECTS:
                t = time.perf_counter()
                crop_box(m, a, args.area, image_shape)
                t1 = time.perf_counter()
                sa.best(*crop_size(image_shape, a, args.area))
                t2 = time.perf_counter()
                if r >= 2:
                    times[(label, a, "crop_box")].append((t1 - t) * 1e3)
                    times[(label, a, "search")].append((t2 - t1) * 1e3)

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, numpy {np.__version__}, "
          f"area {args.area}, {args.rounds} rounds (medians)")
    print("| map | aspect | crop_box ms | search only ms | target ms | crop_box / target |")
    print("|---|---|---|---|---|---|")
    for label, _, _, target in CASES:
        for a in ASPECTS:
            full = float(np.median(times[(label, a, "crop_box")]))
            search = float(np.median(times[(label, a, "search")]))
            print(f"| {label} | {a} | {full:.2f} | {search:.2f} | {target:g} | {full / target:.2f} |")


if __name__ == "__main__":
    main()

"""Time the eight NumPy saliency metrics on synthetic 480x640 maps (target: all 8 on 1000 maps in <= 60 s).

Maps are generated in chunks (to bound memory) and are random but plausible: fixations are drawn around 1-4
Gaussian clusters biased towards the centre; the ground-truth map is the fixation map blurred (computed at 1/8
resolution, then upsampled); the prediction is a noisy, shifted, more blurred version of it mixed with a centre
bias; sAUC's other map is the union of the fixations of 10 other images of the chunk; IG's baseline is a centre
Gaussian. Only the metric calls are timed, not the data generation.

Usage:
    python benchmarks/bench_metrics.py [--n 1000] [--height 480] [--width 640] [--chunk 25] [--budget 60]
"""
import argparse
import os
import sys
import time

import cv2
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tfsal.metrics import METRICS  # noqa: E402
from tfsal.metrics import auc_borji, auc_judd, cc, information_gain, kld, nss, shuffled_auc, sim  # noqa: E402


def _centre_gaussian(h, w, sigma_frac=0.25):
    y = (np.arange(h) - (h - 1) / 2) / (sigma_frac * h)
    x = (np.arange(w) - (w - 1) / 2) / (sigma_frac * w)
    return np.exp(-0.5 * (y[:, None] ** 2 + x[None, :] ** 2))


def make_chunk(rng, n, h, w, down=8):
    """Return (pred, fix, gt) float32/bool/float32 arrays of shape (n, h, w)."""
    hs, ws = h // down, w // down
    centre_small = _centre_gaussian(hs, ws)
    pred = np.empty((n, h, w), np.float32)
    gt = np.empty((n, h, w), np.float32)
    fix = np.zeros((n, h, w), bool)
    for i in range(n):
        n_clusters = rng.integers(1, 5)
        centres = np.clip(rng.normal([h / 2, w / 2], [h / 5, w / 5], size=(n_clusters, 2)), 0, [h - 1, w - 1])
        n_fix = rng.integers(20, 300)
        which = rng.integers(0, n_clusters, n_fix)
        pts = centres[which] + rng.normal(0, [h / 15, w / 15], size=(n_fix, 2))
        pts = np.clip(np.round(pts), 0, [h - 1, w - 1]).astype(int)
        fix[i, pts[:, 0], pts[:, 1]] = True
        small = np.zeros((hs, ws), np.float32)
        np.add.at(small, (pts[:, 0] // down, pts[:, 1] // down), 1.0)
        g = cv2.GaussianBlur(small, (0, 0), 2.5)
        g /= g.max()
        gt[i] = cv2.resize(g, (w, h), interpolation=cv2.INTER_LINEAR)
        shift = rng.integers(-3, 4, size=2)
        p = np.roll(cv2.GaussianBlur(g, (0, 0), 2.0), tuple(shift), axis=(0, 1))
        p = 0.6 * p / p.max() + 0.3 * centre_small + 0.1 * rng.random((hs, ws))
        pred[i] = cv2.resize(p.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return pred, fix, gt


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="number of maps (default 1000)")
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--chunk", type=int, default=25, help="maps generated and scored at once (default 25)")
    ap.add_argument("--budget", type=float, default=60.0, help="PASS threshold in seconds (default 60)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    h, w = args.height, args.width
    baseline = _centre_gaussian(h, w)
    times = dict.fromkeys(METRICS, 0.0)
    means = {k: [] for k in METRICS}
    t_gen = 0.0
    done = 0
    while done < args.n:
        n = min(args.chunk, args.n - done)
        t0 = time.perf_counter()
        pred, fix, gt = make_chunk(rng, n, h, w)
        other = np.stack([np.any(np.roll(fix, -k - 1, axis=0)[:10], axis=0) for k in range(n)])
        t_gen += time.perf_counter() - t0
        calls = {
            "AUC-Judd": lambda: auc_judd(pred, fix, seed=args.seed),
            "AUC-Borji": lambda: auc_borji(pred, fix, seed=args.seed),
            "sAUC": lambda: shuffled_auc(pred, fix, other, seed=args.seed),
            "NSS": lambda: nss(pred, fix),
            "CC": lambda: cc(pred, gt),
            "KLD": lambda: kld(pred, gt),
            "SIM": lambda: sim(pred, gt),
            "IG": lambda: information_gain(pred, fix, baseline),
        }
        for name, call in calls.items():
            t0 = time.perf_counter()
            values = call()
            times[name] += time.perf_counter() - t0
            means[name].append(values)
        done += n

    total = sum(times.values())
    print(f"{args.n} maps of {h}x{w}, chunks of {args.chunk}, numpy {np.__version__}, "
          f"{os.cpu_count()} CPU(s); data generation (untimed) {t_gen:.1f} s")
    print(f"{'metric':<10} {'total s':>9} {'ms/map':>8} {'mean score':>11}")
    for name in METRICS:
        print(f"{name:<10} {times[name]:>9.2f} {1000 * times[name] / args.n:>8.2f} "
              f"{np.mean(np.concatenate(means[name])):>11.4f}")
    print(f"{'TOTAL':<10} {total:>9.2f} {1000 * total / args.n:>8.2f}")
    verdict = "PASS" if total <= args.budget else "FAIL"
    print(f"{verdict}: {total:.1f} s for all 8 metrics on {args.n} maps (budget {args.budget:.0f} s)")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())

"""Time the tf.data input pipeline against the FastSal-A training step (target: pipeline >= 5x the step rate).

The pipeline is timed as training uses it: decode JPEG + resize to 192x256 + continuous map (blurred fixations)
and binary fixation map + random joint flips, shuffled, batch 8, on the built-in demo data (256x192 JPEGs) and on
the shared OSIE data (800x600 JPEGs), after a warm-up of a few batches (the dataset repeats, so the count is not
limited by the dataset size). The training step is ``model.train_on_batch`` of FastSal-A (random initial weights,
Adam, BCE loss) on one fixed batch, after a warm-up. Both run on whatever CPU/GPU TensorFlow sees; on a shared
machine the numbers are noisy, so compare them from the same run.

Usage:
    python benchmarks/bench_pipeline.py [--osie ../shared/data/osie] [--batches 40] [--steps 5] [--ratio 5]
"""
import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

import tfsal.data as D  # noqa: E402

SIZE = (192, 256)
BATCH = 8


def pipeline_rate(examples, batches, warmup=3, map_size=None):
    """Images per second of the training pipeline over ``batches`` batches after ``warmup`` batches."""
    ds = D.make_dataset(examples, SIZE, map_size, batch_size=BATCH, shuffle=True, augment=True, seed=0,
                        drop_remainder=True).repeat()
    it = iter(ds)
    for _ in range(warmup):
        next(it)
    n, t0 = 0, time.perf_counter()
    for _ in range(batches):
        images, targets = next(it)
        n += int(images.shape[0])
    _ = float(targets[0, 0, 0, 0])  # make sure the last batch is materialised
    return n / (time.perf_counter() - t0)


def train_step_rate(steps, warmup=2):
    """Images per second of FastSal-A ``train_on_batch`` at 192x256, batch 8; also returns the output map size."""
    import keras

    from tfsal.losses import SaliencyLoss
    from tfsal.models import create_model

    keras.utils.set_random_seed(0)
    net = create_model("fastsal-a", input_shape=(*SIZE, 3), weights=None)
    net.compile(optimizer=keras.optimizers.Adam(1e-4), loss=SaliencyLoss("bce"))
    h, w = (int(v) for v in net.output_shape[1:3])
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (BATCH, *SIZE, 3)).astype(np.float32)
    y = np.concatenate([rng.random((BATCH, h, w, 1)), rng.random((BATCH, h, w, 1)) < 0.01], -1).astype(np.float32)
    for _ in range(warmup):
        net.train_on_batch(x, y)
    t0 = time.perf_counter()
    for _ in range(steps):
        net.train_on_batch(x, y)
    return BATCH * steps / (time.perf_counter() - t0), (h, w)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--osie", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "osie"))
    parser.add_argument("--batches", type=int, default=40, help="timed pipeline batches per dataset")
    parser.add_argument("--steps", type=int, default=5, help="timed training steps")
    parser.add_argument("--ratio", type=float, default=5.0, help="required pipeline / step rate")
    args = parser.parse_args(argv)

    import tensorflow as tf

    devices = ", ".join(d.device_type for d in tf.config.list_physical_devices()) or "?"
    step, out_size = train_step_rate(args.steps)
    rows = [("FastSal-A train_on_batch", f"model {SIZE[0]}x{SIZE[1]}, batch {BATCH}", step, None)]
    sources = [("demo", D.read_demo("train"))]
    if os.path.isdir(args.osie):
        sources.append(("osie", D.read_examples(args.osie, "train")))
    else:
        print(f"(OSIE not found at {args.osie}; skipped)")
    for name, examples in sources:
        for map_size in dict.fromkeys([SIZE, out_size]):  # full size, and the model's output size if different
            rate = pipeline_rate(examples, args.batches, map_size=map_size)
            what = f"{len(examples)} imgs, maps {map_size[0]}x{map_size[1]}"
            rows.append((f"pipeline {name}", what, rate, rate / step))

    print(f"\ndevices: {devices}; CPU cores visible: {os.cpu_count()}")
    print(f"{'':<26}{'setting':<32}{'images/s':>10}{'x step':>9}  {'>= ' + format(args.ratio, 'g') + 'x':>6}")
    ok = True
    for name, what, rate, ratio in rows:
        verdict = ""
        if ratio is not None:
            verdict = "PASS" if ratio >= args.ratio else "FAIL"
            ok &= ratio >= args.ratio
        print(f"{name:<26}{what:<32}{rate:>10.1f}{'' if ratio is None else format(ratio, '.1f'):>9}  {verdict:>6}")
    print("overall:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

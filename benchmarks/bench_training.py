"""Training throughput of FastSal-A at 192×256: float32 vs mixed bf16, 1 vs 2 replicas (logical CPU devices).

Each setting runs in its own process (device configuration and precision policy are process-wide), times
``model.train_on_batch`` on a fixed batch of 8 after warm-up, and reports images/s. Prints a table.

    python benchmarks/bench_training.py [--steps 10] [--batch-size 8]
"""
import argparse
import json
import os
import subprocess
import sys
import time

WORKER = r"""
import json, sys, time
import numpy as np
import tensorflow as tf
replicas, precision, steps, batch = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if replicas > 1:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
import keras
from tfsal.losses import SaliencyLoss
from tfsal.models import create_model
from tfsal.train import PRECISIONS, make_strategy
keras.mixed_precision.set_global_policy(PRECISIONS[precision])
strategy = make_strategy("mirrored" if replicas > 1 else None)
with strategy.scope():
    model = create_model("fastsal-a", input_shape=(192, 256, 3))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=SaliencyLoss("kld_cc_bce"))
rng = np.random.default_rng(0)
x = (rng.random((batch, 192, 256, 3)) * 255).astype("float32")
y = rng.random((batch, 192, 256, 2)).astype("float32")
ds = tf.data.Dataset.from_tensors((x, y)).repeat()
model.fit(ds, steps_per_epoch=3, epochs=1, verbose=0)  # warm-up and tracing
start = time.perf_counter()
model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
seconds = time.perf_counter() - start
print(json.dumps({"images_per_s": steps * batch / seconds, "replicas": int(strategy.num_replicas_in_sync)}))
"""


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=8)
    args = p.parse_args()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    print(f"FastSal-A training, 192x256, global batch {args.batch_size}, {args.steps} timed steps; "
          f"{os.cpu_count()} CPU cores; load average {os.getloadavg()[0]:.2f}")
    print(f"{'replicas':>8}  {'precision':<10}{'images/s':>10}")
    for replicas in (1, 2):
        for precision in ("off", "bf16"):
            out = subprocess.run([sys.executable, "-c", WORKER, str(replicas), precision, str(args.steps),
                                  str(args.batch_size)], capture_output=True, text=True, env=env)
            if out.returncode != 0:
                print(f"{replicas:>8}  {precision:<10}{'failed':>10}  {out.stderr.strip().splitlines()[-1][:120]}")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            label = "float32" if precision == "off" else "bf16"
            print(f"{r['replicas']:>8}  {label:<10}{r['images_per_s']:>10.2f}")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

"""Throughput and peak memory of ``tfsal predict`` on a folder of photos, run as a user runs it (a subprocess).

For each configuration (code × model × number of images), rounds interleaved, one ``tfsal predict MODEL DIR --out
TMP --quiet`` process is timed: wall time of the whole command (start-up and model loading included), the
command's own prediction-loop rate (its summary line; the old code has none) and the process's peak RSS
(``os.wait4``'s ``ru_maxrss`` of that child). Configurations:

* ``new``: this checkout, with the int8 ``.tflite`` and with the ``.keras`` model, on 100 and 300 images (the RSS
  of 100 vs 300 images shows whether memory grows with the folder);
* ``old``: the code at ``--old`` (default ``../main``, i.e. the code before streaming predict), ``.keras`` only (it
  could not run ``.tflite`` files), on the same counts.

Images: the first N EyeCrowd stimuli (1024×768 JPEGs), symlinked into a temporary folder. Models: a FastSal-A at
192×256 with random weights (``create_model("fastsal-a", weights=None)``), saved as ``.keras`` and exported with
``tfsal export --tflite --quantize int8 --min-cc 0``; speed does not depend on the weights (only the PNG sizes do,
slightly: random-weight maps are less smooth than trained ones).

    nice -n 15 python benchmarks/bench_predict.py [--counts 100,300] [--rounds 1] [--old ../main]

Prints a Markdown table and the ratios of the medians.

Measured (2 rounds, 2 CPUs shared with a training job, load average 6.5; medians): 300 photos with the int8
``.tflite``: 16.2 images/s in the prediction loop, 11.4 images/s for the whole command (TensorFlow's import included),
peak RSS 675 MB (672 MB with 100 photos); ``.keras``: 9.5 / 7.1 images/s, 940 MB (936 MB); the old code, ``.keras``:
4.9 images/s, 2452 MB (1376 MB with 100 photos). New ``.tflite`` vs old: 2.30x (whole command), 3.29x (loop). The
model alone: 30.9 ms (int8, 1 thread) and 70.5 ms (Keras) per image in the same run.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PYTHON = sys.executable
_EYECROWD = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "eyecrowd", "stimuli"))
_RATE_RE = re.compile(r"in ([0-9.]+) s, ([0-9.]+) images/s")


def _env(code_root):
    env = dict(os.environ, PYTHONPATH=code_root, TF_CPP_MIN_LOG_LEVEL="2")
    return env


def make_models(folder):
    """The random-weight FastSal-A ``.keras`` and its int8 ``.tflite`` in ``folder`` (built once, then reused)."""
    keras_path = os.path.join(folder, "fastsal_a_random.keras")
    tflite_path = os.path.join(folder, "fastsal_a_random_int8.tflite")
    if not os.path.isfile(keras_path):
        code = ("import keras, tfsal; keras.utils.set_random_seed(0); "
                f"tfsal.models.create_model('fastsal-a', weights=None).save({keras_path!r})")
        subprocess.run([PYTHON, "-c", code], check=True, env=_env(ROOT))
    if not os.path.isfile(tflite_path):
        subprocess.run([PYTHON, "-m", "tfsal.cli", "export", keras_path, "--tflite", "--quantize", "int8",
                        "--min-cc", "0", "--out", tflite_path, "--quiet"], check=True, env=_env(ROOT),
                       stdout=subprocess.DEVNULL)
    return keras_path, tflite_path


def make_images(folder, n, source=_EYECROWD):
    """A folder of the first ``n`` images of ``source`` (symlinks)."""
    out = os.path.join(folder, f"images{n}")
    if not os.path.isdir(out):
        names = sorted(f for f in os.listdir(source) if f.lower().endswith(".jpg"))
        if len(names) < n:
            raise SystemExit(f"{source!r} has {len(names)} images; need {n}")
        os.makedirs(out)
        for name in names[:n]:
            os.symlink(os.path.join(source, name), os.path.join(out, name))
    return out


def run_once(code_root, model, images, n, out):
    """One ``tfsal predict`` process: ``(wall_s, loop_rate or None, peak_rss_mb)``."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [PYTHON, "-m", "tfsal.cli", "predict", model, images, "--out", out]
    if code_root == ROOT:
        cmd.append("--quiet")
    t0 = time.perf_counter()
    # cwd: a folder without a tfsal package, or `python -m` would import the current folder's tfsal, not code_root's
    proc = subprocess.Popen(cmd, env=_env(code_root), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=os.path.dirname(out))
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{output[-2000:]}")
    written = len([f for f in os.listdir(out) if f.endswith(".png")])
    if written != n:
        raise SystemExit(f"{' '.join(cmd)} wrote {written} maps for {n} images")
    m = _RATE_RE.search(output)
    return wall, (float(m.group(2)) if m else None), usage.ru_maxrss / 1024  # ru_maxrss is in kB on Linux


def model_alone(model, threads=1, runs=100):
    """Median batch-1 latency (ms) of the model alone (``tfsal benchmark``: no decoding, resizing or writing)."""
    res = subprocess.run([PYTHON, "-m", "tfsal.cli", "benchmark", model, "--threads", str(threads), "--runs",
                          str(runs)], env=_env(ROOT), capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(model))
    row = [line for line in res.stdout.splitlines() if line.startswith("| ") and os.path.basename(model) in line][0]
    return float(row.strip("|").split("|")[6])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--counts", default="100,300", help="Image counts (default 100,300).")
    p.add_argument("--rounds", type=int, default=1, help="Rounds (configurations interleaved in each).")
    p.add_argument("--old", default=os.path.normpath(os.path.join(ROOT, "..", "main")),
                   help="Checkout of the old code for the 'before' row ('' to skip).")
    p.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "tfsal_bench_predict"),
                   help="Folder for models, image links and outputs (kept between runs).")
    p.add_argument("--images", default=_EYECROWD, help="Folder of source photos (default: EyeCrowd stimuli).")
    args = p.parse_args(argv)

    counts = [int(c) for c in args.counts.split(",")]
    os.makedirs(args.work, exist_ok=True)
    keras_path, tflite_path = make_models(args.work)
    folders = {n: make_images(args.work, n, args.images) for n in counts}
    configs = [("new", ROOT, "int8 .tflite", tflite_path, n) for n in counts]
    configs += [("new", ROOT, ".keras", keras_path, n) for n in counts]
    if args.old and os.path.isdir(os.path.join(args.old, "tfsal")):
        configs += [("old", args.old, ".keras", keras_path, n) for n in counts]
    results = {c: [] for c in configs}
    alone = {tflite_path: [], keras_path: []}
    out = os.path.join(args.work, "out")
    for r in range(args.rounds):
        for path in alone:
            alone[path].append(model_alone(path))
        for c in configs:
            results[c].append(run_once(c[1], c[3], folders[c[4]], c[4], out))
            wall, rate, rss = results[c][-1]
            print(f"round {r + 1}: {c[0]} {c[2]} {c[4]} images: {wall:.1f} s, loop {rate} images/s, "
                  f"{rss:.0f} MB", file=sys.stderr)
    shutil.rmtree(out, ignore_errors=True)

    load = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (after the run), "
          f"{args.rounds} round(s), medians; FastSal-A 192x256, random weights; photos 1024x768 (EyeCrowd)")
    print("| code | model | images | wall s | images/s (whole command) | images/s (prediction loop) | peak RSS MB |")
    print("|---|---|---|---|---|---|---|")
    med = {}
    for c in configs:
        wall = statistics.median(x[0] for x in results[c])
        rates = [x[1] for x in results[c] if x[1] is not None]
        loop = statistics.median(rates) if rates else None
        rss = max(x[2] for x in results[c])
        med[c] = (c[4] / wall, loop, rss)
        print(f"| {c[0]} | {c[2]} | {c[4]} | {wall:.1f} | {c[4] / wall:.1f} | "
              f"{'-' if loop is None else f'{loop:.1f}'} | {rss:.0f} |")
    print()
    for path, label in ((tflite_path, "int8 .tflite, 1 thread"), (keras_path, ".keras, tf.function")):
        ms = statistics.median(alone[path])
        print(f"model alone ({label}, batch 1, `tfsal benchmark`): {ms:.2f} ms = {1000 / ms:.1f} images/s")
    n = max(counts)
    old = [c for c in configs if c[0] == "old" and c[4] == n]
    new_tfl = ("new", ROOT, "int8 .tflite", tflite_path, n)
    if old:
        base = med[old[0]][0]
        print(f"new int8 .tflite vs old .keras, {n} images, whole command: {med[new_tfl][0] / base:.2f}x"
              + (f"; prediction loop vs old whole command: {med[new_tfl][1] / base:.2f}x" if med[new_tfl][1] else ""))
    if len(counts) > 1:
        lo, hi = min(counts), max(counts)
        for code, label, path in (("new", "int8 .tflite", tflite_path), ("new", ".keras", keras_path),
                                  ("old", ".keras", keras_path)):
            keys = [(code, ROOT if code == "new" else args.old, label, path, k) for k in (lo, hi)]
            if all(k in med for k in keys):
                a, b = med[keys[0]][2], med[keys[1]][2]
                print(f"peak RSS {code} {label}: {lo} images {a:.0f} MB, {hi} images {b:.0f} MB ({b / a:.2f}x)")


if __name__ == "__main__":
    main()

"""Peak memory and wall time of `tfsal predict` on a 48-megapixel JPEG: full decode against reduced decode.

Makes a 48-megapixel JPEG (8000x6000, quality 90) from an OSIE photo upscaled (bicubic), then runs
`tfsal.predict.predict` (what `tfsal predict` calls) on it in a fresh process per run, with `reduced_decode=False`
("full": the file decoded at 8000x6000, as before issue 25) and `reduced_decode=True` ("reduced": libjpeg's DCT
scaling, `cv2.IMREAD_REDUCED_COLOR_8`), rounds interleaved (the machine is noisy). Each row: the child's peak RSS
(`os.wait4`'s `ru_maxrss`), its wall time, and the predict loop's own time (`PredictResult.seconds`: model loading
excluded), medians over the rounds, with full / reduced ratios. Then the maps' equivalence: CC of the reduced-decode
map against the full-decode map (both at 8000x6000, float32) on `--cc-photos` OSIE photos upscaled to 48 MP.

    nice -n 15 python benchmarks/bench_big_jpeg.py [--model MODEL] [--rounds 3] [--cc-photos 3]

MODEL is anything `tfsal predict` takes (default: the shipped model, Keras; a .tflite file runs without
TensorFlow, so the process's base memory is smaller).
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OSIE = "/work/shared/data/osie/stimuli"
SIZE = (6000, 8000)  # (H, W): 48 megapixels

CHILD = """import json, sys
from tfsal.predict import predict
model = None if sys.argv[1] == "-" else sys.argv[1]
kwargs = {} if sys.argv[4] == "-" else {"reduced_decode": sys.argv[4] == "1"}  # "-": a tfsal without the option
r = predict(model, [sys.argv[2]], sys.argv[3], overwrite=True, progress=False, **kwargs)
print(json.dumps({"seconds": r.seconds, "files": r.files}))
"""


def make_big_jpeg(photo, path, size=SIZE, quality=90, grain=3.0, seed=0):
    """Write ``photo`` upscaled (bicubic) to ``size``, with Gaussian grain of ``grain`` grey levels (a camera's
    noise: the file gets a real photo's size instead of a smooth upscale's), as a JPEG at ``path``."""
    img = cv2.imread(photo, cv2.IMREAD_COLOR)
    big = cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(seed)
    for top in range(0, size[0], 256) if grain else ():  # in strips: no 48 MP float copy
        strip = big[top:top + 256]
        noise = rng.standard_normal(strip.shape, dtype=np.float32) * np.float32(grain)
        strip[...] = np.clip(strip + noise, 0, 255).astype(np.uint8)
    cv2.imwrite(path, big, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return path


def extract(rev, dest):
    """``tfsal/`` of git revision ``rev`` extracted under ``dest`` (a PYTHONPATH root)."""
    archive = subprocess.run(["git", "-C", REPO, "archive", rev, "tfsal"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", dest], input=archive, check=True)
    return dest


def run_child(model, image, out, reduced, root=REPO, cli=False):
    """``(peak RSS MB, wall s, predict loop s)`` of one child process, waited for by ``os.wait4`` (its own
    ``ru_maxrss``, not that of all children so far). ``cli``: the child is the `tfsal predict` command itself
    (its default decode; TF_CPP_MIN_LOG_LEVEL unset, as a user's shell)."""
    env = dict(os.environ, PYTHONPATH=root, TF_CPP_MIN_LOG_LEVEL="3")
    flag = "-" if reduced is None else "1" if reduced else "0"
    cmd = [sys.executable, "-c", CHILD, model or "-", image, out, flag]
    if cli:
        env.pop("TF_CPP_MIN_LOG_LEVEL")
        cmd = [sys.executable, "-m", "tfsal.cli", "predict", *([model] if model else []), image, "--out", out,
               "--overwrite", "--quiet"]
    with tempfile.TemporaryFile("w+") as so, tempfile.TemporaryFile("w+") as se:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=so, stderr=se, env=env, text=True, cwd=tempfile.gettempdir())
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        so.seek(0), se.seek(0)
        stdout, stderr = so.read(), se.read()
    if proc.returncode:
        raise RuntimeError(f"predict failed ({proc.returncode}): {stderr.strip().splitlines()[-3:]}")
    last = stdout.strip().splitlines()[-1]
    loop = float(last.split(" in ")[1].split(" s")[0]) if cli else json.loads(last)["seconds"]  # "... in 4.1 s, ..."
    return usage.ru_maxrss / 1024, wall, loop


def cc(a, b, chunk=1 << 20):
    """Pearson correlation of two maps, summed in float64 a chunk at a time (no full-size float64 copy)."""
    a, b = a.ravel(), b.ravel()
    ma, mb = a.mean(dtype=np.float64), b.mean(dtype=np.float64)
    sab = saa = sbb = 0.0
    for i in range(0, a.size, chunk):
        da, db = a[i:i + chunk] - ma, b[i:i + chunk] - mb
        sab, saa, sbb = sab + float(da @ db), saa + float(da @ da), sbb + float(db @ db)
    return sab / np.sqrt(saa * sbb)


def equivalence(model, photos, work):
    """CC of reduced- vs full-decode maps at 48 MP for each photo (one process, the model loaded once)."""
    from tfsal._quiet import quiet_tensorflow
    from tfsal.predict import iter_maps
    from tfsal.runtime import resolve_model

    quiet_tensorflow()
    runner = resolve_model(model)
    rows = []
    for photo in photos:
        path = make_big_jpeg(photo, os.path.join(work, "cc_" + os.path.basename(photo)))
        (_, full), = iter_maps(runner, [path], reduced_decode=False)
        (_, reduced), = iter_maps(runner, [path], reduced_decode=True)
        rows.append((os.path.basename(photo), full.shape, cc(full, reduced)))
        del full, reduced
        os.remove(path)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="Model for tfsal predict (default: the shipped one).")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--photo", default=os.path.join(OSIE, "1001.jpg"), help="Photo upscaled to 48 MP.")
    parser.add_argument("--before-rev", default=None, help="Also run this git revision's tfsal (e.g. the commit "
                        "before issue 25: its predict has no reduced_decode) as the 'before' arm.")
    parser.add_argument("--cli", action="store_true", help="Run the `tfsal predict` command itself: arms 'before "
                        "REV' and 'reduced' (this checkout's default); no 'full' arm (the command has no option).")
    parser.add_argument("--cc-photos", type=int, default=3, help="OSIE photos for the CC check (0: skip).")
    parser.add_argument("--workdir", default=None, help="Where the 48 MP JPEGs and maps go (default: a temp dir).")
    args = parser.parse_args()
    if args.cli and not args.before_rev:
        parser.error("--cli compares against --before-rev REV (the command has no full-decode option)")
    work = args.workdir or tempfile.mkdtemp(prefix="bench_big_jpeg_")
    os.makedirs(work, exist_ok=True)
    image = make_big_jpeg(args.photo, os.path.join(work, "big48mp.jpg"))
    arms = {"reduced": (True, REPO)} if args.cli else {"full": (False, REPO), "reduced": (True, REPO)}
    if args.before_rev:
        arms = {f"before {args.before_rev}": (None, extract(args.before_rev, tempfile.mkdtemp(prefix="bench_rev_"))),
                **arms}
    print(f"image: {image} ({SIZE[1]}x{SIZE[0]}, {os.path.getsize(image) / 1e6:.1f} MB JPEG) from {args.photo}; "
          f"model: {args.model or 'shipped default (Keras)'}; {args.rounds} round(s), interleaved")
    results = {name: [] for name in arms}
    for r in range(args.rounds):
        for name in (list(arms) if r % 2 == 0 else list(arms)[::-1]):
            reduced, root = arms[name]
            row = run_child(args.model, image, os.path.join(work, "maps_" + name.split()[0]), reduced, root, args.cli)
            results[name].append(row)
            print(f"  round {r + 1} {name:<14} peak {row[0]:7.0f} MB  wall {row[1]:6.2f} s  predict loop "
                  f"{row[2]:6.2f} s", flush=True)
    med = {k: [statistics.median(v[i] for v in rows) for i in range(3)] for k, rows in results.items()}
    print("\n| decode | peak RSS (MB) | wall (s) | predict loop (s) |\n|---|---:|---:|---:|")
    for k, (peak, wall, loop) in med.items():
        print(f"| {k} | {peak:.0f} | {wall:.2f} | {loop:.2f} |")
    r = med["reduced"]
    for k in [k for k in med if k != "reduced"]:
        print(f"| {k} / reduced | {med[k][0] / r[0]:.2f}x | {med[k][1] / r[1]:.2f}x | {med[k][2] / r[2]:.2f}x |")
    pair = [k.split()[0] for k in med][-2:]
    maps = [cv2.imread(os.path.join(work, f"maps_{k}", "big48mp.png"), cv2.IMREAD_GRAYSCALE) for k in pair]
    print(f"\nwritten maps: {' and '.join(f'{m.shape[1]}x{m.shape[0]}' for m in maps)}; CC of the {pair[0]} and "
          f"{pair[1]} PNGs {cc(maps[0].astype(np.float32), maps[1].astype(np.float32)):.5f}")
    del maps
    if args.cc_photos:
        photos = sorted(glob.glob(os.path.join(OSIE, "*.jpg")))[:: max(1, 700 // args.cc_photos)][:args.cc_photos]
        print("\nCC(reduced-decode map, full-decode map) at 48 MP, float32 maps:")
        for name, shape, value in equivalence(args.model, photos, work):
            print(f"  {name}: {shape[1]}x{shape[0]}  CC {value:.5f}", flush=True)


if __name__ == "__main__":
    main()

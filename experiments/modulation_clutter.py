"""Saliency modulation on a toy task (seed 002): classify the shape of a target object placed among clutter.

Arms (same small ResNet-style configuration, same data, same optimiser, trained from scratch):

* ``baseline``: :func:`tfsal.models.modulated_resnet.baseline_resnet50` on the image.
* ``modulated``: :func:`tfsal.models.modulated_resnet.modulated_resnet50` on the image plus a precomputed saliency
  map: the known target mask, Gaussian-blurred (a stand-in for a good saliency model).

Images: random low-contrast colour noise, several small distractor shapes of all classes, and one somewhat larger
target shape (circle, square, triangle or cross) whose class is the label.

Command::

    python experiments/modulation_clutter.py     # a few CPU minutes
"""
import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cv2  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from _report import OUT, ROOT, save_grid, write_section  # noqa: E402
from tfsal.models.modulated_resnet import baseline_resnet50, modulated_resnet50  # noqa: E402

CLASSES = ("circle", "square", "triangle", "cross")


def draw_shape(img, mask, kind, cy, cx, r, color):
    if kind == 0:
        cv2.circle(img, (cx, cy), r, color, -1)
        cv2.circle(mask, (cx, cy), r, 1.0, -1)
    elif kind == 1:
        cv2.rectangle(img, (cx - r, cy - r), (cx + r, cy + r), color, -1)
        cv2.rectangle(mask, (cx - r, cy - r), (cx + r, cy + r), 1.0, -1)
    elif kind == 2:
        pts = np.array([[cx, cy - r], [cx - r, cy + r], [cx + r, cy + r]], np.int32)
        cv2.fillPoly(img, [pts], color)
        cv2.fillPoly(mask, [pts], 1.0)
    else:
        t = max(1, r // 2)
        for im, c in ((img, color), (mask, 1.0)):
            cv2.rectangle(im, (cx - r, cy - t // 2 - 1), (cx + r, cy + t // 2 + 1), c, -1)
            cv2.rectangle(im, (cx - t // 2 - 1, cy - r), (cx + t // 2 + 1, cy + r), c, -1)


def make_data(n, size, n_distractors, rng, blur_sigma=3.0):
    """Images ``(n, size, size, 3)`` in [0, 255], saliency maps ``(n, size, size, 1)`` in [0, 1], labels."""
    images = np.zeros((n, size, size, 3), np.float32)
    maps = np.zeros((n, size, size, 1), np.float32)
    labels = rng.integers(0, len(CLASSES), n)
    for i in range(n):
        img = (rng.random((size, size, 3)) * 90 + 40).astype(np.float32)
        junk = np.zeros((size, size), np.float32)
        for _ in range(n_distractors):
            r = int(rng.integers(3, 6))
            cy, cx = (int(v) for v in rng.integers(r, size - r, 2))
            draw_shape(img, junk, int(rng.integers(0, 4)), cy, cx, r, tuple(float(v) for v in rng.integers(60, 256, 3)))
        mask = np.zeros((size, size), np.float32)
        r = int(rng.integers(6, 9))
        cy, cx = (int(v) for v in rng.integers(r, size - r, 2))
        draw_shape(img, mask, int(labels[i]), cy, cx, r, tuple(float(v) for v in rng.integers(60, 256, 3)))
        sal = cv2.GaussianBlur(mask, (0, 0), blur_sigma)
        images[i] = img
        maps[i, ..., 0] = sal / max(float(sal.max()), 1e-6)
    return images, maps, labels


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--distractors", type=int, default=8)
    p.add_argument("--train", type=int, default=3000)
    p.add_argument("--val", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--stages", default="1,1,1,1")
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--seeds", default="0", help="comma-separated training seeds (same data)")
    p.add_argument("--thresholds", default="0.35,0.4,0.45", help="accuracies for the 'first epoch >=' rows")
    p.add_argument("--no-doc", action="store_true")
    args = p.parse_args()
    stages = tuple(int(s) for s in args.stages.split(","))

    rng = np.random.default_rng(1234)
    xtr, str_, ytr = make_data(args.train, args.size, args.distractors, rng)
    xva, sva, yva = make_data(args.val, args.size, args.distractors, rng)
    cfg = {"input_shape": (args.size, args.size, 3), "num_classes": len(CLASSES), "stages": stages, "width": args.width}
    seeds = [int(s) for s in args.seeds.split(",")]
    results = {}
    for arm in ("baseline", "modulated"):
        curves, secs = [], []
        for seed in seeds:
            keras.utils.set_random_seed(seed)
            model = baseline_resnet50(**cfg) if arm == "baseline" else modulated_resnet50(**cfg)
            model.compile(keras.optimizers.Adam(args.lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
            tr = xtr if arm == "baseline" else [xtr, str_]
            va = xva if arm == "baseline" else [xva, sva]
            t0 = time.time()
            h = model.fit(tr, ytr, validation_data=(va, yva), epochs=args.epochs, batch_size=args.batch, verbose=0)
            curves.append(h.history["val_accuracy"])
            secs.append(time.time() - t0)
            extra = ""
            if arm == "modulated":
                extra = f"  alpha={float(model.get_layer('modulation').alpha.numpy()):.3f}"
            print(f"{arm:10s} seed {seed} val acc: {' '.join(f'{a:.3f}' for a in h.history['val_accuracy'])}"
                  f"  ({secs[-1]:.0f} s){extra}", flush=True)
        results[arm] = {"curves": np.array(curves), "seconds": float(np.mean(secs)), "model": model}

    rows = []
    for i in range(6):
        rows.append([xva[i] / 255.0, sva[i, ..., 0], xva[i] / 255.0 * (0.3 + 0.7 * sva[i])])
    png = save_grid(os.path.join(OUT, "modulation_clutter_samples.png"), rows, scale=2)
    doc_png = save_grid(os.path.join(ROOT, "docs", "img", "modulation_clutter_samples.png"), rows[:4], scale=2)
    print("wrote", png, doc_png)

    mean = {a: r["curves"].mean(0) for a, r in results.items()}
    lines = ["| epoch | baseline val acc | modulated val acc |", "|---|---|---|"]
    for e in range(args.epochs):
        lines.append(f"| {e + 1} | {mean['baseline'][e]:.3f} | {mean['modulated'][e]:.3f} |")
    for thr in (float(t) for t in args.thresholds.split(",")):
        first = [next((str(e + 1) for e, a in enumerate(mean[k]) if a >= thr), f">{args.epochs}")
                 for k in ("baseline", "modulated")]
        lines.append(f"| first epoch ≥ {thr:.0%} | {first[0]} | {first[1]} |")
    lines.append(f"| seconds per run | {results['baseline']['seconds']:.0f} | {results['modulated']['seconds']:.0f} |")
    table = "\n".join(lines)
    print(table)
    if not args.no_doc:
        cmd = ("python experiments/modulation_clutter.py " + " ".join(sys.argv[1:])).strip()
        write_section("modulation_clutter", _doc(args, table, cmd, seeds))


def _doc(args, table, cmd, seeds):
    return f"""## (a) Saliency modulation: target shape among clutter (seed 002)

Command: `{cmd}` (training seeds {seeds}, mean over seeds; {args.train} training / {args.val} validation images).

Task: {args.size}×{args.size} RGB images of colour noise with {args.distractors} small distractor shapes of all four
classes and one larger target shape ({", ".join(CLASSES)}); the label is the target's class. Saliency for the
modulated model: the target's mask, Gaussian-blurred (σ = 3 px), scaled to max 1 (an ideal saliency model).
Both models: ResNet-style `stages=({args.stages})`, `width={args.width}`, from scratch (Xavier-uniform; ImageNet
weights cannot be downloaded here, so this is *not* the seed's "half pre-trained" setting), Adam {args.lr},
batch {args.batch}, {args.epochs} epochs. `alpha` trainable, initialised to 1.

Validation accuracy per epoch:

{table}

Columns: image, saliency map, image weighted by the map (validation).

![samples](img/modulation_clutter_samples.png)
"""


if __name__ == "__main__":
    main()

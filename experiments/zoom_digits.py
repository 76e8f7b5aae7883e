"""Learning to Zoom on a toy task (seed 003): a small digit somewhere in a large noisy canvas, classified at low res.

Arms (same task net, same low resolution, same training):

* ``downsample``: the task net sees a plain average-pooled copy of the canvas.
* ``sampler``: :func:`tfsal.sampler.zoom_classifier`: a small saliency net on the low-res copy, the
  :class:`~tfsal.sampler.SaliencySampler` samples the full-res canvas, trained end to end from scratch. The saliency
  net's last conv starts at zero, so training starts from plain (corner-aligned) resizing.
* ``uniform-sampler``: the sampler with a constant map, i.e. a corner-aligned bilinear (point-sampling) resize:
  what the ``sampler`` arm does before it has learnt anything.
* ``oracle-sampler``: the same sampler driven by the known digit location (a Gaussian blob as logits), no saliency
  net: the upper bound of what the sampling mechanism gives at this resolution.

Digits: scikit-learn's bundled 8x8 digits (``pip install scikit-learn``), upsampled; digits drawn with
``cv2.putText`` when scikit-learn is missing.

Command::

    python experiments/zoom_digits.py            # a few CPU minutes
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
from keras import layers  # noqa: E402

from _report import OUT, ROOT, save_grid, write_section  # noqa: E402
from tfsal.sampler import SaliencySampler, zoom_classifier  # noqa: E402


def load_digits():
    try:
        from sklearn.datasets import load_digits as sk

        d = sk()
        return d.images.astype("float32") / 16.0, d.target.astype("int64"), "scikit-learn 8x8 digits"
    except ImportError:
        rng = np.random.default_rng(0)
        imgs, labels = [], []
        fonts = [cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_PLAIN]
        for i in range(1800):
            c = np.zeros((24, 24), np.uint8)
            y = i % 10
            cv2.putText(c, str(y), (4 + rng.integers(-2, 3), 20 + rng.integers(-2, 3)), fonts[i % 4], 0.8, 255, 2)
            imgs.append(cv2.resize(c, (8, 8), interpolation=cv2.INTER_AREA) / 255.0)
            labels.append(y)
        return np.array(imgs, "float32"), np.array(labels), "cv2.putText digits (scikit-learn not installed)"


def make_canvases(digits, labels, n, size, digit_px, noise, rng):
    """Canvases ``(n, size, size, 1)`` with one digit each, the digit boxes and labels."""
    x = (rng.random((n, size, size, 1)) * noise).astype("float32")
    idx = rng.integers(0, len(digits), n)
    boxes = np.zeros((n, 4), "float32")  # y0, x0, y1, x1 in pixels
    for i, j in enumerate(idx):
        d = cv2.resize(digits[j], (digit_px, digit_px), interpolation=cv2.INTER_LINEAR)
        y0, x0 = rng.integers(0, size - digit_px, 2)
        region = x[i, y0 : y0 + digit_px, x0 : x0 + digit_px, 0]
        x[i, y0 : y0 + digit_px, x0 : x0 + digit_px, 0] = np.maximum(region, d)
        boxes[i] = (y0, x0, y0 + digit_px, x0 + digit_px)
    return x, labels[idx], boxes


def oracle_logits(boxes, size, grid=31, sharpness=6.0, sigma_cells=1.5):
    """Gaussian blob logits on the sampler grid, centred on the digit."""
    cy = (boxes[:, 0] + boxes[:, 2]) / 2 / (size - 1) * (grid - 1)
    cx = (boxes[:, 1] + boxes[:, 3]) / 2 / (size - 1) * (grid - 1)
    yy, xx = np.mgrid[:grid, :grid].astype("float32")
    d2 = (yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2
    return (sharpness * np.exp(-d2 / (2 * sigma_cells**2)))[..., None].astype("float32")


def _inputs(arm, x, boxes, size):
    if arm == "oracle-sampler":
        return [x, oracle_logits(boxes, size)]
    if arm == "uniform-sampler":
        return [x, np.zeros((len(x), 31, 31, 1), "float32")]
    return x


def task_net(low, name):
    inp = keras.Input((low, low, 1))
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(inp)
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = layers.GlobalMaxPooling2D()(x)
    out = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inp, out, name=name)


def saliency_net(low):
    inp = keras.Input((low, low, 1))
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(inp)
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = layers.Conv2D(16, 3, padding="same", activation="relu", dilation_rate=2)(x)
    out = layers.Conv2D(1, 3, padding="same", kernel_initializer="zeros")(x)
    return keras.Model(inp, out, name="saliency_net")


def build(arm, size, low, args):
    keras.utils.set_random_seed(args.seed)
    if arm == "downsample":
        inp = keras.Input((size, size, 1), name="image")
        f = size // low
        x = layers.AveragePooling2D(f, strides=f, name="zoom_lowres")(inp)
        return keras.Model(inp, task_net(low, "task")(x), name=arm)
    if arm == "sampler":
        return zoom_classifier(saliency_net(low), task_net(low, "task"), input_shape=(size, size, 1), name=arm)
    image = keras.Input((size, size, 1), name="image")
    logits = keras.Input((31, 31, 1), name="saliency_logits")
    sampled = SaliencySampler((low, low), name="zoom_sampler")([image, logits])
    return keras.Model([image, logits], task_net(low, "task")(sampled), name=arm)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=160, help="canvas side (high res)")
    p.add_argument("--low", type=int, default=32, help="low-res side seen by the task net")
    p.add_argument("--digit", type=int, default=16, help="digit side in canvas pixels")
    p.add_argument("--noise", type=float, default=0.5, help="background noise amplitude (digit strokes are 1.0)")
    p.add_argument("--train", type=int, default=3000)
    p.add_argument("--val", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--arms", default="downsample,uniform-sampler,sampler,oracle-sampler")
    p.add_argument("--no-doc", action="store_true", help="do not write docs/experiments.md")
    args = p.parse_args()

    rng = np.random.default_rng(args.seed)
    digits, labels, source = load_digits()
    split = int(0.75 * len(digits))  # train and validation canvases use disjoint digit images
    xtr, ytr, btr = make_canvases(digits[:split], labels[:split], args.train, args.size, args.digit, args.noise, rng)
    xva, yva, bva = make_canvases(digits[split:], labels[split:], args.val, args.size, args.digit, args.noise, rng)
    results, models = {}, {}
    for arm in args.arms.split(","):
        model = build(arm, args.size, args.low, args)
        model.compile(keras.optimizers.Adam(args.lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
        tr, va = _inputs(arm, xtr, btr, args.size), _inputs(arm, xva, bva, args.size)
        t0 = time.time()
        hist = model.fit(tr, ytr, validation_data=(va, yva), epochs=args.epochs, batch_size=args.batch, verbose=0)
        results[arm] = {"val_acc": hist.history["val_accuracy"], "train_acc": hist.history["accuracy"],
                        "seconds": time.time() - t0}
        models[arm] = model
        print(f"{arm:15s} val acc per epoch: {' '.join(f'{a:.3f}' for a in hist.history['val_accuracy'])}"
              f"  ({time.time() - t0:.0f} s)", flush=True)

    # Sampled images: canvas, low-res copy, learned-sampler view, oracle view.
    rows = []
    show = np.arange(6)
    views = {}
    for arm, model in models.items():
        if arm == "downsample":
            sub = keras.Model(model.input, model.get_layer("zoom_lowres").output)
            views["downsample"] = np.asarray(sub(xva[show]))
        else:
            sub = keras.Model(model.input, model.get_layer("zoom_sampler").output)
            inp = _inputs(arm, xva[show], bva[show], args.size)
            views[arm] = np.asarray(sub(inp))
    for i in show:
        row = [xva[i, ..., 0]] + [views[a][i, ..., 0] for a in ("downsample", "uniform-sampler", "sampler",
                                                                "oracle-sampler") if a in views]
        rows.append([np.clip(r, 0, 1) for r in row])
    png = save_grid(os.path.join(OUT, "zoom_digits_samples.png"), rows)
    doc_png = save_grid(os.path.join(ROOT, "docs", "img", "zoom_digits_samples.png"), rows[:3], scale=0.6)
    print("wrote", png, doc_png)

    arms = list(results)
    lines = ["| epoch | " + " | ".join(arms) + " |", "|---|" + "---|" * len(arms)]
    for e in range(args.epochs):
        lines.append(f"| {e + 1} | " + " | ".join(f"{results[a]['val_acc'][e]:.3f}" for a in arms) + " |")
    lines.append("| train acc (last) | " + " | ".join(f"{results[a]['train_acc'][-1]:.3f}" for a in arms) + " |")
    lines.append("| seconds | " + " | ".join(f"{results[a]['seconds']:.0f}" for a in arms) + " |")
    table = "\n".join(lines)
    print(table)
    if not args.no_doc:
        cmd = "python experiments/zoom_digits.py " + " ".join(sys.argv[1:])
        write_section("zoom_digits", _doc(args, source, table, cmd.strip(), results))


def _doc(args, source, table, cmd, results):
    f = args.size // args.low
    return f"""## (b) Learning to Zoom: small digit in a large noisy canvas (seed 003)

Command: `{cmd}` (seed {args.seed}; {args.train} training / {args.val} validation canvases).

Task: a {args.digit}×{args.digit}-pixel digit ({source}, bilinearly upsampled) at a random spot of a
{args.size}×{args.size} canvas of uniform noise in [0, {args.noise}]; classify it from {args.low}×{args.low} pixels
(factor {f}: the digit covers ≈ {args.digit / f:.1f} low-res pixels). Validation canvases use digit images not seen in
training. Same task CNN in every arm, Adam {args.lr}, batch {args.batch}, {args.epochs} epochs, from scratch.
Arms: `downsample` (average-pooled canvas), `uniform-sampler` (the sampler with a constant map = corner-aligned
bilinear point-sampling resize, i.e. the `sampler` arm before learning), `sampler` (`zoom_classifier`: saliency net on the low-res copy +
`SaliencySampler` on the full-res canvas, end to end, saliency net's last conv zero-initialised so training starts
from plain resizing), `oracle-sampler` (the sampler driven by a Gaussian blob at the true digit position: what the
sampling mechanism can give at this resolution).

Validation accuracy per epoch:

{table}

Columns of the picture: canvas, then the task net's input in each arm: `downsample`, `uniform-sampler`, learned
`sampler`, `oracle-sampler` (validation images, after training).

![sampled images](img/zoom_digits_samples.png)
"""


if __name__ == "__main__":
    main()

"""Model-zoo table on OSIE: train on the train split (small CPU budgets), score on the test split.

Rows: the centre-bias baseline; ``deepgaze2`` on frozen ``hed-vgg16`` features (readout trained on cached
features, :func:`tfsal.training.train_deepgaze2`); and, each trained for ``--budget`` wall-clock seconds
(stopped by a callback), ``shallow``, ``shallow-bn``, ``fastsal-a`` from scratch and ``vgg16-encdec`` from
``hed-vgg16``. Every model is scored with :func:`tfsal.evaluate.evaluate` (NSS, CC, AUC-Judd, KLD, SIM; ground truth
at the images' own 800×600 resolution). The markdown table is printed at the end and each finished row is appended
to ``--json`` as it completes (so a run cut short keeps its rows).

Usage::

    python experiments/zoo_table.py --data /work/shared/data/osie --image-size 96x128 --budget 180 \
        --models centre-bias,deepgaze2,shallow,shallow-bn,fastsal-a,vgg16-encdec

Training follows each model's tfsal recipe (optimizer, learning rate, loss) with a constant learning rate, the
recipe's batch size capped at ``--max-batch`` (CPU), horizontal-flip augmentation, seed 0. ``shallow`` /
``shallow-bn`` train at their own 96×96 input (48×48 map); the others at ``--image-size``.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

METRICS = ("NSS", "CC", "AUC-Judd", "KLD", "SIM")
ALL_ROWS = ("centre-bias", "deepgaze2", "shallow", "shallow-bn", "fastsal-a", "vgg16-encdec")
INIT = {"shallow": None, "shallow-bn": None, "fastsal-a": None, "vgg16-encdec": "hed-vgg16"}


def _size(text):
    h, w = (int(v) for v in text.lower().split("x"))
    return h, w


class WallClock:
    """A Keras callback factory: stop training after ``seconds`` of wall time (checked after every batch)."""

    def __new__(cls, seconds):
        import keras

        class _Stop(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.start, self.steps = time.time(), 0

            def on_train_batch_end(self, batch, logs=None):
                self.steps += 1
                if time.time() - self.start > seconds:
                    self.model.stop_training = True

        return _Stop()


def _score(model, args):
    from tfsal.evaluate import evaluate

    res = evaluate(model, data=args.data, split="test", metrics=list(METRICS), progress=False)
    return res.summary()


def run_centre_bias(args):
    return {"init": "-", "input": "-", "train_s": 0.0, "steps": 0, "scores": _score("centre-bias", args)}


def run_deepgaze2(args, train):
    from tfsal.data import read_examples
    from tfsal.models.deepgaze2 import deepgaze2_features
    from tfsal.training import train_deepgaze2

    h, w = args.image_size
    t0 = time.time()
    feats = deepgaze2_features(train, (h, w, 3), weights="hed-vgg16")
    val = read_examples(args.data, "val") if args.dg_val else None
    vfeats = deepgaze2_features(val, (h, w, 3), weights="hed-vgg16") if val else None
    es = {"val_examples": val, "val_features": vfeats}
    feat_s = time.time() - t0
    t1 = time.time()
    model, hist = train_deepgaze2(train, (h, w, 3), weights="hed-vgg16", features=feats, epochs=args.dg_epochs,
                                  time_budget=args.budget, verbose=0, **es)
    train_s = time.time() - t1
    epochs = len(hist["loss"])
    print(f"deepgaze2: features {feat_s:.0f} s, readout {epochs} epochs {train_s:.0f} s, "
          f"loss {hist['loss'][0]:.3f} -> {hist['loss'][-1]:.3f}, prior weight "
          f"{float(model.get_layer('deepgaze_prior').weight.numpy()):.3f}", flush=True)
    rows = {"deepgaze2": {"init": "hed-vgg16 (frozen)", "input": f"{h}x{w}", "train_s": round(feat_s + train_s, 1),
                          "steps": f"{epochs} ep", "scores": _score(model, args),
                          "loss": [hist["loss"][0], hist["loss"][-1]]}}
    if args.dg_ablation:  # the same cached features; only the prior differs
        variants = {"deepgaze2, Gaussian prior": {"centre_bias": None},
                    "deepgaze2, no prior": {"centre_bias": None, "prior_weight": 0.0, "learn_prior_weight": False}}
        for label, kw in variants.items():
            t1 = time.time()
            m, hi = train_deepgaze2(train, (h, w, 3), weights="hed-vgg16", features=feats, epochs=args.dg_epochs,
                                    time_budget=args.budget, verbose=0, **kw, **es)
            print(f"{label}: {len(hi['loss'])} epochs, loss {hi['loss'][0]:.3f} -> {hi['loss'][-1]:.3f}", flush=True)
            rows[label] = {"init": "hed-vgg16 (frozen)", "input": f"{h}x{w}", "train_s": round(time.time() - t1, 1),
                           "steps": f"{len(hi['loss'])} ep", "scores": _score(m, args),
                           "loss": [hi["loss"][0], hi["loss"][-1]]}
    return rows


def run_trained(name, args, train):
    import keras

    from tfsal import data as tdata
    from tfsal.losses import SaliencyLoss
    from tfsal.models import create_model, model_info
    from tfsal.train import get_recipe

    entry = model_info(name)
    recipe = get_recipe(entry.recipe)
    size = tuple(entry.default_input_shape[:2]) if name.startswith("shallow") else args.image_size
    keras.utils.set_random_seed(0)
    model = create_model(name, input_shape=(*size, 3), weights=INIT[name])
    map_size = tuple(int(v) for v in model.output_shape[1:3])
    batch = min(recipe.batch_size, args.max_batch)
    ds = tdata.make_dataset(train, size, map_size, batch_size=batch, shuffle=True, augment=True, seed=0,
                            cache=True).repeat()
    decay = {"weight_decay": recipe.weight_decay} if recipe.weight_decay else {}
    opt = (keras.optimizers.SGD(recipe.learning_rate, momentum=recipe.momentum, nesterov=recipe.nesterov, **decay)
           if recipe.optimizer == "sgd" else keras.optimizers.Adam(recipe.learning_rate, **decay))
    model.compile(optimizer=opt, loss=SaliencyLoss(recipe.loss))
    stop = WallClock(args.budget)
    steps_per_epoch = 10  # the dataset repeats; short "epochs" only make the logged loss curve finer
    t0 = time.time()
    hist = model.fit(ds, epochs=10_000, steps_per_epoch=steps_per_epoch, callbacks=[stop], verbose=0)
    train_s = time.time() - t0
    losses = hist.history["loss"]
    print(f"{name}: {stop.steps} steps (batch {batch}) in {train_s:.0f} s, loss {losses[0]:.4f} -> {losses[-1]:.4f}",
          flush=True)
    return {"init": INIT[name] or "scratch", "input": f"{size[0]}x{size[1]}", "train_s": round(train_s, 1),
            "steps": stop.steps, "scores": _score(model, args), "loss": [losses[0], losses[-1]],
            "loss_per_10_steps": [round(v, 4) for v in losses]}


def markdown(rows):
    head = "| model | init | input | train (s) | steps | " + " | ".join(METRICS) + " |"
    lines = [head, "|" + "---|" * (5 + len(METRICS))]
    for name, r in rows.items():
        cells = [f"{r['scores'][m][0]:.3f}" for m in METRICS]
        lines.append(f"| {name} | {r['init']} | {r['input']} | {r['train_s']} | {r['steps']} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="/work/shared/data/osie")
    parser.add_argument("--image-size", type=_size, default=(96, 128), help="HxW input of the non-shallow models")
    parser.add_argument("--budget", type=float, default=180.0, help="training wall-clock seconds per model")
    parser.add_argument("--dg-epochs", type=int, default=60,
                        help="max readout epochs of deepgaze2 (on cached features)")
    parser.add_argument("--dg-ablation", action="store_true",
                        help="also train deepgaze2 with a Gaussian prior and with no prior (same cached features)")
    parser.add_argument("--dg-val", action="store_true",
                        help="deepgaze2: early stopping on the val split's loss (patience 5, best weights kept)")
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--models", default=",".join(ALL_ROWS))
    parser.add_argument("--json", default="experiments/out/zoo_table.json")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in ALL_ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}; expected some of {list(ALL_ROWS)}")

    from tfsal.data import read_examples

    train = read_examples(args.data, "train")
    print(f"OSIE: {len(train)} train / {len(read_examples(args.data, 'test'))} test images; command: "
          f"python {' '.join(sys.argv)}", flush=True)
    rows = {}
    if os.path.dirname(args.json):
        os.makedirs(os.path.dirname(args.json), exist_ok=True)
    for name in names:
        t0 = time.time()
        if name == "centre-bias":
            new = {name: run_centre_bias(args)}
        elif name == "deepgaze2":
            new = run_deepgaze2(args, train)
        else:
            new = {name: run_trained(name, args, train)}
        for label, r in new.items():
            rows[label] = r
            print(f"{label}: " + ", ".join(f"{m} {r['scores'][m][0]:.3f}" for m in METRICS)
                  + f"  ({time.time() - t0:.0f} s since start of row)", flush=True)
            with open(args.json, "a") as f:
                f.write(json.dumps({"model": label, **r}) + "\n")
    print(markdown(rows))
    return rows


if __name__ == "__main__":
    main()

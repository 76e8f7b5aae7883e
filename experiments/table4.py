"""FastSal Table IV on OSIE + EyeCrowd: EfficientNet-B0 vs MobileNetV2 encoders under one SalGAN-width decoder.

Arms (all through :func:`tfsal.train.train`, what ``tfsal train`` runs, on the train splits of both datasets
together; validation on both val splits for ``best.keras``; scored on each test split with
:func:`tfsal.evaluate.evaluate`):

* ``table4-efficientnetb0`` from random weights (no ImageNet EfficientNet-B0 weights can be had offline),
* ``table4-mobilenetv2`` from random weights (the fair pair with the above),
* ``table4-mobilenetv2`` from ``imagenet-dogs`` (the offline ImageNet-derived MobileNetV2 start; not a fair
  comparison with a random EfficientNet-B0),

each without and with a hint stage first (FastSal eq. 1, :func:`tfsal.distill.hint_pretrain`: the student's four
encoder taps, :data:`tfsal.distill.HINT_TAPS`, through 1×1 adaptation convs, to a ``deepgaze2`` teacher's VGG-16
taps). The teacher is ``deepgaze2(weights="hed-vgg16")`` at the run's input size: its hint taps sit in the frozen
HED VGG-16 backbone, so its readout (untrained here) does not change the hint targets.

Same budget for every arm **in steps**, not wall time: ``--steps`` GT training steps (one epoch cut by a step
callback, then the val pass), batch ``--batch``, the ``fastsal`` recipe (Adam 1e-3, KLD + CC + BCE), seed 0; hint
arms first get ``--hint-steps`` hint steps (Adam 1e-3) on the same training images. The reported hint loss is the
mean eq. 1 loss over the val images right after the hint stage (the paper's figure is on SALICON val with a SalGAN
teacher, whose features have another scale). Each arm's wall time is reported too (the machine is shared).

Usage::

    python experiments/table4.py --steps 60 --hint-steps 40 --image-size 64x96

Writes ``OUT/rows.jsonl`` (one line per finished arm; a rerun skips finished arms) and the section "table4" of
docs/experiments.md.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from experiments._report import write_section  # noqa: E402

DATA = ("/work/shared/data/osie", "/work/shared/data/eyecrowd")
METRICS = ("sAUC", "NSS", "CC", "AUC-Judd")  # AUC-Borji left out: its sampling is slow on this machine
ARMS = {  # in the order they run: the fair random-vs-random pair first
    "mnv2-random": ("table4-mobilenetv2", None, False),
    "eff-random": ("table4-efficientnetb0", None, False),
    "mnv2-random-hint": ("table4-mobilenetv2", None, True),
    "eff-random-hint": ("table4-efficientnetb0", None, True),
    "mnv2-dogs": ("table4-mobilenetv2", "imagenet-dogs", False),
    "mnv2-dogs-hint": ("table4-mobilenetv2", "imagenet-dogs", True),
}


def _size(text):
    h, w = (int(v) for v in text.lower().split("x"))
    return h, w


def step_budget(steps):
    """A Keras callback that stops ``fit`` after ``steps`` training batches (a budget in steps, not seconds)."""
    import keras

    class StepBudget(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.done = 0

        def on_train_batch_end(self, batch, logs=None):
            self.done += 1
            if self.done >= steps:
                self.model.stop_training = True

    return StepBudget()


def val_hint_loss(val_ds, result):
    """A callback for the hint ``fit``: at its end, the mean hint loss of its model over ``val_ds`` into ``result``."""
    import keras
    import numpy as np

    class ValHint(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            losses = [np.asarray(self.model(x, training=False)).ravel() for x in val_ds]
            result["val_hint_loss"] = float(np.concatenate(losses).mean())

    return ValHint()


def _image_ds(examples, size, batch, shuffle_seed=None):
    from tfsal.data import make_dataset

    ds = make_dataset(examples, image_size=size, batch_size=batch, output="image")
    return ds if shuffle_seed is None else ds.unbatch().shuffle(len(examples), seed=shuffle_seed).batch(batch)


def hint_stage(model_name, weights, args, out):
    """Hint pre-training of a fresh student; returns ``(weights_path, info)``."""
    import keras

    from tfsal.data import read_examples
    from tfsal.distill import hint_pretrain
    from tfsal.models import create_model
    from tfsal.models.deepgaze2 import deepgaze2

    h, w = args.image_size
    keras.utils.set_random_seed(0)
    student = create_model(model_name, input_shape=(h, w, 3), weights=weights)
    teacher = deepgaze2((h, w, 3), weights="hed-vgg16")
    train = [e for d in DATA for e in read_examples(d, "train")]
    val = [e for d in DATA for e in read_examples(d, "val")]
    info = {}
    t0 = time.time()
    hist = hint_pretrain(student, teacher, _image_ds(train, (h, w), args.batch, shuffle_seed=0).repeat(),
                         epochs=1, steps_per_epoch=args.hint_steps, learning_rate=1e-3, verbose=0,
                         callbacks=[val_hint_loss(_image_ds(val, (h, w), args.batch), info)])
    info.update(hint_s=round(time.time() - t0, 1), train_hint_loss=float(hist["loss"][-1]))
    path = os.path.join(out, "hint_start.weights.h5")
    student.save_weights(path)
    return path, info


def run_arm(key, args):
    from tfsal.evaluate import evaluate
    from tfsal.train import train

    model_name, weights, hint = ARMS[key]
    run = os.path.join(args.out, key)
    os.makedirs(run, exist_ok=True)
    t0 = time.time()
    info = {}
    start = weights
    if hint:
        start, info = hint_stage(model_name, weights, args, run)
    train(model_name, data=list(DATA), recipe="fastsal", epochs=1, batch_size=args.batch,
          image_size=args.image_size, weights=start, out=os.path.join(run, "train"), seed=0, verbose=0,
          callbacks=[step_budget(args.steps)], num_preview=2)
    wall = time.time() - t0
    best = os.path.join(run, "train", "best.keras")
    scores = {os.path.basename(d): evaluate(best, data=d, split="test", metrics=list(METRICS), progress=False)
              .summary() for d in DATA}
    row = {"arm": key, "model": model_name, "weights": weights or "random", "hint": hint, "wall_s": round(wall, 1),
           "steps": args.steps, "hint_steps": args.hint_steps if hint else 0, "scores": scores, **info}
    with open(os.path.join(args.out, "rows.jsonl"), "a") as f:
        f.write(json.dumps(row) + "\n")
    print(f"{key}: {wall:.0f} s; " + "; ".join(
        f"{d} " + ", ".join(f"{m} {s[m][0]:.3f}" for m in METRICS) for d, s in scores.items()), flush=True)
    return row


def score_baseline(args):
    """The centre-bias baseline (from each dataset's train fixations) on both test splits, as a row."""
    from tfsal.evaluate import evaluate

    scores = {os.path.basename(d): evaluate("centre-bias", data=d, split="test", metrics=list(METRICS),
                                            progress=False).summary() for d in DATA}
    row = {"arm": "centre-bias", "model": "centre-bias baseline", "weights": "–", "hint": False, "wall_s": 0.0,
           "scores": scores}
    with open(os.path.join(args.out, "rows.jsonl"), "a") as f:
        f.write(json.dumps(row) + "\n")
    return row


def markdown(rows, args, command):
    from tfsal.models.table4 import PAPER

    head = "| model | encoder start | hint | wall (s) | " + " | ".join(f"{d} {m}" for d in ("osie", "eyecrowd")
                                                                     for m in ("sAUC", "NSS", "CC")) + \
        " | val hint loss |"
    lines = [head, "|" + "---|" * (5 + 6)]
    for r in rows:
        cells = [f"{r['scores'][d][m][0]:.3f}" for d in ("osie", "eyecrowd") for m in ("sAUC", "NSS", "CC")]
        hint = f"{r['val_hint_loss']:.4g}" if r.get("val_hint_loss") is not None else "–"
        lines.append(f"| {r['model']} | {r['weights']} | {'yes' if r['hint'] else 'no'} | {r['wall_s']:.0f} | "
                     + " | ".join(cells) + f" | {hint} |")
    paper = ["| paper (SALICON 2017 val, SalGAN teacher) | sAUC | AUC-Borji | NSS | CC | hint loss |",
             "|---|---|---|---|---|---|"]
    for k, label in (("efficientnetb0", "EfficientNet-B0"), ("mobilenetv2", "MobileNetV2")):
        p = PAPER[k]
        paper.append(f"| {label} | {p['sAUC']} | {p['AUC-Borji']} | {p['NSS']} | {p['CC']} | {p['hint_loss']} |")
    full = ["| arm | " + " | ".join(f"{d} {m}" for d in ("osie", "eyecrowd") for m in METRICS) + " |",
            "|" + "---|" * (1 + 2 * len(METRICS))]
    for r in rows:
        full.append(f"| {r['arm']} | " + " | ".join(f"{r['scores'][d][m][0]:.3f}" for d in ("osie", "eyecrowd")
                                                    for m in METRICS) + " |")
    return "\n".join([
        "## FastSal Table IV: EfficientNet-B0 vs MobileNetV2 encoders (seed 004)",
        "",
        f"Command: `{command}`",
        "",
        f"Budget per arm: {args.steps} GT training steps of batch {args.batch} at {args.image_size[0]}×"
        f"{args.image_size[1]} on OSIE + EyeCrowd train (shuffled together), recipe `fastsal` (Adam 1e-3, "
        f"KLD + CC + BCE), seed 0; hint arms first {args.hint_steps} hint steps (eq. 1) to the `deepgaze2` "
        "teacher's HED VGG-16 taps. `best.keras` by the val loss of both val splits, scored on each test split "
        "(OSIE 98, EyeCrowd 90 images). Wall time includes the hint stage and the val pass, not the scoring.",
        "",
        *lines,
        "",
        "All metrics (test splits, mean over images):",
        "",
        *full,
        "",
        *paper,
    ])


def publish(key, text, args):
    """Print a section (plus the ``--reading`` file) and write it into docs/experiments.md unless ``--no-doc``."""
    if args.reading:
        text += "\n\n" + open(args.reading).read()
    print(text)
    if not args.no_doc:
        write_section(key, text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image-size", type=_size, default=(64, 96))
    parser.add_argument("--steps", type=int, default=60, help="GT training steps per arm")
    parser.add_argument("--hint-steps", type=int, default=40, help="hint steps of the hint arms")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--out", default="experiments/out/table4")
    parser.add_argument("--reading", default=None, help="a markdown file with the reading, appended to the section")
    parser.add_argument("--no-doc", action="store_true", help="do not write docs/experiments.md")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    command = "python " + " ".join(sys.argv)
    print(f"command: {command}", flush=True)
    rows_path = os.path.join(args.out, "rows.jsonl")
    done = {json.loads(line)["arm"] for line in open(rows_path)} if os.path.exists(rows_path) else set()
    if "centre-bias" not in done:
        score_baseline(args)
    for key in [k.strip() for k in args.arms.split(",") if k.strip()]:
        if key not in done:
            run_arm(key, args)
    rows = [json.loads(line) for line in open(rows_path)]
    publish("table4", markdown(rows, args, command), args)
    return rows


if __name__ == "__main__":
    main()

"""FastSal Table V on OSIE: does a student learn more from ground truth + a teacher's pseudo-maps + hints?

Steps (seed 004 §III-B, SPEC §4), all at ``--image-size`` (96×128 by default, a CPU size):

1. Teacher: ``deepgaze2`` on frozen ``hed-vgg16`` features (a density teacher, eq. 3; FastSal's MIT300 teacher was
   DeepGaze II), readout trained on the OSIE **train** split with early stopping on the val split's loss
   (:func:`tfsal.training.train_deepgaze2`). Saved as ``OUT/teacher.keras``.
2. Pseudo-maps (:func:`tfsal.distill.pseudo_label`, what ``tfsal pseudo-label`` runs) of the OSIE train and val
   images. The val images are the *extra* images: held out from GT training, used without their fixations.
3. Three FastSal-A students from random weights (no ImageNet MobileNetV2 offline), each with the same wall-clock
   budget ``--budget`` through :func:`tfsal.train.train` (what ``tfsal train`` runs), the ``fastsal`` recipe
   (Adam 1e-3, GT loss KLD + CC + BCE) with a constant learning rate (the recipe's step at epoch 15 would reach
   only the students that fit 15 epochs into the budget), batch 8, flips, seed 0:

   (a) ``GT``: ground truth of the train split only;
   (b) ``GT + pseudo``: ``--teacher --pseudo``: train images get GT + eq. 3 to the teacher map, the extra images
       the eq. 3 term alone;
   (c) ``GT + pseudo + hint``: as (b) after ``--hint-pretrain`` epochs of eq. 1 hint pre-training (inside the same
       budget);
   (d) (not in the paper) ``GT + pseudo as GT``: as (b) with ``--teacher-loss kld_cc_bce``: the teacher term is the
       GT loss against the min-max-normalised teacher map instead of eq. 3;
   (e) (not in the paper) as (d) after the hint pre-training of (c).

4. Everything is scored on the OSIE **test** split (never used in training or selection) with NSS, CC, AUC-Judd,
   KLD and SIM (:func:`tfsal.evaluate.evaluate`), together with the centre-bias baseline. Each student is scored
   twice: ``best.keras`` (lowest val loss) and ``last.keras`` (end of budget), since (b) and (c) saw the val images
   (without fixations).

Usage::

    python experiments/distill_table.py --data /work/shared/data/osie --budget 600 --hint-epochs 2

Writes ``OUT/rows.jsonl`` (one line per finished row) and the section "distillation" of docs/experiments.md.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

METRICS = ("NSS", "CC", "AUC-Judd", "KLD", "SIM")


def _size(text):
    h, w = (int(v) for v in text.lower().split("x"))
    return h, w


def _score(model, data):
    from tfsal.evaluate import evaluate

    return evaluate(model, data=data, split="test", metrics=list(METRICS), progress=False).summary()


def _emit(args, label, row):
    with open(os.path.join(args.out, "rows.jsonl"), "a") as f:
        f.write(json.dumps({"row": label, **row}) + "\n")
    print(f"{label}: " + ", ".join(f"{m} {row['scores'][m][0]:.3f}" for m in METRICS), flush=True)


def teacher_stage(args):
    from tfsal.data import read_examples
    from tfsal.training import train_deepgaze2

    path = os.path.join(args.out, "teacher.keras")
    h, w = args.image_size
    if not os.path.exists(path):
        t0 = time.time()
        model, hist = train_deepgaze2(read_examples(args.data, "train"), (h, w, 3), weights="hed-vgg16",
                                      epochs=args.teacher_epochs, val_examples=read_examples(args.data, "val"),
                                      verbose=0)
        model.save(path)
        print(f"teacher: {len(hist['loss'])} readout epochs, {time.time() - t0:.0f} s", flush=True)
    return path


def pseudo_stage(args, teacher_path):
    from tfsal.data import read_examples
    from tfsal.distill import pseudo_label

    images = [e.image_path for s in ("train", "val") for e in read_examples(args.data, s)]
    folder = os.path.join(args.out, "pseudo")
    t0 = time.time()
    res = pseudo_label(teacher_path, images, folder, progress=False)
    print(f"pseudo-labels: {res['written']} written, {res['skipped']} kept, kind {res['kind']}, "
          f"{time.time() - t0:.0f} s", flush=True)
    return folder


# The fastsal recipe with a constant learning rate, registered by this script only.
BUDGET_RECIPE = "fastsal-constant-lr"

STUDENTS = {
    "a": ("(a) GT", {}),
    "b": ("(b) GT + pseudo", {"pseudo": True}),
    "c": ("(c) GT + pseudo + hint", {"pseudo": True, "hint": True}),
    # not in the paper: the teacher map (min-max normalised) as pseudo ground truth with the GT loss
    "d": ("(d) GT + pseudo as GT", {"pseudo": True, "teacher_loss": "kld_cc_bce"}),
    "e": ("(e) GT + pseudo as GT + hint", {"pseudo": True, "teacher_loss": "kld_cc_bce", "hint": True}),
}


def student_stage(args, key, teacher_path, pseudo_dir):
    import dataclasses

    from tfsal.train import RECIPES, train

    RECIPES.setdefault(BUDGET_RECIPE, dataclasses.replace(RECIPES["fastsal"], schedule="constant",
                                                          source="fastsal recipe, constant learning rate"))

    label, how = STUDENTS[key]
    run = os.path.join(args.out, f"student_{key}")
    kw = {}
    if how.get("pseudo"):
        kw.update(teacher=teacher_path, pseudo=pseudo_dir)
    if how.get("hint"):
        kw.update(hint_pretrain=args.hint_epochs)
    if how.get("teacher_loss"):
        kw.update(teacher_loss=how["teacher_loss"])
    t0 = time.time()
    result = train("fastsal-a", data=args.data, recipe=BUDGET_RECIPE, epochs=args.max_epochs,
                   image_size=args.image_size, out=run, time_budget=args.budget, seed=0, verbose=0, **kw)
    wall = time.time() - t0
    with open(os.path.join(run, "config.json")) as f:
        config = json.load(f)
    hist = result.history
    steps = sum(1 for _ in open(os.path.join(run, "history.csv"))) - 1
    print(f"{label}: {steps} epochs in {wall:.0f} s (budget {args.budget:.0f} s), "
          f"unlabelled images {config.get('unlabelled_images', 0)}", flush=True)
    for which in ("best", "last"):
        _emit(args, f"{label} [{which}]", {"train_s": round(wall, 1), "epochs": steps,
                                            "scores": _score(os.path.join(run, f"{which}.keras"), args.data),
                                            "val_loss": hist.get("val_loss", [None])[-1]})


def markdown(rows):
    lines = ["| model | train (s) | epochs | " + " | ".join(METRICS) + " |", "|" + "---|" * (3 + len(METRICS))]
    for r in rows:
        cells = [f"{r['scores'][m][0]:.3f}" for m in METRICS]
        lines.append(f"| {r['row']} | {r.get('train_s', '-')} | {r.get('epochs', '-')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="/work/shared/data/osie")
    parser.add_argument("--image-size", type=_size, default=(96, 128))
    parser.add_argument("--budget", type=float, default=600.0, help="wall-clock seconds per student")
    parser.add_argument("--hint-epochs", type=int, default=2)
    parser.add_argument("--teacher-epochs", type=int, default=60)
    parser.add_argument("--max-epochs", type=int, default=100, help="epoch cap (the budget normally stops first)")
    parser.add_argument("--students", default="a,b,c")
    parser.add_argument("--out", default="experiments/out/distill")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    print(f"command: python {' '.join(sys.argv)}", flush=True)

    teacher_path = teacher_stage(args)
    done = set()
    rows_path = os.path.join(args.out, "rows.jsonl")
    if os.path.exists(rows_path):
        done = {json.loads(line)["row"] for line in open(rows_path)}
    if "centre-bias" not in done:
        _emit(args, "centre-bias", {"scores": _score("centre-bias", args.data)})
    if "teacher: deepgaze2 (hed-vgg16)" not in done:
        _emit(args, "teacher: deepgaze2 (hed-vgg16)", {"scores": _score(teacher_path, args.data)})
    pseudo_dir = pseudo_stage(args, teacher_path)
    for key in [k.strip() for k in args.students.split(",") if k.strip()]:
        if f"{STUDENTS[key][0]} [best]" not in done:
            student_stage(args, key, teacher_path, pseudo_dir)
    rows = [json.loads(line) for line in open(rows_path)]
    print(markdown(rows))
    return rows


if __name__ == "__main__":
    main()

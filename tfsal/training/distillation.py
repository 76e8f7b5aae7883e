"""Distillation as a plug-in of the fit loop: teacher, pseudo-maps, unlabelled images and hint pre-training.

:func:`make_distillation` checks a config's distillation settings and returns the plug-in the loop calls at fixed
points — :meth:`~NoDistillation.prepare` (write the teacher's maps), :attr:`~NoDistillation.examples` /
:attr:`~NoDistillation.teacher_maps` (what the pipeline reads), :meth:`~NoDistillation.loss`,
:meth:`~NoDistillation.pretrain` (hint stage) and :meth:`~NoDistillation.settings` / :meth:`~NoDistillation.facts`
(what ``config.json`` records): :class:`NoDistillation` without a teacher, :class:`Distillation` with one.

Example:
    >>> NoDistillation([]).settings()
    {}
"""
import logging
import os

from tfsal import data as tdata
from tfsal.distill import DistillationLoss, check_distill_args, hint_pretrain, pseudo_label, read_pseudo_labels
from tfsal.errors import UserError
from tfsal.losses import SaliencyLoss
from tfsal.predict import load_model

log = logging.getLogger("tfsal.train")

__all__ = ["NoDistillation", "Distillation", "make_distillation"]


class NoDistillation:
    """The plug-in of a run without a teacher: its training images, the ground-truth loss, no hint stage.

    Args:
        train_examples: the run's training examples.
    """

    def __init__(self, train_examples):
        self.train_examples = list(train_examples)

    def prepare(self, run_dir, batch_size, verbose):
        """Called once the run directory exists, before the datasets are made."""

    @property
    def examples(self):
        """The examples the training pipeline reads."""
        return self.train_examples

    @property
    def teacher_maps(self):
        """The teacher map of each of :attr:`examples` (``None``: no teacher channels in the targets)."""
        return None

    def val_teacher_maps(self, n):
        """The teacher maps of ``n`` validation examples (``None``: no teacher channels)."""
        return None

    def loss(self, gt_loss):
        """The Keras loss of the run, from the ground-truth loss name."""
        return SaliencyLoss(gt_loss)

    def pretrain(self, net, size, batch_size, learning_rate, seed, callbacks, verbose, start_epoch):
        """The hint stage before ``fit``; its ``History.history``, or ``None`` when there is none."""
        return None

    def settings(self):
        """The resolved :class:`~tfsal.training.TrainConfig` fields of the distillation (none here)."""
        return {}

    def facts(self):
        """Facts of the distillation for ``config.json`` (none here)."""
        return {}


class Distillation(NoDistillation):
    """The distillation settings of one run: teacher, pseudo-maps, extra unlabelled images, hint epochs."""

    def __init__(self, teacher, teacher_model, pseudo, hint_epochs, weight, train_examples, teacher_loss=None):
        super().__init__(train_examples)
        self.teacher, self.teacher_model, self.pseudo = teacher, teacher_model, pseudo
        self.teacher_loss = teacher_loss
        self.hint_epochs, self.weight = int(hint_epochs or 0), float(1.0 if weight is None else weight)
        self.kind, self.items, self.extras = None, {}, []

    def use_pseudo(self, data, val_examples):
        """Read the pseudo-label folder: teacher maps of the training images, other images as unlabelled extras."""
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
            log.warning(
                "%d pseudo-labelled image(s) are also validation images (first: %r): they train without their "
                "fixations, but the validation loss that picks best.keras sees them", len(in_val), in_val[0])
        self.extras = [items[s][1] for s in extra_stems]

    def prepare(self, run_dir, batch_size, verbose):
        """Write the teacher's maps of the training images into RUN_DIR/pseudo when no folder was given."""
        if self.pseudo is not None and self.kind is not None:
            return
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

    def val_teacher_maps(self, n):
        return [None] * n

    def loss(self, gt_loss):
        return DistillationLoss(gt_loss, self.kind, self.weight, self.teacher_loss)

    def pretrain(self, net, size, batch_size, learning_rate, seed, callbacks, verbose, start_epoch):
        if not self.hint_epochs or start_epoch > 0:  # a resumed run had its hint stage
            return None
        ds = tdata.make_dataset(self.examples, size, batch_size=batch_size, shuffle=True, augment=True, seed=seed,
                                output="image")
        return hint_pretrain(net, self.teacher_model, ds, epochs=self.hint_epochs, learning_rate=learning_rate,
                             callbacks=callbacks, verbose=verbose)

    def settings(self):
        """Before the teacher's maps are written ``pseudo`` is only a folder the user gave (``None`` otherwise), so
        a run resumed from then writes the maps again."""
        return {"teacher": None if self.teacher is None else os.path.abspath(self.teacher),
                "pseudo": None if self.kind is None else os.path.abspath(self.pseudo),
                "teacher_weight": self.weight, "teacher_loss": self.teacher_loss, "hint_pretrain": self.hint_epochs}

    def facts(self):
        if self.kind is None:
            return {}
        return {"teacher_kind": self.kind,
                "train_images_with_pseudo": sum(e.stem in self.items for e in self.train_examples),
                "unlabelled_images": len(self.extras)}


def make_distillation(config, train_examples, val_examples):
    """Check the distillation settings of a :class:`~tfsal.training.TrainConfig` and make the run's plug-in.

    Args:
        config: the run's config (``data``, ``teacher``, ``pseudo``, ``hint_pretrain``, ``teacher_weight``,
            ``teacher_loss`` are read).
        train_examples: the training examples.
        val_examples: the validation examples (pseudo-labelled images among them are reported).

    Returns:
        A :class:`NoDistillation` (no teacher, no pseudo-labels) or a :class:`Distillation`.
    """
    teacher, pseudo, hint, weight = config.teacher, config.pseudo, config.hint_pretrain, config.teacher_weight
    if teacher is None and pseudo is None:
        if hint:
            raise UserError(f"hint_pretrain={hint!r} needs a teacher (--teacher PATH)")
        if weight is not None or config.teacher_loss is not None:
            raise UserError("teacher_weight / teacher_loss need a teacher (--teacher PATH) or pseudo-labels "
                            "(--pseudo DIR)")
        return NoDistillation(train_examples)
    check_distill_args(None, None, config.teacher_loss)
    if hint is not None and (not isinstance(hint, int) or hint < 0):
        raise UserError(f"hint_pretrain must be a non-negative number of epochs; got {hint!r}")
    if hint and teacher is None:
        raise UserError("hint pre-training needs the teacher model: pass teacher=PATH (--teacher) as well")
    if weight is not None and float(weight) < 0:
        raise UserError(f"teacher_weight must be >= 0; got {weight!r}")
    teacher_model = None
    if teacher is not None:
        teacher = os.fspath(teacher)
        teacher_model = load_model(teacher)
        teacher_model.trainable = False
    d = Distillation(teacher, teacher_model, None if pseudo is None else os.fspath(pseudo), hint, weight,
                     train_examples, config.teacher_loss)
    if pseudo is not None:
        d.use_pseudo(config.data, val_examples)
    return d

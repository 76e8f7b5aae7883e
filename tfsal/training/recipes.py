"""Training recipes from the papers, as code: :data:`RECIPES`, :func:`get_recipe` and the learning-rate schedules.

Example:
    >>> from tfsal.training.recipes import get_recipe
    >>> get_recipe("fastsal-paper").learning_rate
    0.01
"""
import dataclasses

from tfsal.errors import UserError

__all__ = ["Recipe", "RECIPES", "get_recipe", "step_schedule"]


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
    # (frozen backbone), Adam 1e-3, constant (tfsal.training.deepgaze2.READOUT_LEARNING_RATE / READOUT_LOSS read
    # them from here). train("deepgaze2") takes the fast path on cached features: tfsal.training.train_deepgaze2.
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

"""Knowledge distillation (SPEC §3-§4, FastSal seed 004 §III-B): teacher losses, the hint loss, pseudo-labels.

Tensor functions follow :mod:`tfsal.losses`: batched, written with ``keras.ops``, returning ``(B,)``.
``y_true`` is ``(B, h, w, C)`` with the continuous map in channel 0 (other channels ignored); teacher maps and
student predictions are ``(B, h, w, 1)``. tfsal students end in a sigmoid, so ``y_pred`` is a map in [0, 1]; the
losses that need the student's unnormalised output ``ŷ`` recover it as a logit (see :func:`eq3_loss`).

:func:`pseudo_label` runs a teacher over a folder of unlabelled images and writes one ``.npy`` map per image.
"""
import json
import os

import keras
import numpy as np
from keras import ops

from tfsal._io import write_json, write_npy
from tfsal._quiet import keras_verbosity
from tfsal.data import Example, make_dataset, read_examples
from tfsal.data._common import image_size
from tfsal.kernels import ops as kops
from tfsal.losses import EPS, LOSSES, bce
from tfsal.models.table4 import EFFICIENTNETB0_HINT_TAPS
from tfsal.errors import UserError
from tfsal.predict import load_model

__all__ = ["eq2_loss", "eq3_loss", "hint_loss", "sigmoid_to_logits", "pseudo_label", "PSEUDO_LABEL_METADATA",
           "DENSITY_TOLERANCE", "TEACHER_KINDS", "DistillationLoss", "distillation_loss", "HINT_TAPS",
           "hint_taps", "hint_model", "hint_pretrain", "read_pseudo_labels", "check_distill_args"]

# Clip of sigmoid probabilities before taking logits / logs (Keras' backend epsilon, as tfsal.losses.bce).
_P_CLIP = 1e-7
# Floor of p when recovering logits from a sigmoid map: ln(1e-30) ≈ -69. A student's background logits fall far
# below -16.1 (= logit(1e-7)) under a ground-truth BCE term; clipping there would freeze those pixels (zero gradient)
# while eq. 3's KL term still wants them raised towards the teacher's density. float32 keeps p and its gradient
# p(1 - p) exact down to this floor.
_LOGIT_FLOOR = 1e-30
# Name of the metadata file pseudo_label writes next to the maps.
PSEUDO_LABEL_METADATA = "pseudo_labels.json"
# A teacher whose every map sums to 1 within this (absolute) tolerance is a "density" teacher.
DENSITY_TOLERANCE = 1e-3
# Input size for a teacher whose input has no fixed spatial size (FastSal's recipe size, SPEC §1.4).
_FALLBACK_SIZE = (192, 256)


def _flat(x):
    return ops.reshape(x, (ops.shape(x)[0], -1))


def sigmoid_to_logits(p):
    """The student's unnormalised output ``ŷ`` from its sigmoid map: ``ŷ = ln(p / (1 − p))``.

    ``p`` is clipped to ``[1e-30, 1 − 1e-7]`` first, so ``ŷ`` lies within about [−69.1, 16.1] and is always finite
    (float32 cannot represent ``1 − p`` closer to 0 than that; at the bottom, float32 sigmoid outputs stay exact far
    below ``1e-7``, so the logits of a dark background are recovered, with their gradients).

    Args:
        p: a tensor of probabilities in [0, 1].

    Returns:
        A ``float32`` tensor of the same shape.

    Example:
        >>> float(sigmoid_to_logits(0.5))
        0.0
    """
    p = ops.clip(ops.cast(p, "float32"), _LOGIT_FLOOR, 1.0 - _P_CLIP)
    return ops.log(p) - ops.log(1.0 - p)


def eq2_loss(y_true, y_teacher, y_pred, alpha=1.0):
    """FastSal eq. 2, for a teacher that outputs a sigmoid saliency map (e.g. SalGAN; SPEC §3).

    .. math::

        L = -\\frac{1}{N}\\sum_{i,j} y_{ij}\\log\\sigma(\\hat y_{ij}) + (1-y_{ij})\\log(1-\\sigma(\\hat y_{ij}))
            \\;-\\; \\alpha\\,\\frac{1}{N}\\sum_{i,j} \\bar y_{ij}\\log\\sigma(\\hat y_{ij})
            + (1-\\bar y_{ij})\\log(1-\\sigma(\\hat y_{ij}))

    i.e. ``BCE(y_pred, ground truth) + alpha · BCE(y_pred, teacher map)``, each the per-image mean over the N
    pixels (:func:`tfsal.losses.bce`, probabilities clipped to [1e-7, 1 − 1e-7]). The paper uses ``alpha = 1``;
    ``alpha = 0`` is ground truth only.

    Args:
        y_true: ``(B, h, w, C)`` ground truth, map in [0, 1] in channel 0.
        y_teacher: ``(B, h, w, 1)`` teacher pseudo-map ``ȳ`` in [0, 1].
        y_pred: ``(B, h, w, 1)`` student map ``σ(ŷ)`` in [0, 1].
        alpha: weight of the teacher term.

    Returns:
        ``(B,)`` per-image loss.

    Example:
        >>> import numpy as np
        >>> half = np.full((1, 2, 2, 1), 0.5, "float32")
        >>> round(float(eq2_loss(half, half, half)[0]), 4)   # 2 ln 2
        1.3863
    """
    return bce(y_true, y_pred) + alpha * bce(y_teacher, y_pred)


def eq3_loss(y_teacher, y_pred, from_logits=False, kl_weight=1.0, cos_weight=1.0, bce_weight=1.0):
    """FastSal eq. 3, for a teacher that outputs a probability density (e.g. DeepGaze II, ``deepgaze2``; SPEC §3).

    .. math::

        L = \\sum_{i,j} \\bar y_{ij}\\log\\frac{\\bar y_{ij}}{g(\\hat y)_{ij}}
            + 1 - \\frac{\\sum_{i,j} \\bar y_{ij}\\, g(\\hat y)_{ij}}
                        {\\sqrt{\\sum_{i,j} \\bar y_{ij}^2}\\sqrt{\\sum_{i,j} g(\\hat y)_{ij}^2}}
            - \\frac{1}{N}\\sum_{i,j} f(\\bar y)_{ij}\\log\\sigma(\\hat y_{ij})
              + (1 - f(\\bar y)_{ij})\\log(1-\\sigma(\\hat y_{ij}))

    with ``ȳ`` the teacher density, ``ŷ`` the student's unnormalised output, ``g`` the softmax over all pixels of
    an image, ``f`` min-max normalisation to [0, 1] and ``σ`` the sigmoid: KL(teacher ‖ softmax(ŷ)) + (1 − cosine
    similarity of the flattened ``ȳ`` and ``g(ŷ)``) + BCE of ``σ(ŷ)`` to the min-max-normalised teacher map.

    The student's logits: tfsal students output ``p = σ(ŷ)``, so with ``from_logits=False`` (the default)
    ``ŷ = ln(p / (1 − p))`` with ``p`` clipped to [1e-30, 1 − 1e-7] (:func:`sigmoid_to_logits`). Then
    ``g(ŷ) = (p / (1 − p)) / Σ p / (1 − p)`` (the normalised odds) and ``σ(ŷ) = p`` (clipped to [1e-7, 1 − 1e-7] in the
    BCE term). Pass raw logits with ``from_logits=True`` (a model without its final sigmoid).

    Details: the teacher map is renormalised to sum 1 (guarding float drift); the KL term is
    ``Σ ȳ · (ln(ȳ + ε) − log_softmax(ŷ))`` with ε = :data:`tfsal.losses.EPS`, so zero-density pixels contribute 0;
    ``log_softmax`` keeps it finite for any logits. A constant teacher map min-max normalises to all zeros.

    Args:
        y_teacher: ``(B, h, w, 1)`` teacher density ``ȳ`` (non-negative; sums to 1 per image).
        y_pred: ``(B, h, w, 1)`` student sigmoid map, or logits when ``from_logits``.
        from_logits: ``y_pred`` holds ``ŷ`` itself.
        kl_weight, cos_weight, bce_weight: weights of the three terms (all 1 in the paper).

    Returns:
        ``(B,)`` per-image loss.

    Example:
        >>> import numpy as np
        >>> teacher = np.array([0.25, 0.75], "float32").reshape(1, 1, 2, 1)
        >>> round(float(eq3_loss(teacher, np.full((1, 1, 2, 1), 0.5))[0]), 4)
        0.9295
    """
    t = _flat(ops.cast(y_teacher[..., :1], "float32"))
    t = ops.maximum(t, 0.0)
    t = t / ops.maximum(ops.sum(t, axis=1, keepdims=True), EPS)
    y_pred = ops.cast(y_pred, "float32")
    if from_logits:
        logits = _flat(y_pred)
        p = ops.clip(ops.sigmoid(logits), _P_CLIP, 1.0 - _P_CLIP)
    else:
        logits = sigmoid_to_logits(_flat(y_pred))
        p = ops.clip(_flat(y_pred), _P_CLIP, 1.0 - _P_CLIP)
    log_g = logits - ops.logsumexp(logits, axis=1, keepdims=True)
    g = ops.exp(log_g)
    kl = ops.sum(t * (ops.log(t + EPS) - log_g), axis=1)
    num = ops.sum(t * g, axis=1)
    den = ops.sqrt(ops.sum(t * t, axis=1)) * ops.sqrt(ops.sum(g * g, axis=1))
    cos = num / ops.maximum(den, EPS)
    f = kops.minmax(t, axis=1)  # the one min-max kernel: a constant teacher map gives zeros
    bce_term = -ops.mean(f * ops.log(p) + (1.0 - f) * ops.log(1.0 - p), axis=1)
    return kl_weight * kl + cos_weight * (1.0 - cos) + bce_weight * bce_term


def hint_loss(student_features, teacher_features):
    """The hint loss, FastSal eq. 1: per-level mean squared error, summed over the levels (SPEC §3).

    .. math::

        L_{hint}(\\hat y, \\bar y) = \\sum_{l=1}^{L} \\frac{1}{N_l}\\sum_{n=1}^{N_l} (\\bar y_{nl} - \\hat y_{nl})^2

    with ``N_l`` the number of elements of one image's level-``l`` feature map (the paper writes a single ``N``; its
    text defines the loss as "the mean squared error from each intermediate layer summed over the four
    intermediate layers", which is this). The paper uses ``L = 4`` levels; any ``L ≥ 1`` is accepted.

    The student features must already be *adapted*: the 1×1 convolution that maps the student's channels to the
    teacher's (the "student adaptation layer") belongs to the caller's model, and spatial sizes must match too
    (resize before calling). This function only compares equal-shaped tensors.

    Args:
        student_features: a list of ``(B, h_l, w_l, c_l)`` adapted student feature maps ``ŷ``.
        teacher_features: a list of the teacher's feature maps ``ȳ``, same length and shapes.

    Returns:
        ``(B,)`` per-image loss.

    Raises:
        ValueError: the lists are empty, differ in length, or a pair differs in shape.

    Example:
        >>> import numpy as np
        >>> s = [np.zeros((1, 2, 2, 3), "float32")] * 4
        >>> t = [np.ones((1, 2, 2, 3), "float32")] * 4
        >>> float(hint_loss(s, t)[0])
        4.0
    """
    student_features, teacher_features = list(student_features), list(teacher_features)
    if not student_features or len(student_features) != len(teacher_features):
        raise UserError(
            f"hint_loss needs two equally long, non-empty lists of feature maps; got {len(student_features)} "
            f"student and {len(teacher_features)} teacher level(s)"
        )
    total = None
    for level, (s, t) in enumerate(zip(student_features, teacher_features)):
        if tuple(s.shape) != tuple(t.shape):
            raise UserError(
                f"hint_loss level {level}: student features {tuple(s.shape)} and teacher features "
                f"{tuple(t.shape)} differ in shape; adapt the student (1x1 conv) and resize first"
            )
        err = ops.mean(_flat(ops.square(ops.cast(t, "float32") - ops.cast(s, "float32"))), axis=1)
        total = err if total is None else total + err
    return total


# Teacher kinds and the teacher term each takes (SPEC §3): a sigmoid map → eq. 2's BCE, a density → eq. 3.
TEACHER_KINDS = ("sigmoid", "density")


def check_distill_args(gt_loss, kind, teacher_loss=None):
    """Raise ``ValueError`` for an unknown teacher kind or loss name (shared by the loss and ``tfsal train``)."""
    if kind is not None and kind not in TEACHER_KINDS:
        raise UserError(f"unknown teacher kind {kind!r}; expected one of {TEACHER_KINDS}")
    for loss in (gt_loss, teacher_loss):
        if loss is not None and loss not in LOSSES:
            raise UserError(f"unknown loss {loss!r}; expected one of {sorted(LOSSES)}")


def distillation_loss(y_true, y_pred, gt_loss="bce", kind="sigmoid", teacher_weight=1.0, teacher_loss=None):
    """Ground-truth term + teacher term per image, for targets that mix labelled and pseudo-labelled images.

    ``y_true`` has the five channels of :data:`tfsal.data.DISTILL_TARGET_CHANNELS` (``make_dataset(...,
    teacher_maps=...)``): map, fixation map, teacher map, ``has_gt``, ``has_teacher``. Per image

    ``L = has_gt · gt_loss(map, ŷ) + has_teacher · teacher_weight · T(teacher, ŷ)``

    with ``T`` = BCE to the teacher map for a sigmoid teacher (so ``gt_loss="bce"`` gives FastSal eq. 2 exactly)
    and ``T`` = :func:`eq3_loss` for a density teacher (eq. 3; for images with ground truth tfsal adds the GT term,
    as eq. 2 does). An image without ground truth is trained on the teacher alone, as the paper's unlabelled images.
    With ``teacher_loss`` set, ``T`` is instead that :data:`tfsal.losses.LOSSES` loss against the min-max-normalised
    teacher map (the teacher map used as pseudo ground truth, a common alternative to the paper's terms).

    Args:
        y_true: ``(B, h, w, 5)`` distillation targets.
        y_pred: ``(B, h, w, 1)`` student map in [0, 1].
        gt_loss: a :data:`tfsal.losses.LOSSES` name for the ground-truth term (``"bce"`` as in eq. 2).
        kind: ``"sigmoid"`` or ``"density"`` (:data:`TEACHER_KINDS`).
        teacher_weight: weight ``α`` of the teacher term (1 in the paper).
        teacher_loss: ``None`` (the paper's term for ``kind``) or a :data:`tfsal.losses.LOSSES` name.

    Returns:
        ``(B,)`` per-image loss.

    Example:
        >>> import numpy as np
        >>> y = np.full((1, 2, 2, 5), 0.5, "float32"); y[..., 3:] = 1.0   # GT and teacher both 0.5
        >>> round(float(distillation_loss(y, np.full((1, 2, 2, 1), 0.5, "float32"))[0]), 4)  # 2 ln 2
        1.3863
    """
    check_distill_args(gt_loss, kind, teacher_loss)
    y = ops.cast(y_true, "float32")
    if y.shape[-1] is not None and y.shape[-1] != 5:
        raise UserError(f"distillation targets need 5 channels (map, fixmap, teacher, has_gt, has_teacher); "
                         f"got {y.shape[-1]}")
    has_gt = y[:, 0, 0, 3]
    has_teacher = y[:, 0, 0, 4]
    teacher = y[..., 2:3]
    # images without GT get the teacher map in the GT slots, so the (discarded) GT term stays finite: a NaN there
    # would survive multiplication by 0 in the gradient.
    gt_safe = ops.where(has_gt[:, None, None, None] > 0, y[..., 0:2], ops.concatenate([teacher, teacher], axis=-1))
    gt_term = LOSSES[gt_loss](gt_safe, y_pred)
    if teacher_loss is not None:
        t_map = kops.minmax(teacher, axis=(1, 2, 3))
        t_term = LOSSES[teacher_loss](ops.concatenate([t_map, t_map], axis=-1), y_pred)
    elif kind == "sigmoid":
        t_term = bce(teacher, y_pred)
    else:
        t_safe = ops.where(has_teacher[:, None, None, None] > 0, teacher, ops.ones_like(teacher))
        t_term = eq3_loss(t_safe, y_pred)
    return has_gt * gt_term + has_teacher * teacher_weight * t_term


@keras.saving.register_keras_serializable(package="tfsal")
class DistillationLoss(keras.losses.Loss):
    """A ``keras.losses.Loss`` around :func:`distillation_loss` (FastSal eq. 2 / eq. 3 with ground truth).

    Args:
        gt_loss: the ground-truth term, a :data:`tfsal.losses.LOSSES` name.
        kind: ``"sigmoid"`` (eq. 2) or ``"density"`` (eq. 3) teacher.
        teacher_weight: weight of the teacher term.
        teacher_loss: ``None`` (the paper's term) or a :data:`tfsal.losses.LOSSES` name (see
            :func:`distillation_loss`).
        name: the loss name shown in logs.

    Example:
        >>> loss = DistillationLoss("bce", "sigmoid")    # FastSal eq. 2
    """

    def __init__(self, gt_loss="bce", kind="sigmoid", teacher_weight=1.0, teacher_loss=None, name="distillation",
                 reduction="sum_over_batch_size", dtype=None):
        check_distill_args(gt_loss, kind, teacher_loss)
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.gt_loss, self.kind, self.teacher_weight = gt_loss, kind, float(teacher_weight)
        self.teacher_loss = teacher_loss

    def call(self, y_true, y_pred):
        return distillation_loss(y_true, y_pred, self.gt_loss, self.kind, self.teacher_weight, self.teacher_loss)

    def get_config(self):
        return {"gt_loss": self.gt_loss, "kind": self.kind, "teacher_weight": self.teacher_weight,
                "teacher_loss": self.teacher_loss, "name": self.name, "reduction": self.reduction}


# ------------------------------------------------------------------------------------------------ hint loss
# Default hint taps (FastSal eq. 1 uses four intermediate layers): the student's encoder at strides 4, 8, 16, 32
# (MobileNetV2 layer names, tfsal.models.fastsal.TAPS) and a VGG-16 teacher's (deepgaze2, vgg16-encdec: layer names
# block{b}_conv{i}) last conv of blocks 2-5 (strides 2, 4, 8, 16; resized to the student's size). The paper does not
# list its layers; these are the deepest layer of each scale.
HINT_TAPS = {
    "mobilenetv2": ("block_2_add", "block_5_add", "block_12_add", "block_16_project_BN"),
    "vgg16": ("block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3"),
    "efficientnetb0": EFFICIENTNETB0_HINT_TAPS,  # the table4-efficientnetb0 student (FastSal Table IV)
}


def hint_taps(model):
    """The default hint layer names of a model (:data:`HINT_TAPS`), found by the layer names it has.

    Raises:
        ValueError: the model has neither a MobileNetV2 nor a VGG-16 encoder (pass the layer names yourself).
    """
    names = {layer.name for layer in model.layers}
    for family, taps in HINT_TAPS.items():
        if all(t in names for t in taps):
            return taps
    raise UserError(
        f"model {model.name!r} has no default hint layers (expected all of one of "
        f"{' / '.join(str(t) for t in HINT_TAPS.values())}); pass the layer names explicitly"
    )


class _HintLoss(keras.layers.Layer):
    """Per-image hint loss of adapted student features and (resized) teacher features, as a ``(B, 1)`` output."""

    def call(self, inputs):
        n = len(inputs) // 2
        students, teachers = inputs[:n], inputs[n:]
        resized = []
        for s, t in zip(students, teachers):
            if tuple(t.shape[1:3]) != tuple(s.shape[1:3]):
                t = ops.image.resize(t, tuple(s.shape[1:3]), interpolation="bilinear", antialias=True)
            resized.append(ops.stop_gradient(ops.cast(t, "float32")))
        return ops.expand_dims(hint_loss(students, resized), -1)


def hint_model(student, teacher, student_taps=None, teacher_taps=None):
    """A model that maps an image to the hint loss (eq. 1) between a student and a frozen teacher.

    The student's tapped features go through trainable 1×1 "student adaptation" convolutions to the teacher's
    channel counts; the teacher's are resized (bilinear, antialiased) to the student's spatial sizes. The output is
    the per-image loss ``(B, 1)``; train it with ``loss=lambda y, p: p`` (as :func:`hint_pretrain` does). The
    student's layers are shared, so training this model trains the student's encoder.

    Args:
        student: the student ``keras.Model`` (raw RGB in).
        teacher: the teacher ``keras.Model`` (raw RGB in); frozen here. When its input size differs from the
            student's, the image is resized for it.
        student_taps, teacher_taps: layer names (equally many); ``None`` → :func:`hint_taps`.

    Returns:
        A ``keras.Model`` named ``hint``.
    """
    student_taps = tuple(student_taps or hint_taps(student))
    teacher_taps = tuple(teacher_taps or hint_taps(teacher))
    if len(student_taps) != len(teacher_taps):
        raise UserError(f"hint taps: {len(student_taps)} student layer(s) {student_taps} but "
                         f"{len(teacher_taps)} teacher layer(s) {teacher_taps}; expected equally many")

    def tap(model, names, who):
        try:
            return keras.Model(model.inputs, [model.get_layer(n).output for n in names], name=f"{who}_taps")
        except ValueError as err:
            raise UserError(f"{who} {model.name!r}: {err}") from None

    s_tap, t_tap = tap(student, student_taps, "student"), tap(teacher, teacher_taps, "teacher")
    t_tap.trainable = False
    h, w = student.input_shape[1:3]
    image = keras.Input(shape=(h, w, 3), name="image")
    s_feats = s_tap(image)
    th, tw = teacher.input_shape[1:3]
    t_in = image
    if (th, tw) != (h, w) and th is not None and tw is not None:
        t_in = keras.layers.Resizing(int(th), int(tw), interpolation="bilinear", name="hint_teacher_resize")(image)
    t_feats = t_tap(t_in, training=False)
    adapted = [keras.layers.Conv2D(int(t.shape[-1]), 1, name=f"hint_adapt{i + 1}", dtype="float32")(s)
               for i, (s, t) in enumerate(zip(s_feats, t_feats))]
    out = _HintLoss(name="hint_loss", dtype="float32")([*adapted, *t_feats])
    return keras.Model(image, out, name="hint")


def hint_pretrain(student, teacher, dataset, epochs=1, learning_rate=1e-3, student_taps=None, teacher_taps=None,
                  steps_per_epoch=None, callbacks=None, verbose=1):
    """Pre-train a student's encoder with the hint loss (FastSal eq. 1, SPEC §4 step 2) against a frozen teacher.

    Args:
        student: the student ``keras.Model``; its encoder weights change in place.
        teacher: the teacher ``keras.Model``.
        dataset: a ``tf.data.Dataset`` of image batches (raw RGB in [0, 255]; no labels needed), or of
            ``(image, anything)`` pairs.
        epochs: passes over ``dataset``.
        learning_rate: Adam learning rate of the hint stage.
        student_taps, teacher_taps: layer names (``None`` → :func:`hint_taps`).
        steps_per_epoch: for a repeating dataset.
        callbacks: Keras callbacks for the hint ``fit``.
        verbose: Keras ``fit`` verbosity.

    Returns:
        Keras' ``History.history`` of the hint stage (``loss`` per epoch).

    Example:
        >>> from tfsal.models import create_model
        >>> from tfsal.models.deepgaze2 import deepgaze2
        >>> import tensorflow as tf, numpy as np
        >>> s = create_model("fastsal-a", input_shape=(32, 32, 3))
        >>> t = deepgaze2((32, 32, 3))
        >>> ds = tf.data.Dataset.from_tensor_slices(np.zeros((2, 32, 32, 3), "float32")).batch(2)
        >>> len(hint_pretrain(s, t, ds, epochs=1, verbose=0)["loss"])
        1
    """
    import tensorflow as tf

    model = hint_model(student, teacher, student_taps, teacher_taps)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=lambda y, p: p)
    model.optimizer.build(model.trainable_variables)  # slots now: lazily built ones make fit trace its step twice

    def with_dummy(image):
        return image, tf.zeros([tf.shape(image)[0], 1], tf.float32)

    if isinstance(dataset.element_spec, tuple):  # (image, target, ...) batches: keep the images
        dataset = dataset.map(lambda image, *rest: image)
    ds = dataset.map(with_dummy)
    hist = model.fit(ds, epochs=int(epochs), steps_per_epoch=steps_per_epoch, callbacks=callbacks, verbose=verbose,
                     shuffle=False)
    return dict(hist.history)


# ------------------------------------------------------------------------------------------------ pseudo-labels
def _is_density(m):
    return abs(float(np.sum(m, dtype=np.float64)) - 1.0) <= DENSITY_TOLERANCE


def _image_examples(images):
    """``(examples, description)`` of a folder or list of images; the description goes into the metadata."""
    if isinstance(images, (str, os.PathLike)):
        images = os.fspath(images)
        if not os.path.isdir(images):
            raise FileNotFoundError(f"image folder {images!r} does not exist")
        return read_examples(images, split=None, layout="images"), os.path.abspath(images)
    examples = []
    for item in images:
        if isinstance(item, Example):
            examples.append(Example(item.image_path, item.width, item.height))
        else:
            path = os.fspath(item)
            examples.append(Example(path, *image_size(path)))
    if not examples:
        raise UserError("pseudo_label: expected at least one image; got an empty list")
    return examples, sorted(os.path.abspath(e.image_path) for e in examples)


def read_pseudo_labels(folder):
    """The metadata and maps of a :func:`pseudo_label` output folder.

    Args:
        folder: a folder written by :func:`pseudo_label` / ``tfsal pseudo-label``.

    Returns:
        ``(metadata, items)``: the ``pseudo_labels.json`` dict and ``{stem: (map_path, example)}`` for every map
        present whose image is still there (``example``: an unlabelled :class:`~tfsal.data.Example` of the image).

    Raises:
        FileNotFoundError: no such folder or no metadata in it.
        ValueError: the metadata names an unknown kind.
    """
    folder = os.fspath(folder)
    meta_path = os.path.join(folder, PSEUDO_LABEL_METADATA)
    if not os.path.isfile(meta_path):
        raise FileNotFoundError(f"{folder!r} has no {PSEUDO_LABEL_METADATA} (expected a folder written by "
                                "tfsal pseudo-label)")
    with open(meta_path) as fh:
        meta = json.load(fh)
    if meta.get("kind") not in TEACHER_KINDS:
        raise UserError(f"{meta_path!r}: kind {meta.get('kind')!r} is not one of {TEACHER_KINDS}")
    examples, _ = _image_examples(meta["images"])
    items = {}
    for ex in examples:
        path = os.path.join(folder, ex.stem + ".npy")
        if os.path.isfile(path):
            items[ex.stem] = (path, ex)
    return meta, items


def pseudo_label(teacher, images, out, batch_size=8, overwrite=False, progress=True):
    """Write a teacher's saliency map for every image of an unlabelled folder (SPEC §4 step 1).

    Images (searched recursively, :func:`tfsal.data.read_examples` with ``layout="images"``) are resized to the
    teacher's input size (bilinear, antialiased, as :func:`tfsal.data.make_dataset`; 192×256 for a teacher without a
    fixed input size) and run in batches. Each ``NAME.ext`` gives ``out/NAME.npy``: the teacher's raw ``float32``
    output ``(h, w)`` at the **teacher's output resolution** (not the image's; resize at training time), values
    as the teacher gives them (a [0, 1] sigmoid map or a density summing to 1).

    ``out/pseudo_labels.json`` records the teacher (path or model name), ``kind`` — ``"density"`` when every map
    sums to 1 within :data:`DENSITY_TOLERANCE` (use :func:`eq3_loss`), else ``"sigmoid"`` (use :func:`eq2_loss`) —
    the input size, output shape, image folder and count of maps present.

    Resumable: an image whose ``.npy`` already exists is skipped and its file never touched (unless
    ``overwrite``). Every file is written to a temporary name and renamed into place, so an interrupted run never
    leaves a truncated map.

    Args:
        teacher: a ``keras.Model`` taking raw RGB pixels in [0, 255], or the path of a ``.keras`` file.
        images: a folder of images (sub-folders are read too), or a list of image paths /
            :class:`~tfsal.data.Example` items (their fixations, if any, are not used).
        out: output folder (created when missing).
        batch_size: images per forward pass.
        overwrite: recompute and replace existing maps.
        progress: show a progress bar.

    Returns:
        ``{"written": int, "skipped": int, "kind": str, "output_shape": [h, w], "out": str}``.

    Raises:
        FileNotFoundError: no such teacher file or image folder.
        ValueError: an unreadable teacher or image, two images with the same file stem, a bad ``batch_size``,
            or ``out`` already holding pseudo-labels from another ``.keras`` teacher file (without ``overwrite``).

    Example:
        >>> pseudo_label("runs/salgan/best.keras", "coco/train2017", "pseudo/coco")   # doctest: +SKIP
        {'written': 118287, 'skipped': 0, 'kind': 'sigmoid', 'output_shape': [192, 256], 'out': 'pseudo/coco'}
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise UserError(f"batch_size must be a positive integer; got {batch_size!r}")
    if hasattr(teacher, "predict"):
        model, teacher_id = teacher, teacher.name
    else:
        model, teacher_id = load_model(teacher), os.path.abspath(os.fspath(teacher))
    examples, images = _image_examples(images)
    out = os.fspath(out)
    _check_unique_stems(examples, out)
    meta_path = os.path.join(out, PSEUDO_LABEL_METADATA)
    if not overwrite:
        _check_same_teacher(meta_path, teacher_id, out)

    target = {ex.stem: os.path.join(out, ex.stem + ".npy") for ex in examples}
    todo = [ex for ex in examples if overwrite or not os.path.exists(target[ex.stem])]
    os.makedirs(out, exist_ok=True)
    h, w = model.input_shape[1:3]
    size = (int(h), int(w)) if h is not None and w is not None else _FALLBACK_SIZE
    if todo:
        kinds, shape = _write_maps(model, todo, target, size, batch_size, progress)
    else:  # nothing to compute: describe the maps already there
        m = np.load(target[examples[0].stem])
        kinds, shape = {"density" if _is_density(m) else "sigmoid"}, list(m.shape)
    kind = "density" if kinds == {"density"} else "sigmoid"

    write_json(meta_path, {
        "teacher": teacher_id,
        "teacher_name": model.name,
        "kind": kind,
        "input_size": list(size),
        "output_shape": shape,
        "count": sum(os.path.exists(p) for p in target.values()),
        "images": images,
        "format": "one float32 .npy per image stem: the teacher's raw output map (h, w) at its output resolution",
    })
    return {"written": len(todo), "skipped": len(examples) - len(todo), "kind": kind, "output_shape": shape,
            "out": out}


def _check_unique_stems(examples, out):
    """Two images with one file stem would overwrite each other's map: refuse, naming both."""
    seen = {}
    for ex in examples:
        if ex.stem in seen:
            raise UserError(
                f"{seen[ex.stem]!r} and {ex.image_path!r} would both be written as {ex.stem + '.npy'!r} in {out!r}; "
                "rename one"
            )
        seen[ex.stem] = ex.image_path


def _check_same_teacher(meta_path, teacher_id, out):
    """Refuse to add maps of one ``.keras`` teacher file to a folder labelled by another."""
    if not os.path.isfile(meta_path):
        return
    with open(meta_path) as fh:
        previous = json.load(fh).get("teacher")
    # only two saved files can be told apart for sure (an in-memory model is known by its name only)
    if str(previous).endswith(".keras") and teacher_id.endswith(".keras") and previous != teacher_id:
        raise UserError(
            f"{out!r} holds pseudo-labels from teacher {previous!r}, not {teacher_id!r}; "
            "choose another output folder or pass overwrite=True (--overwrite)"
        )


def _write_maps(model, todo, target, size, batch_size, progress):
    """Run the teacher over ``todo`` in batches, writing each map; ``(kinds seen, output shape)``."""
    bar = keras.utils.Progbar(len(todo), unit_name="image", verbose=keras_verbosity()) if progress else None
    ds = make_dataset(todo, image_size=size, batch_size=batch_size, output="image")
    kinds, shape, done = set(), None, 0
    for batch in ds:
        pred = np.asarray(model.predict_on_batch(batch), np.float32)
        for ex, m in zip(todo[done : done + len(pred)], pred):
            m = np.ascontiguousarray(m[..., 0] if m.ndim == 3 else m, dtype=np.float32)
            write_npy(target[ex.stem], m)
            kinds.add("density" if _is_density(m) else "sigmoid")
            shape = list(m.shape)
        done += len(pred)
        if bar is not None:
            bar.update(done)
    return kinds, shape

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

from tfsal.losses import EPS, bce

__all__ = ["eq2_loss", "eq3_loss", "hint_loss", "sigmoid_to_logits", "pseudo_label", "PSEUDO_LABEL_METADATA",
           "DENSITY_TOLERANCE"]

# Clip of sigmoid probabilities before taking logits / logs (Keras' backend epsilon, as tfsal.losses.bce).
_P_CLIP = 1e-7
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

    ``p`` is clipped to ``[1e-7, 1 − 1e-7]`` first, so ``ŷ`` lies within about ±16.1 and is always finite (a
    saturated sigmoid loses the information beyond that anyway).

    Args:
        p: a tensor of probabilities in [0, 1].

    Returns:
        A ``float32`` tensor of the same shape.

    Example:
        >>> float(sigmoid_to_logits(0.5))
        0.0
    """
    p = ops.clip(ops.cast(p, "float32"), _P_CLIP, 1.0 - _P_CLIP)
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
    ``ŷ = ln(p / (1 − p))`` with ``p`` clipped to [1e-7, 1 − 1e-7] (:func:`sigmoid_to_logits`). Then
    ``g(ŷ) = (p / (1 − p)) / Σ p / (1 − p)`` (the normalised odds) and ``σ(ŷ) = p`` (clipped). Pass raw logits with
    ``from_logits=True`` (a model without its final sigmoid).

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
        p = ops.clip(_flat(y_pred), _P_CLIP, 1.0 - _P_CLIP)
        logits = ops.log(p) - ops.log(1.0 - p)
    log_g = logits - ops.logsumexp(logits, axis=1, keepdims=True)
    g = ops.exp(log_g)
    kl = ops.sum(t * (ops.log(t + EPS) - log_g), axis=1)
    num = ops.sum(t * g, axis=1)
    den = ops.sqrt(ops.sum(t * t, axis=1)) * ops.sqrt(ops.sum(g * g, axis=1))
    cos = num / ops.maximum(den, EPS)
    t_min = ops.min(t, axis=1, keepdims=True)
    t_range = ops.max(t, axis=1, keepdims=True) - t_min
    f = ops.where(t_range > 0, (t - t_min) / ops.maximum(t_range, EPS), 0.0)
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
        raise ValueError(
            f"hint_loss needs two equally long, non-empty lists of feature maps; got {len(student_features)} "
            f"student and {len(teacher_features)} teacher level(s)"
        )
    total = None
    for level, (s, t) in enumerate(zip(student_features, teacher_features)):
        if tuple(s.shape) != tuple(t.shape):
            raise ValueError(
                f"hint_loss level {level}: student features {tuple(s.shape)} and teacher features "
                f"{tuple(t.shape)} differ in shape; adapt the student (1x1 conv) and resize first"
            )
        err = ops.mean(_flat(ops.square(ops.cast(t, "float32") - ops.cast(s, "float32"))), axis=1)
        total = err if total is None else total + err
    return total


# ------------------------------------------------------------------------------------------------ pseudo-labels
def _atomic_save_npy(path, array):
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            np.save(fh, array)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _atomic_write_json(path, obj):
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w") as fh:
            json.dump(obj, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _is_density(m):
    return abs(float(np.sum(m, dtype=np.float64)) - 1.0) <= DENSITY_TOLERANCE


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
        images: a folder of images (sub-folders are read too).
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
    from tfsal.data import make_dataset, read_examples
    from tfsal.predict import load_model

    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
    if hasattr(teacher, "predict"):
        model, teacher_id = teacher, teacher.name
    else:
        model, teacher_id = load_model(teacher), os.path.abspath(os.fspath(teacher))
    images = os.fspath(images)
    if not os.path.isdir(images):
        raise FileNotFoundError(f"image folder {images!r} does not exist")
    examples = read_examples(images, split=None, layout="images")
    out = os.fspath(out)

    seen = {}
    for ex in examples:
        if ex.stem in seen:
            raise ValueError(
                f"{seen[ex.stem]!r} and {ex.image_path!r} would both be written as {ex.stem + '.npy'!r} in {out!r}; "
                "rename one"
            )
        seen[ex.stem] = ex.image_path

    meta_path = os.path.join(out, PSEUDO_LABEL_METADATA)
    if os.path.isfile(meta_path) and not overwrite:
        with open(meta_path) as fh:
            previous = json.load(fh).get("teacher")
        # only two saved files can be told apart for sure (an in-memory model is known by its name only)
        if str(previous).endswith(".keras") and teacher_id.endswith(".keras") and previous != teacher_id:
            raise ValueError(
                f"{out!r} holds pseudo-labels from teacher {previous!r}, not {teacher_id!r}; "
                "choose another output folder or pass overwrite=True (--overwrite)"
            )

    target = {ex.stem: os.path.join(out, ex.stem + ".npy") for ex in examples}
    todo = [ex for ex in examples if overwrite or not os.path.exists(target[ex.stem])]
    skipped = len(examples) - len(todo)
    os.makedirs(out, exist_ok=True)

    h, w = model.input_shape[1:3]
    size = (int(h), int(w)) if h is not None and w is not None else _FALLBACK_SIZE
    kinds, shape = set(), None
    if todo:
        bar = keras.utils.Progbar(len(todo), unit_name="image") if progress else None
        ds = make_dataset(todo, image_size=size, batch_size=batch_size, output="image")
        done = 0
        for batch in ds:
            pred = np.asarray(model.predict_on_batch(batch), np.float32)
            for ex, m in zip(todo[done : done + len(pred)], pred):
                m = np.ascontiguousarray(m[..., 0] if m.ndim == 3 else m, dtype=np.float32)
                _atomic_save_npy(target[ex.stem], m)
                kinds.add("density" if _is_density(m) else "sigmoid")
                shape = list(m.shape)
            done += len(pred)
            if bar is not None:
                bar.update(done)
    else:  # nothing to compute: describe the maps already there
        m = np.load(target[examples[0].stem])
        kinds.add("density" if _is_density(m) else "sigmoid")
        shape = list(m.shape)
    kind = "density" if kinds == {"density"} else "sigmoid"

    _atomic_write_json(meta_path, {
        "teacher": teacher_id,
        "teacher_name": model.name,
        "kind": kind,
        "input_size": list(size),
        "output_shape": shape,
        "count": sum(os.path.exists(p) for p in target.values()),
        "images": os.path.abspath(images),
        "format": "one float32 .npy per image stem: the teacher's raw output map (h, w) at its output resolution",
    })
    return {"written": len(todo), "skipped": skipped, "kind": kind, "output_shape": shape, "out": out}

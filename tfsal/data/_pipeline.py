"""The tf.data input pipeline shared by every reader."""
import os

import numpy as np
import tensorflow as tf

from tfsal.data._maps import DEFAULT_BLUR_SIGMA, tf_saliency_targets
from tfsal.errors import UserError

__all__ = ["make_dataset", "TARGET_CHANNELS", "DISTILL_TARGET_CHANNELS"]

# Supervised targets are one tensor (B, h, w, 2): channel 0 the continuous map in [0, 1], channel 1 the binary
# fixation map. tfsal's losses read channel 0 and its NSS metric channel 1, so NSS can be monitored during fit.
TARGET_CHANNELS = ("map", "fixmap")
# With teacher maps (distillation, tfsal.distill.DistillationLoss) the target has three more channels: the
# teacher's map resized to the map size, and two constant planes flagging whether the image has ground truth and
# whether it has a teacher map (an unlabelled image has map and fixation map all zero and has_gt = 0).
DISTILL_TARGET_CHANNELS = ("map", "fixmap", "teacher", "has_gt", "has_teacher")


def _check_size(size, what):
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise UserError(f"{what} must be (height, width); got {size!r}") from None
    if h <= 0 or w <= 0:
        raise UserError(f"{what} must be positive; got {size!r}")
    return h, w


def _decode_image(path, size):
    raw = tf.io.read_file(path)
    img = tf.io.decode_image(raw, channels=3, expand_animations=False)
    img = tf.ensure_shape(img, [None, None, 3])
    img = tf.image.resize(tf.cast(img, tf.float32), size, method="bilinear", antialias=True)
    return tf.clip_by_value(img, 0.0, 255.0)


def _decode_map(path, size):
    raw = tf.io.read_file(path)
    m = tf.io.decode_image(raw, channels=1, expand_animations=False)
    m = tf.ensure_shape(m, [None, None, 1])
    m = tf.image.resize(tf.cast(m, tf.float32), size, method="bilinear", antialias=True)
    return tf.math.divide_no_nan(m, tf.reduce_max(m))


def _read_npy_map(path):
    m = np.load(path.decode() if isinstance(path, bytes) else path)
    if m.ndim == 3 and m.shape[-1] == 1:
        m = m[..., 0]
    if m.ndim != 2 or not np.all(np.isfinite(m)):
        raise UserError(f"teacher map {path!r}: expected a finite 2-D array; got shape {m.shape}")
    return m.astype(np.float32)[..., None]


def _load_teacher_map(path, size):
    m = tf.numpy_function(_read_npy_map, [path], tf.float32, stateful=False)
    m = tf.ensure_shape(m, [None, None, 1])
    return tf.image.resize(m, size, method="bilinear", antialias=True)


def make_dataset(
    examples,
    image_size=(192, 256),
    map_size=None,
    batch_size=8,
    shuffle=False,
    seed=0,
    augment=False,
    cache=False,
    sigma=DEFAULT_BLUR_SIGMA,
    output="supervised",
    drop_remainder=False,
    epochs=None,
    initial_epoch=0,
    teacher_maps=None,
    scale_crop=None,
):
    """Build a batched, prefetched ``tf.data.Dataset`` from :class:`~tfsal.data.Example` items.

    Images are resized to ``image_size`` (no letterboxing: aspect ratio follows the size asked for; fixations are
    stored normalised, so they stay aligned) and kept as raw float pixels in [0, 255] — models normalise inside.
    The continuous map is the dataset's own map when it has one, otherwise the fixations blurred by
    σ = ``sigma`` × map width (:func:`~tfsal.data.saliency_map_from_fixations`), max-normalised to [0, 1].

    Args:
        examples: a list of :class:`~tfsal.data.Example`.
        image_size: ``(H, W)`` of the model input.
        map_size: ``(h, w)`` of the target maps; ``image_size`` when ``None``.
        batch_size: examples per batch.
        shuffle: shuffle the file list every epoch (seeded by ``seed``).
        seed: seed for shuffling and augmentation; the same seed gives the same order and flips.
        augment: random horizontal flips, applied to image, map and fixations together.
        cache: cache decoded examples in memory (``True``) or in a file (a path).
        sigma: blur as a fraction of the map width (ignored for examples with a given map).
        output: ``"supervised"`` → ``(image, target)`` with target ``(h, w, 2)`` = [map, fixation map];
            ``"dict"`` → ``{"image", "map", "fixmap", "fixations", "num_fixations", "index"}`` where
            ``fixations`` are normalised ``(x, y)`` padded with -1 and ``index`` points into ``examples``;
            ``"image"`` → images only (for unlabelled data / prediction).
        drop_remainder: drop the last incomplete batch.
        epochs: for training: yield epochs ``initial_epoch … epochs - 1`` back to back (use
            ``steps_per_epoch = ceil(len(examples) / batch_size)`` in ``fit``). Each epoch's order and flips come from
            ``(seed, epoch)`` alone, so a run resumed at epoch k sees exactly the batches an uninterrupted run would.
            Batches never straddle two epochs. ``None``: one pass, re-shuffled on every iteration.
        initial_epoch: the first epoch to yield (with ``epochs``).
        teacher_maps: for distillation: one entry per example, the path of a teacher map ``.npy`` (a 2-D float
            array at any resolution, as :func:`tfsal.distill.pseudo_label` writes) or ``None``. The supervised
            target then has the five channels of :data:`DISTILL_TARGET_CHANNELS`; the teacher map is resized
            (bilinear) to ``map_size`` and flipped with the image. Examples without fixations or a map are allowed
            when they have a teacher map (``has_gt`` = 0).
        scale_crop: with ``epochs`` and ``output="supervised"`` only: ``None`` (off) or the smallest crop side as a
            fraction of the image, in (0, 1]: each example of each epoch is cropped to a random window of side
            fraction ``U(scale_crop, 1)`` (aspect kept, random position) and resized back; image, map, fixation
            map and teacher map together (the maps bilinear and max-normalised again, the fixation map nearest, so
            every fixation inside the window stays one or more pixels). Drawn from ``(seed, epoch)`` after the flips.

    Returns:
        A ``tf.data.Dataset``.

    Example:
        >>> import tfsal
        >>> ds = tfsal.data.make_dataset(tfsal.data.read_demo("val"), (96, 128), batch_size=4)
        >>> images, targets = next(iter(ds))
        >>> tuple(targets.shape)
        (4, 96, 128, 2)
    """
    image_size, map_size, teacher_maps = _check_arguments(examples, image_size, map_size, batch_size, output,
                                                          teacher_maps)
    scale_crop = _check_scale_crop(scale_crop, epochs, output)
    distill = teacher_maps is not None
    tensors = _example_tensors(examples, teacher_maps)
    load = _loader(output, image_size, map_size, sigma, distill)
    finish = _finisher(output, distill, map_size, int(batch_size), drop_remainder)
    if epochs is not None:
        return _epoch_dataset(tensors, load, finish, len(examples), shuffle, augment, seed, int(initial_epoch),
                              int(epochs), cache, scale_crop)
    return _one_pass_dataset(tensors, load, finish, len(examples), shuffle, augment, seed, cache)


def _check_scale_crop(scale_crop, epochs, output):
    """``scale_crop`` as a float in (0, 1] or ``None``; it needs ``epochs`` and supervised output."""
    if scale_crop is None:
        return None
    if isinstance(scale_crop, bool) or not isinstance(scale_crop, (int, float)) or not 0 < scale_crop <= 1:
        raise UserError(f"scale_crop must be a fraction in (0, 1] (smallest crop side) or None; got {scale_crop!r}")
    if epochs is None or output != "supervised":
        raise UserError(f"scale_crop needs epochs=... and output='supervised' (training batches); got "
                        f"epochs={epochs!r}, output={output!r}")
    return float(scale_crop)


def _check_arguments(examples, image_size, map_size, batch_size, output, teacher_maps):
    """``(image_size, map_size, teacher_maps)`` checked; a bad argument or an unlabelled example is a UserError."""
    if output not in ("supervised", "dict", "image"):
        raise UserError(f"output must be 'supervised', 'dict' or 'image'; got {output!r}")
    if not examples:
        raise UserError("make_dataset: expected at least one example; got an empty list")
    if int(batch_size) <= 0:
        raise UserError(f"batch_size must be a positive integer; got {batch_size!r}")
    image_size = _check_size(image_size, "image_size")
    map_size = _check_size(map_size or image_size, "map_size")
    if teacher_maps is not None:
        teacher_maps = [None if t is None else os.fspath(t) for t in teacher_maps]
        if len(teacher_maps) != len(examples):
            raise UserError(f"teacher_maps must have one entry per example: got {len(teacher_maps)} for "
                             f"{len(examples)} examples")
        if output != "supervised":
            raise UserError(f"teacher_maps need output='supervised'; got output={output!r}")
    has_teacher = [t is not None for t in teacher_maps] if teacher_maps is not None else [False] * len(examples)
    if output != "image":
        unlabelled = [e.image_path for e, t in zip(examples, has_teacher)
                      if e.fixations is None and e.map_path is None and not t]
        if unlabelled:
            raise UserError(
                f"{len(unlabelled)} example(s) have neither fixations nor a map (first: {unlabelled[0]!r}); "
                "use output='image' for unlabelled images"
            )
    return image_size, map_size, teacher_maps


def _example_tensors(examples, teacher_maps):
    """The per-example arrays the pipeline slices: paths, fixations padded with -1, counts, index (+ teacher)."""
    n_max = max([1] + [0 if e.fixations is None else len(e.fixations) for e in examples])
    points = np.full((len(examples), n_max, 2), -1.0, np.float32)
    counts = np.zeros(len(examples), np.int32)
    for i, e in enumerate(examples):
        p = e.normalized_fixations()
        points[i, : len(p)] = p
        counts[i] = len(p)
    tensors = {
        "path": np.array([e.image_path for e in examples]),
        "map_path": np.array([e.map_path or "" for e in examples]),
        "fixations": points,
        "num_fixations": counts,
        "index": np.arange(len(examples), dtype=np.int64),
    }
    if teacher_maps is not None:
        tensors["teacher_path"] = np.array([t or "" for t in teacher_maps])
        tensors["has_gt"] = np.array([e.fixations is not None or e.map_path is not None for e in examples], np.float32)
    return tensors


def _loader(output, image_size, map_size, sigma, distill):
    """The per-example ``load(item) -> dict`` of the pipeline: decoded image, and (labelled outputs) the targets."""

    def load(item):
        out = {
            "image": _decode_image(item["path"], image_size),
            "fixations": item["fixations"],
            "num_fixations": item["num_fixations"],
            "index": item["index"],
        }
        if output == "image":
            return out
        sal, fix = tf_saliency_targets(item["fixations"], item["num_fixations"], map_size, sigma)
        given = tf.strings.length(item["map_path"]) > 0
        out["map"] = tf.cond(given, lambda: _decode_map(item["map_path"], map_size), lambda: sal)
        out["fixmap"] = fix
        if distill:
            has_t = tf.strings.length(item["teacher_path"]) > 0
            out["teacher"] = tf.cond(has_t, lambda: _load_teacher_map(item["teacher_path"], map_size),
                                     lambda: tf.zeros([*map_size, 1], tf.float32))
            out["flags"] = tf.stack([item["has_gt"], tf.cast(has_t, tf.float32)])
        return out

    return load


def _finisher(output, distill, map_size, batch_size, drop_remainder):
    """The last step ``finish(ds)``: dicts to the ``output`` form, batched."""

    def finish(ds):
        if output == "supervised" and distill:
            ds = ds.map(lambda d: (d["image"], tf.concat(
                [d["map"], d["fixmap"], d["teacher"], tf.ones([*map_size, 2], tf.float32) * d["flags"]], axis=-1)))
        elif output == "supervised":
            ds = ds.map(lambda d: (d["image"], tf.concat([d["map"], d["fixmap"]], axis=-1)))
        elif output == "image":
            ds = ds.map(lambda d: d["image"])
        return ds.batch(batch_size, drop_remainder=drop_remainder)

    return finish


def _one_pass_dataset(tensors, load, finish, n, shuffle, augment, seed, cache):
    """One pass over the examples, re-shuffled (and re-flipped) on every iteration."""
    ds = tf.data.Dataset.from_tensor_slices(tensors)
    if shuffle:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if cache:
        ds = ds.cache() if cache is True else ds.cache(str(cache))
    if augment:
        rng = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        ds = tf.data.Dataset.zip(ds, rng).map(
            lambda d, r: _flip(d, tf.random.stateless_uniform([], seed=tf.stack([r, tf.constant(0, tf.int64)])) < 0.5),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return finish(ds).prefetch(tf.data.AUTOTUNE)


def _epoch_dataset(tensors, load, finish, n, shuffle, augment, seed, initial_epoch, epochs, cache, scale_crop=None):
    """Epochs ``initial_epoch..epochs-1`` back to back; order, flips (and crops) of epoch e depend only on
    ``(seed, e)``."""
    if not 0 <= initial_epoch < epochs:
        raise UserError(f"expected 0 <= initial_epoch < epochs; got initial_epoch={initial_epoch}, epochs={epochs}")
    if cache:
        raise UserError("cache is not supported together with epochs=...; use one or the other")
    orders, flips, boxes = [], [], []
    for e in range(initial_epoch, epochs):
        rng = np.random.default_rng([seed, e])
        orders.append(rng.permutation(n) if shuffle else np.arange(n))
        flips.append(rng.random(n) < 0.5 if augment else np.zeros(n, bool))
        boxes.append(_crop_boxes(rng, n, scale_crop))
    table = {k: tf.constant(v) for k, v in tensors.items()}

    def one_epoch(order, flip, box):
        ds = tf.data.Dataset.from_tensor_slices((order, flip, box))
        ds = ds.map(lambda i, f, b: (load({k: tf.gather(v, i) for k, v in table.items()}), f, b),
                    num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        if scale_crop is not None:
            ds = ds.map(lambda d, f, b: (_crop(d, b), f, b), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        if augment:
            ds = ds.map(lambda d, f, b: _flip(d, f), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        else:
            ds = ds.map(lambda d, f, b: d)
        return finish(ds)

    stacked = (np.stack(orders), np.stack(flips), np.stack(boxes))
    ds = tf.data.Dataset.from_tensor_slices(stacked).flat_map(one_epoch)
    return ds.prefetch(tf.data.AUTOTUNE)


def _crop_boxes(rng, n, scale_crop):
    """``(n, 4)`` normalised ``[y1, x1, y2, x2]`` crop windows (the whole image when ``scale_crop`` is None)."""
    if scale_crop is None:
        return np.tile(np.array([0, 0, 1, 1], np.float32), (n, 1))
    side = rng.uniform(scale_crop, 1.0, n)
    y1, x1 = rng.uniform(0, 1, n) * (1 - side), rng.uniform(0, 1, n) * (1 - side)
    return np.stack([y1, x1, y1 + side, x1 + side], axis=1).astype(np.float32)


def _crop(item, box):
    """Image and target maps cropped to ``box`` (normalised ``[y1, x1, y2, x2]``) and resized to their own sizes."""
    out = dict(item)
    for key, method in (("image", "bilinear"), ("map", "bilinear"), ("fixmap", "nearest"), ("teacher", "bilinear")):
        if key in item:
            x = item[key]
            size = tf.shape(x)[:2]
            out[key] = tf.image.crop_and_resize(x[None], box[None], [0], size, method=method)[0]
    out["map"] = tf.math.divide_no_nan(out["map"], tf.reduce_max(out["map"]))
    return out


def _flip(item, do):
    """Horizontal flip of image, map, fixation map and fixation coordinates when ``do`` (a boolean tensor)."""
    out = dict(item)
    for key in ("image", "map", "fixmap", "teacher"):
        if key in item:
            out[key] = tf.cond(do, lambda k=key: tf.reverse(item[k], axis=[1]), lambda k=key: item[k])
    pts = item["fixations"]
    valid = pts[:, :1] >= 0
    flipped = tf.concat([tf.where(valid, 1.0 - pts[:, :1], pts[:, :1]), pts[:, 1:]], axis=1)
    out["fixations"] = tf.cond(do, lambda: flipped, lambda: pts)
    return out

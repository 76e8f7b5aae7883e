"""Full-integer (int8) quantisation in Keras: simulate a TFLite int8 export, and fine-tune a model to survive it.

A full-integer TFLite file stores every activation tensor as int8 with one scale per tensor, taken from the
tensor's min/max on calibration images, and every weight as int8 with one scale per output channel. Some trained
models lose much of their accuracy that way: FastSal-A's decoder doubles its residual stream at each of four levels
(``B(y) = 2y + body(y)``, SPEC §1.4), so one int8 step of the stream is about the size of what the fine levels
add, and its int8 file reached only CC 0.84 against the float model (export/README.md).

* :func:`simulate_int8` runs a Keras model with that quantisation simulated in float ("fake quantisation" at every
  tensor the TFLite file stores, per-channel int8 weights): it predicts the int8 file's maps without converting,
  and with ``points=`` shows which tensors cost the accuracy.
* :func:`int8_finetune` fine-tunes a trained model for a few epochs with its task loss plus a *consistency* term,
  ``1 − CC(float map, simulated int8 map)`` (gradients through the rounding by the straight-through estimator),
  with the activation ranges re-calibrated every epoch on the images ``tfsal export --quantize int8`` calibrates
  on. The result is an ordinary model of the same architecture whose float and int8 outputs agree (quantisation-
  aware training, in the spirit of Jacob et al. 2018, without changing the graph; TF-MOT, the usual tool, does not
  support Keras 3).

Example:
    >>> from tfsal.quantize import simulate_int8
    >>> import numpy as np, tfsal
    >>> model = tfsal.models.create_model("fastsal-a", input_shape=(64, 96, 3))
    >>> images = np.random.default_rng(0).uniform(0, 255, (2, 64, 96, 3)).astype("float32")
    >>> simulate_int8(model, images, calibration=images).shape
    (2, 64, 96, 1)
"""
import dataclasses
import os
import time

import numpy as np

from tfsal import kernels
from tfsal._io import write_json
from tfsal._keras_compat import layer_consumers, run_graph
from tfsal._quiet import keras_verbosity
from tfsal.data import read_examples
from tfsal.data._pipeline import make_dataset
from tfsal.errors import UserError
from tfsal.export import calibration_images, load
from tfsal.losses import LOSSES, cc

__all__ = [
    "ACTIVATION_LEVELS",
    "WEIGHT_LEVEL",
    "MAX_TASK_LOSS_INCREASE",
    "quantization_points",
    "calibrate_ranges",
    "simulate_int8",
    "Int8FinetuneResult",
    "int8_finetune",
]

# TFLite's int8 quantisation spec (ai.google.dev/edge/litert/models/quantization_spec): activations are per-tensor
# asymmetric int8 (256 levels, zero point anywhere, the range always containing 0); weights are per-channel
# symmetric int8 in [-127, 127].
ACTIVATION_LEVELS = 256
WEIGHT_LEVEL = 127

# int8_finetune refuses a result whose float model got worse at its task on the check images by more than this
# factor: a large consistency weight can make "float == int8" cheaper to reach by collapsing the map to a constant
# (seen on an OSIE student whose plain int8 CC was 0.23: weight 100 collapsed it, NSS 2.06 -> 0.00).
MAX_TASK_LOSS_INCREASE = 1.25

# Layers whose output the converter does not re-quantise (pure data movement keeps the input's scale).
_PASS_THROUGH = ("DepthToSpace", "ZeroPadding2D", "Reshape", "Flatten", "Cropping2D")


def quantization_points(model):
    """Names of the layers whose outputs a full-integer TFLite export stores as int8 tensors.

    The converter fuses Conv → BatchNorm → ReLU into one op with one output tensor, so a convolution feeding only a
    BatchNorm or ReLU, and a BatchNorm feeding only a ReLU, are not points; data-movement layers (depth_to_space,
    padding, reshapes) keep their input's quantisation and are not points either.

    Args:
        model: a functional ``keras.Model``.

    Returns:
        A list of layer names in the model's layer order.

    Example:
        >>> import tfsal
        >>> points = quantization_points(tfsal.models.create_model("fastsal-a", input_shape=(64, 96, 3)))
        >>> "fastsal_dec1_add" in points, "fastsal_dec1_expand" in points
        (True, False)
    """
    from keras import layers

    consumers = layer_consumers(model)
    points = []
    for layer in model.layers:
        if isinstance(layer, layers.InputLayer) or type(layer).__name__ in _PASS_THROUGH:
            continue
        after = consumers.get(layer.name, [])
        fused_into = (layers.BatchNormalization, layers.ReLU) if isinstance(layer, layers.Conv2D) else (
            (layers.ReLU,) if isinstance(layer, layers.BatchNormalization) else None)
        if fused_into and len(after) == 1 and isinstance(after[0], fused_into):
            continue
        points.append(layer.name)
    return points


def _fake_quant_weights(kernel, axes):
    """Per-channel symmetric int8 rounding of a kernel (channels on the axes not in ``axes``), straight-through."""
    import tensorflow as tf

    scale = tf.maximum(tf.reduce_max(tf.abs(kernel), axis=axes, keepdims=True) / WEIGHT_LEVEL, 1e-12)
    q = tf.clip_by_value(tf.round(kernel / scale), -WEIGHT_LEVEL, WEIGHT_LEVEL) * scale
    return kernel + tf.stop_gradient(q - kernel)


def _fake_quant(x, lo, hi):
    """Per-tensor asymmetric int8 rounding of ``x`` to the range ``[lo, hi]`` (``lo <= 0 <= hi``), straight-through."""
    import tensorflow as tf

    scale = tf.maximum((hi - lo) / (ACTIVATION_LEVELS - 1), 1e-12)
    zero = tf.round(-lo / scale)
    q = (tf.clip_by_value(tf.round(x / scale) + zero, 0.0, ACTIVATION_LEVELS - 1.0) - zero) * scale
    return x + tf.stop_gradient(q - x)


def _is_sigmoid(layer):
    from keras import activations

    return getattr(layer, "activation", None) is activations.sigmoid


def _fake_quant_sigmoid(x):
    """TFLite's LOGISTIC output: fixed scale 1/256 over [0, 1) (spec), straight-through."""
    import tensorflow as tf

    q = tf.clip_by_value(tf.round(x * 256.0), 0.0, 255.0) / 256.0
    return x + tf.stop_gradient(q - x)


def _quantizer(model, lookup):
    """``quant(name, y)`` for :func:`_operation_fn`: int8 rounding at the points ``lookup(name) -> (lo, hi) | None``.

    Sigmoid outputs use TFLite's fixed LOGISTIC scale instead of their calibrated range.
    """
    sigmoid = {layer.name for layer in model.layers if _is_sigmoid(layer)}

    def quant(name, y):
        rng = lookup(name)
        if rng is None:
            return y
        return _fake_quant_sigmoid(y) if name in sigmoid else _fake_quant(y, *rng)

    return quant


def _operation_fn(on_output, weights):
    """An ``operation_fn`` for :func:`run_graph`: ``on_output(name, y)`` on every layer output, int8 weights."""
    from keras import layers, ops

    def wrap(layer):
        if weights and isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D)):
            depthwise = isinstance(layer, layers.DepthwiseConv2D)

            def conv(x):
                if depthwise:  # kernel (kh, kw, in, multiplier): one channel per (in, multiplier)
                    kernel = _fake_quant_weights(layer.kernel, (0, 1))
                    y = ops.depthwise_conv(x, kernel, layer.strides, layer.padding, layer.data_format,
                                           layer.dilation_rate)
                else:  # kernel (kh, kw, in, out): one channel per output
                    y = layer.convolution_op(x, _fake_quant_weights(layer.kernel, (0, 1, 2)))
                if layer.use_bias:
                    y = y + layer.bias
                return on_output(layer.name, layer.activation(y))

            return conv

        def call(*args, **kwargs):
            return on_output(layer.name, layer(*args, **kwargs))

        return call

    return wrap


def _range_probe(model, points):
    """A ``tf.function`` mapping a batch to the ``(min, max)`` of every point's output (float graph)."""
    import tensorflow as tf

    wanted = set(points)

    @tf.function(reduce_retracing=True, autograph=False)  # plain graph code: no AutoGraph
    def probe(x):
        found = {}

        def record(name, y):
            if name in wanted:
                y32 = tf.cast(y, tf.float32)
                found[name] = (tf.reduce_min(y32), tf.reduce_max(y32))
            return y

        run_graph(model, x, _operation_fn(record, weights=False))
        return [tf.stack(found[name]) for name in points]

    return probe


def calibrate_ranges(model, images, points=None, batch_size=8):
    """Min/max of each quantisation point's output over ``images``, widened to contain 0, as TFLite calibrates.

    Args:
        model: a functional ``keras.Model`` taking raw RGB pixels.
        images: ``(N, H, W, 3)`` float32 raw pixels at the model input size.
        points: layer names (default :func:`quantization_points`).
        batch_size: images per forward pass.

    Returns:
        ``{layer name: (min, max)}``.
    """
    points = list(quantization_points(model) if points is None else points)
    probe = _range_probe(model, points)
    lo = np.zeros(len(points))
    hi = np.zeros(len(points))
    images = np.asarray(images, np.float32)
    for start in range(0, len(images), batch_size):
        r = np.stack([np.asarray(v) for v in probe(images[start:start + batch_size])])
        lo, hi = np.minimum(lo, r[:, 0]), np.maximum(hi, r[:, 1])
    return {name: (float(a), float(b)) for name, a, b in zip(points, lo, hi)}


def simulate_int8(model, images, calibration=None, points=None, weights=True, num_calibration=100, batch_size=8):
    """The maps a full-integer (int8) TFLite export of ``model`` would give, simulated in float in Keras.

    Every quantisation point's output is rounded to 256 levels over its calibrated range, and (``weights=True``)
    every convolution kernel to per-channel int8, as the converter does. On the demo FastSal-A of export/README.md
    it reads CC 0.818 against the float model (30 demo val images) where the real int8 file reads 0.834 (100 OSIE
    images), and 0.991 vs 0.993 after :func:`int8_finetune`; bias rounding and requantisation details are not
    modelled.

    Args:
        model: a functional ``keras.Model`` taking raw RGB pixels in [0, 255].
        images: ``(N, H, W, 3)`` float32 raw pixels at the model input size.
        calibration: ``None`` (the demo train images, as ``tfsal export`` uses), a folder of images, or an array
            of raw-pixel images at the model input size.
        points: quantise only these layers' outputs (default: all :func:`quantization_points`); a subset shows
            which tensors cost accuracy.
        weights: also round the convolution kernels to per-channel int8.
        num_calibration: at most this many calibration images from a folder.
        batch_size: images per forward pass.

    Returns:
        ``(N, H, W, 1)`` float32 maps.
    """
    import tensorflow as tf

    cal, _ = calibration_images(model.input_shape[1:3], calibration, num_calibration)
    all_points = quantization_points(model)
    points = all_points if points is None else list(points)
    unknown = sorted(set(points) - set(all_points))
    if unknown:
        raise UserError(f"not quantisation points of {model.name!r}: {unknown}; expected names from "
                         "tfsal.quantize.quantization_points(model)")
    ranges = calibrate_ranges(model, cal, points, batch_size)

    quant = _quantizer(model, ranges.get)

    @tf.function(reduce_retracing=True, autograph=False)  # plain graph code: no AutoGraph
    def fake(x):
        return run_graph(model, x, _operation_fn(quant, weights))

    images = np.asarray(images, np.float32)
    return np.concatenate([np.asarray(fake(images[i:i + batch_size]), np.float32)
                           for i in range(0, len(images), batch_size)])


@dataclasses.dataclass
class Int8FinetuneResult:
    """What :func:`int8_finetune` did: the model written, per-epoch losses, simulated int8 CC before and after."""

    model_path: str
    history: list
    sim_cc_before: float
    sim_cc_after: float
    seconds: float
    settings: dict
    task_loss_before: float = float("nan")
    task_loss_after: float = float("nan")

    def summary(self):
        return (f"wrote {self.model_path}: simulated int8 CC on {self.settings['check_images']} "
                f"{self.sim_cc_before:.4f} -> {self.sim_cc_after:.4f}, float model's task loss there "
                f"{self.task_loss_before:.3f} -> {self.task_loss_after:.3f}, after {len(self.history)} epoch(s) "
                f"({self.seconds:.0f} s)")


#: The mean CC of two batches of maps, as the export's parity check computes it (:func:`tfsal.kernels.mean_cc`).
_mean_cc = kernels.mean_cc


def _check_finetune_args(out, overwrite, loss, epochs, batch_size, consistency_weight, learning_rate):
    """The argument checks of :func:`int8_finetune`, before anything is loaded; returns ``out`` as a str."""
    out = os.fspath(out)
    if not out.endswith(".keras"):
        raise UserError(f"out must be a .keras file; got {out!r}")
    if os.path.exists(out) and not overwrite:
        raise FileExistsError(f"output {out!r} already exists; pass overwrite=True (--overwrite) to replace it")
    if loss not in LOSSES:
        raise UserError(f"unknown loss {loss!r}; expected one of {sorted(LOSSES)}")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise UserError(f"{name} must be a positive integer; got {value!r}")
    if not consistency_weight >= 0 or not learning_rate > 0:
        raise UserError(f"expected consistency_weight >= 0 and learning_rate > 0; got {consistency_weight!r}, "
                        f"{learning_rate!r}")
    return out


def _check_set(model, data, batch_size):
    """``(images, targets, description)``: at most 50 images of the val split (train when there is none)."""
    split = "val" if read_examples(data, "val") else "train"
    check = read_examples(data, split)[:50]
    map_size = tuple(int(v) for v in model.output_shape[1:3])
    batches = list(make_dataset(check, model.input_shape[1:3], map_size, batch_size))  # one read of the images
    images = np.concatenate([np.asarray(x) for x, _ in batches])
    targets = np.concatenate([np.asarray(t) for _, t in batches])
    return images, targets, f"{len(images)} {split} images"


def _score(model, check_set, cal, loss, batch_size):
    """(simulated int8 CC, task loss) of the current model on the check images."""
    images, targets, _ = check_set
    pred = model.predict(images, batch_size=batch_size, verbose=0)
    sim = simulate_int8(model, images, calibration=cal, batch_size=batch_size)
    return _mean_cc(pred, sim), float(np.mean(np.asarray(LOSSES[loss](targets, pred))))


def _consistency_step(model, points, loss, learning_rate, weight):
    """``(step(x, y) -> (total, task, consistency), ranges)``: one traced training step of task loss plus
    ``weight · (1 − CC(float, simulated int8))``, and the per-point range variables it reads."""
    import keras
    import tensorflow as tf

    ranges = [tf.Variable(tf.zeros(2), trainable=False, name=f"range_{i}") for i in range(len(points))]
    index = {name: i for i, name in enumerate(points)}

    def current_range(name):  # the variables' current values, read inside the traced step
        return (ranges[index[name]][0], ranges[index[name]][1]) if name in index else None

    quant = _quantizer(model, current_range)
    task_fn = LOSSES[loss]
    optimizer = keras.optimizers.Adam(learning_rate)
    variables = model.trainable_variables
    optimizer.build(variables)  # slots now, not inside the first traced step (which would trace it twice)

    @tf.function(reduce_retracing=True, autograph=False)  # plain graph code: no AutoGraph
    def step(x, y):
        with tf.GradientTape() as tape:
            p_float = tf.cast(model(x, training=False), tf.float32)
            p_int8 = tf.cast(run_graph(model, x, _operation_fn(quant, weights=True)), tf.float32)
            task = tf.reduce_mean(task_fn(y, p_float))
            consistency = tf.reduce_mean(1.0 - cc(p_float, p_int8))
            total = task + weight * consistency
        optimizer.apply_gradients(zip(tape.gradient(total, variables), variables))
        return total, task, consistency

    return step, ranges


def _run_epoch(step, it, steps, epoch, epochs, progress):
    """One pass of ``steps`` batches from ``it``: the epoch's mean losses as a history row."""
    import keras

    bar = keras.utils.Progbar(steps, stateful_metrics=["loss", "task", "consistency"],
                              verbose=keras_verbosity() if progress else 0)  # 2: one line, not a bar
    if progress:
        print(f"int8 fine-tuning epoch {epoch + 1}/{epochs}")
    sums = np.zeros(3)
    for s in range(steps):
        x, y = next(it)
        sums += np.array([float(v) for v in step(x, y)])
        bar.update(s + 1, [("loss", sums[0] / (s + 1)), ("task", sums[1] / (s + 1)),
                           ("consistency", sums[2] / (s + 1))])
    return {"epoch": epoch + 1, "loss": sums[0] / steps, "task": sums[1] / steps, "consistency": sums[2] / steps}


def _worse_error(result, loss):
    s = result.settings
    return UserError(
        f"int8 fine-tuning made the model worse at its task: {loss} on {s['check_images']} went from "
        f"{result.task_loss_before:.3f} to {result.task_loss_after:.3f} (more than x{MAX_TASK_LOSS_INCREASE}); "
        f"{result.model_path!r} and its .json were written for inspection. Use a smaller consistency_weight "
        f"(--consistency-weight; now {s['consistency_weight']:g}), e.g. when the simulated int8 CC starts low "
        f"(here {result.sim_cc_before:.3f})"
    )


def int8_finetune(model, out, data="demo", epochs=12, consistency_weight=100.0, learning_rate=1e-4,
                  loss="kld_cc_bce", batch_size=8, calibration=None, num_calibration=100, seed=0, overwrite=False,
                  progress=True):
    """Fine-tune a trained model so that its full-integer (int8) TFLite export matches it.

    Each step minimises ``loss(target, float map) + consistency_weight · (1 − CC(float map, int8 map))`` where the
    int8 map is :func:`simulate_int8`'s (straight-through gradients). BatchNorm runs in inference mode, as the
    converter folds it; the activation ranges are re-calibrated at the start of every epoch on the images the
    export calibrates on. The model keeps its architecture and layer names, so ``tfsal export --quantize int8``
    exports it as usual.

    Args:
        model: a ``.keras`` path or a functional ``keras.Model`` giving a [0, 1] map (e.g. a trained FastSal).
        out: the ``.keras`` file to write (must not exist unless ``overwrite``).
        data: ``"demo"`` or a dataset folder; its train split is used.
        epochs: passes over the train split.
        consistency_weight: weight of the float-vs-int8 consistency term.
        learning_rate: Adam learning rate (constant).
        loss: the task loss, a :data:`tfsal.losses.LOSSES` name.
        batch_size: images per step.
        calibration: ``None`` (demo train, as ``tfsal export``), a folder, or an array of raw-pixel images; use
            the same as for the export.
        num_calibration: at most this many calibration images (as ``tfsal export --num-calibration``).
        seed: shuffling and flip seed.
        overwrite: replace an existing ``out``.
        progress: Keras progress bar per epoch.

    Returns:
        An :class:`Int8FinetuneResult`; ``out + ".json"`` holds the same record.

    Raises:
        ValueError: bad arguments; or, after writing ``out`` for inspection, when the float model's task loss on the
            check images (the val split, at most 50 images) rose more than :data:`MAX_TASK_LOSS_INCREASE` times —
            a too-large ``consistency_weight`` can buy "float == int8" by flattening the map.

    Example:
        >>> r = int8_finetune("runs/fastsal/best.keras", "fastsal_int8ready.keras")  # doctest: +SKIP
        >>> r.sim_cc_before, r.sim_cc_after  # doctest: +SKIP
        (0.86, 0.99)
    """
    out = _check_finetune_args(out, overwrite, loss, epochs, batch_size, consistency_weight, learning_rate)
    model = load(model).model
    points = quantization_points(model)
    cal, cal_desc = calibration_images(model.input_shape[1:3], calibration, num_calibration)
    train_examples = read_examples(data, "train")
    check_set = _check_set(model, data, batch_size)
    t0 = time.time()
    before, task_before = _score(model, check_set, cal, loss, batch_size)
    weight = float(consistency_weight)
    step, ranges = _consistency_step(model, points, loss, learning_rate, weight)
    steps = -(-len(train_examples) // batch_size)
    it = iter(make_dataset(train_examples, image_size=model.input_shape[1:3], batch_size=batch_size, shuffle=True,
                           augment=True, seed=seed, epochs=epochs))
    history = []
    for epoch in range(epochs):
        r = calibrate_ranges(model, cal, points, batch_size)  # re-calibrated on the export's images every epoch
        for i, name in enumerate(points):
            ranges[i].assign(r[name])
        history.append(_run_epoch(step, it, steps, epoch, epochs, progress))
    after, task_after = _score(model, check_set, cal, loss, batch_size)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    model.save(out)
    settings = {"source": getattr(model, "name", None), "data": data, "epochs": epochs,
                "consistency_weight": weight, "learning_rate": learning_rate, "loss": loss, "batch_size": batch_size,
                "calibration": cal_desc, "num_calibration": len(cal), "seed": seed, "check_images": check_set[2]}
    result = Int8FinetuneResult(out, history, before, after, time.time() - t0, settings, task_before, task_after)
    write_json(out + ".json", dataclasses.asdict(result))
    if not task_after <= MAX_TASK_LOSS_INCREASE * task_before:
        raise _worse_error(result, loss)
    return result

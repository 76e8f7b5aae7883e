"""Receptive-field patterns of deep neurons (SPEC §5.2, seed 001: He & Pugeault 2017).

For a pooling layer and one of its channels, a sparse pooled map with a single non-zero value ``c`` at its centre is
sent back towards the image through the layers between the input and that pool, walked by type:

* pooling (``MaxPooling2D`` / ``AveragePooling2D``): upsampling by **repeating** the sparse map (no pooling
  indices exist without an input image);
* ``Conv2D``: "deconvolution", the conv's input-gradient operator — ``tf.nn.conv2d_transpose`` with the same
  kernel (filters transposed in/out), strides and padding; biases are ignored;
* ReLU (a ``ReLU`` layer, ``Activation("relu")`` or a conv's fused ``activation="relu"``): ReLU, applied where the
  forward ReLU sits, i.e. before the transposed conv of a conv with a fused ReLU (Zeiler & Fergus' order);
* ``BatchNormalization`` (inference scale), ``ZeroPadding2D`` (crop), ``Dropout`` and identity activations are
  also handled; input preprocessing (``VGGPreprocess``, ``Rescaling``) is undone so patterns are shown in RGB.

Any other layer on the path raises a ``ValueError`` naming it. The pattern is linear in ``c`` (every step is
positively homogeneous because biases are dropped), so ``c`` only changes what a **fixed** display range shows:
:func:`propagation_series` draws all values of ``c`` on the range of the smallest, where the saturated area widens
with ``c`` — the "water wave" of seed 001 Fig. 4.6.

Example:
    >>> import tfsal
    >>> model = tfsal.models.create_model("vgg19-encdec", input_shape=(64, 64, 3))  # doctest: +SKIP
    >>> patterns = receptive_field_patterns(model, "block2_pool", channels=range(4))  # doctest: +SKIP
    >>> patterns.shape  # doctest: +SKIP
    (4, 64, 64, 3)
"""
import os

import cv2
import numpy as np

from tfsal import checks
from tfsal.errors import UserError
from tfsal.models import create_model
from tfsal.predict import load_model
from tfsal.viz import bar_plot, label_tile, tile_grid, write_png

__all__ = [
    "layer_chain",
    "pooling_layers",
    "receptive_field_size",
    "receptive_field_patterns",
    "receptive_field_pattern",
    "validate_pattern",
    "pattern_to_rgb",
    "pattern_grid",
    "propagation_series",
    "validation_plot",
    "receptive_field_figure",
    "dog_fit",
    "centre_surround_scores",
]

_POOLS = ("MaxPooling2D", "AveragePooling2D")
_IDENTITY = ("Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "ActivityRegularization")


def _get_model(model):
    """A Keras model from a model object, a ``.keras`` path or a registered model name (random weights)."""
    import keras

    if isinstance(model, keras.Model):
        return model
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if path.endswith(".keras") or os.path.sep in path:
            return load_model(path)

        return create_model(path, weights=None)
    raise UserError(f"expected a keras.Model, a .keras path or a registered model name; got {type(model).__name__}")


def _act_name(layer):
    act = getattr(layer, "activation", None)
    if act is None:
        return "linear"
    return getattr(act, "__name__", str(act))


def layer_chain(model, layer_name):
    """The layers from the model's input to ``layer_name``, walked back through the graph (a single path).

    Args:
        model: a functional/sequential ``keras.Model``.
        layer_name: the last layer of the chain (e.g. ``"block3_pool"``).

    Returns:
        list of layers, input side first, ``layer_name`` last (the ``InputLayer`` is left out).

    Raises:
        ValueError: unknown layer name, or a layer on the path with several inputs (not a simple stack).

    Example:
        >>> [l.name for l in layer_chain(model, "block1_pool")]  # doctest: +SKIP
        ['vgg_preprocess', 'block1_conv1', 'block1_conv2', 'block1_pool']
    """
    names = [layer.name for layer in model.layers]
    if layer_name not in names:
        raise UserError(f"model {model.name!r} has no layer {layer_name!r} ({len(names)} layers; its pooling "
                         f"layers are {pooling_layers(model)})")
    chain = []
    layer = model.get_layer(layer_name)
    while layer.__class__.__name__ != "InputLayer":
        chain.append(layer)
        inputs = layer.input
        if isinstance(inputs, (list, tuple)):
            if len(inputs) != 1:
                raise UserError(f"layer {layer.name!r} ({layer.__class__.__name__}) has {len(inputs)} inputs; "
                                 "receptive-field patterns need a plain conv/pool/ReLU stack")
            inputs = inputs[0]
        layer = inputs._keras_history[0]
    return chain[::-1]


def pooling_layers(model):
    """Names of the model's pooling layers (``MaxPooling2D`` / ``AveragePooling2D``) in order.

    Example:
        >>> pooling_layers(model)  # doctest: +SKIP
        ['block1_pool', 'block2_pool', 'block3_pool', 'block4_pool', 'block5_pool']
    """
    return [layer.name for layer in model.layers if layer.__class__.__name__ in _POOLS]


def _split(chain):
    """(preprocessing layers before the first spatial layer, the spatial stack)."""
    for i, layer in enumerate(chain):
        if layer.__class__.__name__ in ("Conv2D",) + _POOLS + ("ZeroPadding2D",):
            return chain[:i], chain[i:]
    raise UserError(f"no Conv2D or pooling layer on the path to {chain[-1].name!r}")


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def receptive_field_size(model, layer_name):
    """Theoretical receptive field (pixels) and total stride of ``layer_name``'s units.

    Returns:
        ``(size, stride)``: tuples ``(h, w)``.

    Example:
        >>> receptive_field_size(model, "block1_pool")  # doctest: +SKIP
        ((6, 6), (2, 2))
    """
    _, stack = _split(layer_chain(model, layer_name))
    rf, jump = np.ones(2, int), np.ones(2, int)
    for layer in stack:
        kind = layer.__class__.__name__
        if kind == "Conv2D":
            k, s, d = _pair(layer.kernel_size), _pair(layer.strides), _pair(layer.dilation_rate)
            rf = rf + (np.array(k) - 1) * np.array(d) * jump
            jump = jump * np.array(s)
        elif kind in _POOLS:
            k, s = _pair(layer.pool_size), _pair(layer.strides or layer.pool_size)
            rf = rf + (np.array(k) - 1) * jump
            jump = jump * np.array(s)
    return tuple(int(v) for v in rf), tuple(int(v) for v in jump)


def _image_size(model, image_size):
    if image_size is not None:
        h, w = (int(v) for v in image_size)
        return h, w
    shape = model.input_shape
    if isinstance(shape, list):
        shape = shape[0]
    if shape[1] is None or shape[2] is None:
        raise UserError(f"model {model.name!r} has a dynamic input shape {shape}; pass image_size=(H, W)")
    return int(shape[1]), int(shape[2])


def _spatial_shapes(stack, h, w, channels_in):
    """Input shape ``(h, w, c)`` of every layer of the stack for an ``(h, w)`` image, and the output shape."""
    shape = (h, w, channels_in)
    shapes = []
    for layer in stack:
        shapes.append(shape)
        if layer.__class__.__name__ in ("Conv2D", "ZeroPadding2D") + _POOLS:
            shape = tuple(int(v) for v in layer.compute_output_shape((1, *shape))[1:])
    return shapes, shape


def _backward(model, layer_name, channels, value, image_size):
    """Patterns in the first spatial layer's input space; returns (patterns (N, H, W, C), pre, stack)."""
    import tensorflow as tf

    chain = layer_chain(model, layer_name)
    pre, stack = _split(chain)
    if chain[-1].__class__.__name__ not in _POOLS:
        raise UserError(f"layer {layer_name!r} is a {chain[-1].__class__.__name__}; expected a pooling layer "
                         f"(one of {pooling_layers(model)})")
    h, w = _image_size(model, image_size)
    first = stack[0]
    c_in = int(first.kernel.shape[2]) if hasattr(first, "kernel") else int(model.input_shape[-1])
    shapes, (ph, pw, pc) = _spatial_shapes(stack, h, w, c_in)
    if ph < 1 or pw < 1:
        raise UserError(f"image size {(h, w)} is too small for {layer_name!r} (pooled map {ph}x{pw})")
    channels = [int(c) for c in channels]
    bad = [c for c in channels if not 0 <= c < pc]
    if bad:
        raise UserError(f"{layer_name!r} has {pc} channels; got channel(s) {bad}")
    if not value > 0:
        raise UserError(f"value c must be positive; got {value!r}")
    x = np.zeros((len(channels), ph, pw, pc), np.float32)
    for i, c in enumerate(channels):
        x[i, ph // 2, pw // 2, c] = value
    x = tf.constant(x)
    for layer, in_shape in zip(stack[::-1], shapes[::-1]):
        kind = layer.__class__.__name__
        n = x.shape[0]
        if kind in _POOLS:
            s = _pair(layer.strides or layer.pool_size)
            x = tf.repeat(tf.repeat(x, s[0], axis=1), s[1], axis=2)
            dh, dw = in_shape[0] - x.shape[1], in_shape[1] - x.shape[2]  # 'valid' pools drop odd borders
            x = tf.pad(x, [[0, 0], [0, max(dh, 0)], [0, max(dw, 0)], [0, 0]])[:, :in_shape[0], :in_shape[1]]
        elif kind == "Conv2D":
            act = _act_name(layer)
            if act == "relu":
                x = tf.nn.relu(x)
            elif act != "linear":
                raise UserError(f"layer {layer.name!r}: fused activation {act!r} is not supported (relu or linear)")
            if layer.groups != 1:
                raise UserError(f"layer {layer.name!r}: grouped convs (groups={layer.groups}) are not supported")
            kernel = tf.convert_to_tensor(layer.kernel, tf.float32)
            x = tf.nn.conv2d_transpose(x, kernel, output_shape=(n, *in_shape), strides=(1, *_pair(layer.strides), 1),
                                       padding=layer.padding.upper(), dilations=(1, *_pair(layer.dilation_rate), 1))
        elif kind == "ReLU" or (kind == "Activation" and _act_name(layer) == "relu"):
            x = tf.nn.relu(x)
        elif kind == "Activation" and _act_name(layer) == "linear" or kind in _IDENTITY:
            pass
        elif kind == "BatchNormalization":
            scale = 1.0 / np.sqrt(np.asarray(layer.moving_variance) + layer.epsilon)
            if layer.scale:
                scale = scale * np.asarray(layer.gamma)
            x = x * tf.constant(scale, tf.float32)
        elif kind == "ZeroPadding2D":
            (t, _), (l, _) = layer.padding
            x = x[:, t:t + in_shape[0], l:l + in_shape[1]]
        else:
            raise UserError(f"layer {layer.name!r} ({kind}) on the path to {layer_name!r} is not supported; "
                             "expected Conv2D, pooling, ReLU, BatchNormalization, ZeroPadding2D or Dropout")
    return x.numpy(), pre, stack


def _undo_preprocessing(patterns, pre):
    """Map patterns from the first conv's input space back to the model's (RGB) input: the adjoint of each step."""
    for layer in pre[::-1]:
        kind = layer.__class__.__name__
        if kind == "VGGPreprocess":
            patterns = patterns / 255.0 if layer.mode == "unit" else patterns[..., ::-1]
        elif kind == "Rescaling":
            patterns = patterns * np.asarray(layer.scale, np.float32)
        elif kind == "Normalization":
            patterns = patterns / np.sqrt(np.maximum(np.asarray(layer.variance, np.float32).reshape(-1), 1e-12))
        elif kind in _IDENTITY or (kind == "Activation" and _act_name(layer) == "linear"):
            pass
        else:
            raise UserError(f"layer {layer.name!r} ({kind}) before the first conv is not supported; expected "
                             "VGGPreprocess, Rescaling, Normalization or Dropout")
    return np.ascontiguousarray(patterns, np.float32)


def receptive_field_patterns(model, layer_name, channels=range(8), value=1.0, image_size=None):
    """Patterns of several channels of a pooling layer in image (RGB input) space.

    Args:
        model: ``keras.Model``, ``.keras`` path or registered model name.
        layer_name: a pooling layer (e.g. ``"block5_pool"``).
        channels: channel indices.
        value: the constant ``c`` of the sparse pooled map (> 0).
        image_size: ``(H, W)`` of the canvas; default the model's input size.

    Returns:
        float32 ``(len(channels), H, W, C_in)``, signed (the last transposed conv has no ReLU after it).

    Example:
        >>> receptive_field_patterns(model, "block1_pool", channels=[0, 1]).shape  # doctest: +SKIP
        (2, 96, 128, 3)
    """
    model = _get_model(model)
    patterns, pre, _ = _backward(model, layer_name, channels, float(value), image_size)
    return _undo_preprocessing(patterns, pre)


def receptive_field_pattern(model, layer_name, channel=0, value=1.0, image_size=None):
    """The pattern of one channel: ``receptive_field_patterns(...)[0]``, float32 ``(H, W, C_in)``.

    Example:
        >>> receptive_field_pattern(model, "block3_pool", 5, value=2.0).shape  # doctest: +SKIP
        (96, 128, 3)
    """
    return receptive_field_patterns(model, layer_name, [channel], value, image_size)[0]


def validate_pattern(model, layer_name, channel=0, value=1.0, image_size=None, reduce="sum"):
    """Feed a channel's pattern forward again and measure the activation of every channel of ``layer_name``.

    The pattern is fed at the first conv's input (after the model's own preprocessing), so the check does not
    depend on the preprocessing's mean offsets.

    Args:
        model, layer_name, channel, value, image_size: as :func:`receptive_field_patterns`.
        reduce: ``"sum"`` (seed 001: the pooled map summed over all positions) or ``"centre"`` (the activation at
            the clamped centre unit only).

    Returns:
        float32 ``(C,)``: activation per channel; the clamped channel should stand out if the pattern is
        selective (not guaranteed: see docs/visualization.md).

    Example:
        >>> int(np.argmax(validate_pattern(model, "block2_pool", 3)))  # doctest: +SKIP
        3
    """
    import tensorflow as tf

    if reduce not in ("sum", "centre"):
        raise UserError(f"reduce must be 'sum' or 'centre'; got {reduce!r}")
    model = _get_model(model)
    patterns, _, stack = _backward(model, layer_name, [channel], float(value), image_size)
    x = tf.constant(patterns)
    for layer in stack:
        x = layer(x, training=False) if layer.__class__.__name__ == "BatchNormalization" else layer(x)
    if reduce == "centre":
        return np.asarray(x[0, x.shape[1] // 2, x.shape[2] // 2], np.float32)
    return np.asarray(tf.reduce_sum(x, axis=(0, 1, 2)), np.float32)


def pattern_to_rgb(pattern, vmax=None):
    """A signed pattern as an RGB ``uint8`` picture: 0 is mid-grey, ``±vmax`` black/white (clipped, no wrap).

    Args:
        pattern: ``(H, W)`` or ``(H, W, 3)`` floats.
        vmax: display range; default the pattern's max ``|value|`` (per-pattern normalisation).

    Returns:
        ``uint8 (H, W, 3)``.

    Example:
        >>> pattern_to_rgb(np.array([[-1.0, 0.0, 1.0]])).tolist()
        [[[0, 0, 0], [128, 128, 128], [255, 255, 255]]]
    """
    p = np.nan_to_num(np.asarray(pattern, np.float64))
    if p.ndim == 2:
        p = np.repeat(p[..., None], 3, axis=-1)
    if p.shape[-1] != 3:
        p = np.repeat(p.mean(axis=-1, keepdims=True), 3, axis=-1)
    vmax = float(np.abs(p).max()) if vmax is None else float(vmax)
    if vmax <= 0:
        return np.full(p.shape, 128, np.uint8)
    return np.round(np.clip(0.5 + 0.5 * p / vmax, 0.0, 1.0) * 255.0).astype(np.uint8)


def _crop(patterns, model, layer_name):
    """Crop (N, H, W, C) patterns to the theoretical receptive field around the centre unit."""
    (rh, rw), (sh, sw) = receptive_field_size(model, layer_name)
    h, w = patterns.shape[1:3]
    # the centre pooled unit (ph//2, pw//2) covers input pixels starting at its index * stride
    ph, pw = h // sh, w // sw
    cy, cx = (ph // 2) * sh + sh // 2, (pw // 2) * sw + sw // 2
    y0, x0 = max(0, cy - rh // 2 - 1), max(0, cx - rw // 2 - 1)
    return patterns[:, y0:min(h, cy + rh // 2 + 1), x0:min(w, cx + rw // 2 + 1)]


def pattern_grid(model, layer_name, channels=16, value=1.0, image_size=None, columns=None, tile=48, crop=True):
    """A grid picture of the patterns of the first ``channels`` channels of a pooling layer.

    Args:
        model: ``keras.Model``, ``.keras`` path or registered name.
        layer_name: pooling layer.
        channels: an int (the first N channels) or a list of indices.
        value: the constant ``c``.
        image_size: canvas ``(H, W)``; default the model's input size.
        columns: tiles per row (default ``ceil(sqrt(N))``).
        tile: tile size in pixels (patterns are resized, nearest-neighbour when enlarged).
        crop: crop each pattern to the theoretical receptive field around the centre first.

    Returns:
        RGB ``uint8`` grid; each tile is normalised to its own max ``|value|`` (0 = mid-grey).

    Example:
        >>> pattern_grid(model, "block2_pool", channels=16).shape  # doctest: +SKIP
        (210, 210, 3)
    """
    model = _get_model(model)
    idx = list(range(channels)) if isinstance(channels, (int, np.integer)) else list(channels)
    patterns = receptive_field_patterns(model, layer_name, idx, value, image_size)
    if crop:
        patterns = _crop(patterns, model, layer_name)
    tiles = [pattern_to_rgb(p) for p in patterns]
    return tile_grid(tiles, columns=columns, tile=tile)


def propagation_series(model, layer_name, channel=0, values=(0.5, 1.0, 1.5, 2.0, 2.5, 3.0), image_size=None,
                       tile=96, crop=True):
    """One channel's pattern for increasing ``c``, all drawn on the display range of the smallest ``c``.

    Returns:
        RGB ``uint8`` strip, one labelled tile per value (saturation widens with ``c``: seed 001 Fig. 4.6).

    Example:
        >>> propagation_series(model, "block4_pool", 0).shape  # doctest: +SKIP
        (100, 600, 3)
    """
    model = _get_model(model)
    values = [float(v) for v in values]
    patterns = np.stack([receptive_field_pattern(model, layer_name, channel, v, image_size) for v in values])
    if crop:
        patterns = _crop(patterns, model, layer_name)
    vmax = float(np.abs(patterns[int(np.argmin(values))]).max())
    tiles = [pattern_to_rgb(p, vmax) for p in patterns]
    return tile_grid(tiles, columns=len(tiles), tile=tile, labels=[f"c={v:g}" for v in values])


def validation_plot(model, layer_name, channel=0, value=1.0, image_size=None, width=640, height=240, reduce="sum"):
    """Bar plot (cv2) of :func:`validate_pattern`: activation of every channel, the clamped one in red.

    Returns:
        RGB ``uint8 (height, width, 3)``.

    Example:
        >>> validation_plot(model, "block3_pool", 7).shape  # doctest: +SKIP
        (240, 640, 3)
    """
    sums = validate_pattern(model, layer_name, channel, value, image_size, reduce=reduce)
    what = "summed activation" if reduce == "sum" else "centre-unit activation"
    title = f"{layer_name} channel {channel}: {what} per channel (argmax {int(np.argmax(sums))})"
    return bar_plot(sums, highlight=channel, width=width, height=height, title=title)


def receptive_field_figure(models, out=None, mode="grid", layers=None, channels=16, channel=0, value=1.0,
                           values=(0.5, 1.0, 1.5, 2.0, 2.5, 3.0), image_size=None, labels=None, tile=None,
                           overwrite=False):
    """The receptive-field pictures of one or more models side by side, optionally written as PNG.

    Args:
        models: a model, ``.keras`` path or registered name, or a list of them (e.g. before and after training).
        out: PNG path to write (``None``: only return the picture).
        mode: ``"grid"`` (first ``channels`` channels of each pooling layer, one row per layer), ``"series"``
            (propagation series of ``channel`` for ``values``, one row per layer) or ``"validation"`` (bar plot of
            the summed activation for ``channel``, one row per layer).
        layers: pooling layer names (default: all of the first model's pooling layers).
        channels: grid mode: number of channels (or a list of indices).
        channel: series / validation mode: the clamped channel.
        value: the constant ``c`` (grid, validation).
        values: series mode: the values of ``c``.
        image_size: canvas ``(H, W)``; default each model's input size.
        labels: a column label per model (default the file names / model names).
        tile: tile size in pixels (default 40 for grids, 72 for series).
        overwrite: replace an existing ``out`` file (by default an existing file is an error).

    Returns:
        RGB ``uint8`` picture.

    Raises:
        ValueError: unknown mode, layer or channel (the message names what was received).

    Example:
        >>> receptive_field_figure(["init.keras", "run/best.keras"], "rf.png", layers=["block5_pool"])  # doctest: +SKIP
    """
    if mode not in ("grid", "series", "validation"):
        raise UserError(f"mode must be 'grid', 'series' or 'validation'; got {mode!r}")
    items = list(models) if isinstance(models, (list, tuple)) else [models]
    if not items:
        raise UserError("receptive_field_figure: no model given")
    if tile is not None:
        checks.positive_int(tile, "tile")
    checks.non_negative_int(channel, "channel")
    checks.number(value, "value", what="a finite number")
    if out is not None:
        checks.new_file(out, "output picture", suffixes=(".png",), overwrite=overwrite)
    if labels is None:
        labels = [os.path.basename(os.fspath(m)) if isinstance(m, (str, os.PathLike)) else m.name for m in items]
    loaded = [_get_model(m) for m in items]
    layers = list(layers) if layers is not None else pooling_layers(loaded[0])
    if not layers:
        raise UserError(f"model {loaded[0].name!r} has no pooling layers; pass layers=[...]")
    rows = []
    for name in layers:
        cells = []
        for model in loaded:
            if mode == "grid":
                pic = pattern_grid(model, name, channels, value, image_size, tile=tile or 40)
            elif mode == "series":
                pic = propagation_series(model, name, channel, values, image_size, tile=tile or 72)
            else:
                pic = validation_plot(model, name, channel, value, image_size)
            cells.append(pic)
        rows.append(cells)
    # pad to common sizes, label each column with the model and each row with the layer
    ch = max(p.shape[0] for r in rows for p in r)
    cw = max(p.shape[1] for r in rows for p in r)
    out_rows = []
    for name, cells in zip(layers, rows):
        padded = []
        for label, pic in zip(labels, cells):
            pic = np.pad(pic, ((0, ch - pic.shape[0]), (0, cw - pic.shape[1]), (0, 0)), constant_values=255)
            pic = np.pad(pic, ((20, 4), (4, 4), (0, 0)), constant_values=255)
            padded.append(label_tile(pic, f"{label} | {name}"))
        out_rows.append(np.concatenate(padded, axis=1))
    picture = np.concatenate(out_rows, axis=0)
    if out is not None:
        write_png(out, picture, overwrite=overwrite)
    return picture


# ------------------------------------------------------------------------------------------------ centre-surround
def _dog(params, yy, xx, surround=True):
    """A difference of Gaussians on the grid: ``a1 · G(σ1) − a2 · G(σ2)`` around ``(y0, x0)``."""
    y0, x0, s1, s2, a1, a2 = params
    r2 = (yy - y0) ** 2 + (xx - x0) ** 2
    out = a1 * np.exp(-r2 / (2.0 * s1 * s1))
    if surround:
        out = out - a2 * np.exp(-r2 / (2.0 * s2 * s2))
    return out


def _corr(a, b):
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else 0.0


def dog_fit(pattern, surround=True):
    """Least-squares fit of a difference of Gaussians to a 2-D pattern (seed 001's "centre-surround" shape).

    The model is ``a1 · exp(-r² / 2σ1²) − a2 · exp(-r² / 2σ2²)`` with ``r`` the distance to a fitted centre
    ``(y0, x0)``: six parameters (centre, two sigmas, two signed amplitudes, so on- and off-centre shapes both fit),
    fitted with :func:`scipy.optimize.least_squares` from two starts (centre at the pattern's peak |value| and at
    the middle; centre width 1/6 of the pattern, surround 3× that). With ``surround=False`` the second Gaussian is left out (a
    single Gaussian blob: the reference a DoG must beat to be called centre-surround).

    Args:
        pattern: a 2-D array (a 3-D ``(H, W, C)`` pattern is summed over its channels first).
        surround: fit the surround Gaussian too.

    Returns:
        A dict: ``corr`` (Pearson correlation of the pattern with the fitted DoG, the "centre-surround-ness"),
        ``params`` (``y0, x0, sigma1, sigma2, a1, a2``) and ``fit`` (the fitted map).

    Example:
        >>> yy, xx = np.mgrid[:32, :32]
        >>> p = _dog((16, 15, 3.0, 8.0, 1.0, 0.4), yy, xx)
        >>> round(dog_fit(p)["corr"], 3)
        1.0
    """
    from scipy.optimize import least_squares

    p = np.asarray(pattern, np.float64)
    if p.ndim == 3:
        p = p.sum(axis=-1)
    if p.ndim != 2 or min(p.shape) < 3 or not np.isfinite(p).all():
        raise UserError(f"dog_fit: expected a finite 2-D pattern of at least 3x3 (or H x W x C); got shape "
                        f"{np.shape(pattern)}")
    scale = float(np.abs(p).max())
    if scale == 0:
        return {"corr": 0.0, "params": np.zeros(6), "fit": np.zeros_like(p)}
    p = p / scale
    h, w = p.shape
    yy, xx = np.mgrid[:h, :w].astype(np.float64)
    size = float(min(h, w))
    peak = np.unravel_index(np.argmax(np.abs(p)), p.shape)
    lo = [-0.5 * h, -0.5 * w, 0.5, 0.5, -np.inf, -np.inf]
    hi = [1.5 * h, 1.5 * w, 2.0 * size, 4.0 * size, np.inf, np.inf]
    best = None
    for cy, cx in {(float(peak[0]), float(peak[1])), ((h - 1) / 2.0, (w - 1) / 2.0)}:
        for s1, k in ((size / 6.0, 3.0),):
            sign = 1.0 if p[int(cy), int(cx)] >= 0 else -1.0
            x0 = np.array([cy, cx, s1, min(k * s1, hi[3] * 0.99), sign, 0.5 * sign if surround else 0.0])

            def residual(q):
                return (_dog(q, yy, xx, surround) - p).ravel()

            res = least_squares(residual, x0, bounds=(lo, hi), max_nfev=400)
            if best is None or res.cost < best.cost:
                best = res
    fit = _dog(best.x, yy, xx, surround)
    params = best.x.copy()
    params[4:] *= scale
    return {"corr": _corr(p, fit), "params": params, "fit": fit * scale}


#: Patterns are shrunk (area averaging) to at most this many pixels a side before the fits, for speed.
CENTRE_SURROUND_SIZE = 48


def _shrink(p, size):
    h, w = p.shape
    f = size / max(h, w)
    if f >= 1:
        return p
    return cv2.resize(p.astype(np.float32), (max(3, round(w * f)), max(3, round(h * f))), interpolation=cv2.INTER_AREA)


def centre_surround_scores(model, layer_name, channels=range(16), image_size=None, value=1.0):
    """Centre-surround-ness of the receptive-field patterns of a pooling layer's channels (seed 001's claim, measured).

    Each channel's pattern (:func:`receptive_field_patterns`, cropped to the theoretical receptive field around the
    centre unit as :func:`pattern_grid` shows it, summed over RGB, area-shrunk to at most
    :data:`CENTRE_SURROUND_SIZE` pixels a side) is fitted with a difference of Gaussians and with
    a single Gaussian (:func:`dog_fit`); the scores are the correlations of the pattern with each fit.

    Args:
        model: ``keras.Model``, ``.keras`` path or registered name.
        layer_name: a pooling layer (e.g. ``"block4_pool"``).
        channels: channel indices (or an int: the first N).
        image_size: canvas ``(H, W)``; default the model's input size.
        value: the constant ``c`` of the sparse pooled map.

    Returns:
        A dict: ``channels``, ``dog`` and ``gauss`` (per-channel correlations, float arrays), and the summary
        ``mean_dog``, ``median_dog``, ``mean_gauss``, ``median_gauss``, ``mean_gain`` (mean of ``dog − gauss``: how
        much the surround adds).

    Example:
        >>> scores = centre_surround_scores("vgg16-encdec", "block4_pool", channels=4, image_size=(128, 128))  # doctest: +SKIP
        >>> 0 <= scores["median_dog"] <= 1  # doctest: +SKIP
        True
    """
    model = _get_model(model)
    idx = list(range(channels)) if isinstance(channels, (int, np.integer)) else [int(c) for c in channels]
    patterns = _crop(receptive_field_patterns(model, layer_name, idx, value, image_size), model, layer_name)
    patterns = [_shrink(p.sum(axis=-1), CENTRE_SURROUND_SIZE) for p in patterns]
    dog = np.array([dog_fit(p)["corr"] for p in patterns])
    gauss = np.array([dog_fit(p, surround=False)["corr"] for p in patterns])
    return {"channels": idx, "dog": dog, "gauss": gauss, "mean_dog": float(dog.mean()),
            "median_dog": float(np.median(dog)), "mean_gauss": float(gauss.mean()),
            "median_gauss": float(np.median(gauss)), "mean_gain": float((dog - gauss).mean())}

"""Pictures of saliency maps and models, arrays in, arrays out: overlays, image | ground truth | prediction grids,
fixation scatter overlays, first-conv filter grids, saliency-sampler resampling pictures and cv2 bar plots
(receptive-field patterns are in :mod:`tfsal.receptive`; the functions that load a model and write a picture file,
``write_overlay`` and ``write_filter_grid``, are in :mod:`tfsal.visualize`). :func:`write_png` writes any of them.

Maps are always min-max normalised in floating point and clipped before conversion to 8 bits, so negative or
out-of-range predictions never wrap around into bright spots (the display bug reported in seed 000).
"""
import cv2
import numpy as np

from tfsal._draw import colorize, label_tile, map_to_uint8, normalize_map, overlay
from tfsal._io import write_png
from tfsal.errors import UserError

__all__ = [
    "normalize_map",
    "map_to_uint8",
    "colorize",
    "overlay",
    "prediction_grid",
    "write_png",
    "label_tile",
    "tile_grid",
    "fixation_overlay",
    "first_conv_layer",
    "conv_filter_grid",
    "resampling_picture",
    "bar_plot",
]


def _letterbox(tile, box, offset):
    """``tile`` placed at ``offset`` on a white canvas of size ``box`` (``(H, W)``)."""
    canvas = np.full((*box, 3), 255, np.uint8)
    y, x = offset
    canvas[y:y + tile.shape[0], x:x + tile.shape[1]] = tile
    return canvas


def prediction_grid(images, ground_truths, predictions, fixations=None, labels=None, max_side=None):
    """One row per image: image | ground truth | prediction | GT overlay | prediction overlay.

    Images of different sizes or orientations (portrait and landscape) share one tile size: the largest height and
    width among them (or less, with ``max_side``); each image is scaled to fit its tile, aspect ratio kept, and
    centred on white (letterboxed). Maps are drawn at their image's scaled size.

    Args:
        images: list of RGB images (uint8 or float [0, 255]), of any sizes.
        ground_truths: list of ground-truth maps.
        predictions: list of predicted maps.
        fixations: optional list of ``(N, 2)`` normalised ``(x, y)`` drawn as dots on the image tile.
        labels: optional per-row text (e.g. the image name and its NSS).
        max_side: shrink the common tile so that its longer side is at most this many pixels (``None``: full size).

    Returns:
        RGB ``uint8`` grid.

    Example:
        >>> land, port = np.zeros((30, 40, 3), np.uint8), np.zeros((40, 30, 3), np.uint8)
        >>> prediction_grid([land, port], [np.ones((30, 40)), np.ones((40, 30))], [np.ones((8, 8))] * 2).shape
        (88, 220, 3)
    """
    images = [np.clip(np.asarray(img, np.float32), 0, 255).astype(np.uint8) for img in images]
    if not images:
        raise UserError("prediction_grid: got no images")
    box_h = max(img.shape[0] for img in images)
    box_w = max(img.shape[1] for img in images)
    if max_side is not None and max(box_h, box_w) > int(max_side):
        shrink = int(max_side) / max(box_h, box_w)
        box_h, box_w = max(1, round(box_h * shrink)), max(1, round(box_w * shrink))
    rows = []
    for i, (img, gt, pred) in enumerate(zip(images, ground_truths, predictions)):
        h0, w0 = img.shape[:2]
        scale = min(box_h / h0, box_w / w0)
        h, w = max(1, round(h0 * scale)), max(1, round(w0 * scale))
        if (h, w) != (h0, w0):
            img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        offset = ((box_h - h) // 2, (box_w - w) // 2)
        shown = img.copy()
        if fixations is not None:
            for x, y in np.asarray(fixations[i]).reshape(-1, 2):
                cv2.circle(shown, (int(x * w), int(y * h)), 2, (255, 0, 0), -1)

        def fit(m):
            m = normalize_map(m)
            return cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR) if m.shape != (h, w) else m

        contents = [
            (shown, labels[i] if labels else "image"),
            (colorize(fit(gt)), "ground truth"),
            (colorize(fit(pred)), "prediction"),
            (overlay(img, fit(gt)), "GT overlay"),
            (overlay(img, fit(pred)), "prediction overlay"),
        ]
        tiles = [label_tile(_letterbox(t, (box_h, box_w), offset), text) for t, text in contents]
        rows.append(np.concatenate([np.pad(t, ((2, 2), (2, 2), (0, 0)), constant_values=255) for t in tiles], 1))
    return np.concatenate(rows, axis=0)


def tile_grid(tiles, columns=None, tile=None, pad=2, labels=None):
    """Arrange RGB tiles in a grid on a white background.

    Args:
        tiles: list of RGB (or grey) ``uint8`` arrays.
        columns: tiles per row (default ``ceil(sqrt(len(tiles)))``).
        tile: resize every tile to ``tile x tile`` pixels (nearest-neighbour when enlarging, area when shrinking);
            ``None`` pads tiles to the largest one instead.
        pad: white border around each tile, in pixels.
        labels: optional text per tile.

    Returns:
        RGB ``uint8`` grid.

    Example:
        >>> tile_grid([np.zeros((3, 3, 3), np.uint8)] * 4, tile=8).shape
        (24, 24, 3)
    """
    if len(tiles) == 0:
        raise UserError("tile_grid: got no tiles")
    prepared = []
    for t in tiles:
        t = np.asarray(t)
        if t.dtype != np.uint8:
            raise UserError(f"tile_grid expects uint8 tiles; got {t.dtype}")
        if t.ndim == 2:
            t = np.repeat(t[..., None], 3, axis=-1)
        if tile is not None and t.shape[:2] != (tile, tile):
            interp = cv2.INTER_NEAREST if max(t.shape[:2]) < tile else cv2.INTER_AREA
            t = cv2.resize(t, (tile, tile), interpolation=interp)
        prepared.append(t)
    if labels is not None:
        prepared = [label_tile(t, lab) for t, lab in zip(prepared, labels)]
    h = max(t.shape[0] for t in prepared)
    w = max(t.shape[1] for t in prepared)
    cols = int(columns or int(np.ceil(np.sqrt(len(prepared)))))
    rows = int(np.ceil(len(prepared) / cols))
    grid = np.full((rows * (h + 2 * pad), cols * (w + 2 * pad), 3), 255, np.uint8)
    for i, t in enumerate(prepared):
        r, c = divmod(i, cols)
        y, x = r * (h + 2 * pad) + pad, c * (w + 2 * pad) + pad
        grid[y:y + t.shape[0], x:x + t.shape[1]] = t
    return grid


def fixation_overlay(image, fixations, saliency_map=None, normalized=True, radius=3, color=(255, 0, 0), alpha=0.5):
    """Fixations drawn as dots over an image, optionally on top of a saliency-map overlay.

    Args:
        image: RGB ``(H, W, 3)``, uint8 or float in [0, 255].
        fixations: ``(N, 2)`` ``(x, y)`` points, in [0, 1] when ``normalized`` else pixels of ``image``; or a
            binary fixation map ``(h, w)`` (its non-zero pixels, rescaled to the image).
        saliency_map: optional map blended first (see :func:`overlay`).
        normalized: whether ``(x, y)`` points are fractions of the width/height.
        radius: dot radius in pixels.
        color: RGB dot colour (drawn with a 1-pixel white ring for contrast).
        alpha: heat-map weight when ``saliency_map`` is given.

    Returns:
        RGB ``uint8 (H, W, 3)``.

    Example:
        >>> fixation_overlay(np.zeros((20, 30, 3), np.uint8), [[0.5, 0.5]]).shape
        (20, 30, 3)
    """
    img = np.clip(np.asarray(image, np.float32), 0, 255).astype(np.uint8)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise UserError(f"fixation_overlay expects an RGB image (H, W, 3); got shape {img.shape}")
    h, w = img.shape[:2]
    shown = overlay(img, saliency_map, alpha=alpha) if saliency_map is not None else img.copy()
    pts = np.asarray(fixations, np.float64)
    if pts.ndim == 2 and pts.shape[1] != 2:  # a fixation map
        ys, xs = np.nonzero(pts)
        pts = np.stack([(xs + 0.5) / pts.shape[1], (ys + 0.5) / pts.shape[0]], axis=1)
        normalized = True
    pts = pts.reshape(-1, 2)
    if normalized:
        pts = pts * np.array([w, h])
    for x, y in pts:
        if np.isfinite(x) and np.isfinite(y):
            centre = (int(round(x)), int(round(y)))
            cv2.circle(shown, centre, radius + 1, (255, 255, 255), -1, cv2.LINE_AA)
            cv2.circle(shown, centre, radius, tuple(int(c) for c in color), -1, cv2.LINE_AA)
    return shown


def _walk_layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:  # nested model / Sequential
            yield from _walk_layers(layer)
        else:
            yield layer


def first_conv_layer(model):
    """The first ``keras.layers.Conv2D`` of a model (by type, in layer order, looking inside nested models).

    Raises:
        ValueError: the model has no Conv2D (the message lists the layer types it has).

    Example:
        >>> first_conv_layer(model).name  # doctest: +SKIP
        'block1_conv1'
    """
    import keras

    found = [layer for layer in _walk_layers(model) if isinstance(layer, keras.layers.Conv2D)
             and not isinstance(layer, keras.layers.Conv2DTranspose)]
    if not found:
        kinds = sorted({type(layer).__name__ for layer in _walk_layers(model)})
        raise UserError(f"model {model.name!r} has no Conv2D layer; its layer types are {kinds}")
    return found[0]


def _upstream(layer):
    """The layers that feed ``layer``, nearest first (walked back through the functional graph)."""
    seen, todo = set(), [layer]
    while todo:
        node = todo.pop(0)
        if type(node).__name__ == "InputLayer":
            continue
        inputs = node.input
        for tensor in inputs if isinstance(inputs, (list, tuple)) else [inputs]:
            history = getattr(tensor, "_keras_history", None)
            source = history[0] if history else None
            if source is not None and id(source) not in seen:
                seen.add(id(source))
                todo.append(source)
                yield source


def _bgr_input(model, conv):
    """Whether the conv's input channels are BGR because a VGGPreprocess (caffe/hed) precedes it."""
    if conv.name not in [layer.name for layer in model.layers]:
        return False
    try:
        feeding = list(_upstream(conv))
    except (ValueError, AttributeError):
        return False
    return any(type(layer).__name__ == "VGGPreprocess" and layer.mode in ("caffe", "hed") for layer in feeding)


def conv_filter_grid(model, layer_name=None, tile=32, columns=None):
    """The filters of a conv layer (default: the first Conv2D found by type) as a grid picture.

    Each filter is min-max normalised on its own. Filters with 3 input channels are drawn in colour (flipped to
    RGB when a caffe/hed :class:`~tfsal.models.vgg_encdec.VGGPreprocess` feeds the layer BGR), others as the grey
    mean over input channels.

    Args:
        model: a ``keras.Model``.
        layer_name: a Conv2D layer name; ``None`` → :func:`first_conv_layer`.
        tile: tile size in pixels (kernels are enlarged nearest-neighbour).
        columns: tiles per row (default ``ceil(sqrt(filters))``).

    Returns:
        RGB ``uint8`` grid.

    Example:
        >>> conv_filter_grid(model).shape  # doctest: +SKIP
        (272, 272, 3)
    """
    import keras

    if layer_name is None:
        conv = first_conv_layer(model)
    else:
        names = [layer.name for layer in _walk_layers(model)]
        if layer_name not in names:
            raise UserError(f"model {model.name!r} has no layer {layer_name!r}; its layers are {names}")
        conv = next(layer for layer in _walk_layers(model) if layer.name == layer_name)
        if not isinstance(conv, keras.layers.Conv2D):
            raise UserError(f"layer {layer_name!r} is a {type(conv).__name__}; expected a Conv2D")
    kernel = np.asarray(conv.kernel, np.float32)  # (kh, kw, in, out)
    if kernel.shape[2] == 3 and _bgr_input(model, conv):
        kernel = kernel[:, :, ::-1]
    tiles = []
    for k in range(kernel.shape[-1]):
        f = kernel[..., k]
        f = f if f.shape[-1] == 3 else f.mean(axis=-1)
        lo, hi = f.min(), f.max()
        f = (f - lo) / (hi - lo) if hi > lo else np.zeros_like(f)
        tiles.append(np.round(np.clip(f, 0, 1) * 255).astype(np.uint8))
    return tile_grid(tiles, columns=columns, tile=tile)


def resampling_picture(image, saliency_map, resampled, labels=("image", "saliency", "resampled"), height=None):
    """Image | saliency overlay | resampled image side by side (e.g. a saliency sampler's zoomed input).

    Args:
        image: the original RGB image (uint8 or float [0, 255]).
        saliency_map: the map that drove the resampling (any range; min-max normalised).
        resampled: the resampled RGB image (any size; floats in [0, 1] are scaled to [0, 255]).
        labels: three panel titles.
        height: panel height in pixels (default the image's).

    Returns:
        RGB ``uint8`` picture.

    Example:
        >>> img = np.zeros((40, 60, 3), np.uint8)
        >>> resampling_picture(img, np.random.rand(10, 15), img[:20, :20]).shape
        (44, 172, 3)
    """
    def rgb(a):
        a = np.asarray(a, np.float32)
        if a.ndim == 4 and a.shape[0] == 1:
            a = a[0]
        if a.ndim == 2:
            a = np.repeat(a[..., None], 3, axis=-1)
        if a.ndim != 3 or a.shape[-1] != 3:
            raise UserError(f"resampling_picture expects RGB images (H, W, 3); got shape {a.shape}")
        if a.max() <= 1.0 + 1e-6 and a.min() >= 0:
            a = a * 255.0
        return np.clip(a, 0, 255).astype(np.uint8)

    img = rgb(image)
    res = rgb(resampled)
    h = int(height or img.shape[0])

    def fit(a):
        return cv2.resize(a, (max(1, int(round(a.shape[1] * h / a.shape[0]))), h), interpolation=cv2.INTER_AREA)

    panels = [fit(img), fit(overlay(img, saliency_map)), fit(res)]
    panels = [label_tile(p, lab) for p, lab in zip(panels, labels)]
    return np.concatenate([np.pad(p, ((2, 2), (2, 2), (0, 0)), constant_values=255) for p in panels], axis=1)


def bar_plot(values, highlight=None, width=640, height=240, title=None, color=(70, 110, 200),
             highlight_color=(220, 40, 40)):
    """A bar plot drawn with OpenCV (no matplotlib): one bar per value, zero line, min/max printed.

    Args:
        values: 1-D numbers (may be negative).
        highlight: index of a bar drawn in ``highlight_color``.
        width, height: picture size in pixels.
        title: optional text at the top.

    Returns:
        RGB ``uint8 (height, width, 3)``.

    Example:
        >>> bar_plot([1, 3, 2], highlight=1).shape
        (240, 640, 3)
    """
    v = np.nan_to_num(np.asarray(values, np.float64).ravel())
    if v.size == 0:
        raise UserError("bar_plot: got no values")
    pic = np.full((height, width, 3), 255, np.uint8)
    top, bottom, left, right = 24, 18, 8, 8
    lo, hi = min(0.0, v.min()), max(0.0, v.max())
    if hi <= lo:
        hi = lo + 1.0
    def y_of(val):
        return int(round(top + (hi - val) / (hi - lo) * (height - top - bottom)))
    zero = y_of(0.0)
    step = (width - left - right) / v.size
    for i, val in enumerate(v):
        x0, x1 = int(left + i * step), int(left + (i + 1) * step) - (1 if step > 3 else 0)
        c = highlight_color if highlight is not None and i == int(highlight) else color
        y = y_of(val)
        cv2.rectangle(pic, (x0, min(y, zero)), (max(x0, x1), max(y, zero)), c, -1)
    cv2.line(pic, (left, zero), (width - right, zero), (0, 0, 0), 1)
    if highlight is not None and 0 <= int(highlight) < v.size:  # marker so a thin highlighted bar stays visible
        xm = int(left + (int(highlight) + 0.5) * step)
        cv2.drawMarker(pic, (xm, max(top, y_of(v[int(highlight)]) - 6)), highlight_color, cv2.MARKER_TRIANGLE_DOWN, 8, 2)
    font = cv2.FONT_HERSHEY_SIMPLEX
    if title:
        cv2.putText(pic, str(title), (left, 15), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(pic, f"n={v.size}  min {v.min():.3g}  max {v.max():.3g}", (left, height - 5), font, 0.35,
                (0, 0, 0), 1, cv2.LINE_AA)
    return pic

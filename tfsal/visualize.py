"""Pictures of a model written as PNG files: a predicted map over an image, a model's first-layer filters.

The workflow layer above :mod:`tfsal.viz` (which only draws arrays): these functions load or build the model,
predict, draw with :mod:`tfsal.viz` and write the file. ``tfsal visualize overlay`` and ``tfsal visualize filters``
call them.

Example:
    >>> from tfsal.visualize import write_overlay, write_filter_grid
    >>> write_overlay("run/best.keras", "photo.jpg", "overlay.png")  # doctest: +SKIP
    >>> write_filter_grid("fastsal", "filters.png")                  # doctest: +SKIP
"""
import os

from tfsal import checks
from tfsal._io import read_image, write_png
from tfsal.predict import load_model, predict_maps
from tfsal.receptive import _get_model
from tfsal.viz import conv_filter_grid, fixation_overlay, overlay

__all__ = ["write_overlay", "write_filter_grid"]


def write_overlay(model, image, out, alpha=0.5, fixations=None, overwrite=False):
    """Predict a map for one image file with a saved model and write the overlay PNG.

    Args:
        model: a ``.keras`` path (or a loaded ``keras.Model``).
        image: image file path.
        out: PNG path to write.
        alpha: heat-map weight in [0, 1].
        fixations: optional ``(N, 2)`` normalised ``(x, y)`` points drawn on top.
        overwrite: replace an existing ``out`` file (by default an existing file is an error, checked before any
            work).

    Returns:
        the RGB ``uint8`` picture written.

    Example:
        >>> write_overlay("run/best.keras", "photo.jpg", "overlay.png")  # doctest: +SKIP
    """
    alpha = checks.fraction(alpha, "alpha")
    if isinstance(model, (str, os.PathLike)):
        checks.existing_file(model, "model file")
    checks.existing_file(image, "image")
    checks.new_file(out, "output picture", suffixes=(".png",), overwrite=overwrite)
    if isinstance(model, (str, os.PathLike)):
        model = load_model(model)
    img = read_image(image)
    (saliency,) = predict_maps(model, [img])
    picture = overlay(img, saliency, alpha=alpha)
    if fixations is not None:
        picture = fixation_overlay(picture, fixations)
    write_png(out, picture, overwrite=overwrite)
    return picture


def write_filter_grid(model, out, layer_name=None, tile=32, overwrite=False):
    """Write the filter grid (:func:`tfsal.viz.conv_filter_grid`) of a ``.keras`` file or registered model as PNG.

    A registered name builds the model with random weights (``weights=None``), at its default input size. An
    existing ``out`` is an error unless ``overwrite``.

    Args:
        model: a ``keras.Model``, a ``.keras`` path or a registered model name.
        out: PNG path to write.
        layer_name: a Conv2D layer name; ``None``: the first Conv2D.
        tile: tile size in pixels.
        overwrite: replace an existing ``out`` file.

    Returns:
        the RGB ``uint8`` picture written.

    Example:
        >>> write_filter_grid("fastsal", "filters.png")  # doctest: +SKIP
    """
    tile = checks.positive_int(tile, "tile")
    net = _get_model(model)
    checks.new_file(out, "output picture", suffixes=(".png",), overwrite=overwrite)
    picture = conv_filter_grid(net, layer_name=layer_name, tile=tile)
    write_png(out, picture, overwrite=overwrite)
    return picture

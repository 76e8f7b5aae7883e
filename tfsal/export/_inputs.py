"""What an export reads: the model (:func:`load`), its calibration and parity images (no path of the checkout).

Example:
    >>> from tfsal.export import calibration_images
    >>> images, description = calibration_images((32, 48), num=4)
    >>> images.shape, description
    ((4, 32, 48, 3), 'demo train split')
"""
import os
from typing import NamedTuple

import numpy as np

from tfsal._io import list_images, read_image
from tfsal.data import read_examples
from tfsal.errors import UserError
from tfsal.models import list_models, load_pretrained, model_info
from tfsal.models._pretrained import DEFAULT_WEIGHTS, shipped_names
from tfsal.runtime import load_model, resize_image

__all__ = ["LoadedModel", "load", "prepare_images", "calibration_images", "default_parity_images", "parity_images"]

#: Default number of calibration images (``tfsal export --num-calibration``).
DEFAULT_NUM_CALIBRATION = 100


class LoadedModel(NamedTuple):
    """What :func:`load` returns."""

    model: object  # the keras.Model
    source: str | None  # the .keras path it came from (None for a model object or a registered name)
    registered_name: str | None  # the registered name it was loaded by (None: unknown here)
    weights: str | None = None  # the shipped weights' name (``tfsal/weights/index.json``) it was loaded with


def portable(path):
    """A path for a sidecar, which travels with the file to another machine: never an absolute local path (the
    folder or file name alone then)."""
    path = os.fspath(path)
    return os.path.basename(os.path.normpath(path)) if os.path.isabs(path) else os.path.normpath(path)


def _shipped(name, quantize):
    """A registered name with shipped weights as that ready model (the int8-ready weights for ``quantize="int8"``
    where they are shipped), named ``MODEL_WEIGHTS``."""
    entry = model_info(name)
    canonical = entry.alias_of or entry.name
    weights = DEFAULT_WEIGHTS + "-int8" if quantize == "int8" else DEFAULT_WEIGHTS
    names = shipped_names(canonical)
    net = load_pretrained(name, weights if weights in names else None)
    net.name = f"{canonical}_{weights}".replace("-", "_")
    loaded = weights if weights in names else DEFAULT_WEIGHTS if DEFAULT_WEIGHTS in names else names[0]
    return LoadedModel(net, None, canonical, loaded)


def load(model, quantize=None):
    """The ``keras.Model`` to export or fine-tune, from a model, a ``.keras`` path or a registered name.

    Args:
        model: a ``keras.Model``, a ``.keras`` path, or a registered name with shipped weights (``"fastsal-a"``,
            :func:`tfsal.models.load_pretrained`).
        quantize: ``"int8"`` loads a registered name's int8-ready weights where they are shipped.

    Returns:
        A :class:`LoadedModel` ``(model, source, registered_name)``.

    Raises:
        ValueError: a path that is not a ``.keras`` file.
        FileNotFoundError: a ``.keras`` path that does not exist.

    Example:
        >>> load("runs/fastsal/best.keras").model.input_shape  # doctest: +SKIP
        (None, 192, 256, 3)
    """
    if hasattr(model, "predict_on_batch"):
        return LoadedModel(model, None, None)
    if isinstance(model, str) and not model.endswith(".keras") and not os.path.exists(model) \
            and model in list_models(include_aliases=True):
        return _shipped(model, quantize)
    path = os.fspath(model)
    if not path.endswith(".keras"):
        raise UserError(f"expected a .keras model file (or a registered model name); got {path!r}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file {path!r} does not exist")
    return LoadedModel(load_model(path), path, None)


def prepare_images(images, size):
    """Resize RGB images to the model input as ``tfsal predict`` does (:func:`tfsal.runtime.resize_image`).

    Args:
        images: RGB ``uint8`` arrays or image paths.
        size: ``(H, W)``.

    Returns:
        A ``float32`` array ``(N, H, W, 3)`` of raw pixels in [0, 255].

    Example:
        >>> import numpy as np
        >>> prepare_images([np.zeros((60, 80, 3), np.uint8)], (32, 48)).shape
        (1, 32, 48, 3)
    """
    return np.stack([resize_image(read_image(img) if isinstance(img, (str, os.PathLike)) else img, size)
                     for img in images]).astype(np.float32)


def _calibration_paths(calibration, num):
    """``(paths, description)``: the demo train split, or a folder's images; at most ``num`` (a fixed sample)."""
    if calibration is None:
        paths, desc = [e.image_path for e in read_examples("demo", "train")], "demo train split"
    else:
        calibration = os.fspath(calibration)
        if not os.path.isdir(calibration):
            raise FileNotFoundError(f"calibration folder {calibration!r} does not exist (expected a folder of images)")
        try:
            paths = list_images(calibration)
        except ValueError:
            raise UserError(f"calibration folder {calibration!r} has no images (need real RGB images)") from None
        desc = portable(calibration)
    if len(paths) > num:
        paths = [paths[i] for i in sorted(np.random.default_rng(0).choice(len(paths), num, replace=False))]
    return paths, desc


def calibration_images(size, calibration=None, num=DEFAULT_NUM_CALIBRATION):
    """The int8 calibration images at the model input size, as ``tfsal export`` and ``int8_finetune`` use them.

    Args:
        size: the model input ``(H, W)``.
        calibration: ``None`` (the built-in demo train split), a folder of images (a fixed random sample of
            ``num``), or an array ``(N, H, W, 3)`` of raw pixels at ``size`` (used as given).
        num: at most this many images from a folder or the demo data.

    Returns:
        ``(float32 array (N, H, W, 3), description)``; the description names no absolute path.

    Raises:
        FileNotFoundError: a missing folder.
        ValueError: a folder without images.

    Example:
        >>> calibration_images((32, 48), num=2)[0].shape
        (2, 32, 48, 3)
    """
    if calibration is not None and not isinstance(calibration, (str, os.PathLike)):
        return np.asarray(calibration, np.float32), "given images"
    paths, desc = _calibration_paths(calibration, num)
    return prepare_images(paths, size), desc


def default_parity_images(num=100):
    """The default real images of the parity check: the built-in demo val split.

    Args:
        num: at most this many images.

    Returns:
        ``(paths, description)``.
    """
    return [e.image_path for e in read_examples("demo", "val")][:num], "demo val split"


def parity_images(images, num):
    """``(paths or arrays, description)`` of the parity check: a folder, a list of paths / RGB arrays, or ``None``
    for :func:`default_parity_images`."""
    if images is None:
        return default_parity_images(num)
    if isinstance(images, (str, os.PathLike)):
        return list_images(images)[:num], portable(images)
    return list(images)[:num], "given images"

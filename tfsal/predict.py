"""Run a saliency model on images of any size and write the maps at each image's own resolution."""
import os

import cv2
import numpy as np

from tfsal._io import list_images, read_image, write_png
from tfsal.viz import map_to_uint8
from tfsal.errors import UserError

__all__ = ["load_model", "predict_maps", "predict"]


def load_model(path):
    """Load a saved tfsal model (``.keras``) with tfsal's custom layers registered.

    Args:
        path: a ``.keras`` file written by ``tfsal train`` or ``model.save``.

    Returns:
        The ``keras.Model`` (not compiled).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a ``.keras`` file, or Keras cannot read it.
    """
    import keras

    import tfsal.layers  # noqa: F401  (registers custom layers)
    import tfsal.losses  # noqa: F401

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file {path!r} does not exist")
    if not path.endswith(".keras"):
        raise UserError(f"expected a .keras model file; got {path!r}")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as err:
        raise UserError(f"cannot load model {path!r}: {type(err).__name__}: {err}") from None


def _input_size(model, image):
    h, w = model.input_shape[1:3]
    if h is None or w is None:  # fully convolutional model: use the image size rounded down to a multiple of 32
        h, w = max(32, image.shape[0] // 32 * 32), max(32, image.shape[1] // 32 * 32)
    return int(h), int(w)


def predict_maps(model, images, batch_size=8):
    """Saliency maps for RGB images of any size, each returned at its image's own size.

    Each image is resized (bilinear, antialiased) to the model's input size, the model's output map is resized back
    to the image size with bilinear interpolation. Values are the model's own (e.g. [0, 1] for a sigmoid output).

    Args:
        model: a ``keras.Model`` taking raw RGB pixels ``(B, H, W, 3)`` in [0, 255].
        images: a list of RGB ``uint8`` arrays.
        batch_size: images per forward pass.

    Returns:
        A list of ``float32`` maps ``(H_i, W_i)``.

    Example:
        >>> import numpy as np, tfsal
        >>> m = tfsal.models.create_model("fastsal-a", input_shape=(64, 96, 3))
        >>> [p.shape for p in predict_maps(m, [np.zeros((600, 800, 3), np.uint8)])]
        [(600, 800)]
    """
    import tensorflow as tf

    out = []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        size = _input_size(model, chunk[0])
        batch = np.stack([
            tf.image.resize(np.asarray(img, np.float32), size, method="bilinear", antialias=True).numpy()
            for img in chunk
        ])
        pred = np.asarray(model.predict_on_batch(np.clip(batch, 0, 255)), np.float32)
        for img, p in zip(chunk, pred):
            out.append(cv2.resize(p[..., 0], (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR))
    return out


def predict(model, inputs, out, save_npy=False, batch_size=8, overwrite=False):
    """Predict saliency maps for an image or a folder of images and write them to ``out``.

    Each ``NAME.ext`` gives ``out/NAME.png``: the map at the image's resolution, min-max normalised to 0-255 (the
    MIT benchmark's submission convention), and with ``save_npy`` ``out/NAME.npy``: the raw float32 map.

    Args:
        model: a ``keras.Model`` or the path of a ``.keras`` file.
        inputs: an image file or a folder of images.
        out: output folder (created when missing).
        save_npy: also write raw ``.npy`` maps.
        batch_size: images per forward pass.
        overwrite: replace existing output files; by default an existing file is an error.

    Returns:
        The list of written file paths.

    Raises:
        FileNotFoundError / ValueError: a missing input, an unreadable image, or an output that already exists.

    Example:
        >>> predict("runs/fastsal/best.keras", "photos/", "maps/")  # doctest: +SKIP
    """
    if not hasattr(model, "predict"):
        model = load_model(model)
    files = list_images(inputs)
    images = [read_image(f) for f in files]  # fail on a bad image before writing anything
    targets = []
    for f in files:
        stem = os.path.splitext(os.path.basename(f))[0]
        targets.append([os.path.join(out, stem + ".png")] + ([os.path.join(out, stem + ".npy")] if save_npy else []))
    stems = [os.path.basename(t[0]) for t in targets]
    if len(set(stems)) != len(stems):
        dup = next(s for s in stems if stems.count(s) > 1)
        raise UserError(f"two input images would both be written as {dup!r} in {out!r}; rename one")
    if not overwrite:
        existing = [p for t in targets for p in t if os.path.exists(p)]
        if existing:
            raise FileExistsError(
                f"{existing[0]!r} already exists ({len(existing)} output file(s) in all); "
                "choose another output folder or pass overwrite=True (--overwrite)"
            )
    os.makedirs(out, exist_ok=True)
    written = []
    for paths, m in zip(targets, predict_maps(model, images, batch_size=batch_size)):
        written.append(write_png(paths[0], map_to_uint8(m)))
        if save_npy:
            np.save(paths[1], m.astype(np.float32))
            written.append(paths[1])
    return written

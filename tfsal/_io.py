"""Image files in and out, with errors that name the file."""
import os

import cv2
import numpy as np

__all__ = ["IMAGE_EXTENSIONS", "read_image", "write_png", "list_images"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def read_image(path):
    """Read an image file as RGB ``uint8`` ``(H, W, 3)``.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not a readable image.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image {path!r} does not exist")
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"cannot read {path!r}: not an image file (expected one of {', '.join(IMAGE_EXTENSIONS)})")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def write_png(path, array):
    """Write an RGB ``(H, W, 3)`` or grey ``(H, W)`` ``uint8`` array as PNG; refuses other dtypes."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"write_png expects uint8 pixels; got {array.dtype}")
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if not cv2.imwrite(os.fspath(path), array):
        raise OSError(f"could not write PNG {path!r}")
    return path


def list_images(path):
    """Image files for a file or folder argument: ``[path]`` for a file, sorted image files of a folder.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: a folder without image files.
    """
    path = os.fspath(path)
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{path!r} does not exist (expected an image file or a folder of images)")
    files = sorted(
        os.path.join(path, f) for f in os.listdir(path)
        if f.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(path, f))
    )
    if not files:
        raise ValueError(f"folder {path!r} has no image files (expected {', '.join(IMAGE_EXTENSIONS)})")
    return files

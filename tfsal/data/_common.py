"""Helpers shared by the dataset readers: argument checks, file listing, image sizes, binary fixation images, and
the skip-bad-items policy (raise on the first bad item, or skip, count and log them — never silently)."""
import logging
import os

import cv2
import numpy as np

from tfsal._io import IMAGE_EXTENSIONS
from tfsal.data._records import Example
from tfsal.errors import UserError

__all__ = []

logger = logging.getLogger("tfsal.data")

SPLITS = (None, "train", "val", "test")


def check_split(split, allowed=SPLITS):
    """Raise ``ValueError`` unless ``split`` is one of ``allowed``."""
    if split not in allowed:
        raise UserError(f"split must be one of {list(allowed)}; got {split!r}")


def check_root(root, layout):
    """Raise ``FileNotFoundError`` when dataset folder ``root`` does not exist; return it as ``str``."""
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{layout} dataset folder {root!r} does not exist")
    return root


def is_image_file(name):
    """True for a file name with an image extension (case-insensitive), ignoring hidden files."""
    return not os.path.basename(name).startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def image_names(folder):
    """Sorted image file names directly in ``folder`` (empty list when it does not exist)."""
    if not os.path.isdir(folder):
        return []
    return sorted(n for n in os.listdir(folder) if is_image_file(n) and os.path.isfile(os.path.join(folder, n)))


def stem_index(folder, extensions=IMAGE_EXTENSIONS):
    """``{stem: path}`` of the files in ``folder`` with one of ``extensions`` (first by name wins)."""
    out = {}
    if os.path.isdir(folder):
        for name in sorted(os.listdir(folder)):
            stem, ext = os.path.splitext(name)
            if ext.lower() in extensions and not name.startswith("."):
                out.setdefault(stem, os.path.join(folder, name))
    return out


def image_size(path):
    """``(width, height)`` of an image file, reading only its header where Pillow is installed.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: the file is not a readable image.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image {path!r} does not exist")
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is optional
        Image = None
    if Image is not None:
        try:
            with Image.open(path) as im:
                return int(im.size[0]), int(im.size[1])
        except Exception:
            pass  # fall through to OpenCV, which reads a few formats Pillow does not
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise UserError(f"cannot read image {path!r}: not a readable image file")
    return int(img.shape[1]), int(img.shape[0])


def check_map_size(map_path, width, height, image_path):
    """Raise ``ValueError`` when the map at ``map_path`` is not ``width × height`` (the size of ``image_path``)."""
    mw, mh = image_size(map_path)
    if (mw, mh) != (width, height):
        raise UserError(
            f"map {map_path!r} is {mw}x{mh} but its image {image_path!r} is {width}x{height}; "
            "expected the same size"
        )


def points_from_binary(mask, path):
    """Fixation coordinates at pixel centres of the nonzero pixels of a binary fixation image or matrix.

    Values above 127 count as fixations for ``uint8`` images (JPEG noise), any nonzero value otherwise.

    Args:
        mask: 2-D array (an image read as grayscale, or a MATLAB matrix).
        path: the file it came from (for error messages).

    Returns:
        ``(N, 2)`` float32 ``(x, y)`` = ``(col + 0.5, row + 0.5)``, row-major order.

    Raises:
        ValueError: the array is not 2-D or holds no fixation.
    """
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask.max(axis=2)
    if mask.ndim != 2:
        raise UserError(f"fixation file {path!r}: expected a 2-D binary image; got shape {mask.shape}")
    on = mask > 127 if mask.dtype == np.uint8 else mask != 0
    rows, cols = np.nonzero(on)
    if rows.size == 0:
        raise UserError(f"fixation file {path!r} is empty: no fixation (no pixel above 127 / nonzero)")
    return np.stack([cols + 0.5, rows + 0.5], axis=1).astype(np.float32)


def read_binary_points(path, width, height):
    """Fixations of a binary fixation image file that must be ``width × height``."""
    mask = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise UserError(f"cannot read fixation image {path!r}: not a readable image file")
    if mask.shape != (height, width):
        raise UserError(
            f"fixation image {path!r} is {mask.shape[1]}x{mask.shape[0]} but its image is {width}x{height}; "
            "expected the same size"
        )
    return points_from_binary(mask, path)


def example_with_map(image_path, map_path, points_path, points_what, read_points):
    """The :class:`~tfsal.data.Example` of an image with a given map and a fixation file read by ``read_points``.

    Args:
        image_path: the image.
        map_path: its continuous map (must exist, same size as the image).
        points_path: its fixation file (must exist).
        points_what: what the fixation file is, for the missing-file message (e.g. ``"fixation file"``).
        read_points: ``callable(points_path, width, height) -> (N, 2)`` fixations in pixels.

    Returns:
        The example.

    Example:
        >>> example_with_map("s/1.jpg", "m/1.jpg", "p/1.mat", "fixation file", read)  # doctest: +SKIP
    """
    for path, what in ((map_path, "fixation map"), (points_path, points_what)):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"image {image_path!r} has no {what}: expected {path!r}")
    width, height = image_size(image_path)
    check_map_size(map_path, width, height, image_path)
    return Example(image_path, width, height, read_points(points_path, width, height), map_path, None)


def check_points(points, width, height, path, tolerance=1.0):
    """Clip fixations that overshoot the image by at most ``tolerance`` pixels; raise for farther ones."""
    pts = np.asarray(points, np.float32).reshape(-1, 2)
    lo, hi = -tolerance, np.array([width, height], np.float32) + tolerance
    bad = (pts < lo).any(axis=1) | (pts > hi).any(axis=1)
    if bad.any():
        x, y = pts[np.argmax(bad)]
        raise UserError(
            f"fixation file {path!r}: fixation ({x:g}, {y:g}) (0-based) lies outside the {width}x{height} image"
        )
    return np.clip(pts, 0, [width, height]).astype(np.float32)


def collect(items, make, skip_bad, where):
    """Build examples with ``make(item)``; raise on the first bad item, or skip, count and log bad items.

    Args:
        items: the items to read (e.g. image paths).
        make: ``item → Example`` (or ``None`` to leave the item out on purpose); raises ``ValueError`` or
            ``FileNotFoundError`` naming the file for a bad item.
        skip_bad: skip bad items instead of raising; they are counted in one ``"tfsal.data"`` warning.
        where: the dataset (for the warning).

    Returns:
        The list of examples.
    """
    out, bad = [], []
    for item in items:
        try:
            example = make(item)
        except (ValueError, FileNotFoundError) as err:
            if not skip_bad:
                raise
            bad.append(str(err))
            continue
        if example is not None:
            out.append(example)
    if bad:
        logger.warning(
            "%s: skipped %d bad item(s) (skip_bad=True); first: %s", where, len(bad), " | ".join(bad[:3])
        )
    return out


def load_mat_variable(mat_path, name, expected):
    """Variable ``name`` of a MATLAB file (scipy, ``squeeze_me``, structs as objects), with errors naming the file.

    Args:
        mat_path: the ``.mat`` file.
        name: the variable to return.
        expected: what the variable should be, for the error message (e.g. "the SALICON struct array").

    Returns:
        The variable as loaded by ``scipy.io.loadmat(..., squeeze_me=True, struct_as_record=False)``.

    Raises:
        ValueError: the file is not a readable MATLAB file, or has no variable ``name``.
    """
    import scipy.io

    try:
        mat = scipy.io.loadmat(mat_path, squeeze_me=True, struct_as_record=False)
    except Exception as err:
        raise UserError(f"cannot read {mat_path!r} as a MATLAB file: {err}") from None
    if name not in mat:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise UserError(f"{mat_path!r} has no variable {name!r} (expected {expected}); found {found}")
    return mat[name]

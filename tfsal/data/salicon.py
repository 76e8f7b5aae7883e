"""Reader for the SALICON 2017 release (LSUN 2017 challenge) in its downloaded layout.

Layout::

    ROOT/images/{train,val,test}/<stem>.jpg     640×480 COCO images
    ROOT/maps/{train,val}/<stem>.png            continuous saliency maps (same size as the image)
    ROOT/fixations/{train,val}/<stem>.mat       MATLAB struct array ``gaze``, one entry per observer, with field
                                                ``fixations``: N×2 rows of (x, y), 1-based pixel coordinates
                                                (other fields such as ``location`` / ``timestamp`` are ignored)

The split is the official one (the folder). The test split has images only (no map, no fixations).
Coordinates become continuous 0-based pixel units (``x - 0.5``); fixations overshooting the image by at most
one pixel are clipped to it, farther ones are an error.
"""
import os

import numpy as np

from tfsal.data._records import Example
from tfsal.data._common import (
    check_map_size,
    check_points,
    check_root,
    check_split,
    collect,
    image_size,
    image_names,
    load_mat_variable,
)
from tfsal.errors import UserError

__all__ = ["read_salicon", "is_salicon_layout", "SALICON_SPLITS"]

SALICON_SPLITS = ("train", "val", "test")


def is_salicon_layout(root):
    """True when ``root`` has ``images/{train|val|test}/`` and ``maps/`` or ``fixations/`` split folders."""
    has_images = any(os.path.isdir(os.path.join(root, "images", s)) for s in SALICON_SPLITS)
    has_labels = any(os.path.isdir(os.path.join(root, d, s)) for d in ("maps", "fixations") for s in ("train", "val"))
    return has_images and has_labels


def read_salicon_fixations(mat_path):
    """Fixations and observer indices of one SALICON ``.mat`` file.

    Args:
        mat_path: a ``fixations/<split>/<stem>.mat`` file.

    Returns:
        ``(points, subjects)``: ``(N, 2)`` float32 1-based ``(x, y)`` as stored, and ``(N,)`` int32 observer index.

    Raises:
        ValueError: unreadable file, no ``gaze`` struct with a ``fixations`` field, malformed rows, or no fixation
            at all.
    """
    observers = np.atleast_1d(load_mat_variable(mat_path, "gaze", "the SALICON struct array")).ravel()
    points, subjects = [], []
    for s, observer in enumerate(observers):
        if not hasattr(observer, "fixations"):
            raise UserError(f"fixation file {mat_path!r}: gaze({s + 1}) has no field 'fixations'")
        fx = np.asarray(observer.fixations, dtype=np.float64)
        if fx.size == 0:
            continue
        if fx.size % 2 or (fx.ndim == 2 and fx.shape[1] != 2):
            raise UserError(
                f"fixation file {mat_path!r}: gaze({s + 1}).fixations must be N×2 (x, y) rows; got shape {fx.shape}"
            )
        fx = fx.reshape(-1, 2)  # a single fixation is squeezed to shape (2,)
        points.append(fx)
        subjects.append(np.full(len(fx), s, np.int32))
    if not points:
        raise UserError(f"fixation file {mat_path!r} is empty: none of its {len(observers)} observer(s) has a "
                         "fixation")
    return np.concatenate(points).astype(np.float32), np.concatenate(subjects)


def read_salicon(root, split=None, skip_bad=False):
    """Read a SALICON 2017 dataset into :class:`~tfsal.data.Example` items.

    Args:
        root: the dataset folder (with ``images/``, ``maps/``, ``fixations/``).
        split: ``"train"``, ``"val"``, ``"test"`` (official splits) or ``None`` for all three.
        skip_bad: skip bad items (counted in one ``"tfsal.data"`` warning) instead of raising.

    Returns:
        A list of examples, sorted by split then file name; train/val examples carry ``map_path``, fixations in
        0-based pixel units and per-fixation ``subjects``; test examples carry only the image.

    Raises:
        FileNotFoundError: the folder, or a train/val image's map or ``.mat`` file, is missing.
        ValueError: unreadable image, map size ≠ image size, malformed or empty fixation file.

    Example:
        >>> val = read_salicon("data/salicon", split="val")  # doctest: +SKIP
        >>> len(val), val[0].map_path                        # doctest: +SKIP
        (5000, 'data/salicon/maps/val/COCO_val2014_000000000133.png')
    """
    check_split(split)
    root = check_root(root, "SALICON")
    items = []
    for s in SALICON_SPLITS if split is None else (split,):
        items.extend((s, name) for name in image_names(os.path.join(root, "images", s)))

    def make(item):
        s, name = item
        stem = os.path.splitext(name)[0]
        image_path = os.path.join(root, "images", s, name)
        width, height = image_size(image_path)
        if s == "test":
            return Example(image_path, width, height)
        map_path = os.path.join(root, "maps", s, stem + ".png")
        mat_path = os.path.join(root, "fixations", s, stem + ".mat")
        for path, what in ((map_path, "map"), (mat_path, "fixation file")):
            if not os.path.isfile(path):
                raise FileNotFoundError(f"image {image_path!r} has no {what}: expected {path!r}")
        check_map_size(map_path, width, height, image_path)
        points, subjects = read_salicon_fixations(mat_path)
        points = check_points(points - 0.5, width, height, mat_path)
        return Example(image_path, width, height, points, map_path, subjects)

    return collect(items, make, skip_bad, root)

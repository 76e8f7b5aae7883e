"""Readers for a generic ``images/`` + ``maps/`` folder and for unlabelled image folders.

Generic layout (files matched by stem, any image extension)::

    ROOT/images/<stem>.jpg          the images
    ROOT/maps/<stem>.png            continuous saliency maps, same size as their image (required for every image)
    ROOT/fixations/<stem>.png       optional: binary fixation image (pixels > 127 are fixations, same size), or
    ROOT/fixations/<stem>.npy       optional: ``(N, 2)`` float array of ``(x, y)`` in the package convention
                                    (continuous 0-based pixel units; integer pixel indices are fine)

Unlabelled layout: any folder holding images directly (sub-folders are read too), e.g. COCO ``train2017/``; the
examples have neither fixations nor a map (use ``output="image"`` in :func:`tfsal.data.make_dataset`).

Neither layout has an official split: :func:`tfsal.data.split_of` assigns each image from its stem.

Bad items (missing partner file, unreadable image, map size ≠ image size, empty fixation file) raise an error that
names the file; with ``skip_bad=True`` they are skipped and counted in one warning of the ``"tfsal.data"`` logger.
"""
import os

import numpy as np

from tfsal._io import IMAGE_EXTENSIONS
from tfsal.data._common import (
    check_map_size,
    check_points,
    check_root,
    check_split,
    collect,
    image_size,
    is_image_file,
    image_names,
    read_binary_points,
    stem_index,
)
from tfsal.data._records import Example, split_of
from tfsal.errors import UserError

__all__ = [
    "read_folder",
    "read_image_folder",
    "is_folder_layout",
    "is_image_folder",
    "IMAGE_EXTENSIONS",
]


# ------------------------------------------------------------------------------------------------ generic folder
def is_folder_layout(root):
    """True when ``root`` has ``images/`` and ``maps/`` and ``images/`` holds image files directly."""
    return os.path.isdir(os.path.join(root, "maps")) and bool(image_names(os.path.join(root, "images")))


def read_folder(root, split=None, skip_bad=False):
    """Read a generic ``images/`` + ``maps/`` (+ ``fixations/``) folder, files matched by stem.

    Args:
        root: the dataset folder.
        split: ``"train"``, ``"val"``, ``"test"`` (by :func:`~tfsal.data.split_of` of the stem) or ``None`` (all).
        skip_bad: skip bad items (counted in a ``"tfsal.data"`` warning) instead of raising.

    Returns:
        A list of :class:`~tfsal.data.Example` sorted by image name, each with ``map_path`` set and, when
        ``fixations/`` exists, fixations in original-image pixel units.

    Raises:
        FileNotFoundError: the folder, or an image's map / fixation file, is missing.
        ValueError: an unreadable image, a map or fixation image whose size differs from its image, an empty or
            malformed fixation file.

    Example:
        >>> examples = read_folder("my_data", split="val")  # doctest: +SKIP
        >>> examples[0].map_path                            # doctest: +SKIP
        'my_data/maps/0001.png'
    """
    check_split(split)
    root = check_root(root, "generic folder")
    image_dir, map_dir, fix_dir = (os.path.join(root, d) for d in ("images", "maps", "fixations"))
    if not os.path.isdir(image_dir) or not os.path.isdir(map_dir):
        raise FileNotFoundError(f"{root!r} is not a generic folder dataset: expected images/ and maps/ folders")
    maps = stem_index(map_dir)
    has_fix = os.path.isdir(fix_dir)
    fixes = stem_index(fix_dir, IMAGE_EXTENSIONS + (".npy",)) if has_fix else {}
    names = [n for n in image_names(image_dir) if split is None or split_of(os.path.splitext(n)[0]) == split]

    def make(name):
        stem = os.path.splitext(name)[0]
        image_path = os.path.join(image_dir, name)
        if stem not in maps:
            raise FileNotFoundError(f"image {image_path!r} has no map: expected {map_dir}/{stem}.<png|jpg|...>")
        width, height = image_size(image_path)
        check_map_size(maps[stem], width, height, image_path)
        points = None
        if has_fix:
            if stem not in fixes:
                raise FileNotFoundError(
                    f"image {image_path!r} has no fixation file: expected {fix_dir}/{stem}.png or {stem}.npy"
                )
            fpath = fixes[stem]
            if fpath.endswith(".npy"):
                try:
                    arr = np.load(fpath, allow_pickle=False)
                except Exception as err:
                    raise UserError(f"cannot read fixation file {fpath!r} as .npy: {err}") from None
                if arr.size == 0:
                    raise UserError(f"fixation file {fpath!r} is empty: expected an (N, 2) array with N >= 1")
                if arr.ndim != 2 or arr.shape[1] != 2:
                    raise UserError(f"fixation file {fpath!r}: expected an (N, 2) array of (x, y); got {arr.shape}")
                points = check_points(arr, width, height, fpath)
            else:
                points = read_binary_points(fpath, width, height)
        return Example(image_path, width, height, points, maps[stem], None)

    return collect(names, make, skip_bad, root)


# ------------------------------------------------------------------------------------------------ unlabelled images
def is_image_folder(root):
    """True when ``root`` holds image files directly (sub-folders alone are not enough, so that a labelled dataset
    missing its label files is reported as an unknown layout rather than read as unlabelled images)."""
    return os.path.isdir(root) and bool(image_names(root))


def read_image_folder(root, split=None, skip_bad=False):
    """Read a folder of unlabelled images (searched recursively) for prediction or pseudo-labelling.

    Args:
        root: the folder.
        split: ``"train"``, ``"val"``, ``"test"`` (by :func:`~tfsal.data.split_of` of the path relative to
            ``root`` without extension) or ``None`` (all images).
        skip_bad: skip unreadable images (counted in a ``"tfsal.data"`` warning) instead of raising.

    Returns:
        A list of :class:`~tfsal.data.Example` with neither fixations nor a map, sorted by relative path.

    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: an unreadable image.

    Example:
        >>> examples = read_image_folder("coco/train2017")                  # doctest: +SKIP
        >>> ds = tfsal.data.make_dataset(examples, output="image")          # doctest: +SKIP
    """
    check_split(split)
    root = check_root(root, "image")
    rels = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rels.extend(os.path.relpath(os.path.join(dirpath, f), root) for f in filenames if is_image_file(f))
    rels.sort()
    if split is not None:
        rels = [r for r in rels if split_of(os.path.splitext(r)[0].replace(os.sep, "/")) == split]

    def make(rel):
        path = os.path.join(root, rel)
        width, height = image_size(path)
        return Example(path, width, height, None, None, None)

    return collect(rels, make, skip_bad, root)

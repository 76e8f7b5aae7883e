"""Reader for CAT2000 (Borji & Itti 2015, the MIT/Tübingen benchmark's training set) in its downloaded layout.

Layout::

    ROOT/Stimuli/<category>/<stem>.jpg          the images (1920×1080), 20 categories
    ROOT/FIXATIONMAPS/<category>/<stem>.jpg     continuous fixation maps (same size as the image)
    ROOT/FIXATIONLOCS/<category>/<stem>.mat     a binary image-sized matrix of fixation locations

Finding the matrix in the ``.mat`` file: the release's files hold it as ``fixLocs``, but the name is not relied on.
The reader takes the variable ``fixLocs`` if present, otherwise the only 2-D numeric or logical variable whose
shape is the image's ``(height, width)``; no such variable, or several candidates, is an error naming the file and
the variables found. Nonzero entries are fixations, taken at pixel centres ``(col + 0.5, row + 0.5)``
(continuous 0-based pixel units); observers are not recorded (``subjects`` is ``None``).

Sub-folders of a category folder (e.g. ``Output/``) and non-image files are ignored. There is no official split:
:func:`tfsal.data.split_of` assigns each image from ``"<category>/<stem>"``.
"""
import os

import numpy as np

from tfsal.data._records import split_of
from tfsal.data._common import check_root, check_split, collect, example_with_map, image_names, points_from_binary
from tfsal.errors import UserError

__all__ = ["read_cat2000", "is_cat2000_layout", "read_fixation_matrix", "CAT2000_FIXATION_VARIABLE"]

STIMULI_DIR, MAPS_DIR, LOCS_DIR = "Stimuli", "FIXATIONMAPS", "FIXATIONLOCS"
CAT2000_FIXATION_VARIABLE = "fixLocs"


def is_cat2000_layout(root):
    """True when ``root`` has ``Stimuli/`` and ``FIXATIONMAPS/`` (or ``FIXATIONLOCS/``)."""
    return os.path.isdir(os.path.join(root, STIMULI_DIR)) and (
        os.path.isdir(os.path.join(root, MAPS_DIR)) or os.path.isdir(os.path.join(root, LOCS_DIR))
    )


def read_fixation_matrix(mat_path, width, height):
    """The fixation locations of a CAT2000 ``.mat`` file as ``(N, 2)`` pixel-centre coordinates.

    Args:
        mat_path: a ``FIXATIONLOCS/<category>/<stem>.mat`` file.
        width, height: the image's size; the matrix must be ``height × width``.

    Returns:
        ``(N, 2)`` float32 ``(x, y)`` in continuous 0-based pixel units.

    Raises:
        ValueError: unreadable file, no unique image-sized matrix, wrong size, or no fixation.
    """
    import scipy.io

    try:
        mat = scipy.io.loadmat(mat_path)
    except Exception as err:
        raise UserError(f"cannot read fixation file {mat_path!r} as a MATLAB file: {err}") from None
    variables = {k: v for k, v in mat.items() if not k.startswith("__")}
    described = {k: getattr(v, "shape", type(v).__name__) for k, v in variables.items()}
    if CAT2000_FIXATION_VARIABLE in variables:
        name = CAT2000_FIXATION_VARIABLE
    else:
        candidates = [
            k for k, v in variables.items()
            if isinstance(v, np.ndarray) and v.ndim == 2 and v.shape == (height, width)
            and (v.dtype == bool or np.issubdtype(v.dtype, np.number))
        ]
        if len(candidates) != 1:
            raise UserError(
                f"fixation file {mat_path!r}: expected a variable {CAT2000_FIXATION_VARIABLE!r} or exactly one "
                f"numeric matrix of the image's shape ({height}, {width}); found {described}"
            )
        name = candidates[0]
    matrix = np.asarray(variables[name])
    if matrix.shape != (height, width):
        raise UserError(
            f"fixation file {mat_path!r}: matrix {name!r} has shape {matrix.shape} but the image is "
            f"{width}x{height}; expected ({height}, {width})"
        )
    return points_from_binary(matrix.astype(np.float32), mat_path)


def read_cat2000(root, split=None, skip_bad=False):
    """Read CAT2000 into :class:`~tfsal.data.Example` items.

    Args:
        root: the dataset folder (with ``Stimuli/``, ``FIXATIONMAPS/``, ``FIXATIONLOCS/``).
        split: ``"train"``, ``"val"``, ``"test"`` (:func:`~tfsal.data.split_of` of ``"category/stem"``) or
            ``None`` for all images.
        skip_bad: skip bad items (counted in one ``"tfsal.data"`` warning) instead of raising.

    Returns:
        A list of examples sorted by category then file name, with ``map_path`` and fixations.

    Raises:
        FileNotFoundError: the folder, or an image's map or ``.mat`` file, is missing.
        ValueError: unreadable image, map or matrix size ≠ image size, a matrix without fixations.

    Example:
        >>> examples = read_cat2000("data/CAT2000/trainSet", split="train")  # doctest: +SKIP
        >>> examples[0].image_path                                          # doctest: +SKIP
        'data/CAT2000/trainSet/Stimuli/Action/001.jpg'
    """
    check_split(split)
    root = check_root(root, "CAT2000")
    stim_dir = os.path.join(root, STIMULI_DIR)
    if not os.path.isdir(stim_dir):
        raise FileNotFoundError(f"{root!r} is not a CAT2000 dataset: expected {STIMULI_DIR}/<category>/ folders")
    items = []
    for category in sorted(os.listdir(stim_dir)):
        if category.startswith(".") or not os.path.isdir(os.path.join(stim_dir, category)):
            continue
        for name in image_names(os.path.join(stim_dir, category)):
            if split is None or split_of(f"{category}/{os.path.splitext(name)[0]}") == split:
                items.append((category, name))

    def make(item):
        category, name = item
        stem = os.path.splitext(name)[0]
        image_path = os.path.join(stim_dir, category, name)
        map_path = os.path.join(root, MAPS_DIR, category, stem + ".jpg")
        mat_path = os.path.join(root, LOCS_DIR, category, stem + ".mat")
        return example_with_map(image_path, map_path, mat_path, "fixation file", read_fixation_matrix)

    return collect(items, make, skip_bad, root)

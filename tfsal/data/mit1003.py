"""Reader for MIT1003 (Judd et al. 2009) in its downloaded layout.

Layout::

    ROOT/ALLSTIMULI/<stem>.jpeg                 the 1003 images (varying sizes, longer side 1024)
    ROOT/ALLFIXATIONMAPS/<stem>_fixMap.jpg      continuous fixation map (same size as the image)
    ROOT/ALLFIXATIONMAPS/<stem>_fixPts.jpg      binary fixation points (same size as the image)

The fixations are the pixels of ``_fixPts.jpg`` above 127 (the file is a JPEG, so "binary" pixels carry
compression noise), taken at pixel centres ``(col + 0.5, row + 0.5)`` in continuous 0-based pixel units.
Observers are not recorded in these files (``subjects`` is ``None``), and fixations of several observers on the
same pixel count once. There is no official split: :func:`tfsal.data.split_of` assigns images by stem.
"""
import os

from tfsal.data._records import split_of
from tfsal.data._common import check_root, check_split, collect, example_with_map, image_names, read_binary_points

__all__ = ["read_mit1003", "is_mit1003_layout"]

STIMULI_DIR = "ALLSTIMULI"
MAPS_DIR = "ALLFIXATIONMAPS"


def is_mit1003_layout(root):
    """True when ``root`` has ``ALLSTIMULI/`` and ``ALLFIXATIONMAPS/``."""
    return os.path.isdir(os.path.join(root, STIMULI_DIR)) and os.path.isdir(os.path.join(root, MAPS_DIR))


def read_mit1003(root, split=None, skip_bad=False):
    """Read MIT1003 into :class:`~tfsal.data.Example` items.

    Args:
        root: the dataset folder (with ``ALLSTIMULI/`` and ``ALLFIXATIONMAPS/``).
        split: ``"train"``, ``"val"``, ``"test"`` (see :func:`~tfsal.data.split_of`) or ``None`` for all images.
        skip_bad: skip bad items (counted in one ``"tfsal.data"`` warning) instead of raising.

    Returns:
        A list of examples sorted by file name, with ``map_path`` (the ``_fixMap.jpg``) and fixations from the
        ``_fixPts.jpg`` in 0-based pixel units.

    Raises:
        FileNotFoundError: the folder, or an image's ``_fixMap.jpg`` / ``_fixPts.jpg``, is missing.
        ValueError: unreadable image, map or points image size ≠ image size, a points image without fixations.

    Example:
        >>> examples = read_mit1003("data/MIT1003", split="val")  # doctest: +SKIP
        >>> examples[0].map_path.endswith("_fixMap.jpg")          # doctest: +SKIP
        True
    """
    check_split(split)
    root = check_root(root, "MIT1003")
    stim_dir, map_dir = os.path.join(root, STIMULI_DIR), os.path.join(root, MAPS_DIR)
    if not os.path.isdir(stim_dir) or not os.path.isdir(map_dir):
        raise FileNotFoundError(f"{root!r} is not a MIT1003 dataset: expected {STIMULI_DIR}/ and {MAPS_DIR}/")
    names = [n for n in image_names(stim_dir) if split is None or split_of(os.path.splitext(n)[0]) == split]

    def make(name):
        stem = os.path.splitext(name)[0]
        image_path = os.path.join(stim_dir, name)
        map_path = os.path.join(map_dir, stem + "_fixMap.jpg")
        pts_path = os.path.join(map_dir, stem + "_fixPts.jpg")
        return example_with_map(image_path, map_path, pts_path, "fixation points image", read_binary_points)

    return collect(names, make, skip_bad, root)

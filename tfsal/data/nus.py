"""Reader for the NUS raw-fixation layout (OSIE and the other NUS eye-tracking datasets).

Layout (as downloaded)::

    ROOT/stimuli/*.jpg          the images
    ROOT/eye/fixations.mat      struct array / cell ``fixations``; entry i has ``img`` (file name) and ``subjects``,
                                each subject with ``fix_x``, ``fix_y`` (1-based pixel coordinates) and
                                ``fix_duration`` (ms)

There is no official split: :func:`tfsal.data.split_of` assigns each image to train/val/test from its file name.
"""
import os

import numpy as np

from tfsal.data._common import check_root, check_split, collect, image_size, load_mat_variable
from tfsal.data._records import Example, split_of
from tfsal.errors import UserError

__all__ = ["read_nus", "is_nus_layout", "NUS_STIMULI_DIR", "NUS_FIXATIONS_FILE"]

NUS_STIMULI_DIR = "stimuli"
NUS_FIXATIONS_FILE = os.path.join("eye", "fixations.mat")


def is_nus_layout(root):
    """True when ``root`` has ``stimuli/`` and ``eye/fixations.mat``."""
    return os.path.isdir(os.path.join(root, NUS_STIMULI_DIR)) and os.path.isfile(
        os.path.join(root, NUS_FIXATIONS_FILE)
    )


def _subject_points(subject, where):
    xs = np.atleast_1d(np.asarray(getattr(subject, "fix_x", []), np.float64)).ravel()
    ys = np.atleast_1d(np.asarray(getattr(subject, "fix_y", []), np.float64)).ravel()
    if xs.shape != ys.shape:
        raise UserError(f"{where}: fix_x has {xs.size} values but fix_y has {ys.size}")
    return np.stack([xs, ys], axis=1) if xs.size else np.zeros((0, 2))


def read_nus(root, split=None, skip_bad=False):
    """Read a NUS-layout dataset into :class:`~tfsal.data.Example` items.

    Args:
        root: the dataset folder (with ``stimuli/`` and ``eye/fixations.mat``).
        split: ``"train"``, ``"val"``, ``"test"`` (see :func:`~tfsal.data.split_of`) or ``None`` for all images.
        skip_bad: skip bad entries (missing or unreadable image, fixation outside the image, no fixation at all)
            and count them in one ``"tfsal.data"`` warning instead of raising.

    Returns:
        A list of examples sorted by file name, fixations converted to continuous 0-based pixel units.

    Raises:
        FileNotFoundError: the folder, the ``.mat`` file or a listed image is missing.
        ValueError: the ``.mat`` file does not have the NUS structure, an image is unreadable, or a fixation lies
            outside its image.

    Example:
        >>> examples = read_nus("../shared/data/osie")  # doctest: +SKIP
        >>> len(examples)                                # doctest: +SKIP
        700
    """
    check_split(split)
    root = check_root(root, "NUS")
    mat_path = os.path.join(root, NUS_FIXATIONS_FILE)
    if not os.path.isfile(mat_path):
        raise FileNotFoundError(f"{root!r} is not a NUS-layout dataset: missing {mat_path!r}")
    fixations = load_mat_variable(mat_path, "fixations", "the NUS struct array of per-image fixations")
    entries = list(enumerate(np.atleast_1d(fixations).ravel()))
    for i, entry in entries:
        if not hasattr(entry, "img") or not hasattr(entry, "subjects"):
            raise UserError(f"{mat_path}: fixations[{i}] must have fields 'img' and 'subjects'")
    if split is not None:
        entries = [(i, e) for i, e in entries if split_of(os.path.splitext(str(e.img))[0]) == split]

    def make(item):
        i, entry = item
        where = f"{mat_path}: fixations[{i}]"
        name = str(entry.img)
        image_path = os.path.join(root, NUS_STIMULI_DIR, name)
        if not os.path.isfile(image_path):
            raise FileNotFoundError(f"{where} names image {name!r}, but {image_path!r} does not exist")
        width, height = image_size(image_path)
        points, subjects = [], []
        for s, subject in enumerate(np.atleast_1d(entry.subjects).ravel()):
            p = _subject_points(subject, f"{where}.subjects[{s}]")
            points.append(p)
            subjects.append(np.full(len(p), s, np.int32))
        pts = np.concatenate(points, axis=0) - 0.5  # 1-based pixel centres → continuous 0-based units
        if not len(pts):
            raise UserError(f"{where} ({name!r}) has no fixation from any subject")
        bad = (pts[:, 0] < 0) | (pts[:, 0] > width) | (pts[:, 1] < 0) | (pts[:, 1] > height)
        if bad.any():
            x, y = pts[np.argmax(bad)] + 0.5
            raise UserError(
                f"{where}: fixation ({x:g}, {y:g}) lies outside image {name!r} of size {width}x{height}"
            )
        return Example(image_path, width, height, pts.astype(np.float32), None, np.concatenate(subjects))

    examples = collect(entries, make, skip_bad, root)
    examples.sort(key=lambda e: os.path.basename(e.image_path))
    return examples

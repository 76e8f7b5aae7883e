"""The in-memory description of one dataset item, shared by every reader, and the seeded split rule."""
import dataclasses
import hashlib

import numpy as np

__all__ = ["Example", "split_of", "SPLIT_FRACTIONS"]


@dataclasses.dataclass(frozen=True)
class Example:
    """One stimulus with what is known about where people looked at it.

    Attributes:
        image_path: the image file.
        width, height: the image's size in pixels (fixation coordinates refer to it).
        fixations: ``(N, 2)`` float array of ``(x, y)`` in continuous pixel units ``[0, W] × [0, H]`` (a 1-based
            MATLAB coordinate ``x`` is stored as ``x - 0.5``), or ``None`` when the source has none.
        map_path: a continuous saliency-map image given by the dataset, or ``None`` (then it is built from the
            fixations by :func:`tfsal.data.saliency_map_from_fixations`).
        subjects: per-fixation observer index (``(N,)`` int array) where the source has it, else ``None``.
    """

    image_path: str
    width: int
    height: int
    fixations: np.ndarray | None = None
    map_path: str | None = None
    subjects: np.ndarray | None = None

    @property
    def stem(self):
        import os

        return os.path.splitext(os.path.basename(self.image_path))[0]

    def normalized_fixations(self):
        """Fixations divided by ``(width, height)``: ``(N, 2)`` in [0, 1] (empty array when none)."""
        if self.fixations is None:
            return np.zeros((0, 2), np.float32)
        return (np.asarray(self.fixations, np.float64) / [self.width, self.height]).astype(np.float32)


# Datasets without an official split are split by image, deterministically, from the md5 of the file stem:
# bucket = int(md5(stem)) mod 100; buckets 0-69 train, 70-84 val, 85-99 test. Adding or removing images never moves
# another image to a different split, and the rule does not depend on NumPy's random generators.
SPLIT_FRACTIONS = {"train": (0, 70), "val": (70, 85), "test": (85, 100)}


def split_of(stem):
    """The split (``"train"``, ``"val"`` or ``"test"``) of an image without an official split.

    Args:
        stem: the image file name without extension, e.g. ``"1001"``.

    Returns:
        The split name.

    Example:
        >>> split_of("1001") in ("train", "val", "test")
        True
    """
    bucket = int(hashlib.md5(str(stem).encode("utf-8")).hexdigest(), 16) % 100
    for name, (lo, hi) in SPLIT_FRACTIONS.items():
        if lo <= bucket < hi:
            return name
    raise AssertionError(bucket)

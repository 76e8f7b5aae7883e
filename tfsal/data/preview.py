"""A picture of a dataset: a few images with their fixations (red dots) next to their map (overlay).

``tfsal show-fixations`` calls :func:`fixation_preview`. It draws with the ground-floor primitives of
:mod:`tfsal._draw` (what :mod:`tfsal.viz` re-exports), so the data layer never imports ``viz``.

Example:
    >>> import tfsal
    >>> tfsal.data.fixation_preview("demo", split="val", num=2).ndim
    3
"""
import cv2
import numpy as np

from tfsal import checks
from tfsal._draw import label_tile, overlay
from tfsal._io import write_png
from tfsal.data._load import read_examples
from tfsal.data._maps import saliency_map_from_fixations
from tfsal.errors import UserError

__all__ = ["fixation_preview"]


def fixation_preview(name_or_path, split="val", num=6, out=None, layout=None, seed=0, max_side=320,
                     overwrite=False):
    """A picture of a few images of a dataset with their fixations (red dots) and map (overlay) side by side.

    Args:
        name_or_path: ``"demo"`` or a dataset folder (layout detected).
        split: which split to draw from (``None`` for all images).
        num: how many images (the first ``num`` after a seeded shuffle).
        out: write the picture to this PNG file when given.
        layout: force a layout instead of detecting it.
        seed: seed of the choice of images.
        max_side: each tile's longer side in pixels.
        overwrite: replace an existing ``out`` file (by default an existing file is an error).

    Returns:
        The RGB ``uint8`` picture: one row per image (image with fixations | map overlay).

    Example:
        >>> import tfsal
        >>> grid = tfsal.data.fixation_preview("demo", split="val", num=2)
        >>> grid.ndim
        3
    """
    num = checks.positive_int(num, "num")
    checks.seed(seed)
    examples = read_examples(name_or_path, split, layout=layout)
    if out:
        checks.new_file(out, "output picture", suffixes=(".png",), overwrite=overwrite)
    order = np.random.default_rng(seed).permutation(len(examples))[: int(num)]
    rows = []
    for i in sorted(order):
        e = examples[i]
        img = cv2.imread(e.image_path, cv2.IMREAD_COLOR)
        if img is None:
            raise UserError(f"cannot read image {e.image_path!r}: not a readable image file")
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        scale = max_side / max(e.width, e.height)
        w, h = max(1, round(e.width * scale)), max(1, round(e.height * scale))
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
        dots = img.copy()
        pts = e.normalized_fixations()
        for x, y in pts:
            cv2.circle(dots, (int(x * w), int(y * h)), 3, (255, 0, 0), -1, cv2.LINE_AA)
        if e.map_path:
            m = cv2.imread(e.map_path, cv2.IMREAD_GRAYSCALE)
            m = cv2.resize(m.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) if m is not None else None
            what = "given map"
        elif len(pts):
            m, what = saliency_map_from_fixations(pts, (h, w)), "map from fixations"
        else:
            m, what = None, "no map"
        right = overlay(img, m) if m is not None else np.full_like(img, 255)
        label = f"{e.stem}  {e.width}x{e.height}  {len(pts)} fix"
        tiles = [label_tile(dots, label), label_tile(right, what)]
        row = np.concatenate([np.pad(t, ((2, 2), (2, 2), (0, 0)), constant_values=255) for t in tiles], 1)
        rows.append(row)
    width = max(r.shape[1] for r in rows)
    grid = np.concatenate(
        [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows], 0
    )
    if out:
        write_png(out, grid, overwrite=overwrite)
    return grid

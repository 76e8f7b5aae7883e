"""Tiny helpers shared by the experiment scripts: write a section of docs/experiments.md, save image grids."""
import os

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "experiments.md")
OUT = os.path.join(ROOT, "experiments", "out")
HEADER = (
    "# Experiments\n\n"
    "Small CPU experiments that check claims of the seed papers with tfsal's implementations. Each section is "
    "written by its script (between the markers); re-run the command to regenerate it. PNGs go to "
    "`experiments/out/` (not tracked); a few small ones are copied to `docs/img/`.\n"
)


def write_section(key, text, doc_path=DOC):
    """Replace (or append) the block between ``<!-- BEGIN key -->`` and ``<!-- END key -->`` in ``doc_path``."""
    begin, end = f"<!-- BEGIN {key} -->", f"<!-- END {key} -->"
    doc = open(doc_path).read() if os.path.exists(doc_path) else HEADER
    block = f"{begin}\n{text.rstrip()}\n{end}"
    if begin in doc and end in doc:
        doc = doc[: doc.index(begin)] + block + doc[doc.index(end) + len(end) :]
    else:
        doc = doc.rstrip() + "\n\n" + block + "\n"
    with open(doc_path, "w") as f:
        f.write(doc)


def save_grid(path, rows, scale=1, pad=2):
    """Save a grid of images (list of rows of HxW or HxWx3 arrays in [0, 1], equal sizes per row) as a PNG."""
    tiles = []
    width = None
    for row in rows:
        row = [np.repeat(t[..., None], 3, -1) if t.ndim == 2 else t for t in row]
        h = max(t.shape[0] for t in row)
        row = [cv2.resize(t.astype("float32"), (t.shape[1] * h // t.shape[0], h), interpolation=cv2.INTER_NEAREST)
               for t in row]
        line = np.concatenate([np.pad(t, ((pad, pad), (pad, pad), (0, 0)), constant_values=1.0) for t in row], 1)
        width = max(width or 0, line.shape[1])
        tiles.append(line)
    tiles = [np.pad(t, ((0, 0), (0, width - t.shape[1]), (0, 0)), constant_values=1.0) for t in tiles]
    img = np.concatenate(tiles, 0)
    if scale != 1:
        interp = cv2.INTER_NEAREST if scale > 1 else cv2.INTER_AREA
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=interp)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    cv2.imwrite(path, (np.clip(img, 0, 1)[..., ::-1] * 255).astype(np.uint8))
    return path

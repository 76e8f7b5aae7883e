"""README picture of saliency-aware cropping: a few photos with their 1:1 and 16:9 crops, saliency vs centre.

One row per photo: the photo with the human fixations (red) and the boxes (solid: saliency crop, thin: centre
crop), then the saliency and the centre crop for 1:1 and for 16:9, each labelled with the share of the fixations it
keeps. The photos are the first ``--num`` of the split (no cherry-picking) unless ``--stems`` names them.

Command (writes the PNG where you say; the PNG is not committed)::

    python experiments/crop_figure.py OUT.png [--model pretrained|FILE.keras|FILE.tflite|spectral-residual]
        [--data ../shared/data/osie] [--split test] [--num 4] [--stems 1021,1034] [--area 0.5] [--height 200]
"""
import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from tfsal._io import read_image, write_png  # noqa: E402
from tfsal.crop import crop_boxes, fixation_share  # noqa: E402
from tfsal.data import read_examples  # noqa: E402
from tfsal.evaluate import as_saved_map  # noqa: E402
from tfsal.viz import fixation_overlay, label_tile  # noqa: E402

ASPECTS = ("1:1", "16:9")
COLOURS = {"1:1": (230, 159, 0), "16:9": (86, 180, 233)}  # as in tfsal crop's overlays


def _saliency(model):
    if model == "spectral-residual":
        from tfsal.baselines import spectral_residual

        return spectral_residual, "spectral residual (no model)"
    from tfsal.cropping import saliency_function

    return saliency_function(model)


def _fit(tile, height):
    h, w = tile.shape[:2]
    return cv2.resize(tile, (max(1, round(w * height / h)), height), interpolation=cv2.INTER_AREA)


def _row(ex, fn, area, height):
    image = read_image(ex.image_path)
    shape = image.shape[:2]
    saliency = as_saved_map(np.asarray(fn(image), np.float64).squeeze())
    sal = crop_boxes(saliency, ASPECTS, area, image_shape=shape)
    cen = crop_boxes(saliency, ASPECTS, area, image_shape=shape, method="centre")
    photo = fixation_overlay(image, ex.fixations, normalized=False, radius=max(2, shape[1] // 200))
    thick = max(2, shape[1] // 200)
    for s, c in zip(sal, cen):
        colour = COLOURS[s.aspect]
        x, y, w, h = c.box
        cv2.rectangle(photo, (x, y), (x + w - 1, y + h - 1), colour, max(1, thick // 2), cv2.LINE_AA)
        x, y, w, h = s.box
        cv2.rectangle(photo, (x, y), (x + w - 1, y + h - 1), colour, thick * 2, cv2.LINE_AA)
    tiles = [label_tile(_fit(photo, height), f"{ex.stem}: fixations, boxes")]
    for s, c in zip(sal, cen):
        for crop, rule in ((s, "saliency"), (c, "centre")):
            x, y, w, h = crop.box
            share = fixation_share(ex.fixations, crop.box, shape)
            tiles.append(label_tile(_fit(image[y:y + h, x:x + w], height), f"{crop.aspect} {rule}: {share:.0%} fix."))
    pad = np.full((height, 6, 3), 255, np.uint8)
    return np.concatenate([t for tile in tiles for t in (tile, pad)][:-1], axis=1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="PNG file to write")
    ap.add_argument("--model", default="pretrained", help="pretrained | FILE.keras | FILE.tflite | spectral-residual")
    ap.add_argument("--data", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared",
                                                   "data", "osie"))
    ap.add_argument("--split", default="test")
    ap.add_argument("--num", type=int, default=4)
    ap.add_argument("--stems", default=None, help="comma-separated image stems instead of the first --num")
    ap.add_argument("--area", type=float, default=0.5)
    ap.add_argument("--height", type=int, default=200, help="row height in pixels")
    args = ap.parse_args(argv)

    examples = read_examples(args.data, args.split)
    if args.stems:
        wanted = [s.strip() for s in args.stems.split(",") if s.strip()]
        by_stem = {e.stem: e for e in examples}
        missing = [s for s in wanted if s not in by_stem]
        if missing:
            raise SystemExit(f"error: stems {missing} are not in {args.data!r} split {args.split!r}")
        examples = [by_stem[s] for s in wanted]
    else:
        examples = examples[: args.num]
    fn, label = _saliency(args.model)
    rows = [_row(ex, fn, args.area, args.height) for ex in examples]
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 6), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    title = label_tile(np.full((18, width, 3), 255, np.uint8),
                       f"tfsal crop, area {args.area:g}: saliency crop ({label}) vs centre crop; "
                       f"% = share of human fixations inside ({os.path.basename(os.path.normpath(args.data))} "
                       f"{args.split})")
    write_png(args.out, np.concatenate([title] + rows, axis=0))
    print(f"wrote {args.out} ({width}x{sum(r.shape[0] for r in rows) + 18})")


if __name__ == "__main__":
    main()

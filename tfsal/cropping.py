"""Crop photos where people look: run a saliency model on image files, write the crops, and measure crops against
human fixations.

:func:`crop_images` is ``tfsal crop``: one image at a time it reads the file, predicts the saliency map (a ``.keras``
or ``.tflite`` model, the shipped model by default), finds the crops of each aspect with :mod:`tfsal.crop` (on the
model's own output grid, mapped to the original image's pixels) and writes the cropped images, an overlay PNG with
the boxes and, at the end, ``crops.json``. :func:`evaluate_crop` is ``tfsal evaluate-crop``: on a dataset split with
fixations it reports, per aspect and area, the mean share of human fixations inside the saliency crop, the
argmax-centred crop, the centre crop, the best crop of the fixation density itself (the upper bound of issue 17)
and the crop holding the most fixations (the exact ceiling of the share).

Maps are min-max normalised first (:func:`tfsal.evaluate.as_saved_map`, as ``tfsal predict`` writes them and as
``tfsal evaluate`` scores them), so a map's floor carries no mass and a constant map gives the centre crop.

Example:
    >>> from tfsal.cropping import crop_images, evaluate_crop
    >>> crops = crop_images("photos/", "crops/", aspects="1:1,16:9", model="best.keras")  # doctest: +SKIP
    >>> print(evaluate_crop("centre-bias", data="demo", aspects="1:1", progress=False).to_markdown())  # doctest: +SKIP
"""
import dataclasses
import json
import os
import time

import cv2
import numpy as np

from tfsal import crop as _crop
from tfsal._io import atomic_write, list_images, read_image
from tfsal._progress import Progress as _progress
from tfsal._draw import normalize_map
from tfsal.data import read_examples, saliency_map_from_fixations
from tfsal.data._common import image_size
from tfsal.evaluate import _map_stream, _resolve, as_saved_map
from tfsal.runtime import Runner, resize_image, resolve_model

__all__ = ["CROPS_JSON", "OVERLAY_MAX_SIDE", "JPEG_QUALITY", "CROP_RULES", "saliency_function", "crop_images",
           "overlay_boxes", "CropEvaluation", "evaluate_crop"]

#: The file of ``tfsal crop``'s boxes in the output folder.
CROPS_JSON = "crops.json"

#: Overlay PNGs are shrunk to at most this many pixels on their longer side (a 12 Mpx PNG is ~20 MB to look at).
OVERLAY_MAX_SIDE = 1280

#: JPEG quality of cropped ``.jpg`` images (OpenCV's default).
JPEG_QUALITY = 95

# EXIF tag of the orientation (EXIF 2.3, tag 0x0112).
_EXIF_ORIENTATION = 0x0112

# Brightness of the least salient pixels in the overlay (the most salient keep their own).
_DIM_FLOOR = 0.45

# Box colours of the overlay, one per aspect in order (RGB; Okabe-Ito colour-blind-safe palette).
_COLOURS = ((230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (0, 114, 178), (213, 94, 0),
            (204, 121, 167))


# ----------------------------------------------------------------------------------------------------------------
# models
# ----------------------------------------------------------------------------------------------------------------
def saliency_function(model=None):
    """An ``image -> saliency map`` callable for any model tfsal can run, and a label for it.

    Args:
        model: ``None`` or ``"pretrained"`` (the shipped model, :func:`tfsal.models.load_pretrained`), anything
            :func:`tfsal.runtime.resolve_model` runs (a ``.keras``, ``.tflite`` or ``.onnx`` file, a registered
            model name, a ``keras.Model`` taking raw RGB in [0, 255]) or a callable ``image -> map``.

    Returns:
        ``(fn, label)``: ``fn`` takes an RGB ``uint8`` image ``(H, W, 3)`` and returns its map at the model's output
        resolution (any 2-D map for a callable).

    Raises:
        FileNotFoundError: a missing model file.
        ValueError: an unsupported file type, or no shipped model in this tfsal.

    Example:
        >>> fn, label = saliency_function("best_int8.tflite")  # doctest: +SKIP
    """
    if isinstance(model, str) and model == "pretrained":
        model = None
    if callable(model) and not isinstance(model, Runner) and not hasattr(model, "predict_on_batch"):
        return model, getattr(model, "__name__", None) or type(model).__name__
    runner = resolve_model(model)

    def saliency(image):
        return runner(resize_image(image, runner.size_for(image.shape))[None])[0]

    return saliency, "pretrained" if model is None else runner.name


# ----------------------------------------------------------------------------------------------------------------
# tfsal crop
# ----------------------------------------------------------------------------------------------------------------
def _write_atomic(path, data):
    """Write bytes to ``path`` through a temporary file and a rename (never a half file; :func:`atomic_write`)."""
    return atomic_write(path, data)


def _encode(image, ext):
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if ext in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(ext, cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise OSError(f"OpenCV cannot encode a {ext} image")
    return buf.tobytes()


def overlay_boxes(image, crops, saliency_map=None, max_side=OVERLAY_MAX_SIDE):
    """The image (shrunk to ``max_side``), lit by its saliency, with each crop's box and a legend drawn.

    Args:
        image: RGB ``uint8`` ``(H, W, 3)``.
        crops: :class:`tfsal.crop.Crop` list (boxes in the image's pixels).
        saliency_map: optional map of any size: pixels are dimmed towards :data:`_DIM_FLOOR` of their brightness
            as the square root of the min-max normalised map falls to 0.
        max_side: longest side of the picture in pixels.

    Returns:
        RGB ``uint8`` picture; the legend at the top left gives each box's aspect and score.

    Example:
        >>> from tfsal.crop import Crop
        >>> overlay_boxes(np.zeros((60, 80, 3), np.uint8), [Crop("1:1", (10, 0, 60, 60), 0.5)]).shape
        (60, 80, 3)
    """
    H, W = image.shape[:2]
    scale = min(1.0, max_side / max(H, W))
    size = (max(1, round(W * scale)), max(1, round(H * scale)))
    pic = image if scale == 1.0 else cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    if saliency_map is not None:
        light = np.sqrt(cv2.resize(normalize_map(saliency_map), size, interpolation=cv2.INTER_LINEAR).clip(0, 1))
        pic = pic * (_DIM_FLOOR + (1 - _DIM_FLOOR) * light[..., None])
    pic = np.ascontiguousarray(np.clip(np.round(pic), 0, 255), np.uint8)
    thick = max(2, round(max(pic.shape[:2]) / 320))
    font = max(0.4, max(pic.shape[:2]) / 1600)
    line = cv2.getTextSize("0", cv2.FONT_HERSHEY_SIMPLEX, font, 1)[0][1] + 2 * thick + 4
    for i, c in enumerate(crops):
        colour = _COLOURS[i % len(_COLOURS)]
        x, y, w, h = (v * scale for v in c.box)
        p0 = (int(round(x)) + thick // 2, int(round(y)) + thick // 2)
        p1 = (int(round(x + w)) - 1 - thick // 2, int(round(y + h)) - 1 - thick // 2)
        cv2.rectangle(pic, p0, p1, colour, thick)
        text = f"{c.aspect}  {c.score:.0%}"
        tw = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font, 1)[0][0]
        top = 4 + i * line
        cv2.rectangle(pic, (4, top), (4 + tw + 2 * line // 3 + 8, top + line - 2), (0, 0, 0), -1)
        cv2.rectangle(pic, (7, top + 3), (7 + line // 2, top + line - 5), colour, -1)
        cv2.putText(pic, text, (12 + line // 2, top + line - thick - 3), cv2.FONT_HERSHEY_SIMPLEX, font,
                    (255, 255, 255), 1, cv2.LINE_AA)
    return pic


def _upright_size(path):
    """``(width, height)`` from the file header, as :func:`tfsal.read_image` returns the image: OpenCV turns photos
    upright by their EXIF orientation, so orientations 5-8 (a quarter turn) swap the sides."""
    w, h = image_size(path)
    try:
        from PIL import Image

        with Image.open(path) as im:
            if im.getexif().get(_EXIF_ORIENTATION, 1) in (5, 6, 7, 8):
                w, h = h, w
    except Exception:  # no Pillow, or no EXIF: the header's size
        pass
    return w, h


def _plan(images, out, aspects):
    """Input files, their ``crops.json`` keys and every output path; refuses name clashes."""
    files = []
    for item in [images] if isinstance(images, (str, os.PathLike)) else list(images):
        files += list_images(item)
    if not files:
        raise ValueError("expected at least one image file or folder; got none")
    plan, keys, seen = [], {}, {}
    for f in files:
        name = os.path.basename(f)
        if name in keys:
            raise ValueError(f"two input images are both named {name!r} ({keys[name]!r} and {f!r}); "
                             "crops.json keys images by file name: rename one")
        keys[name] = f
        stem, ext = os.path.splitext(name)
        ext = ext.lower()
        crops = [os.path.join(out, f"{stem}_{a.slug}{ext}") for a in aspects]
        overlay = os.path.join(out, f"{stem}_crops.png")
        for p in crops + [overlay]:
            if p in seen:
                raise ValueError(f"images {seen[p]!r} and {f!r} would both write {p!r}; rename one")
            seen[p] = f
        plan.append((f, name, ext, crops, overlay))
    return plan


def crop_images(images, out, aspects=_crop.DEFAULT_ASPECTS, area=_crop.DEFAULT_AREA, model=None, min_area=None,
                overwrite=False, progress=True):
    """Crop image files to each aspect where the saliency model says people look; write crops, overlays, JSON.

    For each image ``NAME.ext`` (read, predicted and written one at a time) it writes ``out/NAME_16x9.ext`` per
    aspect (the crop, same format as the input), ``out/NAME_crops.png`` (the image with the boxes over a faint heat
    map, at most :data:`OVERLAY_MAX_SIDE` pixels) and at the end ``out/crops.json``:
    ``{"NAME.ext": [{"aspect": "1:1", "box": [x, y, w, h], "score": 0.73}, ...], ...}`` with integer boxes in the
    original image's pixels (of the upright image: OpenCV applies a photo's EXIF orientation) and score = the share
    of the (min-max normalised) map's mass inside the box. Every file is written under a temporary name and renamed,
    so none is ever half written.

    Args:
        images: an image file or folder, or a list of them.
        out: output folder (created when missing).
        aspects: ``"1:1,16:9,4:5"`` or a list of aspects.
        area: fraction of the image area in (0, 1] (capped at the largest box of an aspect), or ``"max"`` / ``None``
            for the largest box of each aspect.
        model: ``None`` (the shipped model), a ``.keras`` or ``.tflite`` file, a ``keras.Model`` or a callable
            ``image -> map`` (see :func:`saliency_function`).
        min_area: smallest crop area in pixels (an image that cannot hold it is an error), or ``None``.
        overwrite: replace existing output files; by default any existing one is an error (before anything runs).
        progress: show a progress bar on stderr.

    Returns:
        The ``crops.json`` content: image file name → list of ``{"aspect", "box", "score"}``.

    Raises:
        FileNotFoundError / ValueError: a missing or unreadable input, a bad aspect or area, an image too small for
            a crop, two inputs with the same name; FileExistsError: an existing output without ``overwrite``.

    Example:
        >>> crops = crop_images("photos/", "crops/", aspects="1:1,16:9", model="best.keras")  # doctest: +SKIP
        >>> crops["beach.jpg"][0]  # doctest: +SKIP
        {'aspect': '1:1', 'box': [412, 0, 600, 600], 'score': 0.71}
    """
    aspects = _crop.parse_aspects(aspects)
    area = _crop.parse_area(area)
    out = os.fspath(out)
    plan = _plan(images, out, aspects)
    for f, *_ in plan:  # headers only: a bad file or an image too small for a crop fails before any work
        w, h = _upright_size(f)
        for a in aspects:
            try:
                _crop.crop_size((h, w), a, area, min_area)
            except ValueError as err:
                raise ValueError(f"{f!r}: {err}") from None
    json_path = os.path.join(out, CROPS_JSON)
    if not overwrite:
        existing = [p for _, _, _, crops, ov in plan for p in crops + [ov] if os.path.exists(p)]
        existing += [json_path] if os.path.exists(json_path) else []
        if existing:
            raise FileExistsError(f"{existing[0]!r} already exists ({len(existing)} output file(s) in all); "
                                  "choose another output folder or pass overwrite=True (--overwrite)")
    fn, label = saliency_function(model)
    os.makedirs(out, exist_ok=True)
    result = {}
    bar = _progress(len(plan), f"crop ({label})") if progress else None
    for i, (f, name, ext, crop_paths, overlay_path) in enumerate(plan):
        image = read_image(f)
        saliency = as_saved_map(np.asarray(fn(image), np.float64).squeeze())
        crops = _crop.crop_boxes(saliency, aspects, area, image_shape=image.shape[:2], min_area=min_area)
        for c, path in zip(crops, crop_paths):
            x, y, w, h = c.box
            _write_atomic(path, _encode(image[y:y + h, x:x + w], ext))
        _write_atomic(overlay_path, _encode(overlay_boxes(image, crops, saliency), ".png"))
        result[name] = [c.to_dict() for c in crops]
        if bar is not None:
            bar.update(i + 1)
    if bar is not None:
        bar.close()
    _write_atomic(json_path, (json.dumps(result, indent=1) + "\n").encode("utf-8"))
    return result


# ----------------------------------------------------------------------------------------------------------------
# tfsal evaluate-crop
# ----------------------------------------------------------------------------------------------------------------
#: The crops compared by :func:`evaluate_crop`, in table order: key → column title.
CROP_RULES = {"saliency": "saliency crop", "argmax": "argmax-centred", "centre": "centre crop",
              "upper": "upper bound (fixation density)", "oracle": "most fixations possible"}


@dataclasses.dataclass
class CropEvaluation:
    """Shares of human fixations inside crops, per dataset, aspect and area.

    Attributes:
        model: the model's label.
        split: the split scored.
        rows: one dict per (dataset, aspect, area): ``data``, ``aspect``, ``area``, ``images`` and the mean share
            of fixations inside each crop of :data:`CROP_RULES` (``saliency``, ``argmax``, ``centre``, ``upper``,
            ``oracle``).
        per_image: ``(data, aspect, area)`` → ``{"images": [stems], rule: (N,) shares}``.
        seconds: wall time.
    """

    model: str
    split: str
    rows: list
    per_image: dict
    seconds: float = 0.0

    def to_markdown(self):
        """The table as Markdown: percentages of fixations inside, the gain over the centre crop in points and the
        saliency crop as a share of the upper bound."""
        lines = [f"Share of human fixations inside the crop (mean over images), model `{self.model}`, "
                 f"split `{self.split}`.", "",
                 "| data | aspect | area | images | " + " | ".join(CROP_RULES.values())
                 + " | saliency − centre | saliency / upper |",
                 "|---|---|---|---|" + "---|" * (len(CROP_RULES) + 2)]
        for r in self.rows:
            area = "max" if r["area"] is None else f"{r['area']:g}"
            lines.append(f"| {r['data']} | {r['aspect']} | {area} | {r['images']} | "
                         + " | ".join(f"{100 * r[k]:.1f} %" for k in CROP_RULES)
                         + f" | {100 * (r['saliency'] - r['centre']):+.1f} pp | {100 * r['saliency'] / r['upper']:.1f} % |")
        return "\n".join(lines)

    def to_dict(self):
        """A JSON-ready dict: settings, ``rows`` and per-image shares."""
        return {"model": self.model, "split": self.split, "seconds": round(self.seconds, 1), "rows": self.rows,
                "per_image": [{"data": d, "aspect": a, "area": ar, "images": v["images"],
                               **{k: [round(float(s), 6) for s in v[k]] for k in CROP_RULES}}
                              for (d, a, ar), v in self.per_image.items()]}

    def save(self, path, overwrite=False):
        """Write the Markdown table (``.md``, any other suffix) or :meth:`to_dict` (``.json``) to ``path``.

        Raises:
            FileExistsError: ``path`` exists and not ``overwrite``.
        """
        path = os.fspath(path)
        if os.path.exists(path) and not overwrite:
            raise FileExistsError(f"output file {path!r} already exists; pass overwrite=True (--overwrite)")
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        text = json.dumps(self.to_dict(), indent=1) if path.endswith(".json") else self.to_markdown()
        return _write_atomic(path, (text + "\n").encode("utf-8"))


def _fixation_counts(fixations, shape):
    """Fixations per pixel (the pixel rule of :func:`tfsal.crop.fixation_share`): its best crop holds the most."""
    H, W = shape
    pts = np.asarray(fixations, np.float64).reshape(-1, 2)
    counts = np.zeros(shape, np.float64)
    np.add.at(counts, (np.clip(np.floor(pts[:, 1]), 0, H - 1).astype(int),
                       np.clip(np.floor(pts[:, 0]), 0, W - 1).astype(int)), 1.0)
    return counts


def _areas(area):
    if isinstance(area, str):
        return [_crop.parse_area(a) for a in area.split(",") if a.strip()] or [_crop.parse_area(area)]
    if area is None or np.isscalar(area):
        return [_crop.parse_area(area)]
    return [_crop.parse_area(a) for a in area]


def _data_label(data):
    data = os.fspath(data)
    return data if data == "demo" else os.path.basename(os.path.normpath(data))


def evaluate_crop(model_or_baseline, data="demo", split="val", aspects=_crop.DEFAULT_ASPECTS,
                  area=_crop.DEFAULT_AREA, batch_size=8, progress=True):
    """Share of human fixations inside saliency, argmax-centred, centre and best (fixation-density) crops.

    For each image of the split the model's map (at the image's size, min-max normalised) gives the saliency crop
    (:func:`tfsal.crop.crop_box`) and the argmax-centred crop; the centre crop has the same size; the upper bound
    is the same search on the image's fixation density (:func:`tfsal.data.saliency_map_from_fixations`), and the
    oracle the same search on the fixation counts per pixel (no crop of that size holds more fixations). The
    score of a crop is the share of the image's fixations inside it (:func:`tfsal.crop.fixation_share`), averaged
    over images.

    Args:
        model_or_baseline: ``"pretrained"`` (the shipped model), a ``.keras`` or ``.tflite`` file, a baseline of
            :data:`tfsal.evaluate.BASELINES` (``centre-bias`` is built from each dataset's train split), a
            ``keras.Model`` or a callable ``image -> map``.
        data: ``"demo"``, a dataset folder, or a list of them (one set of rows each).
        split: the split to score (``"val"``, ``"test"``, ...; ``None`` for all images).
        aspects: ``"1:1,16:9,4:5"`` or a list of aspects.
        area: an area fraction, ``"max"``, or several (``"0.3,0.5"`` or a list).
        batch_size: images per forward pass of a keras model.
        progress: show a progress bar on stderr.

    Returns:
        A :class:`CropEvaluation` (``.to_markdown()`` gives the table).

    Example:
        >>> res = evaluate_crop("centre-bias", data="demo", aspects="1:1", progress=False)
        >>> [r["aspect"] for r in res.rows], res.rows[0]["upper"] >= res.rows[0]["centre"]
        (['1:1'], True)
    """
    start = time.time()
    aspects = _crop.parse_aspects(aspects)
    areas = _areas(area)
    if int(batch_size) <= 0:
        raise ValueError(f"batch_size must be positive; got {batch_size}")
    datasets = [data] if isinstance(data, (str, os.PathLike)) else list(data)
    if not datasets:
        raise ValueError("expected at least one dataset; got none")
    m = model_or_baseline
    if m is None or (isinstance(m, str) and m == "pretrained"):
        kind, obj, label = "model", resolve_model(None), "pretrained"
    else:
        kind, obj, label = _resolve(m)
    rows, per_image = [], {}
    for d in datasets:
        examples = read_examples(d, split)
        for ex in examples:
            if ex.fixations is None or len(ex.fixations) == 0:
                raise ValueError(f"image {ex.image_path!r} has no fixations; cannot score crops against it")
        train = read_examples(d, "train") if kind == "baseline" and obj == "centre-bias" else None
        keys = [(a, ar) for a in aspects for ar in areas]
        shares = {k: {r: np.zeros(len(examples)) for r in CROP_RULES} for k in keys}
        bar = _progress(len(examples), f"{label} on {_data_label(d)} {split}") if progress else None
        for i, (ex, pred) in enumerate(zip(examples, _map_stream(kind, obj, examples, train, int(batch_size)))):
            shape = (ex.height, ex.width)
            sal = _crop.SummedArea(as_saved_map(np.asarray(pred, np.float64).squeeze()), shape)
            density = _crop.SummedArea(saliency_map_from_fixations(ex.normalized_fixations(), shape), shape)
            counts = _crop.SummedArea(_fixation_counts(ex.fixations, shape), shape)
            for a, ar in keys:
                boxes = {"saliency": sal.crop(a, ar), "argmax": sal.crop(a, ar, "argmax"),
                         "centre": sal.crop(a, ar, "centre"), "upper": density.crop(a, ar),
                         "oracle": counts.crop(a, ar)}
                for rule, c in boxes.items():
                    shares[(a, ar)][rule][i] = _crop.fixation_share(ex.fixations, c.box, shape)
            if bar is not None:
                bar.update(i + 1)
        if bar is not None:
            bar.close()
        for a, ar in keys:
            s = shares[(a, ar)]
            rows.append({"data": _data_label(d), "aspect": a.label, "area": ar, "images": len(examples),
                         **{r: float(np.mean(s[r])) for r in CROP_RULES}})
            per_image[(_data_label(d), a.label, ar)] = {"images": [e.stem for e in examples], **s}
    return CropEvaluation(model=label, split=str(split), rows=rows, per_image=per_image, seconds=time.time() - start)

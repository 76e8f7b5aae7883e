"""Readers for a generic ``images/`` + ``maps/`` folder and for unlabelled image folders, plus shared helpers.

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
import logging
import os

import cv2
import numpy as np

from tfsal.data._records import Example, split_of

__all__ = [
    "read_folder",
    "read_image_folder",
    "is_folder_layout",
    "is_image_folder",
    "fixation_preview",
    "IMAGE_EXTENSIONS",
]

logger = logging.getLogger("tfsal.data")

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
SPLITS = (None, "train", "val", "test")


# ------------------------------------------------------------------------------------------------ shared helpers
def check_split(split, allowed=SPLITS):
    """Raise ``ValueError`` unless ``split`` is one of ``allowed``."""
    if split not in allowed:
        raise ValueError(f"split must be one of {list(allowed)}; got {split!r}")


def check_root(root, layout):
    """Raise ``FileNotFoundError`` when dataset folder ``root`` does not exist; return it as ``str``."""
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{layout} dataset folder {root!r} does not exist")
    return root


def is_image_file(name):
    """True for a file name with an image extension (case-insensitive), ignoring hidden files."""
    return not os.path.basename(name).startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def list_images(folder):
    """Sorted image file names directly in ``folder`` (empty list when it does not exist)."""
    if not os.path.isdir(folder):
        return []
    return sorted(n for n in os.listdir(folder) if is_image_file(n) and os.path.isfile(os.path.join(folder, n)))


def stem_index(folder, extensions=IMAGE_EXTENSIONS):
    """``{stem: path}`` of the files in ``folder`` with one of ``extensions`` (first by name wins)."""
    out = {}
    if os.path.isdir(folder):
        for name in sorted(os.listdir(folder)):
            stem, ext = os.path.splitext(name)
            if ext.lower() in extensions and not name.startswith("."):
                out.setdefault(stem, os.path.join(folder, name))
    return out


def image_size(path):
    """``(width, height)`` of an image file, reading only its header where Pillow is installed.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: the file is not a readable image.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image {path!r} does not exist")
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is optional
        Image = None
    if Image is not None:
        try:
            with Image.open(path) as im:
                return int(im.size[0]), int(im.size[1])
        except Exception:
            pass  # fall through to OpenCV, which reads a few formats Pillow does not
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"cannot read image {path!r}: not a readable image file")
    return int(img.shape[1]), int(img.shape[0])


def check_map_size(map_path, width, height, image_path):
    """Raise ``ValueError`` when the map at ``map_path`` is not ``width × height`` (the size of ``image_path``)."""
    mw, mh = image_size(map_path)
    if (mw, mh) != (width, height):
        raise ValueError(
            f"map {map_path!r} is {mw}x{mh} but its image {image_path!r} is {width}x{height}; "
            "expected the same size"
        )


def points_from_binary(mask, path):
    """Fixation coordinates at pixel centres of the nonzero pixels of a binary fixation image or matrix.

    Values above 127 count as fixations for ``uint8`` images (JPEG noise), any nonzero value otherwise.

    Args:
        mask: 2-D array (an image read as grayscale, or a MATLAB matrix).
        path: the file it came from (for error messages).

    Returns:
        ``(N, 2)`` float32 ``(x, y)`` = ``(col + 0.5, row + 0.5)``, row-major order.

    Raises:
        ValueError: the array is not 2-D or holds no fixation.
    """
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask.max(axis=2)
    if mask.ndim != 2:
        raise ValueError(f"fixation file {path!r}: expected a 2-D binary image; got shape {mask.shape}")
    on = mask > 127 if mask.dtype == np.uint8 else mask != 0
    rows, cols = np.nonzero(on)
    if rows.size == 0:
        raise ValueError(f"fixation file {path!r} is empty: no fixation (no pixel above 127 / nonzero)")
    return np.stack([cols + 0.5, rows + 0.5], axis=1).astype(np.float32)


def read_binary_points(path, width, height):
    """Fixations of a binary fixation image file that must be ``width × height``."""
    mask = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise ValueError(f"cannot read fixation image {path!r}: not a readable image file")
    if mask.shape != (height, width):
        raise ValueError(
            f"fixation image {path!r} is {mask.shape[1]}x{mask.shape[0]} but its image is {width}x{height}; "
            "expected the same size"
        )
    return points_from_binary(mask, path)


def check_points(points, width, height, path, tolerance=1.0):
    """Clip fixations that overshoot the image by at most ``tolerance`` pixels; raise for farther ones."""
    pts = np.asarray(points, np.float32).reshape(-1, 2)
    lo, hi = -tolerance, np.array([width, height], np.float32) + tolerance
    bad = (pts < lo).any(axis=1) | (pts > hi).any(axis=1)
    if bad.any():
        x, y = pts[np.argmax(bad)]
        raise ValueError(
            f"fixation file {path!r}: fixation ({x:g}, {y:g}) (0-based) lies outside the {width}x{height} image"
        )
    return np.clip(pts, 0, [width, height]).astype(np.float32)


def collect(items, make, skip_bad, where):
    """Build examples with ``make(item)``; raise on the first bad item, or skip, count and log bad items.

    Args:
        items: the items to read (e.g. image paths).
        make: ``item → Example`` (or ``None`` to leave the item out on purpose); raises ``ValueError`` or
            ``FileNotFoundError`` naming the file for a bad item.
        skip_bad: skip bad items instead of raising; they are counted in one ``"tfsal.data"`` warning.
        where: the dataset (for the warning).

    Returns:
        The list of examples.
    """
    out, bad = [], []
    for item in items:
        try:
            example = make(item)
        except (ValueError, FileNotFoundError) as err:
            if not skip_bad:
                raise
            bad.append(str(err))
            continue
        if example is not None:
            out.append(example)
    if bad:
        logger.warning(
            "%s: skipped %d bad item(s) (skip_bad=True); first: %s", where, len(bad), " | ".join(bad[:3])
        )
    return out


# ------------------------------------------------------------------------------------------------ generic folder
def is_folder_layout(root):
    """True when ``root`` has ``images/`` and ``maps/`` and ``images/`` holds image files directly."""
    return os.path.isdir(os.path.join(root, "maps")) and bool(list_images(os.path.join(root, "images")))


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
    names = [n for n in list_images(image_dir) if split is None or split_of(os.path.splitext(n)[0]) == split]

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
                    raise ValueError(f"cannot read fixation file {fpath!r} as .npy: {err}") from None
                if arr.size == 0:
                    raise ValueError(f"fixation file {fpath!r} is empty: expected an (N, 2) array with N >= 1")
                if arr.ndim != 2 or arr.shape[1] != 2:
                    raise ValueError(f"fixation file {fpath!r}: expected an (N, 2) array of (x, y); got {arr.shape}")
                points = check_points(arr, width, height, fpath)
            else:
                points = read_binary_points(fpath, width, height)
        return Example(image_path, width, height, points, maps[stem], None)

    return collect(names, make, skip_bad, root)


# ------------------------------------------------------------------------------------------------ unlabelled images
def is_image_folder(root):
    """True when ``root`` holds image files directly (sub-folders alone are not enough, so that a labelled dataset
    missing its label files is reported as an unknown layout rather than read as unlabelled images)."""
    return os.path.isdir(root) and bool(list_images(root))


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


# ------------------------------------------------------------------------------------------------ preview
def fixation_preview(name_or_path, split="val", num=6, out=None, layout=None, seed=0, max_side=320):
    """A picture of a few images of a dataset with their fixations (red dots) and map (overlay) side by side.

    Args:
        name_or_path: ``"demo"`` or a dataset folder (layout detected).
        split: which split to draw from (``None`` for all images).
        num: how many images (the first ``num`` after a seeded shuffle).
        out: write the picture to this PNG file when given.
        layout: force a layout instead of detecting it.
        seed: seed of the choice of images.
        max_side: each tile's longer side in pixels.

    Returns:
        The RGB ``uint8`` picture: one row per image (image with fixations | map overlay).

    Example:
        >>> import tfsal
        >>> grid = tfsal.data.fixation_preview("demo", split="val", num=2)
        >>> grid.ndim
        3
    """
    from tfsal.data._load import read_examples
    from tfsal.data._maps import saliency_map_from_fixations
    from tfsal.viz import _label, overlay

    if int(num) <= 0:
        raise ValueError(f"num must be a positive integer; got {num!r}")
    examples = read_examples(name_or_path, split, layout=layout)
    order = np.random.default_rng(seed).permutation(len(examples))[: int(num)]
    rows = []
    for i in sorted(order):
        e = examples[i]
        img = cv2.imread(e.image_path, cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"cannot read image {e.image_path!r}: not a readable image file")
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
        tiles = [_label(dots, label), _label(right, what)]
        row = np.concatenate([np.pad(t, ((2, 2), (2, 2), (0, 0)), constant_values=255) for t in tiles], 1)
        rows.append(row)
    width = max(r.shape[1] for r in rows)
    grid = np.concatenate(
        [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows], 0
    )
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        if not cv2.imwrite(os.fspath(out), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
            raise ValueError(f"cannot write picture {out!r}: expected a writable path ending in .png")
    return grid

"""Reader for seed 000's pickled SALICON subset, read with a restricted unpickler (never a bare ``pickle.load``).

Seed 000 (§III) shipped its data as pickle files, each a list of dicts, one per image::

    X_o   the original colour image, 480×640 (×3)          (test files)
    X     the image scaled down to 96×96                   (every file)
    y_o   the original saliency map, 480×640               (test files)
    y     the map scaled down to 48×48                     (every file)
    f     the image's file name

Layout: a folder holding ``*.pkl`` / ``*.pickle`` files. A file whose name contains ``train``, ``val`` (or
``valid``) or ``test`` is that split; the items of any other file are split by :func:`tfsal.data.split_of` of
their file name. Each item becomes an :class:`~tfsal.data.Example` with the largest image and map it has (``X_o`` /
``y_o`` when present, else ``X`` / ``y``) and no fixations (the pickles have none: models train on the maps, and
scores that need fixations are not available). Images are RGB, channels last (channels-first ``(3, H, W)`` arrays
are transposed); float images in [0, 1] are scaled to [0, 255].

Pickles can run arbitrary code when loaded, so :func:`safe_load` uses an unpickler that resolves only the globals
of :data:`ALLOWED_GLOBALS` (plain containers, numbers, strings and NumPy arrays); any other global — ``os.system``,
a class of some package — is refused with a one-line error naming the file and the global.

Because the training pipeline reads image files, each pickle file is extracted once to PNG files in a cache folder
(``$TFSAL_CACHE/pickle/<key>/``, ``TFSAL_CACHE`` defaulting to ``~/.cache/tfsal``; the key depends on the pickle's
path, size and modification time), written to a temporary folder and renamed when complete.

Example:
    >>> train = read_pickled("data/salicon_pickles", split="train")   # doctest: +SKIP
    >>> train[0].map_path                                               # doctest: +SKIP
    '/home/me/.cache/tfsal/pickle/3f2a.../maps/COCO_train2014_000000000009.png'
"""
import hashlib
import json
import os
import pickle
import shutil
import tempfile

import cv2
import numpy as np

from tfsal.data._common import check_root, check_split, collect
from tfsal.data._records import Example, split_of
from tfsal.errors import UserError

__all__ = ["read_pickled", "is_pickle_layout", "safe_load", "ALLOWED_GLOBALS", "PICKLE_EXTENSIONS", "cache_root"]

PICKLE_EXTENSIONS = (".pkl", ".pickle")

#: The only globals a pickled dataset may refer to: plain containers and scalars, and what NumPy needs to rebuild
#: arrays, dtypes and scalars (``numpy.core`` for NumPy 1 pickles, ``numpy._core`` for NumPy 2; ``__builtin__`` and
#: ``copy_reg``-free Python 2 names; ``_codecs.encode`` carries array bytes in protocol-2 pickles).
ALLOWED_GLOBALS = frozenset(
    [(m, n) for m in ("builtins", "__builtin__") for n in
     ("list", "dict", "tuple", "set", "frozenset", "str", "bytes", "bytearray", "int", "float", "complex", "bool",
      "unicode", "long")]
    + [(m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray") for n in ("_reconstruct", "scalar")]
    + [("numpy", "ndarray"), ("numpy", "dtype"), ("collections", "OrderedDict"), ("_codecs", "encode")]
)

_PY2_NAMES = {("__builtin__", "unicode"): ("builtins", "str"), ("__builtin__", "long"): ("builtins", "int")}

# Bump when the extracted files change, so old caches are not reused.
_CACHE_VERSION = 1


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, path):
        super().__init__(file, encoding="latin1")  # latin1: Python 2 pickles of NumPy arrays
        self.path = path

    def find_class(self, module, name):
        if (module, name) not in ALLOWED_GLOBALS:
            raise UserError(
                f"refusing to load {self.path!r}: the pickle refers to the global {module}.{name}, which is not a "
                "plain container or a NumPy array (tfsal unpickles datasets with a restricted unpickler: only lists, "
                "dicts, tuples, numbers, strings and NumPy arrays)")
        module, name = _PY2_NAMES.get((module, name), (module, name))
        if module == "__builtin__":
            module = "builtins"
        return super().find_class(module, name)


def safe_load(path):
    """Unpickle ``path`` allowing only the globals of :data:`ALLOWED_GLOBALS`.

    Args:
        path: a pickle file.

    Returns:
        The unpickled object (containers, numbers, strings and NumPy arrays only).

    Raises:
        FileNotFoundError: no such file.
        UserError: the pickle refers to any other global (the message names it), or is not a readable pickle.

    Example:
        >>> safe_load("data/train.pkl")  # doctest: +SKIP
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"pickle file {path!r} does not exist")
    with open(path, "rb") as f:
        try:
            return _RestrictedUnpickler(f, path).load()
        except UserError:
            raise
        except Exception as err:  # truncated or corrupt pickle, or not a pickle at all
            raise UserError(f"cannot read {path!r} as a pickle: {type(err).__name__}: {err}") from None


def is_pickle_layout(root):
    """True when ``root`` directly holds ``*.pkl`` / ``*.pickle`` files (their content is not read)."""
    return os.path.isdir(root) and any(
        n.lower().endswith(PICKLE_EXTENSIONS) and os.path.isfile(os.path.join(root, n)) for n in os.listdir(root))


def cache_root():
    """The folder of extracted pickles: ``$TFSAL_CACHE/pickle`` (``TFSAL_CACHE`` defaults to ``~/.cache/tfsal``)."""
    base = os.environ.get("TFSAL_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "tfsal")
    return os.path.join(base, "pickle")


def _file_split(name):
    base = os.path.splitext(name)[0].lower()
    for split, words in (("train", ("train",)), ("val", ("valid", "val")), ("test", ("test",))):
        if any(w in base for w in words):
            return split
    return None


def _image_uint8(a, what):
    a = np.asarray(a)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        a = np.moveaxis(a, 0, -1)  # channels first (3, H, W), as Theano-era code stored them
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=-1)
    if a.ndim != 3 or a.shape[-1] != 3 or min(a.shape[:2]) < 1 or not np.issubdtype(a.dtype, np.number):
        raise UserError(f"{what}: expected an RGB image array (H, W, 3) or (3, H, W); got {a.dtype} {a.shape}")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise UserError(f"{what}: the image has NaN or infinite values")
    if a.max() <= 1.0:
        a = a * 255.0
    return np.clip(np.round(a), 0, 255).astype(np.uint8)


def _map_uint8(a, what):
    m = np.asarray(a)
    if m.ndim == 3 and 1 in (m.shape[0], m.shape[-1]):
        m = m.reshape(m.shape[1:] if m.shape[0] == 1 else m.shape[:-1])
    if m.ndim != 2 or min(m.shape) < 1 or not np.issubdtype(m.dtype, np.number):
        raise UserError(f"{what}: expected a 2-D saliency map; got {m.dtype} {m.shape}")
    m = m.astype(np.float64)
    if not np.all(np.isfinite(m)) or m.min() < 0 or m.max() <= 0:
        raise UserError(f"{what}: expected a finite, non-negative, not all-zero saliency map; got values in "
                        f"[{np.nanmin(m):g}, {np.nanmax(m):g}]")
    return np.round(m / m.max() * 255.0).astype(np.uint8)


def _cache_key(path):
    st = os.stat(path)
    ident = f"{_CACHE_VERSION}|{os.path.realpath(path)}|{st.st_size}|{st.st_mtime_ns}"
    return hashlib.sha256(ident.encode("utf-8")).hexdigest()[:24]


def _extract(path, skip_bad):
    """Extract one pickle file to PNGs in the cache (once); its manifest: a list of item dicts, or error strings."""
    final = os.path.join(cache_root(), _cache_key(path))
    manifest = os.path.join(final, "manifest.json")
    if os.path.isfile(manifest):
        with open(manifest) as f:
            return final, json.load(f)
    data = safe_load(path)
    if not isinstance(data, (list, tuple)):
        raise UserError(f"{path!r}: expected a pickled list of dicts (keys X_o or X, y_o or y, f), as seed 000's "
                        f"SALICON subset; got a {type(data).__name__}")
    os.makedirs(cache_root(), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".extract-", dir=cache_root())
    try:
        for sub in ("images", "maps"):
            os.makedirs(os.path.join(tmp, sub))
        items, stems = [], set()
        for i, item in enumerate(data):
            what = f"{path!r} item {i}"
            try:
                if not isinstance(item, dict):
                    raise UserError(f"{what}: expected a dict with keys X_o or X, y_o or y, f; got a "
                                    f"{type(item).__name__}")
                missing = [k for k in ("f", "X", "y") if k not in item and not (k != "f" and k + "_o" in item)]
                if missing:
                    raise UserError(f"{what}: missing key(s) {missing} (expected X_o or X, y_o or y, f); it has "
                                    f"{sorted(map(str, item))}")
                stem = os.path.splitext(os.path.basename(str(item["f"])))[0]
                if not stem or stem in stems:
                    raise UserError(f"{what}: file name {item['f']!r} is empty or repeats an earlier item's")
                img = _image_uint8(item["X_o"] if "X_o" in item else item["X"], f"{what} ({stem})")
                m = _map_uint8(item["y_o"] if "y_o" in item else item["y"], f"{what} ({stem})")
            except UserError as err:
                if not skip_bad:
                    raise
                items.append(str(err))
                continue
            stems.add(stem)
            for sub, array in (("images", cv2.cvtColor(img, cv2.COLOR_RGB2BGR)), ("maps", m)):
                if not cv2.imwrite(os.path.join(tmp, sub, stem + ".png"), array):
                    raise OSError(f"could not write the extracted {sub[:-1]} of {what} to {tmp!r}")
            items.append({"stem": stem, "file": str(item["f"]), "width": int(img.shape[1]), "height": int(img.shape[0])})
        with open(os.path.join(tmp, "manifest.json"), "w") as f:
            json.dump(items, f)
        try:
            os.rename(tmp, final)
        except OSError:  # another process extracted it first
            if not os.path.isfile(manifest):
                raise
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    with open(manifest) as f:
        return final, json.load(f)


def read_pickled(root, split=None, skip_bad=False):
    """Read a folder of seed-000-style pickle files (see the module docstring) into examples.

    Args:
        root: the folder of ``*.pkl`` / ``*.pickle`` files.
        split: ``"train"``, ``"val"``, ``"test"`` or ``None`` (all).
        skip_bad: skip bad items (not a dict, missing keys, not an image or map) and count them in one
            ``"tfsal.data"`` warning instead of raising. A pickle that refers to a forbidden global is always an
            error.

    Returns:
        A list of :class:`~tfsal.data.Example` (image and map PNGs extracted to the cache, no fixations), sorted
        by file then item order.

    Raises:
        FileNotFoundError: the folder does not exist.
        UserError: a forbidden global (named), an unreadable pickle, or a bad item (named by file and index).

    Example:
        >>> val = read_pickled("data/salicon_pickles", split="val")  # doctest: +SKIP
    """
    check_split(split)
    root = check_root(root, "pickle")
    names = sorted(n for n in os.listdir(root)
                   if n.lower().endswith(PICKLE_EXTENSIONS) and os.path.isfile(os.path.join(root, n)))
    entries = []
    for name in names:
        file_split = _file_split(name)
        if split is not None and file_split not in (None, split):
            continue
        folder, manifest = _extract(os.path.join(root, name), skip_bad)
        for item in manifest:
            if isinstance(item, str):  # a bad item skipped at extraction
                entries.append(item)
                continue
            if split is None or (file_split or split_of(item["stem"])) == split:
                entries.append((folder, item))

    def make(entry):
        if isinstance(entry, str):
            raise UserError(entry)
        folder, item = entry
        return Example(os.path.join(folder, "images", item["stem"] + ".png"), item["width"], item["height"], None,
                       os.path.join(folder, "maps", item["stem"] + ".png"), None)

    return collect(entries, make, skip_bad, root)

"""One entry point for every dataset: ``tfsal.data.load(name_or_path, split=...)``."""
import os

from tfsal.data._pipeline import make_dataset
from tfsal.data.cat2000 import is_cat2000_layout, read_cat2000
from tfsal.data.folder import is_folder_layout, is_image_folder, read_folder, read_image_folder
from tfsal.data.mit1003 import is_mit1003_layout, read_mit1003
from tfsal.data.nus import is_nus_layout, read_nus
from tfsal.data.salicon import is_salicon_layout, read_salicon

__all__ = ["load", "read_examples", "detect_layout", "LAYOUTS", "DEMO_ROOT", "read_demo", "demo"]

# The built-in demo data: a downsized OSIE subset in OSIE's own (NUS) layout. Built by scripts/build_demo_data.py.
DEMO_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo_osie")

# Layout name → (detector, reader). Readers take (root, split, skip_bad) and return a list of Example.
# Detection tries them in this order (most specific first; "images" accepts any folder with images directly in it).
LAYOUTS = {
    "nus": (is_nus_layout, read_nus),
    "salicon": (is_salicon_layout, read_salicon),
    "mit1003": (is_mit1003_layout, read_mit1003),
    "cat2000": (is_cat2000_layout, read_cat2000),
    "folder": (is_folder_layout, read_folder),
    "images": (is_image_folder, read_image_folder),
}

# What each layout expects, for the unknown-layout error message.
LAYOUT_HELP = {
    "nus": "stimuli/*.jpg + eye/fixations.mat (OSIE and other NUS datasets)",
    "salicon": "images/{train,val,test}/*.jpg + maps/{train,val}/*.png + fixations/{train,val}/*.mat (SALICON 2017)",
    "mit1003": "ALLSTIMULI/*.jpeg + ALLFIXATIONMAPS/*_fixMap.jpg and *_fixPts.jpg (MIT1003)",
    "cat2000": "Stimuli/<category>/*.jpg + FIXATIONMAPS/<category>/*.jpg + FIXATIONLOCS/<category>/*.mat (CAT2000)",
    "folder": "images/<stem>.* + maps/<stem>.* (+ optional fixations/<stem>.png or .npy), matched by stem",
    "images": "image files (.jpg, .png, ...) directly in the folder; sub-folders are read too (unlabelled)",
}


def detect_layout(root):
    """Name of the layout of dataset folder ``root`` (a key of :data:`LAYOUTS`).

    Args:
        root: a dataset folder.

    Returns:
        The layout name.

    Raises:
        FileNotFoundError: ``root`` does not exist.
        ValueError: no known layout matches; the message lists what each layout expects.
    """
    if not os.path.isdir(root):
        raise FileNotFoundError(f"dataset folder {root!r} does not exist")
    for name, (detect, _) in LAYOUTS.items():
        if detect(root):
            return name
    expected = "; ".join(f"{name}: {LAYOUT_HELP.get(name, 'see its reader')}" for name in LAYOUTS)
    found = sorted(os.listdir(root))[:10]
    raise ValueError(
        f"unknown dataset layout in {root!r} (it contains {found}); expected one of: {expected}; "
        "or the name 'demo'"
    )


def read_examples(name_or_path, split="train", layout=None, skip_bad=False):
    """Read a dataset's examples without building a pipeline.

    Args:
        name_or_path: ``"demo"``, a dataset folder, or a list of those: the examples of each, in order, with each
            dataset's own split (training on several datasets at once keeps every val and test split out).
        split: ``"train"``, ``"val"``, ``"test"`` or ``None`` (all).
        layout: force a layout name instead of detecting it.
        skip_bad: skip bad items (missing partner file, unreadable image, size mismatch, empty fixation file)
            and count them in one warning of the ``"tfsal.data"`` logger, instead of raising.

    Returns:
        A list of :class:`~tfsal.data.Example`.
    """
    if isinstance(name_or_path, (list, tuple)):
        if not name_or_path:
            raise ValueError("expected at least one dataset; got an empty list")
        return [e for source in name_or_path for e in read_examples(source, split, layout, skip_bad)]
    if str(name_or_path) == "demo":
        return read_demo(split)
    root = os.fspath(name_or_path)
    layout = layout or detect_layout(root)
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; expected one of {sorted(LAYOUTS)}")
    examples = LAYOUTS[layout][1](root, split=split, skip_bad=skip_bad)
    if not examples:
        raise ValueError(f"dataset {root!r} ({layout} layout) has no images in split {split!r}")
    return examples


def load(name_or_path, split="train", image_size=(192, 256), map_size=None, batch_size=8, shuffle=None,
         augment=None, seed=0, cache=False, layout=None, output="supervised", skip_bad=False):
    """Load a dataset as a ready ``tf.data.Dataset``.

    Args:
        name_or_path: ``"demo"`` (the built-in OSIE subset) or a dataset folder (layout detected).
        split: ``"train"``, ``"val"``, ``"test"`` or ``None`` (all images).
        image_size: ``(H, W)`` model input size.
        map_size: ``(h, w)`` target size; ``image_size`` when ``None``.
        batch_size: batch size.
        shuffle: shuffle each epoch; default ``True`` for the train split only.
        augment: random joint horizontal flips; default ``True`` for the train split only.
        seed: seed for shuffling and augmentation.
        cache: cache decoded examples (``True`` = memory, or a file path).
        layout: force a layout instead of detecting it.
        output: see :func:`~tfsal.data.make_dataset`.
        skip_bad: skip bad items and count them in a ``"tfsal.data"`` warning instead of raising.

    Returns:
        A ``tf.data.Dataset``.

    Example:
        >>> import tfsal
        >>> ds = tfsal.data.load("demo", split="val", image_size=(96, 128), batch_size=4)
    """
    examples = read_examples(name_or_path, split, layout, skip_bad=skip_bad)
    is_train = split == "train"
    return make_dataset(
        examples, image_size=image_size, map_size=map_size, batch_size=batch_size,
        shuffle=is_train if shuffle is None else shuffle, seed=seed,
        augment=is_train if augment is None else augment, cache=cache, output=output,
    )


def read_demo(split="train"):
    """Examples of the built-in demo data (a downsized subset of OSIE, MIT licence; see its README).

    Args:
        split: ``"train"`` (120 images), ``"val"`` (30 images) or ``None`` (all 150).

    Returns:
        A list of :class:`~tfsal.data.Example` (256×192 images, 15 observers' fixations each).
    """
    if split not in ("train", "val", None):
        raise ValueError(f"the demo data has splits 'train' and 'val'; got {split!r}")
    if not is_nus_layout(DEMO_ROOT):
        raise FileNotFoundError(
            f"demo data missing from {DEMO_ROOT!r}; rebuild it with scripts/build_demo_data.py"
        )
    return read_nus(DEMO_ROOT, split=split)


def demo(split="train", image_size=(192, 256), batch_size=8, **kwargs):
    """The built-in demo data as a ready ``tf.data.Dataset`` (see :func:`load` for the arguments).

    Example:
        >>> import tfsal
        >>> train = tfsal.data.demo("train", image_size=(96, 128), batch_size=8)
        >>> images, targets = next(iter(train))
        >>> tuple(images.shape), tuple(targets.shape)
        ((8, 96, 128, 3), (8, 96, 128, 2))
    """
    return load("demo", split=split, image_size=image_size, batch_size=batch_size, **kwargs)

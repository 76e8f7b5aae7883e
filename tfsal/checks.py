"""One validation of the values every tfsal function and command shares: sizes, counts, ranges, thresholds, paths.

Each check returns the value converted (e.g. ``"3"`` → ``3``) or raises :class:`tfsal.errors.UserError` with one line
that names the value, says what was expected and echoes what was got. The Python functions (``tfsal.train``,
``tfsal.export.export_model``, ...) call them, and the ``tfsal`` command line calls the same checks while parsing its
options (``tfsal._cli_types``), before TensorFlow is imported, so ``--batch-size 0`` is the same error everywhere.
This module imports neither TensorFlow nor NumPy.

Example:
    >>> from tfsal import checks
    >>> checks.positive_int("8", "batch_size")
    8
    >>> checks.image_size("192x256")
    (192, 256)
    >>> checks.fraction(5, "alpha")
    Traceback (most recent call last):
    ...
    tfsal.errors.UserError: alpha must be a number in [0, 1]; got 5
"""
import math
import numbers
import os

from tfsal.errors import UserError

__all__ = [
    "integer",
    "positive_int",
    "non_negative_int",
    "seed",
    "number",
    "positive_float",
    "non_negative_float",
    "fraction",
    "correlation",
    "image_size",
    "int_list",
    "existing_file",
    "existing_dir",
    "new_file",
    "new_dir",
    "MAX_SEED",
]

#: Seeds go to NumPy's and TensorFlow's generators, which take unsigned 32-bit integers.
MAX_SEED = 2**32 - 1


def integer(value, name, minimum=None, maximum=None, what=None):
    """``value`` as an ``int`` within ``[minimum, maximum]`` (either bound may be ``None``).

    Accepts ints, integral floats (``8.0``) and decimal strings; refuses booleans, ``8.5`` and anything else.

    Args:
        value: the value to check.
        name: the parameter's name for the message (e.g. ``"batch_size"`` or ``"--batch-size"``).
        minimum, maximum: inclusive bounds.
        what: the expectation in words (default from the bounds, e.g. ``"a positive integer"``).

    Returns:
        The ``int``.

    Example:
        >>> integer("3", "epochs", minimum=1)
        3
    """
    if what is None:
        what = ("a positive integer" if minimum == 1 and maximum is None else
                "a non-negative integer" if minimum == 0 and maximum is None else
                f"an integer in [{minimum if minimum is not None else '-inf'}, "
                f"{maximum if maximum is not None else 'inf'}]")
    out = None
    if isinstance(value, bool):
        out = None
    elif isinstance(value, numbers.Integral):
        out = int(value)
    elif isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
        out = int(value)
    elif isinstance(value, str):
        try:
            out = int(value.strip())
        except ValueError:
            out = None
    if out is None or (minimum is not None and out < minimum) or (maximum is not None and out > maximum):
        raise UserError(f"{name} must be {what}; got {value!r}")
    return out


def positive_int(value, name):
    """``value`` as an ``int`` ≥ 1 (batch sizes, epochs, image counts, runs).

    Example:
        >>> positive_int(0, "batch_size")
        Traceback (most recent call last):
        ...
        tfsal.errors.UserError: batch_size must be a positive integer; got 0
    """
    return integer(value, name, minimum=1)


def non_negative_int(value, name):
    """``value`` as an ``int`` ≥ 0 (warm-up runs, channel indices, hint epochs).

    Example:
        >>> non_negative_int(0, "warmup")
        0
    """
    return integer(value, name, minimum=0)


def seed(value, name="seed"):
    """A random seed: an ``int`` in ``[0, 2**32 - 1]`` (:data:`MAX_SEED`).

    Example:
        >>> seed(-1)
        Traceback (most recent call last):
        ...
        tfsal.errors.UserError: seed must be an integer in [0, 4294967295]; got -1
    """
    return integer(value, name, minimum=0, maximum=MAX_SEED)


def number(value, name, minimum=None, maximum=None, min_open=False, max_open=False, what=None):
    """``value`` as a finite ``float`` within the bounds (``min_open`` / ``max_open`` exclude a bound).

    Args:
        value: the value to check (numbers and decimal strings; booleans, NaN and infinities are refused).
        name: the parameter's name for the message.
        minimum, maximum: the bounds (``None`` = unbounded).
        min_open, max_open: exclude the bound itself.
        what: the expectation in words (default from the bounds).

    Returns:
        The ``float``.

    Example:
        >>> number("0.5", "alpha", 0, 1)
        0.5
    """
    if what is None:
        if minimum == 0 and maximum is None:
            what = "a positive number" if min_open else "a non-negative number"
        else:
            lo = "-inf" if minimum is None else f"{minimum:g}"
            hi = "inf" if maximum is None else f"{maximum:g}"
            what = f"a number in {'(' if min_open or minimum is None else '['}{lo}, {hi}" \
                   f"{')' if max_open or maximum is None else ']'}"
    out = None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        out = float(value)
    elif isinstance(value, str):
        try:
            out = float(value.strip())
        except ValueError:
            out = None
    bad = out is None or not math.isfinite(out)
    if not bad and minimum is not None:
        bad = out <= minimum if min_open else out < minimum
    if not bad and maximum is not None:
        bad = out >= maximum if max_open else out > maximum
    if bad:
        raise UserError(f"{name} must be {what}; got {value!r}")
    return out


def positive_float(value, name):
    """``value`` as a finite ``float`` > 0 (learning rates, time budgets).

    Example:
        >>> positive_float(1e-3, "learning_rate")
        0.001
    """
    return number(value, name, minimum=0, min_open=True)


def non_negative_float(value, name):
    """``value`` as a finite ``float`` ≥ 0 (loss weights).

    Example:
        >>> non_negative_float(0, "teacher_weight")
        0.0
    """
    return number(value, name, minimum=0)


def fraction(value, name):
    """``value`` as a ``float`` in [0, 1] (blending weights such as an overlay's ``alpha``).

    Example:
        >>> fraction(0.5, "alpha")
        0.5
    """
    return number(value, name, minimum=0, maximum=1)


def correlation(value, name):
    """``value`` as a ``float`` in [-1, 1]: a threshold on a correlation coefficient (e.g. a parity ``min_cc``).

    Example:
        >>> correlation(0.99, "min_cc")
        0.99
    """
    return number(value, name, minimum=-1, maximum=1)


def image_size(value, name="image size"):
    """``(height, width)`` from ``"HxW"`` (e.g. ``"192x256"``) or a pair of positive integers.

    Example:
        >>> image_size((64, 96))
        (64, 96)
        >>> image_size("0x96")
        Traceback (most recent call last):
        ...
        tfsal.errors.UserError: image size must be HEIGHTxWIDTH with positive integers, such as 192x256; got '0x96'
    """
    try:
        parts = value.lower().split("x") if isinstance(value, str) else list(value)
        if len(parts) != 2:
            raise ValueError
        h, w = (integer(v, name, minimum=1) for v in parts)
    except (TypeError, ValueError):
        raise UserError(f"{name} must be HEIGHTxWIDTH with positive integers, such as 192x256; got {value!r}") from None
    return h, w


def int_list(value, name, minimum=1):
    """A tuple of integers ≥ ``minimum`` from ``"1,2"`` or an iterable (e.g. thread counts).

    Example:
        >>> int_list("1,2", "threads")
        (1, 2)
    """
    try:
        items = [v for v in value.split(",")] if isinstance(value, str) else list(value)
        if not items:
            raise ValueError
        return tuple(integer(v, name, minimum=minimum) for v in items)
    except (TypeError, ValueError):
        kind = "positive" if minimum == 1 else f">= {minimum}"
        raise UserError(f"{name} must be comma-separated {kind} integers such as 1,2; got {value!r}") from None


def _suffix_ok(path, suffixes):
    return suffixes is None or path.lower().endswith(tuple(s.lower() for s in suffixes))


def existing_file(path, what="file", suffixes=None):
    """``path`` as ``str`` when it is an existing file (with one of ``suffixes`` when given).

    Args:
        path: the path.
        what: what the file is, for the message (e.g. ``"model file"``).
        suffixes: allowed endings such as ``(".keras",)`` (case-insensitive), or ``None``.

    Returns:
        The path as ``str``.

    Example:
        >>> existing_file("no/such.keras", "model file")
        Traceback (most recent call last):
        ...
        FileNotFoundError: model file 'no/such.keras' does not exist
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{what} {path!r} is a folder; expected a file"
                                + (f" ending in {', '.join(suffixes)}" if suffixes else ""))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} {path!r} does not exist")
    if not _suffix_ok(path, suffixes):
        raise UserError(f"{what} {path!r} must end with {' or '.join(suffixes)}")
    return path


def existing_dir(path, what="folder"):
    """``path`` as ``str`` when it is an existing folder.

    Example:
        >>> existing_dir("no/such/folder", "dataset folder")
        Traceback (most recent call last):
        ...
        FileNotFoundError: dataset folder 'no/such/folder' does not exist
    """
    path = os.fspath(path)
    if os.path.isfile(path):
        raise NotADirectoryError(f"{what} {path!r} is a file; expected a folder")
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{what} {path!r} does not exist")
    return path


def new_file(path, what="output file", suffixes=None, overwrite=False):
    """``path`` as ``str`` when a file may be written there: no folder in the way, no file unless ``overwrite``.

    Args:
        path: the file to write.
        what: what it is, for the message.
        suffixes: allowed endings such as ``(".png",)``, or ``None``.
        overwrite: allow replacing an existing file.

    Returns:
        The path as ``str``.

    Raises:
        FileExistsError: the file exists and ``overwrite`` is false.
        IsADirectoryError: ``path`` is a folder.
        NotADirectoryError: a parent of ``path`` is a file.
        UserError: a wrong suffix.

    Example:
        >>> new_file("out.png", "--out", suffixes=(".png",))
        'out.png'
    """
    path = os.fspath(path)
    if not _suffix_ok(path, suffixes):
        raise UserError(f"{what} {path!r} must end with {' or '.join(suffixes)}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{what} {path!r} is a folder; expected a file name")
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{what} {path!r} already exists; choose another name or pass --overwrite "
                              "(overwrite=True) to replace it")
    parent = os.path.dirname(os.path.abspath(path))
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent) if os.path.dirname(parent) != parent else ""
    if parent and not os.path.isdir(parent):
        raise NotADirectoryError(f"{what} {path!r} cannot be written: {parent!r} is a file, not a folder")
    return path


def new_dir(path, what="output folder", allow_empty=True):
    """``path`` as ``str`` when a new folder may be made there: nothing there, or (``allow_empty``) an empty folder.

    Example:
        >>> new_dir("runs/new", "--out")
        'runs/new'
    """
    path = os.fspath(path)
    if os.path.isfile(path):
        raise FileExistsError(f"{what} {path!r} is an existing file; expected a new folder")
    if os.path.isdir(path) and not (allow_empty and not os.listdir(path)):
        raise FileExistsError(f"{what} {path!r} already exists and is not empty; choose a new folder")
    return path

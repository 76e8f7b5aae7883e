"""Files in and out: images read with errors that name the file; PNG, JSON and .npy outputs written atomically."""
import io
import json
import os
import tempfile

import cv2
import numpy as np

from tfsal.errors import UserError

__all__ = ["IMAGE_EXTENSIONS", "read_image", "atomic_write", "write_json", "write_npy", "write_png", "list_images"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def read_image(path):
    """Read an image file as RGB ``uint8`` ``(H, W, 3)``.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not a readable image.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image {path!r} does not exist")
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise UserError(f"cannot read {path!r}: not an image file (expected one of {', '.join(IMAGE_EXTENSIONS)})")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _umask():
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
    return _UMASK


_UMASK = None


def atomic_write(path, data, overwrite=True):
    """Write ``data`` (bytes or str) to ``path`` atomically: a temporary file in the same folder, then a rename.

    A reader never sees a half-written file, and an interrupted write (Ctrl-C, a full disk, a crash) leaves the old
    file, or nothing, behind: never a truncated one. Parent folders are created.

    Args:
        path: the file to write.
        data: ``bytes`` (written as is) or ``str`` (UTF-8).
        overwrite: replace an existing file; when false an existing file raises ``FileExistsError`` — checked
            atomically (a hard link that fails if the name exists), so two writers cannot both succeed.

    Returns:
        ``path``.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false.
        IsADirectoryError: ``path`` is a folder.

    Example:
        >>> atomic_write("/tmp/tfsal_doctest.txt", "hello")  # doctest: +SKIP
        '/tmp/tfsal_doctest.txt'
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"cannot write {path!r}: it is a folder")
    if isinstance(data, str):
        data = data.encode("utf-8")
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise FileExistsError(f"{path!r} already exists; pass --overwrite (overwrite=True) to replace it") \
                    from None
            except OSError:  # a file system without hard links
                if os.path.exists(path):
                    raise FileExistsError(f"{path!r} already exists; pass --overwrite (overwrite=True) to replace "
                                          "it") from None
                os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def write_json(path, obj, overwrite=True):
    """Write ``obj`` as indented JSON (with a final newline) atomically (:func:`atomic_write`).

    Example:
        >>> write_json("/tmp/tfsal_doctest.json", {"a": 1})  # doctest: +SKIP
    """
    return atomic_write(path, json.dumps(obj, indent=2) + "\n", overwrite=overwrite)


def write_npy(path, array, overwrite=True):
    """Write a NumPy array as ``.npy`` atomically (:func:`atomic_write`).

    Example:
        >>> write_npy("/tmp/tfsal_doctest.npy", np.zeros(3))  # doctest: +SKIP
    """
    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    return atomic_write(path, buf.getvalue(), overwrite=overwrite)


def write_png(path, array, overwrite=True):
    """Write an RGB ``(H, W, 3)`` or grey ``(H, W)`` ``uint8`` array as PNG, atomically (:func:`atomic_write`).

    Args:
        path: a ``.png`` file.
        array: the pixels; other dtypes are refused (no silent wrap-around).
        overwrite: replace an existing file (``False``: ``FileExistsError``).

    Returns:
        ``path``.

    Example:
        >>> write_png("/tmp/tfsal_doctest.png", np.zeros((4, 4), np.uint8))  # doctest: +SKIP
    """
    array = np.asarray(array)
    path = os.fspath(path)
    if not path.lower().endswith(".png"):
        raise UserError(f"cannot write {path!r}: write_png writes PNG files, expected a name ending in .png")
    if array.dtype != np.uint8:
        raise UserError(f"write_png expects uint8 pixels; got {array.dtype}")
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", array)
    if not ok:
        raise OSError(f"could not encode PNG {path!r} (array of shape {array.shape})")
    return atomic_write(path, encoded.tobytes(), overwrite=overwrite)


def list_images(path):
    """Image files for a file or folder argument: ``[path]`` for a file, sorted image files of a folder.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: a folder without image files.
    """
    path = os.fspath(path)
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{path!r} does not exist (expected an image file or a folder of images)")
    files = sorted(
        os.path.join(path, f) for f in os.listdir(path)
        if f.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(path, f))
    )
    if not files:
        raise UserError(f"folder {path!r} has no image files (expected {', '.join(IMAGE_EXTENSIONS)})")
    return files

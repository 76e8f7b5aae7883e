"""Files in and out: images read with errors that name the file (truncated ones refused); PNG, JSON and .npy
outputs written atomically; output-folder locks."""
import contextlib
import io
import json
import os
import socket
import struct
import tempfile

import cv2
import numpy as np

from tfsal.errors import UserError

__all__ = ["IMAGE_EXTENSIONS", "read_image", "read_image_reduced", "REDUCE_MARGIN", "atomic_write", "write_json",
           "write_npy", "write_png", "list_images",
           "image_size", "png_complete", "output_lock", "check_unlocked", "LOCK_NAME"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


_JPEG_SOI, _JPEG_EOI = b"\xff\xd8", b"\xff\xd9"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the last chunk of every PNG (length 0, type, CRC)
# EXIF orientations 5-8 rotate by 90 degrees: the decoded image (OpenCV applies the tag) has width and height swapped.
_EXIF_ORIENTATION_TAG, _EXIF_TRANSPOSED = 0x0112, (5, 6, 7, 8)


def _ends_complete(data):
    """``True`` when a JPEG or PNG byte string ends with its end marker (trailing NUL/whitespace padding allowed).

    Entropy-coded JPEG data never contains ``FF D9`` (``FF`` is byte-stuffed), so a JPEG cut anywhere before its end
    lacks the marker; ``None`` for other formats (no cheap check).
    """
    if data[:2] == _JPEG_SOI:
        return data.rstrip(b"\x00\r\n\t ").endswith(_JPEG_EOI)
    if data[:8] == _PNG_SIGNATURE:
        return data.rstrip(b"\x00\r\n\t ").endswith(_PNG_IEND)
    return None


def _check_not_truncated(data, path):
    """Raise ``UserError`` naming ``path`` when a JPEG/PNG is cut short (OpenCV decodes those with a grey tail).

    A file without its end marker is decoded fully with Pillow, which fails on truncated data and accepts a file
    that merely has extra bytes after its end marker.
    """
    if _ends_complete(data) is not False:
        return
    from PIL import Image

    kind = "JPEG" if data[:2] == _JPEG_SOI else "PNG"
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
    except Exception as err:  # PIL raises OSError, SyntaxError, ValueError... for broken data
        raise UserError(
            f"image {path!r} is truncated or corrupt: its {kind} data ends before the end-of-image marker "
            f"({len(data)} bytes; {err}); re-download or re-export it"
        ) from None


def _read_bytes(path):
    """The bytes of image file ``path`` (missing, unreadable, empty or truncated files refused)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image {path!r} does not exist")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        raise UserError(f"cannot read image {path!r}: {err.strerror or err}") from None
    if not data:
        raise UserError(f"cannot read image {path!r}: the file is empty (0 bytes)")
    _check_not_truncated(data, path)
    return data


def _decode(data, path, flags=cv2.IMREAD_COLOR):
    img = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if img is None:
        raise UserError(f"cannot read {path!r}: not an image file (expected one of {', '.join(IMAGE_EXTENSIONS)})")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB, dst=img)  # in place: no second full-size copy


def read_image(path):
    """Read an image file as RGB ``uint8`` ``(H, W, 3)``, refusing truncated files.

    OpenCV decodes the file (its EXIF orientation applied, as ``cv2.imread``); a JPEG or PNG that ends before its
    end-of-image marker is an error (OpenCV only warns "Premature end of JPEG file" and pads with grey).

    Args:
        path: an image file.

    Returns:
        The RGB ``uint8`` array.

    Raises:
        FileNotFoundError: the file does not exist.
        UserError: (a ``ValueError``) the file is not a readable image, is empty, or is truncated.

    Example:
        >>> import tfsal
        >>> tfsal.read_image(tfsal.data.read_examples("demo", "val")[0].image_path).dtype
        dtype('uint8')
    """
    return _decode(_read_bytes(path), os.fspath(path))


#: OpenCV's reduced JPEG decodes (libjpeg's DCT scaling: each side 1/8, 1/4 or 1/2), the smallest first.
_REDUCED_FLAGS = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2))
#: A reduced decode keeps each side at least this many times the model input's, so the antialiased resize to the
#: input still averages over several decoded pixels: maps equal the full decode's to CC >= 0.999 (measured on
#: OSIE photos upscaled to 48 MP: benchmarks/bench_big_jpeg.py).
REDUCE_MARGIN = 2


def _reduce_factor(full, min_size):
    """The largest libjpeg scale (8, 4, 2 or 1) keeping ``full`` ``(H, W)`` >= ``REDUCE_MARGIN × min_size``."""
    for factor, _ in _REDUCED_FLAGS:
        if all(-(-n // factor) >= REDUCE_MARGIN * m for n, m in zip(full, min_size)):
            return factor
    return 1


def read_image_reduced(path, min_size):
    """Read an image as RGB ``uint8`` no larger than needed to resize it to ``min_size``, and its full size.

    A JPEG whose header size (:func:`image_size`, EXIF orientation applied) is big enough that half of each side is
    still ``REDUCE_MARGIN × min_size`` is decoded at 1/2, 1/4 or 1/8 of each side (the smallest such scale) by
    libjpeg (``cv2.IMREAD_REDUCED_*``: its DCT scaling, faster than a full decode and a fraction of its memory: a
    48-megapixel photo, 8000x6000, decodes to 1000x750, 2.3 MB of pixels instead of 144 MB). Other files, and a
    ``min_size`` of ``None``, are read whole (:func:`read_image`).

    Args:
        path: an image file.
        min_size: ``(height, width)`` the image will be resized to (a model input), or ``None``.

    Returns:
        ``(image, (H, W))``: the (possibly reduced) RGB ``uint8`` pixels and the full image's size, as
        :func:`read_image` would return it.

    Raises:
        FileNotFoundError / UserError: as :func:`read_image`.

    Example:
        >>> import tfsal
        >>> img, size = read_image_reduced(tfsal.data.read_examples("demo", "val")[0].image_path, (192, 256))
        >>> img.shape[:2] == size  # an 800x600 photo is too small to reduce for a 192x256 input
        True
    """
    data = _read_bytes(path)
    path = os.fspath(path)
    full = image_size(io.BytesIO(data)) if min_size is not None and data[:2] == _JPEG_SOI else None
    factor = 1 if full is None else _reduce_factor(full, min_size)
    if factor > 1:
        img = _decode(data, path, dict(_REDUCED_FLAGS)[factor])
        if all(abs(n - factor * r) < factor for n, r in zip(full, img.shape[:2])):
            return img, full
        del img  # the header and the decoder disagree (an odd EXIF tag): decode in full
    img = _decode(data, path)
    return img, img.shape[:2]


def image_size(path):
    """``(height, width)`` of an image file from its header, as :func:`read_image` would return it (EXIF-aware).

    Args:
        path: an image file (or a binary file object).

    Returns:
        ``(H, W)``, or ``None`` when the header cannot be read.
    """
    from PIL import Image

    try:
        with Image.open(path if isinstance(path, io.IOBase) else os.fspath(path)) as im:
            w, h = im.size
            if im.getexif().get(_EXIF_ORIENTATION_TAG) in _EXIF_TRANSPOSED:
                w, h = h, w
    except Exception:  # unreadable header: the caller decodes the file and reports the real error
        return None
    return int(h), int(w)


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


#: PNG settings for saliency maps: zlib level 1, run-length strategy, the "up" filter (smooth maps compress well;
#: measured on a 1024x768 map: 7.5 ms and 146 kB against 23 ms and 153 kB with OpenCV's defaults).
_FAST_PNG = [
    cv2.IMWRITE_PNG_COMPRESSION, 1,
    cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE,
    *([cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP] if hasattr(cv2, "IMWRITE_PNG_FILTER") else []),
]


def write_png(path, array, overwrite=True, fast=False):
    """Write an RGB ``(H, W, 3)`` or grey ``(H, W)`` ``uint8`` array as PNG, atomically (:func:`atomic_write`).

    Args:
        path: a ``.png`` file.
        array: the pixels; other dtypes are refused (no silent wrap-around).
        overwrite: replace an existing file (``False``: ``FileExistsError``).
        fast: light, fast compression (:data:`_FAST_PNG`), for smooth pictures such as saliency maps.

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
    ok, encoded = cv2.imencode(".png", array, _FAST_PNG if fast else [])
    if not ok:
        raise OSError(f"could not encode PNG {path!r} (array of shape {array.shape})")
    return atomic_write(path, encoded.tobytes(), overwrite=overwrite)


def png_complete(path, shape=None):
    """Whether ``path`` is a whole PNG file (signature, header, final IEND chunk), of ``shape`` ``(H, W)`` if given."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
            f.seek(-len(_PNG_IEND), os.SEEK_END)
            tail = f.read()
    except OSError:
        return False
    if head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR" or tail != _PNG_IEND:
        return False
    width, height = struct.unpack(">II", head[16:24])
    return shape is None or (height, width) == tuple(shape)


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


# ----------------------------------------------------------------------------------------------------------------
# output-folder lock
# ----------------------------------------------------------------------------------------------------------------
LOCK_NAME = ".tfsal.lock"


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists, owned by someone else (or cannot tell: assume alive)
    return True


def _lock_info(lock_path):
    try:
        with open(lock_path) as f:
            return json.loads(f.read() or "{}")
    except (OSError, ValueError):
        return {}


def _held_error(folder, lock_path, info):
    who = f"pid {info.get('pid', '?')}" + (f" on {info['host']}" if info.get("host") else "")
    what = info.get("command") or "another tfsal run"
    return UserError(
        f"output folder {folder!r} is being written by {what} ({who}, lock file {lock_path!r}); wait for it to "
        "finish or choose another output folder"
    )


def _foreign_live_lock(info):
    """The lock of a running process (on this host, alive; on another host: cannot tell, so assumed running)."""
    pid = info.get("pid")
    if not isinstance(pid, int):
        return False
    if info.get("host") not in (None, socket.gethostname()):
        return True
    return pid != os.getpid() and _pid_alive(pid)


@contextlib.contextmanager
def output_lock(folder, command="tfsal"):
    """Hold an exclusive lock on output folder ``folder`` (created if missing) while the block runs.

    The lock is the file ``folder/.tfsal.lock`` holding the owner's pid, host and command. Where ``fcntl`` exists
    (Linux, macOS) the file is also ``flock``-ed, so a lock left by a killed process is free again at once;
    elsewhere a lock whose pid no longer runs on this host is taken over. The file is removed on exit.

    Args:
        folder: the output folder.
        command: what holds the lock, for the message another run shows.

    Yields:
        The lock file path.

    Raises:
        UserError: another running process holds the lock (the message names its pid and the lock file).

    Example:
        >>> with output_lock("maps/", "tfsal predict"):  # doctest: +SKIP
        ...     pass
    """
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    lock_path = os.path.join(folder, LOCK_NAME)
    try:
        import fcntl
    except ImportError:  # pragma: no cover (Windows)
        fcntl = None
    payload = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "command": command})
    fd = None
    for _attempt in range(10):
        if fcntl is None:  # pid-based: create exclusively, take over a stale lock
            try:
                fd = os.open(lock_path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
            except FileExistsError:
                info = _lock_info(lock_path)
                if _foreign_live_lock(info):
                    raise _held_error(folder, lock_path, info) from None
                with contextlib.suppress(OSError):
                    os.remove(lock_path)
                continue
            break
        fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            info = _lock_info(lock_path)
            os.close(fd)
            raise _held_error(folder, lock_path, info) from None
        try:  # the file we locked must still be the one at lock_path (the previous owner may have removed it)
            same = os.path.samestat(os.fstat(fd), os.stat(lock_path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
        fd = None
    if fd is None:
        raise UserError(f"could not take the lock {lock_path!r} (it keeps changing); is another run starting?")
    try:
        os.ftruncate(fd, 0)
        os.write(fd, payload.encode())
        yield lock_path
    finally:
        with contextlib.suppress(OSError):
            os.remove(lock_path)
        os.close(fd)


def check_unlocked(folder):
    """Raise the error :func:`output_lock` would raise when a running process holds ``folder``'s lock.

    A cheap early check (before loading a model); :func:`output_lock` still takes the lock atomically.

    Raises:
        UserError: the folder is locked by a running process (the message names its pid and the lock file).
    """
    folder = os.fspath(folder)
    lock_path = os.path.join(folder, LOCK_NAME)
    if not os.path.exists(lock_path):
        return
    try:
        import fcntl
    except ImportError:  # pragma: no cover
        info = _lock_info(lock_path)
        if _foreign_live_lock(info):
            raise _held_error(folder, lock_path, info) from None
        return
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError:
        raise _held_error(folder, lock_path, _lock_info(lock_path)) from None
    finally:
        os.close(fd)


def sha256_file(path):
    """The sha256 hex digest of a file, read in 1 MiB blocks.

    Example:
        >>> sha256_file("weights.npz")  # doctest: +SKIP
        '16eddba7...'
    """
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()

"""Run a saliency model on images of any size and write the maps at each image's own resolution, streaming.

:func:`iter_maps` decodes and resizes images in a small thread pool ahead of the model and yields one map per
image, in order, so memory stays bounded whatever the number of images. :func:`predict` writes each map as soon as
it is computed (atomically, in a second pool), shows progress, resumes, skips bad files on request and locks its
output folder. Models are anything :func:`tfsal.runtime.resolve_model` takes (``.keras``, ``.tflite``, ``.onnx``,
a ``keras.Model``, a registered name, or ``None`` for the shipped default).

Example:
    >>> from tfsal.predict import predict
    >>> predict("runs/fastsal/best_int8.tflite", "photos/", "maps/").summary()  # doctest: +SKIP
    'predicted 300 image(s) into maps/ (300 file(s)) in 4.9 s, 61.2 images/s'
"""
import collections
import concurrent.futures
import dataclasses
import difflib
import os
import time

import cv2
import numpy as np

from tfsal._draw import map_to_uint8
from tfsal._io import (check_unlocked, image_size, list_images, output_lock, png_complete, read_image_reduced,
                       write_npy, write_png)
from tfsal._progress import Progress
from tfsal.errors import UserError
from tfsal.models import known_names
from tfsal.runtime import is_model_argument, load_model, resize_image, resolve_model

__all__ = ["load_model", "predict_maps", "iter_maps", "predict", "PredictResult", "split_model_argument"]

#: Errors that make one image bad (unreadable, truncated, vanished); anything else is a bug and propagates.
_BAD_IMAGE_ERRORS = (UserError, FileNotFoundError)


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise UserError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def default_workers():
    """Threads for decoding (and as many for writing): the CPU count, at least 2 and at most 8."""
    return max(2, min(8, os.cpu_count() or 2))


class _Skip:
    """Marker for an image whose outputs are already complete (``--resume``)."""


def iter_maps(model, images, batch_size=8, workers=None, errors="raise", skip=None, reduced_decode=True):
    """Yield ``(image, map)`` for each image, in order, decoding ahead of the model in a thread pool.

    At most ``2 × max(batch_size, workers)`` images are decoded ahead of the model, so memory does not grow with the
    number of images; ``images`` may be a generator and is consumed lazily. Each image is resized with
    :func:`tfsal.runtime.resize_image` to the model input; each map is resized back to the image size (bilinear).

    Args:
        model: anything :func:`tfsal.runtime.resolve_model` accepts.
        images: image paths or RGB ``uint8`` arrays (an iterable).
        batch_size: images per forward pass (consecutive images of one input size).
        workers: decoding threads (default :func:`default_workers`).
        errors: ``"raise"``: a bad image raises its error after every earlier image's map was yielded;
            ``"yield"``: it is yielded as ``(image, exception)``.
        skip: optional ``callable(image) -> bool`` run in the decoding threads; ``True`` yields ``(image, None)``
            without decoding it.
        reduced_decode: decode a large JPEG file at 1/2, 1/4 or 1/8 of each side when it stays at least twice the
            model input (:func:`tfsal._io.read_image_reduced`: a 48-megapixel photo in a fraction of the memory and
            time); the map is still at the image's full size. ``False``: always decode in full.

    Yields:
        ``(image, map)``, the map a ``float32`` ``(H, W)`` array at the image's size (or an exception / ``None``).

    Example:
        >>> import numpy as np, tfsal
        >>> m = tfsal.models.create_model("fastsal-a", input_shape=(64, 96, 3))
        >>> [p.shape for _, p in iter_maps(m, [np.zeros((600, 800, 3), np.uint8)])]
        [(600, 800)]
    """
    batch_size = _positive_int(batch_size, "batch_size")
    workers = default_workers() if workers is None else _positive_int(workers, "workers")
    if errors not in ("raise", "yield"):
        raise UserError(f"errors must be 'raise' or 'yield'; got {errors!r}")
    runner = resolve_model(model)
    reduce_to = runner.input_size if reduced_decode else None  # a fully convolutional model runs at the image size

    def load(src):
        if skip is not None and skip(src):
            return _Skip
        if isinstance(src, (str, os.PathLike)):
            try:
                img, shape = read_image_reduced(src, reduce_to)
            except _BAD_IMAGE_ERRORS as err:
                if errors == "raise":
                    raise
                return err
        else:
            img = np.asarray(src)
            shape = img.shape[:2]
        return resize_image(img, runner.size_for((*shape, 3))), shape

    yield from _stream(runner, load, iter(images), batch_size, workers)


def _stream(runner, load, source, batch_size, workers):
    """The loop of :func:`iter_maps`: ``load`` runs ahead in a pool (at most ``2 × max(batch_size, workers)``
    images), consecutive images of one input size share a forward pass, each map is resized back to its image."""
    depth = 2 * max(batch_size, workers)
    pending = collections.deque()
    pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="tfsal-read")

    def fill():
        while len(pending) < depth:
            try:
                src = next(source)
            except StopIteration:
                return
            pending.append((src, pool.submit(load, src)))

    def flush(batch):
        maps = runner(np.stack([x for _, x, _ in batch]))
        for (src, _, (h, w)), m in zip(batch, maps):
            yield src, (m if m.shape == (h, w) else cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR))
        batch.clear()

    try:
        batch = []
        fill()
        while pending:
            src, fut = pending.popleft()
            try:
                res = fut.result()
            except BaseException:
                yield from flush(batch) if batch else ()
                raise
            fill()
            if res is _Skip or isinstance(res, BaseException):
                if batch:
                    yield from flush(batch)
                yield src, (None if res is _Skip else res)
                continue
            x, shape = res
            if batch and batch[0][1].shape != x.shape:
                yield from flush(batch)
            batch.append((src, x, shape))
            if len(batch) >= batch_size:
                yield from flush(batch)
        if batch:
            yield from flush(batch)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def predict_maps(model, images, batch_size=8):
    """Saliency maps for RGB images of any size, each returned at its image's own size.

    Each image is resized (bilinear, antialiased) to the model's input size, the model's output map is resized back
    to the image size with bilinear interpolation. Values are the model's own (e.g. [0, 1] for a sigmoid output).

    Args:
        model: anything :func:`tfsal.runtime.resolve_model` accepts (e.g. a ``keras.Model`` taking raw RGB
            ``(B, H, W, 3)`` in [0, 255], or a ``.tflite`` path).
        images: a list of RGB ``uint8`` arrays (or image paths).
        batch_size: images per forward pass.

    Returns:
        A list of ``float32`` maps ``(H_i, W_i)``.

    Example:
        >>> import numpy as np, tfsal
        >>> m = tfsal.models.create_model("fastsal-a", input_shape=(64, 96, 3))
        >>> [p.shape for p in predict_maps(m, [np.zeros((600, 800, 3), np.uint8)])]
        [(600, 800)]
    """
    return [m for _, m in iter_maps(model, images, batch_size=batch_size)]


# ----------------------------------------------------------------------------------------------------------------
# predict: maps written to a folder
# ----------------------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class PredictResult:
    """What :func:`predict` did.

    Attributes:
        out: the output folder.
        model: the model's label.
        predicted: images predicted and written by this run.
        skipped: images skipped because their outputs were complete (``resume``).
        bad: ``(path, reason)`` of each bad file skipped (``skip_bad``).
        files: files written (a PNG, and with ``save_npy`` an ``.npy``, per image).
        seconds: wall time of the prediction loop (model loading excluded).
    """

    out: str
    model: str
    predicted: int = 0
    skipped: int = 0
    bad: list = dataclasses.field(default_factory=list)
    files: int = 0
    seconds: float = 0.0

    def summary(self):
        """One line: counts, folder, time and rate."""
        rate = self.predicted / self.seconds if self.seconds > 0 else 0.0
        text = (f"predicted {self.predicted} image(s) into {self.out} ({self.files} file(s)) in "
                f"{self.seconds:.1f} s, {rate:.1f} images/s")
        if self.skipped:
            text += f"; skipped {self.skipped} already complete"
        if self.bad:
            text += f"; skipped {len(self.bad)} bad file(s): " + ", ".join(p for p, _ in self.bad[:5])
            text += ", ..." if len(self.bad) > 5 else ""
        return text


def split_model_argument(args, model=None):
    """Split ``tfsal predict [MODEL] IMAGES...`` arguments into ``(model, images)``.

    The first argument is the model when it is a model file (``.keras``, ``.tflite``, ``.onnx``) or a registered
    model name (:func:`tfsal.runtime.is_model_argument`) and more arguments follow; otherwise every argument is an
    image or a folder and the model is ``model`` (``--model``; ``None`` = the shipped default).

    Args:
        args: the positional arguments.
        model: the ``--model`` option, or ``None``.

    Returns:
        ``(model, images)``.

    Raises:
        UserError: no images, or two models (``--model`` and a model file first).
        FileNotFoundError: the first argument is neither an existing path nor a model.

    Example:
        >>> split_model_argument(["best.keras", "photos/"])
        ('best.keras', ['photos/'])
        >>> split_model_argument(["photos/", "more/"])  # doctest: +SKIP (existing folders)
        (None, ['photos/', 'more/'])
    """
    args = [os.fspath(a) for a in args]
    if args and is_model_argument(args[0]):
        if model is not None:
            raise UserError(f"two models given: --model {model!r} and {args[0]!r}; give one")
        if len(args) == 1:
            raise UserError(f"no images given after the model {args[0]!r}; expected image files or folders")
        return args[0], args[1:]
    if not args:
        raise UserError("no images given; expected image files or folders (and optionally a model first)")
    if not os.path.exists(args[0]):
        close = difflib.get_close_matches(args[0], known_names(), n=3, cutoff=0.6)
        hint = f"; did you mean the model {' or '.join(map(repr, close))}?" if close else ""
        raise FileNotFoundError(f"{args[0]!r} does not exist: expected an image file or folder, or first a model "
                                f"(a .keras, .tflite or .onnx file or a registered model name, see `tfsal models`)"
                                f"{hint}")
    return model, args


def _expand_inputs(inputs):
    """``(iterable of image paths, total or None)``; paths and lists of paths are listed now, generators lazily."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if isinstance(inputs, (list, tuple)):
        if not inputs:
            raise UserError("no images given; expected image files or folders")
        files = [f for item in inputs for f in list_images(item)]
        return files, len(files)

    def lazy():
        for item in inputs:
            if isinstance(item, (str, os.PathLike)) and os.path.isdir(item):
                yield from list_images(item)
            else:
                yield item

    return lazy(), None


def _targets(src, out, save_npy):
    stem = os.path.splitext(os.path.basename(os.fspath(src)))[0]
    png = os.path.join(out, stem + ".png")
    return (png, os.path.join(out, stem + ".npy")) if save_npy else (png,)


def _same_file(a, b):
    return os.path.abspath(a) == os.path.abspath(b) or (
        os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b))


def _check_target(src, targets, seen, overwrite, resume):
    """Refuse two inputs with one output name, an output that is an input, or (neither flag) an existing output."""
    stem = os.path.basename(targets[0])
    if stem in seen:
        raise UserError(f"{seen[stem]!r} and {os.fspath(src)!r} would both be written as {targets[0]!r}; rename one")
    seen[stem] = os.fspath(src)
    for t in targets:
        if _same_file(t, src):
            raise UserError(f"the map of {os.fspath(src)!r} would overwrite the image itself; choose another output "
                             "folder")
    if not (overwrite or resume):
        for t in targets:
            if os.path.exists(t):
                return t
    return None


def _complete(src, targets):
    """Whether every output of ``src`` exists, is whole and has the image's size (``--resume``)."""
    if not all(os.path.isfile(t) for t in targets):
        return False
    shape = image_size(src)
    if shape is None or not png_complete(targets[0], shape):
        return False
    if len(targets) > 1:
        try:
            arr = np.load(targets[1], mmap_mode="r")
        except (OSError, ValueError):
            return False
        if arr.shape != shape or arr.dtype != np.float32:
            return False
    return True


def _to_uint8(saliency):
    """:func:`tfsal._draw.map_to_uint8` in float32 with OpenCV (≈ 0.5 ms instead of ≈ 10 ms for 1024x768; equal to
    within one grey level from float32 rounding)."""
    if not cv2.checkRange(saliency):
        return map_to_uint8(saliency)  # NaN/inf: the reference handles them
    lo, hi, _, _ = cv2.minMaxLoc(saliency)
    if hi <= lo:
        return np.zeros(saliency.shape, np.uint8)
    scale = 255.0 / (hi - lo)
    return cv2.convertScaleAbs(saliency, alpha=scale, beta=-lo * scale)


def _write(saliency, targets):
    write_png(targets[0], _to_uint8(saliency), fast=True)
    if len(targets) > 1:
        write_npy(targets[1], saliency.astype(np.float32, copy=False))
    return len(targets)


def predict(model=None, inputs=None, out=None, save_npy=False, batch_size=8, overwrite=False, resume=False,
            skip_bad=False, workers=None, threads=None, progress=True, reduced_decode=True):
    """Predict saliency maps for images and folders, writing each map to ``out`` as soon as it is computed.

    Each ``NAME.ext`` gives ``out/NAME.png``: the map at the image's resolution, min-max normalised to 0-255 (the
    MIT benchmark's submission convention), and with ``save_npy`` ``out/NAME.npy``: the raw float32 map. Every file
    is written atomically (a temporary file renamed), so an interrupted run leaves only complete files, and
    ``resume`` continues it. Memory is bounded: images are decoded a few at a time ahead of the model
    (:func:`iter_maps`) and maps are written by a thread pool while the model runs. The output folder is locked
    (:func:`tfsal._io.output_lock`) against a second run writing into it.

    Args:
        model: anything :func:`tfsal.runtime.resolve_model` accepts: a ``.keras``, ``.tflite`` or ``.onnx`` path, a
            ``keras.Model``, a registered model name, or ``None`` for the shipped default model.
        inputs: an image file or a folder, a list of them, or any iterable (a generator is consumed lazily).
        out: the output folder (created when missing).
        save_npy: also write raw ``.npy`` maps.
        batch_size: images per forward pass.
        overwrite: replace existing output files.
        resume: skip images whose outputs are complete (right size, whole files); predict the others.
        skip_bad: skip unreadable, truncated or corrupt images (listed in the result) instead of stopping at the
            first one.
        workers: decoding threads and writing threads (default :func:`default_workers`).
        threads: threads of the LiteRT interpreter / ONNX Runtime (default: theirs).
        progress: show a progress bar on stderr (plain lines when stderr is not a terminal).
        reduced_decode: decode large JPEGs reduced (:func:`iter_maps`); ``False``: in full (the maps agree to CC
            >= 0.999; benchmarks/bench_big_jpeg.py compares the two).

    Returns:
        A :class:`PredictResult`.

    Raises:
        FileNotFoundError / UserError (a ``ValueError``): a missing input, a bad image (without ``skip_bad``: the
            message names it and says how many maps were written before it), a bad option.
        FileExistsError: an output file exists (without ``overwrite`` or ``resume``).
        UserError: another run is writing into ``out`` (its lock is held).

    Example:
        >>> predict("runs/fastsal/best.keras", "photos/", "maps/", resume=True)  # doctest: +SKIP
    """
    batch_size, workers, threads, out = _check_options(inputs, out, batch_size, workers, threads, overwrite, resume)
    sources, total = _expand_inputs(inputs)
    seen = {}
    if total is not None:  # a known list: refuse clashes and existing outputs before loading the model
        _refuse_existing(sources, out, save_npy, seen, overwrite, resume)
    runner = resolve_model(model, num_threads=threads)
    created = not os.path.isdir(out)
    result = PredictResult(out=out, model=runner.name)
    start = time.time()
    try:
        with output_lock(out, "tfsal predict"):
            _run(runner, sources, total, out, seen, result, save_npy, batch_size, overwrite, resume, skip_bad,
                 workers, progress, reduced_decode)
    finally:
        result.seconds = time.time() - start
        if created and result.files == 0 and result.skipped == 0:
            try:
                os.rmdir(out)  # nothing written: leave no empty folder behind
            except OSError:
                pass
    return result


def _check_options(inputs, out, batch_size, workers, threads, overwrite, resume):
    """:func:`predict`'s options checked: ``(batch_size, workers, threads, out)``; the output folder is unlocked."""
    batch_size = _positive_int(batch_size, "batch_size")
    workers = default_workers() if workers is None else _positive_int(workers, "workers")
    if threads is not None:
        threads = _positive_int(threads, "threads")
    if out is None:
        raise UserError("predict needs an output folder (out=..., --out DIR)")
    if inputs is None:
        raise UserError("predict needs images (an image file, a folder, or a list of them)")
    if overwrite and resume:
        raise UserError("overwrite and resume exclude each other: --resume keeps complete maps, --overwrite "
                         "replaces them; pass one")
    out = os.fspath(out)
    if os.path.exists(out) and not os.path.isdir(out):
        raise NotADirectoryError(f"output {out!r} is a file; expected a folder for the maps")
    if os.path.isdir(out):
        check_unlocked(out)
    return batch_size, workers, threads, out


def _refuse_existing(sources, out, save_npy, seen, overwrite, resume):
    """Refuse output-name clashes and (without ``overwrite``/``resume``) existing outputs of a known image list."""
    existing = [t for src in sources
                if (t := _check_target(src, _targets(src, out, save_npy), seen, overwrite, resume))]
    if existing:
        raise FileExistsError(f"{existing[0]!r} already exists ({len(existing)} output file(s) in all); pass "
                              "--resume to keep complete maps and predict the rest, --overwrite to replace "
                              "them, or choose another output folder")


def _run(runner, sources, total, out, seen, result, save_npy, batch_size, overwrite, resume, skip_bad, workers,
         progress, reduced_decode=True):
    """The loop of :func:`predict` (the output folder is locked): maps from :func:`iter_maps` to a writer pool."""
    bar = Progress(total, "predict") if progress else None
    writes = collections.deque()
    writer = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="tfsal-write")
    skip = (lambda src: _complete(src, _targets(src, out, save_npy))) if resume else None
    done = 0
    try:
        stream = iter_maps(runner, sources, batch_size, workers, "yield" if skip_bad else "raise", skip,
                           reduced_decode)
        try:
            for src, saliency in stream:
                done += 1
                if saliency is None:
                    result.skipped += 1
                elif isinstance(saliency, BaseException):
                    result.bad.append((os.fspath(src), str(saliency)))
                else:
                    targets = _targets(src, out, save_npy)
                    if total is None:  # a generator: check each output as it comes
                        clash = _check_target(src, targets, seen, overwrite, resume)
                        if clash:
                            raise FileExistsError(f"{clash!r} already exists; pass --resume, --overwrite or choose "
                                                  "another output folder")
                    writes.append(writer.submit(_write, saliency, targets))
                    result.predicted += 1
                    while len(writes) > 2 * workers or (writes and writes[0].done()):
                        result.files += writes.popleft().result()
                if bar:
                    bar.update(done, f"{len(result.bad)} bad" if result.bad else "")
        except _BAD_IMAGE_ERRORS as err:
            while writes:
                result.files += writes.popleft().result()
            if not result.predicted:
                raise
            raise type(err)(f"{err}; the {result.predicted} map(s) before it were written into {out!r} (rerun with "
                            "--resume to keep them; --skip-bad skips bad files)") from None
        while writes:
            result.files += writes.popleft().result()
        if bar:
            bar.close(done, f"{len(result.bad)} bad" if result.bad else "")
            bar = None
    finally:  # an interrupt or an error: the maps computed so far are still written (each file whole)
        writer.shutdown(wait=True)
        if bar:
            bar.close()  # no final count under the error message

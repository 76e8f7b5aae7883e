"""Run any tfsal model the same way: a ``keras.Model``, a ``.keras`` / ``.tflite`` / ``.onnx`` file, a registered
model name (its shipped weights), or nothing (the shipped default model).

:func:`resolve_model` returns a :class:`Runner`: a callable taking a batch of raw RGB pixels ``(B, H, W, 3)``
``float32`` in [0, 255] at the model's input size and returning ``float32`` maps ``(B, h, w)``. It knows its input
size (``None`` for a fully convolutional Keras model) and how many images one call may take. :func:`resize_image`
is the one preprocessing step (bilinear, antialiased: ``tf.image.resize(..., antialias=True)``, as training uses,
computed without TensorFlow).

Example:
    >>> from tfsal.runtime import resolve_model, resize_image
    >>> runner = resolve_model("best_int8.tflite")  # doctest: +SKIP
    >>> maps = runner(resize_image(image, runner.input_size)[None])  # doctest: +SKIP
"""
import functools
import os

import numpy as np

import tfsal.models  # the lazy front door: Keras and the builders load on first use, never for .tflite / .onnx
from tfsal._io import IMAGE_EXTENSIONS
from tfsal._quiet import quiet_block
from tfsal.errors import UserError
from tfsal.models import check_model_name, known_names, load_pretrained

__all__ = [
    "MODEL_SUFFIXES",
    "Runner",
    "KerasRunner",
    "TFLiteRunner",
    "OnnxRunner",
    "resolve_model",
    "load_model",
    "is_model_argument",
    "resize_image",
]

#: Model files tfsal runs: Keras (training's output) and the two export formats.
MODEL_SUFFIXES = (".keras", ".tflite", ".onnx")

#: A fully convolutional model (input ``(None, None, 3)``) runs each image at its size rounded down to a multiple
#: of this (FastSal's and the VGG decoders' total stride).
_STRIDE = 32


@functools.lru_cache(maxsize=64)
def _resize_weights(n_in, n_out):
    """The ``(n_out, n_in)`` sparse matrix of TensorFlow's antialiased bilinear resize along one axis.

    As ``tensorflow/core/kernels/image/scale_and_translate_op.cc`` (``ComputeSpansCore``) with the triangle kernel:
    output pixel ``i`` samples the input at ``c = (i + 0.5) · s`` (``s = n_in / n_out``), input pixel ``j`` weighs
    ``max(0, 1 - |j + 0.5 - c| / k)`` with ``k = max(s, 1)`` (antialiasing widens the kernel when shrinking), and
    each row is normalised to sum 1 over the pixels inside the image.
    """
    import scipy.sparse

    scale = n_in / n_out
    k = max(scale, 1.0)
    rows, cols, vals = [], [], []
    for i in range(n_out):
        c = (i + 0.5) * scale
        j = np.arange(max(0, int(np.ceil(c - k - 0.5))), min(n_in - 1, int(np.floor(c + k - 0.5))) + 1)
        w = np.maximum(0.0, 1.0 - np.abs((j + 0.5 - c) / k))
        rows.append(np.full(len(j), i))
        cols.append(j)
        vals.append(w / w.sum() if w.sum() > 0 else w)
    return scipy.sparse.csr_matrix(
        (np.concatenate(vals).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))), shape=(n_out, n_in))


def resize_image(image, size):
    """Resize an RGB image to the model input: bilinear, antialiased, raw pixels ``float32`` clipped to [0, 255].

    Computes ``tf.image.resize(image, size, "bilinear", antialias=True)`` (the training pipeline's resize) as two
    sparse matrix products (:func:`_resize_weights`, cached per size), without TensorFlow: equal to within float32
    rounding (measured max difference 3e-5 grey levels at 1024x768 → 192x256, 5e-4 at 4032x3024, 1.3e-3 when
    enlarging 57x70 → 64x96) and fast (measured, one thread under load: 7.4 ms at 1024x768 and 66 ms at
    4032x3024, against 10 and 190 ms for Pillow's triangle filter on float planes). SciPy releases the GIL, so
    decoding threads resize in parallel.

    Args:
        image: ``(H, W, 3)`` ``uint8`` or float pixels.
        size: ``(height, width)``.

    Returns:
        A ``float32`` array ``(height, width, 3)``.

    Example:
        >>> resize_image(np.zeros((600, 800, 3), np.uint8), (192, 256)).shape
        (192, 256, 3)
    """
    h, w = int(size[0]), int(size[1])
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"expected an RGB image (H, W, 3); got shape {img.shape}")
    big_h, big_w = img.shape[:2]
    if (big_h, big_w) == (h, w):
        return np.clip(img.astype(np.float32), 0, 255)
    x = img.reshape(big_h, big_w * 3).astype(np.float32)
    x = _resize_weights(big_h, h) @ x  # rows: (h, W * 3)
    x = x.reshape(h, big_w, 3).transpose(1, 0, 2).reshape(big_w, h * 3)
    x = _resize_weights(big_w, w) @ x  # columns: (w, h * 3)
    out = np.ascontiguousarray(x.reshape(w, h, 3).transpose(1, 0, 2), np.float32)
    return np.clip(out, 0, 255, out=out)


def _as_maps(y):
    y = np.asarray(y, np.float32)
    if y.ndim == 4:
        y = y[..., 0]
    if y.ndim != 3:
        raise UserError(f"expected the model to output maps (B, h, w) or (B, h, w, 1); got shape {y.shape}")
    return y


class Runner:
    """A model as a callable: ``(B, H, W, 3)`` raw RGB ``float32`` in [0, 255] → ``(B, h, w)`` ``float32`` maps.

    Attributes:
        name: a label (the file path or the model's name).
        kind: ``"keras"``, ``"tflite"`` or ``"onnx"``.
        input_size: ``(H, W)``, or ``None`` when any size works (fully convolutional; see :meth:`size_for`).
        max_batch: the most images one forward pass takes (``None``: any); bigger batches are split.
    """

    kind = "?"

    def __init__(self, name, input_size, max_batch):
        self.name = name
        self.input_size = None if input_size is None else (int(input_size[0]), int(input_size[1]))
        self.max_batch = None if max_batch is None else int(max_batch)

    def size_for(self, image_shape):
        """The input size for an image of ``image_shape`` ``(H, W, ...)``: the model's, or (fully convolutional)
        the image's rounded down to a multiple of 32."""
        if self.input_size is not None:
            return self.input_size
        return max(_STRIDE, image_shape[0] // _STRIDE * _STRIDE), max(_STRIDE, image_shape[1] // _STRIDE * _STRIDE)

    def __call__(self, batch):
        batch = np.asarray(batch, np.float32)
        if batch.ndim != 4 or batch.shape[-1] != 3:
            raise ValueError(f"expected a batch (B, H, W, 3) of RGB pixels; got shape {batch.shape}")
        if self.max_batch is None or len(batch) <= self.max_batch:
            return _as_maps(self._run(batch))
        step = self.max_batch
        return np.concatenate([_as_maps(self._run(batch[i:i + step])) for i in range(0, len(batch), step)])

    def _run(self, batch):  # pragma: no cover
        raise NotImplementedError

    def __repr__(self):
        size = "any" if self.input_size is None else "x".join(map(str, self.input_size))
        return f"<{type(self).__name__} {self.name!r} input {size}, batch {self.max_batch or 'any'}>"


class KerasRunner(Runner):
    """A ``keras.Model`` run as ``tf.function(model(x, training=False))``, traced once for any batch size (no
    ``predict`` per-call overhead)."""

    kind = "keras"

    def __init__(self, model, name=None):
        h, w = model.input_shape[1:3]
        super().__init__(name or model.name, None if h is None or w is None else (h, w), None)
        self.model = model
        self._fn = None

    def _run(self, batch):
        import tensorflow as tf

        if self._fn is None:  # one trace for every batch size (and image size, for a fully convolutional model)
            model = self.model
            spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)
            self._fn = tf.function(lambda x: model(x, training=False), input_signature=[spec], jit_compile=False)
        return np.asarray(self._fn(tf.constant(batch)), np.float32)


class TFLiteRunner(Runner):
    """A ``.tflite`` file in the LiteRT interpreter, fed raw pixels and (de)quantising int8/uint8 I/O as an app does.

    An integer input is fed ``q = round(pixel / scale + zero_point)`` (clipped to the dtype), an integer output read
    ``scale * (q - zero_point)``, with the file's own quantisation parameters.
    """

    kind = "tflite"

    def __init__(self, path, num_threads=None):
        from ai_edge_litert.interpreter import Interpreter

        path = os.fspath(path)
        try:
            with quiet_block():  # LiteRT's "INFO: Created TensorFlow Lite XNNPACK delegate" when tfsal is quiet
                self.interp = Interpreter(model_path=path, num_threads=num_threads)
                self.interp.allocate_tensors()
        except (ValueError, RuntimeError) as err:
            raise UserError(f"cannot load {path!r}: not a valid .tflite model ({str(err).splitlines()[0]})") from None
        self.inp = self.interp.get_input_details()[0]
        self.out = self.interp.get_output_details()[0]
        shape = self.inp["shape"]
        if len(shape) != 4 or shape[-1] != 3:
            raise UserError(f"{path!r} takes input shape {list(shape)}; expected an image batch (1, H, W, 3)")
        super().__init__(path, (shape[1], shape[2]), shape[0])

    def _run(self, x):
        dtype = self.inp["dtype"]
        if np.issubdtype(dtype, np.integer):
            scale, zp = self.inp["quantization"]
            info = np.iinfo(dtype)
            x = np.clip(np.round(x / scale + zp), info.min, info.max).astype(dtype)
        else:
            x = x.astype(dtype)
        self.interp.set_tensor(self.inp["index"], x)
        self.interp.invoke()
        y = self.interp.get_tensor(self.out["index"])
        if np.issubdtype(y.dtype, np.integer):
            scale, zp = self.out["quantization"]
            y = (y.astype(np.float32) - zp) * scale
        return y.astype(np.float32)


class OnnxRunner(Runner):
    """An ``.onnx`` file in ONNX Runtime (CPU provider; optional dependency ``pip install onnxruntime``)."""

    kind = "onnx"

    def __init__(self, path, num_threads=None):
        path = os.fspath(path)
        try:
            import onnxruntime as ort
        except ImportError:
            raise UserError(f"running {path!r} needs ONNX Runtime, which is not installed "
                             "(pip install onnxruntime)") from None
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if num_threads:
            opts.intra_op_num_threads = int(num_threads)
            opts.inter_op_num_threads = 1
        try:
            self.sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own exception types for unreadable files
            raise UserError(f"cannot load {path!r}: not a valid .onnx model ({str(err).splitlines()[0]})") from None
        i = self.sess.get_inputs()[0]
        self.name_in, shape = i.name, list(i.shape)
        if len(shape) != 4 or shape[-1] != 3:
            raise UserError(f"{path!r} takes input shape {shape}; expected an image batch (B, H, W, 3)")
        fixed = all(isinstance(s, int) for s in shape[1:3])
        super().__init__(path, tuple(shape[1:3]) if fixed else None, shape[0] if isinstance(shape[0], int) else None)

    def _run(self, x):
        return np.asarray(self.sess.run(None, {self.name_in: x.astype(np.float32)})[0], np.float32)


def load_model(path):
    """:func:`tfsal.models.load_keras_model`: a saved ``.keras`` tfsal model, every tfsal layer registered.

    Example:
        >>> model = load_model("runs/fastsal/best.keras")  # doctest: +SKIP
    """
    return tfsal.models.load_keras_model(path)


def _registered_names():
    """The saliency models' names (aliases included), known without importing a builder (or TensorFlow)."""
    return known_names(include_aliases=True)


def _pretrained(name=None):
    """``tfsal.models.load_pretrained(name)`` (the shipped weights), or a clear error where there are none."""
    what = f"model name {name!r}" if name else "no model given"
    try:
        return load_pretrained() if name is None else load_pretrained(name)
    except ValueError as err:  # e.g. no shipped weights for it
        raise UserError(f"{what}: {err}; pass a trained .keras, .tflite or .onnx file") from None


def is_model_argument(text):
    """Whether a command-line argument names a model rather than an image or a folder of images.

    A model is a path ending in ``.keras``, ``.tflite`` or ``.onnx`` (existing or not, so that a missing model file
    is reported as such), or a registered model name that is not also an existing path.

    Args:
        text: the argument.

    Returns:
        ``True`` for a model.

    Example:
        >>> is_model_argument("best_int8.tflite"), is_model_argument("photo.jpg")
        (True, False)
    """
    text = os.fspath(text)
    low = text.lower()
    if low.endswith(MODEL_SUFFIXES):
        return True
    if os.path.exists(text) or low.endswith(IMAGE_EXTENSIONS) or "/" in text or os.sep in text:
        return False
    return text in _registered_names()


def resolve_model(spec=None, num_threads=None):
    """A :class:`Runner` for any model tfsal can run.

    Args:
        spec: a :class:`Runner` (returned as is), a ``keras.Model`` (taking raw RGB in [0, 255]), the path of a
            ``.keras``, ``.tflite`` or ``.onnx`` file, a registered model name (its shipped weights,
            ``tfsal.models.load_pretrained(name)``), or ``None`` for the shipped default model.
        num_threads: threads of the LiteRT interpreter / ONNX Runtime (default: theirs); Keras uses TensorFlow's pool.

    Returns:
        The runner.

    Raises:
        FileNotFoundError: a model file that does not exist.
        UserError: (a ``ValueError``) an unreadable file, another file type, an unknown name, ONNX Runtime missing
            for ``.onnx``.

    Example:
        >>> import tfsal
        >>> r = resolve_model(tfsal.models.create_model("fastsal-a", input_shape=(64, 96, 3)))
        >>> r.input_size, r(np.zeros((2, 64, 96, 3), np.float32)).shape
        ((64, 96), (2, 64, 96))
    """
    if isinstance(spec, Runner):
        return spec
    if spec is None:
        return KerasRunner(_pretrained(None), name="pretrained default")
    if hasattr(spec, "predict_on_batch") and hasattr(spec, "input_shape"):
        return KerasRunner(spec)
    if not isinstance(spec, (str, os.PathLike)):
        raise UserError(f"expected a model: a keras.Model, a .keras/.tflite/.onnx path or a registered model name; "
                         f"got {type(spec).__name__} {spec!r}")
    text = os.fspath(spec)
    low = text.lower()
    if low.endswith(MODEL_SUFFIXES):
        if not os.path.isfile(text):
            raise FileNotFoundError(f"model file {text!r} does not exist")
        if low.endswith(".keras"):
            return KerasRunner(load_model(text), name=text)
        if low.endswith(".tflite"):
            return TFLiteRunner(text, num_threads=num_threads)
        return OnnxRunner(text, num_threads=num_threads)
    if os.path.exists(text) or (text not in _registered_names() and ("/" in text or os.sep in text
                                                                      or os.path.splitext(text)[1])):
        raise UserError(f"cannot use {text!r} as a model: expected a {', '.join(MODEL_SUFFIXES)} file or a "
                         "registered model name")
    try:
        check_model_name(text, task="saliency")  # before TensorFlow is imported
    except UserError as err:
        raise UserError(f"{err}; or give a {', '.join(MODEL_SUFFIXES)} model file") from None
    return KerasRunner(_pretrained(text), name=text)

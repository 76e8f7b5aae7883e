"""Export tfsal models for deployment: TFLite (float32, float16, dynamic-range int8, full-integer int8) and ONNX.

Every export (SPEC §6):

* uses builtin TFLite ops only (``TFLITE_BUILTINS``, plus ``TFLITE_BUILTINS_INT8`` for int8); a model that needs a
  Flex/SELECT_TF_OPS or custom op is refused with a message naming the op, and the ops of the written file are
  listed and checked once more;
* writes a JSON sidecar ``FILE.json`` next to the file with what an app needs (input size, pixel range and dtype,
  quantisation, output meaning, ops, parity results);
* runs the exported file in the runtime an app uses (the LiteRT interpreter, or ONNX Runtime for ``.onnx``) against
  the Keras model on real images and fails loudly (``ValueError``) when the mean CC between the maps is below a
  threshold (:data:`DEFAULT_MIN_CC`);
* exports FastSal-C through :func:`fold_fastsal_c`, an exactly equivalent decoder without the 1408-channel tensor,
  and FastSal-A through :func:`fold_fastsal_a` (its output conv moved before the last depth_to_space).

Example:
    >>> from tfsal.export import export_model
    >>> result = export_model("runs/fastsal/best.keras", quantize="int8")  # doctest: +SKIP
    >>> result.path, result.parity["cc_mean"]  # doctest: +SKIP
    ('runs/fastsal/best_int8.tflite', 0.997)
"""
import datetime
import logging
import os
import re
import time
from dataclasses import dataclass, field

import numpy as np

from tfsal import checks
from tfsal._io import atomic_write, list_images, read_image, sha256_file, write_json
from tfsal._quiet import quiet_block
from tfsal._version import __version__
from tfsal.errors import UserError
from tfsal.runtime import OnnxRunner, TFLiteRunner, resize_image

__all__ = [
    "FORMATS",
    "QUANTIZE_MODES",
    "DEFAULT_MIN_CC",
    "ExportResult",
    "export_model",
    "fold_fastsal_c",
    "fold_fastsal_a",
    "share_identical_vectors",
    "tflite_ops",
    "default_parity_images",
    "parity_check",
    "prepare_images",
    "RESIZE_METHOD",
]

log = logging.getLogger("tfsal.export")

#: One table of export formats: file suffix and the options each accepts (anything else is rejected).
FORMATS = {
    "tflite": {
        "suffix": ".tflite",
        "runtime": "LiteRT interpreter (ai-edge-litert)",
        "options": ("quantize", "io_dtype", "calibration", "num_calibration"),
    },
    "onnx": {
        "suffix": ".onnx",
        "runtime": "ONNX Runtime (optional: pip install onnxruntime tf2onnx)",
        "options": (),
    },
}

#: TFLite quantisation modes: ``none`` = float32, ``float16`` = float16 weights, ``dynamic`` = int8 weights with
#: float activations, ``int8`` = full-integer (weights and activations) calibrated on real images.
QUANTIZE_MODES = ("none", "float16", "dynamic", "int8")

#: Parity thresholds on the mean CC between the exported file's maps and the Keras model's maps.
DEFAULT_MIN_CC = {"none": 0.999, "float16": 0.999, "dynamic": 0.99, "int8": 0.99, "onnx": 0.999}

# Allowed input/output dtypes per quantize mode (first = default).
_IO_DTYPES = {"none": ("float32",), "float16": ("float32",), "dynamic": ("float32",), "int8": ("uint8", "int8")}

_OSIE_DEFAULT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "osie"))

#: How an app must resize images for the model, and the map back (as :func:`tfsal.predict.predict_maps` and the
#: parity check do).
RESIZE_METHOD = {
    "input": "bilinear with antialiasing (tf.image.resize(image, (height, width), 'bilinear', antialias=True)) of the "
             "whole image to the input size; aspect ratio not kept, no crop, no padding",
    "output": "bilinear (cv2.resize INTER_LINEAR) of the output map back to the image's own size",
}


@dataclass
class ExportResult:
    """What :func:`export_model` wrote.

    Attributes:
        path: the exported file.
        sidecar: the JSON sidecar (``path + ".json"``).
        format: ``"tflite"`` or ``"onnx"``.
        quantize: the TFLite quantisation mode (``None`` for ONNX).
        size_bytes: file size.
        seconds: conversion time (without the parity check).
        ops: ``{op name: count}`` of the exported file.
        parity: the parity results (see :func:`parity_check`).
        folded: whether the graph was folded (FastSal-C's decoder, FastSal-A's output conv).
        metadata: the sidecar content.
    """

    path: str
    sidecar: str
    format: str
    quantize: object
    size_bytes: int
    seconds: float
    ops: dict = field(default_factory=dict)
    parity: dict = field(default_factory=dict)
    folded: bool = False
    metadata: dict = field(default_factory=dict)

    def summary(self):
        """One line: path, size, time, parity."""
        p = self.parity
        return (
            f"{self.path}  {self.size_bytes / 1e6:.2f} MB  {self.seconds:.1f} s  "
            f"parity CC mean {p.get('cc_mean', float('nan')):.5f} (min {p.get('cc_min', float('nan')):.5f}), "
            f"max |diff| {p.get('max_abs_diff', float('nan')):.4f} on {p.get('num_images', 0)} images"
        )


# --------------------------------------------------------------------------------------------------------------
# FastSal-C fold
# --------------------------------------------------------------------------------------------------------------
def _subpixel_taps():
    """The 36 ``(u, v, sub, ri, rj, phase)`` of a 3×3 conv after ``depth_to_space(2)``, seen from before it.

    Tap ``(u, v)`` of output sub-pixel ``sub = 2·di + dj`` reads the half-resolution tensor at offset ``(ri, rj) =
    (floor((di+u)/2), floor((dj+v)/2))``, channel block ``phase = 2·((di+u) mod 2) + (dj+v) mod 2``.
    """
    for u in (-1, 0, 1):
        for v in (-1, 0, 1):
            for di in (0, 1):
                for dj in (0, 1):
                    ri, pi = divmod(di + u, 2)
                    rj, pj = divmod(dj + v, 2)
                    yield u, v, 2 * di + dj, ri, rj, 2 * pi + pj


def _is_fastsal_c(model):
    names = {layer.name for layer in model.layers}
    return {"fastsal_dec_concat", "fastsal_dec_d2s", "fastsal_out_conv", "fastsal_up2"} <= names


def fold_fastsal_c(model):
    """An exactly equivalent FastSal-C without the 1408-channel decoder tensor (SPEC §6).

    C's decoder is ``conv3x3(d2s(concat(a1, up2(a2), up4(a3), up8(a4))))`` (+ sigmoid). With ``X`` the concat at
    half resolution and ``Y = d2s(X)``, ``Y[2i+di, 2j+dj, c] = X[i, j, (2·di+dj)·C + c]``, so the 3×3 conv's tap
    ``(u, v)`` at output sub-pixel ``(di, dj)`` reads ``X`` at ``(i + floor((di+u)/2), j + floor((dj+v)/2))``,
    sub-pixel phase ``((di+u) mod 2, (dj+v) mod 2)``. Each of the 36 ``(u, v, di, dj)`` products is a 1×1 conv of
    ``X``; 1×1 convs distribute over the concat and commute with bilinear resizing (a per-pixel linear map), so each
    branch is projected to 36 channels at its own resolution, upsampled with the same ``ResizeBilinear``, and the
    four are summed. A fixed 3×3 "selection" conv (36 → 4, entries 0/1, carrying the original bias) applies the
    half-resolution shifts ``floor((d+u)/2) ∈ {-1, 0, 1}``; its zero 'same' padding is exactly the original conv's
    zero padding (``Y`` is outside the image iff ``X`` is). ``depth_to_space(2)`` gives the 1-channel map.

    Args:
        model: a FastSal-C ``keras.Model`` (``tfsal.models.fastsal_c``, trained or not).

    Returns:
        A new ``keras.Model`` (sharing the encoder and adaptation layers with ``model``) with the same input and
        output; maps agree to float rounding (max abs difference ≈ 1e-6).

    Raises:
        ValueError: ``model`` is not a FastSal-C model.

    Example:
        >>> from tfsal.models import fastsal_c
        >>> m = fastsal_c(input_shape=(64, 96, 3))
        >>> fold_fastsal_c(m).output_shape
        (None, 64, 96, 1)
    """
    import keras
    from keras import layers

    from tfsal.layers import DepthToSpace, ResizeBilinear

    if not _is_fastsal_c(model):
        raise UserError(
            f"fold_fastsal_c expects a FastSal-C model (layers fastsal_dec_concat, fastsal_dec_d2s, fastsal_out_conv); "
            f"got model {model.name!r}"
        )
    d2s = model.get_layer("fastsal_dec_d2s")
    if d2s.block_size != 2:
        raise UserError(f"fold_fastsal_c expects depth_to_space(2); got block size {d2s.block_size}")
    out_conv = model.get_layer("fastsal_out_conv")
    kernel, bias = (np.asarray(w, np.float64) for w in out_conv.get_weights())  # (3, 3, C, 1), (1,)
    if kernel.shape[:2] != (3, 3) or kernel.shape[-1] != 1 or out_conv.padding != "same":
        raise UserError(f"fold_fastsal_c expects a 3x3 'same' conv to 1 channel; got kernel {kernel.shape}")
    c = kernel.shape[2]  # 352 channels after depth_to_space

    # w_full[(2·pi+pj)·C + ch, k] with k = index of (u, v, di, dj); sel[ri+1, rj+1, k, 2·di+dj] = 1.
    w_full = np.zeros((4 * c, 36), np.float64)
    sel = np.zeros((3, 3, 36, 4), np.float32)
    for k, (u, v, sub, ri, rj, phase) in enumerate(_subpixel_taps()):
        w_full[phase * c:(phase + 1) * c, k] = kernel[u + 1, v + 1, :, 0]
        sel[ri + 1, rj + 1, k, sub] = 1.0

    branch_tensors = []  # (tensor after adaptation ReLU, upsampling layer or None)
    for level in (1, 2, 3, 4):
        relu = model.get_layer(f"fastsal_adapt{level}_relu").output
        up = None if level == 1 else model.get_layer(f"fastsal_up{level}")
        branch_tensors.append((relu, up))
    widths = [int(t.shape[-1]) for t, _ in branch_tensors]
    if sum(widths) != 4 * c:
        raise ValueError(f"fold_fastsal_c: branch widths {widths} do not add up to 4 x {c} channels")

    projected = []
    start = 0
    for level, ((tensor, up), width) in enumerate(zip(branch_tensors, widths), start=1):
        proj = layers.Conv2D(36, 1, use_bias=False, name=f"fastsal_fold_proj{level}", dtype="float32")
        y = proj(tensor)
        proj.set_weights([w_full[start:start + width].reshape(1, 1, width, 36).astype(np.float32)])
        start += width
        if up is not None:
            y = ResizeBilinear(up.scale, name=f"fastsal_fold_up{level}", dtype="float32")(y)
        projected.append(y)
    x = layers.Add(name="fastsal_fold_sum")(projected)
    select = layers.Conv2D(4, 3, padding="same", name="fastsal_fold_select", dtype="float32")
    x = select(x)
    select.set_weights([sel, np.full((4,), bias[0], np.float32)])
    x = DepthToSpace(2, name="fastsal_fold_d2s", dtype="float32")(x)
    return keras.Model(model.inputs, _fastsal_tail(model, x), name=f"{model.name}_folded")


def _fastsal_tail(model, x):
    """FastSal's output activation (and its optional ``fastsal_blur``) applied to folded logits ``x``."""
    from keras import layers

    activation = model.get_layer("fastsal_out").get_config().get("activation", "linear")
    x = layers.Activation(activation, name="fastsal_out", dtype="float32")(x)
    if "fastsal_blur" in {layer.name for layer in model.layers}:
        x = model.get_layer("fastsal_blur")(x)
    return x


def _is_fastsal_a(model):
    names = {layer.name for layer in model.layers}
    return {"fastsal_dec1_d2s", "fastsal_out_conv", "fastsal_out", "fastsal_dec1_add"} <= names


def _subpixel_kernel(kernel):
    """A 3×3 conv after ``depth_to_space(2)`` as a 3×3 conv before it (4 outputs, one per sub-pixel).

    ``kernel`` is ``(3, 3, C, 1)`` acting on ``Y = d2s(X)`` (``X`` with ``4·C`` channels); the result ``(3, 3, 4·C,
    4)`` acts on ``X``, output channel ``2·di + dj`` giving ``Y``-resolution pixel ``(2i+di, 2j+dj)``: tap ``(u, v)``
    reads ``X`` at ``(i + floor((di+u)/2), j + floor((dj+v)/2))``, channel block ``2·((di+u) mod 2) + (dj+v) mod 2``.
    """
    c = kernel.shape[2]
    out = np.zeros((3, 3, 4 * c, 4), np.float64)
    for u, v, sub, ri, rj, phase in _subpixel_taps():
        out[ri + 1, rj + 1, phase * c:(phase + 1) * c, sub] += kernel[u + 1, v + 1, :, 0]
    return out


def fold_fastsal_a(model):
    """An exactly equivalent FastSal-A whose 3×3 output conv runs at half resolution (SPEC §6, as the C fold).

    A's last layers are ``sigmoid(conv3x3(d2s(y)))`` with ``y`` the ``(H/2, W/2, 8)`` output of the last decoder
    block: a 1-output, 2-input-channel conv over every full-resolution pixel, which XNNPACK runs poorly (measured:
    ≈ 20 % of the int8 model's time). The same conv is a 3×3 conv of ``y`` to 4 channels (one per sub-pixel,
    :func:`_subpixel_kernel`) followed by ``depth_to_space(2)``; 'same' zero padding matches exactly, since a pixel
    of ``d2s(y)`` is outside the image iff its ``y`` pixel is.

    Args:
        model: a FastSal-A ``keras.Model`` (``tfsal.models.fastsal_a``).

    Returns:
        A new ``keras.Model`` sharing every other layer with ``model``; same input, same output to float rounding.

    Raises:
        ValueError: ``model`` is not a FastSal-A model.

    Example:
        >>> from tfsal.models import fastsal_a
        >>> fold_fastsal_a(fastsal_a(input_shape=(64, 96, 3))).output_shape
        (None, 64, 96, 1)
    """
    import keras
    from keras import layers

    from tfsal.layers import DepthToSpace

    if not _is_fastsal_a(model):
        raise UserError(f"fold_fastsal_a expects a FastSal-A model (layers fastsal_dec1_d2s, fastsal_out_conv); "
                         f"got model {model.name!r}")
    d2s, out_conv = model.get_layer("fastsal_dec1_d2s"), model.get_layer("fastsal_out_conv")
    kernel, bias = (np.asarray(w, np.float64) for w in out_conv.get_weights())
    if d2s.block_size != 2 or kernel.shape[:2] != (3, 3) or kernel.shape[-1] != 1 or out_conv.padding != "same":
        raise UserError(f"fold_fastsal_a expects depth_to_space(2) then a 3x3 'same' conv to 1 channel; got block "
                         f"size {d2s.block_size}, kernel {kernel.shape}, padding {out_conv.padding!r}")
    y = model.get_layer("fastsal_dec1_add").output
    conv = layers.Conv2D(4, 3, padding="same", name="fastsal_fold_out_conv", dtype="float32")
    x = conv(y)
    conv.set_weights([_subpixel_kernel(kernel).astype(np.float32), np.full((4,), bias[0], np.float32)])
    x = DepthToSpace(2, name="fastsal_fold_d2s", dtype="float32")(x)
    return keras.Model(model.inputs, _fastsal_tail(model, x), name=f"{model.name}_folded")


# --------------------------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------------------------
def prepare_images(images, size):
    """Resize RGB images to the model input as ``tfsal predict`` does (:func:`tfsal.runtime.resize_image`).

    Args:
        images: RGB ``uint8`` arrays or image paths.
        size: ``(H, W)``.

    Returns:
        A ``float32`` array ``(N, H, W, 3)`` of raw pixels in [0, 255].
    """
    return np.stack([resize_image(read_image(img) if isinstance(img, (str, os.PathLike)) else img, size)
                     for img in images]).astype(np.float32)


def default_parity_images(num=100):
    """The default real images of the parity check: OSIE test split (topped up with val) if present, else demo val.

    Args:
        num: at most this many images.

    Returns:
        ``(paths, description)``.
    """
    from tfsal.data import read_examples

    if os.path.isdir(_OSIE_DEFAULT):
        paths = [e.image_path for e in read_examples(_OSIE_DEFAULT, "test")]
        desc = "OSIE test split"
        if len(paths) < num:
            extra = [e.image_path for e in read_examples(_OSIE_DEFAULT, "val")][: num - len(paths)]
            if extra:
                desc = f"OSIE test split + {len(extra)} val images"
            paths += extra
        return paths[:num], desc
    paths = [e.image_path for e in read_examples("demo", "val")]
    return paths[:num], "demo val split"


def _calibration_paths(calibration, num):
    if calibration is None:
        from tfsal.data import read_examples

        paths = [e.image_path for e in read_examples("demo", "train")]
        desc = "demo train split"
    else:
        calibration = os.fspath(calibration)
        if not os.path.isdir(calibration):
            raise FileNotFoundError(f"calibration folder {calibration!r} does not exist (expected a folder of images)")
        try:
            paths = list_images(calibration)
        except ValueError:
            raise UserError(f"calibration folder {calibration!r} has no images (need real RGB images)") from None
        desc = _portable(calibration)
    rng = np.random.default_rng(0)
    if len(paths) > num:
        paths = [paths[i] for i in sorted(rng.choice(len(paths), num, replace=False))]
    return paths, desc


# --------------------------------------------------------------------------------------------------------------
# TFLite
# --------------------------------------------------------------------------------------------------------------
def tflite_ops(path_or_content):
    """The ops of a ``.tflite`` file, as ``{op name: count}`` (LiteRT interpreter, before delegation).

    Args:
        path_or_content: a ``.tflite`` path or its bytes.

    Returns:
        A dict from op name (e.g. ``"CONV_2D"``) to the number of uses.
    """
    from ai_edge_litert.interpreter import Interpreter

    if isinstance(path_or_content, (bytes, bytearray)):
        interp = Interpreter(model_content=bytes(path_or_content),
                             experimental_op_resolver_type=_no_delegate_resolver())
    else:
        interp = Interpreter(model_path=os.fspath(path_or_content),
                             experimental_op_resolver_type=_no_delegate_resolver())
    counts = {}
    for op in interp._get_ops_details():
        counts[op["op_name"]] = counts.get(op["op_name"], 0) + 1
    return dict(sorted(counts.items()))


def _no_delegate_resolver():
    from ai_edge_litert.interpreter import OpResolverType

    return OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES


# Resource-variable ops mean weights were not frozen into the file: refused like Flex/custom ops.
_VARIABLE_OPS = ("VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "CALL_ONCE")


def _bad_ops(ops):
    return sorted(
        n for n in ops
        if n.startswith("Flex") or n in ("CUSTOM", "DELEGATE") + _VARIABLE_OPS or not n.replace("_", "").isupper()
    )


def _unsupported_op_error(err):
    text = str(err)
    names = sorted(set(re.findall(r"'(tf\.[A-Za-z0-9_]+)'", text)) | set(re.findall(r"\b(Flex[A-Za-z0-9_]+)", text)))
    first = next((line for line in text.splitlines() if "op" in line and ("not" in line or "unsupported" in line)), "")
    named = ", ".join(names) if names else (first.strip()[:300] or text.strip()[:300])
    return UserError(
        f"TFLite conversion with builtin ops only failed: unsupported op(s) {named}. "
        "tfsal exports never use Flex/SELECT_TF_OPS ops (a stock Android LiteRT runtime lacks them); "
        "replace the layer that produces this op"
    )


def _convert_tflite(model, quantize, io_dtype, rep_images, progress):
    import tensorflow as tf

    h, w, ch = model.input_shape[1:]
    spec = tf.TensorSpec((1, h, w, ch), tf.float32, name="image")

    @tf.function(input_signature=[spec])
    def serve(image):
        return model(image, training=False)

    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    # Freeze the weights into constants first: a Keras 3 model as the converter's trackable object leaves
    # VAR_HANDLE/READ_VARIABLE ops (and unfused BatchNorm) in the file.
    frozen = convert_variables_to_constants_v2(serve.get_concrete_function())
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.allow_custom_ops = False
    if quantize == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantize == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8 if io_dtype == "uint8" else tf.int8
        converter.inference_output_type = tf.uint8 if io_dtype == "uint8" else tf.int8

        def representative():
            from tfsal._progress import Progress

            bar = Progress(len(rep_images), "int8 calibration") if progress else None
            for i, x in enumerate(rep_images):
                yield [x[None]]
                if bar:
                    bar.update(i + 1)
            if bar:
                bar.close()

        converter.representative_dataset = representative
    try:
        return converter.convert()
    except Exception as err:  # ConverterError and friends
        text = str(err)
        if "neither a custom op nor a flex op" in text or "not supported" in text.lower() or "Flex" in text:
            raise _unsupported_op_error(err) from None
        raise


def share_identical_vectors(content):
    """The same ``.tflite`` model with identical zero-point vectors stored once (a smaller, equivalent file).

    The converter writes every per-channel quantised tensor's zero points as its own int64 vector — all zeros for
    int8 weights, 8 bytes per channel: 0.34 MB of FastSal-A's 4.27 MB int8 file. A FlatBuffer may point many
    tables at one vector, so the model is re-packed (as ``tensorflow/lite/tools/flatbuffer_utils.py`` does) with
    one copy of each distinct zero-point vector. Ops, weights, scales and results are unchanged (a test checks the
    outputs are bit-identical).

    Args:
        content: the bytes of a ``.tflite`` file.

    Returns:
        The bytes of the re-packed file.
    """
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    class _SharingBuilder(flatbuffers.Builder):
        def __init__(self, size):
            super().__init__(size)
            self.shared = {}

        def CreateNumpyVector(self, x):  # noqa: N802 (FlatBuffers' name)
            x = np.asarray(x)
            if x.dtype != np.int64:  # zero points are the only int64 vectors of a TFLite model
                return super().CreateNumpyVector(x)
            key = (x.shape, x.tobytes())
            if key not in self.shared:
                self.shared[key] = super().CreateNumpyVector(x)
            return self.shared[key]

    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    builder = _SharingBuilder(len(content))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


# The runners of exported files live in tfsal.runtime (predict, evaluate and crop run .tflite/.onnx files with them).
_TFLiteRunner, _OnnxRunner = TFLiteRunner, OnnxRunner


def _cc(a, b):
    a = a.ravel().astype(np.float64) - a.mean()
    b = b.ravel().astype(np.float64) - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else float(np.allclose(a, b))


def parity_check(model, runner, images, batch_size=8):
    """Compare an exported model with the Keras model on images: CC per image and max abs difference.

    Args:
        model: the ``keras.Model`` (the reference; for FastSal-C the unfolded model).
        runner: a callable mapping one ``(1, H, W, 3)`` float32 raw-pixel batch to the exported model's maps
            ``(1, h, w)`` (a :class:`tfsal.runtime.Runner`).
        images: ``(N, H, W, 3)`` float32 raw pixels at the model input size.
        batch_size: Keras batch size.

    Returns:
        A dict with ``num_images``, ``cc_mean``, ``cc_min``, ``max_abs_diff``, ``mean_abs_diff``.
    """
    ccs, max_diff, mean_diffs = [], 0.0, []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        ref = np.asarray(model.predict_on_batch(batch), np.float32)
        ref = ref[..., 0] if ref.ndim == 4 else ref
        for x, r in zip(batch, ref):
            y = runner(x[None])[0]
            ccs.append(_cc(r, y))
            diff = np.abs(r - y)
            max_diff = max(max_diff, float(diff.max()))
            mean_diffs.append(float(diff.mean()))
    return {
        "num_images": len(ccs),
        "cc_mean": float(np.mean(ccs)),
        "cc_min": float(np.min(ccs)),
        "max_abs_diff": max_diff,
        "mean_abs_diff": float(np.mean(mean_diffs)),
    }


# --------------------------------------------------------------------------------------------------------------
# export_model
# --------------------------------------------------------------------------------------------------------------
def _portable(path):
    """A path for the sidecar, which travels with the file to another machine: never an absolute local path (the
    folder or file name alone then)."""
    path = os.fspath(path)
    return os.path.basename(os.path.normpath(path)) if os.path.isabs(path) else os.path.normpath(path)


def _load(model):
    if hasattr(model, "predict_on_batch"):
        return model, getattr(model, "name", "model"), None
    from tfsal.predict import load_model

    path = os.fspath(model)
    if not path.endswith(".keras"):
        raise UserError(f"expected a .keras model file; got {path!r}")
    return load_model(path), None, path


def _shipped_model(model, quantize=None):
    """A registered name with shipped weights (``"fastsal-a"``) as that ready model, named ``MODEL_WEIGHTS``.

    For ``quantize="int8"`` the int8-ready weights (``"osie-eyecrowd-int8"``) are used where they are shipped.
    """
    if not isinstance(model, str) or os.path.exists(model) or model.endswith(".keras"):
        return None
    from tfsal.models import list_models, load_pretrained, model_info

    if model not in list_models(include_aliases=True):
        return None
    from tfsal.models._pretrained import DEFAULT_WEIGHTS, shipped_names

    entry = model_info(model)
    canonical = entry.alias_of or entry.name
    weights = DEFAULT_WEIGHTS + "-int8" if quantize == "int8" else DEFAULT_WEIGHTS
    net = load_pretrained(model, weights if weights in shipped_names(canonical) else None)
    net.name = f"{canonical}_{weights}".replace("-", "_")
    return net


def _default_out(source, model_name, fmt, quantize):
    suffix = FORMATS[fmt]["suffix"]
    tag = "" if fmt == "onnx" else ("_float32" if quantize == "none" else f"_{quantize}")
    if source:
        return os.path.splitext(source)[0] + tag + suffix
    return f"{model_name}{tag}{suffix}"


def _io_details(path, fmt):
    if fmt == "onnx":
        import onnxruntime as ort

        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        i, o = sess.get_inputs()[0], sess.get_outputs()[0]
        return (
            {"name": i.name, "shape": list(i.shape), "dtype": "float32", "quantization": None},
            {"name": o.name, "shape": list(o.shape), "dtype": "float32", "quantization": None},
        )
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=path)
    res = []
    for d in (interp.get_input_details()[0], interp.get_output_details()[0]):
        dtype = np.dtype(d["dtype"]).name
        scale, zp = d["quantization"]
        q = {"scale": float(scale), "zero_point": int(zp)} if np.issubdtype(d["dtype"], np.integer) else None
        res.append({"name": d["name"], "shape": [int(s) for s in d["shape"]], "dtype": dtype, "quantization": q})
    return tuple(res)


def export_model(
    model,
    out=None,
    format="tflite",
    quantize=None,
    io_dtype=None,
    calibration=None,
    num_calibration=None,
    parity_images=None,
    num_parity=100,
    min_cc=None,
    fold=True,
    overwrite=False,
    progress=True,
    registered_name=None,
):
    """Export a tfsal model to TFLite or ONNX, write its JSON sidecar and check parity with the Keras model.

    Args:
        model: a ``.keras`` path, a ``keras.Model`` taking raw RGB ``(B, H, W, 3)`` in [0, 255] (fixed H, W), or
            a registered name with shipped weights (``"fastsal-a"``: :func:`tfsal.models.load_pretrained`).
        out: the file to write; default: the model path with ``_{quantize}.tflite`` / ``.onnx``.
        format: a key of :data:`FORMATS` (``"tflite"`` or ``"onnx"``).
        quantize: TFLite only; one of :data:`QUANTIZE_MODES` (default ``"none"`` = float32).
        io_dtype: int8 only: ``"uint8"`` (default; feed Bitmap bytes) or ``"int8"`` input and output.
        calibration: int8 only: a folder of real images for the representative dataset (default: demo train).
        num_calibration: int8 only: at most this many calibration images (default 100).
        parity_images: a folder of images, a list of paths / RGB arrays, or ``None`` for
            :func:`default_parity_images` (OSIE test split if present, else demo val).
        num_parity: at most this many parity images.
        min_cc: fail when the mean parity CC is below this (default :data:`DEFAULT_MIN_CC` for the mode).
        fold: export FastSal-C through :func:`fold_fastsal_c` and FastSal-A through :func:`fold_fastsal_a` (exact
            rewrites; the parity reference is always the unfolded model).
        overwrite: replace an existing output file and sidecar.
        progress: show a progress bar during int8 calibration.
        registered_name: the model's registered name (e.g. ``"fastsal-a"``) for the sidecar's facts (preprocessing,
            output kind and range, :func:`tfsal.models._registry.model_facts`); ``None`` → from its Keras name.

    Returns:
        An :class:`ExportResult`. The sidecar also records the file's ``sha256``, the ``resize`` method
        (:data:`RESIZE_METHOD`) and no absolute paths (file and folder names only).

    Raises:
        ValueError: bad option (unknown format or mode, an option the format does not accept), a non-``.keras``
            path, an empty calibration folder, an unsupported op, a Flex/custom op in the file, or parity below
            ``min_cc``.
        FileNotFoundError: a missing model or calibration folder.
        FileExistsError: ``out`` or its sidecar exists and ``overwrite`` is false.

    Example:
        >>> r = export_model("runs/fastsal/best.keras", quantize="int8")  # doctest: +SKIP
        >>> print(r.summary())  # doctest: +SKIP
    """
    if format not in FORMATS:
        raise UserError(f"unknown export format {format!r}; expected one of {', '.join(FORMATS)}")
    given = {"quantize": quantize, "io_dtype": io_dtype, "calibration": calibration,
             "num_calibration": num_calibration}
    for name, value in given.items():
        if value is not None and name not in FORMATS[format]["options"]:
            allowed = ", ".join(FORMATS[format]["options"]) or "none"
            raise UserError(f"option {name}={value!r} is not supported by format {format!r} (its options: {allowed})")
    if format == "tflite":
        quantize = "none" if quantize is None else str(quantize)
        if quantize not in QUANTIZE_MODES:
            raise UserError(f"unknown quantize option {quantize!r}; expected one of {', '.join(QUANTIZE_MODES)}")
        if quantize != "int8":
            for name in ("calibration", "num_calibration"):
                if given[name] is not None:
                    raise UserError(f"option {name}={given[name]!r} only applies to quantize='int8'; got {quantize!r}")
        allowed_io = _IO_DTYPES[quantize]
        io_dtype = allowed_io[0] if io_dtype is None else str(io_dtype)
        if io_dtype not in allowed_io:
            raise UserError(
                f"io_dtype {io_dtype!r} is not supported with quantize={quantize!r}; expected one of {', '.join(allowed_io)}"
            )
        mode = quantize
    else:
        mode = "onnx"
        io_dtype = "float32"
    min_cc = DEFAULT_MIN_CC[mode] if min_cc is None else checks.correlation(min_cc, "min_cc")
    num_calibration = checks.positive_int(100 if num_calibration is None else num_calibration, "num_calibration")
    num_parity = checks.positive_int(num_parity, "num_parity")
    if format == "onnx":
        try:
            import onnxruntime  # noqa: F401
            import tf2onnx  # noqa: F401
        except ImportError as err:
            raise UserError(f"ONNX export needs onnxruntime and tf2onnx (pip install onnxruntime tf2onnx): {err}") from None

    named = _shipped_model(model, quantize)
    if named is not None:
        model = named
    if not hasattr(model, "predict_on_batch"):
        path = os.fspath(model)
        if not path.endswith(".keras"):
            raise UserError(f"expected a .keras model file; got {path!r}")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"model file {path!r} does not exist")
    from tfsal.models._registry import model_facts

    keras_model, model_name, source = _load(model)
    model_name = keras_model.name if model_name is None else model_name
    out = os.fspath(out) if out is not None else _default_out(source, model_name, format, quantize)
    if not out.endswith(FORMATS[format]["suffix"]):
        raise UserError(f"output {out!r} must end with {FORMATS[format]['suffix']!r} for format {format!r}")
    sidecar = out + ".json"
    if not overwrite:
        for p in (out, sidecar):
            if os.path.exists(p):
                raise FileExistsError(f"output {p!r} already exists; choose another --out or pass --overwrite")
    h, w = keras_model.input_shape[1:3]
    if h is None or w is None:
        raise UserError(f"export needs a fixed input size; model {model_name!r} has input shape {keras_model.input_shape}")
    facts = model_facts(keras_model, registered_name)
    if facts["registered_name"] is None:
        log.warning("model %r is not a registered tfsal model (pass registered_name=...): the sidecar cannot state "
                    "its preprocessing%s", model_name, "" if facts["output_kind"] else " or output kind")

    # Inputs of the calibration and the parity check (read before the slow conversion, so bad input fails fast).
    rep = None
    if mode == "int8":
        cal_paths, cal_desc = _calibration_paths(calibration, num_calibration)
        rep = prepare_images(cal_paths, (h, w))
    if parity_images is None:
        par_paths, par_desc = default_parity_images(num_parity)
    elif isinstance(parity_images, (str, os.PathLike)):
        par_paths, par_desc = list_images(parity_images)[:num_parity], _portable(parity_images)
    else:
        par_paths, par_desc = list(parity_images)[:num_parity], "given images"
    par = prepare_images(par_paths, (h, w))

    folded = bool(fold) and (_is_fastsal_c(keras_model) or _is_fastsal_a(keras_model))
    export_net = keras_model
    if folded:
        export_net = fold_fastsal_c(keras_model) if _is_fastsal_c(keras_model) else fold_fastsal_a(keras_model)

    t0 = time.time()
    out_dir = os.path.dirname(os.path.abspath(out))
    os.makedirs(out_dir, exist_ok=True)
    # The converter's and the interpreter's C++ / absl lines and warnings (shown with tfsal --verbose)
    with quiet_block():
        if format == "tflite":
            content = share_identical_vectors(_convert_tflite(export_net, quantize, io_dtype, rep, progress))
            ops = tflite_ops(content)
            bad = _bad_ops(ops)
            if bad:
                raise UserError(f"the converted model contains non-builtin op(s) {bad}; refusing to write {out!r}")
            atomic_write(out, content)
        else:
            ops = _export_onnx(export_net, out, h, w)
        seconds = time.time() - t0
        size = os.path.getsize(out)
        log.info("exported %s (%.2f MB) in %.1f s", out, size / 1e6, seconds)

        runner = _TFLiteRunner(out) if format == "tflite" else _OnnxRunner(out)
        parity = parity_check(keras_model, runner, par)
        parity.update({"images": par_desc, "min_cc": min_cc, "reference": "Keras model (unfolded), float32",
                       "runtime": FORMATS[format]["runtime"]})
        inp, outp = _io_details(out, format)
    metadata = {
        "file": os.path.basename(out),
        "sha256": sha256_file(out),
        "format": format,
        "quantize": quantize if format == "tflite" else None,
        "model_name": model_name,
        "registered_name": facts["registered_name"],
        "source_model": os.path.basename(source) if source else None,
        "tfsal_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "input": dict(
            inp,
            layout="NHWC",
            height=int(h),
            width=int(w),
            color_order="RGB",
            pixel_range=[0, 255],
            preprocessing=facts["preprocessing"],
            normalisation=facts["preprocessing_text"],
            resize=RESIZE_METHOD["input"],
            feed=(
                "uint8/int8: q = round(pixel / scale + zero_point)"
                + (" (scale 1 and zero point 0 mean: raw pixel bytes)" if io_dtype == "uint8" else "")
                if io_dtype in ("uint8", "int8") else "float32 pixel values in [0, 255], not normalised"
            ),
        ),
        "output": dict(
            outp,
            kind=facts["output_kind"],
            meaning=facts["meaning"],
            value_range=facts["value_range"],
            resize=RESIZE_METHOD["output"],
            read=(f"value = scale * (q - zero_point), with q read as {outp['dtype']} "
                  f"({'signed, -128..127' if outp['dtype'] == 'int8' else 'unsigned, 0..255'})"
                  if outp["quantization"] else "float32 values"),
        ),
        "folded_fastsal_c_decoder": folded and _is_fastsal_c(keras_model),
        "folded_fastsal_a_head": folded and _is_fastsal_a(keras_model),
        "ops": ops,
        "size_bytes": size,
        "export_seconds": round(seconds, 2),
        "calibration": {"images": cal_desc, "num_images": len(rep)} if rep is not None else None,
        "parity": parity,
        "parity_passed": bool(parity["cc_mean"] >= min_cc),
    }
    write_json(sidecar, metadata)
    result = ExportResult(out, sidecar, format, metadata["quantize"], size, seconds, ops, parity, folded, metadata)
    log.info("%s", result.summary())
    if not parity["cc_mean"] >= min_cc:
        raise UserError(
            f"parity check failed for {out!r}: mean CC {parity['cc_mean']:.5f} (min {parity['cc_min']:.5f}) against "
            f"the Keras model on {parity['num_images']} images is below the threshold {min_cc}; the file and "
            f"{sidecar!r} were written for inspection"
            + ("; `tfsal int8-finetune MODEL.keras --out NEW.keras` (tfsal.quantize.int8_finetune) fine-tunes a "
               "model so that its int8 export matches it (export/README.md)" if quantize == "int8" else "")
        )
    return result


def _export_onnx(model, out, h, w):
    import onnx
    import tensorflow as tf

    spec = [tf.TensorSpec((1, h, w, 3), tf.float32, name="image")]
    model.export(out, format="onnx", input_signature=spec, verbose=False)
    graph = onnx.load(out).graph
    ops = {}
    for node in graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    return dict(sorted(ops.items()))

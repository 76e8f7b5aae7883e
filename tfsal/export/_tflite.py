"""TFLite: conversion with builtin ops only, the op check, the file's I/O description (one row of the formats table).

Example:
    >>> from tfsal.export._tflite import tflite_ops
    >>> tflite_ops("model_int8.tflite")  # doctest: +SKIP
    {'CONV_2D': 52, 'DEPTH_TO_SPACE': 8, ...}
"""
import os
import re

import numpy as np

from tfsal._io import atomic_write
from tfsal._progress import Progress
from tfsal.errors import UserError
from tfsal.export._metadata import add_metadata
from tfsal.export._selective import float_nodes, quantize_calibrated

__all__ = ["QUANTIZE_MODES", "IO_DTYPES", "tflite_ops", "share_identical_vectors", "convert", "describe_io"]

#: TFLite quantisation modes: ``none`` = float32, ``float16`` = float16 weights, ``dynamic`` = int8 weights with
#: float activations, ``int8`` = full-integer (weights and activations) calibrated on real images.
QUANTIZE_MODES = ("none", "float16", "dynamic", "int8")

#: Allowed input/output dtypes per quantize mode (first = default).
IO_DTYPES = {"none": ("float32",), "float16": ("float32",), "dynamic": ("float32",), "int8": ("uint8", "int8")}


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


def frozen_converter(model):
    """A ``TFLiteConverter`` of ``model`` at batch 1 with its weights frozen to constants, builtin ops only (no
    quantisation set yet; e.g. for ``tf.lite.experimental.QuantizationDebugger``)."""
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
    return converter


#: The pixel range an int8 file's input is calibrated to: raw RGB bytes, so that the uint8 input's scale is exactly 1
#: and its zero point 0 (MediaPipe's ImageSegmenter and an app feeding Bitmap bytes assume so; calibrated on a few
#: dark images the scale came out 0.9917 before).
INPUT_PIXEL_RANGE = (0.0, 255.0)


def _pin_input_range(image):
    """``image[None]`` with its first two pixels set to :data:`INPUT_PIXEL_RANGE` (the calibrated input range is then
    exactly [0, 255] whatever the calibration images; two pixels of one image change no other range noticeably)."""
    x = np.array(image, np.float32)[None]
    x[0, 0, 0, :], x[0, 0, -1, :] = INPUT_PIXEL_RANGE
    return x


def _convert_tflite(model, quantize, io_dtype, rep_images, progress, float_layers=(), strict=True):
    """The ``.tflite`` bytes of ``model``; int8 with ``float_layers`` (layer-name prefixes) keeps those layers' ops
    float32 (:mod:`tfsal.export._selective`; ``strict``: refuse a prefix that matches no op)."""
    import tensorflow as tf

    converter = frozen_converter(model)
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
            bar = Progress(len(rep_images), "int8 calibration") if progress else None
            for i, x in enumerate(rep_images):
                yield [_pin_input_range(x) if i == 0 else x[None]]
                if bar:
                    bar.update(i + 1)
            if bar:
                bar.close()

        converter.representative_dataset = representative
        if float_layers:  # calibrate once, then quantise all but the float layers' ops
            converter._experimental_calibrate_only = True
    try:
        content = converter.convert()
        if quantize == "int8" and float_layers:
            content = quantize_calibrated(content, io_dtype, float_nodes(content, float_layers, strict)[0])
        return content
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


def convert(net, out, settings):
    """Convert ``net`` to ``out`` (``.tflite``) with the settings of :func:`tfsal.export.export_model`.

    Args:
        net: the ``keras.Model`` to convert (folded where the registry says so).
        out: the file to write (atomically).
        settings: the validated export settings (``quantize``, ``io_dtype``, ``calibration_images``, ``progress``,
            ``metadata``: the facts of :func:`tfsal.export._metadata.add_metadata`, or ``None`` for none), ``float_layers``.

    Returns:
        ``{op name: count}`` of the written file.

    Raises:
        ValueError: the converted model contains a non-builtin (Flex, custom) or resource-variable op.
    """
    content = _convert_tflite(net, settings.quantize, settings.io_dtype, settings.calibration_images,
                              settings.progress, settings.float_layers, settings.float_ops != "auto")
    if settings.metadata is not None:  # TFLite Model Metadata (MediaPipe Tasks, ML Model Binding): _metadata.py
        content = add_metadata(content, settings.metadata)
    content = share_identical_vectors(content)
    ops = tflite_ops(content)
    bad = _bad_ops(ops)
    if bad:
        raise UserError(f"the converted model contains non-builtin op(s) {bad}; refusing to write {out!r}")
    atomic_write(out, content)
    return ops


def describe_io(path):
    """The input and output tensors of a ``.tflite`` file: name, shape, dtype and int8/uint8 quantisation.

    Returns:
        ``(input dict, output dict)``; ``quantization`` is ``{"scale", "zero_point"}`` for integer tensors, else
        ``None``.
    """
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=path)
    res = []
    for d in (interp.get_input_details()[0], interp.get_output_details()[0]):
        dtype = np.dtype(d["dtype"]).name
        scale, zp = d["quantization"]
        q = {"scale": float(scale), "zero_point": int(zp)} if np.issubdtype(d["dtype"], np.integer) else None
        res.append({"name": d["name"], "shape": [int(s) for s in d["shape"]], "dtype": dtype, "quantization": q})
    return tuple(res)

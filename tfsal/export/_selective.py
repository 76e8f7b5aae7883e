"""Selective int8: a full-integer TFLite file in which named layers stay float32 (builtin float ops, with
QUANTIZE / DEQUANTIZE at the borders).

The converter calibrates the graph once (``_experimental_calibrate_only``, as
``tf.lite.experimental.QuantizationDebugger`` does), then quantises it with
``tensorflow.lite.python.convert.mlir_quantize(..., denylisted_nodes=...)`` — the call behind the debugger's
``QuantizationDebugOptions(denylisted_nodes=...)`` — so the denylisted ops keep their float kernels and weights.
Which ops: those whose TFLite name mentions a Keras layer matching one of the given prefixes (the converter names an
op after the layers it fused, ``model/fastsal_dec1_add/Add``); a nameless op (the graph output ``Identity``)
follows the op that feeds it.

Example:
    >>> from tfsal.export._selective import resolve_float_layers
    >>> resolve_float_layers("fastsal_dec,fastsal_out", ())
    ('fastsal_dec', 'fastsal_out')
"""
import re

import numpy as np

from tfsal.errors import UserError

__all__ = ["FLOAT_OPS_CHOICES", "resolve_float_layers", "float_nodes", "quantize_calibrated", "op_precisions"]

#: The special values of ``float_ops`` / ``--float-ops``: ``auto`` = the registry entry's ``int8_float_layers``
#: (FastSal: its decoder), ``none`` = every op int8 (plain full-integer export).
FLOAT_OPS_CHOICES = ("auto", "none")


def resolve_float_layers(spec, default):
    """The layer-name prefixes kept float in an int8 export.

    Args:
        spec: ``None`` / ``"auto"`` (``default``), ``"none"`` (no float layer), a comma-separated string of layer-name
            prefixes, or a sequence of them.
        default: the registry entry's ``int8_float_layers`` (``()`` for a model without).

    Returns:
        A tuple of prefixes (empty: plain full-integer).

    Raises:
        ValueError: an empty prefix.
    """
    if spec is None or spec == "auto":
        return tuple(default or ())
    if spec == "none":
        return ()
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    prefixes = tuple(str(p).strip() for p in items)
    if not prefixes or any(not p for p in prefixes):
        raise UserError(f"float_ops {spec!r}: expected 'auto', 'none' or comma-separated layer-name prefixes "
                        "(e.g. 'fastsal_dec,fastsal_out')")
    return prefixes


def _interpreter(content):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    return Interpreter(model_content=bytes(content),
                       experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)


def _layer_segments(tensor_name):
    """The layer names in a TFLite tensor name (``model/layer/Op;model/other/Op2`` → ``layer``, ``other``)."""
    return [seg for part in tensor_name.split(";") for seg in part.split("/")[1:-1]]


def _matches(segments, prefixes):
    return any(re.sub(r"_\d+$", "", seg).startswith(p) or seg.startswith(p) for seg in segments for p in prefixes)


def float_nodes(calibrated, prefixes, strict=True):
    """The output tensor names of the ops of a calibrated model that belong to layers matching ``prefixes``.

    Args:
        calibrated: the bytes of a calibrated (not yet quantised) ``.tflite`` model.
        prefixes: layer-name prefixes (:func:`resolve_float_layers`).
        strict: refuse a prefix that matches no op (a user's list; a registry default may name layers a graph lacks,
            e.g. the fold's layers with ``fold=False``).

    Returns:
        ``(tensor names in execution order, sorted matched layer names)``.

    Raises:
        ValueError: a prefix that matches no op of the model.
    """
    interp = _interpreter(calibrated)
    names = {t["index"]: t["name"] for t in interp.get_tensor_details()}
    producer, chosen, layers, used = {}, [], set(), set()
    for op in interp._get_ops_details():
        out = names[op["outputs"][0]]
        segments = _layer_segments(out)
        if segments:
            hit = _matches(segments, prefixes)
            used.update(p for p in prefixes if _matches(segments, (p,)))
        else:  # a nameless op (the output's Identity) follows its input
            hit = any(producer.get(int(i), False) for i in op["inputs"] if i >= 0)
        for t in op["outputs"]:
            producer[int(t)] = hit
        if hit:
            chosen.append(out)
            layers.update(re.sub(r"_\d+$", "", s) for s in segments if _matches([s], prefixes))
    unused = [p for p in prefixes if p not in used]
    if unused and strict:
        raise UserError(f"float_ops: no layer of the model starts with {unused}; expected prefixes of its layer "
                        "names (e.g. fastsal_dec, see model.summary())")
    return chosen, sorted(layers)


def quantize_calibrated(calibrated, io_dtype, nodes):
    """Quantise a calibrated model to full integer except the ops writing ``nodes`` (float32 kernels).

    Args:
        calibrated: the bytes of a calibrated ``.tflite`` model.
        io_dtype: ``"uint8"`` or ``"int8"`` input and output.
        nodes: output tensor names of the ops to keep float (:func:`float_nodes`).

    Returns:
        The quantised model's bytes.
    """
    import tensorflow as tf
    from tensorflow.lite.python import convert as tfl_convert

    io = tf.uint8 if io_dtype == "uint8" else tf.int8
    return tfl_convert.mlir_quantize(calibrated, input_data_type=io, output_data_type=io,
                                     denylisted_nodes=list(nodes) or None)


def op_precisions(path_or_content):
    """How many ops of a ``.tflite`` file compute in float and in integer: ``{"float32": {op: n}, "int8": {...}}``.

    An op counts by the dtype of its first output (``QUANTIZE`` / ``DEQUANTIZE`` by what they write).

    Example:
        >>> op_precisions("model_int8.tflite")["float32"]  # doctest: +SKIP
        {'ADD': 8, 'CONV_2D': 12, 'DEQUANTIZE': 4, ...}
    """
    if isinstance(path_or_content, (bytes, bytearray)):
        interp = _interpreter(path_or_content)
    else:
        with open(path_or_content, "rb") as f:
            interp = _interpreter(f.read())
    dtypes = {t["index"]: np.dtype(t["dtype"]).name for t in interp.get_tensor_details()}
    res = {}
    for op in interp._get_ops_details():
        kind = dtypes[op["outputs"][0]]
        row = res.setdefault(kind, {})
        row[op["op_name"]] = row.get(op["op_name"], 0) + 1
    return {k: dict(sorted(v.items())) for k, v in sorted(res.items())}

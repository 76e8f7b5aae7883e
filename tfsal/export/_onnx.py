"""ONNX: conversion (Keras' ``model.export(format="onnx")``, tf2onnx) and the file's I/O description.

Needs the optional ``[onnx]`` extra (``pip install onnxruntime tf2onnx``): :func:`check_available` says so in one
line when it is missing.
"""
from tfsal.errors import UserError

__all__ = ["check_available", "convert", "describe_io"]


def check_available():
    """Raise a one-line ``ValueError`` when onnxruntime or tf2onnx is not installed."""
    try:
        import onnxruntime  # noqa: F401
        import tf2onnx  # noqa: F401
    except ImportError as err:
        raise UserError(f"ONNX export needs onnxruntime and tf2onnx (pip install onnxruntime tf2onnx): {err}") from None


def convert(net, out, settings):
    """Write ``net`` as ONNX to ``out`` with a ``(1, H, W, 3)`` float32 input named ``image``.

    Returns:
        ``{ONNX op type: count}`` of the written graph.
    """
    import onnx
    import tensorflow as tf

    h, w = net.input_shape[1:3]
    spec = [tf.TensorSpec((1, h, w, 3), tf.float32, name="image")]
    net.export(out, format="onnx", input_signature=spec, verbose=False)
    ops = {}
    for node in onnx.load(out).graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    return dict(sorted(ops.items()))


def describe_io(path):
    """The input and output tensors of an ``.onnx`` file (ONNX Runtime's view): ``(input dict, output dict)``."""
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    i, o = sess.get_inputs()[0], sess.get_outputs()[0]
    return (
        {"name": i.name, "shape": list(i.shape), "dtype": "float32", "quantization": None},
        {"name": o.name, "shape": list(o.shape), "dtype": "float32", "quantization": None},
    )

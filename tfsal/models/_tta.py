"""Horizontal-flip test-time averaging folded into one graph: :func:`with_flip_tta`.

The map of a model with TTA is ``(f(x) + flip(f(flip(x)))) / 2``: one ``keras.Model`` (the wrapped model is a
nested layer called twice, sharing its weights), saved and loaded as a ``.keras`` file, exported as one
``.tflite`` file with builtin ops only (``REVERSE_V2``, ``ADD``, ``MUL``). It costs two forward passes.

Example:
    >>> from tfsal.models import fastsal_a
    >>> tta = with_flip_tta(fastsal_a(input_shape=(64, 96, 3)))
    >>> tta.name, tta.output_shape, flip_tta_inner(tta).name
    ('fastsal_a_fliptta', (None, 64, 96, 1), 'fastsal_a')
"""
import keras
from keras import layers

from tfsal.errors import UserError
from tfsal.layers import FlipHorizontal

__all__ = ["with_flip_tta", "flip_tta_inner", "FLIP_TTA_SUFFIX"]

#: Added to the wrapped model's Keras name (``fastsal_a`` → ``fastsal_a_fliptta``; the registry strips it).
FLIP_TTA_SUFFIX = "_fliptta"


def with_flip_tta(model, name=None):
    """``model`` with horizontal-flip test-time averaging inside its graph.

    Args:
        model: a ``keras.Model`` mapping ``(B, H, W, 3)`` images to ``(B, H, W, C)`` maps at the input's width
            (mirroring the map back must mirror the image: a fully convolutional saliency model).
        name: the new model's Keras name; default ``model.name + "_fliptta"``.

    Returns:
        A ``keras.Model`` with the same input and output shapes: the mean of ``model(x)`` and the un-mirrored
        ``model(flip(x))``. Its layers are ``tta_flip_in``, ``model`` (nested, shared), ``tta_flip_out``,
        ``tta_average``.

    Raises:
        UserError: the model's output width differs from its input width.

    Example:
        >>> import numpy as np
        >>> from tfsal.models import fastsal_a
        >>> tta = with_flip_tta(fastsal_a(input_shape=(64, 96, 3)))
        >>> tta.predict(np.zeros((1, 64, 96, 3), "float32"), verbose=0).shape
        (1, 64, 96, 1)
    """
    in_shape, out_shape = tuple(model.input_shape), tuple(model.output_shape)
    if len(in_shape) != 4 or len(out_shape) != 4 or in_shape[2] != out_shape[2]:
        raise UserError(f"with_flip_tta needs a model whose (B, H, W, C) output has its input's width; model "
                        f"{model.name!r} maps {in_shape} to {out_shape}")
    inputs = keras.Input(shape=in_shape[1:], name="image")
    mirrored = model(FlipHorizontal(name="tta_flip_in")(inputs))
    unmirrored = FlipHorizontal(name="tta_flip_out", dtype="float32")(mirrored)
    outputs = layers.Average(name="tta_average", dtype="float32")([model(inputs), unmirrored])
    return keras.Model(inputs, outputs, name=name or f"{model.name}{FLIP_TTA_SUFFIX}")


def flip_tta_inner(model):
    """The model that :func:`with_flip_tta` wrapped, or ``None`` when ``model`` is no flip-TTA wrapper.

    Example:
        >>> from tfsal.models import fastsal_a
        >>> flip_tta_inner(fastsal_a(input_shape=(64, 96, 3))) is None
        True
    """
    names = {layer.name for layer in getattr(model, "layers", [])}
    if not {"tta_flip_in", "tta_flip_out", "tta_average"} <= names:
        return None
    inner = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    return inner[0] if len(inner) == 1 else None

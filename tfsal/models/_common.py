"""Helpers shared by the model builders: input checks, weights handling, parameter and FLOP counts."""
import os

import keras

from tfsal.errors import ResourceError, UserError
from tfsal.models._registry import create_model, model_info

__all__ = ["count_flops", "describe_model"]


def check_input_shape(input_shape, multiple, model_name):
    """Validate an ``(H, W, 3)`` input shape whose height and width must be multiples of ``multiple``."""
    try:
        h, w, c = (int(v) for v in input_shape)
    except (TypeError, ValueError):
        raise UserError(f"{model_name}: input_shape must be (height, width, 3); got {input_shape!r}") from None
    if c != 3:
        raise UserError(f"{model_name}: input_shape must have 3 (RGB) channels; got {input_shape!r}")
    if h <= 0 or w <= 0 or h % multiple or w % multiple:
        raise UserError(
            f"{model_name}: input height and width must be positive multiples of {multiple}; "
            f"got {h}x{w} (input_shape={tuple(input_shape)!r})"
        )
    return h, w, c


def check_weights_arg(weights, model_name, allowed=(None, "imagenet")):
    """Reject a ``weights`` value that is neither an allowed keyword nor an existing file."""
    if weights in allowed:
        return
    if isinstance(weights, (str, os.PathLike)):
        text = os.fspath(weights)
        if os.path.isfile(text):
            return
        if os.sep in text or text.endswith((".h5", ".keras")):
            raise FileNotFoundError(f"{model_name}: weights file {text!r} does not exist")
    raise UserError(
        f"{model_name}: weights must be one of {list(allowed)} or the path of a .weights.h5/.keras file; "
        f"got {weights!r}"
    )


def load_weights_file(model, path):
    """Load a whole-model weights file (``.weights.h5`` or the weights of a ``.keras`` model) into ``model``."""
    path = os.fspath(path)
    if path.endswith(".keras"):
        src = keras.models.load_model(path, compile=False)
        try:
            model.set_weights(src.get_weights())
        except ValueError as err:
            raise UserError(f"weights in {path!r} do not match model {model.name!r}: {err}") from None
        return model
    try:
        model.load_weights(path)
    except (ValueError, KeyError) as err:
        raise UserError(f"weights in {path!r} do not match model {model.name!r}: {err}") from None
    return model


def imagenet_unavailable(model_name, backbone, err):
    """Error raised when Keras cannot download ImageNet weights (no internet)."""
    return ResourceError(
        f"{model_name}: could not load ImageNet weights for its {backbone} backbone ({type(err).__name__}: {err}). "
        "They are downloaded by Keras on first use and cached in ~/.keras/models; this needs internet. "
        "Use weights=None to start from random weights, or weights=PATH for a saved model."
    )


def count_flops(model):
    """Multiply-accumulate count of the conv / depthwise / transposed-conv / dense layers of a functional model.

    Element-wise work (BN, activations, additions, resizes) is not counted, as in the papers' figures.

    Args:
        model: a built ``keras.Model`` with fixed input size.

    Returns:
        ``(macs, flops)`` with ``flops = 2 * macs``.
    """
    macs = 0
    for layer in _all_layers(model):
        if not layer.built or not hasattr(layer, "kernel"):
            continue
        try:
            out = layer.output.shape
            inp = layer.input.shape
        except (AttributeError, ValueError):
            continue
        kshape = tuple(layer.kernel.shape)
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            kh, kw, cin, mult = kshape
            macs += out[1] * out[2] * kh * kw * cin * mult
        elif isinstance(layer, keras.layers.Conv2DTranspose):
            kh, kw, cout, cin = kshape
            macs += inp[1] * inp[2] * kh * kw * cin * cout
        elif isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin_g, cout = kshape
            macs += out[1] * out[2] * kh * kw * cin_g * cout
        elif isinstance(layer, keras.layers.Dense):
            cin, cout = kshape
            spatial = 1
            for d in out[1:-1]:
                spatial *= d
            macs += spatial * cin * cout
    return int(macs), int(2 * macs)


def _all_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)
        else:
            yield layer


def describe_model(name, input_shape=None):
    """Parameter count and FLOPs of a registered model next to the paper's figures.

    Args:
        name: a registered model name.
        input_shape: ``(H, W, 3)``; the model's default when ``None``.

    Returns:
        A dict with ``name``, ``input_shape``, ``params``, ``macs``, ``gflops`` (2 × MACs / 1e9), ``paper`` (the
        paper's figures, possibly empty) and the registry's facts: ``task``, ``preprocessing`` and ``output`` (one
        sentence each, from the :class:`~tfsal.models._registry.ModelEntry`).

    Example:
        >>> info = describe_model("fastsal-a")
        >>> round(info["params"] / 1e6, 2)
        3.63
    """
    entry = model_info(name)
    shape = tuple(input_shape or entry.default_input_shape)
    model = create_model(name, input_shape=shape, weights=None)
    macs, flops = count_flops(model)
    return {
        "name": entry.alias_of or name,
        "input_shape": shape,
        "params": int(model.count_params()),
        "macs": macs,
        "gflops": flops / 1e9,
        "paper": dict(entry.paper),
        "task": entry.task,
        "preprocessing": entry.preprocessing_text,
        "output": entry.meaning,
    }

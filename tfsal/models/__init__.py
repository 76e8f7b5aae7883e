"""Saliency models, registered by name.

Example:
    >>> from tfsal.models import create_model, list_models
    >>> "fastsal-a" in list_models()
    True
    >>> model = create_model("fastsal-a", input_shape=(96, 128, 3), weights=None)
"""
from tfsal.models._registry import create_model, list_models, model_info, register_model
from tfsal.models._common import count_flops
from tfsal.models._pretrained import DEFAULT_MODEL, DEFAULT_WEIGHTS, load_pretrained, shipped_weights
from tfsal.models.fastsal import fastsal_a, fastsal_c
from tfsal.models.shallow import shallow, shallow_bn
from tfsal.models.vgg_encdec import vgg16_encdec, vgg19_encdec
from tfsal.models.salnet import salnet
from tfsal.models.table4 import table4_efficientnetb0, table4_mobilenetv2
from tfsal.models.deepgaze2 import deepgaze2, train_deepgaze2
from tfsal.models.modulated_resnet import (  # classifiers: not in the saliency registry
    baseline_resnet50,
    create_classifier,
    list_classifiers,
    modulated_resnet50,
)

__all__ = [
    "create_model",
    "list_models",
    "model_info",
    "register_model",
    "count_flops",
    "load_pretrained",
    "shipped_weights",
    "DEFAULT_MODEL",
    "DEFAULT_WEIGHTS",
    "describe_model",
    "fastsal_a",
    "fastsal_c",
    "shallow",
    "shallow_bn",
    "salnet",
    "deepgaze2",
    "train_deepgaze2",
    "modulated_resnet50",
    "baseline_resnet50",
    "create_classifier",
    "list_classifiers",
    "vgg16_encdec",
    "vgg19_encdec",
    "table4_mobilenetv2",
    "table4_efficientnetb0",
]


def describe_model(name, input_shape=None):
    """Parameter count and FLOPs of a registered model next to the paper's figures.

    Args:
        name: a registered model name.
        input_shape: ``(H, W, 3)``; the model's default when ``None``.

    Returns:
        A dict with ``name``, ``input_shape``, ``params``, ``macs``, ``gflops`` (2 × MACs / 1e9) and
        ``paper`` (the paper's figures, possibly empty).

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
    }

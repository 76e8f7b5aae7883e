"""Saliency models (and two classifiers), registered by name.

``import tfsal.models`` is cheap: it imports neither Keras nor a builder. The builders (and Keras) are imported on
first use, of a builder (``tfsal.models.fastsal_a``) or of the registry (``create_model``, ``list_models``, ...):
:func:`_load_builders` imports every public module of this package, each registering its models. A new model file
in ``tfsal/models/`` registers itself this way without an edit here (add its builder to ``_LAZY`` to make it a
``tfsal.models`` attribute, and its names to ``_registry.NAMES``, the table :func:`known_names` and
:func:`check_model_name` read without importing a builder).

Example:
    >>> from tfsal.models import create_model, list_models
    >>> "fastsal-a" in list_models()
    True
    >>> model = create_model("fastsal-a", input_shape=(96, 128, 3), weights=None)
"""
import importlib
import pkgutil
import sys

from tfsal.models import _registry
from tfsal.models._pretrained import DEFAULT_MODEL, DEFAULT_WEIGHTS, shipped_weights
from tfsal.models._registry import (check_model_name, create_model, known_names, list_models, load_pretrained,
                                    model_info, register_model)

# name → module holding it, imported on first use (PEP 562)
_LAZY = {
    "count_flops": "tfsal.models._common",
    "describe_model": "tfsal.models._common",
    "load_keras_model": "tfsal.models._saved",
    "with_flip_tta": "tfsal.models._tta",
    "flip_tta_inner": "tfsal.models._tta",
    "fastsal_a": "tfsal.models.fastsal",
    "fastsal_c": "tfsal.models.fastsal",
    "shallow": "tfsal.models.shallow",
    "shallow_bn": "tfsal.models.shallow",
    "vgg16_encdec": "tfsal.models.vgg_encdec",
    "vgg19_encdec": "tfsal.models.vgg_encdec",
    "salnet": "tfsal.models.salnet",
    "deepgaze2": "tfsal.models.deepgaze2",
    "table4_mobilenetv2": "tfsal.models.table4",
    "table4_efficientnetb0": "tfsal.models.table4",
    "modulated_resnet50": "tfsal.models.modulated_resnet",  # classifiers: task="classifier" in the registry
    "baseline_resnet50": "tfsal.models.modulated_resnet",
    "create_classifier": "tfsal.models.modulated_resnet",
    "list_classifiers": "tfsal.models.modulated_resnet",
}

__all__ = [
    "create_model",
    "list_models",
    "known_names",
    "check_model_name",
    "model_info",
    "register_model",
    "count_flops",
    "load_pretrained",
    "load_keras_model",
    "with_flip_tta",
    "flip_tta_inner",
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
    "modulated_resnet50",
    "baseline_resnet50",
    "create_classifier",
    "list_classifiers",
    "vgg16_encdec",
    "vgg19_encdec",
    "table4_mobilenetv2",
    "table4_efficientnetb0",
]


def _load_builders():
    """Import every public module of this package (each registers its models), once."""
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


_registry.set_loader(_load_builders)


def __getattr__(name):
    if name == "train_deepgaze2":  # the trainer moved: no model file imports training code
        raise AttributeError("tfsal.models.train_deepgaze2 moved to tfsal.training.train_deepgaze2")
    if name not in _LAZY:
        if name in {info.name for info in pkgutil.iter_modules(__path__)}:  # a sub-module, as the eager import had
            _registry.load_builders()
            return importlib.import_module(f"{__name__}.{name}")
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    _registry.load_builders()
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


class _Package(type(sys)):
    """The package's module type: binding a sub-module named like one of its functions (``deepgaze2``, ``salnet``,
    ``shallow``) on its first import keeps the function as the package's attribute, as the eager imports did."""

    def __setattr__(self, name, value):
        if name in _LAZY and isinstance(value, type(sys)) and value.__name__ == _LAZY[name]:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

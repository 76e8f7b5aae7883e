"""tfsal: visual saliency prediction with Keras 3 / TensorFlow.

Sub-modules and the functions below are imported on first use (PEP 562), so ``import tfsal`` and the ``tfsal``
command line's ``--help`` do not import TensorFlow.

Example:
    >>> import tfsal
    >>> model = tfsal.models.create_model("fastsal-a", input_shape=(96, 128, 3), weights=None)
    >>> train_ds = tfsal.data.demo("train", image_size=(96, 128), batch_size=8)
"""
import importlib

from tfsal._version import __version__

# name → (module, attribute or None for the module itself)
_LAZY = {
    "layers": ("tfsal.layers", None),
    "losses": ("tfsal.losses", None),
    "metrics": ("tfsal.metrics", None),
    "models": ("tfsal.models", None),
    "data": ("tfsal.data", None),
    "viz": ("tfsal.viz", None),
    "visualize": ("tfsal.visualize", None),
    "sampler": ("tfsal.sampler", None),
    "keras_metrics": ("tfsal.metrics.keras_metrics", None),
    "read_image": ("tfsal._io", "read_image"),
    "load_model": ("tfsal.predict", "load_model"),
    "predict": ("tfsal.predict", "predict"),
    "predict_maps": ("tfsal.predict", "predict_maps"),
    "train": ("tfsal.train", "train"),
    "training": ("tfsal.training", None),
    "train_deepgaze2": ("tfsal.training", "train_deepgaze2"),
}

# These import Keras anyway: with them, register tfsal's Keras metrics (as the eager package import used to).
_WITH_KERAS_METRICS = ("models", "load_model", "predict", "predict_maps", "train", "training", "train_deepgaze2")

__all__ = ["__version__", "layers", "losses", "metrics", "models", "data", "viz", "read_image", "load_model",
           "predict", "predict_maps", "train", "sampler", "training", "train_deepgaze2"]


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'tfsal' has no attribute {name!r}")
    module_name, attr = _LAZY[name]
    if name in _WITH_KERAS_METRICS:
        importlib.import_module("tfsal.metrics.keras_metrics")  # registers tfsal>NSS etc. for load_model
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    if attr is not None or "." not in module_name[len("tfsal."):]:
        globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


class _Package(type(importlib)):
    """The package's module type: binding the sub-modules ``tfsal.train`` / ``tfsal.predict`` on first import keeps
    the functions of the same names (``tfsal.train(...)``, ``tfsal.predict(...)``) as the package's attributes."""

    def __setattr__(self, name, value):
        if name in ("train", "predict") and isinstance(value, type(importlib)) and hasattr(value, name):
            value = getattr(value, name)
        super().__setattr__(name, value)


import sys as _sys  # noqa: E402

_sys.modules[__name__].__class__ = _Package

"""Saliency metrics of the MIT saliency benchmark (cvzoya/saliency), in NumPy and as Keras metrics.

NumPy functions (exact re-implementations of the MATLAB code, vectorised, for evaluation):
``auc_judd``, ``auc_borji``, ``shuffled_auc``, ``nss``, ``cc``, ``kld``, ``sim``, ``information_gain``,
``compute_all`` and the helper ``make_other_map``; :data:`METRICS` lists the canonical names with a
higher-is-better flag.

Keras (``keras.ops``) versions for training, imported on first use so that the NumPy metrics do not load
TensorFlow: the ``keras.metrics.Metric`` classes ``NSS``, ``CC``, ``KLD``, ``SIM`` and the tensor functions
``tensor_nss``, ``tensor_cc``, ``tensor_kld``, ``tensor_sim`` (see :mod:`tfsal.metrics.keras_metrics`).
Import ``tfsal.metrics.keras_metrics`` before ``keras.models.load_model`` on a model compiled with them, so
that their serialisation names (``tfsal>NSS`` ...) are registered.

Example:
    >>> import numpy as np
    >>> from tfsal.metrics import compute_all
    >>> gt = np.random.default_rng(0).random((48, 64)); fix = gt > 0.95
    >>> scores = compute_all(gt, fix, gt)
    >>> scores["CC"]
    1.0
"""
from tfsal.metrics import _numpy
from tfsal.metrics._numpy import *  # noqa: F403 (the NumPy metrics; their __all__ is the list)
from tfsal.metrics._numpy import KERAS_METRICS

# The Keras classes named by the metrics table, and their tensor functions (tensor_nss, ...).
_KERAS_NAMES = (*KERAS_METRICS.values(), *(f"tensor_{name.lower()}" for name in KERAS_METRICS.values()))

__all__ = [*_numpy.__all__, *_KERAS_NAMES]


def __getattr__(name):
    """Load the Keras metrics lazily (PEP 562) so that the NumPy metrics work without importing Keras."""
    if name in _KERAS_NAMES:
        from tfsal.metrics import keras_metrics

        return getattr(keras_metrics, name)
    raise AttributeError(f"module 'tfsal.metrics' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_KERAS_NAMES))

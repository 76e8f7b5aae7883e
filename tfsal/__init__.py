"""tfsal: visual saliency prediction with Keras 3 / TensorFlow.

Example:
    >>> import tfsal
    >>> model = tfsal.models.create_model("fastsal-a", input_shape=(96, 128, 3), weights=None)
    >>> train_ds = tfsal.data.demo("train", image_size=(96, 128), batch_size=8)
"""
from tfsal._version import __version__
from tfsal import layers, losses, metrics, models, data, viz  # noqa: E402
from tfsal import sampler  # noqa: E402
from tfsal.metrics import keras_metrics  # noqa: F401  (registers tfsal>NSS etc. for load_model)
from tfsal._io import read_image
from tfsal.predict import load_model, predict, predict_maps
from tfsal.train import train

__all__ = [
    "__version__",
    "layers",
    "losses",
    "metrics",
    "models",
    "data",
    "viz",
    "read_image",
    "load_model",
    "predict",
    "predict_maps",
    "train",
    "sampler",
]

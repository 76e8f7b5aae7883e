"""Loading a saved tfsal model (``.keras``) with every tfsal layer, loss and model class registered."""
import os

import keras

import tfsal.layers  # noqa: F401  (registers tfsal's custom layers)
import tfsal.losses  # noqa: F401  (registers tfsal's losses)
from tfsal.errors import UserError
from tfsal.models._registry import load_builders

__all__ = ["load_keras_model"]


def load_keras_model(path):
    """Load a saved tfsal model (``.keras``) with tfsal's custom layers registered.

    Args:
        path: a ``.keras`` file written by ``tfsal train`` or ``model.save``.

    Returns:
        The ``keras.Model`` (not compiled).

    Raises:
        FileNotFoundError: no such file.
        UserError: (a ``ValueError``) not a ``.keras`` file, or Keras cannot read it.

    Example:
        >>> model = load_keras_model("runs/fastsal/best.keras")  # doctest: +SKIP
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file {path!r} does not exist")
    if not path.endswith(".keras"):
        raise UserError(f"expected a .keras model file; got {path!r}")
    load_builders()  # the builders' own layers (VGGPreprocess, Maxout, SaliencyModulation, ...)
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as err:
        raise UserError(f"cannot load model {path!r}: {type(err).__name__}: {err}") from None

"""Click parameter types of the ``tfsal`` command line, each a thin wrapper of a :mod:`tfsal.checks` function.

Every command uses these for its shared options, so a value is refused with the same one-line message whatever the
command (``Error: Invalid value for '--batch-size': must be a positive integer; got 0``), while arguments are
parsed, before TensorFlow is imported.
"""
import os

import click

from tfsal import checks
from tfsal.errors import UserError

__all__ = ["Checked", "POSITIVE_INT", "NON_NEGATIVE_INT", "SEED", "POSITIVE_FLOAT", "NON_NEGATIVE_FLOAT", "FRACTION",
           "CORRELATION", "IMAGE_SIZE", "INT_LIST", "FINITE_FLOAT", "ModelArg", "MODEL_NAME", "MODEL",
           "MODEL_OR_BASELINE", "CROP_MODEL_OR_BASELINE", "MODEL_OR_PRETRAINED"]


class Checked(click.ParamType):
    """A click type that converts with ``check(value, name)`` and turns its error into click's ``BadParameter``."""

    def __init__(self, name, check):
        self.name = name
        self._check = check

    def convert(self, value, param, ctx):
        if value is None:
            return None
        try:
            return self._check(value, "value")
        except (UserError, OSError) as err:
            text = str(err)
            if text.startswith("value "):  # the option's name is printed by click: "Invalid value for '--x': ..."
                text = text[len("value "):]
            self.fail(text, param, ctx)


POSITIVE_INT = Checked("integer>=1", checks.positive_int)
NON_NEGATIVE_INT = Checked("integer>=0", checks.non_negative_int)
SEED = Checked("seed", checks.seed)
POSITIVE_FLOAT = Checked("number>0", checks.positive_float)
NON_NEGATIVE_FLOAT = Checked("number>=0", checks.non_negative_float)
FINITE_FLOAT = Checked("number", lambda v, n: checks.number(v, n, what="a finite number"))
FRACTION = Checked("number in [0,1]", checks.fraction)
CORRELATION = Checked("number in [-1,1]", checks.correlation)
IMAGE_SIZE = Checked("HEIGHTxWIDTH", checks.image_size)
INT_LIST = Checked("N[,N...]", checks.int_list)


class ModelArg(click.ParamType):
    """A model argument, checked while the arguments are parsed (before TensorFlow is imported).

    Accepted as given: with ``files``, an existing path or a name ending in ``.keras``, ``.tflite`` or ``.onnx``
    (the command reports a missing file) or containing a path separator; a registered model name
    (:func:`tfsal.models.check_model_name`, from its table: no builder is imported); with ``baselines`` a baseline
    name (:func:`tfsal.baselines.baseline_name`); a word of ``words`` (``pretrained``). Anything else is refused
    with one line (close names, how to list the models), exit status 1 like the commands' other bad input.

    Example:
        >>> MODEL_NAME.convert("fastsal", None, None)
        'fastsal'
    """

    def __init__(self, name, files=True, baselines=False, words=()):
        self.name = name
        self._files, self._baselines, self._words = files, baselines, tuple(words)

    def convert(self, value, param, ctx):
        if value is None or not isinstance(value, str):
            return value
        from tfsal.baselines import BASELINES, baseline_name
        from tfsal.models import check_model_name
        from tfsal.runtime import MODEL_SUFFIXES

        if self._files and (os.path.exists(value) or value.lower().endswith(MODEL_SUFFIXES) or "/" in value
                            or os.sep in value):
            return value
        if value in self._words or (self._baselines and baseline_name(value) is not None):
            return value
        try:
            return check_model_name(value)
        except UserError as err:
            text = str(err)
            if self._baselines:
                text = text.replace("unknown model ", "unknown model or baseline ", 1)
                text += f"; or a baseline ({', '.join(BASELINES)})"
            if self._words:
                text += f"; or {', '.join(self._words)}"
            if self._files:
                text += f"; or a {', '.join(MODEL_SUFFIXES)} model file"
            raise click.ClickException(text) from None


#: A registered model name only (``tfsal info``, ``tfsal train``).
MODEL_NAME = ModelArg("NAME", files=False)
#: A model file or a registered name (``export``, ``predict --model``, ``visualize filters``, ``receptive-fields``).
MODEL = ModelArg("MODEL")
#: ``tfsal crop --model``: a model or ``pretrained`` (the shipped model).
MODEL_OR_PRETRAINED = ModelArg("MODEL", words=("pretrained",))
#: ``tfsal evaluate``'s argument: a model or a baseline (``centre-bias``, ``uniform``, ``spectral-residual``).
MODEL_OR_BASELINE = ModelArg("MODEL_OR_BASELINE", baselines=True)
#: ``tfsal evaluate-crop``'s argument: a model, a baseline or ``pretrained``.
CROP_MODEL_OR_BASELINE = ModelArg("MODEL_OR_BASELINE", baselines=True, words=("pretrained",))

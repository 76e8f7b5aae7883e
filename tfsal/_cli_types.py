"""Click parameter types of the ``tfsal`` command line, each a thin wrapper of a :mod:`tfsal.checks` function.

Every command uses these for its shared options, so a value is refused with the same one-line message whatever the
command (``Error: Invalid value for '--batch-size': must be a positive integer; got 0``), while arguments are
parsed, before TensorFlow is imported.
"""
import click

from tfsal import checks
from tfsal.errors import UserError

__all__ = ["Checked", "POSITIVE_INT", "NON_NEGATIVE_INT", "SEED", "POSITIVE_FLOAT", "NON_NEGATIVE_FLOAT", "FRACTION",
           "CORRELATION", "IMAGE_SIZE", "INT_LIST", "FINITE_FLOAT"]


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

"""tfsal's error class for bad input, told apart from bugs by the ``tfsal`` command line.

Every check of tfsal that refuses a value, a file or a folder raises :class:`UserError` (a ``ValueError``, so Python
code catching ``ValueError`` keeps working). The command line prints these, and ``FileNotFoundError`` /
``FileExistsError`` (and the other path errors of :data:`USER_ERRORS`), as one line ``Error: ...``; any other
exception is reported as an internal error (a bug) with the way to see its traceback.

Example:
    >>> from tfsal.errors import UserError
    >>> try:
    ...     raise UserError("batch size must be a positive integer; got 0")
    ... except ValueError as err:
    ...     print(err)
    batch size must be a positive integer; got 0
"""

__all__ = ["UserError", "ResourceError", "USER_ERRORS"]


class UserError(ValueError):
    """Bad input (a value, a file, a folder): the message names it, says what was expected and what was got."""


#: Exceptions the command line shows as a one-line error rather than as an internal error: tfsal's own checks, and
#: path errors of the operating system, which name the path (a missing input, an output that exists, a file where
#: a folder was expected, no permission to write).
USER_ERRORS = (UserError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError, PermissionError)


class ResourceError(UserError, RuntimeError):
    """Something tfsal needs from the machine is missing (e.g. ImageNet weights to download without internet)."""

"""Keep TensorFlow's start-up and converter logging out of the ``tfsal`` command line unless the user asks for it.

TensorFlow prints, on import, C++ log lines that no environment variable reaches (``cudart_stub.cc: Could not find
cuda drivers``, ``port.cc: oneDNN custom operations are on``, written by absl before its logging is initialised,
even with ``TF_CPP_MIN_LOG_LEVEL=3``), then at first use ``failed call to cuInit: ... CUDA error`` on a machine
without a GPU (hidden by ``TF_CPP_MIN_LOG_LEVEL=3``), and its Python side logs through absl and the ``tensorflow``
logger. :func:`quiet_tensorflow` silences all three: it sets ``TF_CPP_MIN_LOG_LEVEL=3`` and installs an import hook
(:class:`_QuietImport`) so that TensorFlow, *when something first imports it*, is imported with the process's
standard error (file descriptor 2) pointed at ``/dev/null`` for the duration of the import only, and the absl and
``tensorflow`` Python loggers are then set to ERROR. A command that never needs TensorFlow (a ``.tflite`` model, an
unknown model name refused at once) never imports it. Python exceptions are not affected (an import error still
propagates with its traceback).

``TF_CPP_MIN_LOG_LEVEL`` set by the user is respected as a level: ``3`` (errors hidden) gets the same silencing,
with the Python loggers at CRITICAL, so no TensorFlow or absl line appears; ``0``-``2`` leave TensorFlow's logging
as the user chose. ``tfsal --verbose`` shows everything.
"""
import contextlib
import importlib.abc
import importlib.machinery
import logging
import os
import sys

__all__ = ["quiet_tensorflow", "silenced", "quiet_block", "stderr_to_devnull", "keras_verbosity", "user_wants_tf_logs",
           "user_log_level"]

#: TensorFlow's C++ log levels (``TF_CPP_MIN_LOG_LEVEL``: 0 all, 1 no INFO, 2 no WARNING, 3 no ERROR) and the
#: Python logging level that hides the same records (tensorflow/core/platform/default/logging.cc).
_QUIET_LEVEL = 3
_PYTHON_LEVEL = {None: logging.ERROR, 3: logging.CRITICAL}

_SILENCED = False


def user_log_level():
    """The user's ``TF_CPP_MIN_LOG_LEVEL`` as an int (a value above 3 counts as 3), ``None`` when unset or unreadable.

    Example:
        >>> user_log_level() in (None, 0, 1, 2, 3)
        True
    """
    text = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    try:
        return None if text is None else max(0, min(_QUIET_LEVEL, int(text.strip())))
    except ValueError:
        return None


def user_wants_tf_logs(verbose=False):
    """True when TensorFlow's logging should be left alone: ``verbose``, or ``TF_CPP_MIN_LOG_LEVEL`` set below 3.

    Example:
        >>> user_wants_tf_logs(verbose=True)
        True
    """
    if verbose:
        return True
    return "TF_CPP_MIN_LOG_LEVEL" in os.environ and user_log_level() != _QUIET_LEVEL


def _quiet_python_loggers(level):
    """Set TensorFlow's and absl's Python loggers to ``level`` (a ``logging`` level)."""
    logging.getLogger("tensorflow").setLevel(level)
    absl_logging = sys.modules.get("absl.logging")
    if absl_logging is not None:
        absl_logging.set_verbosity({logging.CRITICAL: absl_logging.FATAL}.get(level, absl_logging.ERROR))


class _QuietLoader(importlib.abc.Loader):
    """The ``tensorflow`` package's own loader, run with file descriptor 2 at ``/dev/null`` (and the Python loggers
    set afterwards); the module gets its own loader back once imported."""

    def __init__(self, loader, level):
        self._loader, self._level = loader, level

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        try:
            with stderr_to_devnull():
                self._loader.exec_module(module)
        finally:
            module.__loader__ = self._loader
            if getattr(module, "__spec__", None) is not None:
                module.__spec__.loader = self._loader
        _quiet_python_loggers(self._level)

    def __getattr__(self, name):  # resource readers and the like: the real loader's
        return getattr(self._loader, name)


class _QuietImport(importlib.abc.MetaPathFinder):
    """A ``sys.meta_path`` finder that wraps the loader of the top-level ``tensorflow`` package in
    :class:`_QuietLoader` (it finds nothing itself: :class:`importlib.machinery.PathFinder` does)."""

    def __init__(self, level):
        self.level = level

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _QuietLoader(spec.loader, self.level)
        return spec


def quiet_tensorflow(verbose=False):
    """Silence TensorFlow's logging (see the module docstring), now or when it is first imported; does nothing when
    the user wants its logs.

    Args:
        verbose: leave TensorFlow's logging as it is.

    Returns:
        ``True`` when logging is silenced.

    Example:
        >>> quiet_tensorflow()  # doctest: +SKIP
        True
    """
    global _SILENCED
    if _SILENCED:
        return True
    if user_wants_tf_logs(verbose):
        return False
    _SILENCED = True
    level = _PYTHON_LEVEL[user_log_level() if "TF_CPP_MIN_LOG_LEVEL" in os.environ else None]
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = str(_QUIET_LEVEL)
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    if "tensorflow" in sys.modules:
        _quiet_python_loggers(level)
    elif not any(isinstance(f, _QuietImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport(level))
    return True


def _repoint_log_handlers(old, new):
    """Point logging handlers created inside :func:`stderr_to_devnull` (e.g. TensorFlow's, made on import with the
    ``sys.stderr`` of the moment) at ``new`` before the stream ``old`` is closed."""
    loggers = [logging.getLogger()] + [v for v in logging.Logger.manager.loggerDict.values()
                                       if isinstance(v, logging.Logger)]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is old:
                handler.setStream(new)


@contextlib.contextmanager
def stderr_to_devnull(enabled=True):
    """Point file descriptor 2 at ``/dev/null`` inside the block (C/C++ writes to stderr are dropped).

    Python's own ``sys.stderr`` keeps writing to the real standard error (progress bars stay visible): when it is
    file descriptor 2 it is swapped for a stream on a copy of it for the duration of the block. A failure to
    redirect (no ``/dev/null``, no fd 2) is ignored.
    """
    if not enabled:
        yield
        return
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError, OSError):
        pass
    try:
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        yield
        return
    python_stderr = sys.stderr
    try:
        uses_fd2 = python_stderr.fileno() == 2
    except (AttributeError, ValueError, OSError):
        uses_fd2 = False
    try:
        os.dup2(devnull, 2)
        if uses_fd2:
            sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1, encoding=getattr(python_stderr, "encoding", None),
                                   errors="backslashreplace")
        yield
    finally:
        if sys.stderr is not python_stderr:
            _repoint_log_handlers(sys.stderr, python_stderr)
            try:
                sys.stderr.close()
            finally:
                sys.stderr = python_stderr
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def silenced():
    """True once :func:`quiet_tensorflow` has silenced TensorFlow in this process (then tfsal also drops the C++ log
    lines of slow steps such as the TFLite converter)."""
    return _SILENCED


@contextlib.contextmanager
def quiet_block(enabled=None):
    """Inside the block, drop C++ log lines (:func:`stderr_to_devnull`) and Python warnings of TensorFlow's and
    LiteRT's (e.g. the TFLite converter's ``UserWarning``); ``enabled=None`` → :func:`silenced`."""
    import warnings

    enabled = silenced() if enabled is None else enabled
    with warnings.catch_warnings():
        if enabled:
            for module in (r"tensorflow(\..*)?", r"ai_edge_litert(\..*)?", r"keras(\..*)?", r"tf2onnx(\..*)?"):
                warnings.filterwarnings("ignore", module=module)
        with stderr_to_devnull(enabled):
            yield


def keras_verbosity(verbose=None):
    """Keras ``fit`` verbosity: ``verbose`` when given, else 1 (progress bar) on a terminal, 2 (one line per epoch)
    when standard output is redirected to a file or a pipe.

    Example:
        >>> keras_verbosity(0)
        0
    """
    if verbose is not None:
        return verbose
    try:
        return 1 if sys.stdout.isatty() else 2
    except (AttributeError, ValueError):
        return 2

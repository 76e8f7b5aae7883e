"""Keep TensorFlow's start-up and converter logging out of the ``tfsal`` command line unless the user asks for it.

TensorFlow prints, on import, C++ log lines that no environment variable reaches (``cudart_stub.cc: Could not find
cuda drivers``, written by absl before its logging is initialised), then at first use ``failed call to cuInit: ...
CUDA error`` on a machine without a GPU (hidden by ``TF_CPP_MIN_LOG_LEVEL=3``), and its Python side logs through
absl and the ``tensorflow`` logger. :func:`quiet_tensorflow` silences all three: it sets ``TF_CPP_MIN_LOG_LEVEL=3``,
imports TensorFlow with the process's standard error (file descriptor 2) pointed at ``/dev/null`` for the duration
of the import only, and sets the absl and ``tensorflow`` Python loggers to ERROR. Python exceptions are not
affected (an import error still propagates with its traceback).

Nothing is silenced when the user asked to see it: ``tfsal --verbose``, or ``TF_CPP_MIN_LOG_LEVEL`` already set in
the environment.
"""
import contextlib
import logging
import os
import sys

__all__ = ["quiet_tensorflow", "silenced", "quiet_block", "stderr_to_devnull", "keras_verbosity", "user_wants_tf_logs"]

_SILENCED = False


def user_wants_tf_logs(verbose=False):
    """True when TensorFlow's logging should be left alone: ``verbose``, or ``TF_CPP_MIN_LOG_LEVEL`` set by the user."""
    return bool(verbose) or "TF_CPP_MIN_LOG_LEVEL" in os.environ


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
            try:
                sys.stderr.close()
            finally:
                sys.stderr = python_stderr
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quiet_tensorflow(verbose=False):
    """Import TensorFlow quietly (see the module docstring); does nothing when the user wants its logs.

    Args:
        verbose: leave TensorFlow's logging as it is.

    Returns:
        ``True`` when logging was silenced.

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
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    if "tensorflow" not in sys.modules:
        with stderr_to_devnull():
            import tensorflow  # noqa: F401
    import tensorflow as tf

    tf.get_logger().setLevel(logging.ERROR)
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:  # pragma: no cover - absl comes with TensorFlow
        pass
    return True


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

"""Work-arounds for Keras 3 bugs that tfsal's training hits; each is scoped, checked and documented.

``model.fit`` under ``tf.distribute.MultiWorkerMirroredStrategy`` (Keras 3.15, TF backend) fails twice before
the first step:

1. ``TensorFlowTrainer._maybe_symbolic_build`` calls ``strategy.reduce("MEAN", batch)`` on the distributed input
   batch only to learn its shapes, which MultiWorkerMirroredStrategy rejects ("Attempt to convert a value
   (PerReplica ...) to a Tensor"). The fix builds from the first local replica's batch (same shapes and dtypes).
2. ``reduce_per_replica(..., reduction="auto")`` reduces every step's logs with ``strategy.reduce("MEAN", v,
   axis=0)``; the logs are scalars, so it fails with "Invalid reduction dimension 0 for input with 0 dimensions".
   The fix reduces scalars with ``axis=None`` (the mean over workers, as for every other strategy).

:func:`multiworker_fit_fixes` applies both only around one ``fit`` call and only in multi-worker mode, and
restores everything afterwards. ``tests/test_engine.py::test_multiworker_strategy_across_two_local_processes``
runs a real two-worker job through it.
"""
import contextlib
import types

__all__ = ["multiworker_fit_fixes", "is_multiworker", "worker_suffix", "run_graph", "layer_consumers"]


def is_multiworker(strategy):
    """True for a ``MultiWorkerMirroredStrategy`` running with a cluster (``TF_CONFIG`` with several workers)."""
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and bool(
        strategy.extended._in_multi_worker_mode()
    )


def worker_suffix(strategy):
    """``""`` for the chief of a multi-worker job (or any single-process strategy), ``"-workerK"`` for worker K > 0.

    Every worker of a multi-worker job runs the whole of ``train`` (saving included, as Keras requires); the
    chief (worker 0, or the ``chief`` task) writes the run directory, worker K writes ``RUN_DIR-workerK``.
    """
    if not is_multiworker(strategy):
        return ""
    resolver = strategy.cluster_resolver
    task_type, task_id = resolver.task_type, int(resolver.task_id or 0)
    if task_type == "chief" or (task_type == "worker" and task_id == 0
                                and "chief" not in resolver.cluster_spec().as_dict()):
        return ""
    return f"-{task_type}{task_id}"


def _local(strategy, value):
    import tensorflow as tf

    if isinstance(value, tf.distribute.DistributedValues):
        return strategy.experimental_local_results(value)[0]
    return value


def _symbolic_build_from_local_batch(self, iterator=None, data_batch=None):
    """``_maybe_symbolic_build`` that reads shapes from one local replica's batch instead of reducing it."""
    from keras import tree

    strategy = self.distribute_strategy
    if iterator is not None:
        for _, _, it in iterator:
            data_batch = tree.map_structure(lambda x: _local(strategy, x), next(it))
            break
    with strategy.scope():
        self._symbolic_build(data_batch=data_batch)


@contextlib.contextmanager
def multiworker_fit_fixes(model, strategy):
    """Within this block, ``model.fit`` works under a multi-worker ``MultiWorkerMirroredStrategy``.

    Does nothing for any other strategy.

    Args:
        model: the ``keras.Model`` about to be fitted.
        strategy: the ``tf.distribute.Strategy`` it was built under.

    Example:
        >>> import keras, tensorflow as tf
        >>> with multiworker_fit_fixes(keras.Sequential(), tf.distribute.get_strategy()):
        ...     pass
    """
    if not is_multiworker(strategy):
        yield
        return
    import tensorflow as tf
    from keras import tree
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original = tf_trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and is_multiworker(strategy):
            def scalar_mean(v):
                rank = v.shape.rank if hasattr(v, "shape") and not isinstance(v, tf.distribute.DistributedValues) \
                    else _local(strategy, v).shape.rank
                if rank == 0:
                    return strategy.reduce("MEAN", v, axis=None)
                return original(v, strategy, reduction)

            return tree.map_structure(scalar_mean, values)
        return original(values, strategy, reduction)

    tf_trainer.reduce_per_replica = reduce_per_replica
    model._maybe_symbolic_build = types.MethodType(_symbolic_build_from_local_batch, model)
    try:
        yield
    finally:
        tf_trainer.reduce_per_replica = original
        try:
            del model._maybe_symbolic_build
        except AttributeError:
            pass


# --------------------------------------------------------------------------------------------------------------
# Walking a functional model's graph (used by tfsal.quantize). Keras 3 has no public API to intercept every
# layer's output of a functional model; ``Functional._run_through_graph`` (Keras 3.x) is the hook, and
# ``node.input_tensors`` / ``tensor._keras_history`` give the graph's edges. Both are used only here.
# --------------------------------------------------------------------------------------------------------------
def _check_functional(model):
    if not hasattr(model, "_run_through_graph") or not hasattr(model, "_nodes_by_depth"):
        raise TypeError(
            f"expected a functional keras.Model (built from keras.Input); got {type(model).__name__} "
            f"{getattr(model, 'name', '')!r}"
        )


def run_graph(model, inputs, operation_fn):
    """Run a functional model, calling ``operation_fn(layer)(*args, **kwargs)`` in place of each layer."""
    _check_functional(model)
    return model._run_through_graph(inputs, operation_fn=operation_fn)


def layer_consumers(model):
    """``{layer name: [layers that take its output]}`` for a functional model."""
    _check_functional(model)
    consumers = {layer.name: [] for layer in model.layers}
    for layer in model.layers:
        for node in layer._inbound_nodes:
            for tensor in node.input_tensors:
                consumers.setdefault(tensor._keras_history[0].name, []).append(layer)
    return consumers

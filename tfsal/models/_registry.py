"""A tiny model registry in the style of timm: ``register_model``, ``create_model``, ``list_models``.

The builder modules of :mod:`tfsal.models` register their models when they are imported. The registry itself
imports no builder (and no Keras): the package front door (``tfsal/models/__init__.py``) installs a loader with
:func:`set_loader` that imports every builder module, and the registry runs it once, on its first query. So
``import tfsal.models`` (and :mod:`tfsal.runtime`, which runs ``.tflite`` files without TensorFlow) stays cheap.
"""
import dataclasses
import difflib

from tfsal.errors import UserError
from tfsal.models._pretrained import DEFAULT_MODEL, DEFAULT_WEIGHTS, SHIPPED, shipped_names

__all__ = ["register_model", "create_model", "list_models", "model_info", "ModelEntry", "OUTPUT_KINDS", "PREPROCESSING",
           "TASKS", "registered_name", "model_facts", "load_pretrained", "set_loader",
           "load_builders", "NAMES", "known_names", "check_model_name"]

#: Every name the builder modules register (aliases included) → ``(task, alias_of)``, written out so that a name is
#: checked without importing a builder, Keras or TensorFlow (``tfsal predict nosuchmodel ...`` fails at once).
#: ``tests/test_models.py`` checks this table against the registry once every builder is loaded: a new model's
#: ``register_model`` call adds its row here.
NAMES = {
    "baseline-resnet50": ("classifier", None),
    "deepgaze2": ("saliency", None),
    "fastsal": ("saliency", "fastsal-a"),
    "fastsal-a": ("saliency", None),
    "fastsal-c": ("saliency", None),
    "modulated-resnet50": ("classifier", None),
    "salnet": ("saliency", None),
    "shallow": ("saliency", None),
    "shallow-bn": ("saliency", None),
    "table4-efficientnetb0": ("saliency", None),
    "table4-mobilenetv2": ("saliency", None),
    "vgg16-encdec": ("saliency", None),
    "vgg19-encdec": ("saliency", None),
}

#: What a model's output is, by kind: its meaning for an app, and the range of its values (``None``: unbounded).
OUTPUT_KINDS = {
    "sigmoid": {"meaning": "saliency map: sigmoid output in [0, 1], higher = more likely fixated by a human observer "
                           "(not normalised to sum to 1)", "value_range": [0.0, 1.0]},
    "density": {"meaning": "fixation density: a softmax over all pixels, non-negative, each map sums to 1",
                "value_range": [0.0, 1.0]},
    "log-density": {"meaning": "log fixation density: log of a map that sums to 1 (values <= 0; exp() gives the "
                               "density)", "value_range": [None, 0.0]},
    "linear": {"meaning": "unbounded saliency scores (linear output): higher = more salient; min-max normalise "
                          "before display", "value_range": None},
    "class-probabilities": {"meaning": "class probabilities: a softmax over the classes, shape (B, num_classes), "
                                       "each row sums to 1 (a classifier, not a saliency map)",
                            "value_range": [0.0, 1.0]},
}

#: What a registered model is for: ``"saliency"`` (image → map; what predict, evaluate, train and export run) or
#: ``"classifier"`` (image [+ saliency map] → class probabilities; seed 002's modulated ResNet50 and its baseline).
TASKS = ("saliency", "classifier")

#: The input preprocessing inside each model (models take raw RGB pixels in [0, 255]), by key.
PREPROCESSING = {
    "mobilenet": "x / 127.5 - 1 (MobileNetV2's), inside the model: feed raw RGB pixels in [0, 255]",
    "centred-unit": "x / 255 - 0.5, inside the model: feed raw RGB pixels in [0, 255]",
    "caffe": "RGB -> BGR, minus the Caffe/ImageNet means (103.939, 116.779, 123.68), inside the model: feed raw RGB "
             "pixels in [0, 255]",
    "hed": "RGB -> BGR, minus HED's means (104.00699, 116.66877, 122.67892), inside the model: feed raw RGB pixels "
           "in [0, 255]",
    "unit": "x / 255, inside the model: feed raw RGB pixels in [0, 255]",
}


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """What the registry knows about one model name.

    Attributes:
        name: registered name, e.g. ``"fastsal-a"``.
        builder: the public builder function.
        default_input_shape: ``(H, W, 3)`` used when none is given.
        paper: a dict of figures reported in the paper (``params``, ``gflops``) for ``tfsal info``.
        recipe: name of the training recipe in :mod:`tfsal.train` (``None`` for models not trained by tfsal).
        test_input_shape: a second valid, small input shape used by the parametrised model test.
        alias_of: the canonical name when this entry is an alias.
        start_weights: the ``weights`` value ``tfsal train`` starts from by default when it can be had (e.g.
            ``"imagenet-dogs"`` for the MobileNetV2 models); ``None``: random.
        start_recipe: the recipe ``tfsal train`` uses by default when it starts from ``start_weights`` (a
            fine-tuning recipe); ``recipe`` otherwise.
        preprocessing: a :data:`PREPROCESSING` key: the input normalisation inside the model as built by default.
        output_kind: an :data:`OUTPUT_KINDS` key: what the output is as built by default.
        task: a :data:`TASKS` value: ``"saliency"`` (a map out) or ``"classifier"`` (class probabilities out).
        test_kwargs: extra builder arguments of the parametrised model test at ``test_input_shape`` (e.g. a small
            ResNet for the classifiers).
        export_fold: ``None`` or a function ``model -> (equivalent keras.Model, sidecar facts dict) | None`` that
            :func:`tfsal.export.export_model` converts instead of the model (an exact rewrite that runs faster,
            e.g. FastSal's folds, :mod:`tfsal.models._fastsal_fold`).
        int8_float_layers: layer-name prefixes whose ops a full-integer TFLite export keeps float32 by default
            (``tfsal export --quantize int8 --float-ops auto``; FastSal: its decoder, export/README.md); ``()``: all
            int8.
    """

    name: str
    builder: object
    default_input_shape: tuple
    paper: dict
    recipe: str | None
    test_input_shape: tuple
    alias_of: str | None = None
    start_weights: str | None = None
    start_recipe: str | None = None
    preprocessing: str | None = None
    output_kind: str = "sigmoid"
    task: str = "saliency"
    test_kwargs: dict = dataclasses.field(default_factory=dict)
    export_fold: object = None
    int8_float_layers: tuple = ()

    @property
    def value_range(self):
        """The range of the output values of :attr:`output_kind` (``None``: unbounded)."""
        return OUTPUT_KINDS[self.output_kind]["value_range"]

    @property
    def meaning(self):
        """What the output is, in one sentence (:data:`OUTPUT_KINDS`)."""
        return OUTPUT_KINDS[self.output_kind]["meaning"]

    @property
    def preprocessing_text(self):
        """The input normalisation inside the model, in one sentence (:data:`PREPROCESSING`)."""
        return PREPROCESSING.get(self.preprocessing, "unknown: see the model's first layers")


_REGISTRY: dict = {}
_LOADER = {"load": None, "done": False}


def set_loader(load):
    """Install the function that imports every builder module (the package front door does, once).

    Args:
        load: a callable without arguments; run once, before the registry's first query.

    Example:
        >>> set_loader(lambda: None)  # doctest: +SKIP
    """
    _LOADER["load"], _LOADER["done"] = load, False


def load_builders():
    """Import every builder module (once), so every model and its Keras layers are registered.

    Returns:
        The number of registered names (aliases included).

    Example:
        >>> load_builders() >= 9
        True
    """
    return len(_entries())


def _entries():
    """The registry, complete: every builder module imported first (once)."""
    if not _LOADER["done"] and _LOADER["load"] is not None:
        _LOADER["done"] = True
        _LOADER["load"]()
    return _REGISTRY


def register_model(name, *, default_input_shape, test_input_shape, paper=None, recipe=None, aliases=(),
                   start_weights=None, start_recipe=None, preprocessing=None, output_kind="sigmoid", task="saliency",
                   test_kwargs=None, export_fold=None, int8_float_layers=()):
    """Decorator that registers a model builder under ``name`` (and optional aliases).

    Args:
        name: the registered name.
        default_input_shape: ``(H, W, 3)`` input used by default.
        test_input_shape: another valid (small) input shape for tests.
        paper: the paper's figures, e.g. ``{"params": 3.65e6, "gflops": 1.32}``.
        recipe: training recipe name.
        aliases: extra names resolving to the same builder.
        start_weights: default training start (see :class:`ModelEntry`).
        start_recipe: default recipe from that start (see :class:`ModelEntry`).
        preprocessing: a :data:`PREPROCESSING` key (the normalisation inside the model).
        output_kind: an :data:`OUTPUT_KINDS` key (what the default output is).
        task: ``"saliency"`` or ``"classifier"`` (:data:`TASKS`).
        test_kwargs: extra builder arguments for the parametrised model test.
        export_fold: the export's graph rewrite hook (see :class:`ModelEntry`).
        int8_float_layers: layer-name prefixes an int8 export keeps float by default (see :class:`ModelEntry`).

    Returns:
        The decorator; the builder is returned unchanged.

    Example:
        >>> @register_model("my-net", default_input_shape=(64, 64, 3), test_input_shape=(32, 32, 3))
        ... def my_net(input_shape=(64, 64, 3), weights=None): ...
    """

    if output_kind not in OUTPUT_KINDS:
        raise ValueError(f"output_kind must be one of {sorted(OUTPUT_KINDS)}; got {output_kind!r}")
    if preprocessing is not None and preprocessing not in PREPROCESSING:
        raise ValueError(f"preprocessing must be one of {sorted(PREPROCESSING)}; got {preprocessing!r}")
    if task not in TASKS:
        raise ValueError(f"task must be one of {list(TASKS)}; got {task!r}")

    def wrap(builder):
        for n in (name, *aliases):
            if n in _REGISTRY:
                raise ValueError(f"model name {n!r} is already registered (by {_REGISTRY[n].builder.__name__})")
            _REGISTRY[n] = ModelEntry(
                name=n,
                builder=builder,
                default_input_shape=tuple(default_input_shape),
                paper=dict(paper or {}),
                recipe=recipe,
                test_input_shape=tuple(test_input_shape),
                alias_of=None if n == name else name,
                start_weights=start_weights,
                start_recipe=start_recipe,
                preprocessing=preprocessing,
                output_kind=output_kind,
                task=task,
                test_kwargs=dict(test_kwargs or {}),
                export_fold=export_fold,
                int8_float_layers=tuple(int8_float_layers),
            )
        return builder

    return wrap


def model_info(name):
    """Return the :class:`ModelEntry` for ``name``.

    Args:
        name: a registered model name (see :func:`list_models`).

    Returns:
        The registry entry.

    Raises:
        ValueError: the name is not registered; the message lists the registered names.
    """
    if not isinstance(name, str) or name not in _REGISTRY:
        check_model_name(name, task=None)  # an unknown name is refused before any builder (and Keras) is imported
    try:
        return _entries()[name]
    except KeyError:
        raise _unknown_model(name, None) from None


def known_names(include_aliases=True, task="saliency"):
    """Sorted registered names, known without importing a builder: :data:`NAMES` and the models registered so far.

    Args:
        include_aliases: also list alias names (``fastsal``).
        task: only the names of this :data:`TASKS` value; ``None`` for every name.

    Returns:
        A list of names.

    Example:
        >>> "fastsal" in known_names()
        True
    """
    table = {n: (e.task, e.alias_of) for n, e in _REGISTRY.items()}
    table.update({n: v for n, v in NAMES.items() if n not in table})
    return sorted(n for n, (t, alias) in table.items()
                  if (include_aliases or alias is None) and (task is None or t == task))


def _unknown_model(name, task):
    names = known_names(include_aliases=True, task=task)
    close = difflib.get_close_matches(str(name), names, n=3, cutoff=0.6)
    hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
    return UserError(f"unknown model {name!r}{hint}; expected one of: {', '.join(names)} (`tfsal models` lists them "
                     "with their shipped weights)")


def check_model_name(name, task=None):
    """``name`` when it is a registered model name (of ``task``), checked without importing a builder or Keras.

    Args:
        name: the name to check.
        task: a :data:`TASKS` value the model must have; ``None``: any.

    Returns:
        ``name``.

    Raises:
        UserError: an unknown name; the message suggests close names and lists the registered ones.

    Example:
        >>> check_model_name("fastsal-a")
        'fastsal-a'
    """
    if not isinstance(name, str) or name not in known_names(include_aliases=True, task=task):
        raise _unknown_model(name, task)
    return name


def create_model(name, **kwargs):
    """Build the registered model ``name``.

    Args:
        name: a registered model name, e.g. ``"fastsal-a"``.
        **kwargs: passed to the builder (``input_shape``, ``weights``, ...).

    Returns:
        A ``keras.Model``.

    Example:
        >>> import tfsal
        >>> m = tfsal.models.create_model("fastsal-a", input_shape=(96, 128, 3))
        >>> m.output_shape
        (None, 96, 128, 1)
    """
    entry = model_info(name)
    kwargs.setdefault("input_shape", entry.default_input_shape)
    weights = kwargs.get("weights")
    shipped = SHIPPED.get((entry.alias_of or entry.name, weights)) if isinstance(weights, str) else None
    for key, value in (shipped.build.items() if shipped else ()):
        kwargs.setdefault(key, value)  # the builder options the shipped weights were trained with
    return entry.builder(**kwargs)


def list_models(include_aliases=False, task="saliency"):
    """Sorted registered model names.

    Args:
        include_aliases: also list alias names (e.g. ``fastsal`` for ``fastsal-a``).
        task: only the models of this :data:`TASKS` value (default ``"saliency"``: the models predict, evaluate,
            train and export run); ``None`` for every registered model.

    Returns:
        A list of names.

    Example:
        >>> list_models(task="classifier")
        ['baseline-resnet50', 'modulated-resnet50']
    """
    if task is not None and task not in TASKS:
        raise UserError(f"task must be one of {list(TASKS)} or None; got {task!r}")
    return sorted(n for n, e in _entries().items()
                  if (include_aliases or e.alias_of is None) and (task is None or e.task == task))


def registered_name(model_or_name):
    """The registered name of a built model (from its Keras name) or of a name; ``None`` when not registered.

    Builders name their Keras models after the registry with ``_`` for ``-`` (``fastsal_a`` for ``fastsal-a``);
    the export folds add ``_folded``, :func:`tfsal.models.with_flip_tta` adds ``_fliptta``.

    Example:
        >>> registered_name("fastsal_a_folded")
        'fastsal-a'
        >>> registered_name("fastsal_a_folded_fliptta")
        'fastsal-a'
    """
    name = model_or_name if isinstance(model_or_name, str) else getattr(model_or_name, "name", "")
    entries = _entries()
    bare = name.removesuffix("_fliptta")
    for candidate in (name, bare, bare.removesuffix("_folded")):
        for key in (candidate, candidate.replace("_", "-")):
            if key in entries:
                return entries[key].alias_of or key
    return None


def _last_layer_kind(model):
    """The output kind read from a model's last layer (``None`` when it cannot tell)."""
    layers = [layer for layer in (getattr(model, "layers", None) or []) if type(layer).__name__ != "Reshape"]
    if not layers:
        return None
    last = layers[-1]  # the last layer that computes values (a Reshape only moves them)
    if type(last).__name__ == "SpatialSoftmax":
        return "density"
    act = getattr(last, "activation", None)
    act = getattr(act, "__name__", act)
    return {"sigmoid": "sigmoid", "linear": "linear", "log_softmax": "log-density"}.get(act)


def model_facts(model, name=None):
    """What an app needs to know about a model's input and output, from the registry (checked against the model).

    The registry entry (looked up by ``name``, else by the model's Keras name, :func:`registered_name`) gives the
    preprocessing and output kind of the model as built by default; the model itself overrides them where it says
    otherwise (a ``VGGPreprocess`` layer's mode, a last layer built with another activation).

    Args:
        model: a ``keras.Model`` (or ``None`` to describe the registered ``name`` alone).
        name: the registered name; ``None`` → from ``model.name``.

    Returns:
        A dict: ``registered_name`` (or ``None``), ``task`` (or ``None``), ``preprocessing`` (a :data:`PREPROCESSING` key or ``None``),
        ``preprocessing_text``, ``output_kind`` (an :data:`OUTPUT_KINDS` key or ``None``), ``meaning`` and
        ``value_range``.

    Example:
        >>> model_facts(None, "deepgaze2")["output_kind"]
        'density'
    """
    key = registered_name(name) if name is not None else registered_name(model) if model is not None else None
    if name is not None and key is None:
        model_info(name)  # raises the unknown-model error with the registered names
    entry = _entries()[key] if key else None
    preprocessing = entry.preprocessing if entry else None
    kind = entry.output_kind if entry else None
    if model is not None:
        for layer in getattr(model, "layers", [])[:4]:
            if type(layer).__name__ == "VGGPreprocess" and getattr(layer, "mode", None) in PREPROCESSING:
                preprocessing = layer.mode
        kind = _last_layer_kind(model) or kind
    return {
        "registered_name": key,
        "task": entry.task if entry else None,
        "preprocessing": preprocessing,
        "preprocessing_text": PREPROCESSING.get(preprocessing,
                                                "unknown (not a registered tfsal model): see the model's first layers"),
        "output_kind": kind,
        "meaning": OUTPUT_KINDS[kind]["meaning"] if kind else "unknown (not a registered tfsal model)",
        "value_range": OUTPUT_KINDS[kind]["value_range"] if kind else None,
    }


def load_pretrained(name=None, weights=None, input_shape=None):
    """A registered model with its shipped trained weights, ready to predict.

    Args:
        name: a registered model name with shipped weights; :data:`~tfsal.models._pretrained.DEFAULT_MODEL`
            (``"fastsal-a"``) when ``None``.
        weights: the weights name; the model's only (or ``DEFAULT_WEIGHTS``) when ``None``.
        input_shape: ``(H, W, 3)``; the size the weights were trained at when ``None``. FastSal is fully
            convolutional, so any multiple of 32 works; the trained size scores best.

    Returns:
        A ``keras.Model``.

    Raises:
        ValueError: the model has no shipped weights, or ``weights`` is not one of them (lists the valid ones).

    Example:
        >>> model = load_pretrained()              # doctest: +SKIP
        >>> model.input_shape                      # doctest: +SKIP
        (None, 224, 320, 3)
    """
    entry = model_info(name or DEFAULT_MODEL)
    canonical = entry.alias_of or entry.name
    names = shipped_names(canonical)
    if not names:
        with_weights = sorted({m for (m, _) in SHIPPED})
        raise ValueError(f"model {canonical!r} has no shipped weights; models with shipped weights: {with_weights}")
    if weights is None:
        weights = DEFAULT_WEIGHTS if DEFAULT_WEIGHTS in names else names[0]
    if weights not in names:
        raise ValueError(f"unknown weights {weights!r} for {canonical!r}; expected one of {names}")
    shipped = SHIPPED[(canonical, weights)]
    return create_model(canonical, input_shape=tuple(input_shape or shipped.input_shape), weights=weights)

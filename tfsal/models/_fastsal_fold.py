"""The FastSal-C/A export folds: exactly equivalent graphs that run faster in TFLite (SPEC §6).

* :func:`fold_fastsal_c`: FastSal-C's decoder without its 1408-channel tensor;
* :func:`fold_fastsal_a`: FastSal-A's 3×3 output conv moved before the last ``depth_to_space``;
* :func:`export_fold`: the registry's ``export_fold`` hook of both models (:class:`tfsal.models.ModelEntry`), which
  :func:`tfsal.export.export_model` calls for the graph it converts (the parity reference stays the unfolded model).

Example:
    >>> from tfsal.models import fastsal_a
    >>> folded, facts = export_fold(fastsal_a(input_shape=(64, 96, 3)))
    >>> folded.output_shape, facts["folded_fastsal_a_head"]
    ((None, 64, 96, 1), True)
"""
import keras
import numpy as np
from keras import layers

from tfsal.errors import UserError
from tfsal.layers import DepthToSpace, ResizeBilinear
from tfsal.models._tta import flip_tta_inner, with_flip_tta

__all__ = ["fold_fastsal_c", "fold_fastsal_a", "export_fold"]


def _subpixel_taps():
    """The 36 ``(u, v, sub, ri, rj, phase)`` of a 3×3 conv after ``depth_to_space(2)``, seen from before it.

    Tap ``(u, v)`` of output sub-pixel ``sub = 2·di + dj`` reads the half-resolution tensor at offset ``(ri, rj) =
    (floor((di+u)/2), floor((dj+v)/2))``, channel block ``phase = 2·((di+u) mod 2) + (dj+v) mod 2``.
    """
    for u in (-1, 0, 1):
        for v in (-1, 0, 1):
            for di in (0, 1):
                for dj in (0, 1):
                    ri, pi = divmod(di + u, 2)
                    rj, pj = divmod(dj + v, 2)
                    yield u, v, 2 * di + dj, ri, rj, 2 * pi + pj


def _is_fastsal_c(model):
    names = {layer.name for layer in model.layers}
    return {"fastsal_dec_concat", "fastsal_dec_d2s", "fastsal_out_conv", "fastsal_up2"} <= names


def fold_fastsal_c(model):
    """An exactly equivalent FastSal-C without the 1408-channel decoder tensor (SPEC §6).

    C's decoder is ``conv3x3(d2s(concat(a1, up2(a2), up4(a3), up8(a4))))`` (+ sigmoid). With ``X`` the concat at
    half resolution and ``Y = d2s(X)``, ``Y[2i+di, 2j+dj, c] = X[i, j, (2·di+dj)·C + c]``, so the 3×3 conv's tap
    ``(u, v)`` at output sub-pixel ``(di, dj)`` reads ``X`` at ``(i + floor((di+u)/2), j + floor((dj+v)/2))``,
    sub-pixel phase ``((di+u) mod 2, (dj+v) mod 2)``. Each of the 36 ``(u, v, di, dj)`` products is a 1×1 conv of
    ``X``; 1×1 convs distribute over the concat and commute with bilinear resizing (a per-pixel linear map), so each
    branch is projected to 36 channels at its own resolution, upsampled with the same ``ResizeBilinear``, and the
    four are summed. A fixed 3×3 "selection" conv (36 → 4, entries 0/1, carrying the original bias) applies the
    half-resolution shifts ``floor((d+u)/2) ∈ {-1, 0, 1}``; its zero 'same' padding is exactly the original conv's
    zero padding (``Y`` is outside the image iff ``X`` is). ``depth_to_space(2)`` gives the 1-channel map.

    Args:
        model: a FastSal-C ``keras.Model`` (``tfsal.models.fastsal_c``, trained or not).

    Returns:
        A new ``keras.Model`` (sharing the encoder and adaptation layers with ``model``) with the same input and
        output; maps agree to float rounding (max abs difference ≈ 1e-6).

    Raises:
        ValueError: ``model`` is not a FastSal-C model.

    Example:
        >>> from tfsal.models import fastsal_c
        >>> m = fastsal_c(input_shape=(64, 96, 3))
        >>> fold_fastsal_c(m).output_shape
        (None, 64, 96, 1)
    """
    if not _is_fastsal_c(model):
        raise UserError(
            f"fold_fastsal_c expects a FastSal-C model (layers fastsal_dec_concat, fastsal_dec_d2s, fastsal_out_conv); "
            f"got model {model.name!r}"
        )
    d2s = model.get_layer("fastsal_dec_d2s")
    if d2s.block_size != 2:
        raise UserError(f"fold_fastsal_c expects depth_to_space(2); got block size {d2s.block_size}")
    out_conv = model.get_layer("fastsal_out_conv")
    kernel, bias = (np.asarray(w, np.float64) for w in out_conv.get_weights())  # (3, 3, C, 1), (1,)
    if kernel.shape[:2] != (3, 3) or kernel.shape[-1] != 1 or out_conv.padding != "same":
        raise UserError(f"fold_fastsal_c expects a 3x3 'same' conv to 1 channel; got kernel {kernel.shape}")
    c = kernel.shape[2]  # 352 channels after depth_to_space

    # w_full[(2·pi+pj)·C + ch, k] with k = index of (u, v, di, dj); sel[ri+1, rj+1, k, 2·di+dj] = 1.
    w_full = np.zeros((4 * c, 36), np.float64)
    sel = np.zeros((3, 3, 36, 4), np.float32)
    for k, (u, v, sub, ri, rj, phase) in enumerate(_subpixel_taps()):
        w_full[phase * c:(phase + 1) * c, k] = kernel[u + 1, v + 1, :, 0]
        sel[ri + 1, rj + 1, k, sub] = 1.0

    branch_tensors = []  # (tensor after adaptation ReLU, upsampling layer or None)
    for level in (1, 2, 3, 4):
        relu = model.get_layer(f"fastsal_adapt{level}_relu").output
        up = None if level == 1 else model.get_layer(f"fastsal_up{level}")
        branch_tensors.append((relu, up))
    widths = [int(t.shape[-1]) for t, _ in branch_tensors]
    if sum(widths) != 4 * c:
        raise ValueError(f"fold_fastsal_c: branch widths {widths} do not add up to 4 x {c} channels")

    projected = []
    start = 0
    for level, ((tensor, up), width) in enumerate(zip(branch_tensors, widths), start=1):
        proj = layers.Conv2D(36, 1, use_bias=False, name=f"fastsal_fold_proj{level}", dtype="float32")
        y = proj(tensor)
        proj.set_weights([w_full[start:start + width].reshape(1, 1, width, 36).astype(np.float32)])
        start += width
        if up is not None:
            y = ResizeBilinear(up.scale, name=f"fastsal_fold_up{level}", dtype="float32")(y)
        projected.append(y)
    x = layers.Add(name="fastsal_fold_sum")(projected)
    select = layers.Conv2D(4, 3, padding="same", name="fastsal_fold_select", dtype="float32")
    x = select(x)
    select.set_weights([sel, np.full((4,), bias[0], np.float32)])
    x = DepthToSpace(2, name="fastsal_fold_d2s", dtype="float32")(x)
    return keras.Model(model.inputs, _fastsal_tail(model, x), name=f"{model.name}_folded")


def _fastsal_tail(model, x):
    """FastSal's optional ``fastsal_prior``, output activation and optional ``fastsal_blur`` on folded logits ``x``."""
    if "fastsal_prior" in {layer.name for layer in model.layers}:
        x = model.get_layer("fastsal_prior")(x)
    activation = model.get_layer("fastsal_out").get_config().get("activation", "linear")
    x = layers.Activation(activation, name="fastsal_out", dtype="float32")(x)
    if "fastsal_blur" in {layer.name for layer in model.layers}:
        x = model.get_layer("fastsal_blur")(x)
    return x


def _is_fastsal_a(model):
    names = {layer.name for layer in model.layers}
    return {"fastsal_dec1_d2s", "fastsal_out_conv", "fastsal_out", "fastsal_dec1_add"} <= names


def _subpixel_kernel(kernel):
    """A 3×3 conv after ``depth_to_space(2)`` as a 3×3 conv before it (4 outputs, one per sub-pixel).

    ``kernel`` is ``(3, 3, C, 1)`` acting on ``Y = d2s(X)`` (``X`` with ``4·C`` channels); the result ``(3, 3, 4·C,
    4)`` acts on ``X``, output channel ``2·di + dj`` giving ``Y``-resolution pixel ``(2i+di, 2j+dj)``: tap ``(u, v)``
    reads ``X`` at ``(i + floor((di+u)/2), j + floor((dj+v)/2))``, channel block ``2·((di+u) mod 2) + (dj+v) mod 2``.
    """
    c = kernel.shape[2]
    out = np.zeros((3, 3, 4 * c, 4), np.float64)
    for u, v, sub, ri, rj, phase in _subpixel_taps():
        out[ri + 1, rj + 1, phase * c:(phase + 1) * c, sub] += kernel[u + 1, v + 1, :, 0]
    return out


def fold_fastsal_a(model):
    """An exactly equivalent FastSal-A whose 3×3 output conv runs at half resolution (SPEC §6, as the C fold).

    A's last layers are ``sigmoid(conv3x3(d2s(y)))`` with ``y`` the ``(H/2, W/2, 8)`` output of the last decoder
    block: a 1-output, 2-input-channel conv over every full-resolution pixel, which XNNPACK runs poorly (measured:
    ≈ 20 % of the int8 model's time). The same conv is a 3×3 conv of ``y`` to 4 channels (one per sub-pixel,
    :func:`_subpixel_kernel`) followed by ``depth_to_space(2)``; 'same' zero padding matches exactly, since a pixel
    of ``d2s(y)`` is outside the image iff its ``y`` pixel is.

    Args:
        model: a FastSal-A ``keras.Model`` (``tfsal.models.fastsal_a``).

    Returns:
        A new ``keras.Model`` sharing every other layer with ``model``; same input, same output to float rounding.

    Raises:
        ValueError: ``model`` is not a FastSal-A model.

    Example:
        >>> from tfsal.models import fastsal_a
        >>> fold_fastsal_a(fastsal_a(input_shape=(64, 96, 3))).output_shape
        (None, 64, 96, 1)
    """
    if not _is_fastsal_a(model):
        raise UserError(f"fold_fastsal_a expects a FastSal-A model (layers fastsal_dec1_d2s, fastsal_out_conv); "
                         f"got model {model.name!r}")
    d2s, out_conv = model.get_layer("fastsal_dec1_d2s"), model.get_layer("fastsal_out_conv")
    kernel, bias = (np.asarray(w, np.float64) for w in out_conv.get_weights())
    if d2s.block_size != 2 or kernel.shape[:2] != (3, 3) or kernel.shape[-1] != 1 or out_conv.padding != "same":
        raise UserError(f"fold_fastsal_a expects depth_to_space(2) then a 3x3 'same' conv to 1 channel; got block "
                         f"size {d2s.block_size}, kernel {kernel.shape}, padding {out_conv.padding!r}")
    y = model.get_layer("fastsal_dec1_add").output
    conv = layers.Conv2D(4, 3, padding="same", name="fastsal_fold_out_conv", dtype="float32")
    x = conv(y)
    conv.set_weights([_subpixel_kernel(kernel).astype(np.float32), np.full((4,), bias[0], np.float32)])
    x = DepthToSpace(2, name="fastsal_fold_d2s", dtype="float32")(x)
    return keras.Model(model.inputs, _fastsal_tail(model, x), name=f"{model.name}_folded")


def export_fold(model):
    """The ``export_fold`` hook of FastSal-C and FastSal-A: the folded graph and the facts for the export sidecar.

    Args:
        model: a ``keras.Model`` registered as ``fastsal-c`` or ``fastsal-a``.

    A flip-TTA wrapper (:func:`tfsal.models.with_flip_tta`) of either model is folded inside: the wrapper of the
    folded model (sidecar fact ``flip_tta``).

    Returns:
        ``(folded keras.Model, {"folded_fastsal_c_decoder": bool, "folded_fastsal_a_head": bool})``, or ``None``
        when the model does not have the layers a fold rewrites (e.g. built without them): it is exported as is.
    """
    inner = flip_tta_inner(model)
    if inner is not None:
        done = export_fold(inner)
        return None if done is None else (with_flip_tta(done[0]), {**done[1], "flip_tta": True})
    is_c, is_a = _is_fastsal_c(model), _is_fastsal_a(model)
    if not (is_c or is_a):
        return None
    folded = fold_fastsal_c(model) if is_c else fold_fastsal_a(model)
    return folded, {"folded_fastsal_c_decoder": is_c, "folded_fastsal_a_head": is_a}

"""Losses for saliency maps: plain tensor functions first, a thin ``keras.losses.Loss`` wrapper second.

Target convention (:data:`tfsal.data.TARGET_CHANNELS`): ``y_true`` is ``(B, h, w, C)`` with the continuous map in
channel 0 (a binary fixation map may follow in channel 1; every loss but :func:`density_nll` ignores it).
``y_pred`` is ``(B, h, w, 1)``, a map in [0, 1] (the models' default sigmoid output; a density for
:func:`density_nll`).
"""
import keras
from keras import ops

from tfsal.errors import UserError
from tfsal.kernels import EPS
from tfsal.kernels import ops as kops

__all__ = ["EPS", "bce", "mse", "kld", "cc", "nss", "kld_cc", "kld_cc_bce", "kld_cc_nss_bce", "density_nll",
           "SaliencyLoss", "LOSSES", "get_loss", "NSS_LOSS_WEIGHT"]

# EPS: MATLAB's eps (2^-52), the ε of the MIT benchmark's KLDiv.m (SPEC §3): the package's one, tfsal.kernels.EPS.
# Clip for BCE on probabilities; Keras' own backend epsilon.
_BCE_CLIP = 1e-7


def _split(y_true, y_pred):
    y_true = ops.cast(y_true[..., :1], "float32")
    y_pred = ops.cast(y_pred, "float32")
    return y_true, y_pred


def _flat(x):
    return ops.reshape(x, (ops.shape(x)[0], -1))


def bce(y_true, y_pred):
    """Binary cross-entropy between the map target and a [0, 1] prediction (FastSal eq. 2, GT term).

    Args:
        y_true: ``(B, h, w, C)`` targets, map in channel 0, values in [0, 1].
        y_pred: ``(B, h, w, 1)`` predicted map in [0, 1].

    Returns:
        ``(B,)`` per-image mean BCE.

    Example:
        >>> import numpy as np
        >>> float(bce(np.full((1, 2, 2, 1), 0.5), np.full((1, 2, 2, 1), 0.5))[0])  # doctest: +ELLIPSIS
        0.693...
    """
    t, p = _split(y_true, y_pred)
    p = ops.clip(p, _BCE_CLIP, 1.0 - _BCE_CLIP)
    per_pixel = -(t * ops.log(p) + (1.0 - t) * ops.log(1.0 - p))
    return ops.mean(_flat(per_pixel), axis=1)


def mse(y_true, y_pred):
    """Mean squared error to the map (Pan et al.'s loss). Returns ``(B,)``."""
    t, p = _split(y_true, y_pred)
    return ops.mean(_flat(ops.square(t - p)), axis=1)


def kld(y_true, y_pred):
    """KL divergence of the sum-normalised prediction from the sum-normalised map (MIT benchmark KLDiv).

    ``Σ G · ln(ε + G / (P + ε))`` with ε = :data:`EPS`. Returns ``(B,)``.
    """
    t, p = _split(y_true, y_pred)
    t, p = _flat(t), _flat(ops.maximum(p, 0.0))
    t = t / (ops.sum(t, axis=1, keepdims=True) + EPS)
    p = p / (ops.sum(p, axis=1, keepdims=True) + EPS)
    return ops.sum(t * ops.log(EPS + t / (p + EPS)), axis=1)


def cc(y_true, y_pred):
    """Pearson correlation between prediction and map, per image (:func:`tfsal.kernels.ops.cc`).

    Returns ``(B,)`` in [-1, 1]; 0 when either map is constant (the package's one CC rule).
    """
    t, p = _split(y_true, y_pred)
    return kops.cc(_flat(t), _flat(p), axis=1)


def nss(y_true, y_pred):
    """NSS of the prediction at the fixated pixels of target channel 1 (0 where there is none). Returns ``(B,)``.

    The prediction is standardised per image (zero mean, unit standard deviation) and averaged over the pixels of
    the binary fixation map, as the MIT benchmark's NSS.m does. Higher is better, so losses subtract it.
    """
    y = ops.cast(y_true, "float32")
    p = _flat(ops.cast(y_pred, "float32"))
    if y.shape[-1] is None or y.shape[-1] < 2:
        return ops.zeros((ops.shape(p)[0],), "float32")
    fix = _flat(ops.cast(y[..., 1:2] > 0, "float32"))
    p = (p - ops.mean(p, axis=1, keepdims=True)) / (ops.std(p, axis=1, keepdims=True) + 1e-6)
    count = ops.sum(fix, axis=1)
    return ops.where(count > 0, ops.sum(p * fix, axis=1) / ops.maximum(count, 1.0), 0.0)


# Weight of the NSS term in kld_cc_nss_bce: NSS is ~2-3 on good maps while KLD, 1 - CC and BCE are ~0.1-1, so 0.1
# keeps its gradient of the same order as the others (tfsal's choice; UNISAL and SAM also subtract a weighted NSS).
NSS_LOSS_WEIGHT = 0.1


def kld_cc(y_true, y_pred, kld_weight=1.0, cc_weight=1.0):
    """``kld_weight · KLD + cc_weight · (1 − CC)``, a common distribution-matching loss. Returns ``(B,)``."""
    return kld_weight * kld(y_true, y_pred) + cc_weight * (1.0 - cc(y_true, y_pred))


def kld_cc_bce(y_true, y_pred):
    """``KLD + (1 − CC) + BCE``: the distribution terms plus BCE, which anchors the map's absolute scale.

    KLD and CC are invariant to the scale of the prediction, so with a sigmoid output alone they let it saturate
    towards 1 over large regions (a flat, low-contrast map); the BCE term keeps the background near 0. Returns ``(B,)``.
    """
    return kld_cc(y_true, y_pred) + bce(y_true, y_pred)


def kld_cc_nss_bce(y_true, y_pred):
    """``KLD + (1 − CC) + BCE − 0.1 · NSS``: :func:`kld_cc_bce` plus the NSS of the fixations (target channel 1)."""
    return kld_cc_bce(y_true, y_pred) - NSS_LOSS_WEIGHT * nss(y_true, y_pred)


def density_nll(y_true, y_pred):
    """Negative log-likelihood of the fixated pixels under a predicted density (DeepGaze II's loss).

    ``y_pred`` must be a probability density per image (it sums to 1, e.g. the softmax output of ``deepgaze2``).
    The loss is ``-Σ f · ln(p + ε) / Σ f`` with ``f`` the binary fixation map of target channel 1, i.e. the mean
    NLL per fixated pixel in nats (``ln(h·w) − loss`` is the information gain over a uniform map). Where channel 1
    is absent or empty the sum-normalised map of channel 0 is used as ``f`` (a cross-entropy, equal to KL to the
    blurred fixation density up to the target's entropy). ε = :data:`EPS`.

    Args:
        y_true: ``(B, h, w, C)`` targets: map in channel 0, fixation map in channel 1 (optional).
        y_pred: ``(B, h, w, 1)`` densities.

    Returns:
        ``(B,)`` per-image NLL.

    Example:
        >>> import numpy as np
        >>> t = np.zeros((1, 2, 2, 2), "float32"); t[0, 0, 0] = 1.0
        >>> round(float(density_nll(t, np.full((1, 2, 2, 1), 0.25))[0]), 4)   # ln 4
        1.3863
    """
    y = ops.cast(y_true, "float32")
    p = _flat(ops.cast(y_pred, "float32"))
    dense = _flat(y[..., :1])
    fix = _flat(y[..., 1:2]) if y.shape[-1] is not None and y.shape[-1] > 1 else dense
    has_fix = ops.sum(fix, axis=1, keepdims=True) > 0
    f = ops.where(has_fix, fix, dense)
    f = f / ops.maximum(ops.sum(f, axis=1, keepdims=True), EPS)
    return -ops.sum(f * ops.log(p + EPS), axis=1)


LOSSES = {"bce": bce, "mse": mse, "kld": kld, "kld_cc": kld_cc, "kld_cc_bce": kld_cc_bce,
          "kld_cc_nss_bce": kld_cc_nss_bce, "density_nll": density_nll}


@keras.saving.register_keras_serializable(package="tfsal")
class SaliencyLoss(keras.losses.Loss):
    """A ``keras.losses.Loss`` around one of :data:`LOSSES`, for ``model.compile(loss=...)``.

    Args:
        kind: a :data:`LOSSES` name: ``"bce"``, ``"mse"``, ``"kld"``, ``"kld_cc"`` or ``"kld_cc_bce"``.
        name: the loss name shown in logs; ``kind`` when ``None``.

    Example:
        >>> loss = SaliencyLoss("kld_cc")
    """

    def __init__(self, kind="bce", name=None, reduction="sum_over_batch_size", dtype=None):
        if kind not in LOSSES:
            raise UserError(f"unknown loss {kind!r}; expected one of {sorted(LOSSES)}")
        super().__init__(name=name or kind, reduction=reduction, dtype=dtype)
        self.kind = kind

    def call(self, y_true, y_pred):
        return LOSSES[self.kind](y_true, y_pred)

    def get_config(self):
        return {"kind": self.kind, "name": self.name, "reduction": self.reduction}


def get_loss(kind):
    """The :class:`SaliencyLoss` for a name, with a clear error for unknown names."""
    return SaliencyLoss(kind)

"""Keras (``keras.ops``) versions of NSS, CC, KLD and SIM, and ``keras.metrics.Metric`` wrappers for ``fit``.

The tensor functions take batches ``(B, H, W, 1)`` (or ``(B, H, W)``) and return one value per image, ``(B,)``,
with the same definitions as the NumPy functions of :mod:`tfsal.metrics` (cvzoya/saliency MATLAB code), in the
prediction's float dtype (float32 by default, float16/bfloat16 inputs are computed in float32). They are
differentiable almost everywhere, so they can also serve as loss terms (e.g. KLD - CC - NSS).

Training convention for ``y_true`` (fixed for the whole package): ``(B, H, W, C)`` where channel 0 is the
continuous ground-truth map in [0, 1] and, when ``C == 2``, channel 1 is the binary fixation map. ``CC``,
``KLD`` and ``SIM`` read channel 0; ``NSS`` reads channel 1 and raises a ``ValueError`` when the model is traced
with ``C < 2``. ``y_pred`` is ``(B, H, W, 1)``, any non-negative map (e.g. a sigmoid output); it is resized
bilinearly to ``y_true``'s size when the static sizes differ.

Each metric keeps a running sum and count of per-image values (``Mean``-style state), so ``result()`` is the mean
over all images seen, which equals the mean of the batch means when batches have equal sizes. Images that the
NumPy functions reject (no fixations for NSS, an all-zero ground-truth map for CC/KLD/SIM) are skipped (weight
0) rather than raising inside the graph.

Example:
    >>> import keras
    >>> from tfsal.metrics.keras_metrics import CC, KLD, NSS, SIM
    >>> model.compile(optimizer="adam", loss=my_loss, metrics=[NSS(), CC(), KLD(), SIM()])  # doctest: +SKIP
"""
import keras
from keras import ops

from tfsal.errors import UserError
from tfsal.kernels import EPS
from tfsal.kernels import ops as kops
from tfsal.metrics._numpy import METRICS

__all__ = ["tensor_nss", "tensor_cc", "tensor_kld", "tensor_sim", "NSS", "CC", "KLD", "SIM", "KERAS_CLASSES"]


# ----------------------------------------------------------------------------------------------------------------
# tensor functions
# ----------------------------------------------------------------------------------------------------------------
def _float(x, dtype=None):
    x = ops.convert_to_tensor(x)
    if dtype is None:
        dtype = x.dtype if x.dtype in ("float32", "float64") else "float32"
    return ops.cast(x, dtype)


def _as_4d(x, name):
    if len(x.shape) == 3:
        x = ops.expand_dims(x, -1)
    if len(x.shape) != 4:
        raise UserError(f"{name} must have shape (B, H, W, 1) or (B, H, W); got shape {tuple(x.shape)}")
    if x.shape[-1] is not None and x.shape[-1] != 1:
        raise UserError(f"{name} must have a single channel; got shape {tuple(x.shape)}")
    return x


def _match_size(pred, target):
    """Resize ``pred`` bilinearly to ``target``'s spatial size when their static sizes differ."""
    ps, ts = tuple(pred.shape[1:3]), tuple(target.shape[1:3])
    if None not in ps and None not in ts and ps != ts:
        pred = ops.image.resize(pred, ts, interpolation="bilinear")
    return pred


_AXES = (1, 2, 3)


def _n_pixels(x):
    """Number of pixels per image as a float tensor (static when the sizes are known)."""
    h, w = x.shape[1], x.shape[2]
    if h is not None and w is not None:
        return ops.cast(h * w, x.dtype)
    return ops.sum(ops.ones_like(x), axis=_AXES)


def _is_constant(x):
    return kops.is_constant(x, _AXES)


def _safe_div(num, den, ok):
    return ops.where(ok, num / ops.where(ok, den, ops.ones_like(den)), ops.zeros_like(num))


def _prepare(saliency_map, target, pred_name, target_name):
    pred = _as_4d(_float(saliency_map), pred_name)
    target = _as_4d(_float(target, pred.dtype), target_name)
    return _match_size(pred, target), target


def _nss_parts(saliency_map, fixation_map):
    s, f = _prepare(saliency_map, fixation_map, "saliency_map", "fixation_map")
    f = ops.cast(ops.greater(f, 0), s.dtype)
    n = _n_pixels(s)
    mean = ops.mean(s, axis=_AXES, keepdims=True)
    d = s - mean
    sd = ops.sqrt(ops.sum(d * d, axis=_AXES) / ops.maximum(n - 1, 1))  # MATLAB std: N-1 (NSS.m)
    n_fix = ops.sum(f, axis=_AXES)
    fix_mean = ops.sum(d * f, axis=_AXES) / ops.maximum(n_fix, 1)
    ok = ops.logical_and(ops.logical_not(_is_constant(s)), ops.greater(sd, 0))
    return _safe_div(fix_mean, sd, ok), ops.greater(n_fix, 0)


def tensor_nss(saliency_map, fixation_map):
    """NSS per image with ``keras.ops``: mean of the z-scored map (std with N-1) at the fixated pixels.

    Args:
        saliency_map: ``(B, H, W, 1)`` prediction.
        fixation_map: ``(B, H, W, 1)`` binary fixation map (value > 0 = fixated).

    Returns:
        ``(B,)`` tensor; 0 for a constant prediction and for an image without fixations.

    Example:
        >>> tensor_nss(pred, fix)  # doctest: +SKIP
    """
    return _nss_parts(saliency_map, fixation_map)[0]


def tensor_cc(saliency_map, saliency_map_gt):
    """CC per image with ``keras.ops``: Pearson correlation between prediction and ground-truth map.

    Args:
        saliency_map: ``(B, H, W, 1)`` prediction.
        saliency_map_gt: ``(B, H, W, 1)`` continuous ground-truth map.

    Returns:
        ``(B,)`` tensor in [-1, 1]; 0 when either map is constant.

    Example:
        >>> tensor_cc(pred, gt)  # doctest: +SKIP
    """
    s, g = _prepare(saliency_map, saliency_map_gt, "saliency_map", "saliency_map_gt")
    return kops.cc(s, g, _AXES)  # tfsal.kernels' one CC rule: 0 when either map is constant


def _sum_normalise(x):
    """``x / sum(x)`` where the map has a non-zero value; an all-zero map stays zero (``KLdiv.m``)."""
    return kops.sum_normalise(x, _AXES)


def tensor_kld(saliency_map, saliency_map_gt):
    """KLD per image with ``keras.ops``: ``sum(G * log(eps + G / (P + eps)))`` of sum-normalised maps.

    Args:
        saliency_map: ``(B, H, W, 1)`` non-negative prediction (sum-normalised here).
        saliency_map_gt: ``(B, H, W, 1)`` continuous ground-truth map.

    Returns:
        ``(B,)`` tensor, lower is better; 0 for an all-zero ground truth.

    Example:
        >>> tensor_kld(pred, gt)  # doctest: +SKIP
    """
    s, g = _prepare(saliency_map, saliency_map_gt, "saliency_map", "saliency_map_gt")
    p = _sum_normalise(s)
    g = _sum_normalise(g)
    eps = ops.cast(EPS, s.dtype)  # MATLAB eps, as in KLdiv.m
    return ops.sum(g * ops.log(eps + g / (p + eps)), axis=_AXES)


def _sim_normalise(x):
    """``similarity.m``: min-max then sum-normalise; all-zero stays zero; constant non-zero becomes uniform."""
    return kops.minmax_density(x, _AXES, zero_stays_zero=True)


def tensor_sim(saliency_map, saliency_map_gt):
    """SIM per image with ``keras.ops``: ``sum(min(P, G))`` of min-max then sum-normalised maps.

    Args:
        saliency_map: ``(B, H, W, 1)`` prediction.
        saliency_map_gt: ``(B, H, W, 1)`` continuous ground-truth map.

    Returns:
        ``(B,)`` tensor in [0, 1].

    Example:
        >>> tensor_sim(pred, gt)  # doctest: +SKIP
    """
    s, g = _prepare(saliency_map, saliency_map_gt, "saliency_map", "saliency_map_gt")
    return ops.sum(ops.minimum(_sim_normalise(s), _sim_normalise(g)), axis=_AXES)


# ----------------------------------------------------------------------------------------------------------------
# keras.metrics.Metric wrappers
# ----------------------------------------------------------------------------------------------------------------
class _SaliencyMean(keras.metrics.Metric):
    """Running mean over images of a per-image saliency metric of ``(y_true, y_pred)``."""

    _default_name = None

    def __init__(self, name=None, dtype=None):
        super().__init__(name=name or self._default_name, dtype=dtype)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def _channel(self, y_true, index):
        y_true = ops.convert_to_tensor(y_true)
        if len(y_true.shape) != 4:
            raise UserError(
                f"{self.__class__.__name__}: y_true must have shape (B, H, W, C) with channel 0 the saliency map "
                f"and channel 1 the fixation map; got shape {tuple(y_true.shape)}"
            )
        return y_true[..., index:index + 1]

    def _values(self, y_true, y_pred):  # -> (values (B,), valid (B,) bool)
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Accumulate the per-image values of one batch (images without valid ground truth get weight 0)."""
        y_pred = _float(y_pred, "float32" if self.dtype in (None, "float16", "bfloat16") else self.dtype)
        values, valid = self._values(y_true, y_pred)
        values = ops.cast(values, self.dtype)
        weight = ops.cast(valid, self.dtype)
        if sample_weight is not None:  # one weight per image; extra axes are averaged
            sw = ops.cast(ops.convert_to_tensor(sample_weight), self.dtype)
            if len(sw.shape) > 1:
                sw = ops.mean(ops.reshape(sw, (ops.shape(sw)[0], -1)), axis=1)
            weight = weight * sw
        values = ops.where(ops.greater(weight, 0), values, ops.zeros_like(values))
        self.total.assign_add(ops.sum(values * weight))
        self.count.assign_add(ops.sum(weight))

    def result(self):
        """Mean of the per-image values seen since the last reset (0 before any valid image)."""
        return ops.divide_no_nan(self.total, self.count)

    def reset_state(self):
        """Zero the running sum and count."""
        self.total.assign(0.0)
        self.count.assign(0.0)

    def get_config(self):
        """``{"name", "dtype"}``; the classes have no other arguments."""
        return {"name": self.name, "dtype": self.dtype}


def _gt_valid(gt):
    return ops.any(ops.not_equal(gt, 0), axis=_AXES)


class _FixationMean(_SaliencyMean):
    """A metric of the binary fixation map in channel 1 of ``y_true`` (images without fixations: weight 0)."""

    _parts = None  # (y_pred, fixation map) -> (values (B,), valid (B,)), e.g. _nss_parts

    def _values(self, y_true, y_pred):
        y_true = ops.convert_to_tensor(y_true)
        c = y_true.shape[-1]
        if c is not None and c < 2:
            raise UserError(
                f"{type(self).__name__} needs y_true of shape (B, H, W, 2) with the binary fixation map in channel 1 "
                f"(channel 0: saliency map); got y_true with {c} channel(s), shape {tuple(y_true.shape)}"
            )
        return type(self)._parts(y_pred, self._channel(y_true, 1))


class _MapMean(_SaliencyMean):
    """A metric of the ground-truth saliency map in channel 0 of ``y_true`` (images with an all-zero map: weight 0)."""

    _kernel = None  # the tensor function, e.g. tensor_cc

    def _values(self, y_true, y_pred):
        gt = self._channel(y_true, 0)
        return type(self)._kernel(y_pred, gt), _gt_valid(ops.cast(gt, y_pred.dtype))


_CLASS_DOC = """Mean {name} over images ({better} is better; ``{matlab}``); reads {reads} of ``y_true``.

    Args:
        name: metric name (default ``"{lower}"``).
        dtype: dtype of the state and result (default float32).

    Returns:
        A ``keras.metrics.Metric``; ``result()`` is the mean {name} of all images with {valid}.

    Example:
        >>> model.compile(optimizer="adam", loss=loss, metrics=[{cls}()])  # doctest: +SKIP
    """


def _metric_class(name, info):
    """The registered ``keras.metrics.Metric`` class of one row of the metrics table (:data:`METRICS`)."""
    lower = info.keras.lower()
    fixations = "fixation_map" in info.requires
    doc = _CLASS_DOC.format(
        name=name, better="higher" if info.higher_is_better else "lower", matlab=info.matlab_file, lower=lower,
        cls=info.keras, reads="the fixation map from channel 1" if fixations else "the ground-truth map from channel 0",
        valid="at least one fixation" if fixations else "a non-zero ground truth")
    body = ({"_parts": staticmethod(globals()[f"_{lower}_parts"])} if fixations
            else {"_kernel": staticmethod(globals()[f"tensor_{lower}"])})
    cls = type(info.keras, (_FixationMean if fixations else _MapMean,),
               {"__doc__": doc, "__module__": __name__, "_default_name": lower, **body})
    return keras.saving.register_keras_serializable(package="tfsal")(cls)


#: The Keras metric classes by benchmark name, generated from the metrics table (:data:`tfsal.metrics.METRICS`).
KERAS_CLASSES = {name: _metric_class(name, info) for name, info in METRICS.items() if info.keras}
NSS, CC, KLD, SIM = (KERAS_CLASSES[name] for name in ("NSS", "CC", "KLD", "SIM"))

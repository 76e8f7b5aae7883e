"""Evaluate saliency maps against a dataset's fixations with the MIT-benchmark metrics."""
import numpy as np

from tfsal._io import read_image
from tfsal.data import centre_bias_map, fixation_map, saliency_map_from_fixations

__all__ = ["DEFAULT_METRICS", "score_maps", "summarize", "format_table", "predict_examples", "centre_bias_maps"]

# Metrics printed after training (fast ones; `tfsal evaluate` adds the sampled AUCs and IG).
DEFAULT_METRICS = ("NSS", "CC", "KLD", "SIM", "AUC-Judd")


def _metric_fns():
    from tfsal import metrics

    return {
        "NSS": lambda p, fix, gt: metrics.nss(p, fix),
        "CC": lambda p, fix, gt: metrics.cc(p, gt),
        "KLD": lambda p, fix, gt: metrics.kld(p, gt),
        "SIM": lambda p, fix, gt: metrics.sim(p, gt),
        "AUC-Judd": lambda p, fix, gt: metrics.auc_judd(p, fix),
    }


def score_maps(maps, examples, metrics=DEFAULT_METRICS, progress=False):
    """Score predicted maps against each example's ground truth at the image's own resolution.

    The ground truth is built from the example's fixations at its original size (binary fixation map for NSS and
    AUC; the blurred map of :func:`tfsal.data.saliency_map_from_fixations` for CC, KLD and SIM); predictions are
    resized to it by the metric functions (SPEC §3).

    Args:
        maps: list of predicted maps, one per example, any size.
        examples: list of :class:`~tfsal.data.Example` with fixations.
        metrics: metric names (a subset of :data:`DEFAULT_METRICS`).
        progress: show a progress bar.

    Returns:
        A dict metric name → ``(N,)`` array of per-image scores.
    """
    fns = _metric_fns()
    unknown = [m for m in metrics if m not in fns]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; expected a subset of {list(fns)}")
    if len(maps) != len(examples):
        raise ValueError(f"got {len(maps)} maps for {len(examples)} examples")
    scores = {m: np.zeros(len(examples)) for m in metrics}
    bar = _progress(len(examples)) if progress else None
    for i, (p, ex) in enumerate(zip(maps, examples)):
        pts = ex.normalized_fixations()
        shape = (ex.height, ex.width)
        fix = fixation_map(pts, shape)
        gt = saliency_map_from_fixations(pts, shape)
        for m in metrics:
            scores[m][i] = fns[m](np.asarray(p, np.float64), fix, gt)
        if bar is not None:
            bar.update(i + 1)
    return scores


def summarize(scores):
    """Mean and standard deviation over images: ``{metric: (mean, std)}``."""
    return {m: (float(np.mean(v)), float(np.std(v))) for m, v in scores.items()}


def format_table(rows, metrics=None):
    """A plain-text table; ``rows`` maps a row name to ``{metric: (mean, std)}``."""
    metrics = list(metrics or next(iter(rows.values())).keys())
    width = max(len(r) for r in rows) + 2
    lines = [f"{'':{width}}" + "".join(f"{m:>16}" for m in metrics)]
    for name, summary in rows.items():
        lines.append(f"{name:{width}}" + "".join(
            f"{summary[m][0]:>9.3f} ±{summary[m][1]:5.3f}" if m in summary else f"{'-':>16}" for m in metrics))
    return "\n".join(lines)


def predict_examples(model, examples, batch_size=8):
    """Predicted maps for dataset examples (each at its image's own size)."""
    from tfsal.predict import predict_maps

    return predict_maps(model, [read_image(e.image_path) for e in examples], batch_size=batch_size)


def centre_bias_maps(train_examples, examples, shape=(96, 128)):
    """The centre-bias baseline: one map from the training fixations, at every example's size."""
    import cv2

    cb = centre_bias_map([e.normalized_fixations() for e in train_examples], shape)
    return [cv2.resize(cb, (e.width, e.height), interpolation=cv2.INTER_LINEAR) for e in examples]


def _progress(total):
    import keras

    return keras.utils.Progbar(total, unit_name="image")

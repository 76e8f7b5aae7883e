"""The parity check: an exported file run in its app runtime against the Keras model, on real images."""
import numpy as np

from tfsal import kernels

__all__ = ["parity_check"]


def parity_check(model, runner, images, batch_size=8):
    """Compare an exported model with the Keras model on images: CC per image and max abs difference.

    CC is :func:`tfsal.kernels.cc` (0 when either map is constant).

    Args:
        model: the ``keras.Model`` (the reference; for FastSal-C the unfolded model).
        runner: a callable mapping one ``(1, H, W, 3)`` float32 raw-pixel batch to the exported model's maps
            ``(1, h, w)`` (a :class:`tfsal.runtime.Runner`).
        images: ``(N, H, W, 3)`` float32 raw pixels at the model input size.
        batch_size: Keras batch size.

    Returns:
        A dict with ``num_images``, ``cc_mean``, ``cc_min``, ``max_abs_diff``, ``mean_abs_diff``.

    Example:
        >>> parity_check(model, TFLiteRunner("m.tflite"), images)["cc_mean"]  # doctest: +SKIP
        0.9996
    """
    ccs, max_diff, mean_diffs = [], 0.0, []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        ref = np.asarray(model.predict_on_batch(batch), np.float32)
        ref = ref[..., 0] if ref.ndim == 4 else ref
        for x, r in zip(batch, ref):
            y = runner(x[None])[0]
            ccs.append(kernels.cc(r, y))
            diff = np.abs(r - y)
            max_diff = max(max_diff, float(diff.max()))
            mean_diffs.append(float(diff.mean()))
    return {
        "num_images": len(ccs),
        "cc_mean": float(np.mean(ccs)),
        "cc_min": float(np.min(ccs)),
        "max_abs_diff": max_diff,
        "mean_abs_diff": float(np.mean(mean_diffs)),
    }

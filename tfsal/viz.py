"""Pictures of saliency maps: overlays and image | ground truth | prediction grids, written as PNG.

Maps are always min-max normalised in floating point and clipped before conversion to 8 bits, so negative or
out-of-range predictions never wrap around into bright spots (the display bug reported in seed 000).
"""
import cv2
import numpy as np

from tfsal._io import write_png

__all__ = ["normalize_map", "map_to_uint8", "colorize", "overlay", "prediction_grid", "write_png"]


def normalize_map(saliency_map):
    """Min-max normalise a map to [0, 1] in float32 (a constant map becomes all zeros; NaN becomes 0).

    Example:
        >>> normalize_map(np.array([[-1.0, 1.0]])).tolist()
        [[0.0, 1.0]]
    """
    m = np.nan_to_num(np.asarray(saliency_map, np.float64).squeeze(), nan=0.0)
    lo, hi = m.min(), m.max()
    if hi <= lo:
        return np.zeros(m.shape, np.float32)
    return ((m - lo) / (hi - lo)).astype(np.float32)


def map_to_uint8(saliency_map):
    """A map as ``uint8`` grey levels after min-max normalisation (never wraps around)."""
    return np.round(np.clip(normalize_map(saliency_map), 0.0, 1.0) * 255.0).astype(np.uint8)


def colorize(saliency_map, colormap=cv2.COLORMAP_JET):
    """A map as an RGB heat map ``uint8 (H, W, 3)``."""
    return cv2.cvtColor(cv2.applyColorMap(map_to_uint8(saliency_map), colormap), cv2.COLOR_BGR2RGB)


def overlay(image, saliency_map, alpha=0.5, colormap=cv2.COLORMAP_JET):
    """Blend a heat map of ``saliency_map`` over an RGB image (the map is resized to the image).

    Args:
        image: RGB ``(H, W, 3)``, uint8 or float in [0, 255].
        saliency_map: ``(h, w)`` map, any range.
        alpha: weight of the heat map.
        colormap: an OpenCV colormap.

    Returns:
        RGB ``uint8 (H, W, 3)``.
    """
    img = np.clip(np.asarray(image, np.float32), 0, 255)
    m = normalize_map(saliency_map)
    if m.shape != img.shape[:2]:
        m = cv2.resize(m, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR)
    heat = colorize(m, colormap).astype(np.float32)
    return np.round((1 - alpha) * img + alpha * heat).clip(0, 255).astype(np.uint8)


def _label(tile, text):
    tile = tile.copy()
    cv2.rectangle(tile, (0, 0), (tile.shape[1], 16), (0, 0, 0), -1)
    cv2.putText(tile, text, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def prediction_grid(images, ground_truths, predictions, fixations=None, labels=None):
    """One row per image: image | ground truth | prediction | GT overlay | prediction overlay.

    Args:
        images: list of RGB images (uint8 or float [0, 255]).
        ground_truths: list of ground-truth maps.
        predictions: list of predicted maps.
        fixations: optional list of ``(N, 2)`` normalised ``(x, y)`` drawn as dots on the image tile.
        labels: optional per-row text (e.g. the image name and its NSS).

    Returns:
        RGB ``uint8`` grid.
    """
    rows = []
    for i, (img, gt, pred) in enumerate(zip(images, ground_truths, predictions)):
        img = np.clip(np.asarray(img, np.float32), 0, 255).astype(np.uint8)
        h, w = img.shape[:2]
        shown = img.copy()
        if fixations is not None:
            for x, y in np.asarray(fixations[i]).reshape(-1, 2):
                cv2.circle(shown, (int(x * w), int(y * h)), 2, (255, 0, 0), -1)
        def fit(m):
            m = normalize_map(m)
            return cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR) if m.shape != (h, w) else m
        tiles = [
            _label(shown, labels[i] if labels else "image"),
            _label(colorize(fit(gt)), "ground truth"),
            _label(colorize(fit(pred)), "prediction"),
            _label(overlay(img, fit(gt)), "GT overlay"),
            _label(overlay(img, fit(pred)), "prediction overlay"),
        ]
        rows.append(np.concatenate([np.pad(t, ((2, 2), (2, 2), (0, 0)), constant_values=255) for t in tiles], 1))
    return np.concatenate(rows, axis=0)

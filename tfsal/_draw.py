"""Drawing primitives on arrays (ground floor): map normalisation, 8-bit grey levels, heat maps, overlays, labels.

The one place these live: :mod:`tfsal.viz` re-exports them for users, and lower layers that draw or encode maps
(``predict``'s PNGs, ``tfsal.data.fixation_preview``) import them from here instead of from ``viz``.

Maps are always min-max normalised in floating point and clipped before conversion to 8 bits, so negative or
out-of-range predictions never wrap around into bright spots (the display bug reported in seed 000).

Example:
    >>> import numpy as np
    >>> map_to_uint8(np.array([[-1.0, 1.0]])).tolist()
    [0, 255]
"""
import cv2
import numpy as np

__all__ = ["normalize_map", "map_to_uint8", "colorize", "overlay", "label_tile"]


def normalize_map(saliency_map):
    """Min-max normalise a map to [0, 1] in float32 (a constant map becomes all zeros; NaN becomes 0).

    Example:
        >>> import numpy as np
        >>> normalize_map(np.array([[-1.0, 1.0]])).tolist()  # squeezed
        [0.0, 1.0]
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

    Example:
        >>> overlay(np.zeros((4, 6, 3), np.uint8), np.ones((2, 3))).shape
        (4, 6, 3)
    """
    img = np.clip(np.asarray(image, np.float32), 0, 255)
    m = normalize_map(saliency_map)
    if m.shape != img.shape[:2]:
        m = cv2.resize(m, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR)
    heat = colorize(m, colormap).astype(np.float32)
    return np.round((1 - alpha) * img + alpha * heat).clip(0, 255).astype(np.uint8)


def label_tile(tile, text):
    """A copy of an RGB ``uint8`` tile with ``text`` written white on a black band at its top.

    Example:
        >>> label_tile(np.zeros((32, 64, 3), np.uint8), "hi").shape
        (32, 64, 3)
    """
    tile = np.array(tile, np.uint8, copy=True, order="C")
    cv2.rectangle(tile, (0, 0), (tile.shape[1], 16), (0, 0, 0), -1)
    cv2.putText(tile, str(text), (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return tile

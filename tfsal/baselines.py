"""Reference saliency baselines in NumPy: a uniform map and the spectral residual model (Hou & Zhang, 2007).

The centre-bias baseline, built from training fixations, lives in the data package.

Example:
    >>> import numpy as np
    >>> from tfsal.baselines import spectral_residual, uniform_map
    >>> image = np.zeros((48, 64, 3), np.uint8); image[20:28, 40:48] = 255
    >>> spectral_residual(image).shape
    (48, 64)
    >>> round(float(uniform_map((48, 64)).sum()), 6)
    1.0
"""
import math

import cv2
import numpy as np

from tfsal.errors import UserError

__all__ = ["uniform_map", "spectral_residual", "BASELINES", "baseline_name"]

#: Baselines usable by name in place of a model (``tfsal evaluate centre-bias``).
BASELINES = ("centre-bias", "uniform", "spectral-residual")
_BASELINE_ALIASES = {
    "centre-bias": "centre-bias", "center-bias": "centre-bias", "centrebias": "centre-bias",
    "centerbias": "centre-bias", "uniform": "uniform", "spectral-residual": "spectral-residual",
    "spectralresidual": "spectral-residual", "sr": "spectral-residual",
}


def baseline_name(name):
    """The canonical :data:`BASELINES` name of ``name`` (aliases such as ``"center-bias"``, ``"sr"``), else ``None``.

    Example:
        >>> baseline_name("Center_Bias")
        'centre-bias'
    """
    key = str(name).strip().lower().replace("_", "-").replace(" ", "-")
    return _BASELINE_ALIASES.get(key) or _BASELINE_ALIASES.get(key.replace("-", ""))

#: MATLAB ``rgb2gray`` weights (R, G, B), used by Hou & Zhang's released code (``imread`` + ``rgb2gray``).
_RGB2GRAY = (0.2989, 0.5870, 0.1140)
#: Width of the image on which the spectrum is computed: Hou & Zhang 2007, §3 ("64 px"), and their code's
#: ``imresize(inImg, 64/size(inImg, 2))``.
_SR_WIDTH = 64
#: Size of the local average filter of the log amplitude spectrum: ``fspecial('average', 3)`` (paper: n = 3).
_SR_AVERAGE = 3
#: Gaussian smoothing of the squared inverse FFT: ``fspecial('gaussian', [10, 10], 2.5)`` in the authors' code
#: (the paper's text gives sigma = 8, for a larger map; the released code's values are used).
_SR_GAUSS_SIZE = 10
_SR_GAUSS_SIGMA = 2.5
#: Our own guard (not in the reference): relative floor of the amplitude spectrum before the logarithm.
_SR_AMPLITUDE_FLOOR = 1e-10


def uniform_map(shape):
    """Uniform saliency map: every pixel ``1 / (H * W)``, so the map sums to 1.

    Args:
        shape: ``(H, W)`` (extra trailing axes, e.g. ``(H, W, 1)``, are kept; the value is ``1 / (H * W)``).

    Returns:
        float32 array of ``shape``.

    Example:
        >>> uniform_map((2, 2))[0, 0]
        np.float32(0.25)
    """
    shape = tuple(int(v) for v in shape)
    if len(shape) < 2 or shape[0] <= 0 or shape[1] <= 0:
        raise UserError(f"shape must be (H, W) with positive sizes; got {shape!r}")
    return np.full(shape, 1.0 / (shape[0] * shape[1]), dtype=np.float32)


def _fspecial_gaussian(size, sigma):
    """MATLAB ``fspecial('gaussian', [size size], sigma)``: centred on the kernel's midpoint, sum 1."""
    r = np.arange(size) - (size - 1) / 2.0
    k = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2.0 * sigma ** 2))
    k[k < np.finfo(float).eps * k.max()] = 0.0
    return k / k.sum()


def spectral_residual(image_rgb_uint8, out_shape=None):
    """Spectral residual saliency (Hou & Zhang, CVPR 2007), following the authors' MATLAB code.

    Steps: grayscale (MATLAB ``rgb2gray`` weights) in [0, 1]; resize to 64 px width (``cv2.INTER_AREA`` when
    shrinking, standing in for MATLAB's antialiased ``imresize``); FFT; log amplitude minus its 3x3 box-filtered
    version (replicated borders); keep the phase; squared magnitude of the inverse FFT; 10x10 Gaussian blur with
    sigma 2.5 (MATLAB ``imfilter``: zero padding, even kernel anchored like MATLAB); bilinear resize to
    ``out_shape``; min-max to [0, 1].

    Args:
        image_rgb_uint8: ``(H, W, 3)`` RGB uint8 image (a float image is taken as RGB in [0, 1]; an ``(H, W)``
            or ``(H, W, 1)`` array as grayscale).
        out_shape: ``(height, width)`` of the output; the image's size when None.

    Returns:
        float32 array ``out_shape`` in [0, 1] (all zeros for a flat image).

    Example:
        >>> import numpy as np
        >>> img = np.zeros((96, 128, 3), np.uint8); img[40:56, 90:106] = 255
        >>> sal = spectral_residual(img, out_shape=(48, 64))
        >>> sal.shape, float(sal.max())
        ((48, 64), 1.0)
    """
    img = np.asarray(image_rgb_uint8)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[-1] != 3) or 0 in img.shape:
        raise UserError(f"image_rgb_uint8 must have shape (H, W, 3) (or (H, W)); got shape {img.shape}")
    if img.dtype == np.uint8:
        img = img.astype(np.float64) / 255.0  # im2double
    elif np.issubdtype(img.dtype, np.floating) or img.dtype == bool:
        img = img.astype(np.float64)
    else:
        raise TypeError(f"image_rgb_uint8 must be uint8 (or float in [0, 1]); got dtype {img.dtype}")
    gray = img if img.ndim == 2 else img @ np.asarray(_RGB2GRAY)
    h, w = gray.shape
    if out_shape is None:
        out_shape = (h, w)
    out_h, out_w = (int(v) for v in out_shape)
    if out_h <= 0 or out_w <= 0:
        raise UserError(f"out_shape must be (height, width) with positive sizes; got {out_shape!r}")

    small_h = max(1, math.ceil(h * _SR_WIDTH / w))  # imresize(inImg, 64/size(inImg, 2)): ceil(scale * size)
    interp = cv2.INTER_AREA if w > _SR_WIDTH else cv2.INTER_LINEAR
    small = cv2.resize(gray, (_SR_WIDTH, small_h), interpolation=interp)

    spectrum = np.fft.fft2(small)
    amplitude = np.abs(spectrum)
    if not amplitude.max() > 0 or small.max() == small.min():  # a flat image has no residual (MATLAB: NaN)
        return np.zeros((out_h, out_w), np.float32)
    # log(abs(myFFT)); exact zeros (MATLAB: -Inf, then NaN) are floored 1e-10 below the largest amplitude
    log_amplitude = np.log(np.maximum(amplitude, _SR_AMPLITUDE_FLOOR * amplitude.max()))
    phase = np.angle(spectrum)
    residual = log_amplitude - cv2.blur(log_amplitude, (_SR_AVERAGE, _SR_AVERAGE),
                                        borderType=cv2.BORDER_REPLICATE)  # imfilter(..., 'replicate')
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * phase))) ** 2
    anchor = (_SR_GAUSS_SIZE - 1) // 2  # imfilter centre floor((size+1)/2), 1-based -> 0-based
    sal = cv2.filter2D(sal, -1, _fspecial_gaussian(_SR_GAUSS_SIZE, _SR_GAUSS_SIGMA), anchor=(anchor, anchor),
                       borderType=cv2.BORDER_CONSTANT)
    sal = cv2.resize(sal, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
    lo, hi = sal.min(), sal.max()
    if not hi > lo:
        return np.zeros((out_h, out_w), np.float32)
    return ((sal - lo) / (hi - lo)).astype(np.float32)

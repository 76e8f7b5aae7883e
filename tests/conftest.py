import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def write_jpeg(path, h, w, seed=0):
    """A small random-but-structured RGB JPEG for tests."""
    import cv2

    r = np.random.default_rng(seed)
    img = (r.random((h, w, 3)) * 255).astype(np.uint8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert cv2.imwrite(str(path), img)
    return path

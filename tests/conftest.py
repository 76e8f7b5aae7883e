import os

import tempfile  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Tests never download the MobileNetV2 start and never see a copy cached on this machine: `tfsal train`'s default
# weights="auto" then starts from random weights, as on a fresh offline machine (tests/test_pretrained.py covers
# the real start with a fixture file in its layout).
os.environ["TFSAL_OFFLINE"] = "1"
os.environ["TFSAL_CACHE"] = tempfile.mkdtemp(prefix="tfsal-test-cache-")
os.environ.pop("TFSAL_MOBILENETV2_H5", None)

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

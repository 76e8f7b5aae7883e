"""Datasets: readers, the tf.data pipeline, fixation maps and the built-in demo data.

Example:
    >>> import tfsal
    >>> train = tfsal.data.demo("train", batch_size=8)           # (image, [map, fixation map]) batches
    >>> val_examples = tfsal.data.read_examples("demo", "val")   # file paths + fixations
"""
from tfsal.data._records import Example, split_of, SPLIT_FRACTIONS
from tfsal.data._maps import (
    DEFAULT_BLUR_SIGMA,
    blur_map,
    centre_bias_map,
    fixation_map,
    saliency_map_from_fixations,
)
from tfsal.data._pipeline import DISTILL_TARGET_CHANNELS, TARGET_CHANNELS, make_dataset
from tfsal.data._load import DEMO_ROOT, LAYOUTS, demo, detect_layout, load, read_demo, read_examples
from tfsal.data.nus import read_nus
from tfsal.data.salicon import read_salicon
from tfsal.data.mit1003 import read_mit1003
from tfsal.data.cat2000 import read_cat2000
from tfsal.data.folder import read_folder, read_image_folder
from tfsal.data.preview import fixation_preview
from tfsal.data.pickled import read_pickled

__all__ = [
    "Example",
    "split_of",
    "SPLIT_FRACTIONS",
    "DEFAULT_BLUR_SIGMA",
    "blur_map",
    "centre_bias_map",
    "fixation_map",
    "saliency_map_from_fixations",
    "TARGET_CHANNELS",
    "DISTILL_TARGET_CHANNELS",
    "make_dataset",
    "DEMO_ROOT",
    "LAYOUTS",
    "demo",
    "detect_layout",
    "load",
    "read_demo",
    "read_examples",
    "read_nus",
    "read_salicon",
    "read_mit1003",
    "read_cat2000",
    "read_folder",
    "read_image_folder",
    "read_pickled",
    "fixation_preview",
]

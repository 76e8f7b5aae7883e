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
from tfsal.data._pipeline import TARGET_CHANNELS, make_dataset
from tfsal.data._load import DEMO_ROOT, LAYOUTS, demo, detect_layout, load, read_demo, read_examples
from tfsal.data.nus import read_nus

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
    "make_dataset",
    "DEMO_ROOT",
    "LAYOUTS",
    "demo",
    "detect_layout",
    "load",
    "read_demo",
    "read_examples",
    "read_nus",
]

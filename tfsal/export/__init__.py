"""Export tfsal models for deployment: TFLite (float32, float16, dynamic-range int8, full-integer int8) and ONNX.

Every export (SPEC §6):

* uses builtin TFLite ops only (``TFLITE_BUILTINS``, plus ``TFLITE_BUILTINS_INT8`` for int8); a model that needs a
  Flex/SELECT_TF_OPS or custom op is refused with a message naming the op, and the ops of the written file are
  listed and checked once more;
* writes a JSON sidecar ``FILE.json`` next to the file with what an app needs (input size, pixel range and dtype,
  quantisation, output meaning, ops, parity results), its facts about the model (preprocessing, output kind) from
  the model registry (:func:`tfsal.models._registry.model_facts`);
* runs the exported file in the runtime an app uses (the LiteRT interpreter, or ONNX Runtime for ``.onnx``) against
  the Keras model on real images and fails loudly (``ValueError``) when the mean CC between the maps is below a
  threshold (:data:`DEFAULT_MIN_CC`);
* converts the registry's ``export_fold`` rewrite of a model where it has one (FastSal-C and FastSal-A:
  :mod:`tfsal.models._fastsal_fold`).

The formats are one table (:data:`EXPORTERS`, in :mod:`tfsal.export._formats`): each row has its convert, runner and
I/O-description functions. :func:`load` and :func:`calibration_images` are what :mod:`tfsal.quantize` uses too.
Nothing reads a path of the checkout: the default calibration and parity images are the built-in demo data.

Example:
    >>> from tfsal.export import export_model
    >>> result = export_model("runs/fastsal/best.keras", quantize="int8")  # doctest: +SKIP
    >>> result.path, result.parity["cc_mean"]  # doctest: +SKIP
    ('runs/fastsal/best_int8.tflite', 0.997)
"""
from tfsal.export._export import RESIZE_METHOD, ExportResult, export_model
from tfsal.export._formats import DEFAULT_MIN_CC, EXPORTERS, FORMATS, Format
from tfsal.export._inputs import LoadedModel, calibration_images, default_parity_images, load, prepare_images
from tfsal.export._parity import parity_check
from tfsal.export._tflite import QUANTIZE_MODES, _convert_tflite, share_identical_vectors, tflite_ops
from tfsal.models._fastsal_fold import fold_fastsal_a, fold_fastsal_c

__all__ = [
    "FORMATS",
    "EXPORTERS",
    "Format",
    "QUANTIZE_MODES",
    "DEFAULT_MIN_CC",
    "ExportResult",
    "export_model",
    "load",
    "LoadedModel",
    "calibration_images",
    "fold_fastsal_c",
    "fold_fastsal_a",
    "share_identical_vectors",
    "tflite_ops",
    "default_parity_images",
    "parity_check",
    "prepare_images",
    "RESIZE_METHOD",
]

_ = _convert_tflite  # kept importable as tfsal.export._convert_tflite (tests, benchmarks/bench_int8_breakdown.py)

"""The table of export formats: for each, its file suffix, its app runtime, the options it accepts, and its convert,
runner and I/O-description functions (as ultralytics' exporter keeps one row per format).

A new format is one row here and a module with ``convert(net, out, settings) -> ops`` and ``describe_io(path)``.
"""
import dataclasses

from tfsal.export import _onnx, _tflite
from tfsal.runtime import OnnxRunner, TFLiteRunner

__all__ = ["Format", "EXPORTERS", "FORMATS", "DEFAULT_MIN_CC", "SELECTIVE_INT8_MIN_CC"]


@dataclasses.dataclass(frozen=True)
class Format:
    """One export format.

    Attributes:
        name: the ``format=`` value.
        suffix: the file suffix.
        runtime: the runtime an app runs it with (the parity check runs it there too).
        options: the :func:`tfsal.export.export_model` options it accepts besides the common ones.
        modes: its quantisation modes (the first is the default); a format without modes has one, its name.
        convert: ``(net, out, settings) -> {op: count}``: writes the file.
        runner: ``path -> Runner`` (:mod:`tfsal.runtime`).
        describe_io: ``path -> (input dict, output dict)`` for the sidecar.
        check_available: raises a one-line error when the format's optional packages are missing.
    """

    name: str
    suffix: str
    runtime: str
    options: tuple
    modes: tuple
    convert: object
    runner: object
    describe_io: object
    check_available: object = None


#: The export formats by name.
EXPORTERS = {
    "tflite": Format("tflite", ".tflite", "LiteRT interpreter (ai-edge-litert)",
                     ("quantize", "io_dtype", "calibration", "num_calibration", "metadata",
                      "float_ops"), _tflite.QUANTIZE_MODES,
                     _tflite.convert, TFLiteRunner, _tflite.describe_io),
    "onnx": Format("onnx", ".onnx", "ONNX Runtime (optional: pip install onnxruntime tf2onnx)", (), ("onnx",),
                   _onnx.convert, OnnxRunner, _onnx.describe_io, _onnx.check_available),
}

#: The same table as plain facts (file suffix, runtime, accepted options), as before the table held functions.
FORMATS = {name: {"suffix": f.suffix, "runtime": f.runtime, "options": f.options} for name, f in EXPORTERS.items()}

#: Parity thresholds on the mean CC between the exported file's maps and the Keras model's maps, per mode.
DEFAULT_MIN_CC = {"none": 0.999, "float16": 0.999, "dynamic": 0.99, "int8": 0.99, "onnx": 0.999}
#: The default parity threshold of an int8 file whose registry entry keeps layers float (``int8_float_layers``,
#: FastSal-A's decoder): the float decoder carries the int8 encoder's small errors into logits of about ±1400, so the
#: map's CC with the Keras model is lower while its scores stay close to the float model's. The shipped FastSal-A
#: (224×320 since issue #24) reads 0.9797 on the demo val images; its file scores OSIE test NSS 2.939 against 2.982
#: and EyeCrowd test 2.126 against 2.140 (experiments/int8_options.py, option f). A broken int8 file reads 0.2–0.3.
SELECTIVE_INT8_MIN_CC = 0.97

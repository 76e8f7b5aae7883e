"""``export_model``: validate the arguments once, load, fold, convert with the format's row, check parity, write
the sidecar."""
import dataclasses
import datetime
import logging
import os
import time

from tfsal import checks
from tfsal._io import sha256_file, write_json
from tfsal._quiet import quiet_block
from tfsal._version import __version__
from tfsal.errors import UserError
from tfsal.export._formats import DEFAULT_MIN_CC, EXPORTERS, SELECTIVE_INT8_MIN_CC
from tfsal.export._inputs import DEFAULT_NUM_CALIBRATION, calibration_images, load, prepare_images
from tfsal.export._inputs import parity_images as _parity_inputs
from tfsal.export._metadata import OVERRIDABLE, SHIPPED_WEIGHTS_LICENSE, UNKNOWN_WEIGHTS_LICENSE
from tfsal.export._parity import parity_check
from tfsal.export._selective import op_precisions, resolve_float_layers
from tfsal.export._tflite import IO_DTYPES
from tfsal.models import flip_tta_inner, model_info, with_flip_tta
from tfsal.models._registry import model_facts

__all__ = ["ExportResult", "export_model", "RESIZE_METHOD"]

log = logging.getLogger("tfsal.export")

#: How an app must resize images for the model, and the map back (as :func:`tfsal.predict.predict_maps` and the
#: parity check do).
RESIZE_METHOD = {
    "input": "bilinear with antialiasing (tf.image.resize(image, (height, width), 'bilinear', antialias=True)) of the "
             "whole image to the input size; aspect ratio not kept, no crop, no padding",
    "output": "bilinear (cv2.resize INTER_LINEAR) of the output map back to the image's own size",
}


@dataclasses.dataclass
class ExportResult:
    """What :func:`export_model` wrote.

    Attributes:
        path: the exported file.
        sidecar: the JSON sidecar (``path + ".json"``).
        format: ``"tflite"`` or ``"onnx"``.
        quantize: the TFLite quantisation mode (``None`` for ONNX).
        size_bytes: file size.
        seconds: conversion time (without the parity check).
        ops: ``{op name: count}`` of the exported file.
        parity: the parity results (see :func:`tfsal.export.parity_check`).
        folded: whether the graph was folded (the registry's ``export_fold``: FastSal-C's decoder, FastSal-A's
            output conv).
        metadata: the sidecar content.
    """

    path: str
    sidecar: str
    format: str
    quantize: object
    size_bytes: int
    seconds: float
    ops: dict = dataclasses.field(default_factory=dict)
    parity: dict = dataclasses.field(default_factory=dict)
    folded: bool = False
    metadata: dict = dataclasses.field(default_factory=dict)

    def summary(self):
        """One line: path, size, time, parity."""
        p = self.parity
        return (
            f"{self.path}  {self.size_bytes / 1e6:.2f} MB  {self.seconds:.1f} s  "
            f"parity CC mean {p.get('cc_mean', float('nan')):.5f} (min {p.get('cc_min', float('nan')):.5f}), "
            f"max |diff| {p.get('max_abs_diff', float('nan')):.4f} on {p.get('num_images', 0)} images"
        )


@dataclasses.dataclass(frozen=True)
class _Settings:
    """The validated options of one export."""

    format: str
    quantize: str | None  # TFLite mode; None for formats without modes
    mode: str  # the key of DEFAULT_MIN_CC
    io_dtype: str
    calibration: object
    num_calibration: int
    num_parity: int
    min_cc: float
    progress: bool
    float_ops: str | None = None  # int8 only: "auto", "none" or the user's prefixes (as given)
    calibration_images: object = None  # filled in once the model's input size is known
    float_layers: tuple = ()  # int8 only: the layer-name prefixes kept float, once the model is known
    metadata: object = None  # TFLite Model Metadata: the overrides dict, then the facts (None: write none)
    min_cc_default: bool = False  # min_cc was not given (an int8 file with float layers then uses its own default)


def _metadata_overrides(metadata):
    """``export_model``'s ``metadata``: ``None``/``True`` → ``{}`` (write the default metadata), ``False`` →
    ``None`` (none), a dict → its checked overrides."""
    if metadata is None or metadata is True:
        return {}
    if metadata is False:
        return None
    if not isinstance(metadata, dict) or not set(metadata) <= set(OVERRIDABLE) or not all(
            isinstance(v, str) for v in metadata.values()):
        raise UserError(f"metadata={metadata!r}: expected True, False or a dict of strings with keys among "
                        f"{', '.join(OVERRIDABLE)}")
    return dict(metadata)


def _validate(format, quantize, io_dtype, calibration, num_calibration, num_parity, min_cc, progress,
              metadata=None, float_ops=None):
    """All argument checks of :func:`export_model`, before anything is loaded."""
    if format not in EXPORTERS:
        raise UserError(f"unknown export format {format!r}; expected one of {', '.join(EXPORTERS)}")
    fmt = EXPORTERS[format]
    given = {"quantize": quantize, "io_dtype": io_dtype, "calibration": calibration,
             "num_calibration": num_calibration, "metadata": metadata, "float_ops": float_ops}
    for name, value in given.items():
        if value is not None and name not in fmt.options:
            raise UserError(f"option {name}={value!r} is not supported by format {format!r} (its options: "
                            f"{', '.join(fmt.options) or 'none'})")
    mode = fmt.modes[0] if quantize is None else str(quantize)
    if mode not in fmt.modes:
        raise UserError(f"unknown quantize option {mode!r}; expected one of {', '.join(fmt.modes)}")
    if mode != "int8":
        for name in ("calibration", "num_calibration", "float_ops"):
            if given[name] is not None:
                raise UserError(f"option {name}={given[name]!r} only applies to quantize='int8'; got {mode!r}")
    allowed_io = IO_DTYPES.get(mode, ("float32",))
    io_dtype = allowed_io[0] if io_dtype is None else str(io_dtype)
    if io_dtype not in allowed_io:
        raise UserError(f"io_dtype {io_dtype!r} is not supported with quantize={mode!r}; expected one of "
                        f"{', '.join(allowed_io)}")
    if fmt.check_available:
        fmt.check_available()
    return _Settings(
        format, mode if "quantize" in fmt.options else None, mode, io_dtype, calibration,
        checks.positive_int(DEFAULT_NUM_CALIBRATION if num_calibration is None else num_calibration,
                            "num_calibration"),
        checks.positive_int(num_parity, "num_parity"),
        DEFAULT_MIN_CC[mode] if min_cc is None else checks.correlation(min_cc, "min_cc"), bool(progress),
        _float_ops_spec(float_ops) if mode == "int8" else None,
        metadata=_metadata_overrides(metadata) if "metadata" in fmt.options else None, min_cc_default=min_cc is None)


def _float_ops_spec(float_ops):
    """``float_ops`` as ``"auto"``, ``"none"`` or a comma-separated string of prefixes (checked)."""
    if float_ops is None:
        return "auto"
    return float_ops if float_ops in ("auto", "none") else ",".join(resolve_float_layers(float_ops, ()))


def _output_paths(out, loaded, name, settings, overwrite):
    suffix = EXPORTERS[settings.format].suffix
    if out is None:
        tag = "" if settings.quantize is None else ("_float32" if settings.quantize == "none" else
                                                     f"_{settings.quantize}")
        out = (os.path.splitext(loaded.source)[0] if loaded.source else name) + tag + suffix
    out = os.fspath(out)
    if not out.endswith(suffix):
        raise UserError(f"output {out!r} must end with {suffix!r} for format {settings.format!r}")
    if not overwrite:
        for p in (out, out + ".json"):
            if os.path.exists(p):
                raise FileExistsError(f"output {p!r} already exists; choose another --out or pass --overwrite")
    return out, out + ".json"


def _fold(model, registered):
    """``(graph to convert, sidecar facts)``: the registry entry's ``export_fold`` rewrite, or the model itself."""
    hook = getattr(model_info(registered), "export_fold", None) if registered else None
    folded = hook(model) if hook else None
    return folded if folded is not None else (model, {})


def _metadata_facts(model, loaded, facts, overrides):
    """The facts of the file's TFLite Model Metadata (:func:`tfsal.export._metadata.saliency_metadata`)."""
    shipped = loaded.weights is not None
    return dict({
        "name": facts["registered_name"] or model.name, "description": None, "author": "tfsal",
        "version": f"tfsal {__version__}" + (f", weights {loaded.weights}" if shipped else ""),
        "license": SHIPPED_WEIGHTS_LICENSE if shipped else UNKNOWN_WEIGHTS_LICENSE,
        "preprocessing": facts["preprocessing_text"], "meaning": facts["meaning"],
        "value_range": facts["value_range"], "input_resize": RESIZE_METHOD["input"],
        "output_resize": RESIZE_METHOD["output"]}, **overrides)


def _io_text(inp, outp, io_dtype):
    feed = ("uint8/int8: q = round(pixel / scale + zero_point)"
            + (" (scale 1 and zero point 0 mean: raw pixel bytes)" if io_dtype == "uint8" else "")
            if io_dtype in ("uint8", "int8") else "float32 pixel values in [0, 255], not normalised")
    read = (f"value = scale * (q - zero_point), with q read as {outp['dtype']} "
            f"({'signed, -128..127' if outp['dtype'] == 'int8' else 'unsigned, 0..255'})"
            if outp["quantization"] else "float32 values")
    return feed, read


def _sidecar(out, settings, model, loaded, facts, io, fold_facts, written, parity, cal_desc):
    (inp, outp), (ops, size, seconds) = io, written
    h, w = model.input_shape[1:3]
    feed, read = _io_text(inp, outp, settings.io_dtype)
    rep = settings.calibration_images
    return {
        "file": os.path.basename(out), "sha256": sha256_file(out), "format": settings.format,
        "quantize": settings.quantize, "model_name": model.name, "registered_name": facts["registered_name"],
        "source_model": os.path.basename(loaded.source) if loaded.source else None, "tfsal_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "input": dict(inp, layout="NHWC", height=int(h), width=int(w), color_order="RGB", pixel_range=[0, 255],
                      preprocessing=facts["preprocessing"], normalisation=facts["preprocessing_text"],
                      resize=RESIZE_METHOD["input"], feed=feed),
        "output": dict(outp, kind=facts["output_kind"], meaning=facts["meaning"], value_range=facts["value_range"],
                       resize=RESIZE_METHOD["output"], read=read),
        "tflite_metadata": settings.metadata is not None,  # TFLite Model Metadata inside the file
        "flip_tta": flip_tta_inner(model) is not None, "folded": bool(fold_facts), **fold_facts,
        "ops": ops, "size_bytes": size, "export_seconds": round(seconds, 2),
        "calibration": {"images": cal_desc, "num_images": len(rep)} if rep is not None else None,
        "int8_float": _float_facts(out, settings) if settings.quantize == "int8" else None,
        "parity": parity, "parity_passed": bool(parity["cc_mean"] >= settings.min_cc),
    }


def _with_tta(model):
    """``model`` with flip TTA folded in (once: a model that already has it is returned as it is)."""
    return model if flip_tta_inner(model) is not None else with_flip_tta(model)


def _float_facts(out, settings):
    """The sidecar's record of the int8 file's float ops: the requested layers and the ops that compute in float."""
    precisions = op_precisions(out)
    return {"float_ops": settings.float_ops, "layers": list(settings.float_layers),
            "float_op_counts": precisions.get("float32", {}),
            "int8_op_counts": _sum_counts(precisions.get(dt, {}) for dt in ("int8", "uint8"))}


def _sum_counts(rows):
    total = {}
    for row in rows:
        for k, v in row.items():
            total[k] = total.get(k, 0) + v
    return dict(sorted(total.items()))


def _parity_error(out, sidecar, parity, settings):
    return UserError(
        f"parity check failed for {out!r}: mean CC {parity['cc_mean']:.5f} (min {parity['cc_min']:.5f}) against "
        f"the Keras model on {parity['num_images']} images is below the threshold {settings.min_cc}; the file and "
        f"{sidecar!r} were written for inspection"
        + (f"; float layers {list(settings.float_layers) or 'none'}: `--float-ops PREFIX,...` keeps more layers float, "
           "or `tfsal int8-finetune MODEL.keras --out NEW.keras` (tfsal.quantize.int8_finetune) fine-tunes a "
           "model so that its int8 export matches it (export/README.md)" if settings.quantize == "int8" else ""))


def _convert_and_check(net, model, out, settings, par, par_desc):
    """Write the file with the format's row, run it in its runtime against ``model``: (written, parity, io)."""
    fmt = EXPORTERS[settings.format]
    t0 = time.time()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with quiet_block():  # the converter's and the interpreter's C++ / absl lines (shown with tfsal --verbose)
        ops = fmt.convert(net, out, settings)
        seconds = time.time() - t0
        size = os.path.getsize(out)
        log.info("exported %s (%.2f MB) in %.1f s", out, size / 1e6, seconds)
        parity = parity_check(model, fmt.runner(out), par)
        parity.update({"images": par_desc, "min_cc": settings.min_cc, "reference": "Keras model (unfolded), float32",
                       "runtime": fmt.runtime})
        io = fmt.describe_io(out)
    return (ops, size, seconds), parity, io


def _int8_settings(settings, registered_name, size):
    """The int8 export's float layers (the registry's ``int8_float_layers`` for ``"auto"``), its parity threshold
    and calibration images: ``(settings, calibration description)``."""
    entry = model_info(registered_name) if registered_name else None
    default = entry.int8_float_layers if entry is not None else ()
    settings = dataclasses.replace(settings, float_layers=resolve_float_layers(settings.float_ops, default))
    if settings.min_cc_default and settings.float_ops == "auto" and settings.float_layers:
        settings = dataclasses.replace(settings, min_cc=SELECTIVE_INT8_MIN_CC)
    rep, cal_desc = calibration_images(size, settings.calibration, settings.num_calibration)
    return dataclasses.replace(settings, calibration_images=rep), cal_desc


def export_model(model, out=None, format="tflite", quantize=None, io_dtype=None, calibration=None,
                 num_calibration=None, parity_images=None, num_parity=100, min_cc=None, fold=True, overwrite=False,
                 progress=True, registered_name=None, metadata=None, float_ops=None, flip_tta=False):
    """Export a tfsal model to TFLite or ONNX, write its JSON sidecar and check parity with the Keras model.

    Args:
        model: a ``.keras`` path, a ``keras.Model`` taking raw RGB ``(B, H, W, 3)`` in [0, 255] (fixed H, W), or
            a registered name with shipped weights (``"fastsal-a"``: :func:`tfsal.models.load_pretrained`).
        out: the file to write; default: the model path with ``_{quantize}.tflite`` / ``.onnx``.
        format: a key of :data:`FORMATS` (``"tflite"`` or ``"onnx"``).
        quantize: TFLite only; one of :data:`QUANTIZE_MODES` (default ``"none"`` = float32).
        io_dtype: int8 only: ``"uint8"`` (default; feed Bitmap bytes) or ``"int8"`` input and output.
        calibration: int8 only: a folder of real images for the representative dataset (default: demo train).
        num_calibration: int8 only: at most this many calibration images (default 100).
        parity_images: a folder of images, a list of paths / RGB arrays, or ``None`` for
            :func:`default_parity_images` (the demo val split).
        num_parity: at most this many parity images.
        min_cc: fail when the mean parity CC is below this (default :data:`DEFAULT_MIN_CC` for the mode; an int8
            file that keeps the registry's float layers: :data:`SELECTIVE_INT8_MIN_CC`, 0.97).
        fold: convert the registry's ``export_fold`` rewrite of the model where it has one (FastSal-C's decoder,
            FastSal-A's head: exact rewrites; the parity reference is always the unfolded model).
        overwrite, progress: replace an existing output file and sidecar; show int8 calibration progress.
        registered_name: the model's registered name (e.g. ``"fastsal-a"``) for the sidecar's facts (preprocessing,
            output kind and range, :func:`tfsal.models._registry.model_facts`) and its fold; ``None`` → from its
            Keras name.
        metadata: TFLite only: ``None``/``True`` (default) writes TFLite Model Metadata (input ``image``, output
            ``saliency``, licence; :mod:`tfsal.export._metadata`) for MediaPipe Tasks and ML Model Binding;
            ``False`` writes none; a dict overrides ``name``, ``description``, ``version``, ``author``, ``license``.
        float_ops: int8 only: layers kept float32 (builtin float ops): ``"auto"`` (default; the entry's
            ``int8_float_layers``: FastSal-A's decoder), ``"none"`` (all int8; a shipped name loads its int8-ready
            weights) or layer-name prefixes (string or list); recorded in the sidecar's ``int8_float``.
        flip_tta: fold flip test-time averaging into the file (:func:`tfsal.models.with_flip_tta`; 2 passes).

    Returns:
        An :class:`ExportResult`. The sidecar also records the file's ``sha256``, the ``resize`` method
        (:data:`RESIZE_METHOD`) and no absolute paths (file and folder names only).

    Raises:
        ValueError: bad option (unknown format or mode, an option the format does not accept), a non-``.keras``
            path, an empty calibration folder, an unsupported op, a Flex/custom op in the file, or parity below
            ``min_cc``.
        FileNotFoundError: a missing model or calibration folder.
        FileExistsError: ``out`` or its sidecar exists and ``overwrite`` is false.

    Example:
        >>> r = export_model("runs/fastsal/best.keras", quantize="int8")  # doctest: +SKIP
        >>> print(r.summary())  # doctest: +SKIP
    """
    settings = _validate(format, quantize, io_dtype, calibration, num_calibration, num_parity, min_cc, progress,
                         metadata, float_ops)
    # A shipped name's int8-ready weights are for a plain full-integer file only (float decoder: the float weights).
    loaded = load(model, "int8" if settings.float_ops == "none" else None)
    keras_model = _with_tta(loaded.model) if flip_tta else loaded.model
    out, sidecar = _output_paths(out, loaded, keras_model.name, settings, overwrite)
    h, w = keras_model.input_shape[1:3]
    if h is None or w is None:
        raise UserError(f"export needs a fixed input size; model {keras_model.name!r} has input shape "
                        f"{keras_model.input_shape}")
    facts = model_facts(keras_model, registered_name or loaded.registered_name)
    if facts["registered_name"] is None:
        log.warning("model %r is not a registered tfsal model (pass registered_name=...): the sidecar cannot state "
                    "its preprocessing%s", keras_model.name, "" if facts["output_kind"] else " or output kind")
    if settings.metadata is not None:
        settings = dataclasses.replace(settings, metadata=_metadata_facts(keras_model, loaded, facts,
                                                                          settings.metadata))
    cal_desc = None  # calibration and parity images are read before the slow conversion: bad input fails fast
    if settings.mode == "int8":
        settings, cal_desc = _int8_settings(settings, facts["registered_name"], (h, w))
    par_paths, par_desc = _parity_inputs(parity_images, settings.num_parity)
    par = prepare_images(par_paths, (h, w))
    net, fold_facts = _fold(keras_model, facts["registered_name"]) if fold else (keras_model, {})
    written, parity, io = _convert_and_check(net, keras_model, out, settings, par, par_desc)
    metadata = _sidecar(out, settings, keras_model, loaded, facts, io, fold_facts, written, parity, cal_desc)
    write_json(sidecar, metadata)
    result = ExportResult(out, sidecar, settings.format, settings.quantize, written[1], written[2], written[0],
                          parity, bool(fold_facts), metadata)
    log.info("%s", result.summary())
    if not parity["cc_mean"] >= settings.min_cc:
        raise _parity_error(out, sidecar, parity, settings)
    return result

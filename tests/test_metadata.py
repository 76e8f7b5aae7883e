"""TFLite Model Metadata: the flatbuffer builder and reader, what every export writes, and MediaPipe's ImageSegmenter
reading it (skipped where mediapipe is not installed; CI does not install it). Tiny models, tiny inputs."""
import contextlib
import glob
import os
import sys
import types

import numpy as np
import pytest

from conftest import tiny_saliency_model

DEMO_IMAGES = sorted(glob.glob(os.path.join(os.path.dirname(__file__), os.pardir, "tfsal", "data", "demo_osie",
                                            "stimuli", "*.jpg")))


def _cc(a, b):
    a, b = np.ravel(a) - np.mean(a), np.ravel(b) - np.mean(b)
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


# ------------------------------------------------------------------------------------------------------------------
# the flatbuffer alone (no TensorFlow)
# ------------------------------------------------------------------------------------------------------------------
def test_pack_unpack_round_trip_and_min_parser_version():
    from tfsal.export._metadata import pack_metadata, unpack_metadata

    tensor = {"name": "image", "description": "RGB", "dimension_names": ["b", "h", "w", "c"],
              "content": {"content_properties": ("ImageProperties", {"color_space": 1,
                                                                     "default_size": {"width": 48, "height": 32}}),
                          "range": {"min": 1, "max": 2}},
              "process_units": [{"options": ("NormalizationOptions", {"mean": [0.0, 0.5, 1.0], "std": [1.0] * 3})}],
              "stats": {"max": [255.0], "min": [0.0]}}
    md = {"name": "m", "description": "d", "version": "v", "author": "tfsal", "license": "MIT",
          "subgraph_metadata": [{"name": "g", "input_tensor_metadata": [tensor],
                                 "output_tensor_metadata": [{"name": "saliency"}]}]}
    back = unpack_metadata(pack_metadata(md))
    assert back == dict(md, min_parser_version="1.0.0")
    custom = dict(md, subgraph_metadata=[dict(md["subgraph_metadata"][0],
                                              custom_metadata=[{"name": "X", "data": b"\x01\x02\x03"}])])
    back = unpack_metadata(pack_metadata(custom))
    assert back["min_parser_version"] == "1.5.0"  # CustomMetadata: added in 1.5.0
    assert back["subgraph_metadata"][0]["custom_metadata"] == [{"name": "X", "data": b"\x01\x02\x03"}]


def test_pack_refuses_unknown_fields_and_unpack_foreign_buffers():
    from tfsal.errors import UserError
    from tfsal.export._metadata import pack_metadata, unpack_metadata

    with pytest.raises(UserError, match="has no field"):
        pack_metadata({"name": "m", "licence": "MIT"})
    with pytest.raises(UserError, match="M001"):
        unpack_metadata(b"\x00" * 4 + b"TFL3" + b"\x00" * 8)


# ------------------------------------------------------------------------------------------------------------------
# what export writes
# ------------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The tiny model exported float32 (metadata by default) and int8 with uint8 I/O: ``{mode: ExportResult}``."""
    from tfsal.export import export_model

    root = tmp_path_factory.mktemp("md")
    model = tiny_saliency_model()
    return {q: export_model(model, out=str(root / f"tiny_{q}.tflite"), quantize=q, num_parity=3, min_cc=0.9,
                            progress=False, **({"num_calibration": 32} if q == "int8" else {}))
            for q in ("none", "int8")}


def test_export_writes_metadata_by_default(exported):
    from tfsal.export._metadata import COLOR_SPACE, UNKNOWN_WEIGHTS_LICENSE, read_metadata

    for q, r in exported.items():
        md = read_metadata(r.path)
        assert md["author"] == "tfsal" and md["name"] == "tiny" and md["version"].startswith("tfsal ")
        assert md["license"] == UNKNOWN_WEIGHTS_LICENSE and md["min_parser_version"] == "1.0.0"
        assert "saliency" in md["description"].lower()
        (graph,) = md["subgraph_metadata"]
        (inp,), (out,) = graph["input_tensor_metadata"], graph["output_tensor_metadata"]
        assert inp["name"] == "image" and inp["content"]["content_properties"] == (
            "ImageProperties", {"color_space": COLOR_SPACE["RGB"]})
        (unit,) = inp["process_units"]
        assert unit["options"] == ("NormalizationOptions", {"mean": [0.0] * 3, "std": [1.0] * 3})
        assert inp["stats"] == {"max": [255.0] * 3, "min": [0.0] * 3}
        assert ("uint8 with scale 1 and zero point 0" if q == "int8" else "Input float32") in inp["description"]
        assert out["name"] == "saliency" and out["stats"] == {"max": [1.0], "min": [0.0]}
        assert out["content"]["range"] == {"min": 1, "max": 2} and "sigmoid" in out["description"]
        assert r.metadata["tflite_metadata"] is True and r.parity["cc_mean"] >= 0.99  # LiteRT runs the file


def test_no_metadata_overrides_replace_and_onnx(tmp_path, exported):
    from tfsal.errors import UserError
    from tfsal.export import export_model
    from tfsal.export._metadata import add_metadata, read_metadata

    r = export_model(tiny_saliency_model(), out=str(tmp_path / "bare.tflite"), metadata=False, num_parity=2)
    assert read_metadata(r.path) is None and r.metadata["tflite_metadata"] is False
    content = open(exported["none"].path, "rb").read()
    facts = {"name": "n", "description": "own words", "version": "7", "author": "me", "license": "CC-BY-4.0",
             "preprocessing": "p", "meaning": "m", "value_range": None, "input_resize": "r", "output_resize": "r"}
    with pytest.raises(UserError, match="already has TFLITE_METADATA"):
        add_metadata(content, facts)
    md = read_metadata(add_metadata(content, facts, replace=True))
    assert (md["license"], md["author"], md["description"]) == ("CC-BY-4.0", "me", "own words")
    assert "stats" not in md["subgraph_metadata"][0]["output_tensor_metadata"][0]  # an unbounded output: no stats
    with pytest.raises(UserError, match="metadata"):
        export_model(tiny_saliency_model(), out=str(tmp_path / "x.tflite"), metadata={"licence": "MIT"})
    with pytest.raises(UserError, match="not supported by format 'onnx'"):
        export_model(tiny_saliency_model(), out=str(tmp_path / "x.onnx"), format="onnx", metadata=False)


def test_cli_no_metadata(tmp_path):
    from click.testing import CliRunner

    from tfsal.cli import main
    from tfsal.export._metadata import read_metadata

    model = str(tmp_path / "tiny.keras")
    tiny_saliency_model().save(model)
    for flags, expected in (([], True), (["--no-metadata"], False)):
        out = str(tmp_path / f"m{len(flags)}.tflite")
        res = CliRunner().invoke(main, ["export", model, "--out", out, "--num-parity", "1", *flags])
        assert res.exit_code == 0, res.output
        assert (read_metadata(out) is not None) is expected and ("TFLite Model Metadata" in res.output) is expected


def test_metadata_facts_licence_of_shipped_weights():
    from tfsal.export._export import _metadata_facts
    from tfsal.export._inputs import LoadedModel
    from tfsal.export._metadata import SHIPPED_WEIGHTS_LICENSE
    from tfsal.models._registry import model_facts

    facts = model_facts(None, "fastsal-c")
    shipped = _metadata_facts(types.SimpleNamespace(name="fastsal_c_osie_eyecrowd"),
                              LoadedModel(None, None, "fastsal-c", "osie-eyecrowd"), facts, {})
    assert shipped["license"] == SHIPPED_WEIGHTS_LICENSE and "OSIE" in shipped["license"]
    assert shipped["name"] == "fastsal-c" and shipped["version"].endswith("weights osie-eyecrowd")
    assert "127.5" in shipped["preprocessing"] and shipped["value_range"] == [0.0, 1.0]
    own = _metadata_facts(types.SimpleNamespace(name="x"), LoadedModel(None, "best.keras", None), facts,
                          {"license": "Apache-2.0"})
    assert own["license"] == "Apache-2.0"


# ------------------------------------------------------------------------------------------------------------------
# MediaPipe (optional: pip install --no-deps mediapipe)
# ------------------------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _without_matplotlib():
    """mediapipe's package import pulls in its drawing utilities, which import matplotlib (not a tfsal dependency):
    a stand-in module while importing, removed again afterwards (so later imports of matplotlib still fail)."""
    try:
        import matplotlib  # noqa: F401
        yield
        return
    except ImportError:
        pass
    stub, pyplot = types.ModuleType("matplotlib"), types.ModuleType("matplotlib.pyplot")
    stub.pyplot = pyplot
    sys.modules["matplotlib"], sys.modules["matplotlib.pyplot"] = stub, pyplot
    try:
        yield
    finally:
        for name in ("matplotlib", "matplotlib.pyplot"):
            if sys.modules.get(name) in (stub, pyplot):
                del sys.modules[name]


def _mediapipe():
    try:
        with _without_matplotlib():
            import mediapipe
            from mediapipe.tasks.metadata import metadata_schema_py_generated
            from mediapipe.tasks.python import BaseOptions, vision
    except ImportError as err:
        pytest.skip(f"mediapipe is not importable (optional): {err}")
    return mediapipe, vision, BaseOptions, metadata_schema_py_generated


def test_mediapipe_generated_reader_agrees(exported):
    """The official generated reader (metadata_schema_py_generated) reads what tfsal's builder wrote."""
    _, _, _, fb = _mediapipe()
    from ai_edge_litert import schema_py_generated as schema

    content = bytearray(open(exported["int8"].path, "rb").read())
    model = schema.Model.GetRootAs(content, 0)
    entry = next(model.Metadata(i) for i in range(model.MetadataLength())
                 if model.Metadata(i).Name() == b"TFLITE_METADATA")
    buf = model.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
    assert fb.ModelMetadata.ModelMetadataBufferHasIdentifier(buf, 0)
    md = fb.ModelMetadataT.InitFromPackedBuf(bytearray(buf), 0)
    assert md.author == b"tfsal" and md.minParserVersion == b"1.0.0"
    inp, out = md.subgraphMetadata[0].inputTensorMetadata[0], md.subgraphMetadata[0].outputTensorMetadata[0]
    assert inp.name == b"image" and inp.content.contentPropertiesType == fb.ContentProperties.ImageProperties
    assert inp.content.contentProperties.colorSpace == fb.ColorSpaceType.RGB
    unit = inp.processUnits[0]
    assert unit.optionsType == fb.ProcessUnitOptions.NormalizationOptions
    assert list(unit.options.mean) == [0.0] * 3 and list(unit.options.std) == [1.0] * 3
    assert out.name == b"saliency" and out.content.contentProperties.colorSpace == fb.ColorSpaceType.GRAYSCALE
    assert (out.content.range.min, out.content.range.max) == (1, 2) and list(out.stats.max) == [1.0]


def _segment_and_compare(mp, vision, base_options, path, images):
    """``(CCs at the model size vs the LiteRT runner, CCs at the image size vs tfsal predict)`` of MediaPipe's
    ImageSegmenter confidence mask on ``images``."""
    from tfsal._io import read_image
    from tfsal.predict import predict_maps
    from tfsal.runtime import TFLiteRunner, resize_image

    runner = TFLiteRunner(path)
    h, w = (int(s) for s in runner.inp["shape"][1:3])
    segmenter = vision.ImageSegmenter.create_from_options(vision.ImageSegmenterOptions(
        base_options=base_options(model_asset_path=path), output_confidence_masks=True))
    at_model, at_image = [], []
    for img_path, reference in zip(images, predict_maps(path, images)):
        img = read_image(img_path)
        small = np.clip(np.round(resize_image(img, (h, w))), 0, 255).astype(np.uint8)
        (mask,) = segmenter.segment(mp.Image(image_format=mp.ImageFormat.SRGB, data=small)).confidence_masks
        at_model.append(_cc(mask.numpy_view(), runner(small.astype(np.float32)[None])))
        (mask,) = segmenter.segment(mp.Image(image_format=mp.ImageFormat.SRGB,
                                             data=np.ascontiguousarray(img))).confidence_masks
        assert mask.numpy_view().shape[:2] == img.shape[:2]
        at_image.append(_cc(mask.numpy_view(), reference))
    segmenter.close()
    return np.array(at_model), np.array(at_image)


@pytest.mark.parametrize("mode", ["none", "int8"])
def test_mediapipe_image_segmenter_matches_tfsal(exported, mode):
    """MediaPipe Tasks' ImageSegmenter (C++, reads the metadata natively) on float32 and uint8-I/O files: its
    confidence mask equals the LiteRT runner's map on an image at the model size. (At the image's own size MediaPipe
    resizes in and out its own way, without antialiasing: the tiny random model's high-frequency map is not a fair
    test of that; the FastSal test below is.)"""
    mp, vision, base_options, _ = _mediapipe()
    at_model, _ = _segment_and_compare(mp, vision, base_options, exported[mode].path, DEMO_IMAGES[:3])
    assert at_model.min() >= 0.999


@pytest.mark.slow
def test_mediapipe_image_segmenter_fastsal_c(tmp_path):
    """A FastSal-C (random head, 64x96) exported float32 and int8 (uint8 I/O) through MediaPipe's ImageSegmenter:
    CC >= 0.999 with the LiteRT runner at the model size and with ``tfsal predict``'s map at the image size."""
    mp, vision, base_options, _ = _mediapipe()
    import keras

    from tfsal.export import export_model
    from tfsal.models import create_model

    keras.utils.set_random_seed(0)
    model = create_model("fastsal-c", input_shape=(64, 96, 3), weights=None)
    rng = np.random.default_rng(0)
    for layer in model.layers:  # a non-trivial map
        if layer.name == "fastsal_out_conv" or (layer.name.startswith("fastsal_adapt") and layer.name.endswith("_conv")):
            layer.set_weights([rng.normal(0, 0.2, w.shape).astype("float32") for w in layer.get_weights()])
    for mode in ("none", "int8"):
        r = export_model(model, out=str(tmp_path / f"c_{mode}.tflite"), quantize=mode, num_parity=3, progress=False,
                         min_cc=0.99)
        at_model, at_image = _segment_and_compare(mp, vision, base_options, r.path, DEMO_IMAGES[:8])
        assert at_model.min() >= 0.999 and at_image.mean() >= 0.999, (mode, at_model, at_image)

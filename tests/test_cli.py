import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import write_jpeg
from tfsal.cli import main


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "run"
    result = run("train", "fastsal", "--epochs", 1, "--image-size", "64x96", "--batch-size", 8, "--max-images", 16,
                 "--out", out)  # two steps: the run directory is checked, not the model
    assert result.exit_code == 0, result.output
    return out, result.output


def test_help_and_models():
    result = run("--help")
    assert result.exit_code == 0
    for cmd in ("models", "info", "train", "predict"):
        assert cmd in result.output
    result = run("models")
    assert result.exit_code == 0
    assert "fastsal-a" in result.output and "fastsal-c" in result.output and "alias of fastsal-a" in result.output


def test_info_prints_params_and_paper():
    result = run("info", "fastsal-c")
    assert result.exit_code == 0, result.output
    assert "2.61M" in result.output and "2.57M" in result.output and "1.32" in result.output
    # the registry entry's facts: what the model is for, what it takes and what it gives
    assert "task: saliency; input: x / 127.5 - 1" in result.output and "output: saliency map: sigmoid" in result.output


def test_train_writes_run_directory(trained_run):
    out, output = trained_run
    for name in ("best.keras", "last.keras", "config.json", "metrics.json", "history.csv", "val_grid.png"):
        assert (out / name).is_file(), name
    assert any(f.startswith("events.out.tfevents") for _, _, fs in os.walk(out / "logs") for f in fs)
    metrics = json.loads((out / "metrics.json").read_text())
    for row in ("model", "centre-bias"):
        for m in ("NSS", "CC", "KLD"):
            assert np.isfinite(metrics[row][m]["mean"])
    assert "centre-bias" in output and "NSS" in output
    config = json.loads((out / "config.json").read_text())
    assert config["image_size"] == [64, 96] and config["epochs"] == 1 and config["optimizer"]
    assert config["max_images"] == 16 and config["batch_size"] == 8


def test_predict_keeps_each_image_size(trained_run, tmp_path):
    out, _ = trained_run
    write_jpeg(str(tmp_path / "in" / "small.jpg"), 600, 800, seed=1)
    write_jpeg(str(tmp_path / "in" / "large.png"), 768, 1024, seed=2)
    result = run("predict", out / "best.keras", tmp_path / "in", "--out", tmp_path / "maps", "--npy")
    assert result.exit_code == 0, result.output
    import cv2

    assert cv2.imread(str(tmp_path / "maps" / "small.png"), cv2.IMREAD_UNCHANGED).shape == (600, 800)
    assert cv2.imread(str(tmp_path / "maps" / "large.png"), cv2.IMREAD_UNCHANGED).shape == (768, 1024)
    assert np.load(tmp_path / "maps" / "large.npy").shape == (768, 1024)
    # A second run refuses to overwrite.
    result = run("predict", out / "best.keras", tmp_path / "in", "--out", tmp_path / "maps")
    assert result.exit_code != 0 and "already exists" in result.output


def _one_line_error(result, *needles):
    assert result.exit_code != 0
    lines = [l for l in result.output.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.output
    for n in needles:
        assert n in lines[0], result.output


def test_bad_input_errors(trained_run, tmp_path):
    out, _ = trained_run
    _one_line_error(run("train", "nonet", "--epochs", 1), "unknown model 'nonet'")
    _one_line_error(run("train", "fastsal", "--data", tmp_path / "nowhere"), "nowhere", "does not exist")
    _one_line_error(run("train", "fastsal", "--image-size", "100x128", "--out", tmp_path / "r"), "multiples of 32",
                    "100x128")
    assert not (tmp_path / "r").exists()
    _one_line_error(run("train", "fastsal", "--epochs", 1, "--out", out), "already exists")
    bad = tmp_path / "bad.jpg"
    bad.write_text("this is not an image")
    _one_line_error(run("predict", out / "best.keras", bad, "--out", tmp_path / "m"), "bad.jpg", "not an image")
    _one_line_error(run("predict", tmp_path / "missing.keras", bad, "--out", tmp_path / "m"), "missing.keras")
    _one_line_error(run("info", "nonet"), "unknown model")

"""Every notebook in notebooks/ runs top to bottom (its code cells executed in order in one namespace), and what it
computes is checked: the variables it leaves behind and the files it writes.

The training notebooks read ``TFSAL_NOTEBOOK_SMOKE=1`` (set here) and then train on a few tiny images: the test checks
the code path and the results' form and range, not the model's quality (tests/test_engine.py covers training).
"""
import glob
import json
import os

import numpy as np
import pytest

NOTEBOOKS = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "notebooks", "*.ipynb")))

# VGG-19's theoretical receptive fields (size, stride) at its pooling layers, by r += (k - 1)·j, j *= s per layer
# (Araujo et al., "Computing receptive fields of convolutional neural networks", Distill 2019): blocks of
# 2, 2, 4, 4, 4 3×3 convs, each block closed by a 2×2/2 pool.
VGG19_POOL_RF = {"block1_pool": ((6, 6), (2, 2)), "block2_pool": ((16, 16), (4, 4)),
                 "block3_pool": ((52, 52), (8, 8)), "block4_pool": ((124, 124), (16, 16)),
                 "block5_pool": ((268, 268), (32, 32))}


def _run(path):
    with open(path) as f:
        nb = json.load(f)
    namespace = {"__name__": "__main__"}
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        exec(compile(source, f"{os.path.basename(path)}[cell {i}]", "exec"), namespace)
    return namespace


def _check_metrics(metrics):
    """``train()``'s ``metrics``: {model or baseline: {metric: (mean, std)}}, finite and in each metric's range."""
    assert metrics, metrics
    for name, scores in metrics.items():
        assert scores, name
        for metric, value in scores.items():
            mean, std = (float(v) for v in value[:2])
            assert np.isfinite(mean) and np.isfinite(std) and std >= 0, (name, metric, value)
            if metric.startswith("AUC") or metric == "SIM":
                assert 0 <= mean <= 1, (name, metric, mean)
            if metric == "CC":
                assert -1 <= mean <= 1, (name, metric, mean)
            if metric == "KLD":
                assert mean >= 0, (name, metric, mean)


def _check_quickstart(ns):
    _check_metrics(ns["result"].metrics)
    assert os.path.isfile(ns["result"].model_path)
    image, saliency = ns["image"], ns["saliency"]
    assert saliency.shape[:2] == image.shape[:2], (saliency.shape, image.shape)  # a map the image's size
    assert np.isfinite(saliency).all() and saliency.min() >= 0 and saliency.max() <= 1
    assert ns["picture"].shape[:2] == image.shape[:2]
    assert os.path.getsize(os.path.join(ns["run_dir"], "overlay.png")) > 0


def _check_training(ns):
    result = ns["result"]
    _check_metrics(result.metrics)
    assert len(result.history["loss"]) == 1 and np.isfinite(result.history["loss"]).all()  # epochs=1
    assert len(ns["preds"]) == len(ns["images"]) == 3
    for image, pred in zip(ns["images"], ns["preds"]):
        assert pred.shape[:2] == image.shape[:2] and np.isfinite(pred).all()
    for name in ("loss.png", "grid.png", "filters.png"):
        assert os.path.getsize(os.path.join(ns["out_dir"], name)) > 0, name
    assert ns["grid"].ndim == 3 and ns["filters"].ndim == 3


def _check_evaluation(ns):
    summaries = {name: res.summary() for name, res in ns["results"].items()}
    assert set(summaries) == set(ns["BASELINES"])
    for name, summary in summaries.items():
        assert set(summary) == set(ns["metrics"]), (name, summary)
        for metric, (mean, std) in summary.items():
            assert np.isfinite(mean) and np.isfinite(std), (name, metric, mean)
    # On real fixations (the demo data is OSIE) the centre bias predicts them: NSS > 0 and AUC-Judd > 0.5 (chance).
    nss, auc = summaries["centre-bias"]["NSS"][0], summaries["centre-bias"]["AUC-Judd"][0]
    assert nss > 0.3 and auc > 0.6, (nss, auc)
    assert set(ns["res"].summary()) == set(ns["metrics"])
    assert os.path.getsize(os.path.join(ns["out_dir"], "untrained_fastsal.json")) > 0
    assert ns["picture"].shape[:2] == ns["image"].shape[:2]


def _check_receptive(ns):
    receptive, model = ns["receptive"], ns["model"]
    assert ns["pools"] == list(VGG19_POOL_RF)
    assert {p: receptive.receptive_field_size(model, p) for p in ns["pools"]} == VGG19_POOL_RF
    assert np.abs(ns["pattern"]).max() > 0  # block3_pool's channel 0 sees some input pixels
    assert ns["sums"].size > 0 and np.isfinite(ns["sums"]).all()
    for name in ("grid.png", "series.png", "validation.png"):
        assert os.path.getsize(os.path.join(ns["out_dir"], name)) > 0, name


CHECKS = {"01_quickstart.ipynb": _check_quickstart, "02_training.ipynb": _check_training,
          "03_evaluation.ipynb": _check_evaluation, "05_receptive_fields.ipynb": _check_receptive}


def test_every_notebook_has_checks():
    assert sorted(CHECKS) == [os.path.basename(p) for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[os.path.basename(p) for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch):
    monkeypatch.setenv("TFSAL_NOTEBOOK_SMOKE", "1")
    namespace = _run(path)
    CHECKS[os.path.basename(path)](namespace)

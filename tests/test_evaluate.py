"""tfsal.evaluate and `tfsal evaluate` on the built-in demo data (fast: 30 val images at 256x192)."""
import csv
import io
import json

import numpy as np
import pytest
from click.testing import CliRunner

from tfsal import data as tdata
from tfsal.cli import main
from tfsal.evaluate import (
    ALL_METRICS,
    BASELINES,
    EvaluationResult,
    _GroundTruth,
    baseline_maps,
    evaluate,
    format_table,
    score_maps,
)
from tfsal.metrics import make_other_map

FAST = ["AUC-Judd", "NSS", "CC"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def val_examples():
    return tdata.read_examples("demo", "val")


@pytest.fixture(scope="module")
def train_examples():
    return tdata.read_examples("demo", "train")


@pytest.fixture(scope="module")
def results():
    return {b: evaluate(b, data="demo", split="val", metrics=FAST, progress=False) for b in BASELINES}


class GroundTruthModel:
    """A fake model: returns each val image's own blurred fixation map (images come in the split's order)."""

    def __init__(self, examples):
        self.maps = iter([tdata.saliency_map_from_fixations(e.normalized_fixations(), (e.height, e.width))
                          for e in examples])

    def __call__(self, image):
        return next(self.maps)


@pytest.mark.parametrize("baseline", BASELINES)
def test_each_baseline_on_demo_val(results, val_examples, baseline):
    result = results[baseline]
    assert isinstance(result, EvaluationResult)
    assert result.model == baseline and result.split == "val" and result.metrics == tuple(FAST)
    assert result.images == [e.stem for e in val_examples]
    summary = result.summary()
    for m in FAST:
        assert result.scores[m].shape == (len(val_examples),)
        assert np.all(np.isfinite(result.scores[m]))
        mean, std = summary[m]
        assert mean == pytest.approx(result.scores[m].mean()) and std >= 0
    assert baseline in result.table() and "AUC-Judd" in result.table()


def test_centre_bias_beats_uniform(results):
    cb, uni = results["centre-bias"].summary(), results["uniform"].summary()
    for m in FAST:
        assert cb[m][0] > uni[m][0], m
    assert uni["NSS"] == (0.0, 0.0) and uni["CC"] == (0.0, 0.0)
    assert 0.45 < uni["AUC-Judd"][0] < 0.55  # random tie-breaking of a constant map
    assert results["spectral-residual"].summary()["NSS"][0] > 0.3  # bottom-up saliency is informative


def test_all_eight_metrics_and_their_baselines():
    cb = evaluate("centre-bias", metrics=None, progress=False)
    uni = evaluate("uniform", metrics=None, progress=False)
    assert cb.metrics == ALL_METRICS == tuple(cb.summary())
    assert np.all(cb.scores["IG"] == 0.0)  # IG's baseline is the same train-split centre bias
    assert np.all(uni.scores["sAUC"] == 0.5) and np.all(uni.scores["AUC-Borji"] == 0.5)
    assert uni.summary()["IG"][0] < 0 and cb.summary()["KLD"][0] < uni.summary()["KLD"][0]
    again = evaluate("centre-bias", metrics=["sauc", "auc_borji"], progress=False)  # aliases; seeded
    np.testing.assert_array_equal(again.scores["sAUC"], cb.scores["sAUC"])


def test_ground_truth_map_beats_centre_bias(results, val_examples, train_examples):
    gt = evaluate(GroundTruthModel(val_examples), metrics=FAST, progress=False)
    cb = results["centre-bias"].summary()
    for m in FAST:
        assert gt.summary()[m][0] > cb[m][0], m
    assert gt.summary()["CC"][0] == pytest.approx(1.0)
    # the same through score_maps, with every metric (IG needs the train split)
    maps = GroundTruthModel(val_examples).maps
    scores = score_maps(list(maps), val_examples, ALL_METRICS, train_examples=train_examples)
    cb_scores = score_maps(list(baseline_maps("centre-bias", val_examples, train_examples)), val_examples,
                           ALL_METRICS, train_examples=train_examples)
    for m in ALL_METRICS:
        sign = -1 if m == "KLD" else 1
        assert sign * np.mean(scores[m]) > sign * np.mean(cb_scores[m]), m


def test_sauc_negatives_exclude_the_image_itself(val_examples):
    ex = val_examples[:4]
    gt = _GroundTruth(ex)
    fixes = [gt.fixation_map(i) for i in range(4)]
    for i in range(4):
        expected = make_other_map([f for j, f in enumerate(fixes) if j != i], (ex[i].height, ex[i].width))
        np.testing.assert_array_equal(gt.other_map(i), expected)
    with pytest.raises(ValueError, match="at least 2 images"):
        _GroundTruth(ex[:1]).other_map(0)


def test_keras_model_object_and_path(tmp_path):
    import keras

    inp = keras.Input((32, 48, 3))
    out = keras.layers.Conv2D(1, 1, activation="sigmoid")(keras.layers.Rescaling(1 / 255.0)(inp))
    model = keras.Model(inp, out, name="tiny")
    result = evaluate(model, metrics=["NSS"], progress=False)
    assert result.model == "tiny" and result.scores["NSS"].shape == (30,)
    path = tmp_path / "tiny.keras"
    model.save(path)
    by_path = evaluate(str(path), metrics=["NSS"], progress=False)
    np.testing.assert_allclose(by_path.scores["NSS"], result.scores["NSS"], rtol=1e-5, atol=1e-6)


def test_bad_inputs():
    expected = r"unknown model or baseline 'centre'.*centre-bias, uniform, spectral-residual.*\.keras"
    with pytest.raises(ValueError, match=expected):
        evaluate("centre", progress=False)
    with pytest.raises(FileNotFoundError, match="missing.keras"):
        evaluate("missing.keras", progress=False)
    with pytest.raises(ValueError, match="unknown metric 'AUC-foo'"):
        evaluate("uniform", metrics=["AUC-foo"], progress=False)
    with pytest.raises(FileNotFoundError, match="no/such/folder"):
        evaluate("uniform", data="no/such/folder", progress=False)
    with pytest.raises(ValueError, match="got int 42"):
        evaluate(42, progress=False)
    assert evaluate("Center_Bias", metrics="nss", progress=False).model == "centre-bias"  # aliases


def test_json_csv_and_table_formatting(results, tmp_path):
    result = results["centre-bias"]
    d = json.loads(result.to_json())
    assert d["model"] == "centre-bias" and d["split"] == "val" and d["images"] == 30
    assert set(d["metrics"]) == set(FAST)
    assert d["metrics"]["NSS"]["mean"] == pytest.approx(result.summary()["NSS"][0])
    assert d["metrics"]["NSS"]["higher_is_better"] is True and d["metrics"]["NSS"]["matlab_source"] == "NSS.m"
    assert len(d["per_image"]) == 30 and set(d["per_image"][0]) == {"image", *FAST}
    rows = list(csv.reader(io.StringIO(result.to_csv())))
    assert rows[0] == ["metric", "mean", "std", "images"] and [r[0] for r in rows[1:]] == FAST
    assert float(rows[1][1]) == result.summary()["AUC-Judd"][0]
    per_image = list(csv.DictReader(io.StringIO(result.to_csv(per_image=True))))
    assert len(per_image) == 30 and float(per_image[3]["CC"]) == result.scores["CC"][3]
    assert result.format("csv") == result.to_csv() and result.format("table") == result.table()
    with pytest.raises(ValueError, match="'xml'"):
        result.format("xml")
    out = result.save(tmp_path / "r.json")
    assert json.load(open(out))["images"] == 30
    with pytest.raises(FileExistsError, match="r.json"):
        result.save(tmp_path / "r.json")
    result.save(tmp_path / "r.json", overwrite=True)
    table = format_table({"a": {"NSS": (1.0, 0.5)}, "bb": {"NSS": (2.0, 0.25)}})
    assert table.splitlines()[1].split() == ["a", "1.000", "±0.500"]


def test_cli_table_json_csv_and_out(tmp_path):
    result = run("evaluate", "uniform", "--data", "demo", "--metrics", "NSS,CC")
    assert result.exit_code == 0, result.output
    assert "uniform" in result.stdout and "NSS" in result.stdout and "0.000 ±0.000" in result.stdout
    assert "30/30" in result.stderr  # progress bar on stderr
    result = run("evaluate", "centre-bias", "--metrics", "NSS", "--format", "json", "--quiet")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["metrics"]["NSS"]["mean"] > 0.5
    result = run("evaluate", "uniform", "--metrics", "NSS", "--format", "csv", "--quiet")
    assert result.stdout.splitlines()[:2] == ["metric,mean,std,images", "NSS,0.0,0.0,30"]
    out = tmp_path / "u.json"
    result = run("evaluate", "uniform", "--metrics", "SIM", "--out", out, "--quiet")
    assert result.exit_code == 0 and f"wrote {out}" in result.stdout
    assert json.load(open(out))["metrics"]["SIM"]["mean"] > 0
    result = run("evaluate", "uniform", "--metrics", "SIM", "--out", out, "--quiet")
    assert result.exit_code == 1 and "Error: output file" in result.output and "already exists" in result.output
    result = run("evaluate", "uniform", "--metrics", "SIM", "--out", out, "--overwrite", "--quiet")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("args, message", [
    (["foo"], "Error: unknown model or baseline 'foo'"),
    (["uniform", "--data", "no/such/dir"], "Error: dataset folder 'no/such/dir' does not exist"),
    (["missing.keras"], "Error: model file 'missing.keras' does not exist"),
    (["uniform", "--metrics", "bogus"], "Error: unknown metric 'bogus'"),
    (["uniform", "--split", "test"], "Error: the demo data has splits"),
])
def test_cli_errors(args, message):
    result = run("evaluate", *args, "--quiet")
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1

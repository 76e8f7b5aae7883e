"""Saliency-aware cropping: the exact summed-area search (tfsal.crop), tfsal crop and tfsal evaluate-crop."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import write_jpeg
from tfsal import crop as C

ASPECTS = ("1:1", "16:9", "9:16", "4:5", "1.91:1", "10:1", "1:10", "3:2")


def run(*args):
    return CliRunner().invoke(main_cli(), [str(a) for a in args], catch_exceptions=False)


def main_cli():
    from tfsal.cli import main

    return main


# ----------------------------------------------------------------------------------------------------------------
# the search against brute force
# ----------------------------------------------------------------------------------------------------------------
def _overlap(N, n):
    """``A[i, j]``: length, in map cells, of image pixel ``[i, i + 1)`` inside map cell ``j`` (``[j N/n, (j+1) N/n)``)."""
    i, j = np.arange(N)[:, None], np.arange(n)[None, :]
    lo, hi = np.maximum(i, j * N / n), np.minimum(i + 1, (j + 1) * N / n)
    return np.clip(hi - lo, 0, None) * n / N


def _brute_force(m, image_shape, bw, bh):
    """Every integer box of the map read at image resolution; ties: nearest the centre, then top, then left."""
    H, W = image_shape
    img = _overlap(H, m.shape[0]) @ m @ _overlap(W, m.shape[1]).T
    sums = np.array([[img[y:y + bh, x:x + bw].sum() for x in range(W - bw + 1)] for y in range(H - bh + 1)])
    sums /= m.sum()
    ties = [((2 * x + bw - W) ** 2 + (2 * y + bh - H) ** 2, y, x)
            for y, x in zip(*np.nonzero(sums >= sums.max() - C.TIE_TOLERANCE))]
    _, y, x = min(ties)
    return int(x), int(y), float(sums[y, x])


def test_summed_area_search_equals_brute_force(rng):
    for trial in range(150):
        h, w = (int(v) for v in rng.integers(1, 10, 2))
        H, W = (int(v) for v in rng.integers(1, 36, 2))
        if trial % 4 == 0:  # the map at the image's own size
            H, W = (int(v) for v in rng.integers(1, 30, 2))
            h, w = H, W
        m = rng.random((h, w)) ** 4  # peaky, and some cells close to 0
        if trial % 5 == 0:
            m[rng.random((h, w)) < 0.5] = 0.0  # zero regions: plateaus of equal boxes
        bw, bh = int(rng.integers(1, W + 1)), int(rng.integers(1, H + 1))
        got = C.best_window(m, (bw, bh), image_shape=(H, W))
        want = _brute_force(m, (H, W), bw, bh)
        assert got[:2] == want[:2], (trial, (h, w), (H, W), (bw, bh), got, want)
        assert got[2] == pytest.approx(want[2], abs=1e-9)
        assert C.box_share(m, (*got[:2], bw, bh), (H, W)) == pytest.approx(got[2], abs=1e-12)


def test_low_resolution_map_gives_boxes_in_image_pixels(rng):
    m = np.zeros((48, 64))
    m[30:40, 5:12] = 1.0  # a bottom-left blob: rows [375, 500) and columns [62.5, 150) of an 800x600 image
    for crop in C.crop_boxes(m, "1:1,16:9,4:5", area=0.3, image_shape=(600, 800)):
        x, y, w, h = crop.box
        assert crop.score == pytest.approx(1.0)
        assert x <= 62 and x + w >= 150 and y <= 375 and y + h >= 500
    m += rng.random(m.shape) * 0.1
    big = np.kron(m, np.ones((10, 10)))  # the same map upsampled 10x: the same boxes and scores at 640x480
    for a in ("1:1", "16:9", "4:5"):
        small, large = C.crop_box(m, a, 0.3, (480, 640)), C.crop_box(big, a, 0.3)
        assert small.box == large.box and small.score == pytest.approx(large.score, abs=1e-12)


# ----------------------------------------------------------------------------------------------------------------
# sizes, rules, ties
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(600, 800), (800, 600), (37, 1000), (1000, 37), (7, 5), (1, 1)])
def test_boxes_inside_the_image_for_every_aspect(shape, rng):
    H, W = shape
    m = rng.random((max(1, H // 8), max(1, W // 8)))
    for area in (0.05, 0.5, 1.0, None):
        for method in C.METHODS:
            for a in ASPECTS:
                try:
                    crop = C.crop_box(m, a, area, image_shape=shape, method=method)
                except ValueError as err:
                    assert shape in ((1, 1), (7, 5), (37, 1000), (1000, 37)) and "too small" in str(err)
                    continue
                x, y, w, h = crop.box
                assert all(isinstance(v, int) for v in crop.box)
                assert 0 <= x and 0 <= y and 1 <= w and 1 <= h and x + w <= W and y + h <= H, (a, area, crop)
                r = C.parse_aspect(a).ratio
                assert min(abs(w - h * r), abs(h - w / r)) <= 0.5 + 1e-9, (a, crop.box)  # exact up to rounding
                assert 0.0 <= crop.score <= 1.0 + 1e-12
                if area is None:
                    assert w == W or h == H  # the largest box of the aspect touches two sides
                elif w < W and h < H:
                    assert w * h == pytest.approx(area * W * H, rel=2.0 / min(w, h) + 1e-9)


def test_constant_map_gives_the_centre_crop():
    for map_shape, image_shape in [((48, 64), (600, 800)), ((60, 80), None), ((7, 3), (701, 299)), ((1, 1), (9, 13))]:
        m = np.full(map_shape, 0.3)
        for a in ("1:1", "16:9", "4:5", "10:1"):
            for area in (0.2, 0.5, None):
                sal = C.crop_box(m, a, area, image_shape=image_shape)
                centre = C.crop_box(m, a, area, image_shape=image_shape, method="centre")
                assert sal == centre
                H, W = image_shape or map_shape
                x, y, w, h = sal.box
                assert (x, y) == ((W - w) // 2, (H - h) // 2)


def test_mass_names_the_default_rule(rng):
    m = rng.random((12, 16)) ** 3
    for a in ("1:1", "16:9"):
        default = C.crop_box(m, a, 0.5, image_shape=(600, 800))
        assert C.crop_box(m, a, 0.5, image_shape=(600, 800), method="mass") == default
        assert default.box[:2] == C.best_window(m, default.box[2:], image_shape=(600, 800))[:2]
    assert "mass" in C.METHODS


def test_argmax_rule_and_sizes():
    m = np.zeros((60, 80))
    m[10, 70] = 1.0
    crop = C.crop_box(m, "1:1", 0.25, image_shape=(600, 800), method="argmax")
    assert crop.box == (454, 0, 346, 346)  # centred on (705, 105), clamped at the right and the top
    m[50, 5] = 1.0  # two maxima: the one nearer the image centre, (705, 105), wins over (55, 505)
    assert C.crop_box(m, "1:1", 0.01, image_shape=(600, 800), method="argmax").box[1] < 300
    assert C.crop_size((600, 800), "1:1", None) == (600, 600)
    assert C.crop_size((600, 800), "16:9", 1.0) == (800, 450)  # 16:9 at full area does not fit: capped
    assert C.crop_size((600, 800), "1:1", 0.01, min_area=200 * 200) == (200, 200)
    assert C.fixation_share(np.array([[0.0, 0.0], [799.9, 599.9], [800.0, 600.0]]), (400, 300, 400, 300),
                            (600, 800)) == pytest.approx(2 / 3)
    assert np.isnan(C.fixation_share(np.zeros((0, 2)), (0, 0, 1, 1), (2, 2)))


def test_bad_arguments_are_one_line_errors():
    cases = [
        (lambda: C.parse_aspect("0:1"), "'0:1'"),
        (lambda: C.parse_aspect("abc"), "'abc'"),
        (lambda: C.parse_aspect("16:0"), "'16:0'"),
        (lambda: C.parse_aspect("-1:2"), "'-1:2'"),
        (lambda: C.parse_aspects("1:1,1:1"), "twice"),
        (lambda: C.parse_aspects(""), "at least one"),
        (lambda: C.parse_area(0), "(0, 1]"),
        (lambda: C.parse_area("1.5"), "'1.5'"),
        (lambda: C.parse_area("abc"), "'abc'"),
        (lambda: C.parse_area(float("nan")), "nan"),
        (lambda: C.crop_size((1, 1), "1:100", 0.5), "too small"),
        (lambda: C.crop_size((100, 100), "1:1", 0.5, min_area=200 * 200), "smaller than the requested crop"),
        (lambda: C.best_window(np.ones((4, 4)), (5, 2)), "smaller than the requested 5x2 crop"),
        (lambda: C.crop_box(np.ones((4, 4)), "1:1", method="middle"), "'middle'"),
        (lambda: C.crop_box(np.ones(4), "1:1"), "2-D"),
        (lambda: C.crop_box(np.full((4, 4), np.nan), "1:1"), "NaN"),
        (lambda: C.crop_box(-np.ones((4, 4)), "1:1"), "negative"),
        (lambda: C.crop_box(np.zeros((4, 4)), "1:1"), "sums to zero"),
        (lambda: C.crop_box(np.ones((4, 4)), "1:1", image_shape=(0, 3)), "image_shape"),
    ]
    for fn, text in cases:
        with pytest.raises(ValueError) as info:
            fn()
        msg = str(info.value)
        assert text in msg and "\n" not in msg, msg


def test_crop_module_runs_with_numpy_alone():
    """tfsal/crop.py imports neither TensorFlow, Keras nor the rest of tfsal: it loads as a lone file."""
    code = (
        "import sys, importlib.util\n"
        "for name in ('tensorflow', 'keras', 'tfsal', 'cv2'):\n"
        "    sys.modules[name] = None\n"
        f"spec = importlib.util.spec_from_file_location('crop', {C.__file__!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "import numpy as np\n"
        "print(m.crop_box(np.ones((3, 4)), '1:1').box)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(1, 0, 2, 2)"


# ----------------------------------------------------------------------------------------------------------------
# tfsal crop
# ----------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_fastsal(tmp_path_factory):
    from tfsal.models import create_model

    path = tmp_path_factory.mktemp("model") / "fastsal_a.keras"
    create_model("fastsal-a", input_shape=(64, 96, 3), weights=None).save(str(path))
    return path


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    write_jpeg(str(root / "wide.jpg"), 120, 200, seed=1)
    write_jpeg(str(root / "tall.png"), 150, 90, seed=2)
    return root


def test_cli_crop_writes_crops_overlays_and_json(tmp_path, tiny_fastsal, photos):
    import cv2

    out = tmp_path / "crops"
    result = run("crop", photos, "--model", tiny_fastsal, "--aspect", "1:1,16:9,4:5", "--area", "0.5", "--out", out,
                 "--quiet")
    assert result.exit_code == 0, result.output
    crops = json.loads((out / "crops.json").read_text())
    assert sorted(crops) == ["tall.png", "wide.jpg"]
    sizes = {"wide.jpg": (120, 200), "tall.png": (150, 90)}
    for name, entries in crops.items():
        H, W = sizes[name]
        assert [e["aspect"] for e in entries] == ["1:1", "16:9", "4:5"]
        stem, ext = os.path.splitext(name)
        for e in entries:
            assert sorted(e) == ["aspect", "box", "score"]
            x, y, w, h = e["box"]
            assert all(type(v) is int for v in e["box"]) and 0 <= x and x + w <= W and 0 <= y and y + h <= H
            assert 0.0 <= e["score"] <= 1.0
            img = cv2.imread(str(out / f"{stem}_{e['aspect'].replace(':', 'x')}{ext}"))
            assert img.shape[:2] == (h, w)
        assert cv2.imread(str(out / f"{stem}_crops.png")).shape[:2] == (H, W)
    assert not [f for f in os.listdir(out) if f.endswith(".part")]

    again = CliRunner().invoke(main_cli(), ["crop", str(photos), "--model", str(tiny_fastsal), "--out", str(out),
                                            "--aspect", "1:1"])
    assert again.exit_code == 1 and "already exists" in again.output and "--overwrite" in again.output
    assert len(again.output.strip().splitlines()) == 1
    over = run("crop", photos / "wide.jpg", "--model", tiny_fastsal, "--out", out, "--aspect", "1:1", "--area", "max",
               "--overwrite", "--quiet")
    assert over.exit_code == 0, over.output
    assert json.loads((out / "crops.json").read_text())["wide.jpg"][0]["box"][2:] == [120, 120]


def test_cli_crop_errors(tmp_path, tiny_fastsal, photos):
    def error(*args):
        res = CliRunner().invoke(main_cli(), [str(a) for a in args])
        assert res.exit_code != 0
        assert isinstance(res.exception, SystemExit), res.exception  # a user error, not a traceback
        return res.output.strip().splitlines()[-1]

    out = tmp_path / "o"
    assert "'0:1'" in error("crop", photos, "--model", tiny_fastsal, "--out", out, "--aspect", "0:1")
    assert "'abc'" in error("crop", photos, "--model", tiny_fastsal, "--out", out, "--aspect", "abc")
    assert "(0, 1]" in error("crop", photos, "--model", tiny_fastsal, "--out", out, "--area", "0")
    assert "smaller than the requested crop" in error("crop", photos, "--model", tiny_fastsal, "--out", out,
                                                      "--min-area", 1e6)
    assert "does not exist" in error("crop", tmp_path / "nope.jpg", "--model", tiny_fastsal, "--out", out)
    assert "expected a .keras, .tflite" in error("crop", photos, "--model", tmp_path / "m.h5", "--out", out)
    assert "does not exist" in error("crop", photos, "--model", tmp_path / "m.tflite", "--out", out)
    from tfsal import models

    if not hasattr(models, "load_pretrained"):
        assert "--model" in error("crop", photos, "--out", out)
    assert not out.exists()  # nothing written by a failed command


def test_crop_images_python_api_with_a_callable(tmp_path, photos):
    from tfsal.cropping import crop_images

    def left_salient(image):  # all saliency in the left tenth
        m = np.zeros(image.shape[:2])
        m[:, : image.shape[1] // 10] = 1.0
        return m

    crops = crop_images(photos / "wide.jpg", tmp_path / "c", aspects=["1:1", "4:5"], area="max", model=left_salient,
                        progress=False)
    assert crops == {"wide.jpg": [{"aspect": "1:1", "box": [0, 0, 120, 120], "score": 1.0},
                                  {"aspect": "4:5", "box": [0, 0, 96, 120], "score": 1.0}]}

    from PIL import Image  # a phone photo stored sideways: boxes are in the upright image that OpenCV reads

    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(np.zeros((60, 100, 3), np.uint8)).save(str(tmp_path / "side.jpg"), exif=exif)
    crops = crop_images(tmp_path / "side.jpg", tmp_path / "s", aspects="5:8", area="max", model=left_salient,
                        min_area=5000, progress=False)  # 60x96 fits upright; stored sideways only 38x60 would
    assert crops["side.jpg"][0]["box"] == [0, 2, 60, 96]


def test_tflite_model_gives_the_keras_crops(tmp_path, photos):
    from conftest import tiny_saliency_model  # a small model that converts in seconds

    from tfsal.cropping import crop_images
    from tfsal.export import export_model

    model = tiny_saliency_model()
    keras_path, tflite_path = str(tmp_path / "tiny.keras"), str(tmp_path / "tiny.tflite")
    model.save(keras_path)
    export_model(model, out=tflite_path, parity_images=str(photos), num_parity=2)
    a = crop_images(photos, tmp_path / "k", model=keras_path, progress=False)
    b = crop_images(photos, tmp_path / "t", model=tflite_path, progress=False)
    assert [[e["box"] for e in v] for v in a.values()] == [[e["box"] for e in v] for v in b.values()]


# ----------------------------------------------------------------------------------------------------------------
# tfsal evaluate-crop
# ----------------------------------------------------------------------------------------------------------------
def test_evaluate_crop_centre_bias_on_demo(tmp_path):
    from tfsal.cropping import CROP_RULES, evaluate_crop

    res = evaluate_crop("centre-bias", data="demo", split="val", aspects="1:1,16:9", area="0.5,max", progress=False)
    assert [(r["aspect"], r["area"]) for r in res.rows] == [("1:1", 0.5), ("1:1", None), ("16:9", 0.5),
                                                            ("16:9", None)]
    for r in res.rows:
        assert r["images"] == 30
        assert all(0.0 < r[k] <= 1.0 for k in CROP_RULES)
        assert r["upper"] > r["centre"]  # the fixations' own best crop keeps more of them than the centre
    for per in res.per_image.values():  # no crop of the same size holds more fixations than the oracle's
        assert len(per["images"]) == 30 and per["saliency"].shape == (30,)
        for rule in ("saliency", "argmax", "centre", "upper"):
            assert np.all(per["oracle"] >= per[rule]), rule

    out = tmp_path / "table.md"
    result = run("evaluate-crop", "centre-bias", "--data", "demo", "--split", "val", "--aspect", "4:5", "--out", out,
                 "--quiet")
    assert result.exit_code == 0, result.output
    table = out.read_text()
    assert "| demo | 4:5 | 0.5 | 30 |" in table and "upper bound" in table and table in result.output + "\n"
    again = CliRunner().invoke(main_cli(), ["evaluate-crop", "centre-bias", "--out", str(out)])
    assert again.exit_code == 1 and "already exists" in again.output
    bad = CliRunner().invoke(main_cli(), ["evaluate-crop", "nonsense"])
    assert bad.exit_code == 1 and "unknown model or baseline 'nonsense'" in bad.output

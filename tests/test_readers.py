"""Readers for SALICON, MIT1003, CAT2000, generic and unlabelled folders, on tiny fixtures in each real layout."""
import logging
import os

import cv2
import numpy as np
import pytest
import scipy.io

import tfsal.data as D
from conftest import write_jpeg

OSIE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "osie")


def write_gray(path, arr):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert cv2.imwrite(str(path), np.asarray(arr, np.uint8))
    return str(path)


def write_map(path, h, w):
    yy, xx = np.mgrid[0:h, 0:w]
    return write_gray(path, 255 * np.exp(-((xx - w / 2) ** 2 + (yy - h / 2) ** 2) / (2 * (w / 6) ** 2)))


def gaze(observers):
    """A MATLAB 1×K struct array ``gaze`` with fields fixations (N×2 1-based), location, timestamp."""
    arr = np.empty((1, len(observers)), dtype=[("location", object), ("timestamp", object), ("fixations", object)])
    for i, fx in enumerate(observers):
        fx = np.asarray(fx, float).reshape(-1, 2)
        arr[0, i] = (fx.copy(), np.arange(len(fx), dtype=float).reshape(-1, 1), fx)
    return arr


def write_salicon(root, h=30, w=40):
    """train: a, b; val: c; test: d. a has observers with 2, 1 (single 1×2 row) and 0 fixations."""
    fixes = {
        ("train", "a"): [[[1, 1], [40, 30]], [[20, 10]], np.zeros((0, 2))],
        ("train", "b"): [[[5, 6]]],
        ("val", "c"): [[[10, 20], [11, 21], [12, 22]]],
    }
    for i, ((split, stem), observers) in enumerate(fixes.items()):
        write_jpeg(os.path.join(root, "images", split, stem + ".jpg"), h, w, seed=i)
        write_map(os.path.join(root, "maps", split, stem + ".png"), h, w)
        os.makedirs(os.path.join(root, "fixations", split), exist_ok=True)
        scipy.io.savemat(os.path.join(root, "fixations", split, stem + ".mat"),
                         {"image": stem, "resolution": np.array([[h, w]]), "gaze": gaze(observers)})
    write_jpeg(os.path.join(root, "images", "test", "d.jpg"), h, w, seed=9)
    return str(root)


def write_mit1003(root, h=24, w=32):
    pts = {"img1": [(3, 4), (10, 20)], "img2": [(0, 0)]}  # (row, col)
    for i, (stem, rc) in enumerate(pts.items()):
        write_jpeg(os.path.join(root, "ALLSTIMULI", stem + ".jpeg"), h, w, seed=i)
        write_map(os.path.join(root, "ALLFIXATIONMAPS", stem + "_fixMap.jpg"), h, w)
        mask = np.zeros((h, w), np.uint8)
        for r, c in rc:
            mask[r, c] = 255
        mask[5, 5] = 60  # JPEG-noise-like grey: below the 127 threshold, not a fixation
        cv2.imwrite(os.path.join(root, "ALLFIXATIONMAPS", stem + "_fixPts.jpg"), mask,
                    [cv2.IMWRITE_JPEG_QUALITY, 100])
    return str(root)


def write_cat2000(root, h=18, w=32, variable="fixLocs"):
    locs = {("Action", "001"): [(2, 3), (17, 31)], ("Art", "001"): [(9, 9)]}  # (row, col)
    for i, ((cat, stem), rc) in enumerate(locs.items()):
        write_jpeg(os.path.join(root, "Stimuli", cat, stem + ".jpg"), h, w, seed=i)
        write_map(os.path.join(root, "FIXATIONMAPS", cat, stem + ".jpg"), h, w)
        m = np.zeros((h, w), bool)
        for r, c in rc:
            m[r, c] = True
        os.makedirs(os.path.join(root, "FIXATIONLOCS", cat), exist_ok=True)
        scipy.io.savemat(os.path.join(root, "FIXATIONLOCS", cat, stem + ".mat"), {variable: m})
    os.makedirs(os.path.join(root, "Stimuli", "Action", "Output"), exist_ok=True)  # ignored sub-folder
    return str(root)


def write_folder(root, h=20, w=30, fix=True):
    for i, stem in enumerate(["p", "q"]):
        write_jpeg(os.path.join(root, "images", stem + ".jpg"), h, w, seed=i)
        write_map(os.path.join(root, "maps", stem + ".png"), h, w)
    if fix:
        os.makedirs(os.path.join(root, "fixations"), exist_ok=True)
        np.save(os.path.join(root, "fixations", "p.npy"), np.array([[1.5, 2.5], [29.0, 19.0]]))
        mask = np.zeros((h, w), np.uint8)
        mask[7, 4] = 255
        write_gray(os.path.join(root, "fixations", "q.png"), mask)
    return str(root)


# ------------------------------------------------------------------------------------------------ exact values
def test_salicon_exact(tmp_path):
    root = write_salicon(tmp_path / "salicon")
    assert D.detect_layout(root) == "salicon"
    train = D.read_salicon(root, "train")
    assert [e.stem for e in train] == ["a", "b"]
    a = train[0]
    assert (a.width, a.height) == (40, 30)
    np.testing.assert_allclose(a.fixations, [[0.5, 0.5], [39.5, 29.5], [19.5, 9.5]])
    np.testing.assert_array_equal(a.subjects, [0, 0, 1])
    assert a.map_path == os.path.join(root, "maps", "train", "a.png")
    np.testing.assert_allclose(train[1].fixations, [[4.5, 5.5]])
    val = D.read_salicon(root, "val")
    assert [e.stem for e in val] == ["c"] and len(val[0].fixations) == 3
    test = D.read_salicon(root, "test")
    assert [e.stem for e in test] == ["d"] and test[0].fixations is None and test[0].map_path is None
    assert [e.stem for e in D.read_salicon(root)] == ["a", "b", "c", "d"]
    assert [e.stem for e in D.read_examples(root, "val")] == ["c"]


def test_mit1003_exact(tmp_path):
    root = write_mit1003(tmp_path / "mit")
    assert D.detect_layout(root) == "mit1003"
    ex = D.read_mit1003(root)
    assert [e.stem for e in ex] == ["img1", "img2"]
    np.testing.assert_allclose(ex[0].fixations, [[4.5, 3.5], [20.5, 10.5]])
    np.testing.assert_allclose(ex[1].fixations, [[0.5, 0.5]])
    assert (ex[0].width, ex[0].height) == (32, 24)
    assert ex[0].map_path == os.path.join(root, "ALLFIXATIONMAPS", "img1_fixMap.jpg")
    for split in ("train", "val", "test"):
        assert [e.stem for e in D.read_mit1003(root, split)] == [e.stem for e in ex if D.split_of(e.stem) == split]


@pytest.mark.parametrize("variable", ["fixLocs", "someOtherName"])
def test_cat2000_exact(tmp_path, variable):
    root = write_cat2000(tmp_path / "cat", variable=variable)
    assert D.detect_layout(root) == "cat2000"
    ex = D.read_cat2000(root)
    assert [e.image_path for e in ex] == [os.path.join(root, "Stimuli", c, "001.jpg") for c in ("Action", "Art")]
    np.testing.assert_allclose(ex[0].fixations, [[3.5, 2.5], [31.5, 17.5]])
    np.testing.assert_allclose(ex[1].fixations, [[9.5, 9.5]])
    assert ex[1].map_path == os.path.join(root, "FIXATIONMAPS", "Art", "001.jpg")
    got = {s: [os.path.relpath(e.image_path, root) for e in D.read_cat2000(root, s)] for s in ("train", "val", "test")}
    want = {s: [os.path.relpath(e.image_path, root) for e in ex
                if D.split_of(os.path.relpath(e.image_path, os.path.join(root, "Stimuli"))[:-4]) == s]
            for s in ("train", "val", "test")}
    assert got == want


def test_cat2000_ambiguous_matrix(tmp_path):
    root = write_cat2000(tmp_path / "cat")
    path = os.path.join(root, "FIXATIONLOCS", "Art", "001.mat")
    scipy.io.savemat(path, {"a": np.zeros((18, 32)), "b": np.ones((18, 32))})
    with pytest.raises(ValueError, match=r"001\.mat.*exactly one.*\(18, 32\).*'a': \(18, 32\)"):
        D.read_cat2000(root)


def test_folder_exact_and_split(tmp_path):
    root = write_folder(tmp_path / "gen")
    assert D.detect_layout(root) == "folder"
    ex = D.read_folder(root)
    assert [e.stem for e in ex] == ["p", "q"]
    np.testing.assert_allclose(ex[0].fixations, [[1.5, 2.5], [29.0, 19.0]])
    np.testing.assert_allclose(ex[1].fixations, [[4.5, 7.5]])
    assert ex[1].map_path == os.path.join(root, "maps", "q.png")
    assert [e.stem for e in D.read_folder(root, "train")] == [s for s in "pq" if D.split_of(s) == "train"]
    no_fix = write_folder(tmp_path / "gen2", fix=False)
    assert all(e.fixations is None and e.map_path for e in D.read_folder(no_fix))


def test_image_folder_and_pipeline(tmp_path):
    root = str(tmp_path / "unl")
    write_jpeg(os.path.join(root, "x.jpg"), 10, 12)
    write_jpeg(os.path.join(root, "sub", "y.png"), 8, 6)
    (tmp_path / "unl" / "notes.txt").write_text("not an image")
    assert D.detect_layout(root) == "images"
    ex = D.read_image_folder(root)
    assert [os.path.relpath(e.image_path, root) for e in ex] == [os.path.join("sub", "y.png"), "x.jpg"]
    assert (ex[0].width, ex[0].height) == (6, 8) and ex[0].fixations is None and ex[0].map_path is None
    images = next(iter(D.make_dataset(ex, (8, 8), batch_size=2, output="image")))
    assert tuple(images.shape) == (2, 8, 8, 3)


def test_pipeline_on_salicon(tmp_path):
    root = write_salicon(tmp_path / "salicon")
    images, targets = next(iter(D.load(root, split="train", image_size=(15, 20), batch_size=2, augment=False, shuffle=False)))
    assert tuple(images.shape) == (2, 15, 20, 3) and tuple(targets.shape) == (2, 15, 20, 2)
    fix = targets[0, ..., 1].numpy()  # a: (0.5,0.5), (39.5,29.5), (19.5,9.5) at half resolution
    assert fix.sum() == 3 and fix[0, 0] == fix[14, 19] == fix[4, 9] == 1


# ------------------------------------------------------------------------------------------------ bad input
def _bad_cases(tmp_path):
    """(name, root, break-function, expected message regex naming the file)."""
    def salicon_missing_map(root):
        os.remove(os.path.join(root, "maps", "train", "b.png"))
        return r"b\.jpg.*no map.*b\.png"

    def salicon_unreadable(root):
        open(os.path.join(root, "images", "train", "b.jpg"), "wb").write(b"not a jpeg")
        return r"b\.jpg.*not a readable image"

    def salicon_size(root):
        write_map(os.path.join(root, "maps", "train", "b.png"), 31, 40)
        return r"b\.png.*40x31.*40x30"

    def salicon_empty(root):
        scipy.io.savemat(os.path.join(root, "fixations", "train", "b.mat"), {"gaze": gaze([np.zeros((0, 2))])})
        return r"b\.mat.*empty"

    def mit_empty(root):
        cv2.imwrite(os.path.join(root, "ALLFIXATIONMAPS", "img2_fixPts.jpg"), np.zeros((24, 32), np.uint8))
        return r"img2_fixPts\.jpg.*empty"

    def mit_missing(root):
        os.remove(os.path.join(root, "ALLFIXATIONMAPS", "img2_fixMap.jpg"))
        return r"img2\.jpeg.*no fixation map.*img2_fixMap\.jpg"

    def cat_empty(root):
        scipy.io.savemat(os.path.join(root, "FIXATIONLOCS", "Art", "001.mat"), {"fixLocs": np.zeros((18, 32))})
        return r"Art.001\.mat.*empty"

    def folder_missing(root):
        os.remove(os.path.join(root, "maps", "q.png"))
        return r"q\.jpg.*no map"

    def folder_empty_npy(root):
        np.save(os.path.join(root, "fixations", "p.npy"), np.zeros((0, 2)))
        return r"p\.npy.*empty"

    return [
        ("salicon", write_salicon, "train", salicon_missing_map, "train/b."),
        ("salicon", write_salicon, "train", salicon_unreadable, "train/b."),
        ("salicon", write_salicon, "train", salicon_size, "train/b."),
        ("salicon", write_salicon, "train", salicon_empty, "train/b."),
        ("mit1003", write_mit1003, None, mit_empty, "img2"),
        ("mit1003", write_mit1003, None, mit_missing, "img2"),
        ("cat2000", write_cat2000, None, cat_empty, "Art/001."),
        ("folder", write_folder, None, folder_missing, "/q."),
        ("folder", write_folder, None, folder_empty_npy, "/p."),
    ]


BAD = [c[3].__name__ for c in _bad_cases(None)]


@pytest.mark.parametrize("case", BAD)
def test_bad_input_raises_then_skip_bad_logs(tmp_path, caplog, case):
    layout, write, split, breaker, bad = next(c for c in _bad_cases(tmp_path) if c[3].__name__ == case)
    root = write(tmp_path / layout)
    n_before = len(D.read_examples(root, split))
    pattern = breaker(root)
    with pytest.raises((ValueError, FileNotFoundError), match=pattern):
        D.read_examples(root, split)
    with caplog.at_level(logging.WARNING, logger="tfsal.data"):
        ex = D.read_examples(root, split, skip_bad=True)
    bad = bad.replace("/", os.sep)
    assert len(ex) == n_before - 1 and not any(bad in e.image_path for e in ex)
    records = [r for r in caplog.records if r.name == "tfsal.data"]
    assert len(records) == 1 and "skipped 1 bad item" in records[0].getMessage()
    assert bad in records[0].getMessage()


def test_load_threads_skip_bad(tmp_path, caplog):
    root = write_folder(tmp_path / "gen")
    os.remove(os.path.join(root, "maps", "q.png"))
    with caplog.at_level(logging.WARNING, logger="tfsal.data"):
        ds = D.load(root, split=None, image_size=(10, 15), batch_size=4, skip_bad=True)
    assert next(iter(ds))[0].shape[0] == 1
    assert "skipped 1 bad item" in caplog.text


def test_unknown_layout_lists_expectations(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(ValueError) as info:
        D.detect_layout(str(tmp_path / "empty"))
    msg = str(info.value)
    for name in ("nus", "salicon", "mit1003", "cat2000", "folder", "images"):
        assert name + ":" in msg
    assert "readme.txt" in msg and "fixations/{train,val}/*.mat" in msg


def test_bad_split_and_missing_root(tmp_path):
    with pytest.raises(ValueError, match="split must be one of.*'validation'"):
        D.read_salicon(write_salicon(tmp_path / "s"), "validation")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        D.read_mit1003(str(tmp_path / "nowhere"))


def test_fixation_preview_writes_png(tmp_path):
    root = write_salicon(tmp_path / "salicon")
    out = str(tmp_path / "pics" / "fix.png")
    grid = D.fixation_preview(root, split="train", num=6, out=out)
    assert os.path.isfile(out) and grid.shape[0] > 0 and cv2.imread(out).shape == grid.shape
    assert (grid[..., 0] == 255).any()


@pytest.mark.skipif(not os.path.isdir(OSIE), reason="shared OSIE data absent")
def test_osie_700_images_15_subjects():
    ex = D.read_nus(OSIE)
    assert len(ex) == 700
    assert all(len(np.unique(e.subjects)) == 15 for e in ex)
    assert all(e.fixations.min() >= 0 and (e.fixations.max(axis=0) <= [e.width, e.height]).all() for e in ex)


def test_cli_show_fixations(tmp_path):
    from click.testing import CliRunner

    from tfsal.cli import main

    root = write_mit1003(tmp_path / "mit")
    out = tmp_path / "fix.png"
    result = CliRunner().invoke(main, ["show-fixations", root, "--split", "all", "--num", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file() and "wrote" in result.output
    bad = CliRunner().invoke(main, ["show-fixations", str(tmp_path / "nowhere"), "--out", str(out)])
    assert bad.exit_code == 1 and "does not exist" in bad.output


def test_broken_labelled_dataset_is_not_taken_for_unlabelled(tmp_path):
    root = write_mit1003(tmp_path / "mit")
    import shutil

    shutil.rmtree(os.path.join(root, "ALLFIXATIONMAPS"))
    with pytest.raises(ValueError, match="unknown dataset layout.*mit1003: ALLSTIMULI"):
        D.detect_layout(root)
    assert len(D.read_examples(root, None, layout="images")) == 2  # still readable when asked for explicitly


# ---------------------------------------------------------------- seed 000's pickled SALICON subset
def _write_pickles(root):
    import pickle

    rng = np.random.default_rng(0)
    os.makedirs(root, exist_ok=True)
    train = [{"X": rng.random((96, 96, 3)).astype(np.float32), "y": rng.random((48, 48)).astype(np.float32),
              "f": f"COCO_train_{i}.jpg"} for i in range(3)]
    with open(os.path.join(root, "train_data.pkl"), "wb") as f:
        pickle.dump(train, f)
    test = [{"X_o": (rng.random((3, 48, 64)) * 255).astype(np.uint8), "X": rng.random((96, 96, 3)),
             "y_o": rng.random((48, 64)), "y": rng.random((48, 48)), "f": f"COCO_test_{i}.jpg"} for i in range(2)]
    with open(os.path.join(root, "test_data.pickle"), "wb") as f:
        pickle.dump(test, f, protocol=2)
    return str(root)


def test_pickle_layout_of_seed_000(tmp_path, monkeypatch):
    monkeypatch.setenv("TFSAL_CACHE", str(tmp_path / "cache"))
    root = _write_pickles(tmp_path / "pk")
    assert D.detect_layout(root) == "pickle"
    train = D.read_examples(root, "train")
    assert [e.stem for e in train] == ["COCO_train_0", "COCO_train_1", "COCO_train_2"]
    assert (train[0].width, train[0].height) == (96, 96) and train[0].fixations is None
    assert cv2.imread(train[0].image_path).shape == (96, 96, 3) and cv2.imread(train[0].map_path).shape[:2] == (48, 48)
    test = D.read_examples(root, "test")  # X_o (channels first) and y_o preferred over X and y
    assert [(e.width, e.height) for e in test] == [(64, 48)] * 2
    assert len(D.read_examples(root, None)) == 5
    images, targets = next(iter(D.make_dataset(train, (32, 32), batch_size=3)))
    assert tuple(images.shape) == (3, 32, 32, 3) and float(targets[..., 0].numpy().max()) > 0.9


def test_pickle_referring_to_another_global_is_refused(tmp_path, monkeypatch):
    import pickle

    monkeypatch.setenv("TFSAL_CACHE", str(tmp_path / "cache"))

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    root = tmp_path / "evil"
    root.mkdir()
    with open(root / "train.pkl", "wb") as f:
        pickle.dump([{"X": Evil(), "y": np.zeros((2, 2)), "f": "a.jpg"}], f)
    with pytest.raises(ValueError, match=r"refusing to load .*train\.pkl.*global (posix|os|nt)\.system") as err:
        D.read_examples(str(root), "train")
    assert "\n" not in str(err.value) and not (tmp_path / "pwned").exists()
    assert not (tmp_path / "cache").exists() or not os.listdir(tmp_path / "cache" / "pickle")
    with open(root / "train.pkl", "wb") as f:
        pickle.dump([{"X": np.zeros((4, 4, 3)), "f": "a.jpg"}], f)  # no map
    with pytest.raises(ValueError, match=r"item 0: missing key\(s\) \['y'\]"):
        D.read_examples(str(root), "train")

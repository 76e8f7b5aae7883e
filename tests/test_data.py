import os

import numpy as np
import pytest
import scipy.io

import tfsal.data as D
from conftest import write_jpeg


def write_nus(root, subjects_per_image):
    """A tiny NUS-layout dataset; subjects_per_image: {name: [(xs, ys), ...]} with 1-based coordinates."""
    cells = np.empty((len(subjects_per_image), 1), dtype=object)
    for i, (name, subjects) in enumerate(subjects_per_image.items()):
        write_jpeg(os.path.join(root, "stimuli", name), 30, 40, seed=i)
        subj = np.empty((1, len(subjects)), dtype=object)
        for s, (xs, ys) in enumerate(subjects):
            subj[0, s] = {"fix_x": np.array(xs, float).reshape(1, -1), "fix_y": np.array(ys, float).reshape(1, -1),
                          "fix_duration": np.full((1, len(xs)), 200.0)}
        cells[i, 0] = {"img": name, "subjects": subj}
    os.makedirs(os.path.join(root, "eye"), exist_ok=True)
    scipy.io.savemat(os.path.join(root, "eye", "fixations.mat"), {"fixations": cells})
    return root


def test_nus_reader_exact_values(tmp_path):
    root = write_nus(str(tmp_path / "nus"), {
        "a.jpg": [([1.0, 40.0], [1.0, 30.0]), ([20.5], [10.0]), ([], [])],  # two, one, and no fixations
        "b.jpg": [([10.0], [5.0])],
    })
    assert D.detect_layout(root) == "nus"
    ex = D.read_nus(root)
    assert [e.stem for e in ex] == ["a", "b"]
    a = ex[0]
    assert (a.width, a.height) == (40, 30)
    np.testing.assert_allclose(a.fixations, [[0.5, 0.5], [39.5, 29.5], [20.0, 9.5]])
    np.testing.assert_array_equal(a.subjects, [0, 0, 1])
    np.testing.assert_allclose(a.normalized_fixations()[0], [0.5 / 40, 0.5 / 30], rtol=1e-6)
    fm = D.fixation_map(a.normalized_fixations(), (30, 40))
    assert fm.sum() == 3 and fm[0, 0] == fm[29, 39] == fm[9, 20] == 1


def test_nus_reader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        D.read_nus(str(tmp_path / "nowhere"))
    root = write_nus(str(tmp_path / "nus"), {"a.jpg": [([50.0], [1.0])]})
    with pytest.raises(ValueError, match="outside image 'a.jpg'"):
        D.read_nus(root)
    root = write_nus(str(tmp_path / "nus2"), {"a.jpg": [([5.0], [1.0])]})
    os.remove(os.path.join(root, "stimuli", "a.jpg"))
    with pytest.raises(FileNotFoundError, match="a.jpg"):
        D.read_nus(root)
    root = write_nus(str(tmp_path / "nus3"), {"a.jpg": [([5.0], [1.0])]})
    with open(os.path.join(root, "stimuli", "a.jpg"), "w") as f:
        f.write("not an image")
    with pytest.raises(ValueError, match="not a readable image"):
        D.read_nus(root)
    os.makedirs(tmp_path / "empty")
    with pytest.raises(ValueError, match="unknown dataset layout"):
        D.load(str(tmp_path / "empty"))


def test_demo_data_splits():
    train, val = D.read_demo("train"), D.read_demo("val")
    assert len(train) == 120 and len(val) == 30
    assert not {e.stem for e in train} & {e.stem for e in val}
    for e in train + val:
        assert (e.width, e.height) == (256, 192)
        assert len(set(e.subjects.tolist())) == 15
        assert D.split_of(e.stem) in ("train", "val")
    assert os.path.isfile(os.path.join(D.DEMO_ROOT, "LICENSE"))


def test_split_rule_is_stable():
    # The rule is part of the documented data format (md5 of the stem): pin a few values.
    assert [D.split_of(s) for s in ("1001", "1002", "1003", "1005", "1010", "1020")] == [
        "train", "val", "val", "train", "train", "val"]
    counts = {k: 0 for k in ("train", "val", "test")}
    for i in range(1000):
        counts[D.split_of(str(i))] += 1
    assert 650 < counts["train"] < 750 and 100 < counts["val"] < 200 and 100 < counts["test"] < 200


def test_pipeline_targets_match_numpy():
    examples = D.read_demo("val")[:4]
    ds = D.make_dataset(examples, (96, 128), batch_size=4, output="dict")
    batch = next(iter(ds))
    assert batch["image"].shape == (4, 96, 128, 3)
    assert float(batch["image"].numpy().max()) <= 255.0
    for i, e in enumerate(examples):
        pts = e.normalized_fixations()
        np.testing.assert_allclose(batch["map"][i, ..., 0], D.saliency_map_from_fixations(pts, (96, 128)), atol=1e-5)
        np.testing.assert_array_equal(batch["fixmap"][i, ..., 0], D.fixation_map(pts, (96, 128)))
        assert int(batch["num_fixations"][i]) == len(pts)


def test_supervised_output_and_map_size():
    ds = D.demo("val", image_size=(64, 96), map_size=(32, 48), batch_size=5)
    x, y = next(iter(ds))
    assert x.shape == (5, 64, 96, 3) and y.shape == (5, 32, 48, 2)
    assert np.isclose(float(np.max(y[..., 0])), 1.0)
    assert set(np.unique(y[..., 1].numpy())) <= {0.0, 1.0}


def test_flip_is_joint_and_seeded():
    examples = D.read_demo("train")[:8]
    plain = next(iter(D.make_dataset(examples, (64, 96), batch_size=8, output="dict")))
    ds = D.make_dataset(examples, (64, 96), batch_size=8, output="dict", augment=True, seed=3)
    aug = next(iter(ds))
    again = next(iter(D.make_dataset(examples, (64, 96), batch_size=8, output="dict", augment=True, seed=3)))
    np.testing.assert_array_equal(aug["image"], again["image"])
    flipped = 0
    for i in range(8):
        if np.array_equal(aug["image"][i], plain["image"][i]):
            np.testing.assert_array_equal(aug["fixmap"][i], plain["fixmap"][i])
            continue
        flipped += 1
        np.testing.assert_allclose(aug["image"][i], plain["image"][i][:, ::-1])
        np.testing.assert_allclose(aug["map"][i], plain["map"][i][:, ::-1], atol=1e-6)
        np.testing.assert_array_equal(aug["fixmap"][i], plain["fixmap"][i][:, ::-1])
        n = int(plain["num_fixations"][i])
        np.testing.assert_allclose(aug["fixations"][i, :n, 0], 1 - plain["fixations"][i, :n, 0], atol=1e-6)
    assert 0 < flipped < 8


def test_shuffle_is_seeded():
    def order(seed):
        ds = D.make_dataset(D.read_demo("val"), (32, 32), batch_size=30, shuffle=True, seed=seed, output="dict")
        return next(iter(ds))["index"].numpy().tolist()

    assert order(1) == order(1) != list(range(30))
    assert order(1) != order(2)


def test_centre_bias_map():
    cb = D.centre_bias_map([e.normalized_fixations() for e in D.read_demo("train")], (48, 64))
    assert cb.shape == (48, 64) and np.isclose(cb.max(), 1.0)
    r, c = np.unravel_index(np.argmax(cb), cb.shape)
    assert 12 < r < 36 and 16 < c < 48  # fixations on OSIE pile up near the centre
    with pytest.raises(ValueError, match="at least one image"):
        D.centre_bias_map([np.zeros((0, 2))], (4, 4))


def test_make_dataset_rejects_unlabelled(tmp_path):
    e = D.Example(str(write_jpeg(str(tmp_path / "x.jpg"), 20, 20)), 20, 20)
    with pytest.raises(ValueError, match="neither fixations nor a map"):
        D.make_dataset([e], (32, 32))
    images = next(iter(D.make_dataset([e], (32, 32), output="image")))
    assert images.shape == (1, 32, 32, 3)


def test_nus_skip_bad_counts_and_logs(tmp_path, caplog):
    root = write_nus(str(tmp_path / "nus"), {"a.jpg": [([5.0], [1.0])], "b.jpg": [([50.0], [1.0])]})
    with pytest.raises(ValueError, match="outside image 'b.jpg'"):
        D.read_nus(root)
    with caplog.at_level("WARNING", logger="tfsal.data"):
        ex = D.read_examples(root, split=None, skip_bad=True)
    assert [e.stem for e in ex] == ["a"]
    assert "skipped 1 bad item" in caplog.text and "b.jpg" in caplog.text

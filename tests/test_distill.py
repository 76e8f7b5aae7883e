import json
import math
import os

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from conftest import write_jpeg
from tfsal.cli import main
import tfsal
from tfsal.distill import (PSEUDO_LABEL_METADATA, DistillationLoss, distillation_loss, eq2_loss, eq3_loss, hint_loss,
                           hint_model, pseudo_label, read_pseudo_labels, sigmoid_to_logits)


def _row(*values):
    """A (1, 1, N, 1) map from values."""
    return np.array(values, "float32").reshape(1, 1, -1, 1)


# ------------------------------------------------------------------------------------------------ losses
def test_eq2_loss_hand_computed():
    gt, teacher, pred = _row(1.0, 0.0), _row(0.5, 0.5), _row(0.8, 0.2)
    bce_gt = -math.log(0.8)                                   # both pixels predicted right with p = 0.8
    bce_teacher = -(math.log(0.8) + math.log(0.2)) / 2        # ½ln.8 + ½ln.2 per pixel, same for both pixels
    assert float(eq2_loss(gt, teacher, pred)[0]) == pytest.approx(bce_gt + bce_teacher, rel=1e-5)
    assert float(eq2_loss(gt, teacher, pred, alpha=0.5)[0]) == pytest.approx(bce_gt + 0.5 * bce_teacher, rel=1e-5)
    assert float(eq2_loss(gt, teacher, pred, alpha=0.0)[0]) == pytest.approx(bce_gt, rel=1e-5)
    # batched, and channel 1 of the ground truth (fixations) is ignored
    gt2 = np.concatenate([np.concatenate([gt, gt], 0), np.zeros((2, 1, 2, 1), "float32")], -1)
    out = np.asarray(eq2_loss(gt2, np.concatenate([teacher, teacher]), np.concatenate([pred, pred])))
    assert out.shape == (2,) and out == pytest.approx([bce_gt + bce_teacher] * 2, rel=1e-5)


def test_eq3_loss_hand_computed_uniform_student():
    teacher, pred = _row(0.25, 0.75), _row(0.5, 0.5)         # p = ½ → logits 0 → softmax (½, ½)
    kl = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    cos = (0.25 * 0.5 + 0.75 * 0.5) / (math.sqrt(0.25**2 + 0.75**2) * math.sqrt(0.5))
    bce = math.log(2)                                         # min-max teacher (0, 1) against p = ½
    assert float(eq3_loss(teacher, pred)[0]) == pytest.approx(kl + (1 - cos) + bce, rel=1e-5)
    weighted = eq3_loss(teacher, pred, kl_weight=2.0, cos_weight=0.0, bce_weight=0.5)
    assert float(weighted[0]) == pytest.approx(2 * kl + 0.5 * bce, rel=1e-5)


def test_eq3_loss_student_equal_to_teacher():
    teacher = _row(0.25, 0.75)
    # logits ln ȳ → softmax = ȳ exactly: KL 0, cosine 1; σ(ln ȳ) = ȳ / (1 + ȳ) = (0.2, 3/7)
    expected_bce = -(math.log(1 - 0.2) + math.log(3 / 7)) / 2
    from_logits = eq3_loss(teacher, np.log(teacher), from_logits=True)
    assert float(from_logits[0]) == pytest.approx(expected_bce, rel=1e-5)
    # the same student given as its sigmoid map: logit(p) recovers ln ȳ
    from_map = eq3_loss(teacher, _row(0.2, 3 / 7))
    assert float(from_map[0]) == pytest.approx(expected_bce, rel=1e-5)
    assert float(sigmoid_to_logits(0.2)) == pytest.approx(math.log(0.25), rel=1e-5)


def test_eq3_loss_keeps_gradients_for_dark_student_pixels():
    """A background pixel at p = 1e-12 (logit ≈ -27.6) still gets pulled towards a teacher that gives it mass."""
    import tensorflow as tf

    assert float(sigmoid_to_logits(np.float32(1e-12))) == pytest.approx(math.log(1e-12), rel=1e-4)
    p = tf.Variable(_row(1e-12, 0.5))
    with tf.GradientTape() as tape:
        loss = eq3_loss(_row(0.5, 0.5), p, cos_weight=0.0, bce_weight=0.0)[0]
    grad = tape.gradient(loss, p).numpy().ravel()
    assert np.isfinite(grad).all() and grad[0] < 0 < grad[1]     # raise the dark pixel, lower the bright one


def test_eq3_loss_finite_when_saturated_and_constant_teacher():
    out = np.asarray(eq3_loss(_row(0.0, 1.0), _row(0.0, 1.0)))
    assert np.all(np.isfinite(out))
    # constant teacher: uniform density, min-max map all zeros → BCE term −ln(1 − p)
    flat = float(eq3_loss(_row(0.5, 0.5), _row(0.5, 0.5))[0])
    assert flat == pytest.approx(math.log(2), rel=1e-5)


def test_hint_loss_hand_computed_and_errors():
    s = [np.zeros((1, 2, 2, 1), "float32"), np.zeros((1, 1, 1, 2), "float32")]
    t = [np.ones((1, 2, 2, 1), "float32"), np.array([2.0, 0.0], "float32").reshape(1, 1, 1, 2)]
    assert float(hint_loss(s, t)[0]) == pytest.approx(1.0 + (4.0 + 0.0) / 2)   # MSE 1 + MSE 2
    batched = np.asarray(hint_loss([np.zeros((3, 2, 2, 4))] * 4, [np.full((3, 2, 2, 4), 0.5)] * 4))
    assert batched.shape == (3,) and batched == pytest.approx([4 * 0.25] * 3)
    with pytest.raises(ValueError, match=r"\(1, 2, 2, 1\).*\(1, 2, 2, 2\)"):
        hint_loss([np.zeros((1, 2, 2, 1))], [np.zeros((1, 2, 2, 2))])
    with pytest.raises(ValueError, match="1 student and 2 teacher"):
        hint_loss(s[:1], t)


# ------------------------------------------------------------------------------------------------ pseudo-labels
@pytest.fixture(scope="module")
def teachers(tmp_path_factory):
    root = tmp_path_factory.mktemp("teachers")
    inp = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inp)
    sig = keras.Model(inp, keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")(x), name="sig_teacher")
    logits = keras.layers.Conv2D(1, 3, padding="same")(keras.layers.AveragePooling2D(2)(x))
    dens = keras.layers.Reshape((16, 16, 1))(keras.layers.Softmax()(keras.layers.Flatten()(logits)))
    density = keras.Model(inp, dens, name="density_teacher")
    paths = {"sigmoid": str(root / "sig.keras"), "density": str(root / "dens.keras")}
    sig.save(paths["sigmoid"])
    density.save(paths["density"])
    return paths


@pytest.fixture()
def image_dir(tmp_path):
    for i in range(4):
        write_jpeg(tmp_path / "images" / f"im{i}.jpg", 24 + 8 * i, 40, seed=i)
    return tmp_path / "images"


def _state(out):
    return {f: (os.stat(out / f).st_mtime_ns, (out / f).read_bytes()) for f in sorted(os.listdir(out))
            if f.endswith(".npy")}


def test_pseudo_label_resumes_without_touching_finished_files(teachers, image_dir, tmp_path):
    out = tmp_path / "out"
    summary = pseudo_label(teachers["sigmoid"], image_dir, out, batch_size=3, progress=False)
    assert summary["written"] == 4 and summary["skipped"] == 0 and summary["kind"] == "sigmoid"
    assert sorted(os.listdir(out)) == ["im0.npy", "im1.npy", "im2.npy", "im3.npy", PSEUDO_LABEL_METADATA]
    m = np.load(out / "im2.npy")
    assert m.dtype == np.float32 and m.shape == (32, 32) and 0 <= m.min() and m.max() <= 1
    meta = json.loads((out / PSEUDO_LABEL_METADATA).read_text())
    assert meta["kind"] == "sigmoid" and meta["output_shape"] == [32, 32] and meta["count"] == 4
    assert meta["teacher"] == os.path.abspath(teachers["sigmoid"]) and meta["teacher_name"] == "sig_teacher"

    # simulate an interrupted run: one map missing, the rest stamped with an old mtime
    original = np.load(out / "im1.npy")
    os.remove(out / "im1.npy")
    for f in os.listdir(out):
        os.utime(out / f, ns=(10**9, 10**9))
    before = _state(out)
    summary = pseudo_label(teachers["sigmoid"], image_dir, out, batch_size=3, progress=False)
    assert summary["written"] == 1 and summary["skipped"] == 3
    after = _state(out)
    assert {k: after[k] for k in before} == before                  # finished files untouched (mtime and bytes)
    np.testing.assert_array_equal(np.load(out / "im1.npy"), original)
    assert not [f for f in os.listdir(out) if f.startswith(".")]    # no temporary files left behind

    summary = pseudo_label(teachers["sigmoid"], image_dir, out, overwrite=True, progress=False)
    assert summary["written"] == 4 and summary["skipped"] == 0
    assert all(os.stat(out / f).st_mtime_ns != 10**9 for f in before)

    # a different teacher file may not be mixed into the same folder
    with pytest.raises(ValueError, match="sig.keras"):
        pseudo_label(teachers["density"], image_dir, out, progress=False)


def test_pseudo_label_density_teacher_and_model_object(teachers, image_dir, tmp_path):
    from tfsal.predict import load_model

    summary = pseudo_label(load_model(teachers["density"]), image_dir, tmp_path / "out", progress=False)
    assert summary["kind"] == "density" and summary["output_shape"] == [16, 16]
    assert float(np.load(tmp_path / "out" / "im0.npy").sum()) == pytest.approx(1.0, abs=1e-4)
    meta = json.loads((tmp_path / "out" / PSEUDO_LABEL_METADATA).read_text())
    assert meta["teacher"] == "density_teacher" and meta["kind"] == "density"


def test_pseudo_label_rejects_duplicate_stems(teachers, tmp_path):
    write_jpeg(tmp_path / "imgs" / "a" / "x.jpg", 16, 16)
    write_jpeg(tmp_path / "imgs" / "b" / "x.jpg", 16, 16, seed=1)
    with pytest.raises(ValueError, match="x.npy"):
        pseudo_label(teachers["sigmoid"], tmp_path / "imgs", tmp_path / "out", progress=False)


def test_cli_pseudo_label(teachers, image_dir, tmp_path):
    runner = CliRunner()
    args = ["pseudo-label", teachers["sigmoid"], "--images", str(image_dir), "--out", str(tmp_path / "o"),
            "--batch-size", "2", "--quiet"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "wrote 4 map(s), skipped 0" in result.output and "sigmoid" in result.output
    result = runner.invoke(main, args)
    assert result.exit_code == 0 and "wrote 0 map(s), skipped 4" in result.output

    missing = str(tmp_path / "nope")
    result = runner.invoke(main, ["pseudo-label", teachers["sigmoid"], "--images", missing, "--out", str(tmp_path)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and missing in lines[0]


# ------------------------------------------------------------------------------------------------ mixed GT + teacher
def _targets(gt, teacher, has_gt, has_teacher):
    """(1, 1, N, 5) distillation targets from rows of GT and teacher values."""
    g, t = _row(*gt), _row(*teacher)
    return np.concatenate([g, (g > 0.5).astype("float32"), t, np.full_like(g, has_gt), np.full_like(g, has_teacher)],
                          axis=-1)


def test_distillation_loss_mixes_terms_per_image():
    pred = _row(0.8, 0.2)
    both = _targets((1.0, 0.0), (0.5, 0.5), 1, 1)
    gt_only = _targets((1.0, 0.0), (0.5, 0.5), 1, 0)
    teacher_only = _targets((0.0, 0.0), (0.5, 0.5), 0, 1)   # an unlabelled image: its GT slots are zero
    y = np.concatenate([both, gt_only, teacher_only])
    p = np.concatenate([pred] * 3)
    bce_gt, bce_teacher = -math.log(0.8), -(math.log(0.8) + math.log(0.2)) / 2
    out = np.asarray(distillation_loss(y, p, gt_loss="bce", kind="sigmoid"))
    assert out == pytest.approx([bce_gt + bce_teacher, bce_gt, bce_teacher], rel=1e-5)   # eq. 2 for the first
    assert float(eq2_loss(both[..., :2], both[..., 2:3], pred)[0]) == pytest.approx(out[0], rel=1e-5)
    half = np.asarray(distillation_loss(y, p, gt_loss="bce", kind="sigmoid", teacher_weight=0.5))
    assert half == pytest.approx([bce_gt + 0.5 * bce_teacher, bce_gt, 0.5 * bce_teacher], rel=1e-5)
    # the teacher map as pseudo ground truth: BCE to the min-max-normalised teacher map (0.5, 0.5 → all zeros)
    pseudo_gt = np.asarray(distillation_loss(y, p, gt_loss="bce", kind="density", teacher_loss="bce"))
    bce_zero = -(math.log(0.2) + math.log(0.8)) / 2
    assert pseudo_gt == pytest.approx([bce_gt + bce_zero, bce_gt, bce_zero], rel=1e-5)
    # a density teacher: the teacher term is eq. 3
    dens = _targets((1.0, 0.0), (0.25, 0.75), 1, 1)
    expected = -math.log(0.8) + float(eq3_loss(_row(0.25, 0.75), pred)[0])
    assert float(DistillationLoss("bce", "density")(dens, pred)) == pytest.approx(expected, rel=1e-5)


def test_distillation_loss_gradients_finite_for_unlabelled_images():
    import tensorflow as tf

    y = tf.constant(_targets((0.0, 0.0), (0.3, 0.7), 0, 1))
    p = tf.Variable(_row(0.6, 0.4))
    for gt_loss in ("kld_cc_bce", "kld", "bce"):
        for kind in ("sigmoid", "density"):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(distillation_loss(y, p, gt_loss=gt_loss, kind=kind))
            grad = tape.gradient(loss, p)
            assert np.isfinite(loss.numpy()) and np.isfinite(grad.numpy()).all(), (gt_loss, kind)


def test_distillation_loss_rejects_bad_settings():
    with pytest.raises(ValueError, match="teacher kind 'soft'"):
        DistillationLoss("bce", "soft")
    with pytest.raises(ValueError, match="unknown loss 'l1'"):
        DistillationLoss("l1", "sigmoid")
    with pytest.raises(ValueError, match="5 channels"):
        distillation_loss(np.zeros((1, 2, 2, 2), "float32"), np.zeros((1, 2, 2, 1), "float32"))
    assert keras.losses.deserialize(keras.losses.serialize(DistillationLoss("kld", "density", 0.5))).get_config() == \
        DistillationLoss("kld", "density", 0.5).get_config()


def test_make_dataset_teacher_maps_flip_with_the_image(tmp_path):
    from tfsal.data import Example, make_dataset, read_demo

    ex = read_demo("val")[:2]
    ramp = np.tile(np.linspace(0, 1, 16, dtype="float32"), (12, 1))     # increases left to right
    np.save(tmp_path / "t.npy", ramp)
    unlabelled = Example(ex[1].image_path, ex[1].width, ex[1].height)
    ds = make_dataset([ex[0], unlabelled], (24, 32), batch_size=2, teacher_maps=[tmp_path / "t.npy"] * 2,
                      augment=True, epochs=4, seed=3)
    plain = next(iter(make_dataset([ex[0]], (24, 32), batch_size=1, teacher_maps=[None])))[1].numpy()
    assert plain.shape == (1, 24, 32, 5) and plain[..., 3].min() == 1 and plain[..., 4].max() == 0
    seen_flip = seen_plain = False
    for images, y in ds:
        y = y.numpy()
        assert y.shape == (2, 24, 32, 5)
        for img, t in zip(images.numpy(), y):
            left, right = t[:, :4, 2].mean(), t[:, -4:, 2].mean()
            flipped = left > right
            seen_flip |= flipped
            seen_plain |= not flipped
            if t[0, 0, 3] == 0:                      # the unlabelled image: no GT, teacher present
                assert t[..., :2].max() == 0 and t[0, 0, 4] == 1
    assert seen_flip and seen_plain
    with pytest.raises(ValueError, match="one entry per example"):
        make_dataset(ex, (24, 32), teacher_maps=[None])
    with pytest.raises(ValueError, match="neither fixations nor a map"):
        make_dataset([unlabelled], (24, 32), teacher_maps=[None])


def test_hint_model_shapes_and_errors():
    from tfsal.models import create_model
    from tfsal.models.deepgaze2 import deepgaze2

    student = create_model("fastsal-a", input_shape=(32, 64, 3))
    teacher = deepgaze2((32, 64, 3))
    model = hint_model(student, teacher)
    out = model(np.zeros((2, 32, 64, 3), "float32"))
    assert tuple(out.shape) == (2, 1) and np.isfinite(np.asarray(out)).all()
    assert [model.get_layer(f"hint_adapt{i}").filters for i in range(1, 5)] == [128, 256, 512, 512]
    with pytest.raises(ValueError, match="no default hint layers"):
        hint_model(student, keras.Sequential([keras.Input((32, 64, 3)), keras.layers.Conv2D(1, 1)]))
    with pytest.raises(ValueError, match="equally many"):
        hint_model(student, teacher, teacher_taps=("block3_conv3",))


@pytest.mark.slow
def test_train_with_teacher_pseudo_folder_and_hint(teachers, tmp_path):
    """`train(teacher=, pseudo=, hint_pretrain=)`: extra images join as unlabelled, the run records it all."""
    from tfsal.data import read_demo
    from tfsal.models.deepgaze2 import deepgaze2
    from tfsal.train import train

    teacher = deepgaze2((32, 32, 3), name="dg_teacher")
    teacher.save(tmp_path / "teacher.keras")
    train_ex, val_ex = read_demo("train")[:4], read_demo("val")
    extra = [e.image_path for e in val_ex[-2:]]                  # two val images as unlabelled extras
    pseudo_label(str(tmp_path / "teacher.keras"), [e.image_path for e in train_ex[:3]] + extra, tmp_path / "pl",
                 progress=False)
    result = train("fastsal-a", epochs=1, image_size=(32, 32), max_images=4, batch_size=4, num_preview=1,
                   teacher=tmp_path / "teacher.keras", pseudo=tmp_path / "pl", hint_pretrain=1, verbose=0,
                   out=tmp_path / "run")
    config = json.load(open(tmp_path / "run" / "config.json"))
    assert config["teacher_kind"] == "density" and config["hint_pretrain"] == 1
    assert config["train_images_with_pseudo"] == 3 and config["unlabelled_images"] == 2
    assert len(json.load(open(tmp_path / "run" / "hint_history.json"))["loss"]) == 1
    assert np.isfinite(result.history["loss"]).all()
    loaded = keras.models.load_model(result.model_path, compile=False)
    assert tuple(loaded.output_shape) == (None, 32, 32, 1)


def test_train_distillation_argument_errors(teachers, tmp_path):
    from tfsal.train import train

    with pytest.raises(ValueError, match="needs a teacher"):
        train("fastsal-a", hint_pretrain=2, out=tmp_path / "a")
    with pytest.raises(FileNotFoundError, match="no pseudo_labels.json"):
        train("fastsal-a", pseudo=tmp_path, out=tmp_path / "b")
    with pytest.raises(FileNotFoundError):
        train("fastsal-a", teacher=tmp_path / "missing.keras", out=tmp_path / "c")
    assert not any((tmp_path / d).exists() for d in "abc")         # nothing created on bad input
    runner = CliRunner()
    res = runner.invoke(main, ["train", "fastsal-a", "--hint-pretrain", "1", "--out", str(tmp_path / "d")])
    assert res.exit_code != 0 and "needs a teacher" in res.output

"""Streaming `predict` and `evaluate` on real-world input: any model file, bad files, resume, locks. Tiny models."""
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import tiny_saliency_model, write_jpeg

SHAPE = (64, 96, 3)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """``(keras.Model, .keras path, float32 .tflite path)`` of one tiny random model."""
    from tfsal.export import export_model

    root = tmp_path_factory.mktemp("models")
    model = tiny_saliency_model(SHAPE)
    keras_path = str(root / "tiny.keras")
    model.save(keras_path)
    par = [np.random.default_rng(i).integers(0, 256, (48, 80, 3), dtype=np.uint8) for i in range(2)]
    tflite = export_model(model, out=str(root / "tiny.tflite"), parity_images=par, progress=False).path
    return model, keras_path, tflite


def _photos(folder, n, h=48, w=72):
    for i in range(n):
        write_jpeg(str(folder / f"im{i:02d}.jpg"), h + 4 * (i % 3), w, seed=i)
    return folder


def _pngs(folder):
    return sorted(f for f in os.listdir(folder) if f.endswith(".png"))


def _no_leftovers(folder):
    names = os.listdir(folder)
    assert not [n for n in names if n.endswith(".tmp") or n == ".tfsal.lock"], names


def _run(*args):
    from tfsal.cli import main

    return CliRunner().invoke(main, [str(a) for a in args])


def test_predict_consumes_a_generator_lazily(models, tmp_path):
    from tfsal.predict import predict

    model, _, _ = models
    files = [str(p) for p in sorted(_photos(tmp_path / "in", 24, 40, 56).iterdir())]
    out = tmp_path / "maps"
    lag = []

    def images():
        for i, f in enumerate(files):
            lag.append(i - (len(_pngs(out)) if out.is_dir() else 0))  # taken from the generator - written
            yield f

    result = predict(model, images(), out, batch_size=2, workers=1, progress=False)
    assert result.predicted == 24 and result.files == 24 and len(_pngs(out)) == 24
    # Read-ahead (2 x max(batch, workers)), one batch and 2 x workers pending writes are in flight at most.
    assert max(lag) <= 10, lag
    _no_leftovers(out)


def test_maps_match_across_model_kinds(models, tmp_path):
    from tfsal.predict import predict_maps
    from tfsal.runtime import TFLiteRunner, resolve_model, resize_image

    model, keras_path, tflite = models
    runner = resolve_model(tflite)
    assert isinstance(runner, TFLiteRunner) and runner.input_size == SHAPE[:2] and runner.max_batch == 1
    images = [np.random.default_rng(i).integers(0, 256, (50 + 7 * i, 70, 3), dtype=np.uint8) for i in range(3)]
    by_object = predict_maps(model, images, batch_size=2)
    by_keras, by_tflite = predict_maps(keras_path, images), predict_maps(tflite, images)
    for a, b, c, img in zip(by_object, by_keras, by_tflite, images):
        assert a.shape == c.shape == img.shape[:2] and a.dtype == np.float32
        np.testing.assert_allclose(a, b, atol=1e-6)
        np.testing.assert_allclose(a, c, atol=1e-4)
    # The resize is TensorFlow's antialiased bilinear one (the training pipeline's), enlarging and shrinking.
    import tensorflow as tf

    for img in (images[1], np.random.default_rng(5).integers(0, 256, (301, 517, 3), dtype=np.uint8)):
        ref = tf.image.resize(img.astype(np.float32), SHAPE[:2], "bilinear", antialias=True).numpy()
        np.testing.assert_allclose(resize_image(img, SHAPE[:2]), ref, atol=2e-3)


def _smooth_photo(h, w, seed=0):
    """A photo-like RGB image: smooth blobs plus a little grain (so a reduced decode has real content to lose)."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.int16)
    return np.clip(img + rng.integers(-6, 7, img.shape), 0, 255).astype(np.uint8)


def test_large_jpeg_decoded_reduced(models, tmp_path):
    """Issue 25 (4): a JPEG much larger than the model input is decoded at 1/2-1/8 of each side (EXIF orientation
    kept), the map is still at the full size and matches the full decode's; other files are decoded in full."""
    import cv2
    from PIL import Image

    from tfsal._io import read_image, read_image_reduced
    from tfsal.predict import iter_maps, predict

    model, _, tflite = models
    big = str(tmp_path / "big.jpg")
    cv2.imwrite(big, cv2.cvtColor(_smooth_photo(768, 1024), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
    img, size = read_image_reduced(big, SHAPE[:2])  # 1/4: 192x256 >= 2 x 64x96; 1/8 (96x128) would not be
    assert size == (768, 1024) and img.shape == (192, 256, 3) and img.dtype == np.uint8
    assert read_image_reduced(big, None)[0].shape == (768, 1024, 3)
    assert read_image_reduced(big, (300, 96))[0].shape == (768, 1024, 3)  # 1/2 would be under 2 x 300 rows
    rotated = str(tmp_path / "rotated.jpg")  # EXIF orientation 6: stored 1024x768, shown 768 wide, 1024 high
    exif = Image.new("RGB", (1, 1)).getexif()
    exif[0x0112] = 6
    Image.open(big).save(rotated, exif=exif.tobytes(), quality=92)
    img, size = read_image_reduced(rotated, SHAPE[:2])
    assert size == (1024, 768) == read_image(rotated).shape[:2] and img.shape == (256, 192, 3)
    png = str(tmp_path / "big.png")
    cv2.imwrite(png, cv2.imread(big))
    assert read_image_reduced(png, SHAPE[:2])[0].shape == (768, 1024, 3)
    for m in (model, tflite):
        (_, full), = iter_maps(m, [big], reduced_decode=False)
        (_, reduced), = iter_maps(m, [big])
        assert full.shape == reduced.shape == (768, 1024) and reduced.dtype == np.float32
        assert np.corrcoef(full.ravel(), reduced.ravel())[0, 1] >= 0.999
    result = predict(tflite, [big, rotated], str(tmp_path / "maps"), progress=False)
    assert result.files == 2
    assert cv2.imread(str(tmp_path / "maps" / "big.png"), cv2.IMREAD_GRAYSCALE).shape == (768, 1024)
    assert cv2.imread(str(tmp_path / "maps" / "rotated.png"), cv2.IMREAD_GRAYSCALE).shape == (1024, 768)


def test_resume_and_refusals(models, tmp_path):
    from tfsal.predict import predict

    _, _, tflite = models
    src = _photos(tmp_path / "in", 4)
    out = tmp_path / "maps"
    first = predict(tflite, src, out, save_npy=True, progress=False)
    assert first.predicted == 4 and first.files == 8
    # Without --resume/--overwrite an existing output is an error and nothing is touched.
    mtime = os.path.getmtime(out / "im00.png")
    with pytest.raises(FileExistsError, match=r"im00.png.*already exists.*--resume"):
        predict(tflite, src, out, save_npy=True, progress=False)
    assert os.path.getmtime(out / "im00.png") == mtime
    # A missing map, a truncated PNG and a wrong-size .npy are redone; the complete ones are skipped.
    os.remove(out / "im01.png")
    data = (out / "im02.png").read_bytes()
    (out / "im02.png").write_bytes(data[: len(data) // 2])
    np.save(out / "im03.npy", np.zeros((3, 3), np.float32))
    again = predict(tflite, src, out, save_npy=True, resume=True, progress=False)
    assert (again.predicted, again.skipped) == (3, 1)
    assert os.path.getmtime(out / "im00.png") == mtime
    assert np.load(out / "im03.npy").shape == (48, 72)
    assert predict(tflite, src, out, save_npy=True, resume=True, progress=False).skipped == 4
    _no_leftovers(out)
    # Inputs whose maps would collide, or overwrite an input, are refused before anything is written.
    (tmp_path / "other").mkdir()
    write_jpeg(str(tmp_path / "other" / "im00.png"), 40, 40)
    with pytest.raises(ValueError, match="would both be written as"):
        predict(tflite, [src, tmp_path / "other"], tmp_path / "m2", progress=False)
    with pytest.raises(ValueError, match="overwrite the image itself"):
        predict(tflite, tmp_path / "other", tmp_path / "other", progress=False)
    assert not (tmp_path / "m2").exists()


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_size": 0}, "batch_size must be a positive integer; got 0"),
    ({"workers": -1}, "workers must be a positive integer; got -1"),
    ({"resume": True, "overwrite": True}, "exclude each other"),
])
def test_bad_options_create_nothing(models, tmp_path, kwargs, message):
    from tfsal.predict import predict

    with pytest.raises(ValueError, match=message):
        predict(models[2], _photos(tmp_path / "in", 1), tmp_path / "maps", progress=False, **kwargs)
    assert not (tmp_path / "maps").exists()


def test_bad_files_stop_or_are_skipped(models, tmp_path):
    from tfsal._io import read_image
    from tfsal.predict import predict

    _, _, tflite = models
    src = _photos(tmp_path / "in", 2)
    whole = (src / "im01.jpg").read_bytes()
    (src / "im05_cut.jpg").write_bytes(whole[: len(whole) * 2 // 3])  # a truncated download
    (src / "im07_text.jpg").write_text("not an image")
    (src / "im09.jpg").write_bytes(whole + b"\0" * 16)  # padding after the end marker is fine
    with pytest.raises(ValueError, match="im05_cut.jpg' is truncated"):
        read_image(src / "im05_cut.jpg")
    out = tmp_path / "maps"
    with pytest.raises(ValueError, match=r"im05_cut.jpg' is truncated.*the 2 map\(s\) before it were written"):
        predict(tflite, src, out, progress=False)
    assert _pngs(out) == ["im00.png", "im01.png"]  # the maps before it, complete; nothing of it
    _no_leftovers(out)
    result = predict(tflite, src, out, skip_bad=True, resume=True, progress=False)
    assert (result.predicted, result.skipped) == (1, 2)
    assert [os.path.basename(p) for p, _ in result.bad] == ["im05_cut.jpg", "im07_text.jpg"]
    assert "not an image file" in result.bad[1][1] and "2 bad file(s)" in result.summary()
    # The first bad file in an empty output folder: nothing is left behind, not even the folder.
    with pytest.raises(ValueError, match="im05_cut.jpg"):
        predict(tflite, [src / "im05_cut.jpg"], tmp_path / "fresh", progress=False)
    assert not (tmp_path / "fresh").exists()


def test_output_folder_lock(models, tmp_path):
    from tfsal._io import LOCK_NAME, output_lock
    from tfsal.predict import predict

    _, _, tflite = models
    src = _photos(tmp_path / "in", 2)
    out = tmp_path / "maps"
    with output_lock(out, "tfsal predict"):
        with pytest.raises(ValueError, match=rf"being written by tfsal predict \(pid {os.getpid()}.*{LOCK_NAME}"):
            predict(tflite, src, out, progress=False)
    assert not (out / LOCK_NAME).exists()
    # A lock left by a process that died is taken over.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (out / LOCK_NAME).write_text(f'{{"pid": {dead.pid}, "command": "tfsal predict"}}')
    assert predict(tflite, src, out, progress=False).predicted == 2
    _no_leftovers(out)


def test_interrupt_leaves_only_complete_maps(models, tmp_path):
    from tfsal._io import png_complete
    from tfsal.predict import predict

    _, _, tflite = models
    files = [str(p) for p in sorted(_photos(tmp_path / "in", 12).iterdir())]

    def images():
        yield from files[:8]
        raise KeyboardInterrupt

    out = tmp_path / "maps"
    with pytest.raises(KeyboardInterrupt):
        predict(tflite, images(), out, batch_size=2, workers=2, progress=False)
    done = _pngs(out)
    assert done and all(png_complete(out / f) for f in done)
    _no_leftovers(out)
    assert predict(tflite, files, out, resume=True, progress=False).skipped == len(done)


def test_model_argument_is_optional(models, tmp_path, monkeypatch):
    import tfsal
    from tfsal.predict import split_model_argument

    _, keras_path, tflite = models
    src = str(_photos(tmp_path / "in", 2))
    assert split_model_argument([tflite, src]) == (tflite, [src])
    assert split_model_argument([src, src]) == (None, [src, src])
    assert split_model_argument([src], model=keras_path) == (keras_path, [src])
    assert split_model_argument(["fastsal-a", src]) == ("fastsal-a", [src])
    monkeypatch.chdir(tmp_path)
    os.symlink(src, "fastsal-a")  # an existing folder with a model's name is a folder
    assert split_model_argument(["fastsal-a"]) == (None, ["fastsal-a"])
    with pytest.raises(FileNotFoundError, match="missing.keras"):
        tfsal.runtime.resolve_model(split_model_argument(["missing.keras", src])[0])
    import importlib.util
    onnx_message = ("not a valid .onnx model" if importlib.util.find_spec("onnxruntime")
                    else "needs ONNX Runtime, which is not installed")  # the optional [onnx] extra
    for name, message in [("junk.tflite", "not a valid .tflite model"), ("junk.keras", "cannot load model"),
                          ("junk.onnx", onnx_message)]:
        (tmp_path / name).write_bytes(b"not a model")
        with pytest.raises(ValueError, match=rf"{name}.*{message}|{message}.*{name}"):
            tfsal.runtime.resolve_model(str(tmp_path / name))
    for args, kwargs, message in [([tflite], {}, "no images given after the model"),
                                  ([tflite, src], {"model": keras_path}, "two models given"),
                                  (["fastsla", src], {}, "'fastsla' does not exist: expected an image")]:
        with pytest.raises((ValueError, FileNotFoundError), match=message):
            split_model_argument(args, **kwargs)
    # CLI: model first, or --model, or none (the shipped default model).
    res = _run("predict", tflite, src, "--out", tmp_path / "a")
    assert res.exit_code == 0 and "predicted 2 image(s)" in res.stdout and "predict  2/2" in res.stderr
    res = _run("predict", src, "--model", keras_path, "--out", tmp_path / "b", "--quiet", "--npy")
    assert res.exit_code == 0 and "predict  " not in res.stderr and len(os.listdir(tmp_path / "b")) == 4
    res = _run("predict", src, "--out", tmp_path / "c", "--quiet")
    try:
        tfsal.runtime.resolve_model(None)
    except ValueError as err:  # this checkout ships no weights: the same one-line error
        assert res.exit_code == 1 and f"Error: {err}" in res.output and "no model given" in res.output
        assert not (tmp_path / "c").exists()
    else:
        assert res.exit_code == 0 and len(_pngs(tmp_path / "c")) == 2, res.output
    res = _run("predict", tflite, src, "--out", tmp_path / "d", "--batch-size", 0)
    assert res.exit_code == 2 and "positive integer" in res.output and "0" in res.output  # a bad option: exit 2
    assert not (tmp_path / "d").exists()


def test_evaluate_tflite_with_max_images(models):
    from tfsal.evaluate import evaluate

    model, _, tflite = models
    result = evaluate(tflite, metrics=["NSS", "CC"], max_images=4, progress=False)
    assert len(result.images) == 4 and result.layout == "nus" and result.available_images == 30
    reference = evaluate(model, metrics=["NSS", "CC"], max_images=4, progress=False)
    np.testing.assert_allclose(result.scores["NSS"], reference.scores["NSS"], atol=1e-3)
    res = _run("evaluate", tflite, "--metrics", "NSS", "--max-images", 3)
    assert res.exit_code == 0, res.output
    assert "on demo (nus layout), split val: first 3 of 30 images" in res.stderr
    res = _run("evaluate", tflite, "--max-images", 0, "--quiet")
    assert res.exit_code == 2 and "positive integer" in res.output and "0" in res.output  # a bad option: exit 2

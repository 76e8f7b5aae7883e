"""SaliencySampler and zoom_classifier (SPEC §1.6)."""
import numpy as np
import pytest

import keras
import tensorflow as tf

from tfsal.sampler import SaliencySampler, reference_grid, zoom_classifier


def _tiny_zoom(high=(64, 64, 1), low=(16, 16)):
    sal = keras.Sequential(
        [keras.Input((*low, high[2])), keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
         keras.layers.Conv2D(1, 3, padding="same")],
        name="sal_net",
    )
    task = keras.Sequential(
        [keras.Input((*low, high[2])), keras.layers.Conv2D(4, 3, activation="relu"), keras.layers.Flatten(),
         keras.layers.Dense(3, activation="softmax")],
        name="task_net",
    )
    return zoom_classifier(sal, task, input_shape=high), sal


def _paper_grid(saliency, n=31, pad=30, fwhm=13.0):
    """The grid of "Learning to Zoom" (Recasens et al. 2018, eqs. 3-4, and recasens/Saliency-Sampler's constants),
    written independently of tfsal (no shared helper): for each grid cell (i, j), a sum over every cell (a, b) of
    the replication-padded map within the 61x61 Gaussian window centred on it,
    ``u = Σ S(a, b) k((i, j), (a, b)) x(b) / Σ S(a, b) k((i, j), (a, b))`` (``v`` with ``y(a)``),
    with ``k = exp(-4 ln2 r² / fwhm²)`` on the 2-D distance r, ``x(b) = (b − pad) / (n − 1)`` on padded indices,
    replication padding = the padded cell (a, b) reads S at (clip(a − pad), clip(b − pad)); then 2u − 1, clamped."""
    grid = np.zeros((n, n, 2))
    for i in range(n):
        for j in range(n):
            a, b = np.meshgrid(np.arange(i, i + 2 * pad + 1), np.arange(j, j + 2 * pad + 1), indexing="ij")
            r2 = (a - (i + pad)) ** 2 + (b - (j + pad)) ** 2
            w = saliency[np.clip(a - pad, 0, n - 1), np.clip(b - pad, 0, n - 1)]
            w = w * np.exp(-4.0 * np.log(2.0) * r2 / fwhm**2)
            u = (w * (b - pad) / (n - 1)).sum() / w.sum()
            v = (w * (a - pad) / (n - 1)).sum() / w.sum()
            grid[i, j] = np.clip([2 * u - 1, 2 * v - 1], -1, 1)
    return grid


@pytest.fixture(scope="module")
def paper_case():
    """Two softmax-normalised 31x31 maps and their grids by :func:`_paper_grid` (a fraction of a second)."""
    rng = np.random.default_rng(0)
    logits = (rng.normal(size=(2, 31, 31, 1)) * 2).astype("float32")
    maps = []
    for i in range(2):
        p = np.exp(logits[i, ..., 0].astype(np.float64) - logits[i].max())  # the paper's softmax over grid cells
        maps.append(p / p.sum())
    return logits, maps, [_paper_grid(m) for m in maps]


def test_grid_matches_the_papers_equations(paper_case):
    logits, _, expected = paper_case
    grid = np.asarray(SaliencySampler((31, 31)).compute_grid(logits))
    for i in range(2):
        np.testing.assert_allclose(grid[i], expected[i], atol=1e-5)


def test_reference_grid_matches_the_papers_equations(paper_case):
    _, maps, expected = paper_case
    for m, e in zip(maps, expected):
        np.testing.assert_allclose(reference_grid(m), e, atol=1e-9)


def test_uniform_map_is_plain_resize():
    rng = np.random.default_rng(1)
    image = rng.random((2, 90, 70, 3)).astype("float32")
    out = SaliencySampler((30, 20))([image, np.zeros((2, 8, 8, 1), "float32")])
    expected = tf.compat.v1.image.resize_bilinear(image, (30, 20), align_corners=True).numpy()
    np.testing.assert_allclose(np.asarray(out), expected, atol=1e-4)
    # "sum" normalisation of a constant non-negative map is the same.
    out2 = SaliencySampler((30, 20), normalization="sum")([image, np.full((2, 31, 31, 1), 0.3, "float32")])
    np.testing.assert_allclose(np.asarray(out2), expected, atol=1e-4)


def test_peaked_map_magnifies_that_region():
    # Image whose pixel value is its own x (resp. y) coordinate: the sampled image shows where each output reads.
    h = w = 120
    yy, xx = np.mgrid[:h, :w].astype("float32")
    image = np.stack([xx, yy], axis=-1)[None]
    logits = np.zeros((1, 31, 31, 1), "float32")
    logits[0, 7, 22, 0] = 6.0  # peak at (y, x) ≈ (0.23, 0.73) of the image
    out = np.asarray(SaliencySampler((40, 40))([image, logits]))[0]
    peak = np.array([7 / 30 * (h - 1), 22 / 30 * (w - 1)])
    ys, xs = out[..., 1], out[..., 0]
    near = (np.abs(ys - peak[0]) < 12) & (np.abs(xs - peak[1]) < 12)
    # A uniform 40x40 resize puts ~ (24/119)^2 * 1600 ≈ 65 samples in that 24x24 window; the peak attracts many more.
    assert near.sum() > 3 * 65, near.sum()
    # Sample spacing near the peak is finer than the uniform 119/39 ≈ 3.05 px.
    r, c = np.unravel_index(np.argmin((ys - peak[0]) ** 2 + (xs - peak[1]) ** 2), ys.shape)
    assert abs(xs[r, min(c + 1, 39)] - xs[r, max(c - 1, 0)]) / 2 < 3.05 / 2


def test_gradients_reach_saliency_net():
    model, sal = _tiny_zoom()
    x = np.random.default_rng(0).random((2, 64, 64, 1)).astype("float32")
    y = np.array([0, 2])
    with tf.GradientTape() as tape:
        loss = keras.losses.sparse_categorical_crossentropy(y, model(x, training=True))
    grads = tape.gradient(loss, sal.trainable_weights)
    assert all(g is not None for g in grads)
    assert max(float(tf.reduce_max(tf.abs(g))) for g in grads) > 0


def test_save_load_round_trip(tmp_path):
    model, _ = _tiny_zoom()
    x = np.random.default_rng(0).random((2, 64, 64, 1)).astype("float32")
    path = tmp_path / "zoom.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(loaded(x)), atol=1e-6)
    layer = loaded.get_layer("zoom_sampler")
    assert isinstance(layer, SaliencySampler) and layer.output_size == (16, 16)


def test_tflite_builtin_ops_only():
    model, _ = _tiny_zoom(high=(48, 48, 3), low=(16, 16))
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    blob = conv.convert()
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=blob)
    ops = {d["op_name"] for d in interp._get_ops_details()}
    assert not any("FLEX" in o.upper() or o.upper() == "CUSTOM" for o in ops), ops
    interp.allocate_tensors()
    x = np.random.default_rng(0).random((1, 48, 48, 3)).astype("float32")
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    out = interp.get_tensor(interp.get_output_details()[0]["index"])
    np.testing.assert_allclose(out, np.asarray(model(x)), atol=1e-4)


def test_bad_arguments_echo_input():
    with pytest.raises(ValueError, match="got 'a'"):
        SaliencySampler("a")
    with pytest.raises(ValueError, match="normalization"):
        SaliencySampler((8, 8), normalization="max")
    sal = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(1, 1)])
    task = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Flatten(), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"saliency_net must take \(16, 16, 1\)"):
        zoom_classifier(sal, task, input_shape=(64, 64, 1))

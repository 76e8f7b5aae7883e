"""tfsal.viz pictures, tfsal.receptive patterns and the `tfsal visualize` commands (small and fast)."""
import os

import cv2
import numpy as np
import pytest

from tfsal import receptive, visualize, viz


# ---------------------------------------------------------------- overlays and grids
def test_overlay_shape_dtype_and_resize(rng):
    img = (rng.random((30, 40, 3)) * 255).astype(np.uint8)
    out = viz.overlay(img, rng.random((10, 20)))
    assert out.shape == (30, 40, 3) and out.dtype == np.uint8


def test_overlay_of_negative_map_equals_minmax_normalised_and_never_wraps(rng):
    img = (rng.random((24, 32, 3)) * 255).astype(np.uint8)
    m = rng.normal(size=(24, 32)) * 3.0 - 1.0  # mostly negative, beyond [0, 1]
    assert m.min() < 0 and m.max() > 1
    norm = (m - m.min()) / (m.max() - m.min())
    np.testing.assert_array_equal(viz.overlay(img, m), viz.overlay(img, norm))
    grey = viz.map_to_uint8(m)
    # no wrap-around: grey levels are monotone in the map values, min -> 0 and max -> 255
    order = np.argsort(m.ravel(), kind="stable")
    assert np.all(np.diff(grey.ravel()[order].astype(int)) >= 0)
    assert grey.ravel()[order[0]] == 0 and grey.ravel()[order[-1]] == 255
    # the naive uint8 cast would wrap (the seed-000 bug); ours must differ from it
    assert not np.array_equal(grey, (m * 255).astype(np.int64).astype(np.uint8))
    # the most negative pixel is drawn with the colormap's low end (blue), not a bright wrapped colour
    heat = viz.colorize(m)
    y, x = np.unravel_index(np.argmin(m), m.shape)
    np.testing.assert_array_equal(heat[y, x], viz.colorize(np.array([[0.0, 1.0]]))[0, 0])


def test_prediction_grid_and_fixation_overlay(rng):
    img = (rng.random((32, 48, 3)) * 255).astype(np.uint8)
    grid = viz.prediction_grid([img, img], [rng.random((32, 48))] * 2, [rng.normal(size=(8, 12))] * 2)
    assert grid.dtype == np.uint8 and grid.shape == (2 * 36, 5 * 52, 3)
    dots = viz.fixation_overlay(img, [[0.5, 0.5], [0.1, 0.9]], saliency_map=rng.random((32, 48)))
    assert dots.shape == img.shape and dots.dtype == np.uint8
    assert tuple(dots[16, 24]) == (255, 0, 0)
    fixmap = np.zeros((8, 12)); fixmap[4, 6] = 1
    assert viz.fixation_overlay(np.zeros_like(img), fixmap).sum() > 0
    with pytest.raises(ValueError, match=r"\(32, 48\)"):
        viz.fixation_overlay(img[..., 0], [[0.5, 0.5]])


def test_tile_grid_bar_plot_and_resampling_picture(rng):
    tiles = [np.full((3, 3, 3), i * 40, np.uint8) for i in range(5)]
    grid = viz.tile_grid(tiles, tile=8, columns=3)
    assert grid.shape == (2 * 12, 3 * 12, 3)
    with pytest.raises(ValueError, match="float64"):
        viz.tile_grid([np.zeros((2, 2))])
    bars = viz.bar_plot([-1.0, 2.0, 0.5], highlight=1, width=200, height=100, title="t")
    assert bars.shape == (100, 200, 3) and bars.dtype == np.uint8
    assert (np.all(bars == (220, 40, 40), axis=-1)).any()  # the highlighted bar
    img = (rng.random((40, 60, 3)) * 255).astype(np.uint8)
    pic = viz.resampling_picture(img, rng.random((10, 15)), rng.random((20, 20, 3)))
    assert pic.dtype == np.uint8 and pic.shape == (44, 64 + 64 + 44, 3)


# ---------------------------------------------------------------- small models
def test_conv_filter_grid_finds_first_conv_by_type(tiny_conv):
    import keras

    model = tiny_conv
    assert viz.first_conv_layer(model).name == "c1"
    grid = viz.conv_filter_grid(model, tile=16)
    assert grid.dtype == np.uint8 and grid.shape == (2 * 20, 2 * 20, 3)
    assert viz.conv_filter_grid(model, "c2", tile=8).shape == (2 * 12, 3 * 12, 3)  # 6 filters, grey
    with pytest.raises(ValueError, match="'p1' is a MaxPooling2D"):
        viz.conv_filter_grid(model, "p1")
    dense = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="no Conv2D"):
        viz.first_conv_layer(dense)


def _kernel_model(kernel, h, w, pool):
    import keras

    inp = keras.Input((h, w, kernel.shape[2]))
    x = keras.layers.Conv2D(kernel.shape[3], kernel.shape[:2], padding="same", use_bias=False,
                            activation="relu", name="conv")(inp)
    x = keras.layers.MaxPooling2D(pool, name="pool")(x)
    model = keras.Model(inp, x)
    model.get_layer("conv").set_weights([kernel])
    return model


def test_pattern_of_single_conv_is_the_kernel_at_the_centre(rng):
    kernel = rng.normal(size=(3, 3, 2, 3)).astype(np.float32)  # asymmetric, 2 in / 3 out channels
    model = _kernel_model(kernel, 7, 7, pool=1)
    pattern = receptive.receptive_field_pattern(model, "pool", channel=1, value=2.0)
    expected = np.zeros((7, 7, 2), np.float32)
    expected[2:5, 2:5] = 2.0 * kernel[:, :, :, 1]  # the (un-flipped) kernel, in/out transposed, at the centre
    np.testing.assert_allclose(pattern, expected, atol=1e-6)


def test_pattern_through_pool_repeats_then_deconvolves(rng):
    kernel = rng.normal(size=(3, 3, 1, 2)).astype(np.float32)
    model = _kernel_model(kernel, 6, 6, pool=2)
    pattern = receptive.receptive_field_pattern(model, "pool", channel=0)[..., 0]
    expected = np.zeros((8, 8))  # padded canvas, cropped below
    for i in (2, 3):  # pooled centre (1, 1) repeated to the 2x2 block rows/cols 2-3
        for j in (2, 3):
            expected[i:i + 3, j:j + 3] += kernel[:, :, 0, 0]
    np.testing.assert_allclose(pattern, expected[1:7, 1:7], atol=1e-6)
    # the pattern is linear in c (biases are ignored), so the propagation series differs only by display range
    np.testing.assert_allclose(receptive.receptive_field_pattern(model, "pool", 0, value=3.0), 3 * pattern[..., None],
                               atol=1e-5)


def test_validation_of_orthogonal_filters_peaks_at_the_clamped_channel():
    kernel = np.zeros((3, 3, 1, 4), np.float32)
    for k, (i, j) in enumerate([(0, 0), (0, 2), (1, 1), (2, 1)]):  # one-hot filters: orthogonal
        kernel[i, j, 0, k] = 1.0 + k
    model = _kernel_model(kernel, 7, 7, pool=1)
    for k in range(4):
        centre = receptive.validate_pattern(model, "pool", k, reduce="centre")
        assert int(np.argmax(centre)) == k and centre[k] == pytest.approx((1.0 + k) ** 2)
    with pytest.raises(ValueError, match="got 'mean'"):
        receptive.validate_pattern(model, "pool", 0, reduce="mean")


def test_patterns_grid_series_validation_on_a_stack(tiny_conv):
    model = tiny_conv
    assert receptive.pooling_layers(model) == ["p1", "p2"]
    assert [l.name for l in receptive.layer_chain(model, "p2")] == ["c1", "p1", "c2", "r2", "p2"]
    assert receptive.receptive_field_size(model, "p2") == ((10, 10), (4, 4))
    patterns = receptive.receptive_field_patterns(model, "p2", channels=range(3))
    assert patterns.shape == (3, 32, 32, 3) and patterns.dtype == np.float32
    assert np.abs(patterns[:, :8]).max() == 0  # outside the receptive field
    assert receptive.pattern_grid(model, "p2", channels=4, tile=10).shape == (2 * 14, 2 * 14, 3)
    sums = receptive.validate_pattern(model, "p2", channel=2)
    assert sums.shape == (6,)
    series = receptive.propagation_series(model, "p1", 0, values=(0.5, 1, 3), tile=20)
    assert series.shape == (24, 3 * 24, 3)
    assert receptive.validation_plot(model, "p2", 2, width=120, height=60).shape == (60, 120, 3)
    with pytest.raises(ValueError, match="'c2' is a Conv2D"):
        receptive.receptive_field_patterns(model, "c2")
    with pytest.raises(ValueError, match=r"6 channels; got channel\(s\) \[9\]"):
        receptive.receptive_field_patterns(model, "p2", [9])
    with pytest.raises(ValueError, match="no layer 'nope'"):
        receptive.receptive_field_patterns(model, "nope")


def test_vgg_preprocess_is_undone_to_rgb():
    import keras
    from tfsal.models.vgg_encdec import VGGPreprocess

    inp = keras.Input((8, 8, 3))
    x = VGGPreprocess("caffe", name="pre")(inp)
    x = keras.layers.Conv2D(2, 3, padding="same", use_bias=False, name="conv")(x)
    x = keras.layers.MaxPooling2D(1, name="pool")(x)
    model = keras.Model(inp, x)
    kernel = np.arange(54, dtype=np.float32).reshape(3, 3, 3, 2)
    model.get_layer("conv").set_weights([kernel])
    pattern = receptive.receptive_field_pattern(model, "pool", 0)
    np.testing.assert_allclose(pattern[3:6, 3:6], kernel[:, :, ::-1, 0])  # BGR kernel shown as RGB
    grid = viz.conv_filter_grid(model, tile=3, columns=2)
    assert grid.shape == (7, 14, 3)


# ---------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory, tiny_conv):
    from conftest import write_jpeg

    d = tmp_path_factory.mktemp("viz")
    model = tiny_conv
    path = str(d / "tiny.keras")
    model.save(path)
    image = write_jpeg(str(d / "img.jpg"), 40, 56)
    return d, path, image


def test_cli_visualize_overlay_and_filters(tiny_files):
    from click.testing import CliRunner
    from tfsal.cli import main

    d, model_path, image = tiny_files
    runner = CliRunner()
    out = str(d / "overlay.png")
    res = runner.invoke(main, ["visualize", "overlay", model_path, image, "--out", out])
    assert res.exit_code == 0, res.output
    assert cv2.imread(out).shape == (40, 56, 3) and out in res.output
    out = str(d / "filters.png")
    res = runner.invoke(main, ["visualize", "filters", model_path, "--out", out, "--tile", "8"])
    assert res.exit_code == 0, res.output
    assert cv2.imread(out).shape == (24, 24, 3)
    res = runner.invoke(main, ["visualize", "overlay", str(d / "missing.keras"), image, "--out", out])
    assert res.exit_code == 1 and "missing.keras" in res.output and "Traceback" not in res.output


def test_cli_visualize_receptive_fields(tiny_files):
    from click.testing import CliRunner
    from tfsal.cli import main

    d, model_path, _ = tiny_files
    runner = CliRunner()
    for mode in ("grid", "series", "validation"):
        out = str(d / f"rf_{mode}.png")
        res = runner.invoke(main, ["visualize", "receptive-fields", model_path, model_path, "--out", out,
                                   "--mode", mode, "--channels", "4", "--channel", "1", "--layers", "p1,p2"])
        assert res.exit_code == 0, res.output
        assert os.path.isfile(out)
    res = runner.invoke(main, ["visualize", "receptive-fields", model_path, "--out", str(d / "x.png"),
                               "--layers", "c1"])
    assert res.exit_code == 1 and "'c1' is a Conv2D" in res.output


def test_prediction_grid_letterboxes_portrait_and_landscape(rng):
    """Issue 16: mixed orientations crashed np.concatenate after training."""
    land = (rng.random((30, 40, 3)) * 255).astype(np.uint8)
    port = (rng.random((40, 30, 3)) * 255).astype(np.uint8)
    grid = viz.prediction_grid([land, port], [rng.random((30, 40)), rng.random((40, 30))],
                               [rng.random((8, 8))] * 2, fixations=[[[0.5, 0.5]]] * 2)
    assert grid.shape == (2 * 44, 5 * 44, 3)  # every tile 40x40 (+2 px border)
    assert (grid[44 + 2 + 20, 2:7] == 255).all()  # the portrait image is centred on white
    small = viz.prediction_grid([land, port], [land[..., 0], port[..., 0]], [land[..., 0], port[..., 0]],
                                max_side=20)
    assert small.shape == (2 * 24, 5 * 24, 3)


def test_write_overlay_refuses_an_existing_file_unless_overwrite(tmp_path):
    import keras

    from conftest import write_jpeg

    inp = keras.Input((16, 16, 3))
    model = keras.Model(inp, keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")(inp))
    image = write_jpeg(str(tmp_path / "img.jpg"), 20, 24)
    out = tmp_path / "o.png"
    out.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="o.png"):
        visualize.write_overlay(model, image, out)
    assert out.read_bytes() == b"keep me"
    with pytest.raises(ValueError, match=r"alpha must be a number in \[0, 1\]"):
        visualize.write_overlay(model, image, tmp_path / "n.png", alpha=2)
    visualize.write_overlay(model, image, out, overwrite=True)
    assert cv2.imread(str(out)).shape == (20, 24, 3)
    assert sorted(os.listdir(tmp_path)) == ["img.jpg", "o.png"]  # no temporary file left


def test_filter_grid_shows_bgr_kernels_of_a_caffe_model_as_rgb():
    """A conv fed by a caffe VGGPreprocess sees BGR: its kernel's first input channel is blue on screen."""
    import keras

    from tfsal.models.vgg_encdec import VGGPreprocess

    kernel = np.zeros((3, 3, 3, 1), np.float32)
    kernel[..., 0, 0] = 1.0  # weight on the conv's first input channel only
    inp = keras.Input((8, 8, 3))
    for pre, colour in ((lambda x: VGGPreprocess("caffe", name="pre")(x), [0, 0, 255]), (lambda x: x, [255, 0, 0])):
        conv = keras.layers.Conv2D(1, 3, name="conv", use_bias=False)
        model = keras.Model(inp, conv(pre(inp)))
        conv.set_weights([kernel])
        grid = viz.conv_filter_grid(model, tile=8)
        assert grid[2 + 4, 2 + 4].tolist() == colour

"""tfsal.layers.OutputBlur: its matrix-product form gives the sums of the zero-padded depthwise form (any σ, any
channel count), and lowers to FULLY_CONNECTED in TFLite (no 1-channel DEPTHWISE_CONV_2D, slow in XNNPACK)."""
import numpy as np
import pytest

keras = pytest.importorskip("keras")

from tfsal.layers import OutputBlur, _depthwise_blur, blur_matrix, gaussian_kernel_1d  # noqa: E402


@pytest.mark.parametrize("sigma, shape", [(1.0, (2, 12, 20, 1)), (2.5, (1, 9, 7, 3)), (8.0, (1, 16, 24, 1))])
def test_matrix_form_equals_depthwise_form(sigma, shape):
    x = np.random.default_rng(0).uniform(0, 1, shape).astype("float32")
    new = np.asarray(OutputBlur(sigma)(x))
    old = np.asarray(_depthwise_blur(keras.ops.convert_to_tensor(x), sigma, shape[-1]))
    assert new.shape == shape
    np.testing.assert_allclose(new, old, atol=2e-6)


def test_blur_matrix_is_the_zero_padded_kernel():
    k = gaussian_kernel_1d(2.0)
    r = len(k) // 2
    m = blur_matrix(30, 2.0)
    np.testing.assert_allclose(m[15, 15 - r:15 + r + 1], k)
    assert m[15, :15 - r].sum() == 0 and m[0].sum() == pytest.approx(k[r:].sum())


def test_unknown_size_falls_back_and_keras_file_round_trips(tmp_path):
    inp = keras.Input((None, None, 1))
    dynamic = keras.Model(inp, OutputBlur(1.5, name="blur")(inp))
    x = np.random.default_rng(1).uniform(0, 1, (1, 10, 14, 1)).astype("float32")
    path = tmp_path / "m.keras"
    dynamic.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(OutputBlur(1.5)(x)), atol=2e-6)


def test_tflite_form_has_no_depthwise():
    tf = pytest.importorskip("tensorflow")
    inp = keras.Input((16, 24, 1), batch_size=1)
    model = keras.Model(inp, OutputBlur(8.0)(inp))
    fn = tf.function(lambda t: model(t), input_signature=[tf.TensorSpec((1, 16, 24, 1), tf.float32)])
    content = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], model).convert()
    interp = tf.lite.Interpreter(model_content=content)
    names = {op["op_name"] for op in interp._get_ops_details()}
    assert "FULLY_CONNECTED" in names and "DEPTHWISE_CONV_2D" not in names

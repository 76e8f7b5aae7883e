import numpy as np
import pytest

from tfsal import losses


def t(x):
    return np.asarray(x, np.float32)[None, :, :, None]


def test_bce_hand_value():
    y = t([[1.0, 0.0]])
    p = t([[0.8, 0.4]])
    expected = -(np.log(0.8) + np.log(0.6)) / 2
    assert np.isclose(float(losses.bce(y, p)[0]), expected, rtol=1e-6)


def test_mse_hand_value():
    assert np.isclose(float(losses.mse(t([[1.0, 0.0]]), t([[0.5, 0.5]]))[0]), 0.25)


def test_kld_hand_value():
    # G = [1, 0] normalised, P = [0.5, 0.5]: KLD = 1 * ln(1 / 0.5) = ln 2.
    assert np.isclose(float(losses.kld(t([[1.0, 0.0]]), t([[0.5, 0.5]]))[0]), np.log(2), rtol=1e-5)
    assert abs(float(losses.kld(t([[0.2, 0.6]]), t([[0.1, 0.3]]))[0])) < 1e-6  # scale-invariant, zero at equality


def test_cc_hand_value_and_constant():
    a = t([[1.0, 2.0, 3.0]])
    assert np.isclose(float(losses.cc(a, t([[2.0, 4.0, 6.0]]))[0]), 1.0, atol=1e-6)
    assert np.isclose(float(losses.cc(a, t([[3.0, 2.0, 1.0]]))[0]), -1.0, atol=1e-6)
    assert float(losses.cc(a, t([[5.0, 5.0, 5.0]]))[0]) == 0.0


def test_losses_ignore_fixation_channel():
    y = np.concatenate([t([[1.0, 0.0]]), t([[1.0, 0.0]])], axis=-1)
    p = t([[0.8, 0.4]])
    for name, fn in losses.LOSSES.items():
        if name == "kld_cc_nss_bce":  # its NSS term reads the fixations of channel 1
            continue
        assert np.isclose(float(fn(y, p)[0]), float(fn(y[..., :1], p)[0])), name


def test_nss_term_reads_the_fixation_channel():
    y = np.concatenate([t([[0.5, 0.5, 0.0, 0.0]]), t([[1.0, 0.0, 0.0, 0.0]])], axis=-1)
    p = t([[0.9, 0.1, 0.1, 0.1]])
    # standardised p at the one fixated pixel: (0.9 - 0.3) / std([0.9, 0.1, 0.1, 0.1]) = 0.6 / 0.34641 = sqrt(3)
    assert np.isclose(float(losses.nss(y, p)[0]), np.sqrt(3.0), atol=1e-4)
    assert float(losses.nss(y[..., :1], p)[0]) == 0.0  # no fixation channel: no NSS term
    combined = float(losses.kld_cc_bce(y, p)[0]) - losses.NSS_LOSS_WEIGHT * np.sqrt(3.0)
    assert np.isclose(float(losses.kld_cc_nss_bce(y, p)[0]), combined, atol=1e-4)


def test_combined_losses():
    y, p = t([[1.0, 0.0]]), t([[0.8, 0.4]])
    kc = float(losses.kld(y, p)[0]) + 1 - float(losses.cc(y, p)[0])
    assert np.isclose(float(losses.kld_cc(y, p)[0]), kc, rtol=1e-6)
    assert np.isclose(float(losses.kld_cc_bce(y, p)[0]), kc + float(losses.bce(y, p)[0]), rtol=1e-6)


def test_saliency_loss_wrapper_and_errors():
    loss = losses.SaliencyLoss("kld_cc")
    assert losses.SaliencyLoss.from_config(loss.get_config()).kind == "kld_cc"
    with pytest.raises(ValueError, match="unknown loss 'nope'"):
        losses.SaliencyLoss("nope")

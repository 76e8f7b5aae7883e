"""Tests of tfsal.metrics (NumPy and Keras) and tfsal.baselines.

Expected values of the hand-computed cases are derived in closed form in the comments, not with the code under
test.
"""
import math
import warnings

import cv2
import numpy as np
import pytest

from tfsal import metrics as M
from tfsal.baselines import spectral_residual, uniform_map
from tfsal.metrics import _numpy as MN

EPS = 2.0 ** -52  # MATLAB eps


# ----------------------------------------------------------------------------------------------------------------
# tiny hand-computed cases
# ----------------------------------------------------------------------------------------------------------------
def ramp4():
    """4x4 map with values 0..15 (row-major); min-max normalised values are v/15, all distinct."""
    return np.arange(16, dtype=float).reshape(4, 4)


def fix_at(*flat, shape=(4, 4)):
    f = np.zeros(shape)
    f.flat[list(flat)] = 1
    return f


def test_auc_judd_hand():
    # fixations on the values 15 and 10; Nf = 2, Npix = 16.
    # threshold 15: 1 value >= it -> TP 1/2, FP (1-1)/14 = 0; threshold 10: 6 values -> TP 1, FP (6-2)/14.
    # curve (0,0) (0,.5) (4/14,1) (1,1): area = 4/14 * (0.5+1)/2 + 10/14 * 1 = 13/14
    expected = 13 / 14
    assert M.auc_judd(ramp4(), fix_at(15, 10), jitter=False) == pytest.approx(expected, abs=1e-15)
    # a 1e-7 jitter cannot reorder values that are 1/15 apart
    assert M.auc_judd(ramp4(), fix_at(15, 10), jitter=True, seed=3) == pytest.approx(expected, abs=1e-15)


def test_auc_judd_of_fixation_map_is_one():
    rng = np.random.default_rng(0)
    fix = (rng.random((30, 40)) > 0.97).astype(float)
    assert M.auc_judd(fix, fix) == pytest.approx(1.0, abs=1e-12)


def test_auc_judd_counts_fixation_once_and_any_positive_value():
    # a pixel fixated by two observers (value 2) is one fixation
    assert M.auc_judd(ramp4(), 2 * fix_at(15, 10), jitter=False) == pytest.approx(13 / 14, abs=1e-15)


def test_matlab_colon_operator():
    vals, n = MN._matlab_colon(0.0, 0.1, np.array([1.0, 0.95, 0.0]))
    assert list(n) == [10, 9, 0]
    # MATLAB builds 0:0.1:1 symmetrically: element 8 is 1 - 3*0.1 = 0.7 exactly, element 4 is 3*0.1
    assert vals[0, 7] == 1.0 - 3 * 0.1 == 0.7
    assert vals[0, 3] == 3 * 0.1 != 0.3
    assert vals[0, 10] == 1.0 and vals[1, 9] == pytest.approx(0.9) and np.isinf(vals[1, 10])
    assert vals[2, 0] == 0.0 and np.isinf(vals[2, 1:]).all()


def test_auc_borji_expected_value():
    # map = 1 on the 2 fixated pixels, 0 on the other 14. Every split: thresholds 1, .9, ..., 0 (max is 1);
    # TP = 1 at every threshold > 0; FP = X/2 with X ~ Binomial(2, 2/16) draws landing on a fixated pixel.
    # Curve (0,0) (X/2,1) ... (1,1): area 1 - X/4, expectation 1 - (2 * 2/16)/4 = 0.9375; sd of one split
    # sqrt(2 * 1/8 * 7/8)/4 = 0.117, so 20000 splits give a standard error of 0.0008.
    fix = fix_at(3, 7)
    assert M.auc_borji(fix, fix, n_splits=20000, seed=1) == pytest.approx(0.9375, abs=0.004)


def _borji_literal(s, f, neg_idx, step):
    """Literal translation of the loops of AUC_Borji.m for given negative indices (n_splits, Nf)."""
    s = (s - s.min()) / (s.max() - s.min())
    s, f = s.ravel(), f.ravel() > 0
    sth = s[f]
    aucs = []
    for split in neg_idx:
        cur = s[split]
        top = max(sth.max(), cur.max())
        threshes = [k * step for k in range(int(math.floor(top / step + 1e-9)), -1, -1)]
        tp, fp = [0.0], [0.0]
        for t in threshes:
            tp.append(np.sum(sth >= t) / sth.size)
            fp.append(np.sum(cur >= t) / cur.size)
        tp.append(1.0)
        fp.append(1.0)
        aucs.append(sum((fp[i + 1] - fp[i]) * (tp[i + 1] + tp[i]) / 2 for i in range(len(tp) - 1)))
    return float(np.mean(aucs))


def test_auc_borji_matches_literal_matlab_loop():
    rng = np.random.default_rng(5)
    s = cv2.GaussianBlur(rng.random((20, 24)), (0, 0), 2)  # continuous values: no ties with the thresholds
    f = rng.random((20, 24)) > 0.9
    nf = int(f.sum())
    # auc_borji draws r = default_rng(seed).integers(0, Npix, size=(n_splits, Nf)), MATLAB's randi
    neg = np.random.default_rng(11).integers(0, s.size, size=(30, nf))
    expected = _borji_literal(s, f, neg, 0.1)
    assert M.auc_borji(s, f, n_splits=30, seed=11) == pytest.approx(expected, abs=1e-12)


def test_shuffled_auc_hand():
    # fixations on 15, 10, 5 (normalised 1, 2/3, 1/3); other images fixated 11 and 2 (11/15 = .733, 2/15 = .133).
    # Only 2 other locations <= Nf = 3, so every split uses both (deterministic). Thresholds 1, .9, ..., 0:
    #   t in {1,.9,.8}: TP 1/3, FP 0; t = .7: TP 1/3, FP 1/2; t in {.6,.5,.4}: TP 2/3, FP 1/2;
    #   t in {.3,.2}: TP 1, FP 1/2; t in {.1, 0}: TP 1, FP 1.
    # area = 1/2 * 1/3 (FP 0 -> 1/2 at TP 1/3) + 1/2 * 1 (FP 1/2 -> 1 at TP 1) = 2/3
    other = fix_at(11, 2)
    for seed in (0, 1):
        assert M.shuffled_auc(ramp4(), fix_at(15, 10, 5), other, seed=seed) == pytest.approx(2 / 3, abs=1e-12)


def test_shuffled_auc_draws_min_nf_negatives():
    rng = np.random.default_rng(2)
    s = rng.random((20, 20))
    f = fix_at(3, 50, 77, shape=(20, 20))
    other = rng.random((20, 20)) > 0.5  # ~200 other locations, only 3 drawn per split
    a, b = M.shuffled_auc(s, f, other, seed=4), M.shuffled_auc(s, f, other, seed=4)
    c = M.shuffled_auc(s, f, other, seed=5)
    assert a == b and a != c and 0.0 <= a <= 1.0


def test_nss_hand():
    # values 0..15: mean 7.5, sum of squared deviations 16*(16^2-1)/12 = 340, std (N-1) sqrt(340/15);
    # fixations on 15 and 10: mean deviation 5 -> NSS = 5 / sqrt(340/15)
    assert M.nss(ramp4(), fix_at(15, 10)) == pytest.approx(5 / math.sqrt(340 / 15), rel=1e-14)
    # [[1,2],[3,4]] fixated at 4: (4 - 2.5) / sqrt(5/3)
    assert M.nss(np.array([[1.0, 2], [3, 4]]), fix_at(3, shape=(2, 2))) == pytest.approx(1.5 / math.sqrt(5 / 3))


def test_cc_hand_and_properties():
    x = np.array([[1.0, 2], [3, 4]])
    y = np.array([[0.0, 0], [1, 3]])
    # deviations (-1.5,-.5,.5,1.5) and (-1,-1,0,2): sum of products 5, squares 5 and 6 -> 5/sqrt(30)
    assert M.cc(x, y) == pytest.approx(5 / math.sqrt(30), rel=1e-14)
    assert M.cc(x, x) == pytest.approx(1.0, abs=1e-15)
    assert M.cc(-x, x) == pytest.approx(-1.0, abs=1e-15)
    rng = np.random.default_rng(0)
    vals = M.cc(rng.random((20, 8, 8)), rng.random((20, 8, 8)))
    assert vals.shape == (20,) and np.all(vals >= -1) and np.all(vals <= 1)


def test_kld_hand_and_properties():
    # P uniform 1/4, G = (1/2, 0, 0, 1/2): 2 * 1/2 * log(2) = log 2
    assert M.kld(np.ones((2, 2)), np.array([[2.0, 0], [0, 2]])) == pytest.approx(math.log(2), rel=1e-12)
    # P = (1,0,0,0), G = (1/2,1/2,0,0): 1/2 log(1/2) + 1/2 log(eps + (1/2)/eps) = 1/2 (log 1/2 + log 2^51) = 25 log 2
    p = np.array([[1.0, 0], [0, 0]])
    g = np.array([[1.0, 1], [0, 0]])
    assert M.kld(p, g) == pytest.approx(25 * math.log(2), rel=1e-12)
    x = np.random.default_rng(1).random((6, 7))
    assert M.kld(x, x) == pytest.approx(0.0, abs=1e-12)
    assert M.kld(3 * x, x) == pytest.approx(0.0, abs=1e-12)  # scale-invariant (sum-normalised)


def test_sim_hand_and_properties():
    # [[1,2],[3,4]] -> min-max (0,1/3,2/3,1) -> /2 -> (0,1/6,1/3,1/2)
    # [[0,0],[1,3]] -> min-max (0,0,1/3,1) -> /(4/3) -> (0,0,1/4,3/4); sum of minima 1/4 + 1/2 = 3/4
    assert M.sim(np.array([[1.0, 2], [3, 4]]), np.array([[0.0, 0], [1, 3]])) == pytest.approx(0.75, rel=1e-14)
    x = np.random.default_rng(2).random((5, 9))
    assert M.sim(x, x) == pytest.approx(1.0, abs=1e-12)
    assert 0.0 <= M.sim(np.random.default_rng(3).random((5, 9)), x) <= 1.0


def test_information_gain_hand():
    # prediction [[1,2],[3,4]] -> (0,1/6,1/3,1/2); baseline [[4,3],[2,1]] -> (1/2,1/3,1/6,0)
    # fixated at pixels 3 and 2: log2(eps+1/2) - log2(eps+0) = -1 + 52 = 51; log2(1/3) - log2(1/6) = 1; mean 26
    pred = np.array([[1.0, 2], [3, 4]])
    base = np.array([[4.0, 3], [2, 1]])
    assert M.information_gain(pred, fix_at(3, 2, shape=(2, 2)), base) == pytest.approx(26.0, rel=1e-12)
    assert M.information_gain(pred, fix_at(3, shape=(2, 2)), pred) == 0.0


# ----------------------------------------------------------------------------------------------------------------
# edge cases and errors
# ----------------------------------------------------------------------------------------------------------------
# ----------------------------------------------------------------------------------------------------------------
# published reference implementations
# ----------------------------------------------------------------------------------------------------------------
# Expected values computed (2026-12-01) with the reference code itself, not with tfsal:
#   pysaliency 0.2.22 (PyPI sdist, pysaliency/metrics.py and pysaliency/numba_utils.py, run as plain Python):
#     CC = metrics.CC(s, g); SIM = metrics.SIM(s - s.min(), g - g.min()); KLD = metrics.MIT_KLDiv(s, g)
#     ("same hyperparameters as in Tuebingen/MIT Saliency Benchmark"); AUC-Judd = numba_utils.general_roc_numba(
#     s[fixated], s[not fixated], judd=1)[0], the MIT benchmark's AUC_Judd.m negatives (non-fixated pixels).
#   NSS: the MIT benchmark's code_forMetrics/NSS.m (cvzoya/saliency), ``mean(((map - mean) / std(map(:)))(fix))``
#     where MATLAB's std divides by N - 1; pysaliency's metrics.NSS divides by N, so NSS.m = pysaliency's mean NSS
#     x sqrt((N - 1) / N) (both printed by the same script).
#   SIM: the benchmark's similarity.m min-max normalises each map before dividing by its sum, hence ``s - s.min()``.
# Case "ints" is hand-checkable: AUC-Judd = 17/18 (thresholds 8, 4, 3 → (fp, tp) = (0, 1/3), (1/9, 2/3), (1/9, 1))
# and SIM = 13/16.
def _reference_case(name):
    if name == "ints":
        s = np.array([[0, 1, 2, 3], [1, 2, 4, 6], [0, 0, 1, 8]], float)
        g = np.array([[0, 0, 1, 2], [0, 1, 3, 4], [0, 0, 2, 3]], float)
        fix = [(0, 3), (1, 2), (2, 3)]
    else:  # "random": default_rng(2018) (PCG64, the same stream on every NumPy)
        r = np.random.default_rng(2018)
        s, g = r.random((6, 8)), r.random((6, 8)) ** 2
        fix = [(0, 1), (2, 5), (3, 3), (5, 7), (4, 0)]
    f = np.zeros_like(s)
    for y, x in fix:
        f[y, x] = 1
    return s, g, f


REFERENCE_VALUES = {  # case: {metric: value from the reference code}
    "ints": {"CC": 0.8661855860486006, "SIM": 0.8124999999999999, "KLD": 0.16972049887045165,
             "NSS": 1.0521018196893828, "AUC-Judd": 0.9444444444444444},
    "random": {"CC": 0.19353426366811693, "SIM": 0.6196560384743701, "KLD": 0.5558062192215866,
               "NSS": 0.328763388631066, "AUC-Judd": 0.686046511627907},
}


@pytest.mark.parametrize("case", sorted(REFERENCE_VALUES))
def test_values_match_pysaliency_and_the_mit_benchmark_code(case):
    s, g, f = _reference_case(case)
    ref = REFERENCE_VALUES[case]
    got = {"CC": M.cc(s, g), "SIM": M.sim(s, g), "KLD": M.kld(s, g), "NSS": M.nss(s, f),
           "AUC-Judd": M.auc_judd(s, f, jitter=False)}
    for metric, value in ref.items():
        # KLD: the benchmark's eps is MATLAB's 2^-52, pysaliency writes 2.2204e-16 (a 1e-20 relative difference).
        assert float(got[metric]) == pytest.approx(value, rel=1e-12, abs=1e-14), (case, metric, got[metric], value)
    if case == "ints":
        assert ref["AUC-Judd"] == pytest.approx(17 / 18) and ref["SIM"] == pytest.approx(13 / 16)


def test_constant_prediction_gives_zero_not_nan():
    rng = np.random.default_rng(0)
    fix = rng.random((30, 40)) > 0.95
    gt = cv2.GaussianBlur(fix.astype(float), (0, 0), 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for value in (0.0, 0.3, 7.0):
            const = np.full((30, 40), value)
            assert M.nss(const, fix) == 0.0
            assert M.cc(const, gt) == 0.0
            assert M.auc_borji(const, fix) == 0.5
            assert M.auc_judd(const, fix, jitter=False) == 0.5
            scores = M.compute_all(const, fix, gt, other_map=fix, baseline_map=gt)
            assert all(np.isfinite(v) for v in scores.values())


@pytest.mark.parametrize("func", [M.auc_judd, M.auc_borji, M.nss])
def test_no_fixations_is_an_error(func):
    with pytest.raises(ValueError, match=r"fixation_map has no fixations \(all zeros\).*expected at least one"):
        func(np.ones((4, 4)), np.zeros((4, 4)))


def test_no_fixations_is_an_error_for_sauc_ig_and_batches():
    with pytest.raises(ValueError, match="no fixations"):
        M.shuffled_auc(np.ones((4, 4)), np.zeros((4, 4)), fix_at(1))
    with pytest.raises(ValueError, match="other_map has no fixations"):
        M.shuffled_auc(np.ones((4, 4)), fix_at(1), np.zeros((4, 4)))
    with pytest.raises(ValueError, match="no fixations"):
        M.information_gain(np.ones((4, 4)), np.zeros((4, 4)), np.ones((4, 4)))
    batch = np.stack([fix_at(1), np.zeros((4, 4))])
    with pytest.raises(ValueError, match=r"batch index 1"):
        M.nss(np.stack([ramp4(), ramp4()]), batch)


@pytest.mark.parametrize("func", [M.cc, M.kld, M.sim])
def test_all_zero_ground_truth_is_an_error(func):
    with pytest.raises(ValueError, match=r"saliency_map_gt is all zeros.*expected a ground-truth saliency map"):
        func(ramp4(), np.zeros((4, 4)))


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="contains NaN"):
        M.cc(np.full((4, 4), np.nan), ramp4())
    with pytest.raises(ValueError, match="batch size"):
        M.cc(np.ones((3, 4, 4)), np.ones((2, 4, 4)))
    with pytest.raises(ValueError, match="shape"):
        M.nss(np.ones((2, 4, 4, 3)), np.ones((2, 4, 4, 3)))


def test_inputs_are_not_modified():
    rng = np.random.default_rng(0)
    pred, gt = rng.random((10, 12)), rng.random((10, 12))
    fix = gt > 0.8
    p0, g0 = pred.copy(), gt.copy()
    M.compute_all(pred, fix, gt, other_map=fix, baseline_map=gt)
    M.auc_judd(pred, fix, jitter=False)
    assert np.array_equal(pred, p0) and np.array_equal(gt, g0)


# ----------------------------------------------------------------------------------------------------------------
# seeds, batches, resizing, channel axes
# ----------------------------------------------------------------------------------------------------------------
def test_seeds_make_random_metrics_reproducible():
    rng = np.random.default_rng(0)
    pred = np.round(rng.random((24, 32)), 1)  # many ties, so the AUC-Judd jitter matters
    fix = rng.random((24, 32)) > 0.9
    other = rng.random((24, 32)) > 0.5
    for func, args in [(M.auc_judd, ()), (M.auc_borji, ()), (M.shuffled_auc, (other,))]:
        a = func(pred, fix, *args, seed=7)
        assert a == func(pred, fix, *args, seed=7)
        assert a != func(pred, fix, *args, seed=8)
        gen_a = func(pred, fix, *args, seed=np.random.default_rng(9))
        assert gen_a == func(pred, fix, *args, seed=np.random.default_rng(9))


def _scene(n=3, h=24, w=32, seed=0):
    rng = np.random.default_rng(seed)
    fix = rng.random((n, h, w)) > 0.93
    gt = np.stack([cv2.GaussianBlur(f.astype(float), (0, 0), 2) for f in fix])
    pred = np.clip(gt + 0.05 * rng.random((n, h, w)), 0, None)
    other = rng.random((h, w)) > 0.8
    base = rng.random((h, w))
    return pred, fix, gt, other, base


def test_batch_equals_single():
    pred, fix, gt, other, base = _scene()
    batch = M.compute_all(pred, fix, gt, other_map=other, baseline_map=base)
    assert list(batch) == list(M.METRICS)
    for i in range(len(pred)):
        single = M.compute_all(pred[i], fix[i], gt[i], other_map=other, baseline_map=base)
        for name, value in single.items():
            assert isinstance(value, float)
            assert batch[name].shape == (len(pred),) and batch[name].dtype == np.float64
            assert batch[name][i] == pytest.approx(value, abs=1e-12), name


def test_trailing_channel_axis_is_squeezed():
    pred, fix, gt, other, base = _scene()
    a = M.compute_all(pred, fix, gt, other_map=other, baseline_map=base)
    b = M.compute_all(pred[..., None], fix[..., None], gt[..., None], other_map=other[..., None],
                      baseline_map=base[..., None])
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=0, atol=1e-12)
    assert isinstance(M.nss(pred[0][..., None], fix[0][..., None]), float)


def test_prediction_is_resized_to_ground_truth():
    pred, fix, gt, other, base = _scene(n=2, h=24, w=32)
    small = pred[:, ::2, ::2].copy()  # (2, 12, 16)
    resized = np.stack([cv2.resize(p, (32, 24), interpolation=cv2.INTER_LINEAR) for p in small])
    a = M.compute_all(small, fix, gt, other_map=other, baseline_map=base)
    b = M.compute_all(resized, fix, gt, other_map=other, baseline_map=base)
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=0, atol=1e-12, err_msg=name)


# ----------------------------------------------------------------------------------------------------------------
# ordering: ground truth > centre bias > uniform
# ----------------------------------------------------------------------------------------------------------------
def test_ordering_gt_beats_centre_bias_beats_uniform():
    h, w = 60, 80
    rng = np.random.default_rng(0)
    # fixations cluster off-centre (around row 21, column 50), still inside the bulk of a broad centre Gaussian
    pts = np.round(rng.normal([21, 50], [4, 5], size=(60, 2))).astype(int)
    fix = np.zeros((h, w))
    fix[np.clip(pts[:, 0], 0, h - 1), np.clip(pts[:, 1], 0, w - 1)] = 1
    gt = cv2.GaussianBlur(fix, (0, 0), 4)
    yy, xx = np.mgrid[0:h, 0:w]
    centre = np.exp(-0.5 * (((yy - (h - 1) / 2) / (h / 3)) ** 2 + ((xx - (w - 1) / 2) / (w / 3)) ** 2))
    uniform = uniform_map((h, w))
    # other images' fixations spread over the whole image, so sAUC ranks like AUC-Borji here
    other = rng.random((h, w)) > 0.9
    base = np.ones((h, w))  # IG over a uniform baseline
    scores = {name: M.compute_all(m, fix, gt, other_map=other, baseline_map=base)
              for name, m in [("gt", gt), ("centre", centre), ("uniform", uniform)]}
    for metric, info in M.METRICS.items():
        g, c, u = (scores[k][metric] for k in ("gt", "centre", "uniform"))
        if info.higher_is_better:
            assert g > c > u, (metric, g, c, u)
        else:
            assert g < c < u, (metric, g, c, u)


def test_metrics_table_and_compute_all_selection():
    assert list(M.METRICS) == ["AUC-Judd", "AUC-Borji", "sAUC", "NSS", "CC", "KLD", "SIM", "IG"]
    assert [n for n, i in M.METRICS.items() if not i.higher_is_better] == ["KLD"]
    pred, fix, gt, other, base = _scene(n=1)
    assert list(M.compute_all(pred[0], fix[0], None)) == ["AUC-Judd", "AUC-Borji", "NSS"]
    assert list(M.compute_all(pred[0], None, gt[0])) == ["CC", "KLD", "SIM"]
    assert list(M.compute_all(pred[0], fix[0], gt[0], metrics=["nss", "KLD", "auc_judd"])) == [
        "AUC-Judd", "NSS", "KLD"]
    with pytest.raises(ValueError, match="needs other_map"):
        M.compute_all(pred[0], fix[0], gt[0], metrics=["sAUC"])
    with pytest.raises(ValueError, match="unknown metric"):
        M.compute_all(pred[0], fix[0], gt[0], metrics=["EMD"])


def test_make_other_map_rescales_and_unions():
    a = np.zeros((2, 2))
    a[1, 1] = 1
    b = np.zeros((8, 8))
    b[0, 0] = 1
    out = M.make_other_map([a, b[..., None]], (4, 4))
    assert out.dtype == bool and out.shape == (4, 4)
    assert sorted(zip(*np.nonzero(out))) == [(0, 0), (3, 3)]


# ----------------------------------------------------------------------------------------------------------------
# baselines
# ----------------------------------------------------------------------------------------------------------------
def test_uniform_map():
    u = uniform_map((6, 8))
    assert u.shape == (6, 8) and u.sum() == pytest.approx(1.0, rel=1e-6) and np.ptp(u) == 0


def test_spectral_residual_finds_the_odd_patch():
    rng = np.random.default_rng(0)
    img = (rng.random((96, 128, 3)) * 40 + 100).astype(np.uint8)
    img[30:46, 90:106] = (255, 0, 0)
    sal = spectral_residual(img)
    assert sal.shape == (96, 128) and sal.dtype == np.float32
    assert sal.min() == 0.0 and sal.max() == 1.0
    assert sal[30:46, 90:106].mean() > 3 * sal.mean()
    assert spectral_residual(img, out_shape=(48, 64)).shape == (48, 64)
    assert not spectral_residual(np.zeros((20, 30, 3), np.uint8)).any()


# ----------------------------------------------------------------------------------------------------------------
# Keras versions
# ----------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def km():
    pytest.importorskip("keras")
    from tfsal.metrics import keras_metrics

    return keras_metrics


def test_tensor_versions_agree_with_numpy(km):
    from keras import ops

    rng = np.random.default_rng(0)
    b, h, w = 4, 12, 16
    pred = rng.random((b, h, w, 1)).astype("float32")
    pred[1] = 0.3  # constant prediction: NSS and CC must be 0
    gt = rng.random((b, h, w, 1)).astype("float32")
    fix = (rng.random((b, h, w, 1)) > 0.85).astype("float32")
    for tensor_fn, numpy_fn, target in [(km.tensor_nss, M.nss, fix), (km.tensor_cc, M.cc, gt),
                                        (km.tensor_kld, M.kld, gt), (km.tensor_sim, M.sim, gt)]:
        t = ops.convert_to_numpy(tensor_fn(pred, target))
        assert t.shape == (b,) and np.isfinite(t).all()
        np.testing.assert_allclose(t, numpy_fn(pred, target), rtol=1e-5, atol=1e-6)
    assert ops.convert_to_numpy(km.tensor_nss(pred, fix))[1] == 0.0
    assert ops.convert_to_numpy(km.tensor_cc(pred, gt))[1] == 0.0


def test_keras_metrics_in_compile_evaluate_agree_with_numpy(km):
    import keras
    from keras import ops

    rng = np.random.default_rng(1)
    h, w = 12, 16
    inp = keras.Input((h, w, 1))
    model = keras.Model(inp, keras.layers.Activation("sigmoid")(inp))
    model.compile(loss=lambda yt, yp: ops.mean(ops.square(yt[..., :1] - yp)),
                  metrics=[km.NSS(), km.CC(), km.KLD(), km.SIM()])
    x = rng.normal(size=(10, h, w, 1)).astype("float32")
    y_true = np.concatenate([rng.random((10, h, w, 1)), rng.random((10, h, w, 1)) > 0.9], -1).astype("float32")
    res = model.evaluate(x, y_true, batch_size=4, verbose=0, return_dict=True)  # batches of 4, 4, 2
    pred = 1.0 / (1.0 + np.exp(-x.astype(np.float64)))
    assert res["nss"] == pytest.approx(M.nss(pred, y_true[..., 1]).mean(), rel=1e-4, abs=1e-5)
    assert res["cc"] == pytest.approx(M.cc(pred, y_true[..., 0]).mean(), rel=1e-4, abs=1e-5)
    assert res["kld"] == pytest.approx(M.kld(pred, y_true[..., 0]).mean(), rel=1e-4, abs=1e-5)
    assert res["sim"] == pytest.approx(M.sim(pred, y_true[..., 0]).mean(), rel=1e-4, abs=1e-5)


def test_keras_nss_needs_fixation_channel(km):
    import keras

    inp = keras.Input((8, 8, 1))
    model = keras.Model(inp, keras.layers.Activation("sigmoid")(inp))
    model.compile(loss="mse", metrics=[km.NSS()])
    with pytest.raises(ValueError, match="NSS needs y_true of shape .*channel 1.*got y_true with 1 channel"):
        model.evaluate(np.zeros((2, 8, 8, 1)), np.zeros((2, 8, 8, 1)), verbose=0)


def test_keras_metric_config_state_and_invalid_images(km):
    import keras

    for cls in (km.NSS, km.CC, km.KLD, km.SIM):
        m = cls(name="my_metric")
        config = m.get_config()
        assert config["name"] == "my_metric"
        assert cls.from_config(config).name == "my_metric"
        restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(m))
        assert type(restored) is cls
    assert keras.saving.get_registered_name(km.NSS) == "tfsal>NSS"

    rng = np.random.default_rng(2)
    pred = rng.random((3, 8, 8, 1)).astype("float32")
    y_true = np.concatenate([rng.random((3, 8, 8, 1)), rng.random((3, 8, 8, 1)) > 0.8], -1).astype("float32")
    y_true[2] = 0.0  # no ground truth, no fixations: skipped, not an error inside the graph
    m = km.NSS()
    m.update_state(y_true, pred)
    assert float(m.result()) == pytest.approx(M.nss(pred[:2], y_true[:2, ..., 1]).mean(), rel=1e-5)
    m.reset_state()
    assert float(m.result()) == 0.0
    c = km.CC()
    c.update_state(y_true, pred)
    assert float(c.result()) == pytest.approx(M.cc(pred[:2], y_true[:2, ..., 0]).mean(), rel=1e-5)


def test_lazy_keras_names_exported():
    assert set(M.__all__) >= {"NSS", "CC", "KLD", "SIM", "tensor_nss", "compute_all", "METRICS"}


# ----------------------------------------------------------------------------------------------------------------
# one kernel each: the same constant-map rule, epsilon and metric names everywhere (tfsal.kernels)
# ----------------------------------------------------------------------------------------------------------------
def _every_cc(a, b):
    """CC of two (H, W) maps by every implementation in the package."""
    from tfsal import kernels, losses
    from tfsal.export import parity_check
    from tfsal.kernels import ops as kops
    from tfsal.metrics import keras_metrics as km
    from tfsal.quantize import _mean_cc

    class _Const:  # a "model" and a "runner" giving fixed maps, for the parity check
        def predict_on_batch(self, x):
            return np.repeat(a[None, ..., None], len(x), 0).astype("float32")

    four = (lambda m: m[None, ..., None].astype("float32"))
    return {
        "kernels.cc": kernels.cc(a, b),
        "kernels.ops.cc": float(kops.cc(four(a), four(b), axis=(1, 2, 3))[0]),
        "metrics.cc": M.cc(b, a) if b.any() else M.cc(a, b),  # (prediction, non-zero ground truth)
        "tensor_cc": float(km.tensor_cc(four(a), four(b))[0]),
        "losses.cc": float(losses.cc(four(b), four(a))[0]),
        "parity_check": parity_check(_Const(), lambda x: b[None].astype("float32"),
                                     np.zeros((1, 2, 2, 3), "float32"))["cc_mean"],
        "quantize._mean_cc": _mean_cc(a[None], b[None]),
    }


@pytest.mark.parametrize("case", ["one constant", "both constant, equal", "varying"])
def test_cc_constant_map_policy_is_the_same_everywhere(case):
    from tfsal.kernels import CONSTANT_MAP_POLICY

    rng = np.random.default_rng(3)
    varying = rng.random((6, 8))
    a, b = {"one constant": (np.full((6, 8), 0.3), varying),
            "both constant, equal": (np.full((6, 8), 0.5), np.full((6, 8), 0.5)),
            "varying": (varying, varying ** 2)}[case]
    values = _every_cc(a, b)
    expected = CONSTANT_MAP_POLICY["cc"] if case != "varying" else float(np.corrcoef(a.ravel(), b.ravel())[0, 1])
    assert values == pytest.approx({k: expected for k in values}, abs=1e-5), values


def test_minmax_constant_map_policy_is_the_same_everywhere():
    from tfsal import kernels
    from tfsal.kernels import CONSTANT_MAP_POLICY
    from tfsal.kernels import ops as kops
    from tfsal.metrics import keras_metrics as km
    from tfsal.viz import normalize_map

    const = np.full((4, 5), 7.0)
    zero = CONSTANT_MAP_POLICY["minmax"]
    assert np.all(kernels.minmax(const) == zero)
    assert np.all(np.asarray(kops.minmax(const[None], axis=(1, 2))) == zero)
    assert np.all(normalize_map(const) == zero)
    assert np.all(MN._normalise_values(const.ravel()[:3], 7.0, 7.0) == zero)
    # the density rule (similarity.m / InfoGain.m): a constant map is uniform, an all-zero map stays zero for SIM
    uniform = np.full(const.shape, 1 / const.size)
    for density in (kernels.minmax_density(const), MN._ig_density(const), MN._sim_density(const),
                    np.asarray(km._sim_normalise(const[None, ..., None].astype("float32")))[0, ..., 0]):
        np.testing.assert_allclose(density, uniform, rtol=1e-6)
    assert not MN._sim_density(np.zeros((3, 3))).any()
    assert not np.asarray(km._sim_normalise(np.zeros((1, 3, 3, 1), "float32"))).any()
    np.testing.assert_allclose(MN._ig_density(np.zeros((3, 3))), np.full((3, 3), 1 / 9))


def test_one_epsilon_and_one_metric_table():
    from tfsal import kernels, losses
    from tfsal.metrics import keras_metrics as km

    assert kernels.EPS == losses.EPS == M.MATLAB_EPS == km.EPS == EPS
    assert M.METRIC_NAMES == tuple(M.METRICS) and set(M.DEFAULT_METRICS) <= set(M.METRICS)
    assert set(M.DEFAULT_METRICS) == {"NSS", "CC", "KLD", "SIM", "AUC-Judd"}
    assert {name: cls.__name__ for name, cls in km.KERAS_CLASSES.items()} == dict(M.KERAS_METRICS)
    assert all(getattr(M, cls) is getattr(km, cls) for cls in M.KERAS_METRICS.values())


def test_caffe_preprocess_is_vgg_preprocess_caffe():
    from tfsal.models.modulated_resnet import CaffePreprocess
    from tfsal.models.vgg_encdec import VGGPreprocess

    x = np.random.default_rng(0).uniform(0, 255, (1, 2, 3, 3)).astype("float32")
    layer = CaffePreprocess()
    assert isinstance(layer, VGGPreprocess) and layer.mode == "caffe"
    np.testing.assert_array_equal(np.asarray(layer(x)), np.asarray(VGGPreprocess("caffe")(x)))
    assert CaffePreprocess.from_config(layer.get_config()).mode == "caffe"
    with pytest.raises(ValueError, match="mode must be 'caffe'"):
        CaffePreprocess(mode="hed")

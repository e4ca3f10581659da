"""CCC, PCC, ICC(3,1), MAE against hand-computed values (affective_processes.md section 5)."""

import numpy as np
import pytest

from hfvid.metrics.affect import (
    affect_metrics,
    concordance_correlation,
    icc_3_1,
    mean_absolute_error,
    pearson_correlation,
)

G = np.array([1.0, 2.0, 3.0, 4.0])


@pytest.mark.parametrize(
    "prediction, pcc, ccc, icc, mae",
    [
        (G + 1, 1.0, 0.7142857, 1.0, 1.0),
        (2 * G, 1.0, 0.4, 0.8, 2.5),
        (np.array([1.0, 3.0, 2.0, 4.0]), 0.8, 0.8, 0.8, 0.5),
        (np.array([0.0, 0.0, 0.0, 1.0]), 0.7745967, 0.1153846, 0.5217391, 2.25),
    ],
)
def test_spec_test_vectors(prediction, pcc, ccc, icc, mae):
    assert pearson_correlation(prediction, G) == pytest.approx(pcc, abs=1e-7)
    assert concordance_correlation(prediction, G) == pytest.approx(ccc, abs=1e-7)
    assert icc_3_1(prediction, G) == pytest.approx(icc, abs=1e-7)
    assert mean_absolute_error(prediction, G) == pytest.approx(mae)


def test_perfect_and_constant_predictions():
    assert concordance_correlation(G, G) == 1.0 and icc_3_1(G, G) == pytest.approx(1.0)
    assert concordance_correlation(np.full(4, 2.5), G) == 0.0  # no covariance -> CCC 0
    assert icc_3_1(np.full(4, 2.5), G) == pytest.approx(0.0)
    assert concordance_correlation(np.ones(3), np.ones(3)) == 1.0  # same constant: defined as 1
    assert np.isnan(pearson_correlation(np.ones(4), G))


def test_icc_textbook_example():
    """5 targets x 2 raters, worked by hand: grand mean 5.3, row means 5.5 3.5 6 4 7.5 -> SS_rows 20.6,
    BMS 5.15; column means 8 and 2.6 -> SS_cols 72.9; SS_total 96.1 -> SS_err 2.6, EMS 0.65;
    ICC(3,1) = (5.15 - 0.65) / (5.15 + 0.65) = 4.5 / 5.8."""
    p, g = np.array([9.0, 6, 8, 7, 10]), np.array([2.0, 1, 4, 1, 5])
    assert icc_3_1(p, g) == pytest.approx(4.5 / 5.8, abs=1e-12)


def test_icc_anova_equals_closed_form_and_offset_behaviour():
    rng = np.random.default_rng(0)
    g = rng.normal(size=200)
    p = 0.7 * g + rng.normal(scale=0.5, size=200)
    closed = 2 * np.mean((p - p.mean()) * (g - g.mean())) / (p.var() + g.var())
    assert icc_3_1(p, g) == pytest.approx(closed, abs=1e-10)
    assert icc_3_1(p + 3, g) == pytest.approx(icc_3_1(p, g), abs=1e-10)
    assert concordance_correlation(p + 3, g) < concordance_correlation(p, g)


def test_affect_metrics_masks_invalid_frames_and_averages():
    references = np.array([[1, 0], [2, 0], [3, np.nan], [4, 1]], dtype=float)
    predictions = np.array([[1, 0], [2, 0], [100, 7], [4, 1]], dtype=float)
    mask = np.array([True, True, False, True])
    result = affect_metrics(predictions, references, mask, names=["valence", "arousal"])
    assert result["ccc_valence"] == 1.0 and result["mae_valence"] == 0.0
    assert result["num_frames_valence"] == 3 and result["num_frames_arousal"] == 3
    assert result["ccc_mean"] == pytest.approx((result["ccc_valence"] + result["ccc_arousal"]) / 2)
    # an invalid frame is excluded, not counted as a zero
    zeros = affect_metrics(np.array([[1.0], [2.0], [0.0]]), np.array([[1.0], [2.0], [0.0]]), [True, True, False])
    assert zeros["num_frames_0"] == 2


def test_affect_metrics_bad_inputs():
    with pytest.raises(ValueError, match="no valid frame"):
        affect_metrics(np.zeros((2, 1)), np.full((2, 1), np.nan))
    with pytest.raises(ValueError, match="must both be"):
        affect_metrics(np.zeros((2, 2)), np.zeros((3, 2)))

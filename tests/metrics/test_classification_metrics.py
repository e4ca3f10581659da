"""Classification metrics against hand-computed values (top-k, H, the CoOp averaging rule)."""

import numpy as np
import pytest

from hfvid.metrics.classification import (
    accuracy,
    average_base_new,
    classification_metrics,
    harmonic_mean,
    top_k_accuracy,
)


def test_top_k_accuracy_by_hand():
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.4, 0.35, 0.25]])
    labels = np.array([1, 1, 0, 2])
    assert top_k_accuracy(scores, labels, 1) == 25.0  # only row 0
    assert top_k_accuracy(scores, labels, 2) == 50.0  # rows 0 and 1
    assert top_k_accuracy(scores, labels, 3) == 100.0
    assert top_k_accuracy(np.ones((2, 3)), np.array([0, 2]), 1) == 50.0  # ties go to the lower index
    assert accuracy([1, 2, 3], [1, 0, 3]) == pytest.approx(200 / 3)
    metrics = classification_metrics(np.eye(6)[[0, 1, 2]], np.array([0, 1, 5]))
    assert metrics["top1"] == pytest.approx(200 / 3) and metrics["top5"] == pytest.approx(200 / 3)


def test_harmonic_mean_matches_the_papers():
    assert round(harmonic_mean(80.47, 71.69), 2) == 75.83  # CoCoOp average
    assert round(harmonic_mean(69.34, 74.22), 2) == 71.70  # CLIP
    assert round(harmonic_mean(82.69, 63.22), 2) == 71.66  # CoOp
    assert harmonic_mean(0, 0) == 0.0
    average = average_base_new({"a": {"base": 90.0, "new": 50.0}, "b": {"base": 70.0, "new": 70.0}})
    assert average["base"] == 80.0 and average["new"] == 60.0
    assert average["harmonic_mean"] == pytest.approx(2 * 80 * 60 / 140)  # H of the means, not the mean of H


def test_bad_inputs():
    with pytest.raises(ValueError, match="k must be"):
        top_k_accuracy(np.eye(3), np.arange(3), 4)
    with pytest.raises(ValueError, match="labels"):
        top_k_accuracy(np.eye(3), np.array([0, 1, 3]))
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        top_k_accuracy(np.eye(3), np.arange(2))
    with pytest.raises(ValueError, match=">= 0"):
        harmonic_mean(-1, 3)

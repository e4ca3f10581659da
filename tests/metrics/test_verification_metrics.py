"""Face verification metrics: TAR@FAR, k-fold accuracy, IJB template pooling, against hand-computed values."""

import numpy as np
import pytest

from hfvid.metrics.verification import best_threshold_accuracy, pair_scores, tar_at_far, template_features, \
    verification_accuracy


def test_tar_at_far_perfect_and_hand_computed():
    labels = np.array([1] * 4 + [0] * 10, bool)
    separated = np.concatenate([np.linspace(0.8, 0.9, 4), np.linspace(-0.5, 0.5, 10)])
    assert tar_at_far(separated, labels, far=[0.1, 0.01])["tar@far=1e-01"] == 1.0
    scores = np.array([0.9, 0.7, 0.5, 0.3] + [0.8, 0.6] + [0.0] * 8)
    result = tar_at_far(scores, labels, far=[0.1, 0.2])
    assert result["tar@far=1e-01"] == 0.5  # threshold 0.6 lets 1 of 10 impostors (0.8) pass: 0.9, 0.7 accepted
    assert result["tar@far=2e-01"] == 1.0  # threshold 0.0 lets 0.8 and 0.6 pass: every genuine pair accepted
    assert result["resolution_limited"] is False
    assert tar_at_far(scores, labels, far=1e-4)["resolution_limited"] is True


def test_verification_accuracy_and_threshold():
    threshold, accuracy = best_threshold_accuracy([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])
    assert accuracy == 1.0 and 0.2 < threshold < 0.8
    rng = np.random.default_rng(0)
    labels = np.tile([True, False], 50)
    scores = np.where(labels, 0.6, 0.2) + rng.normal(0, 0.01, 100)
    assert verification_accuracy(scores, labels, num_folds=10)["accuracy"] == 1.0
    with pytest.raises(ValueError, match="num_folds"):
        verification_accuracy(scores, labels, num_folds=1)
    with pytest.raises(ValueError, match="genuine and impostor"):
        tar_at_far([0.1, 0.2], [1, 1])


def test_template_features_pool_media_first():
    features = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    ids, pooled = template_features(features, [7, 7, 7, 7], media_ids=[0, 0, 0, 1])
    expected = np.array([1.0, 1.0]) / np.sqrt(2)  # media means (1, 0) and (0, 1), not the 3:1 image mean
    assert ids.tolist() == [7] and np.allclose(pooled[0], expected)
    assert np.allclose(pair_scores([[1, 0]], [[1, 1]]), [1 / np.sqrt(2)])

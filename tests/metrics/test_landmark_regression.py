"""Forward / backward landmark regression (hfvid.metrics.landmark_regression), spec section 7 item 7."""

import numpy as np
import pytest

from hfvid.metrics.landmark_regression import (
    backward_error,
    cumulative_error_curve,
    fit_ridge,
    landmark_regression_nme,
    predict_ridge,
    soft_impute,
)


def shapes(count, points=5, seed=0):
    """Random object shapes: a template under random similarity transforms plus small noise, in pixels."""
    rng = np.random.default_rng(seed)
    template = rng.uniform(-30, 30, size=(points, 2))
    out = []
    for _ in range(count):
        angle, scale = rng.uniform(-0.5, 0.5), rng.uniform(0.8, 1.2)
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) * scale
        out.append(template @ rotation.T + rng.uniform(80, 120, size=2) + rng.normal(0, 0.5, size=(points, 2)))
    return np.array(out)


def test_ridge_matches_hand_computation():
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = 2 * x + 1
    state = fit_ridge(x, y, ridge_lambda=0.0, scale=1.0)
    assert predict_ridge(state, np.array([[10.0]]))[0, 0] == pytest.approx(21.0)
    # lambda * max(C): C = sum (x - 1.5)^2 = 5 -> slope = 2 * 5 / (5 + 0.5 * 5) = 4/3
    state = fit_ridge(x, y, ridge_lambda=0.5)
    assert state["weights"][0, 0] == pytest.approx(4 / 3)


def test_identity_and_affine_maps_give_zero_forward_error():
    y_train, y_test = shapes(200, seed=1), shapes(50, seed=2)
    options = dict(direction="forward", ridge_lambda=1e-6, normalizer="box")
    assert landmark_regression_nme(y_test, y_test, y_train, y_train, **options)["nme"] < 1e-1  # in percent: < 1e-3
    backward = landmark_regression_nme(y_test, y_test, y_train, y_train, "backward", 1e-6, "box")
    assert backward["nme"] < 1e-1
    affine = np.array([[0.8, -0.3], [0.2, 1.1]])
    x_train, x_test = (y @ affine.T + [5.0, -7.0] for y in (y_train, y_test))
    exact = landmark_regression_nme(x_test, y_test, x_train, y_train, "forward", 0.0, "box")["nme"]
    assert exact < 1e-6


def test_invariances_permutation_translation_and_random_inputs():
    y_train, y_test = shapes(300, seed=3), shapes(60, seed=4)
    rng = np.random.default_rng(0)
    x_train = y_train[:, [2, 0, 4]] + rng.normal(0, 2, size=(300, 3, 2))
    x_test = y_test[:, [2, 0, 4]] + rng.normal(0, 2, size=(60, 3, 2))
    base = landmark_regression_nme(x_test, y_test, x_train, y_train, normalizer="box")["nme"]
    perm = [1, 2, 0]
    permuted = landmark_regression_nme(x_test[:, perm], y_test, x_train[:, perm], y_train, normalizer="box")["nme"]
    assert abs(permuted - base) < 1e-4  # percent, i.e. < 1e-6 as a fraction
    moved = landmark_regression_nme(x_test + 40, y_test, x_train + 40, y_train, normalizer="box")["nme"]
    assert abs(moved - base) < 1e-4
    noise = rng.uniform(0, 200, size=(360, 3, 2))
    random = landmark_regression_nme(noise[300:], y_test, noise[:300], y_train, normalizer="box")["nme"]
    mean_shape = landmark_regression_nme(np.zeros((60, 1, 2)), y_test, np.zeros((300, 1, 2)), y_train,
                                         normalizer="box")["nme"]
    assert base < 0.5 * mean_shape and abs(random - mean_shape) < 0.1 * mean_shape


def test_backward_uses_only_images_where_each_landmark_was_found():
    y_train, y_test = shapes(100, seed=5), shapes(20, seed=6)
    x_train, x_test = y_train[:, :3].copy(), y_test[:, :3].copy()
    x_train[:, 2] = np.random.default_rng(0).uniform(0, 200, size=(100, 2))  # an unstable "landmark"
    x_train[:10, 1] = np.nan
    x_test[:5, 1] = np.nan
    per_landmark = backward_error(x_test, y_test, x_train, y_train, ridge_lambda=1e-6, normalizer="box")
    assert per_landmark[0] < 1e-3 and per_landmark[1] < 1e-3 and per_landmark[2] > 0.1
    curve = cumulative_error_curve(per_landmark)
    assert len(curve) == 3 and np.all(np.diff(curve) >= 0)


def test_forward_with_missing_detections_is_imputed():
    y_train, y_test = shapes(200, seed=7), shapes(40, seed=8)
    x_train, x_test = y_train.copy(), y_test.copy()
    rng = np.random.default_rng(1)
    x_train[rng.random((200, 5)) < 0.1] = np.nan  # training gaps: soft-impute
    options = dict(ridge_lambda=1e-6, normalizer="box")
    nme = landmark_regression_nme(x_test, y_test, x_train, y_train, **options)["nme"]
    column_means = np.where(np.isfinite(x_train), x_train, np.nanmean(x_train, axis=0))
    naive = landmark_regression_nme(x_test, y_test, column_means, y_train, **options)["nme"]
    mean_shape = landmark_regression_nme(np.zeros((40, 1, 2)), y_test, np.zeros((200, 1, 2)), y_train,
                                         normalizer="box")["nme"]
    assert nme < 0.5 * naive and nme < 0.2 * mean_shape
    x_test[rng.random((40, 5)) < 0.1] = np.nan  # test gaps: training column means (coarse, as the official code)
    gappy = landmark_regression_nme(x_test, y_test, x_train, y_train, **options)["nme"]
    assert np.isfinite(gappy) and nme < gappy


def test_soft_impute_recovers_a_low_rank_matrix():
    rng = np.random.default_rng(0)
    full = rng.normal(size=(200, 3)) @ rng.normal(size=(3, 20))
    missing = rng.random(full.shape) < 0.3
    observed = np.where(missing, np.nan, full)
    filled = soft_impute(observed, threshold=0.01, max_iter=500)
    error = np.linalg.norm(filled[missing] - full[missing]) / np.linalg.norm(full[missing])
    assert error < 0.1
    np.testing.assert_array_equal(filled[~missing], full[~missing])


def test_subsets_repeats_and_bad_inputs():
    y_train, y_test = shapes(50, seed=9), shapes(10, seed=10)
    out = landmark_regression_nme(y_test, y_test, y_train, y_train, normalizer="box", n_train=20, n_repeats=3)
    assert out["n_train"] == 20 and out["direction"] == "forward" and out["ridge_lambda"] == 1e-3
    with pytest.raises(ValueError, match="direction"):
        landmark_regression_nme(y_test, y_test, y_train, y_train, direction="sideways", normalizer="box")
    with pytest.raises(ValueError, match="n_train"):
        landmark_regression_nme(y_test, y_test, y_train, y_train, normalizer="box", n_train=500)
    broken = y_train.copy()
    broken[3, 1] = np.nan
    with pytest.raises(ValueError, match="missing"):
        landmark_regression_nme(y_test, y_test, y_train, broken, normalizer="box")
    with pytest.raises(ValueError, match="shape"):
        landmark_regression_nme(y_test[0], y_test, y_train, y_train, normalizer="box")

"""Hand-computed checks for hfvid.metrics.landmarks (NME, FR, CED, AUC, normalisers)."""

import numpy as np
import pytest
import torch

from hfvid.metrics import (
    auc,
    ced,
    failure_rate,
    landmark_metrics,
    normalization_distances,
    per_image_nme,
)


def _faces(m=5, n=68, seed=0):
    return np.random.default_rng(seed).uniform(10, 200, size=(m, n, 2))


def _shift(refs, errors, normalization="inter_ocular"):
    """Move every point of image i by errors[i] * d_i in a random direction per image."""
    d = normalization_distances(refs, normalization)
    angle = np.random.default_rng(1).uniform(0, 2 * np.pi, len(refs))
    step = np.stack([np.cos(angle), np.sin(angle)], 1) * (np.asarray(errors) * d)[:, None]
    return refs + step[:, None, :]


def test_gt_vs_gt_is_zero():
    refs = _faces()
    out = landmark_metrics(refs, refs)
    assert out["nme"] == 0.0
    assert out["fr@0.1"] == 0.0
    assert out["auc@0.1"] == pytest.approx(1.0)
    assert out["per_image_nme"] == [0.0] * 5
    assert out["normalization"] == "inter_ocular"


@pytest.mark.parametrize("n,corners", [(68, (36, 45)), (98, (60, 72)), (29, (8, 9))])
def test_shift_by_tenth_of_inter_ocular_gives_ten_percent(n, corners):
    refs = _faces(n=n)
    d = np.linalg.norm(refs[:, corners[0]] - refs[:, corners[1]], axis=-1)
    np.testing.assert_allclose(normalization_distances(refs), d)
    preds = refs + np.array([0.6, 0.8]) * (0.1 * d)[:, None, None]
    assert landmark_metrics(preds, refs)["nme"] == pytest.approx(10.0, abs=1e-9)


def test_failure_rate_ced_auc_hand_computed():
    per_image = [0.02, 0.04, 0.06, 0.08, 0.12]
    assert failure_rate(per_image, 0.10) == pytest.approx(20.0)
    assert failure_rate(per_image, 0.05) == pytest.approx(60.0)
    np.testing.assert_allclose(ced(per_image, [0.0, 0.05, 0.1, 0.2]), [0.0, 0.4, 0.8, 1.0])
    # integral_0^0.1 CED = sum_i (0.1 - e_i)/5 over e_i < 0.1 = (0.08+0.06+0.04+0.02)/5 = 0.04
    assert auc(per_image, 0.10) == pytest.approx(0.04 / 0.10, abs=1e-3)
    # up to 0.07: (0.05+0.03+0.01)/5 = 0.018
    assert auc(per_image, 0.07) == pytest.approx(0.018 / 0.07, abs=1e-3)


def test_landmark_metrics_keys_and_values():
    errors = [0.02, 0.04, 0.06, 0.08, 0.12]
    refs = _faces()
    preds = _shift(refs, errors)
    out = landmark_metrics(preds, refs, auc_threshold=0.07)
    np.testing.assert_allclose(out["per_image_nme"], errors, atol=1e-12)
    assert out["nme"] == pytest.approx(100 * np.mean(errors))
    assert out["fr@0.1"] == pytest.approx(20.0)
    assert out["auc@0.07"] == pytest.approx(0.018 / 0.07, abs=1e-3)
    out = landmark_metrics(preds, refs, failure_threshold=0.07)
    assert set(out) == {"nme", "fr@0.07", "auc@0.07", "normalization", "per_image_nme"}
    assert out["fr@0.07"] == pytest.approx(40.0)
    assert failure_rate([0.02, 0.08, 0.12], 0.08) == pytest.approx(100 / 3)  # NME_i == a is not a failure


def test_torch_and_list_inputs():
    refs = _faces(m=2)
    preds = refs + 1.0
    expected = per_image_nme(preds, refs)
    np.testing.assert_allclose(per_image_nme(torch.tensor(preds), torch.tensor(refs)), expected)
    np.testing.assert_allclose(per_image_nme(preds.tolist(), refs.tolist()), expected)


def test_inter_pupil_68_and_98():
    refs = np.zeros((1, 68, 2))
    refs[0, 36:42] = [[8, 20], [9, 19], [11, 19], [12, 20], [11, 21], [9, 21]]  # centre (10, 20)
    refs[0, 42:48] = refs[0, 36:42] + [30, 0]  # centre (40, 20)
    np.testing.assert_allclose(normalization_distances(refs, "inter_pupil"), [30.0])
    refs98 = np.zeros((1, 98, 2))
    refs98[0, 96], refs98[0, 97] = [0, 0], [3, 4]
    np.testing.assert_allclose(normalization_distances(refs98, "inter_pupil"), [5.0])


def test_box_and_diag_normalisers():
    refs = np.array([[[1.0, 1.0], [5.0, 10.0], [3.0, 4.0]]])  # tight box w=4, h=9
    np.testing.assert_allclose(normalization_distances(refs, "box"), [6.0])
    np.testing.assert_allclose(normalization_distances(refs, "diag"), [np.sqrt(97.0)])
    boxes = [[0.0, 0.0, 8.0, 2.0]]
    np.testing.assert_allclose(normalization_distances(refs, "box", boxes=boxes), [4.0])
    np.testing.assert_allclose(normalization_distances(refs, "diag", boxes=boxes), [np.sqrt(68.0)])
    preds = refs + [0.0, 0.6]
    assert landmark_metrics(preds, refs, normalization="box")["nme"] == pytest.approx(10.0)


def test_visible_masking():
    refs = np.array([[[0.0, 0.0], [10.0, 0.0], [5.0, 5.0]]])  # d = 10 with eye_indices (0, 1)
    preds = refs + np.array([[[1.0, 0.0], [0.0, 0.0], [0.0, 4.0]]])  # errors 1, 0, 4
    visible = [[True, True, False]]
    kw = dict(eye_indices=(0, 1), visible=visible)
    np.testing.assert_allclose(per_image_nme(preds, refs, **kw), [0.05])
    np.testing.assert_allclose(per_image_nme(preds, refs, ignore_invisible=False, **kw), [1 / 30])
    np.testing.assert_allclose(per_image_nme(preds, refs, eye_indices=(0, 1)), [5 / 30])


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda r: per_image_nme(r[:, :, :1], r[:, :, :1]), r"\(M, N, 2\)"),
        (lambda r: per_image_nme(r[:, :10], r), "same shape"),
        (lambda r: per_image_nme(r[:, :5], r[:, :5]), "eye_indices"),
        (lambda r: normalization_distances(r[:, :5], "inter_pupil"), "68 or 98"),
        (lambda r: normalization_distances(r, "bogus"), "unknown normalization"),
        (lambda r: normalization_distances(r, "box", boxes=[[0, 0, 1, 1]]), r"shape \(2, 4\)"),
        (lambda r: normalization_distances(r, "box", boxes=[[0, 0, 1, 1], [5, 0, 1, 1]]), "x2 > x1"),
        (lambda r: normalization_distances(np.zeros_like(r)), "zero"),
        (lambda r: per_image_nme(r, r, visible=np.zeros((2, 68), bool)), "no visible"),
        (lambda r: per_image_nme(r, r, visible=np.ones((2, 5), bool)), "visible must have shape"),
    ],
)
def test_value_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call(_faces(m=2))


def test_module_import_stays_light():
    """No module-level import of evaluate/datasets (they cost seconds); the wrapper loads lazily."""
    import ast

    import hfvid.metrics.landmarks as module

    tree = ast.parse(open(module.__file__).read())
    names = {alias.name.split(".")[0] for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
             for alias in node.names} | {node.module.split(".")[0] for node in tree.body
                                         if isinstance(node, ast.ImportFrom) and node.module}
    assert not names & {"evaluate", "datasets", "torch"}


@pytest.mark.slow  # importing `evaluate` takes several seconds
def test_evaluate_wrapper_matches_function():
    pytest.importorskip("evaluate")
    from hfvid.metrics import FacialLandmarkNME

    refs = _faces(m=3)
    preds = refs + 1.5
    out = FacialLandmarkNME().compute(predictions=list(preds), references=list(refs), failure_threshold=0.05)
    expected = landmark_metrics(preds, refs, failure_threshold=0.05)
    assert out["nme"] == pytest.approx(expected["nme"], rel=1e-5)
    assert out["fr@0.05"] == expected["fr@0.05"]

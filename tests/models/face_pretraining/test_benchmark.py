"""The few-shot benchmark: split builder, regression metrics, harness errors and an end-to-end synthetic run."""

import json

import numpy as np
import pytest
import torch

from hfvid import FaceRepresentationConfig, FaceRepresentationModel
from hfvid.models.face_pretraining.benchmark import load_backbone, run_benchmark
from hfvid.models.face_pretraining.metrics import ccc, icc_3_1, regression_metrics
from hfvid.models.face_pretraining.splits import few_shot_indices, subject_disjoint_split


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_backbone():
    torch.manual_seed(0)
    return FaceRepresentationModel(FaceRepresentationConfig(
        embedding_size=4, hidden_sizes=[4, 8, 8, 16], depths=[1, 1, 1, 1], layer_type="basic", image_size=32))


def test_splits_are_seeded_nested_and_stratified():
    assert few_shot_indices(200, 0.1, seed=3) == few_shot_indices(200, 0.1, seed=3)
    assert few_shot_indices(200, 0.1, seed=3) != few_shot_indices(200, 0.1, seed=4)
    small, large = set(few_shot_indices(200, 0.01, 0)), set(few_shot_indices(200, 0.05, 0))
    assert len(small) == 2 and len(large) == 10 and small <= large
    labels = [0] * 95 + [1] * 3 + [2] * 2
    chosen = few_shot_indices(100, 0.02, 0, stratify=labels)
    assert {labels[i] for i in chosen} == {0, 1, 2}  # every class, at least one each
    assert set(few_shot_indices(100, 0.02, 0, stratify=labels)) <= set(few_shot_indices(100, 0.5, 0, stratify=labels))
    videos, frames = ["a"] * 10 + ["b"] * 10, list(range(10)) * 2
    assert few_shot_indices(20, 0.2, 0, mode="stride", videos=videos, frames=frames) == [0, 5, 10, 15]
    for bad in (0, 1.5, -0.1):
        with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\]"):
            few_shot_indices(10, bad, 0)


def test_subject_disjoint_split():
    subjects = np.repeat(np.arange(6), 5)
    train, test = subject_disjoint_split(subjects, 1 / 3, seed=0)
    assert set(subjects[train]).isdisjoint(subjects[test]) and len(set(subjects[test])) == 2
    assert (train, test) == subject_disjoint_split(subjects, 1 / 3, seed=0)


def numpy_icc_3_1(x, y):
    data = np.stack([x, y], 1)
    n, k = data.shape
    grand = data.mean()
    ms_r = k * ((data.mean(1) - grand) ** 2).sum() / (n - 1)
    ss_e = ((data - data.mean(1, keepdims=True) - data.mean(0, keepdims=True) + grand) ** 2).sum()
    ms_e = ss_e / ((n - 1) * (k - 1))
    return (ms_r - ms_e) / (ms_r + (k - 1) * ms_e)


def test_icc_and_ccc():
    rng = np.random.default_rng(0)
    y = rng.uniform(0, 5, 50)
    assert icc_3_1(y, y)[0] == pytest.approx(1.0) and icc_3_1(y + 0.7, y)[0] == pytest.approx(1.0)
    assert ccc(y + 0.7, y)[0] < 1.0
    noisy = y + rng.normal(0, 1, 50)
    assert icc_3_1(noisy, y)[0] == pytest.approx(numpy_icc_3_1(noisy, y), abs=1e-8)
    expected_ccc = 2 * np.cov(noisy, y, bias=True)[0, 1] / (noisy.var() + y.var() + (noisy.mean() - y.mean()) ** 2)
    assert ccc(noisy, y)[0] == pytest.approx(expected_ccc, abs=1e-8)
    metrics = regression_metrics(np.stack([y, y], 1), np.stack([y, y + 1], 1), names=["a", "b"])
    assert metrics["mae_a"] == 0 and metrics["mae_b"] == pytest.approx(1.0)


def test_harness_bad_inputs():
    backbone = tiny_backbone()
    with pytest.raises(ValueError, match="known tasks: landmarks, alignment_3d"):
        run_benchmark(backbone, ["faces"], output_dir="unused")
    with pytest.raises(ValueError, match="fraction"):
        run_benchmark(backbone, ["expression"], fractions=[0.0], output_dir="unused")

    class NoPooling(torch.nn.Module):
        config = None

        def forward(self, pixel_values):
            return {"last_hidden_state": pixel_values}

    with pytest.raises(ValueError, match="no pooled output"):
        load_backbone(NoPooling(), image_size=32)


def test_benchmark_end_to_end_writes_runs_and_table(tmp_path):
    result = run_benchmark(tiny_backbone(), ["expression", "au_intensity"], fractions=[1.0, 0.5], seeds=[0, 1],
                           protocol="linear", output_dir=tmp_path, steps=5, train_size=16, test_size=16)
    assert len(result["runs"]) == 8
    run = json.loads((tmp_path / "runs" / "expression_f0.5_s1.json").read_text())
    assert run["num_train"] == 8 and {"accuracy", "ccc_valence"} <= run["metrics"].keys()
    split = json.loads((tmp_path / "splits" / "au_intensity_f1_s0.json").read_text())
    assert split["task"] == "au_intensity" and len(split["indices"]) == run["num_train"] * 2
    table = (tmp_path / "results.md").read_text()
    assert "| expression | linear | 0.5 | 8 | 2 | accuracy ↑ |" in table and "icc ↑" in table

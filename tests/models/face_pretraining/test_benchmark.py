"""The few-shot benchmark: split builder, regression metrics, harness errors and an end-to-end synthetic run."""

import json

import numpy as np
import pytest
import torch

from hfvid import FaceRepresentationConfig, FaceRepresentationModel
from hfvid.metrics.affect import concordance_correlation as ccc
from hfvid.metrics.affect import icc_3_1
from hfvid.models.face_pretraining.benchmark import load_backbone, regression_metrics, run_benchmark
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
    assert icc_3_1(y, y) == pytest.approx(1.0) and icc_3_1(y + 0.7, y) == pytest.approx(1.0)
    assert ccc(y + 0.7, y) < 1.0
    noisy = y + rng.normal(0, 1, 50)
    assert icc_3_1(noisy, y) == pytest.approx(numpy_icc_3_1(noisy, y), abs=1e-8)
    expected_ccc = 2 * np.cov(noisy, y, bias=True)[0, 1] / (noisy.var() + y.var() + (noisy.mean() - y.mean()) ** 2)
    assert ccc(noisy, y) == pytest.approx(expected_ccc, abs=1e-8)
    metrics = regression_metrics(np.stack([y, y], 1), np.stack([y, y + 1], 1), names=["a", "b"])
    assert metrics["mae_a"] == 0 and metrics["mae_b"] == pytest.approx(1.0) and metrics["mae"] == pytest.approx(0.5)
    assert metrics["icc_b"] == pytest.approx(1.0) and metrics["ccc_b"] < 1.0 and "num_frames_a" not in metrics


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


def _write_real_datasets(root):
    """Tiny COFW (landmarks), AffectNet (expression) and LFW + identity folders (recognition) in their formats."""
    from PIL import Image

    from hfvid.data.formats.affectnet import write_affectnet_csv
    from hfvid.data.formats.cofw import write_cofw_mat
    from hfvid.data.formats.lfw import write_lfw_pairs
    from hfvid.data.synthetic_face_tasks import synthetic_expression_faces, synthetic_identity_faces

    rng = np.random.default_rng(0)
    cofw = [{"image": rng.integers(0, 255, (36, 36, 3), dtype=np.uint8), "landmarks": rng.uniform(6, 30, (29, 2)),
             "box": [4, 4, 32, 32]} for _ in range(6)]
    (root / "cofw").mkdir()
    write_cofw_mat(root / "cofw" / "COFW_train_color.mat", cofw[:4], "train")
    write_cofw_mat(root / "cofw" / "COFW_test_color.mat", cofw[4:], "test")

    (root / "affectnet" / "1").mkdir(parents=True)
    faces = synthetic_expression_faces(12, 32, seed=3)
    for i, face in enumerate(faces):
        Image.fromarray(face["image"]).save(root / "affectnet" / "1" / f"{i}.png")
    rows = [{"relative_path": f"1/{i}.png", "box": face["box"].tolist(), "label": face["label"],
             "valence": float(face["valence_arousal"][0]), "arousal": float(face["valence_arousal"][1])}
            for i, face in enumerate(faces)]
    write_affectnet_csv(root / "affectnet" / "training.csv", rows[:8])
    write_affectnet_csv(root / "affectnet" / "validation.csv", rows[8:])

    people = synthetic_identity_faces(4, 3, 32, seed=4)
    for r in people:
        folder = root / "lfw_set" / ("train" if r["identity"] < 2 else "lfw") / f"P{r['identity']}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(r["image"]).save(folder / f"P{r['identity']}_{len(list(folder.iterdir())) + 1:04d}.jpg")
    write_lfw_pairs(root / "lfw_set" / "pairs.txt", [("P2", 1, "P2", 2), ("P2", 1, "P3", 1), ("P3", 1, "P3", 3),
                                                     ("P3", 2, "P2", 3)], folds=2)


def test_benchmark_on_real_formats(tmp_path):
    """`--dataset_format` / `--data_dir` per task: COFW NME (29 points), AffectNet accuracy, LFW pair accuracy."""
    _write_real_datasets(tmp_path)
    formats = {"landmarks": "cofw", "expression": "affectnet", "recognition": "lfw"}
    dirs = {"landmarks": tmp_path / "cofw", "expression": tmp_path / "affectnet", "recognition": tmp_path / "lfw_set"}
    result = run_benchmark(tiny_backbone(), list(formats), fractions=[1.0], seeds=[0], protocol="linear",
                           output_dir=tmp_path / "out", dataset_format=formats, data_dir=dirs, steps=2)
    runs = {run["task"]: run for run in result["runs"]}
    assert runs["landmarks"]["dataset"] == "cofw" and runs["landmarks"]["num_test"] == 2
    assert np.isfinite(runs["landmarks"]["metrics"]["nme"])
    assert runs["expression"]["num_train"] == 8 and 0 <= runs["expression"]["metrics"]["accuracy"] <= 100
    assert runs["recognition"]["num_test"] == 6 and "accuracy" in runs["recognition"]["metrics"]


def test_dataset_format_errors(tmp_path):
    from hfvid.models.face_pretraining.benchmark import resolve_sources
    from hfvid.quickstart import load_training_script

    with pytest.raises(ValueError, match="unknown dataset format 'coco' for task landmarks; known formats: "
                                         "synthetic, 300w, wflw, cofw"):
        resolve_sources(["landmarks"], {"landmarks": "coco"}, {"landmarks": tmp_path})
    with pytest.raises(ValueError, match="needs a data_dir"):
        resolve_sources(["expression"], "affectnet", None)
    with pytest.raises(ValueError, match="known tasks"):
        resolve_sources(["expression"], {"faces": "affectnet"}, None)
    assert resolve_sources(["landmarks", "expression"], {"expression": "affectnet"}, {"expression": tmp_path}) == {
        "landmarks": ("synthetic", None), "expression": ("affectnet", tmp_path)}
    bench = load_training_script("face_benchmark")
    args = bench.parse_args(["--backbone", "x", "--tasks", "landmarks,expression", "--output_dir", str(tmp_path),
                             "--dataset_format", "expression=affectnet", "--data_dir", f"expression={tmp_path}"])
    assert args.dataset_format == {"expression": "affectnet"} and args.data_dir == {"expression": str(tmp_path)}
    with pytest.raises(ValueError, match="--data_dir: expected TASK=VALUE"):
        bench.parse_args(["--backbone", "x", "--output_dir", str(tmp_path), "--data_dir", "expression=,x"])
    with pytest.raises(ValueError, match="data_dir .* is not a folder"):
        run_benchmark(tiny_backbone(), ["expression"], output_dir=tmp_path, dataset_format="affectnet",
                      data_dir=tmp_path / "missing")


def test_benchmark_on_aflw2000_disfa_and_ijb_formats(tmp_path):
    """The other readers wired into the harness: AFLW2000-3D .mat (3D NME by yaw), DISFA labels + frames (ICC,
    fold-1 subjects held out), IJB-B templates (TAR@FAR)."""
    from PIL import Image

    from hfvid.data.formats.aflw2000 import write_aflw2000_mat
    from hfvid.data.formats.disfa import write_disfa_subject

    rng = np.random.default_rng(0)

    def image(path, size=32):
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(path)

    for split, count in (("train", 3), ("test", 2)):
        for i in range(count):
            points = np.concatenate([rng.uniform(4, 28, (68, 2)), rng.normal(0, 3, (68, 1))], 1)
            image(tmp_path / "aflw" / split / f"image{i:05d}.jpg")
            write_aflw2000_mat(tmp_path / "aflw" / split / f"image{i:05d}.mat", points, [0, 0.3 * i, 0, 0, 0, 0, 1])
    for subject in ("SN001", "SN003"):  # SN001 is in DISFA fold 1 (test), SN003 is not
        write_disfa_subject(tmp_path / "disfa" / "ActionUnit_Labels", subject, rng.integers(0, 6, (3, 12)))
        for frame in range(3):
            image(tmp_path / "disfa" / "frames" / subject / f"{frame:05d}.jpg")
    meta = tmp_path / "ijb" / "meta"
    meta.mkdir(parents=True)
    (meta / "ijbb_face_tid_mid.txt").write_text("".join(f"{i}.jpg {10 + i // 2} {100 + i}\n" for i in range(6)))
    (meta / "ijbb_template_pair_label.txt").write_text("10 11 0\n10 10 1\n11 12 0\n12 12 1\n")
    for i in range(6):
        image(tmp_path / "ijb" / "loose_crop" / f"{i}.jpg")
    for person in ("a", "b"):
        for i in range(2):
            image(tmp_path / "ijb" / "train" / person / f"{i}.jpg")

    formats = {"alignment_3d": "aflw2000", "au_intensity": "disfa", "recognition": "ijbb"}
    dirs = {"alignment_3d": tmp_path / "aflw", "au_intensity": tmp_path / "disfa", "recognition": tmp_path / "ijb"}
    result = run_benchmark(tiny_backbone(), list(formats), fractions=[1.0], seeds=[0], protocol="linear",
                           output_dir=tmp_path / "out", dataset_format=formats, data_dir=dirs, steps=2)
    runs = {run["task"]: run for run in result["runs"]}
    assert runs["alignment_3d"]["num_test"] == 2 and "nme_yaw_0_30" in runs["alignment_3d"]["metrics"]
    assert runs["au_intensity"]["num_train"] == 3 and runs["au_intensity"]["num_test"] == 3
    assert "icc_AU01" in runs["au_intensity"]["metrics"]
    assert {"tar@far=1e-04", "accuracy"} <= runs["recognition"]["metrics"].keys()

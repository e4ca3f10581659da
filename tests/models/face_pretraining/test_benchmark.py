"""The few-shot benchmark: split builder, regression metrics, harness errors and an end-to-end synthetic run."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hfvid import FaceRepresentationConfig, FaceRepresentationModel
from hfvid.metrics.affect import concordance_correlation as ccc
from hfvid.metrics.affect import icc_3_1
from hfvid.models.face_pretraining.benchmark import regression_metrics, run_benchmark
from hfvid.models.face_pretraining.head_training import HeadTrainingConfig, load_backbone
from hfvid.data.fraction_splits import few_shot_indices, subject_disjoint_split


pytestmark = pytest.mark.usefixtures("one_thread")


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
                           protocol="linear", output_dir=tmp_path, training=HeadTrainingConfig(max_steps=5),
                           train_size=16, test_size=16)
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
                           output_dir=tmp_path / "out", dataset_format=formats, data_dir=dirs,
                           training=HeadTrainingConfig(max_steps=2))
    runs = {run["task"]: run for run in result["runs"]}
    assert runs["landmarks"]["dataset"] == "cofw" and runs["landmarks"]["num_test"] == 2
    assert np.isfinite(runs["landmarks"]["metrics"]["nme"])
    assert runs["expression"]["num_train"] == 8 and 0 <= runs["expression"]["metrics"]["accuracy"] <= 100
    assert runs["recognition"]["num_test"] == 6 and "accuracy" in runs["recognition"]["metrics"]


def test_dataset_format_errors(tmp_path):
    from hfvid.data.face_benchmark import resolve_sources
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
    """The other readers wired into the harness: AFLW2000-3D .mat (3D NME by yaw), DISFA labels + frames (ICC, each
    of the 3 subject-independent folds held out in turn, frame files numbered from 1), IJB-B templates (TAR@FAR)."""
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
    for subject in ("SN001", "SN013", "SN003"):  # one subject of each DISFA fold
        write_disfa_subject(tmp_path / "disfa" / "ActionUnit_Labels", subject, rng.integers(0, 6, (3, 12)))
        for frame in range(3):
            image(tmp_path / "disfa" / "frames" / subject / f"{frame + 1:05d}.jpg")  # ffmpeg numbering
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
                           output_dir=tmp_path / "out", dataset_format=formats, data_dir=dirs,
                           training=HeadTrainingConfig(max_steps=2))
    runs = {run["task"]: run for run in result["runs"]}
    assert runs["alignment_3d"]["num_test"] == 2 and "nme_yaw_0_30" in runs["alignment_3d"]["metrics"]
    au_runs = [run for run in result["runs"] if run["task"] == "au_intensity"]
    assert [run["fold"] for run in au_runs] == [0, 1, 2] and all(r["num_train"] == 6 and r["num_test"] == 3
                                                              for r in au_runs)
    assert au_runs[1]["split_protocol"] == "DISFA 3-fold, test fold 1" and "icc_AU01" in au_runs[0]["metrics"]
    assert (tmp_path / "out" / "runs" / "au_intensity_fold2_f1_s0.json").is_file()
    assert {"tar@far=1e-04", "accuracy"} <= runs["recognition"]["metrics"].keys()


def test_au_folds_are_subject_independent_and_shared():
    from hfvid.data.au_folds import au_fold
    from hfvid.data.formats.bp4d import FERA2015_DEV, FERA2015_TRAIN

    folds = [au_fold("disfa", k) for k in range(3)]
    assert all(len(f.test_subjects) == 9 and len(f.train_subjects) == 18 for f in folds)
    assert len(set().union(*(f.test_subjects for f in folds))) == 27  # every subject tested exactly once
    assert all(set(f.train_subjects).isdisjoint(f.test_subjects) for f in folds)
    bp4d = au_fold("bp4d")
    assert bp4d.train_subjects == tuple(FERA2015_TRAIN) and bp4d.test_subjects == tuple(FERA2015_DEV)
    assert bp4d.side("F001") == "train" and bp4d.side("F002") == "test" and bp4d.side("X999") is None
    with pytest.raises(ValueError, match="fold must be 0, 1 or 2"):
        au_fold("disfa", 3)
    with pytest.raises(ValueError, match="fold must be 0 for BP4D"):
        au_fold("bp4d", 1)
    with pytest.raises(ValueError, match="must be one of"):
        au_fold("affwild2")
    with pytest.raises(ValueError, match=r"share subjects \['SN001'\]"):
        folds[0].check_disjoint(["SN001", "SN013"], ["SN001"])


def test_real_data_streams_one_image_per_item(tmp_path, monkeypatch):
    """Readers keep image paths only; the dataset decodes an image when its item is asked for, so a DataLoader
    holds one batch of images, never the whole set."""
    import hfvid.data.face_benchmark as data

    _write_real_datasets(tmp_path)
    records = data.real_task_data("expression", "affectnet", tmp_path / "affectnet")
    assert all("image" not in r and r["image_path"] for r in records["train"] + records["test"])
    decoded = []
    original = data.load_record_image
    monkeypatch.setattr(data, "load_record_image", lambda record: decoded.append(record) or original(record))
    _, processor = load_backbone(tiny_backbone(), image_size=32)
    loader = torch.utils.data.DataLoader(data.FaceTaskDataset("expression", records["train"], processor), batch_size=3)
    batch = next(iter(loader))
    assert len(decoded) == 3 and batch["pixel_values"].shape == (3, 3, 32, 32)
    assert batch["labels"].tolist() == [r["label"] for r in records["train"][:3]]


def test_augmentation_moves_the_crop_and_keeps_targets_exact():
    from hfvid.data.face_benchmark import FaceCropAugmentation, FaceTaskDataset
    from hfvid.data.synthetic import synthetic_faces
    from hfvid.data.synthetic_face_tasks import synthetic_expression_faces
    from hfvid.modules.heatmaps import apply_affine

    _, processor = load_backbone(tiny_backbone(), image_size=32)
    faces = synthetic_faces(2, 64, seed=0)
    plain = FaceTaskDataset("landmarks", faces, processor)[0]
    jittered = FaceTaskDataset("landmarks", faces, processor, augmentation=FaceCropAugmentation(0.3, 0.2, 1.0, 0))[0]
    assert not torch.allclose(plain["crop_matrices"], jittered["crop_matrices"])
    expected = apply_affine(jittered["crop_matrices"], torch.as_tensor(faces[0]["landmarks"], dtype=torch.float32))
    torch.testing.assert_close(jittered["labels"], expected)  # no flip for landmarks: left/right would swap

    faces = synthetic_expression_faces(2, 64, seed=1)
    plain = FaceTaskDataset("expression", faces, processor)[1]
    flipped = FaceTaskDataset("expression", faces, processor, augmentation=FaceCropAugmentation(0, 0, 1.0, 0))[1]
    torch.testing.assert_close(flipped["pixel_values"], plain["pixel_values"].flip(-1))
    point = torch.tensor([[20.0, 30.0]])
    x_plain, x_flipped = apply_affine(plain["crop_matrices"], point), apply_affine(flipped["crop_matrices"], point)
    torch.testing.assert_close(x_flipped[:, 0], 31 - x_plain[:, 0])  # the image point lands mirrored in the crop
    with pytest.raises(ValueError, match="augmentation flip must be in"):
        FaceCropAugmentation(flip=2)


def test_head_training_config_and_streamed_statistics():
    from hfvid.models.face_pretraining.head_training import StandardizedHead

    config = HeadTrainingConfig(num_epochs=2.5, batch_size=4)
    assert config.total_steps(10) == 8 and config.total_steps(10, num_processes=2) == 5
    assert HeadTrainingConfig(max_steps=7).total_steps(1000) == 7  # fixed steps whatever the fraction
    assert HeadTrainingConfig(augment=False).augmentation() is None
    for bad, message in (({"max_steps": 0}, "max_steps must be"), ({"num_epochs": 0}, "num_epochs must be"),
                         ({"warmup_ratio": 1.0}, "warmup_ratio"), ({"color_jitter": -1}, "color must be")):
        with pytest.raises(ValueError, match=message):
            HeadTrainingConfig(**bad)
    features = torch.randn(10, 3, 2, 2) * torch.tensor([1.0, 5.0, 0.1])[:, None, None] + 2
    head = StandardizedHead(torch.nn.Identity())
    head.fit_batches(features.split(3))
    torch.testing.assert_close(head.mean, features.mean((0, 2, 3), keepdim=True)[0])
    torch.testing.assert_close(head.std, features.std((0, 2, 3), keepdim=True)[0])


@pytest.mark.launch
def test_benchmark_script_on_two_processes_gathers_every_test_item(tmp_path, launch_script):
    """`accelerate launch` with 2 CPU ranks: data-parallel head training, predictions gathered in order (an odd
    number of test items, so one rank gets a padded batch that gather_for_metrics drops)."""
    folder = tmp_path / "backbone"
    tiny_backbone().save_pretrained(folder)
    result = launch_script("face_benchmark", "--backbone", folder, "--tasks", "expression", "--fractions", "1.0",
                           "--seeds", "0", "--max_steps", "2", "--synthetic_train_size", "8",
                           "--synthetic_test_size", "7", "--output_dir", tmp_path / "out", num_processes=2)
    run = json.loads((tmp_path / "out" / "runs" / "expression_f1_s0.json").read_text())
    assert run["num_processes"] == 2 and run["num_test"] == 7 and run["steps"] == 2
    assert "| expression | linear | 1 |" in result.stdout


def test_contrastive_au_script_uses_the_shared_folds(tmp_path):
    """train_contrastive_au.py's DISFA / BP4D splits are hfvid.data.au_folds' (one implementation for all methods)."""
    from argparse import Namespace

    from hfvid.data.formats.bp4d import write_bp4d_video
    from hfvid.data.formats.disfa import write_disfa_subject
    from hfvid.quickstart import load_training_script

    script = load_training_script("train_contrastive_au")
    for subject in ("SN001", "SN013", "SN003"):  # DISFA folds 0, 1, 2
        write_disfa_subject(tmp_path / "disfa", subject, np.zeros((4, 12)))
    for subject in ("F001", "F002"):  # FERA2015 train, development
        write_bp4d_video(tmp_path / "bp4d", subject, "T1", np.zeros((4, 5)))
    common = dict(dataset_name=None, train_dir=None, validation_dir=None, validation_annotations=None,
                  max_train_samples=None, max_eval_samples=None)
    train, test, folds = script.load_splits(Namespace(**common, dataset_format="disfa", annotations=tmp_path / "disfa",
                                                      fold=1))
    assert [s["subject_id"] for s in test] == ["SN013"] and {s["subject_id"] for s in train} == {"SN001", "SN003"}
    assert folds["protocol"] == "DISFA 3-fold, test fold 1"
    train, test, folds = script.load_splits(Namespace(**common, dataset_format="bp4d", annotations=tmp_path / "bp4d",
                                                      fold=0))
    assert [s["subject_id"] for s in train] == ["F001"] and [s["subject_id"] for s in test] == ["F002"]
    assert folds["protocol"] == "FERA2015 train / development"


def test_au_frames_follow_the_declared_numbering(tmp_path):
    """The benchmark reads DISFA frames through hfvid.data.frame_folders: labels are 0-based, files numbered from
    first_frame_index (default 1); a 0-based extraction is refused unless declared, never shifted silently."""
    from PIL import Image

    from hfvid.data.face_benchmark import au_records
    from hfvid.data.formats.disfa import write_disfa_subject

    for subject in ("SN001", "SN013"):
        write_disfa_subject(tmp_path / "ActionUnit_Labels", subject, np.arange(36).reshape(3, 12) % 6)
        (tmp_path / "frames" / subject).mkdir(parents=True)
        for number in range(3):  # an extraction numbered from 0
            Image.new("RGB", (8, 8)).save(tmp_path / "frames" / subject / f"{number:05d}.jpg")
    with pytest.raises(ValueError, match="first_frame_index"):
        au_records("disfa", tmp_path)
    data = au_records("disfa", tmp_path, fold=0, first_frame_index=0)
    assert [(r["subject"], r["frame"], Path(r["image_path"]).name) for r in data["test"]] == [
        ("SN001", 0, "00000.jpg"), ("SN001", 1, "00001.jpg"), ("SN001", 2, "00002.jpg")]
    assert {r["subject"] for r in data["train"]} == {"SN013"} and data["protocol"] == "DISFA 3-fold, test fold 0"

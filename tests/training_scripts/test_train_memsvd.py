"""Smoke tests of training_scripts/train_memsvd.py: synthetic + AVA-format data, baselines, resume, launch."""

import json
from pathlib import Path

import numpy as np
import pytest

from hfvid.quickstart import load_training_script

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "training_scripts" / "train_memsvd.py"


def tiny_argv(output_dir, steps, *extra):
    return [
        "--dataset_name", "synthetic", "--output_dir", str(output_dir), "--max_train_steps", str(steps),
        "--per_device_train_batch_size", "8", "--per_device_eval_batch_size", "16", "--synthetic_train_samples", "64",
        "--synthetic_eval_samples", "32", "--learning_rate", "3e-3", "--lr_scheduler_type", "constant", "--cpu",
        *extra,
    ]


def test_train_save_and_reload_with_pipeline(tmp_path):
    script = load_training_script("train_memsvd")
    out = script.main(script.parse_args(tiny_argv(tmp_path / "run", 3)))
    assert out["history"]["global_step"] == 3
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "README.md", "all_results.json"):
        assert (tmp_path / "run" / name).is_file(), name
    results = json.loads((tmp_path / "run" / "all_results.json").read_text())
    assert "eval_accuracy" in results and "eval_mAP" in results and results["eval_train_steps"] == 3
    assert "n_c = 1 components" in (tmp_path / "run" / "README.md").read_text()

    from transformers import pipeline

    from hfvid.data.synthetic_memory import synthetic_memory_task, synthetic_memory_video

    task = synthetic_memory_task(1)
    video = synthetic_memory_video(task["memory"][0], task["query"][0])
    pipe = pipeline("hfvid-long-term-action-detection", model=str(tmp_path / "run"))
    (keyframe,) = pipe(iter(video["frames"]), boxes=video["boxes"], keyframes=[video["keyframe"]])
    assert len(keyframe["detections"]) == 1


def test_nonlocal_baseline_and_resume(tmp_path):
    script = load_training_script("train_memsvd")
    run = tmp_path / "run"
    first = script.main(script.parse_args(tiny_argv(run, 2, "--memory", "nonlocal", "--checkpointing_steps", "2")))
    assert json.loads((run / "config.json").read_text())["memory_type"] == "nonlocal"
    resumed = script.main(script.parse_args(tiny_argv(run, 4, "--memory", "nonlocal",
                                                      "--resume_from_checkpoint", "latest")))
    assert [step for step, _ in resumed["history"]["losses"]] == [1, 2, 3, 4]
    assert resumed["history"]["losses"][:2] == first["history"]["losses"]


def write_ava_split(folder: Path, seed: int, dim: int = 6):
    """A feature bank (datasets) + AVA CSV: 2 videos, keyframes 902-905, 1-2 GT boxes each, `dim`-d features."""
    from hfvid.models.memsvd import feature_bank_dataset

    rng = np.random.default_rng(seed)
    bank, lines = {}, []
    for video in ("vidA", "vidB"):
        for second in range(898, 910):
            people = 1 + second % 2
            bank[(video, second)] = rng.standard_normal((people, dim)).astype(np.float32)
            if 902 <= second <= 905:
                for p in range(people):
                    box = (0.1 + 0.4 * p, 0.1, 0.4 + 0.4 * p, 0.9)
                    for action in (1 + p, 12):
                        lines.append(f"{video},{second:04d},{box[0]:.3f},{box[1]:.3f},{box[2]:.3f},{box[3]:.3f},"
                                     f"{action},{p}")
    feature_bank_dataset(bank).save_to_disk(str(folder / "bank"))
    (folder / "ava.csv").write_text("\n".join(lines) + "\n")
    return folder / "bank", folder / "ava.csv"


def test_ava_format_training(tmp_path):
    train_bank, train_csv = write_ava_split(tmp_path / "train", 0)
    val_bank, val_csv = write_ava_split(tmp_path / "val", 1)
    (tmp_path / "excluded.csv").write_text("vidA,0905\n")
    (tmp_path / "labels.pbtxt").write_text('item {\n  name: "bend/bow"\n  id: 1\n}\nitem {\n  name: "stand"\n  id: 12\n}\n')
    script = load_training_script("train_memsvd")
    argv = ["--train_dir", str(train_bank), "--annotations", str(train_csv), "--validation_dir", str(val_bank),
            "--validation_annotations", str(val_csv), "--excluded_timestamps", str(tmp_path / "excluded.csv"),
            "--label_map", str(tmp_path / "labels.pbtxt"), "--output_dir", str(tmp_path / "run"), "--cpu",
            "--max_train_steps", "2", "--per_device_train_batch_size", "2",
            "--config_overrides", "feature_dim=6,num_components=2,max_rank=4,latent_dim=4,memory_window_seconds=4"]
    out = script.main(script.parse_args(argv))
    assert 0.0 <= out["results"]["frame_mAP"] <= 1.0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["id2label"]["11"] == "stand" and len(config["eval_label_ids"]) == 60


def test_bad_arguments_fail_clearly(tmp_path):
    script = load_training_script("train_memsvd")
    with pytest.raises(ValueError, match="checkpointing_steps"):
        script.parse_args(tiny_argv(tmp_path, 1, "--checkpointing_steps", "often"))
    with pytest.raises(ValueError, match="num_components"):
        script.build_model(script.parse_args(tiny_argv(tmp_path, 1, "--config_overrides", "num_components=99")))
    with pytest.raises(ValueError, match="annotations"):
        script.parse_args(["--train_dir", str(tmp_path), "--output_dir", str(tmp_path)])
    with pytest.raises(ValueError, match="charades"):
        script.parse_args(tiny_argv(tmp_path, 1, "--dataset_format", "charades"))
    with pytest.raises(ValueError, match="clips_per_video"):
        script.parse_args(tiny_argv(tmp_path, 1, "--clips_per_video", "0"))


@pytest.mark.launch
def test_accelerate_launch_one_process(tmp_path, launch_script):
    result = launch_script(SCRIPT, *tiny_argv(tmp_path / "run", 2))
    assert (tmp_path / "run" / "model.safetensors").is_file()
    assert "Num processes: 1" in result.stdout + result.stderr


def write_charades_split(folder: Path, seed: int, videos=("v0", "v1", "v2", "v3", "v4", "v5"), num_classes=5,
                         not_in_bank=()):
    """Charades_v1 CSV + a per-second clip-feature bank (one 6-d feature per second, 8 s per video)."""
    from hfvid.data.formats.charades import write_charades_csv
    from hfvid.models.memsvd import feature_bank_dataset

    rng = np.random.default_rng(seed)
    records, bank = [], {}
    for i, video in enumerate(videos):
        classes = {i % num_classes, (i + 2) % num_classes}
        records.append({"id": video, "actions": [(c, 0.5, 6.0) for c in sorted(classes)], "length": 8.0})
        for second in range(8 if video not in not_in_bank else 0):
            bank[(video, second)] = rng.standard_normal((1, 6)).astype(np.float32)
    folder.mkdir(parents=True)
    feature_bank_dataset(bank).save_to_disk(str(folder / "bank"))
    return folder / "bank", write_charades_csv(folder / "charades.csv", records)


def test_charades_clips_spreads_clips_and_reports_missing():
    from hfvid.data.formats.charades import charades_clips

    records = [{"id": "a", "labels": np.array([1.0, 0.0])}, {"id": "gone", "labels": np.array([0.0, 1.0])}]
    keys = [("a", s) for s in (9, 0, 3, 6, 1, 2, 4, 5, 7, 8)] + [("other", 1)]
    clips, missing = charades_clips(records, keys, clips_per_video=3)
    assert [c["second"] for c in clips] == [0, 4, 9] and missing == ["gone"]
    assert all(c["video_index"] == 0 and c["labels"][0] == 1.0 for c in clips)
    assert len(charades_clips(records, keys)[0]) == 10
    with pytest.raises(ValueError, match="clips_per_video"):
        charades_clips(records, keys, clips_per_video=0)


def test_charades_format_training(tmp_path):
    from hfvid.data.formats.charades import read_charades_csv, read_charades_submission
    from hfvid.metrics.detection import charades_map
    from hfvid.models.memsvd import MeMSVDForVideoClassification

    train_bank, train_csv = write_charades_split(tmp_path / "train", 0)
    # a test video without features is reported and left out of the mAP
    val_bank, val_csv = write_charades_split(tmp_path / "val", 1, videos=("t0", "t1", "t2", "t3", "tx"),
                                             not_in_bank=("tx",))
    (tmp_path / "classes.txt").write_text("".join(f"c{i:03d} class {i}\n" for i in range(5)))
    script = load_training_script("train_memsvd")
    argv = ["--dataset_format", "charades", "--train_dir", str(train_bank), "--annotations", str(train_csv),
            "--validation_dir", str(val_bank), "--validation_annotations", str(val_csv),
            "--label_map", str(tmp_path / "classes.txt"), "--clips_per_video", "3", "--clip_aggregation", "max",
            "--output_dir", str(tmp_path / "run"), "--cpu", "--max_train_steps", "3",
            "--per_device_train_batch_size", "4",
            "--config_overrides", "num_labels=5,feature_dim=6,num_components=2,max_rank=4,latent_dim=4,"
                                  "memory_window_seconds=8,max_features_per_second=1"]
    out = script.main(script.parse_args(argv))
    assert out["history"]["global_step"] == 3
    assert np.isfinite(out["results"]["mAP"]) and 0.0 <= out["results"]["mAP"] <= 1.0
    assert out["results"]["num_videos"] == 4
    results = json.loads((tmp_path / "run" / "all_results.json").read_text())
    assert results["eval_mAP"] == out["results"]["mAP"]
    ids, scores = read_charades_submission(tmp_path / "run" / "charades_submission.txt")
    assert ids == ["t0", "t1", "t2", "t3"] and scores.shape == (4, 5)
    labels = np.stack([r["labels"] for r in read_charades_csv(val_csv, 5)[:4]])
    assert abs(charades_map(scores, labels)["mAP"] - results["eval_mAP"]) < 1e-5  # submission rounds to 1e-6
    model = MeMSVDForVideoClassification.from_pretrained(tmp_path / "run")
    assert model.config.num_labels == 5 and model.config.id2label[3] == "class 3"
    assert model.config.architectures == ["MeMSVDForVideoClassification"]


def test_ava_evaluation_on_detected_boxes(tmp_path):
    """--eval_boxes: detector boxes equal to the GT boxes (score 0.9) plus dropped low-score boxes give the GT-box
    frame-mAP; a keyframe without detections still counts its ground truth; a bank that does not match fails."""
    train_bank, train_csv = write_ava_split(tmp_path / "train", 0)
    val_bank, val_csv = write_ava_split(tmp_path / "val", 1)
    boxes = []
    for line in val_csv.read_text().splitlines():
        video, second, x1, y1, x2, y2 = line.split(",")[:6]
        row = f"{video},{second},{x1},{y1},{x2},{y2},,0.900"
        if row not in boxes:
            boxes.append(row)
    noise = [f"{r.split(',')[0]},{r.split(',')[1]},0.0,0.0,1.0,1.0,,0.5" for r in boxes]  # below 0.8
    (tmp_path / "det.csv").write_text("\n".join(boxes + noise) + "\n")
    script = load_training_script("train_memsvd")
    base = ["--train_dir", str(train_bank), "--annotations", str(train_csv), "--validation_dir", str(val_bank),
            "--validation_annotations", str(val_csv), "--cpu", "--max_train_steps", "2", "--seed", "3",
            "--per_device_train_batch_size", "2", "--config_overrides",
            "feature_dim=6,num_components=2,max_rank=4,latent_dim=4,memory_window_seconds=4,num_labels=12"]
    ground_truth = script.main(script.parse_args(base + ["--output_dir", str(tmp_path / "gt")]))["results"]
    detected = script.main(script.parse_args(base + ["--output_dir", str(tmp_path / "det"), "--eval_boxes",
                                                     str(tmp_path / "det.csv")]))["results"]
    assert detected["frame_mAP"] == pytest.approx(ground_truth["frame_mAP"], abs=1e-9)

    # vidA 0902 (one person) detected nowhere: its ground truth is missed, the score can only drop
    (tmp_path / "det_missing.csv").write_text("\n".join(r for r in boxes if not r.startswith("vidA,0902")) + "\n")
    missing = script.main(script.parse_args(base + ["--output_dir", str(tmp_path / "miss"), "--eval_boxes",
                                                    str(tmp_path / "det_missing.csv")]))["results"]
    assert missing["frame_mAP"] < detected["frame_mAP"]

    with pytest.raises(ValueError, match="one feature per detected box"):  # 0.4 keeps the noise boxes too
        script.main(script.parse_args(base + ["--output_dir", str(tmp_path / "low"), "--eval_boxes",
                                              str(tmp_path / "det.csv"), "--eval_box_threshold", "0.4"]))
    with pytest.raises(ValueError, match="eval_box_threshold"):
        script.parse_args(base + ["--output_dir", "o", "--eval_boxes", "x", "--eval_box_threshold", "80"])


def encoder_argv(output_dir, steps, *extra):
    from hfvid.quickstart.mvitv2 import TINY_MVITV2

    return ["--dataset_name", "synthetic", "--output_dir", str(output_dir), "--max_train_steps", str(steps),
            "--per_device_train_batch_size", "4", "--per_device_eval_batch_size", "8", "--synthetic_train_samples", "8",
            "--synthetic_eval_samples", "4", "--learning_rate", "3e-3", "--lr_scheduler_type", "constant", "--cpu",
            "--actor_encoder_config_overrides", TINY_MVITV2, *extra]


def test_train_actor_encoder_end_to_end_then_pipeline_uses_it(tmp_path):
    """--train_actor_encoder on synthetic clips: the saved encoder moved away from its initial weights, and the
    long-term pipeline loads the run and classifies with that encoder."""
    import torch
    from transformers import pipeline

    from hfvid.data.synthetic_actors import synthetic_actor_video
    from hfvid.models.memsvd import MeMSVDForActionDetection, VideoBackboneActorEncoder

    script = load_training_script("train_memsvd")
    args = script.parse_args(encoder_argv(tmp_path / "run", 2, "--train_actor_encoder"))
    torch.manual_seed(args.seed)
    initial, _ = script.build_model(args)  # same seed as main: the initial weights of the run
    out = script.main(args)
    assert out["history"]["global_step"] == 2 and 0.0 <= out["results"]["mAP"] <= 1.0
    assert out["results"]["train_actor_encoder"] is True
    trained = MeMSVDForActionDetection.from_pretrained(tmp_path / "run")
    name = "backbone.mvitv2.conv_proj.weight"
    before = dict(initial.memsvd.actor_encoder.named_parameters())[name]
    after = dict(trained.memsvd.actor_encoder.named_parameters())[name]
    assert before.shape == after.shape and not torch.allclose(before, after)
    frozen_args = script.parse_args(encoder_argv(tmp_path / "lr0", 2, "--train_actor_encoder",
                                                 "--actor_encoder_learning_rate", "0"))
    script.main(frozen_args)  # same initial weights; at rate 0 the encoder must stay exactly as it started
    frozen = MeMSVDForActionDetection.from_pretrained(tmp_path / "lr0")
    torch.testing.assert_close(dict(frozen.memsvd.actor_encoder.named_parameters())[name], before)

    video = synthetic_actor_video(6, image_size=32, num_actors=1)
    pipe = pipeline("hfvid-long-term-action-detection", model=str(tmp_path / "run"), device="cpu")
    boxes = {s: (video["boxes"][2 * s] * 32).tolist() for s in range(3)}
    frames = [(t / 2.0, frame) for t, frame in enumerate(video["frames"])]
    own = pipe(iter(frames), boxes=boxes, top_k=4)
    explicit = pipe(iter(frames), boxes=boxes, top_k=4,
                    actor_encoder=VideoBackboneActorEncoder.from_model(trained, pipe._own_encoder().video_processor))
    assert own == explicit and [len(r["detections"]) for r in own] == [1, 1, 1]


def test_actor_encoder_flags_fail_clearly(tmp_path):
    script = load_training_script("train_memsvd")
    with pytest.raises(ValueError, match="--train_actor_encoder: the model has no actor encoder"):
        script.build_model(script.parse_args(tiny_argv(tmp_path, 1, "--train_actor_encoder")))
    with pytest.raises(ValueError, match="actor_encoder_learning_rate.*--train_actor_encoder only"):
        script.parse_args(encoder_argv(tmp_path, 1, "--actor_encoder_learning_rate", "1e-4"))
    with pytest.raises(ValueError, match="needs --video_dir"):
        script.parse_args(["--train_dir", str(tmp_path), "--annotations", "a.csv", "--output_dir", str(tmp_path),
                           "--train_actor_encoder"])
    with pytest.raises(ValueError, match="not both"):
        script.parse_args(encoder_argv(tmp_path, 1, "--actor_encoder_backbone", str(tmp_path)))
    with pytest.raises(ValueError, match="does not apply to --dataset_format charades"):
        script.parse_args(["--train_dir", str(tmp_path), "--annotations", "a.csv", "--output_dir", str(tmp_path),
                           "--dataset_format", "charades", "--train_actor_encoder"])

"""Smoke tests of training_scripts/train_keypoints_to_landmarks.py: all stages in-process, resume, bad inputs,
and one `accelerate launch`."""

import json
from pathlib import Path

import numpy as np
import pytest

from hfvid.data.formats.landmark_json import read_landmark_json
from hfvid.quickstart import load_training_script

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "training_scripts" / "train_keypoints_to_landmarks.py"
TINY = ("num_landmarks=3,num_clusters=4,hidden_size=16,stem_channels=8,hourglass_depth=2,image_size=32,"
        "heatmap_size=8,descriptor_dim=8,num_groups=4,min_negative_distance=1,detector_nms_radius=1,max_keypoints=8,"
        "min_keypoints=4,pairs_per_sample=16,outlier_neighbors=8,outlier_fraction=0.1")


def tiny_argv(output_dir, stage1_steps=2, stage2_steps=2, *extra):
    return [
        "--dataset_name", "synthetic", "--output_dir", str(output_dir), "--config_overrides", TINY, "--cpu",
        "--stage1_steps", str(stage1_steps), "--stage2_steps", str(stage2_steps), "--warmup_steps", "1",
        "--round_steps", "2", "--per_device_train_batch_size", "2", "--per_device_eval_batch_size", "8",
        "--synthetic_train_samples", "8", "--synthetic_eval_samples", "4", "--synthetic_image_size", "32",
        "--synthetic_parts", "3", "--synthetic_clutter", "1", "--keypoint_initializer", "given",
        "--clustering_restarts", "1", "--clustering_iterations", "10", "--learning_rate", "1e-3",
        "--lr_scheduler_type", "constant", *extra,
    ]


def test_all_stages_save_and_reload_with_pipeline(tmp_path):
    script = load_training_script("train_keypoints_to_landmarks")
    out = script.main(script.parse_args(tiny_argv(tmp_path / "run")))
    run = tmp_path / "run"
    assert out["history"]["global_step"] == 2 and out["stage1_history"]["global_step"] == 2
    for folder in (run, run / "stage1"):
        for name in ("config.json", "model.safetensors", "preprocessor_config.json", "README.md", "all_results.json"):
            assert (folder / name).is_file(), folder / name
    assert (run / "keypoints" / "dataset_info.json").is_file()
    assert list((run / "stage1" / "pseudo_labels").glob("step_*.npz"))
    results = json.loads((run / "all_results.json").read_text())
    assert {"eval_forward_nme", "eval_backward_nme", "eval_mean_shape_nme"} <= results.keys()
    card = (run / "README.md").read_text()
    assert "Landmark indices are arbitrary" in card and "Forward regression NME" in card
    assert "stage-1 checkpoint" in (run / "stage1" / "README.md").read_text()

    from transformers import pipeline

    pipe = pipeline("hfvid-unsupervised-landmarks", model=str(run))
    objects = pipe(np.zeros((32, 32, 3), np.uint8), face_detector="full_image")
    assert len(objects) == 1 and len(objects[0]["landmarks"]) == 3

    evaluated = script.main(script.parse_args(tiny_argv(run, 2, 2, "--stage", "evaluate")))["results"]
    assert evaluated["forward_nme"] == pytest.approx(results["eval_forward_nme"], rel=1e-4)


def test_stage1_resume_continues_with_saved_pseudo_labels(tmp_path):
    script = load_training_script("train_keypoints_to_landmarks")
    run = tmp_path / "run"
    first = script.main(script.parse_args(tiny_argv(run, 2, 1, "--stage", "stage1", "--checkpointing_steps", "2")))
    assert (run / "stage1" / "checkpoints" / "step_2").is_dir()
    resumed = script.main(script.parse_args(tiny_argv(run, 3, 1, "--stage", "stage1",
                                                      "--resume_from_checkpoint", "latest")))
    losses = resumed["stage1_history"]["losses"]
    assert [step for step, _ in losses] == [1, 2, 3]
    assert losses[:2] == first["stage1_history"]["losses"]


def test_bad_inputs_fail_clearly(tmp_path):
    script = load_training_script("train_keypoints_to_landmarks")
    with pytest.raises(ValueError, match="num_clusters"):
        script.build_config(script.parse_args(tiny_argv(tmp_path, 1, 1, "--config_overrides", "num_landmarks=20,num_clusters=5")))
    with pytest.raises(ValueError, match="round_steps"):
        script.parse_args(tiny_argv(tmp_path, 1, 1, "--round_steps", "0"))
    annotations = tmp_path / "a.json"
    annotations.write_text(json.dumps({"x.png": {"landmarks": [[1, 2], [None, 4]]}}))
    with pytest.raises(ValueError, match="missing"):
        read_landmark_json(annotations)
    annotations.write_text(json.dumps({"x.png": {"box": [5, 5, 1, 1]}}))
    with pytest.raises(ValueError, match="box"):
        read_landmark_json(annotations)
    with pytest.raises(ValueError, match="superpoint_model"):
        script.make_initializer(script.parse_args(tiny_argv(tmp_path, 1, 1, "--keypoint_initializer", "superpoint")),
                                script.build_config(script.parse_args(tiny_argv(tmp_path))))


def test_image_folder_with_json_annotations(tmp_path):
    from PIL import Image

    from hfvid.data.synthetic_objects import synthetic_objects

    script = load_training_script("train_keypoints_to_landmarks")
    entries = {}
    for i, record in enumerate(synthetic_objects(3, 32, num_parts=3)):
        Image.fromarray(record["image"]).save(tmp_path / f"{i}.png")
        entries[f"{i}.png"] = {"landmarks": record["landmarks"].tolist()}
    (tmp_path / "ann.json").write_text(json.dumps(entries))
    args = script.parse_args(["--train_dir", str(tmp_path), "--annotations", str(tmp_path / "ann.json"),
                              "--validation_dir", str(tmp_path), "--validation_annotations",
                              str(tmp_path / "ann.json"), "--output_dir", str(tmp_path / "out")])
    records = script.load_records(args, "train")
    assert len(records) == 3 and records[0]["box"] == [0.0, 0.0, 31.0, 31.0] and records[0]["landmarks"].shape == (3, 2)
    (tmp_path / "ann.json").write_text(json.dumps({"0.png": {}}))
    with pytest.raises(ValueError, match="landmarks"):
        script.load_records(args, "eval")


@pytest.mark.launch
def test_accelerate_launch_one_process(tmp_path, launch_script):
    launch_script(SCRIPT, *tiny_argv(tmp_path / "run", 2, 1), timeout=600)
    assert (tmp_path / "run" / "model.safetensors").is_file() and (tmp_path / "run" / "stage1" / "README.md").is_file()

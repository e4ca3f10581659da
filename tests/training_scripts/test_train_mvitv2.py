"""training_scripts/train_mvitv2.py: synthetic and video-folder training, fine-tuning, resume, pipeline, errors."""

import json
from pathlib import Path

import numpy as np
import pytest

from hfvid.data.video import write_video
from hfvid.quickstart.mvitv2 import TINY_MVITV2
from hfvid.quickstart import load_training_script


def tiny_argv(output_dir, steps, *extra):
    return ["--output_dir", str(output_dir), "--config_overrides", TINY_MVITV2, "--max_train_steps", str(steps),
            "--per_device_train_batch_size", "4", "--per_device_eval_batch_size", "8", "--learning_rate", "3e-3",
            "--cpu", *extra]


def synthetic_argv(output_dir, steps, *extra):
    return tiny_argv(output_dir, steps, "--dataset_name", "synthetic", "--synthetic_train_samples", "64",
                     "--synthetic_eval_samples", "32", *extra)


def video_folder(root: Path, classes=("brightening", "darkening"), per_class=2) -> Path:
    """``<root>/<class>/<i>.mp4``: grey clips getting brighter or darker (tells the classes apart only in time)."""
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            ramp = np.linspace(40, 200, 8) if name == "brightening" else np.linspace(200, 40, 8)
            frames = np.stack([np.full((36, 40, 3), v + 5 * i, np.uint8) for v in ramp])
            write_video(root / name / f"{i}.mp4", frames, fps=8)
    return root


def test_synthetic_train_save_reload_and_resume(tmp_path):
    from transformers import AutoModelForVideoClassification

    script = load_training_script("train_mvitv2")
    run = tmp_path / "run"
    first = script.main(script.parse_args(synthetic_argv(run, 2, "--checkpointing_steps", "2")))
    for name in ("config.json", "model.safetensors", "video_preprocessor_config.json", "README.md"):
        assert (run / name).is_file(), name
    results = json.loads((run / "all_results.json").read_text())
    assert 0 <= results["eval_top1"] <= 100 and results["eval_num_classes"] == 4
    model = AutoModelForVideoClassification.from_pretrained(run)
    assert model.config.id2label[0] == "red square moves left"
    assert "top-1 accuracy" in (run / "README.md").read_text()

    resumed = script.main(script.parse_args(synthetic_argv(run, 3, "--resume_from_checkpoint", "latest")))
    assert [step for step, _ in resumed["history"]["losses"]] == [1, 2, 3]
    assert resumed["history"]["losses"][:2] == first["history"]["losses"]


def test_learns_motion_classes(tmp_path):
    script = load_training_script("train_mvitv2")
    out = script.main(script.parse_args(synthetic_argv(tmp_path / "run", 60, "--per_device_train_batch_size", "16")))
    assert out["results"]["top1"] >= 60.0, out["results"]  # chance: 25%


def test_video_folder_fine_tuning_and_stock_pipeline(tmp_path):
    from transformers import pipeline

    script = load_training_script("train_mvitv2")
    base = script.main(script.parse_args(synthetic_argv(tmp_path / "base", 1)))
    assert base["results"]["num_classes"] == 4
    data = video_folder(tmp_path / "videos")
    run = tmp_path / "ft"
    argv = ["--output_dir", str(run), "--model_name_or_path", str(tmp_path / "base"), "--train_dir", str(data),
            "--validation_dir", str(data), "--max_train_steps", "2", "--per_device_train_batch_size", "2", "--cpu"]
    out = script.main(script.parse_args(argv))
    assert out["results"]["num_classes"] == 2 and out["results"]["dataset"] == str(data)

    from hfvid.models.mvitv2 import MViTv2ForVideoClassification

    before = MViTv2ForVideoClassification.from_pretrained(tmp_path / "base")
    after = MViTv2ForVideoClassification.from_pretrained(run)
    assert after.classifier.weight.shape == (2, before.classifier.weight.shape[1])
    assert "fine-tuned from" in (run / "README.md").read_text().lower()

    classify = pipeline("video-classification", model=str(run), device="cpu")
    result = classify(str(data / "darkening" / "0.mp4"), top_k=2)
    assert sorted(r["label"] for r in result) == ["brightening", "darkening"]
    assert result[0]["score"] >= result[1]["score"]


def test_bad_data_fails_clearly(tmp_path):
    script = load_training_script("train_mvitv2")
    with pytest.raises(ValueError, match="--dataset_name must be 'synthetic'"):
        script.parse_args(tiny_argv(tmp_path, 1, "--dataset_name", "kinetics"))
    with pytest.raises(ValueError, match="--train_dir"):
        script.main(script.parse_args(tiny_argv(tmp_path / "a", 1)))
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(ValueError, match="no videos"):
        script.main(script.parse_args(tiny_argv(tmp_path / "b", 1, "--train_dir", str(tmp_path / "empty"))))
    train = video_folder(tmp_path / "train")
    val = video_folder(tmp_path / "val", classes=("brightening", "spinning"), per_class=1)
    with pytest.raises(ValueError, match="training set lacks: \\['spinning'\\]"):
        script.main(script.parse_args(tiny_argv(tmp_path / "c", 1, "--train_dir", str(train), "--validation_dir",
                                                str(val))))

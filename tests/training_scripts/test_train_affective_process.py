"""Smoke tests of training_scripts/train_affective_process.py: stages, resume, reload, accelerate launch."""

import json
from pathlib import Path

import pytest

from hfvid.quickstart import load_training_script

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "training_scripts" / "train_affective_process.py"
TINY = json.dumps({"feature_proj_dim": 16, "label_embed_dim": 8, "encoder_hidden_sizes": [16], "latent_hidden_size": 16,
                   "latent_dim": 4, "decoder_hidden_sizes": [16], "context_min": 2, "context_max": 8,
                   "num_context_eval": 8, "window_size": 16, "window_stride": 8})


def tiny_argv(output_dir, steps, *extra):
    return ["--dataset_name", "synthetic", "--output_dir", str(output_dir), "--config_overrides", TINY, "--cpu",
            "--backbone_steps", "2", "--backbone_batch_size", "16", "--max_train_steps", str(steps),
            "--per_device_train_batch_size", "2", "--synthetic_train_videos", "3", "--synthetic_eval_videos", "2",
            "--synthetic_length", "24", "--learning_rate", "1e-3", "--lr_scheduler_type", "constant", *extra]


def test_stages_save_and_reload_with_pipeline_then_resume(tmp_path):
    script = load_training_script("train_affective_process")
    run = tmp_path / "run"
    out = script.main(script.parse_args(tiny_argv(run, 2, "--checkpointing_steps", "2", "--task", "au")))
    assert out["history"]["global_step"] == 2
    for name in ("config.json", "model.safetensors", "video_preprocessor_config.json", "README.md",
                 "all_results.json", "stage1_backbone/model.safetensors", "feature_cache/train/dataset_info.json"):
        assert (run / name).is_file(), name
    results = json.loads((run / "all_results.json").read_text())
    assert "eval_icc_mean" in results and "eval_backbone_icc_mean" in results
    assert "AU intensity" in (run / "README.md").read_text() or "FACS" in (run / "README.md").read_text()

    from transformers import pipeline

    from hfvid.data.synthetic_affect import synthetic_affect_videos

    pipe = pipeline("hfvid-au-intensity", model=str(run))
    records = pipe(list(synthetic_affect_videos(1, 10, "au", image_size=32)[0]["frames"]), face_detector="full_image")
    assert len(records) == 10 and set(records[0]) >= {"AU01", "AU06", "AU12"}

    resumed = script.main(script.parse_args(tiny_argv(run, 4, "--resume_from_checkpoint", "latest", "--task", "au")))
    assert [step for step, _ in resumed["history"]["losses"]] == [1, 2, 3, 4]
    assert resumed["history"]["losses"][:2] == out["history"]["losses"]


def test_bad_arguments_fail_clearly(tmp_path):
    script = load_training_script("train_affective_process")
    with pytest.raises(ValueError, match="dataset_format"):
        script.parse_args(["--output_dir", str(tmp_path)])
    with pytest.raises(ValueError, match="temporal_model"):
        script.build_model(script.parse_args(tiny_argv(tmp_path, 1, "--config_overrides", '{"temporal_model": "x"}')))


@pytest.mark.launch
def test_accelerate_launch_one_process(tmp_path, launch_script):
    launch_script(SCRIPT, *tiny_argv(tmp_path / "run", 2))
    assert (tmp_path / "run" / "model.safetensors").is_file()

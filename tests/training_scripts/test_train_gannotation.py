"""Smoke tests of training_scripts/train_gannotation.py: GAN steps + EMA + checkpoint, resume, reload, launch."""

import json
from pathlib import Path

import numpy as np
import pytest

from hfvid.quickstart import load_training_script

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "training_scripts" / "train_gannotation.py"
TINY = "num_landmarks=68,base_channels=4,num_res_blocks=1,image_size=32,critic_num_layers=3,critic_base_channels=4"


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_argv(output_dir, steps, *extra):
    return [
        "--dataset_name", "synthetic", "--output_dir", str(output_dir), "--config_overrides", TINY, "--cpu",
        "--max_train_steps", str(steps), "--per_device_train_batch_size", "2", "--per_device_eval_batch_size", "4",
        "--synthetic_videos", "2", "--synthetic_eval_videos", "1", "--synthetic_frames", "4", "--n_critic", "1",
        "--learning_rate", "1e-3", *extra,
    ]


def test_train_checkpoint_resume_and_reload(tmp_path):
    script = load_training_script("train_gannotation")
    run = tmp_path / "run"
    first = script.main(script.parse_args(tiny_argv(run, 2, "--checkpointing_steps", "2", "--use_ema",
                                                    "--sample_steps", "2")))
    assert first["history"]["global_step"] == 2 and first["results"]["adversarial"] is True
    for name in ("model_index.json", "synthesizer/config.json", "critic/model.safetensors", "README.md",
                 "all_results.json", "samples/final.png", "samples/step_2.png", "checkpoints/step_2"):
        assert (run / name).exists(), name
    results = json.loads((run / "all_results.json").read_text())
    assert {"eval_l1", "eval_copy_l1", "eval_recurrent_gap", "eval_ssim"} <= results.keys()
    assert "recurrent cycle" in (run / "README.md").read_text()

    resumed = script.main(script.parse_args(tiny_argv(run, 3, "--resume_from_checkpoint", "latest", "--use_ema")))
    assert [s for s, _ in resumed["history"]["losses"]] == [1, 2, 3]
    assert resumed["history"]["losses"][:2] == first["history"]["losses"]

    from hfvid import GANnotationPipeline
    from hfvid.data.synthetic_pairs import synthetic_face_video

    pipe = GANnotationPipeline.from_pretrained(run)
    pipe.set_progress_bar_config(disable=True)
    video = synthetic_face_video(7, 3, 64)
    out = pipe(video["images"][0], video["landmarks"][1:], source_landmarks=video["landmarks"][0], output_type="np")
    assert out.images.shape == (2, 32, 32, 3) and np.isfinite(out.images).all()


def test_reconstruction_only_run_and_bad_arguments(tmp_path):
    script = load_training_script("train_gannotation")
    out = script.main(script.parse_args(tiny_argv(tmp_path / "rec", 1, "--lambda_adv", "0", "--synthetic_kind",
                                                  "blobs", "--config_overrides", TINY.replace("68", "5"))))
    assert out["results"]["adversarial"] is False
    assert json.loads((tmp_path / "rec" / "model_index.json").read_text())["critic"] == [None, None]
    with pytest.raises(ValueError, match="n_critic"):
        script.parse_args(tiny_argv(tmp_path, 1, "--n_critic", "0"))
    with pytest.raises(ValueError, match="num_landmarks"):
        script.build_models(script.parse_args(tiny_argv(tmp_path, 1, "--config_overrides", "num_landmarks=0")))


@pytest.mark.launch
def test_accelerate_launch_one_process(tmp_path, launch_script):
    result = launch_script(SCRIPT, *tiny_argv(tmp_path / "run", 1))
    assert "Num processes: 1" in result.stdout + result.stderr
    assert (tmp_path / "run" / "synthesizer" / "model.safetensors").is_file()


def test_ema_checkpoint_is_safetensors_and_round_trips_exactly(tmp_path):
    import torch
    from safetensors.torch import load_file

    script = load_training_script("train_gannotation")
    run = tmp_path / "run"
    script.main(script.parse_args(tiny_argv(run, 1, "--checkpointing_steps", "1", "--use_ema", "--ema_decay", "0.5")))
    checkpoint = run / "checkpoints" / "step_1"
    assert not list(checkpoint.glob("custom_checkpoint_*")), "the EMA must not be pickled by accelerate"
    ema = load_file(checkpoint / "ema.safetensors")
    generator = load_file(checkpoint / "GANnotationGenerator" / "model.safetensors")  # the optimised one
    assert ema.keys() == generator.keys()
    assert any(not torch.equal(ema[k], generator[k]) for k in ema)  # a real average, not the generator again

    # resuming at the last step trains nothing: the saved synthesizer is the EMA exactly as loaded from the file
    script.main(script.parse_args(tiny_argv(run, 1, "--resume_from_checkpoint", "latest", "--use_ema")))
    synthesizer = load_file(run / "synthesizer" / "model.safetensors")
    assert synthesizer.keys() == ema.keys() and all(torch.equal(synthesizer[k], ema[k]) for k in ema)
    script.main(script.parse_args(tiny_argv(tmp_path / "plain", 1, "--checkpointing_steps", "1")))
    with pytest.raises(FileNotFoundError, match="ema.safetensors"):  # no silent fresh EMA from an EMA-less run
        script.main(script.parse_args(tiny_argv(tmp_path / "plain", 1, "--resume_from_checkpoint", "latest",
                                                "--use_ema")))

"""GANnotation and Affective Processes stage 1 run through the shared loop: a run interrupted after a checkpoint
and resumed with ``--resume_from_checkpoint latest`` ends with the weights of an uninterrupted run, and both
GANnotation lr schedules end at the last generator step."""

import json

import pytest
import torch
from safetensors.torch import load_file

import hfvid.training.loop as loop_module
from hfvid.quickstart import load_training_script

GAN_TINY = "num_landmarks=68,base_channels=4,num_res_blocks=1,image_size=32,critic_num_layers=3,critic_base_channels=4"
AP_TINY = json.dumps({"feature_proj_dim": 16, "label_embed_dim": 8, "encoder_hidden_sizes": [16],
                      "latent_hidden_size": 16, "latent_dim": 4, "decoder_hidden_sizes": [16], "context_min": 2,
                      "context_max": 8, "num_context_eval": 8, "window_size": 16, "window_stride": 8})


class Interrupted(Exception):
    pass


def run_interrupted_then_resumed(monkeypatch, script, argv, at_step):
    """Kill the run right after its checkpoint at ``at_step`` is written, then resume it from ``latest``."""
    save = loop_module.save_checkpoint

    def save_then_stop(accelerator, args, state, *rest, **kwargs):
        path = save(accelerator, args, state, *rest, **kwargs)
        if state["global_step"] == at_step:
            raise Interrupted(path)
        return path

    monkeypatch.setattr(loop_module, "save_checkpoint", save_then_stop)
    with pytest.raises(Interrupted):
        script.main(script.parse_args(argv))
    monkeypatch.setattr(loop_module, "save_checkpoint", save)
    return script.main(script.parse_args([*argv, "--resume_from_checkpoint", "latest"]))


def assert_same_weights(first, second):
    a, b = load_file(first), load_file(second)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6, msg=key)


def scheduler_state(checkpoint, index):
    name = "scheduler.bin" if index == 0 else f"scheduler_{index}.bin"
    return torch.load(checkpoint / name, weights_only=True)


def gan_argv(output_dir):
    return ["--dataset_name", "synthetic", "--output_dir", str(output_dir), "--config_overrides", GAN_TINY, "--cpu",
            "--max_train_steps", "4", "--per_device_train_batch_size", "2", "--per_device_eval_batch_size", "4",
            "--synthetic_videos", "2", "--synthetic_eval_videos", "1", "--synthetic_frames", "4", "--n_critic", "2",
            "--learning_rate", "1e-3", "--lr_scheduler_type", "linear", "--checkpointing_steps", "2", "--use_ema",
            "--gan_type", "wgan-gp"]


def test_gannotation_exact_resume_and_both_schedules_end_at_the_last_step(tmp_path, monkeypatch):
    # 8 triplets / batch 2 = 4 batches per epoch, 3 per generator step: the interruption is mid-epoch and steps
    # straddle epochs; WGAN-GP draws its interpolation from the global RNG inside the step
    script = load_training_script("train_gannotation")
    straight = script.main(script.parse_args(gan_argv(tmp_path / "straight")))
    resumed = run_interrupted_then_resumed(monkeypatch, script, gan_argv(tmp_path / "resumed"), at_step=2)
    assert [s for s, _ in resumed["history"]["losses"]] == [1, 2, 3, 4]
    for folder in ("synthesizer", "critic"):  # synthesizer = the EMA, checkpointed too
        assert_same_weights(tmp_path / "straight" / folder / "model.safetensors",
                            tmp_path / "resumed" / folder / "model.safetensors")
    losses = [[loss for _, loss in run["history"]["losses"]] for run in (straight, resumed)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)

    for step, lr in ((2, 0.5e-3), (4, 0.0)):  # linear decay to 0 over 4 generator steps, for both optimisers
        checkpoint = tmp_path / "straight" / "checkpoints" / f"step_{step}"
        for index in (0, 1):
            state = scheduler_state(checkpoint, index)
            assert state["last_epoch"] == step and state["_last_lr"] == pytest.approx([lr]), (step, index)


def ap_argv(output_dir):
    return ["--dataset_name", "synthetic", "--output_dir", str(output_dir), "--config_overrides", AP_TINY, "--cpu",
            "--backbone_steps", "6", "--backbone_batch_size", "16", "--max_train_steps", "1",
            "--per_device_train_batch_size", "2", "--synthetic_train_videos", "3", "--synthetic_eval_videos", "1",
            "--synthetic_length", "24", "--learning_rate", "1e-3", "--checkpointing_steps", "3",
            "--backbone_learning_rate", "3e-3"]


def test_affective_process_stage1_exact_resume(tmp_path, monkeypatch):
    # 72 frames / batch 16 = 5 batches per epoch: interrupted at step 3, the resumed run crosses an epoch; frame
    # flips come from (seed, epoch, index)
    script = load_training_script("train_affective_process")
    straight = script.main(script.parse_args(ap_argv(tmp_path / "straight")))
    resumed = run_interrupted_then_resumed(monkeypatch, script, ap_argv(tmp_path / "resumed"), at_step=3)
    assert (tmp_path / "resumed" / "stage1" / "checkpoints" / "step_6").is_dir()
    assert resumed["results"]["backbone_loss_first"] == pytest.approx(straight["results"]["backbone_loss_first"])
    assert resumed["results"]["backbone_loss_last"] == pytest.approx(straight["results"]["backbone_loss_last"],
                                                                     rel=1e-5)
    assert_same_weights(tmp_path / "straight" / "stage1_backbone" / "model.safetensors",
                        tmp_path / "resumed" / "stage1_backbone" / "model.safetensors")

    stage1_checkpoint = tmp_path / "resumed" / "stage1" / "checkpoints" / "step_3"
    args = script.parse_args([*ap_argv(tmp_path / "resumed"), "--resume_from_checkpoint", str(stage1_checkpoint)])
    assert script.is_stage1_checkpoint(args)
    assert script.stage1_args(args).resume_from_checkpoint == str(stage1_checkpoint)
    args.resume_from_checkpoint = str(tmp_path / "resumed" / "checkpoints" / "step_1")  # a stage-3 checkpoint
    assert not script.is_stage1_checkpoint(args) and script.stage1_args(args).resume_from_checkpoint is None

"""REST's three scripts in process (pool -> index -> self-training), their resume, and one `accelerate launch`."""

import json
from pathlib import Path

import pytest

from hfvid.quickstart import load_training_script

ROOT = Path(__file__).resolve().parents[2]
COMMON = ["--dataset_name", "synthetic", "--cpu", "--synthetic_videos", "12", "--seed", "0"]


def _pool_and_index(tmp_path):
    pool = load_training_script("generate_rest_pseudo_captions")
    first = pool.main(pool.parse_args([*COMMON, "--output_dir", str(tmp_path / "pool"), "--shard_size", "5"]))
    assert first["shards_written"] == 3
    again = pool.main(pool.parse_args([*COMMON, "--output_dir", str(tmp_path / "pool"), "--shard_size", "5"]))
    assert again["shards_written"] == 0  # resumable: complete shards are skipped
    index = load_training_script("build_rest_caption_index")
    out = index.main(index.parse_args([*COMMON, "--pool_dir", str(tmp_path / "pool"),
                                       "--output_dir", str(tmp_path / "retrieved"), "--top_k", "3",
                                       "--min_sim", "0.75", "--shard_size", "8"]))
    assert out["shards_written"] == 2
    from hfvid.data.rest_videos import load_shards

    table = load_shards(tmp_path / "retrieved")
    assert len(table) == 12 and all(1 <= len(c) <= 3 for c in table["captions"])
    return tmp_path / "retrieved"


def test_scripts_end_to_end_and_reload(tmp_path):
    retrieved = _pool_and_index(tmp_path)
    train = load_training_script("train_rest")
    argv = [*COMMON, "--retrieved_dir", str(retrieved), "--output_dir", str(tmp_path / "model"), "--num_frames", "2",
            "--max_train_steps", "2", "--per_device_train_batch_size", "4", "--synthetic_eval_videos", "4",
            "--config_overrides", "hidden_size=32,layers=1,image_size=16", "--learning_rate", "1e-3"]
    result = train.main(train.parse_args(argv))
    assert result["history"]["global_step"] == 2
    for name in ("config.json", "model.safetensors", "processor_config.json", "README.md", "all_results.json"):
        assert (tmp_path / "model" / name).is_file(), name
    assert "eval_top1" in json.loads((tmp_path / "model" / "all_results.json").read_text())
    assert "REtrieve" in (tmp_path / "model" / "README.md").read_text()
    from transformers import pipeline

    pipe = pipeline("hfvid-video-captioning", model=str(tmp_path / "model"))
    from hfvid.data.synthetic_video import shapes_in_motion

    assert isinstance(pipe(shapes_in_motion(1, image_size=16)[0]["frames"])[0]["generated_text"], str)


def test_bad_arguments_fail_clearly(tmp_path):
    train = load_training_script("train_rest")
    with pytest.raises(ValueError, match="retrieved_dir"):
        train.parse_args([*COMMON, "--output_dir", str(tmp_path)])
    pool = load_training_script("generate_rest_pseudo_captions")
    with pytest.raises(ValueError, match="captioner_name_or_path"):
        pool.parse_args(["--train_dir", str(tmp_path), "--output_dir", str(tmp_path)])
    index = load_training_script("build_rest_caption_index")
    with pytest.raises(ValueError, match="no complete shard"):
        index.main(index.parse_args([*COMMON, "--pool_dir", str(tmp_path / "nothing"), "--output_dir", str(tmp_path)]))


@pytest.mark.launch
@pytest.mark.slow
def test_accelerate_launch_self_training(tmp_path, launch_script):
    retrieved = _pool_and_index(tmp_path)
    launch_script("train_rest", *COMMON, "--retrieved_dir", retrieved, "--output_dir", tmp_path / "model",
                  "--num_frames", "2", "--max_train_steps", "2", "--per_device_train_batch_size", "4",
                  "--synthetic_eval_videos", "4", "--config_overrides", "hidden_size=32,layers=1,image_size=16")
    assert (tmp_path / "model" / "model.safetensors").is_file()


def _tiny_blip_checkpoint(folder) -> str:
    """A tiny random BLIP image captioner saved like Salesforce/blip-image-captioning-base (model + BlipProcessor)."""
    import torch
    from transformers import BlipForConditionalGeneration, BlipImageProcessor, BlipProcessor

    from hfvid.data.rest_videos import synthetic_tokenizers, tiny_synthetic_components

    config, _ = tiny_synthetic_components(image_size=16, hidden_size=32, layers=1, captioner_type="blip")
    torch.manual_seed(0)
    BlipForConditionalGeneration(config.captioner_config).save_pretrained(folder)
    BlipProcessor(BlipImageProcessor(size={"height": 16, "width": 16}), synthetic_tokenizers()[0]).save_pretrained(
        folder)
    return str(folder)


def test_blip_self_training_and_pipeline(tmp_path):
    """--captioner_type blip (new tiny model) and --model_name_or_path <a BLIP captioner>: one self-training step,
    the saved folder serves the captioning pipeline; the BLIP image captioner also writes pseudo-captions."""
    from transformers import pipeline

    from hfvid.data.synthetic_video import shapes_in_motion
    from hfvid.data.rest_videos import load_shards

    retrieved = _pool_and_index(tmp_path)
    blip = _tiny_blip_checkpoint(tmp_path / "blip")
    train = load_training_script("train_rest")
    common = [*COMMON, "--retrieved_dir", str(retrieved), "--num_frames", "2", "--max_train_steps", "1",
              "--per_device_train_batch_size", "4", "--synthetic_eval_videos", "4", "--learning_rate", "1e-3"]
    video = shapes_in_motion(1, image_size=16)[0]["frames"]
    for name, extra in (("new", ["--captioner_type", "blip", "--blip_frame_fusion", "mean",
                                 "--config_overrides", "hidden_size=32,layers=1,image_size=16"]),
                        ("adapted", ["--model_name_or_path", blip, "--prompt", ""])):
        result = train.main(train.parse_args([*common, "--output_dir", str(tmp_path / name), *extra]))
        assert result["history"]["global_step"] == 1 and "top1" in result["results"]
        config = json.loads((tmp_path / name / "config.json").read_text())
        assert config["captioner_type"] == "blip" and config["captioner_config"]["model_type"] == "blip"
        assert "BlipForConditionalGeneration" in (tmp_path / name / "README.md").read_text()
        pipe = pipeline("hfvid-video-captioning", model=str(tmp_path / name))
        assert isinstance(pipe(video, max_new_tokens=3, min_new_tokens=1)[0]["generated_text"], str)
    assert config["blip_frame_fusion"] == "concat"  # the adapted model's default
    with pytest.raises(ValueError, match="captioner_type"):
        train.main(train.parse_args([*common, "--output_dir", str(tmp_path / "x"), "--model_name_or_path", blip,
                                     "--captioner_type", "git"]))
    pool = load_training_script("generate_rest_pseudo_captions")
    out = pool.main(pool.parse_args([*COMMON, "--synthetic_videos", "2", "--captioner_name_or_path", blip,
                                     "--frames_per_video", "2", "--num_sampled_captions", "1",
                                     "--max_new_tokens", "6", "--output_dir", str(tmp_path / "blip_pool")]))
    assert out["shards_written"] == 1 and len(load_shards(tmp_path / "blip_pool")) >= 1
